// Barrier: the last of `parties` arrivals releases the round. The releaser decides each
// waiter's outcome under the lock (passed or broken) before firing it; a waiter whose own
// timeout or cancellation fired at the same moment still reads that outcome, so a completed
// round is never undone by one of its members leaving.
#include <weft/sync.hpp>

#include <stdexcept>

#include "sync/wait_on.hpp"

namespace weft {
namespace {

struct BarrierWaiter final : sched::Waiter {
  using sched::Waiter::Waiter;
  bool released = false;
  bool broken = false;
};

void release_all(sync::WaitList& list, bool broken) noexcept {
  while (sched::Waiter* head = list.front()) {
    list.remove(*head);
    auto& waiter = static_cast<BarrierWaiter&>(*head);
    waiter.released = true;
    waiter.broken = broken;
    waiter.fire(sched::WakeReason::notified);
  }
}

}  // namespace

Barrier::Barrier(std::size_t parties) : parties_(parties) {
  if (parties == 0) throw std::invalid_argument("weft::Barrier: parties must be at least 1");
  sync::create_list(waiters_);
}

Barrier::~Barrier() {
  sync::destroy_list(waiters_);
}

std::size_t Barrier::wait() {
  return wait_until_ns(detail::kForever);
}

std::size_t Barrier::wait_until_ns(std::uint64_t deadline_ns) {
  detail::TaskBlock* self = sync::waiting_task("weft::Barrier::wait()");
  sync::WaitList& list = sync::list_in(waiters_);
  std::unique_lock guard(list.lock());
  if (broken_) throw BrokenBarrierError();
  const std::size_t index = arrived_++;
  if (arrived_ == parties_) {
    arrived_ = 0;
    release_all(list, false);
    return index;
  }
  BarrierWaiter waiter(self);
  const sched::WakeReason why =
      sync::wait_on(list, guard, waiter, "waiting at a Barrier", deadline_ns);
  if (waiter.released) {
    if (waiter.broken) throw BrokenBarrierError();
    return index;  // a cancellation that came with the release stays pending
  }
  --arrived_;  // left before the round filled
  guard.unlock();
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(self);
  throw TimeoutError("weft::Barrier: the other parties did not arrive before the timeout");
}

void Barrier::abort() {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  broken_ = true;
  arrived_ = 0;
  release_all(list, true);
}

void Barrier::reset() {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  arrived_ = 0;
  release_all(list, true);
  broken_ = false;
}

std::size_t Barrier::n_waiting() const noexcept {
  auto& list = sync::list_in(const_cast<detail::WaitListStorage&>(waiters_));
  std::lock_guard guard(list.lock());
  return arrived_;
}

bool Barrier::broken() const noexcept {
  auto& list = sync::list_in(const_cast<detail::WaitListStorage&>(waiters_));
  std::lock_guard guard(list.lock());
  return broken_;
}

}  // namespace weft
