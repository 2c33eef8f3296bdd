#pragma once
// Time: weft's clock and asyncio.sleep. Deadlines are points on steady_clock (monotonic).
#include <chrono>

#include "weft/export.hpp"

namespace weft {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

[[nodiscard]] inline TimePoint now() noexcept {
  return Clock::now();
}

// Parks the current fiber until `deadline` (asyncio.sleep with an absolute time). Never returns
// early; a deadline in the past yields once (like sleep(0)). Cancellable: throws
// CancelledError. Outside a fiber: std::logic_error.
WEFT_API void sleep_until(TimePoint deadline);

// asyncio.sleep(d). sleep(0) and negative durations yield to the other runnable tasks.
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d);
  // Saturate instead of overflowing for "sleep forever" values such as hours::max().
  const auto room = TimePoint::max() - now();
  sleep_until(ns >= room ? TimePoint::max() : now() + std::chrono::duration_cast<Duration>(ns));
}

}  // namespace weft
