#include <weft/sync.hpp>

#include "sync/wait_on.hpp"

namespace weft {

Event::Event() noexcept {
  sync::create_list(waiters_);
}

Event::~Event() {
  sync::destroy_list(waiters_);
}

void Event::set() noexcept {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  set_.store(true, std::memory_order_release);
  list.notify_all();
}

void Event::clear() noexcept {
  sync::WaitList& list = sync::list_in(waiters_);
  std::lock_guard guard(list.lock());
  set_.store(false, std::memory_order_release);
}

void Event::wait() {
  if (!is_set()) (void)wait_until_ns(detail::kForever);
}

void Event::wait_or_throw(std::uint64_t deadline_ns) {
  if (!wait_until_ns(deadline_ns)) throw TimeoutError("weft::Event: not set before the timeout");
}

bool Event::wait_until_ns(std::uint64_t deadline_ns) {
  detail::TaskBlock* self = sync::waiting_task("weft::Event::wait()");
  sync::WaitList& list = sync::list_in(waiters_);
  std::unique_lock guard(list.lock());
  if (set_.load(std::memory_order_relaxed)) return true;
  sched::Waiter waiter(self);
  const sched::WakeReason why =
      sync::wait_on(list, guard, waiter, "waiting for an Event", deadline_ns);
  guard.unlock();
  // A set() that came first wins over a cancellation (which stays pending): as asyncio, where
  // the woken waiter returns True.
  if (why == sched::WakeReason::notified) return true;
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(self);
  return false;
}

std::uint64_t detail::deadline_of(TimePoint when) noexcept {
  return when == TimePoint::max() ? io::kNoDeadline : io::to_ns(when);
}

}  // namespace weft
