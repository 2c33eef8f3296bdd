// QueueCore: its own spin lock guards the three wait lists (their own locks are never taken).
#include <weft/detail/queue_core.hpp>

#include <thread>

#include <weft/errors.hpp>

#include "sched/current.hpp"
#include "sched/scheduler.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"
#include "sync/wait_on.hpp"

namespace weft::detail {
namespace {

sync::WaitList& list_of(WaitListStorage* lists, QueueCore::Side side) noexcept {
  return sync::list_in(lists[static_cast<unsigned>(side)]);
}

}  // namespace

QueueCore::QueueCore() noexcept {
  for (auto& list : lists_) sync::create_list(list);
}

QueueCore::~QueueCore() {
  for (auto& list : lists_) sync::destroy_list(list);
}

void QueueCore::lock_contended() noexcept {
  // The same test-and-test-and-set as sync::SpinLock, past its first attempt.
  for (unsigned spins = 0;; ++spins) {
    while (locked_.load(std::memory_order_relaxed)) {
      if (++spins > 64)
        std::this_thread::yield();
      else
        __builtin_ia32_pause();
    }
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
  }
}

bool QueueCore::wait(std::unique_lock<QueueCore>& held, Side side, std::uint64_t deadline_ns,
                     const char* what) {
  TaskBlock* self = sync::waiting_task(what);
  sync::WaitList& list = list_of(lists_, side);
  sched::Waiter waiter(self);
  list.push_back(waiter);
  held.unlock();
  const sched::WakeReason why = io::park_until(waiter, what, deadline_ns);
  held.lock();
  list.remove(waiter);
  if (why == sched::WakeReason::cancelled) {
    // A waiter that leaves passes on nothing: notifications that found it gone went on to the
    // next waiter (Waiter::fire has one winner).
    held.unlock();
    throw_cancelled(self);
  }
  return why == sched::WakeReason::notified;
}

QueueCore::Woken QueueCore::wait_offering(std::unique_lock<QueueCore>& held, Side side,
                                          std::uint64_t deadline_ns, const char* what, void* slot) {
  sched::Worker& worker = sched::fiber_worker(what);
  TaskBlock* self = worker.current_task();
  sync::WaitList& list = list_of(lists_, side);
  sched::Waiter waiter(self);
  waiter.handoff = slot;
  waiter.handoff_scheduler = &worker.scheduler();
  list.push_back(waiter);
  held.unlock();
  const sched::WakeReason why = io::park_until(waiter, what, deadline_ns);
  // A hand-off unlinked us, filled the slot and claimed us (its release, our acquire in
  // reason()) under the lock, and woke us after unlocking: it touches neither the waiter nor
  // the queue any more, so there is nothing to wait out.
  if (why == sched::WakeReason::notified && waiter.handed) return Woken::handed;
  held.lock();
  list.remove(waiter);
  if (why == sched::WakeReason::cancelled) {
    held.unlock();
    throw_cancelled(self);
  }
  return why == sched::WakeReason::notified ? Woken::notified : Woken::timed_out;
}

void* QueueCore::front_slot(Side side) const noexcept {
  const sched::Waiter* front = sync::list_in(lists_[static_cast<unsigned>(side)]).front();
  if (!front || !front->handoff) return nullptr;
  // The wake comes after the unlock. A fiber of the waiter's own runtime keeps that runtime
  // alive until then; a plain thread (or another runtime's fiber) might see it torn down in
  // between, so it notifies under the lock instead.
  const sched::Worker* worker = sched::current_worker();
  if (!worker || !worker->current_task() || &worker->scheduler() != front->handoff_scheduler)
    return nullptr;
  return front->handoff;
}

bool QueueCore::claim_front_handed(Side side, HandedWake& wake) noexcept {
  sync::WaitList& list = list_of(lists_, side);
  sched::Waiter& front = *list.front();
  list.remove(front);
  front.handed = true;  // read by its owner only if this claim wins
  // Claimed, the getter stays parked until wake_task: a timer or canceller that comes now
  // loses, and nothing else can run it.
  if (!front.claim(sched::WakeReason::notified)) return false;
  wake.task_ = front.task();
  return true;
}

void QueueCore::wake_task(TaskBlock* task) noexcept {
  sched::wake(task);
}

bool QueueCore::notify_one(Side side) noexcept {
  return list_of(lists_, side).notify_one();
}

void QueueCore::notify_all(Side side) noexcept {
  list_of(lists_, side).notify_all();
}

}  // namespace weft::detail
