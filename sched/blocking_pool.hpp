#pragma once
// The blocking pool behind to_thread: an elastic set of plain threads that run job blocks.
// A thread is started when a job arrives and no thread is idle (up to max_threads); an idle
// thread retires after keep_alive. The queue is bounded: a fiber that submits to a full queue
// parks until a thread takes a job (backpressure instead of unbounded memory).
//
// Threads are detached and share the pool's state, so a job stuck in a system call cannot hold
// up a shutdown: shutdown() waits until its deadline, then reports and leaves such threads.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include "sync/wait_list.hpp"

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

class BlockingPool : public std::enable_shared_from_this<BlockingPool> {
 public:
  BlockingPool(unsigned max_threads, std::size_t queue_limit,
               std::chrono::milliseconds keep_alive) noexcept;

  // Queues a job (taking over one reference). Parks the calling fiber, or blocks a plain
  // thread, while the queue is full. Throws OSError if no thread can be started and none is
  // alive to run it (the job is not queued then), InvalidStateError after shutdown().
  void submit(detail::TaskBlock* job);

  // Takes no more jobs, drops the queued ones (cancelled), and waits until `deadline` for the
  // running ones. Returns how many were still running; their threads are left detached.
  std::size_t shutdown(std::chrono::steady_clock::time_point deadline);

  [[nodiscard]] std::size_t threads() const;

 private:
  void start_thread_locked();
  void thread_main();
  void room_freed() noexcept;

  const unsigned max_threads_;
  const std::size_t queue_limit_;
  const std::chrono::milliseconds keep_alive_;
  mutable std::mutex mutex_;  // guards everything below but room_waiters_
  std::condition_variable work_;
  std::condition_variable room_or_exit_;  // plain-thread submitters, and shutdown()
  std::deque<detail::TaskBlock*> queue_;
  unsigned threads_ = 0;
  unsigned idle_ = 0;
  unsigned running_ = 0;
  bool stopping_ = false;
  sync::WaitList room_waiters_;  // fibers parked on a full queue (its own lock)
};

}  // namespace weft::sched
