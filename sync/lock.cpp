// weft::Lock's slow paths. State: free, held, or held with (possibly) waiters. A fiber that
// finds it taken marks it "with waiters" under the wait list's lock and queues; unlock() of a
// lock so marked hands it to the first waiter that can still take it (the state stays held),
// or frees it if there is none.
#include <weft/sync.hpp>

#include "sync/wait_on.hpp"

namespace weft {

Lock::Lock() noexcept {
  sync::create_list(waiters_);
}

Lock::~Lock() {
  sync::destroy_list(waiters_);
}

bool Lock::lock_slow(std::uint64_t deadline_ns, bool throw_on_timeout) {
  detail::TaskBlock* self = sync::waiting_task("weft::Lock::lock()");
  sync::WaitList& list = sync::list_in(waiters_);
  std::unique_lock guard(list.lock());
  // Mark it before queueing, so the holder's unlock() takes the slow path and sees us.
  if (state_.exchange(kHeldWithWaiters, std::memory_order_acquire) == kFree) return true;
  sched::Waiter waiter(self);
  const sched::WakeReason why = sync::wait_on(list, guard, waiter, "acquiring a Lock", deadline_ns);
  if (why == sched::WakeReason::notified) return true;  // handed over: ours, even if cancelled now
  guard.unlock();
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(self);
  if (throw_on_timeout) throw TimeoutError("weft::Lock: not acquired before the timeout");
  return false;
}

void Lock::unlock_slow() {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  if (state_.load(std::memory_order_relaxed) == kFree)
    throw InvalidStateError("weft::Lock::unlock: the lock is not held");
  // A successful fire hands the lock over: the state stays held.
  if (!list.notify_one()) state_.store(kFree, std::memory_order_release);
}

}  // namespace weft
