#pragma once
// A one-shot event: set() once, and every present and future wait() returns. What servers and
// streams use to say "closed"; the public Event (sync issue) covers clear() and the rest.
#include <atomic>
#include <cstdint>
#include <mutex>

#include "io/clock.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"
#include "sync/wait_list.hpp"

namespace weft::sync {

class Flag {
 public:
  [[nodiscard]] bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  void set() noexcept {
    std::lock_guard guard(waiters_.lock());
    set_.store(true, std::memory_order_release);
    waiters_.notify_all();
  }

  // Parks until set (true) or the deadline passes (false). Throws CancelledError. A plain
  // thread blocks (without a deadline).
  bool wait(std::uint64_t deadline_ns = io::kNoDeadline,
            const char* what = "waiting for an event") {
    if (is_set()) return true;
    sched::Worker* worker = sched::current_worker();
    detail::TaskBlock* task = worker ? worker->current_task() : nullptr;
    sched::Waiter waiter(task);
    {
      std::lock_guard guard(waiters_.lock());
      if (is_set()) return true;
      waiters_.push_back(waiter);
    }
    if (!task) {
      waiter.block_thread();
      waiters_.leave(waiter);
      return true;
    }
    const sched::WakeReason why = io::park_until(waiter, what, deadline_ns);
    waiters_.leave(waiter);
    if (why == sched::WakeReason::cancelled) detail::throw_cancelled(task);
    return why == sched::WakeReason::notified;
  }

 private:
  std::atomic<bool> set_{false};
  WaitList waiters_;
};

}  // namespace weft::sync
