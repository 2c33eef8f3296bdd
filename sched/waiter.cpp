#include "sched/waiter.hpp"

#include <stdexcept>
#include <string>

#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/scheduler.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::sched {

bool Waiter::fire(WakeReason why) noexcept {
  if (!claim(why)) return false;
  if (task_) {
    wake(task_);
  } else if (relay_) {
    relay_(*this, why);
  } else {
    state_.notify_one();
  }
  return true;
}

void Waiter::block_thread() noexcept {
  for (WakeReason now = reason(); now == WakeReason::armed; now = reason())
    state_.wait(WakeReason::armed, std::memory_order_acquire);
}

void wake(detail::TaskBlock* task) noexcept {
  // See WakeState: only if the fiber has fully switched out do we queue it; otherwise its
  // scheduler sees `notified` right after the switch and queues it.
  if (task->wake_state.exchange(detail::WakeState::notified, std::memory_order_acq_rel) ==
      detail::WakeState::parked)
    task->runtime->scheduler().schedule(task);
}

WakeReason park(Waiter& waiter, const char* what, Cancellable cancellable) {
  Worker& worker = fiber_worker(what);
  return park_task(worker, worker.current_task(), waiter, what, cancellable);
}

WakeReason park_task(Worker& current, detail::TaskBlock* task, Waiter& waiter, const char* what,
                     Cancellable cancellable) {
  Worker* worker = &current;
  if (worker->debug()) detail::record_park_trace(task);
  if (cancellable == Cancellable::no || task->shield_depth != 0) {
    task->waiting_on.store(what, std::memory_order_relaxed);
    worker->suspend_current(AfterSwitch::park);
    task->waiting_on.store(nullptr, std::memory_order_relaxed);
    return waiter.reason();
  }
  // seq_cst store, then seq_cst load of the flags: with cancel()'s seq_cst flag write and
  // waiter exchange, either we see the cancellation or the canceller sees this waiter.
  task->waiter.store(&waiter, std::memory_order_seq_cst);
  bool took_back = false;
  if (task->flags.load(std::memory_order_seq_cst) & detail::kCancelRequested) {
    if (task->waiter.exchange(nullptr, std::memory_order_seq_cst) == &waiter) {
      took_back = true;
      if (waiter.claim(WakeReason::cancelled)) return WakeReason::cancelled;
      // A waker won first and is queueing us: switch out to consume that wake-up.
    }
    // Otherwise a canceller holds the waiter and will fire it.
  }
  task->waiting_on.store(what, std::memory_order_relaxed);
  worker->suspend_current(AfterSwitch::park);
  task->waiting_on.store(nullptr, std::memory_order_relaxed);
  // Resumed, maybe on another worker: `worker` is stale from here on (rule 2).
  if (!took_back && task->waiter.exchange(nullptr, std::memory_order_acq_rel) == nullptr) {
    // A canceller took the waiter; wait until it no longer touches it (a few instructions).
    while (!waiter.canceller_done.load(std::memory_order_acquire)) __builtin_ia32_pause();
  }
  return waiter.reason();
}

}  // namespace weft::sched
