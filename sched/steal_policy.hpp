#pragma once
// The scheduling policy as a small interface (as Boost.Fiber's `algorithm`): which victim an
// idle worker robs, how much it takes, and when the global queue goes first. Another policy is
// one new file implementing these three calls.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace weft {
struct Config;
}

namespace weft::sched {

class StealPolicy {
 public:
  virtual ~StealPolicy() = default;
  // Where worker `self` starts a steal round over `workers` workers (it then visits the others
  // in order). `rng` is the worker's own random state.
  virtual unsigned first_victim(unsigned self, unsigned workers, std::uint64_t& rng) = 0;
  // How many of the `available` tasks in a victim's queue to take.
  virtual std::size_t batch(std::size_t available) = 0;
  // Every how many scheduling ticks a worker looks at the global injection queue before its
  // local work (asked once, when the worker starts).
  virtual unsigned global_interval() = 0;
};

// The default: a random victim, half of its queue, the global queue every
// Config::global_queue_interval ticks.
[[nodiscard]] std::unique_ptr<StealPolicy> make_random_half_policy(const Config& config);

}  // namespace weft::sched
