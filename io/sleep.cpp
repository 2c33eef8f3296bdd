// weft::sleep_until: a waiter nobody notifies, woken by its timer or by cancellation.
#include <new>

#include <weft/task.hpp>
#include <weft/time.hpp>

#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft {

void sleep_until(TimePoint deadline) {
  detail::TaskBlock* task = sched::fiber_worker("sleep()").current_task();
  const std::uint64_t deadline_ns =
      deadline == TimePoint::max() ? io::kNoDeadline : io::to_ns(deadline);
  const std::uint64_t now = io::now_ns();
  if (deadline_ns <= now) {
    yield_now();
    return;
  }
  sched::Waiter waiter(task);
  const sched::WakeReason why =
      io::park_until(waiter, "sleeping", deadline_ns, sched::Cancellable::yes, now);
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(task);
  // A timer never fires early: this one could not be armed (out of memory). Nothing else
  // refers to this waiter, so the sleep can fail rather than end early.
  if (why == sched::WakeReason::timed_out && waiter.timer_failed) throw std::bad_alloc();
}

}  // namespace weft
