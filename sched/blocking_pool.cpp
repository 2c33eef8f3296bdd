#include "sched/blocking_pool.hpp"

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>

#include <weft/errors.hpp>

#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
// runtime/blocking_job.cpp
void run_job(TaskBlock* job) noexcept;
void drop_job(TaskBlock* job) noexcept;
}  // namespace weft::detail

namespace weft::sched {

BlockingPool::BlockingPool(unsigned max_threads, std::size_t queue_limit,
                           std::chrono::milliseconds keep_alive) noexcept
    : max_threads_(max_threads), queue_limit_(queue_limit), keep_alive_(keep_alive) {}

void BlockingPool::submit(detail::TaskBlock* job) {
  Worker* worker = current_worker();
  detail::TaskBlock* self = worker ? worker->current_task() : nullptr;
  std::unique_lock lock(mutex_);
  while (queue_.size() >= queue_limit_ && !stopping_) {
    if (!self) {
      room_or_exit_.wait(lock);
      continue;
    }
    // Park until a thread takes a job. Queue under the wait list's lock after looking at the
    // size again, so a room_freed() in between is not missed.
    Waiter waiter(self);
    {
      std::lock_guard room_guard(room_waiters_.lock());
      room_waiters_.push_back(waiter);
    }
    lock.unlock();
    const WakeReason why =
        io::park_until(waiter, "waiting for room in the blocking pool", io::kNoDeadline);
    room_waiters_.leave(waiter);
    if (why == WakeReason::cancelled) {
      detail::drop_job(job);
      detail::throw_cancelled(self);
    }
    lock.lock();
  }
  if (stopping_) {
    lock.unlock();
    detail::drop_job(job);
    throw InvalidStateError("weft::to_thread: the runtime is shutting down");
  }
  queue_.push_back(job);
  if (idle_ == 0 && threads_ < max_threads_) {
    try {
      start_thread_locked();
    } catch (const std::system_error& error) {
      if (threads_ == 0) {
        // Nobody could run it: fail this call, and only this one.
        queue_.pop_back();
        lock.unlock();
        detail::drop_job(job);
        throw OSError(
            error.code().value() ? error.code().value() : EAGAIN,
            std::string("weft::to_thread: cannot start a blocking thread: ") + error.what());
      }
      // The threads already running will get to it.
    }
  }
  work_.notify_one();
}

void BlockingPool::start_thread_locked() {
  std::thread thread([pool = shared_from_this()] { pool->thread_main(); });
  thread.detach();
  ++threads_;
}

void BlockingPool::thread_main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (queue_.empty() && !stopping_) {
      ++idle_;
      const bool woken =
          work_.wait_for(lock, keep_alive_, [this] { return !queue_.empty() || stopping_; });
      --idle_;
      if (!woken) {
        --threads_;  // retire: idle for keep_alive
        room_or_exit_.notify_all();
        return;
      }
    }
    if (queue_.empty()) break;  // stopping
    detail::TaskBlock* job = queue_.front();
    queue_.pop_front();
    ++running_;
    lock.unlock();
    room_freed();
    detail::run_job(job);
    lock.lock();
    --running_;
  }
  --threads_;
  room_or_exit_.notify_all();
}

void BlockingPool::room_freed() noexcept {
  room_or_exit_.notify_one();
  std::lock_guard guard(room_waiters_.lock());
  room_waiters_.notify_one();
}

std::size_t BlockingPool::shutdown(std::chrono::steady_clock::time_point deadline) {
  std::deque<detail::TaskBlock*> dropped;
  std::unique_lock lock(mutex_);
  stopping_ = true;
  dropped.swap(queue_);
  work_.notify_all();
  room_or_exit_.notify_all();
  {
    std::lock_guard guard(room_waiters_.lock());
    room_waiters_.notify_all();
  }
  lock.unlock();
  for (detail::TaskBlock* job : dropped) detail::drop_job(job);
  lock.lock();
  room_or_exit_.wait_until(lock, deadline, [this] { return threads_ == 0; });
  if (running_ != 0)
    std::fprintf(stderr,
                 "weft: shutdown: %u blocking job(s) still running after the timeout; their "
                 "threads are left to finish on their own\n",
                 running_);
  return running_;
}

std::size_t BlockingPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_;
}

}  // namespace weft::sched
