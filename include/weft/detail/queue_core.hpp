#pragma once
// The untyped half of weft's queues and channels: one lock and the lists of fibers waiting to
// get, to put, and to join. The typed half (weft/queue.hpp, weft/channel.hpp) keeps the items
// under this lock.
#include <atomic>
#include <cstdint>
#include <mutex>

#include "weft/detail/wait_list_storage.hpp"
#include "weft/export.hpp"

namespace weft::detail {

class WEFT_API QueueCore {
 public:
  enum class Side : unsigned char { getters, putters, joiners };

  QueueCore() noexcept;
  ~QueueCore();
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  // The queue's lock (a spin lock: held for a few instructions, never across a park). Inline:
  // every put and get takes it once or twice.
  void lock() noexcept {
    // acquire: everything the previous holder wrote before unlock() is visible to us.
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    lock_contended();
  }
  // release: publishes the critical section to the next holder.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

  // With the lock held through `held`: parks on `side` until notified (true) or deadline_ns
  // passes (false); throws CancelledError. Returns with the lock held (after a throw, `held`
  // no longer holds it). The caller checks its condition again: a notification only says it
  // may hold now.
  bool wait(std::unique_lock<QueueCore>& held, Side side, std::uint64_t deadline_ns,
            const char* what);
  // With the lock held: wakes the first waiter of `side` that can still be woken.
  bool notify_one(Side side) noexcept;
  void notify_all(Side side) noexcept;

 private:
  void lock_contended() noexcept;  // spins, then yields the thread, until the lock is free

  std::atomic<bool> locked_{false};
  WaitListStorage lists_[3];  // guarded by locked_ (their own locks are never taken)
};

}  // namespace weft::detail
