// weft_bench: weft's entry in the peer benchmark suite (/work/shared/peers/README.md). It takes
// the peers' flags and prints their result lines, so run_all.sh runs it beside Go, Tokio and
// Boost.Fiber:  WEFT_BENCH=build/release/tools/weft_bench ./run_all.sh
//
// One runtime per process: Config::from_env() (so WEFT_BACKEND and the other WEFT_* variables
// apply) with workers = --threads; each bench body runs in it as a submitted fiber. Exit status:
// 0, 1 if a check failed, 2 for bad flags or a bad WEFT_* value (as the peers).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <weft/weft.hpp>

#include "weft_bench_options.hpp"
#include "weft_bench_report.hpp"
#include "weft_bench_workloads.hpp"

namespace {

using weft::bench::Options;
using weft::bench::Outcome;

struct Bench {
  std::string_view name;
  Outcome (*run)(const Options&);  // nullptr: needs a weft feature that does not exist yet
};

// The peers' order.
constexpr Bench kBenches[] = {
    {"skynet", [](const Options& o) { return weft::bench::skynet(o.skynet_leaves); }},
    {"spawn_many", [](const Options& o) { return weft::bench::spawn_many(o.spawn); }},
    {"yield_many",
     [](const Options& o) { return weft::bench::yield_many(o.yield_tasks, o.yields); }},
    {"ping_pong", [](const Options& o) { return weft::bench::ping_pong(o.pp_pairs, o.pp_rounds); }},
    {"chained_spawn", [](const Options& o) { return weft::bench::chained_spawn(o.chain); }},
    {"timers",
     [](const Options& o) {
       return weft::bench::timers(o.timers, o.timer_min_us, o.timer_max_us);
     }},
    {"tcp_echo",
     [](const Options& o) { return weft::bench::tcp_echo(o.tcp_conns, o.tcp_reqs, o.tcp_size); }},
    {"blocking_offload",
     [](const Options& o) {
       return weft::bench::blocking_offload(o.blocking_tasks, o.blocking_us);
     }},
};

// WEFT_BENCH_METRICS=1: after each bench, what each worker did during it (on stderr, so the
// result lines stay as the peers print them).
void print_metrics(std::string_view bench, const std::vector<weft::WorkerMetrics>& before,
                   const std::vector<weft::WorkerMetrics>& after) {
  for (std::size_t i = 0; i < after.size() && i < before.size(); ++i) {
    std::fprintf(stderr, "weft_bench: %.*s worker=%u polls=%llu steals=%llu parks=%llu\n",
                 static_cast<int>(bench.size()), bench.data(), after[i].worker,
                 static_cast<unsigned long long>(after[i].polls - before[i].polls),
                 static_cast<unsigned long long>(after[i].steals - before[i].steals),
                 static_cast<unsigned long long>(after[i].parks - before[i].parks));
  }
}

bool wanted(const Options& options, std::string_view name) {
  for (const auto& bench : options.benches)
    if (bench == "all" || bench == name) return true;
  return false;
}

int run(const Options& options) {
  bool selected = false;
  bool runnable = false;
  for (const Bench& bench : kBenches) {
    if (!wanted(options, bench.name)) continue;
    selected = true;
    if (bench.run)
      runnable = true;
    else
      std::fprintf(stderr, "weft_bench: %.*s not implemented yet\n",
                   static_cast<int>(bench.name.size()), bench.name.data());
  }
  if (!selected || options.iters == 0) {
    std::string list;
    for (const auto& bench : options.benches) list += (list.empty() ? "" : ",") + bench;
    std::fprintf(stderr, "unknown bench: %s\n", list.c_str());
    return 2;
  }
  if (!runnable) return 0;

  weft::Config config = weft::Config::from_env();
  config.workers = static_cast<unsigned>(options.threads);
  weft::Runtime runtime(config);
  const char* metrics_env = std::getenv("WEFT_BENCH_METRICS");
  const bool show_metrics = metrics_env && std::string_view(metrics_env) == "1";
  bool failed = false;
  for (std::uint64_t iter = 1; iter <= options.iters; ++iter) {
    for (const Bench& bench : kBenches) {
      if (!bench.run || !wanted(options, bench.name)) continue;
      const auto before = show_metrics ? runtime.metrics() : std::vector<weft::WorkerMetrics>{};
      const Outcome outcome = runtime.submit([&] { return bench.run(options); }).get();
      weft::bench::print_result(bench.name, options.threads, iter, outcome);
      if (show_metrics) print_metrics(bench.name, before, runtime.metrics());
      failed |= !outcome.ok;
    }
  }
  runtime.shutdown();
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(weft::bench::parse_options(argc, argv));
  } catch (const weft::bench::UsageError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  } catch (const weft::ConfigError& error) {
    std::fprintf(stderr, "weft_bench: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "weft_bench: error: %s\n", error.what());
    return 1;
  }
}
