#pragma once
// asyncio.timeout / asyncio.timeout_at: run a callable inline, in the calling fiber, under a
// deadline. When the deadline passes, the fiber is cancelled at its current (or next)
// suspension point; the CancelledError unwinds the callable, and the scope whose deadline it
// was turns it into TimeoutError. Scopes nest: each one turns only its own expiry into
// TimeoutError, so an inner scope lets an outer one's expiry through as CancelledError, and an
// outside cancel() stays a CancelledError. A scope that does not expire costs a few stores: no
// timer is armed unless the fiber parks while it is open.
#include <concepts>
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
  bool expired = false;     // its deadline cancelled the task
  bool taken_back = false;  // its cancel request was uncancelled
};
// Opens the scope on the calling fiber's task (std::logic_error outside a fiber).
WEFT_API void enter_scope(DeadlineScope& scope, std::uint64_t deadline_ns);
// Closes the scope; if it expired, takes its cancel request back. Returns true if a
// CancelledError leaving the scope is this scope's expiry (to become TimeoutError).
WEFT_API bool leave_scope(DeadlineScope& scope) noexcept;
WEFT_API void reschedule_scope(DeadlineScope& scope, std::uint64_t deadline_ns);
[[nodiscard]] WEFT_API std::uint64_t deadline_ns_of(TimePoint when) noexcept;
[[nodiscard]] WEFT_API TimePoint time_point_of(std::uint64_t deadline_ns) noexcept;
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
  friend decltype(auto) timeout_at(TimePoint when, F&& fn);
  explicit Timeout(TimePoint when) { detail::enter_scope(scope_, detail::deadline_ns_of(when)); }
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

// asyncio.timeout_at(when): runs fn() or fn(Timeout&) in the calling fiber and returns its
// result; TimeoutError if `when` passes first. Outside a fiber: std::logic_error.
template <class F>
decltype(auto) timeout_at(TimePoint when, F&& fn) {
  Timeout scope(when);
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

// asyncio.timeout(delay): the deadline is now() + delay (saturating: a huge delay is none).
template <class Rep, class Period, class F>
decltype(auto) timeout(std::chrono::duration<Rep, Period> delay, F&& fn) {
  const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(delay);
  const auto room = TimePoint::max() - now();
  const TimePoint when =
      ns >= room ? TimePoint::max() : now() + std::chrono::duration_cast<Duration>(ns);
  return timeout_at(when, std::forward<F>(fn));
}

}  // namespace weft
