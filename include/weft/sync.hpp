#pragma once
// asyncio's synchronisation primitives, correct between fibers on different workers: Lock,
// Event, Condition, Semaphore, BoundedSemaphore, Barrier (and the queues and Channel, included
// below). A waiting fiber parks; its worker runs something else. Every wait is cancellable and
// has a timeout variant (TimeoutError, like asyncio.wait_for around it; Lock's try_lock_for
// answers false as std::timed_mutex does). A waiter cancelled or timed out leaves without
// taking a hand-off meant for someone else, and without losing its turn to anyone's harm: what
// it would have got goes to the next waiter. Waits are fiber-only (std::logic_error elsewhere);
// Event::set, Semaphore::release and the queues' put_nowait work from any thread.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "weft/detail/wait_list_storage.hpp"
#include "weft/errors.hpp"
#include "weft/export.hpp"
#include "weft/time.hpp"
#include "weft/timeout.hpp"

namespace weft {

namespace detail {
[[nodiscard]] WEFT_API std::uint64_t deadline_of(TimePoint when) noexcept;
inline constexpr std::uint64_t kForever = UINT64_MAX;
}  // namespace detail

// asyncio.Lock: FIFO, not reentrant; BasicLockable and TimedLockable, so std::lock_guard and
// std::unique_lock work. unlock() hands the lock straight to the longest waiter. The
// uncontended lock()+unlock() is two compare-and-swaps, nothing else.
class WEFT_API Lock {
 public:
  Lock() noexcept;
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  void lock() {
    std::uint32_t expected = kFree;
    if (!state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire,
                                        std::memory_order_relaxed))
      (void)lock_slow(detail::kForever, true);
  }
  // Throws TimeoutError if the lock is not had within `timeout`.
  template <class Rep, class Period>
  void lock(std::chrono::duration<Rep, Period> timeout) {
    (void)lock_slow(detail::deadline_ns_after(timeout), true);
  }
  [[nodiscard]] bool try_lock() noexcept {
    std::uint32_t expected = kFree;
    return state_.compare_exchange_strong(expected, kHeld, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock() || lock_slow(detail::deadline_ns_after(timeout), false);
  }
  [[nodiscard]] bool try_lock_until(TimePoint when) {
    return try_lock() || lock_slow(detail::deadline_of(when), false);
  }
  // InvalidStateError if the lock is not held.
  void unlock() {
    std::uint32_t expected = kHeld;
    if (!state_.compare_exchange_strong(expected, kFree, std::memory_order_release,
                                        std::memory_order_relaxed))
      unlock_slow();
  }
  [[nodiscard]] bool locked() const noexcept {
    return state_.load(std::memory_order_relaxed) != kFree;
  }

 private:
  static constexpr std::uint32_t kFree = 0;
  static constexpr std::uint32_t kHeld = 1;
  static constexpr std::uint32_t kHeldWithWaiters = 2;
  bool lock_slow(std::uint64_t deadline_ns, bool throw_on_timeout);
  void unlock_slow();

  std::atomic<std::uint32_t> state_{kFree};
  detail::WaitListStorage waiters_;
};

// asyncio.Event.
class WEFT_API Event {
 public:
  Event() noexcept;
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Wakes every waiter; from any thread.
  void set() noexcept;
  void clear() noexcept;
  [[nodiscard]] bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
  // Parks until set (returns at once if it is).
  void wait();
  // TimeoutError if not set within `timeout`.
  template <class Rep, class Period>
  void wait(std::chrono::duration<Rep, Period> timeout) {
    if (!is_set()) wait_or_throw(detail::deadline_ns_after(timeout));
  }

