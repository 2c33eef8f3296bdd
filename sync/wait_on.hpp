#pragma once
// The one wait of the synchronisation primitives: park on a list guarded by the caller's lock.
// The waker fires a waiter under that lock; the waiter takes the lock again before it returns
// and leaves the list if it is still on it (cancelled or timed out), so a waker never touches
// a waiter that has gone, and what a waker hands over goes either to a waiter it fired or, if
// that fire fails, to the next one (Waiter::fire has one winner).
#include <cstdint>
#include <mutex>
#include <new>

#include <weft/detail/wait_list_storage.hpp>

#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"
#include "sync/spin_lock.hpp"
#include "sync/wait_list.hpp"

namespace weft::sync {

static_assert(sizeof(WaitList) <= sizeof(detail::WaitListStorage) &&
              alignof(WaitList) <= alignof(detail::WaitListStorage));

// The WaitList that lives in a public object's storage.
inline WaitList& list_in(detail::WaitListStorage& storage) noexcept {
  return *std::launder(reinterpret_cast<WaitList*>(&storage));
}
inline const WaitList& list_in(const detail::WaitListStorage& storage) noexcept {
  return *std::launder(reinterpret_cast<const WaitList*>(&storage));
}
inline void create_list(detail::WaitListStorage& storage) noexcept {
  ::new (static_cast<void*>(&storage)) WaitList();
}
inline void destroy_list(detail::WaitListStorage& storage) noexcept {
  list_in(storage).~WaitList();
}

// The calling fiber's task (std::logic_error outside a fiber, naming `what`).
inline detail::TaskBlock* waiting_task(const char* what) {
  return sched::fiber_worker(what).current_task();
}

// `guard` holds the lock that protects `list` on entry and on return.
inline sched::WakeReason wait_on(WaitList& list, std::unique_lock<SpinLock>& guard,
                                 sched::Waiter& waiter, const char* what,
                                 std::uint64_t deadline_ns) {
  list.push_back(waiter);
  guard.unlock();
  const sched::WakeReason why = io::park_until(waiter, what, deadline_ns);
  guard.lock();
  list.remove(waiter);
  return why;
}

}  // namespace weft::sync
