#include "sched/blocking_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include <weft/errors.hpp>

#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/helper_thread.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
// runtime/blocking_job.cpp
void run_job(TaskBlock* job) noexcept;
void drop_job(TaskBlock* job) noexcept;
void fail_unstarted_job(TaskBlock* job, std::exception_ptr error) noexcept;
}  // namespace weft::detail

namespace weft::sched {

BlockingPool::BlockingPool(const char* name, unsigned max_threads, std::size_t queue_limit,
                           std::chrono::milliseconds keep_alive, JobRunner runner) noexcept
    : name_(name),
      runner_(runner),
      max_threads_(max_threads),
      queue_limit_(queue_limit),
      keep_alive_(keep_alive) {}

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
    throw InvalidStateError(std::string(name_) + ": the runtime is shutting down");
  }
  queue_.push_back(job);
  queued_.store(queue_.size(), std::memory_order_relaxed);
  // More jobs waiting than idle threads to take them (a sleeping idle thread may not have woken
  // for the previous job yet): one more thread, counted now, started outside the lock (thread
  // creation takes tens of microseconds, which the pool's threads should not wait out).
  const bool start = wants_thread_locked() && starting_ == 0;
  if (start) {
    ++threads_;
    ++starting_;
  }
  const bool notify = should_wake_locked();
  lock.unlock();
  if (notify) work_.notify_one();
  if (start) start_thread(job);
}

namespace {

// Pool threads get 2 MiB stacks (Tokio's default) instead of glibc's 8 MiB: a smaller map makes
// a thread start in ~25 us instead of ~55 us on these VMs, and a burst of to_thread calls starts
// hundreds of them.
constexpr std::size_t kPoolThreadStack = 2 * 1024 * 1024;

void* pool_thread_entry(void* argument) {
  const std::unique_ptr<std::shared_ptr<BlockingPool>> pool(
      static_cast<std::shared_ptr<BlockingPool>*>(argument));
  (*pool)->thread_main();
  return nullptr;
}

// Starts a detached thread running pool->thread_main(); 0 or the error number.
int start_pool_thread(std::shared_ptr<BlockingPool> pool) noexcept {
  auto argument = std::make_unique<std::shared_ptr<BlockingPool>>(std::move(pool));
  pthread_attr_t attributes;
  if (int error = ::pthread_attr_init(&attributes); error != 0) return error;
  ::pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  ::pthread_attr_setstacksize(&attributes, kPoolThreadStack);
  // Started from a worker, it would inherit that worker's pinning (helper_thread.hpp).
  if (cpu_set_t cpus; process_cpus(cpus))
    (void)::pthread_attr_setaffinity_np(&attributes, sizeof cpus, &cpus);
  pthread_t thread;
  const int error = ::pthread_create(&thread, &attributes, &pool_thread_entry, argument.get());
  ::pthread_attr_destroy(&attributes);
  if (error == 0) (void)argument.release();  // the thread owns it now
  return error;
}

}  // namespace

void BlockingPool::start_thread(detail::TaskBlock* job) {
  const int error = start_pool_thread(shared_from_this());
  if (error == 0) return;
  std::unique_lock lock(mutex_);
  --threads_;
  --starting_;
  room_or_exit_.notify_all();  // shutdown() may wait for threads_ to reach 0
  // A thread that runs, or a start still under way, will get to the queued jobs. Else this
  // was the last hope: every queued job fails (their submitters have returned, except ours,
  // which gets the error thrown).
  if (threads_ != 0) return;
  std::deque<detail::TaskBlock*> stranded;
  stranded.swap(queue_);
  queued_.store(0, std::memory_order_relaxed);
  lock.unlock();
  room_freed();
  const std::string message = std::string(name_) + ": cannot start a pool thread";
  bool ours = false;
  for (detail::TaskBlock* queued : stranded) {
    if (queued == job) {
      ours = true;
      detail::drop_job(queued);
    } else {
      detail::fail_unstarted_job(queued, std::make_exception_ptr(OSError(error, message)));
    }
  }
  if (ours) throw OSError(error, message);
}

