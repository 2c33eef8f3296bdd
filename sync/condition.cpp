// Condition: waiters queue on the condition's own list while the Lock is still held, so a
// notify() (which needs the Lock) cannot come between their unlock and their park.
#include <weft/sync.hpp>
#include <weft/task.hpp>

#include "sync/wait_on.hpp"

namespace weft {

Condition::Condition() : lock_(nullptr) {
  own_lock_ = new Lock();  // NOLINT(cppcoreguidelines-owning-memory): freed in the destructor
  lock_ = own_lock_;
  sync::create_list(waiters_);
}

Condition::Condition(Lock& lock) noexcept : lock_(&lock) {
  sync::create_list(waiters_);
}

Condition::~Condition() {
  sync::destroy_list(waiters_);
  delete own_lock_;  // NOLINT(cppcoreguidelines-owning-memory)
}

void Condition::wait() {
  wait_until_ns(detail::kForever);
}

void Condition::wait_until_ns(std::uint64_t deadline_ns) {
  detail::TaskBlock* self = sync::waiting_task("weft::Condition::wait()");
  if (!lock_->locked())
    throw InvalidStateError("weft::Condition::wait: the condition's lock is not held");
  sync::WaitList& list = sync::list_in(waiters_);
  sched::Waiter waiter(self);
  std::unique_lock guard(list.lock());
  list.push_back(waiter);
  guard.unlock();
  lock_->unlock();
  const sched::WakeReason why = io::park_until(waiter, "waiting on a Condition", deadline_ns);
  list.leave(waiter);
  // Always return holding the lock, as asyncio does: re-acquiring is not cut short.
  uncancellable([this] { lock_->lock(); });
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(self);
  if (why == sched::WakeReason::timed_out)
    throw TimeoutError("weft::Condition: not notified before the timeout");
}

void Condition::notify(std::size_t n) {
  if (!lock_->locked())
    throw InvalidStateError("weft::Condition::notify: the condition's lock is not held");
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  // A waiter that is leaving (cancelled, timed out) does not use up a notification.
  for (std::size_t i = 0; i < n && list.notify_one(); ++i) {
  }
}

void Condition::notify_all() {
  if (!lock_->locked())
    throw InvalidStateError("weft::Condition::notify_all: the condition's lock is not held");
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  list.notify_all();
}

}  // namespace weft
