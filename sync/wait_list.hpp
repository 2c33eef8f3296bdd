#pragma once
// A FIFO list of Waiters behind a spin lock: the mechanism every waitable thing is built on
// (task completion, futures, and the sync primitives). Wakers fire waiters while holding the
// lock, and a waiter that was fired takes the lock once before it returns, so a waker never
// touches a Waiter whose owner has already left.
#include <mutex>

#include "sched/waiter.hpp"
#include "sync/spin_lock.hpp"

namespace weft::sync {

class WaitList {
 public:
  SpinLock& lock() noexcept { return lock_; }

  // The caller holds lock().
  void push_back(sched::Waiter& w) noexcept {
    w.prev = tail_;
    w.next = nullptr;
    if (tail_)
      tail_->next = &w;
    else
      head_ = &w;
    tail_ = &w;
    w.linked = true;
  }
  void remove(sched::Waiter& w) noexcept {
    if (!w.linked) return;
    if (w.prev)
      w.prev->next = w.next;
    else
      head_ = w.next;
    if (w.next)
      w.next->prev = w.prev;
    else
      tail_ = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
  }
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] sched::Waiter* front() const noexcept { return head_; }

  // Unlinks and fires the first waiter that is still armed. The caller holds lock().
  bool notify_one(sched::WakeReason why = sched::WakeReason::notified) noexcept {
    while (sched::Waiter* w = head_) {
      remove(*w);
      if (w->fire(why)) return true;
    }
    return false;
  }
  // Unlinks and fires every waiter. The caller holds lock().
  void notify_all(sched::WakeReason why = sched::WakeReason::notified) noexcept {
    while (sched::Waiter* w = head_) {
      remove(*w);
      w->fire(why);
    }
  }

  // Called by a waiter's owner after park() returned: leaves the list if still on it (it was
  // cancelled or timed out) and, by taking the lock, waits out any waker still firing it.
  void leave(sched::Waiter& w) noexcept {
    std::lock_guard guard(lock_);
    remove(w);
  }

 private:
  SpinLock lock_;
  sched::Waiter* head_ = nullptr;
  sched::Waiter* tail_ = nullptr;
};

}  // namespace weft::sync
