#include <weft/config.hpp>

#include "sched/steal_policy.hpp"

namespace weft::sched {
namespace {

class RandomHalfPolicy final : public StealPolicy {
 public:
  explicit RandomHalfPolicy(unsigned interval) : interval_(interval) {}

  unsigned first_victim(unsigned self, unsigned workers, std::uint64_t& rng) override {
    // xorshift64: cheap, per worker, good enough to spread thieves over victims.
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    const unsigned victim = static_cast<unsigned>(rng % workers);
    return victim == self ? (victim + 1) % workers : victim;
  }
  std::size_t batch(std::size_t available) override { return (available + 1) / 2; }
  unsigned global_interval() override { return interval_; }

 private:
  unsigned interval_;
};

}  // namespace

std::unique_ptr<StealPolicy> make_random_half_policy(const Config& config) {
  return std::make_unique<RandomHalfPolicy>(config.global_queue_interval);
}

}  // namespace weft::sched
