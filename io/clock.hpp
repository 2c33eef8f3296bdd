#pragma once
// The one clock of timers and deadlines: steady_clock (CLOCK_MONOTONIC), in nanoseconds.
#include <chrono>
#include <cstdint>

namespace weft::io {

// A deadline that never comes.
inline constexpr std::uint64_t kNoDeadline = UINT64_MAX;

[[nodiscard]] inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Converts a time point of the public clock; times before the epoch count as "now".
[[nodiscard]] inline std::uint64_t to_ns(std::chrono::steady_clock::time_point t) noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
}

// now + d, saturating (a huge timeout means "no deadline", never a wrap into the past).
[[nodiscard]] inline std::uint64_t deadline_after(std::chrono::nanoseconds d) noexcept {
  const std::uint64_t now = now_ns();
  if (d.count() <= 0) return now;
  const auto add = static_cast<std::uint64_t>(d.count());
  return add >= kNoDeadline - now ? kNoDeadline : now + add;
}

}  // namespace weft::io
