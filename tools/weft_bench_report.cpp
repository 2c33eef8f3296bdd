#include "weft_bench_report.hpp"

#include <cstdio>

namespace weft::bench {

void print_result(std::string_view name, std::uint64_t threads, std::uint64_t iter,
                  const Outcome& outcome) {
  const double ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(outcome.wall).count());
  const double ns_per_op = outcome.ops ? ns / static_cast<double>(outcome.ops) : 0.0;
  std::printf(
      "name=%.*s peer=weft threads=%llu seconds=%.6f ops=%llu ns_per_op=%.1f iter=%llu%s%s "
      "check=%s\n",
      static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(threads),
      ns / 1e9, static_cast<unsigned long long>(outcome.ops), ns_per_op,
      static_cast<unsigned long long>(iter), outcome.extra.empty() ? "" : " ",
      outcome.extra.c_str(), outcome.ok ? "ok" : "FAIL");
  std::fflush(stdout);
}

}  // namespace weft::bench
