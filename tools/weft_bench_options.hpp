#pragma once
// weft_bench's command line: exactly the flags of the peer programs in /work/shared/peers
// (`--name value` or `--name=value`, any number of leading dashes), with their defaults.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft::bench {

struct Options {
  std::vector<std::string> benches{"all"};  // --bench NAME[,NAME]
  std::uint64_t threads = 2;
  std::uint64_t iters = 1;  // each selected bench runs this many times in the process
  std::uint64_t skynet_leaves = 1'000'000;
  std::uint64_t spawn = 100'000;
  std::uint64_t yield_tasks = 0;  // 0: 2 * threads * 50
  std::uint64_t yields = 1000;
  std::uint64_t pp_pairs = 1000;
  std::uint64_t pp_rounds = 100;
  std::uint64_t chain = 100'000;
  std::uint64_t timers = 100'000;
  std::uint64_t timer_min_us = 1000;
  std::uint64_t timer_max_us = 10'000;
  std::uint64_t tcp_conns = 100;
  std::uint64_t tcp_reqs = 2000;
  std::uint64_t tcp_size = 64;
  std::uint64_t blocking_tasks = 1000;
  std::uint64_t blocking_us = 1000;
};

// A flag the peers would reject too: an unknown name, a missing or non-numeric value, or
// values they refuse (see parse_options). The program prints it and exits 2, as they do.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv[1..argc) and fills in the derived default of yield_tasks. Throws UsageError.
[[nodiscard]] Options parse_options(int argc, const char* const* argv);

}  // namespace weft::bench
