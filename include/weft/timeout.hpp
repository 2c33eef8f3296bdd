#pragma once
// asyncio.timeout / asyncio.timeout_at: run a callable inline, in the calling fiber, under a
// deadline. When the deadline passes, the fiber is cancelled at its current (or next)
// suspension point; the CancelledError unwinds the callable, and the scope whose deadline it
// was turns it into TimeoutError. Scopes nest: each one turns only its own expiry into
// TimeoutError, so an inner scope lets an outer one's expiry through as CancelledError, and an
// outside cancel() stays a CancelledError. A scope that does not expire costs a few stores: no
// timer is armed unless the fiber parks while it is open.
#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "weft/detail/task_block.hpp"
#include "weft/errors.hpp"
#include "weft/export.hpp"
#include "weft/time.hpp"

namespace weft {

namespace detail {
// One open scope, linked into its task (innermost first). Touched only by the task's fiber.
struct DeadlineScope {
  DeadlineScope* parent = nullptr;
  TaskBlock* task = nullptr;
  std::uint64_t deadline_ns = UINT64_MAX;
  unsigned cancelling_at_entry = 0;
  unsigned shield_depth = 0;  // the task's uncancellable depth when it was opened
  bool expired = false;       // its deadline cancelled the task
  bool taken_back = false;    // its cancel request was uncancelled
  unsigned held_back = 0;     // requests since entry that uncancellable was holding back
};
// Opens the scope on the calling fiber's task (std::logic_error outside a fiber).
WEFT_API void enter_scope(DeadlineScope& scope, std::uint64_t deadline_ns);
// Closes the scope; if it expired, takes its cancel request back. Returns true if a
// CancelledError leaving the scope is this scope's expiry (to become TimeoutError).
WEFT_API bool leave_scope(DeadlineScope& scope) noexcept;
WEFT_API void reschedule_scope(DeadlineScope& scope, std::uint64_t deadline_ns);
// now + nanoseconds, saturating (one clock read).
[[nodiscard]] WEFT_API std::uint64_t deadline_after_ns(std::int64_t nanoseconds) noexcept;
// now + d, saturating: hours::max() and the like mean "no deadline".
template <class Rep, class Period>
[[nodiscard]] std::uint64_t deadline_ns_after(std::chrono::duration<Rep, Period> d) noexcept {
  // Compared in floating point first: converting hours::max() to nanoseconds would overflow.
  if (std::chrono::duration<double, std::nano>(d).count() >= 9.2e18) return UINT64_MAX;
  return deadline_after_ns(
      static_cast<std::int64_t>(std::chrono::ceil<std::chrono::nanoseconds>(d).count()));
}
[[nodiscard]] WEFT_API std::uint64_t deadline_ns_of(TimePoint when) noexcept;
[[nodiscard]] WEFT_API TimePoint time_point_of(std::uint64_t deadline_ns) noexcept;
}  // namespace detail

namespace detail {
template <class F>
decltype(auto) run_until(std::uint64_t deadline_ns, F&& fn);
}  // namespace detail

// The scope a callable given to timeout()/timeout_at() may take as its argument. Only the fiber
// that opened it may reschedule it.
class Timeout {
 public:
  // The deadline (TimePoint::max(): none).
  [[nodiscard]] TimePoint when() const noexcept {
    return detail::time_point_of(scope_.deadline_ns);
  }
  // Moves the deadline (asyncio's Timeout.reschedule); TimePoint::max() removes it. After the
  // scope expired: InvalidStateError.
  void reschedule(TimePoint when) {
    detail::reschedule_scope(scope_, detail::deadline_ns_of(when));
  }
  // Whether the deadline passed and cancelled the fiber.
  [[nodiscard]] bool expired() const noexcept { return scope_.expired; }

  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

 private:
  template <class F>
  friend decltype(auto) detail::run_until(std::uint64_t deadline_ns, F&& fn);
  explicit Timeout(std::uint64_t deadline_ns) { detail::enter_scope(scope_, deadline_ns); }
  ~Timeout() {
    if (open_) (void)detail::leave_scope(scope_);
  }
  // Closes the scope; true if the CancelledError in flight is its own expiry.
  bool close() noexcept {
    open_ = false;
    return detail::leave_scope(scope_);
  }
  detail::DeadlineScope scope_;
  bool open_ = true;
};

namespace detail {
template <class F>
decltype(auto) run_until(std::uint64_t deadline_ns, F&& fn) {
  Timeout scope(deadline_ns);
  try {
    if constexpr (std::is_invocable_v<F&&, Timeout&>) {
      return std::forward<F>(fn)(scope);
    } else {
      return std::forward<F>(fn)();
    }
  } catch (const CancelledError&) {
    if (scope.close()) throw TimeoutError("weft::timeout: deadline expired");
    throw;
  }
}
}  // namespace detail

// asyncio.timeout_at(when): runs fn() or fn(Timeout&) in the calling fiber and returns its
// result; TimeoutError if `when` passes first. Outside a fiber: std::logic_error.
template <class F>
decltype(auto) timeout_at(TimePoint when, F&& fn) {
  return detail::run_until(detail::deadline_ns_of(when), std::forward<F>(fn));
}

// asyncio.timeout(delay): the deadline is now() + delay (saturating: a huge delay is none).
template <class Rep, class Period, class F>
decltype(auto) timeout(std::chrono::duration<Rep, Period> delay, F&& fn) {
  return detail::run_until(detail::deadline_ns_after(delay), std::forward<F>(fn));
}

}  // namespace weft
