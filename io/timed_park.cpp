#include "io/timed_park.hpp"

#include "io/timer_heap.hpp"
#include "sched/current.hpp"
#include "sched/worker.hpp"

namespace weft::io {

sched::WakeReason park_until(sched::Waiter& waiter, const char* what, std::uint64_t deadline_ns) {
  if (deadline_ns == kNoDeadline) return sched::park(waiter, what);
  sched::Worker* worker = sched::current_worker();
  if (!worker || !worker->current_task()) return sched::park(waiter, what);  // throws logic_error
  if (deadline_ns <= now_ns()) {
    // Already due. If a waker won first, park() consumes its wake-up (it returns at once).
    if (waiter.claim(sched::WakeReason::timed_out)) return sched::WakeReason::timed_out;
    return sched::park(waiter, what);
  }
  TimerHeap& timers = worker->timers();
  TimerNode* timer = timers.add(deadline_ns, waiter);
  const sched::WakeReason why = sched::park(waiter, what);
  // Maybe on another worker now (rule 2): ask again which one.
  sched::Worker* here = sched::current_worker();
  TimerHeap::cancel(timer, here && &here->timers() == timer->owner);
  return why;
}

}  // namespace weft::io