 private:
  bool wait_until_ns(std::uint64_t deadline_ns);
  void wait_or_throw(std::uint64_t deadline_ns);
  std::atomic<bool> set_{false};
  detail::WaitListStorage waiters_;
};

// asyncio.Condition: waits for a notification under a Lock (its own, or one shared).
class WEFT_API Condition {
 public:
  Condition();  // with a Lock of its own
  explicit Condition(Lock& lock) noexcept;
  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  Lock& lock() noexcept { return *lock_; }
  // The caller holds lock(). Releases it, parks until notified, and takes it back before
  // returning — also when cancelled or timed out (then it throws after re-acquiring, as
  // asyncio does). InvalidStateError if the lock is not held.
  void wait();
  template <class Rep, class Period>
  void wait(std::chrono::duration<Rep, Period> timeout) {  // TimeoutError
    wait_until_ns(detail::deadline_ns_after(timeout));
  }
  // Waits until pred() is true (checked under the lock); returns its last value.
  template <class Pred>
  bool wait_for(Pred pred) {
    while (!pred()) wait();
    return true;
  }
  // The same under one deadline for all the wake-ups: TimeoutError (with the lock taken back)
  // if pred() is still false when it passes.
  template <class Pred, class Rep, class Period>
  bool wait_for(Pred pred, std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t deadline_ns = detail::deadline_ns_after(timeout);
    while (!pred()) {
      try {
        wait_until_ns(deadline_ns);
      } catch (const TimeoutError&) {
        if (pred()) return true;  // made true without a notify: the lock is held again here
        throw;
      }
    }
    return true;
  }
  // The caller holds lock(). Wakes up to n waiters / all of them.
  void notify(std::size_t n = 1);
  void notify_all();

 private:
  void wait_until_ns(std::uint64_t deadline_ns);
  Lock* lock_;
  Lock* own_lock_ = nullptr;
  detail::WaitListStorage waiters_;
};

// asyncio.Semaphore: a counter of permits; release() hands a permit straight to the longest
// waiter.
class WEFT_API Semaphore {
 public:
  explicit Semaphore(std::size_t value = 1);
  virtual ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  void acquire() {
    if (!try_acquire()) acquire_slow(detail::kForever);
  }
  template <class Rep, class Period>
  void acquire(std::chrono::duration<Rep, Period> timeout) {
    if (!try_acquire()) acquire_slow(detail::deadline_ns_after(timeout));
  }
  [[nodiscard]] bool try_acquire() noexcept;
  // From any thread.
  virtual void release();
  // BasicLockable, so `std::lock_guard permit(sem);` is asyncio's `async with sem:`.
  void lock() { acquire(); }
  void unlock() { release(); }
  // No permit left (asyncio's locked()).
  [[nodiscard]] bool locked() const noexcept { return value_.load(std::memory_order_acquire) == 0; }
  [[nodiscard]] std::size_t value() const noexcept {
    return value_.load(std::memory_order_acquire);
  }

 protected:
  void release_one();

 private:
  void acquire_slow(std::uint64_t deadline_ns);
  std::atomic<std::size_t> value_;
  detail::WaitListStorage waiters_;
};

// asyncio.BoundedSemaphore: release() beyond the initial value is a bug: std::invalid_argument.
class WEFT_API BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) : Semaphore(value), bound_(value) {}
  void release() override;

 private:
  std::size_t bound_;
};

// asyncio.Barrier: `parties` fibers meet; wait() returns each one's arrival index (0 ..
// parties-1) and the barrier is reused for the next round. abort() breaks it: present and
// future waiters get BrokenBarrierError (until reset()).
class WEFT_API Barrier {
 public:
  explicit Barrier(std::size_t parties);
  ~Barrier();
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  std::size_t wait();
  template <class Rep, class Period>
  std::size_t wait(std::chrono::duration<Rep, Period> timeout) {  // TimeoutError; still usable
    return wait_until_ns(detail::deadline_ns_after(timeout));
  }
  void abort();
  // Back to empty and unbroken; fibers waiting now get BrokenBarrierError.
  void reset();
  [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
  [[nodiscard]] std::size_t n_waiting() const noexcept;
  [[nodiscard]] bool broken() const noexcept;

 private:
  std::size_t wait_until_ns(std::uint64_t deadline_ns);
  const std::size_t parties_;
  std::size_t arrived_ = 0;  // guarded by the wait list's lock
  bool broken_ = false;
  detail::WaitListStorage waiters_;
};

}  // namespace weft

#include "weft/channel.hpp"
#include "weft/queue.hpp"
