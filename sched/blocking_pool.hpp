#pragma once
// The blocking pool behind to_thread: an elastic set of plain threads that run job blocks.
// A thread is started when a job arrives and no thread is idle (up to max_threads); an idle
// thread retires after keep_alive. The queue is bounded: a fiber that submits to a full queue
// parks until a thread takes a job (backpressure instead of unbounded memory).
//
// Threads are detached and share the pool's state, so a job stuck in a system call cannot hold
// up a shutdown: shutdown() waits until its deadline, then reports and leaves such threads.
//
// The CPU pool (sched/cpu_pool) is one of these too, whose threads run each job inside a oneTBB
// arena (JobRunner) and whose queue has no practical limit.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "sync/wait_list.hpp"

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

// How a pool thread runs a job: run(context, job), which must end in detail::run_job. The
// default (run == nullptr) calls detail::run_job directly. The pool does not own `context`:
// its owner keeps it alive while jobs may run, or hands it to keep_alive() when it cannot
// wait for them (the pool's threads may outlive the runtime).
struct JobRunner {
  void* context = nullptr;
  void (*run)(void* context, detail::TaskBlock* job) noexcept = nullptr;
};

class BlockingPool : public std::enable_shared_from_this<BlockingPool> {
 public:
  // `name` is the call that submits ("weft::to_thread"), for messages.
  BlockingPool(const char* name, unsigned max_threads, std::size_t queue_limit,
               std::chrono::milliseconds keep_alive, JobRunner runner = {}) noexcept;

  // Queues a job (taking over one reference). Parks the calling fiber, or blocks a plain
  // thread, while the queue is full. Throws OSError if no thread can be started and none is
  // alive to run it (the job is not queued then), InvalidStateError after shutdown().
  void submit(detail::TaskBlock* job);

  // Takes no more jobs, drops the queued ones (cancelled), and waits until `deadline` for the
  // running ones. Returns how many were still running; their threads are left detached.
  std::size_t shutdown(std::chrono::steady_clock::time_point deadline);

  [[nodiscard]] std::size_t threads() const;
  // The body of a pool thread (called by the thread's entry function only).
  void thread_main();

  // Keeps `object` alive as long as the pool (which its threads share).
  void keep_alive(std::shared_ptr<void> object);

  // Jobs waiting for a thread.
  [[nodiscard]] std::size_t queued() const;

 private:
  // Starts a thread already counted in threads_. If it cannot, and no other thread runs or is
  // being started, every queued job fails with OSError: `job` by the exception thrown here.
  void start_thread(detail::TaskBlock* job);
  // Idle: sleeps until there is work or a stop (true) or keep_alive passes (false).
  bool sleep_until_work(std::unique_lock<std::mutex>& lock);
  // Whether to wake a sleeping thread for the queued jobs (counts the wake-up if so).
  [[nodiscard]] bool should_wake_locked() noexcept;
  // More jobs wait than idle threads and starts under way could take, and there is room.
  [[nodiscard]] bool wants_thread_locked() const noexcept;
  // Idle: watches queued_ for a while without the lock; true if there is work (or a stop) now.
  bool spin_for_work(std::unique_lock<std::mutex>& lock);
  void room_freed() noexcept;

  const char* const name_;
  const JobRunner runner_;
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
  unsigned spinning_ = 0;  // idle threads watching queued_ before they sleep
  unsigned starting_ = 0;  // counted in threads_, not running thread_main yet
  unsigned waking_ = 0;    // sleeping threads notified that have not woken yet
  bool stopping_ = false;
  std::atomic<std::size_t> queued_{0};       // queue_.size(), readable without the lock
  std::vector<std::shared_ptr<void>> kept_;  // keep_alive()
  sync::WaitList room_waiters_;              // fibers parked on a full queue (its own lock)
};

}  // namespace weft::sched
