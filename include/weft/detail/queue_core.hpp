#pragma once
// The untyped half of weft's queues and channels: one lock and the lists of fibers waiting to
// get, to put, and to join. The typed half (weft/queue.hpp, weft/channel.hpp) keeps the items
// under this lock.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "weft/detail/wait_list_storage.hpp"
#include "weft/export.hpp"

namespace weft::detail {

class TaskBlock;

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

  // Direct hand-off, as Go's channels do it: a getter that parks on an empty queue offers a
  // slot, and a putter that finds it there moves the item into the slot and wakes it. The
  // getter returns the item without taking the lock again (the lock's cache line crosses
  // between cores once per item, not twice), and no getter that comes later can take it first.
  enum class Woken : unsigned char { handed, notified, timed_out };
  // wait(), offering `slot` (the caller's std::optional<T>). After `handed` the slot holds the
  // item and the lock is not held; otherwise as wait().
  Woken wait_offering(std::unique_lock<QueueCore>& held, Side side, std::uint64_t deadline_ns,
                      const char* what, void* slot);
  // Items a hand-off may move without a throw, there and back again.
  template <class T>
  static constexpr bool kHandsOff = (std::is_nothrow_move_constructible_v<T> &&
                                     std::is_nothrow_move_assignable_v<T>);

  // The getter a hand-off chose, woken when this goes out of scope. The putter declares it
  // before its lock guard, so the wake comes after the unlock: a getter that returns without
  // the lock may destroy the queue at once, and the putter must be done with it by then.
  class HandedWake {
   public:
    HandedWake() noexcept = default;
    HandedWake(const HandedWake&) = delete;
    HandedWake& operator=(const HandedWake&) = delete;
    ~HandedWake() {
      if (task_) wake_task(task_);
    }

   private:
    friend class QueueCore;
    TaskBlock* task_ = nullptr;
  };

  // With the lock held: moves `item` into the slot of the first waiter of `side` that offered
  // one (a std::optional<T>) and claims it; `wake` wakes it after the unlock. False, `item`
  // untouched, if there is none (or the caller is not a fiber of that waiter's runtime: only
  // such a caller is sure to outlive the wake-up).
  template <class T>
  bool hand_off(Side side, T& item, HandedWake& wake) noexcept {
    static_assert(kHandsOff<T>);
    while (void* slot = front_slot(side)) {
      std::optional<T>& handed = *static_cast<std::optional<T>*>(slot);
      handed.emplace(std::move(item));
      if (claim_front_handed(side, wake)) return true;
      // It timed out or was cancelled meanwhile, and takes the lock before it leaves: the
      // item is still ours to take back.
      item = std::move(*handed);
      handed.reset();
    }
    return false;
  }

 private:
  void lock_contended() noexcept;  // spins, then yields the thread, until the lock is free
  // With the lock held: the slot the first waiter of `side` offered, or nullptr (also when
  // the caller is not running on a worker of that waiter's runtime).
  [[nodiscard]] void* front_slot(Side side) const noexcept;
  // With the lock held: unlinks the first waiter of `side` and claims it as handed, for `wake`
  // to wake; false if it could no longer be woken.
  bool claim_front_handed(Side side, HandedWake& wake) noexcept;
  static void wake_task(TaskBlock* task) noexcept;

  std::atomic<bool> locked_{false};
  WaitListStorage lists_[3];  // guarded by locked_ (their own locks are never taken)
};

}  // namespace weft::detail
