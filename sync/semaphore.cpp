// Semaphore: permits in an atomic counter for the uncontended path. A waiter queues only when
// there is no permit (checked again under the wait list's lock), and release() gives its
// permit straight to the first waiter that can take it, so the counter never rises while
// someone waits, and a newcomer cannot take the permit a waiter was woken for.
#include <stdexcept>
#include <string>

#include <weft/sync.hpp>

#include "sync/wait_on.hpp"

namespace weft {

Semaphore::Semaphore(std::size_t value) : value_(value) {
  sync::create_list(waiters_);
}

Semaphore::~Semaphore() {
  sync::destroy_list(waiters_);
}

bool Semaphore::try_acquire() noexcept {
  std::size_t value = value_.load(std::memory_order_relaxed);
  while (value > 0) {
    if (value_.compare_exchange_weak(value, value - 1, std::memory_order_acquire,
                                     std::memory_order_relaxed))
      return true;
  }
  return false;
}

void Semaphore::acquire_slow(std::uint64_t deadline_ns) {
  detail::TaskBlock* self = sync::waiting_task("weft::Semaphore::acquire()");
  sync::WaitList& list = sync::list_in(waiters_);
  std::unique_lock guard(list.lock());
  if (try_acquire()) return;
  sched::Waiter waiter(self);
  const sched::WakeReason why =
      sync::wait_on(list, guard, waiter, "acquiring a Semaphore", deadline_ns);
  guard.unlock();
  if (why == sched::WakeReason::notified) return;  // a permit was handed to us
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(self);
  throw TimeoutError("weft::Semaphore: no permit before the timeout");
}

void Semaphore::release_one() {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  if (!list.notify_one()) value_.fetch_add(1, std::memory_order_release);
}

void Semaphore::release() {
  release_one();
}

void BoundedSemaphore::release() {
  // Checked under no lock: a release racing another past the bound is a bug either way, and
  // the check catches it on one of them.
  if (value() >= bound_)
    throw std::invalid_argument(
        "weft::BoundedSemaphore::release: released more times than "
        "acquired (bound " +
        std::to_string(bound_) + ")");
  release_one();
}

}  // namespace weft
