#include "io/timed_park.hpp"

#include "io/timer_heap.hpp"
#include "runtime/deadline_scope.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::io {

namespace {

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
    TimerNode* timer = timers.add(effective, waiter);
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
