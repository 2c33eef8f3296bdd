#include "weft_bench_options.hpp"

#include <charconv>
#include <limits>
#include <string_view>
#include <system_error>

namespace weft::bench {
namespace {

struct NumericFlag {
  std::string_view name;
  std::uint64_t Options::*field;
};

constexpr NumericFlag kNumericFlags[] = {
    {"threads", &Options::threads},
    {"iters", &Options::iters},
    {"skynet-leaves", &Options::skynet_leaves},
    {"spawn", &Options::spawn},
    {"yield-tasks", &Options::yield_tasks},
    {"yields", &Options::yields},
    {"pp-pairs", &Options::pp_pairs},
    {"pp-rounds", &Options::pp_rounds},
    {"chain", &Options::chain},
    {"timers", &Options::timers},
    {"timer-min-us", &Options::timer_min_us},
    {"timer-max-us", &Options::timer_max_us},
    {"tcp-conns", &Options::tcp_conns},
    {"tcp-reqs", &Options::tcp_reqs},
    {"tcp-size", &Options::tcp_size},
    {"blocking-tasks", &Options::blocking_tasks},
    {"blocking-us", &Options::blocking_us},
};

std::uint64_t parse_number(std::string_view key, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size())
    throw UsageError("bad value for --" + std::string(key) + ": " + std::string(text));
  return value;
}

std::vector<std::string> split_commas(std::string_view list) {
  std::vector<std::string> items;
  for (;;) {
    const std::size_t comma = list.find(',');
    items.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) return items;
    list.remove_prefix(comma + 1);
  }
}

bool power_of_ten(std::uint64_t n) {
  if (n < 10) return false;
  while (n % 10 == 0) n /= 10;
  return n == 1;
}

void apply(Options& options, std::string_view key, std::string_view value) {
  if (key == "bench") {
    options.benches = split_commas(value);
    return;
  }
  for (const NumericFlag& flag : kNumericFlags) {
    if (flag.name == key) {
      options.*flag.field = parse_number(key, value);
      return;
    }
  }
  throw UsageError("unknown flag --" + std::string(key));
}

}  // namespace

Options parse_options(int argc, const char* const* argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    while (!arg.empty() && arg.front() == '-') arg.remove_prefix(1);
    std::string_view key = arg;
    std::string_view value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) throw UsageError("missing value for --" + std::string(key));
      value = argv[++i];
    }
    apply(options, key, value);
  }
  if (options.yield_tasks == 0) options.yield_tasks = 2 * options.threads * 50;
  if (!power_of_ten(options.skynet_leaves) || options.timer_max_us < options.timer_min_us ||
      options.threads < 1 || options.threads > std::numeric_limits<unsigned>::max())
    throw UsageError(
        "bad flags: --skynet-leaves must be a power of 10 (>=10), --timer-max-us >= "
        "--timer-min-us, --threads >= 1");
  return options;
}

}  // namespace weft::bench