// An idle thread first watches the queue this long before it sleeps on the condition
// variable: a fiber that awaits one job and then submits the next (a loop of to_thread calls)
// hands it over without a futex wake on either side, which costs more than the job on a VM.
// One thread at a time: spinning burns a core the workers may need (as Go caps its spinning
// threads).
constexpr std::chrono::microseconds kIdleSpin{50};
constexpr unsigned kMaxSpinning = 1;

bool BlockingPool::spin_for_work(std::unique_lock<std::mutex>& lock) {
  if (spinning_ >= kMaxSpinning) return false;
  ++spinning_;
  lock.unlock();
  const auto until = std::chrono::steady_clock::now() + kIdleSpin;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 64 && !seen; ++i) {
      seen = queued_.load(std::memory_order_relaxed) != 0;
      __builtin_ia32_pause();
    }
  }
  lock.lock();
  --spinning_;
  return !queue_.empty() || stopping_;
}

// Wake-ups in flight at most: each woken thread wakes the next if jobs are still waiting, so a
// burst of jobs wakes sleeping threads in a few chains instead of one futex call (and context
// switch) per job, most of which would find the job already taken by a running thread.
constexpr unsigned kMaxWaking = 2;

bool BlockingPool::should_wake_locked() noexcept {
  // A spinning thread takes a job without a wake-up (it looks at the queue under the lock
  // before it sleeps, so skipping the notify cannot lose one), as does a thread already woken.
  const unsigned covered = spinning_ + waking_;
  if (queue_.size() <= covered || idle_ <= covered || waking_ >= kMaxWaking) return false;
  ++waking_;
  return true;
}

bool BlockingPool::sleep_until_work(std::unique_lock<std::mutex>& lock) {
  const auto deadline = std::chrono::steady_clock::now() + keep_alive_;
  for (;;) {
    const std::cv_status status = work_.wait_until(lock, deadline);
    // Every return from the wait settles one counted wake-up: a notified one, or one this
    // thread stands in for (the notify may have found it already leaving, or its job taken by
    // a running thread). Undercounting only allows an extra wake-up; overcounting would stop
    // them for good.
    if (waking_ != 0) --waking_;
    if (!queue_.empty() || stopping_) return true;
    if (status == std::cv_status::timeout) return false;
  }
}

bool BlockingPool::wants_thread_locked() const noexcept {
  return queue_.size() > idle_ + starting_ && threads_ < max_threads_;
}

void BlockingPool::thread_main() {
  std::unique_lock lock(mutex_);
  --starting_;
  // Growth continues from here, not from the submitters: creating a thread costs ~50 us, which
  // a burst of to_thread calls would otherwise pay one after another on the worker threads.
  if (wants_thread_locked()) {
    ++threads_;
    ++starting_;
    lock.unlock();
    start_thread(nullptr);  // this thread is alive, so a failure strands nothing
    lock.lock();
  }
  for (;;) {
    while (queue_.empty() && !stopping_) {
      ++idle_;
      if (spin_for_work(lock)) {
        --idle_;
        break;
      }
      const bool woken = sleep_until_work(lock);
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
    queued_.store(queue_.size(), std::memory_order_relaxed);
    ++running_;
    const bool wake_next = should_wake_locked();
    lock.unlock();
    if (wake_next) work_.notify_one();
    room_freed();
    if (runner_.run)
      runner_.run(runner_.context, job);
    else
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
  queued_.store(0, std::memory_order_relaxed);
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
                 "weft: shutdown: %u job(s) of %s still running after the timeout; their "
                 "threads are left to finish on their own\n",
                 running_, name_);
  return running_;
}

std::size_t BlockingPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_;
}

void BlockingPool::keep_alive(std::shared_ptr<void> object) {
  std::lock_guard lock(mutex_);
  kept_.push_back(std::move(object));
}

std::size_t BlockingPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace weft::sched
