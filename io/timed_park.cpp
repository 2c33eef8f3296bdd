#include "io/timed_park.hpp"

#include <atomic>
#include <cstdio>
#include <new>

#include "io/timer_heap.hpp"
#include "runtime/deadline_scope.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::io {

namespace {

// Out of memory for a timer: said once a second at most, as the condition may last.
void report_timer_shortage(const char* what) noexcept {
  static std::atomic<std::uint64_t> last_report{0};
  const std::uint64_t now = now_ns();
  std::uint64_t last = last_report.load(std::memory_order_relaxed);
  if (last != 0 && now - last < 1'000'000'000) return;
  if (!last_report.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  std::fprintf(stderr,
               "weft: out of memory for the timer of a wait (%s): it times out now, before its "
               "deadline\n",
               what);
}

// Out of memory for the timer of a wait with a deadline. The caller has linked the waiter where
// its wakers find it and unlinks it when park_until returns, so this must return, not throw:
// the wait times out now, early but reported, as its deadline would have ended it.
sched::WakeReason time_out_without_timer(sched::Worker& worker, detail::TaskBlock* task,
                                         sched::Waiter& waiter, const char* what,
                                         std::uint64_t deadline_ns, std::uint64_t scope_deadline,
                                         sched::Cancellable cancellable) {
  report_timer_shortage(what);
  waiter.timer_failed = true;
  if (scope_deadline <= deadline_ns) {
    // The deadline is a Timeout scope's: the scope expires now, and the wait ends cancelled by
    // it, as when its timer fires (park_with_timer). Not through park(): inside an
    // uncancellable section that would ignore the cancellation and wait with no deadline.
    (void)detail::expire_due_scope(task, scope_deadline);
    if (waiter.claim(sched::WakeReason::cancelled)) return sched::WakeReason::cancelled;
    return sched::park_task(worker, task, waiter, what, cancellable);  // a wake came first
  }
  // A wake that came first is consumed by parking (it returns at once).
  if (!waiter.claim(sched::WakeReason::timed_out))
    return sched::park_task(worker, task, waiter, what, cancellable);
  return sched::WakeReason::timed_out;
}

// park_until with a deadline: arms a timer on this worker for the wait.
[[gnu::noinline]] sched::WakeReason park_with_timer(sched::Worker& worker, detail::TaskBlock* task,
                                                    sched::Waiter& waiter, const char* what,
                                                    std::uint64_t deadline_ns,
                                                    std::uint64_t scope_deadline,
                                                    sched::Cancellable cancellable,
                                                    std::uint64_t now) {
  const std::uint64_t effective = deadline_ns < scope_deadline ? deadline_ns : scope_deadline;
  sched::WakeReason why;
  if (effective <= (now != 0 ? now : now_ns())) {
    // Already due. If a waker won first, park() consumes its wake-up (it returns at once).
    if (!waiter.claim(sched::WakeReason::timed_out))
      return sched::park_task(worker, task, waiter, what, cancellable);
    why = sched::WakeReason::timed_out;
  } else {
    TimerHeap& timers = worker.timers();
    TimerNode* timer = nullptr;
    try {
      timer = timers.add(effective, waiter);
    } catch (const std::bad_alloc&) {
      return time_out_without_timer(worker, task, waiter, what, deadline_ns, scope_deadline,
                                    cancellable);
    }
    why = sched::park_task(worker, task, waiter, what, cancellable);
    // Maybe on another worker now (rule 2): ask again which one.
    sched::Worker* here = sched::current_worker();
    TimerHeap::cancel(timer, here && &here->timers() == timer->owner);
  }
  // At equal deadlines the scope wins, as in asyncio (its cancel lands on the finished wait).
  if (why == sched::WakeReason::timed_out && scope_deadline <= deadline_ns &&
      detail::expire_due_scope(task, now_ns()))
    return sched::WakeReason::cancelled;
  return why;
}

}  // namespace

sched::WakeReason park_until(sched::Waiter& waiter, const char* what, std::uint64_t deadline_ns,
                             sched::Cancellable cancellable, std::uint64_t now) {
  sched::Worker& worker = sched::fiber_worker(what);
  detail::TaskBlock* task = worker.current_task();
  const std::uint64_t scope_deadline =
      cancellable == sched::Cancellable::yes ? task->scope_deadline : kNoDeadline;
  // Most waits have no deadline: no timer, no clock.
  if (deadline_ns == kNoDeadline && scope_deadline == kNoDeadline)
    return sched::park_task(worker, task, waiter, what, cancellable);
  return park_with_timer(worker, task, waiter, what, deadline_ns, scope_deadline, cancellable, now);
}

}  // namespace weft::io
