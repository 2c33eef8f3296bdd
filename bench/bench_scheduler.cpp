// The scheduler workloads of the peer suite (tools/weft_bench_workloads.hpp, the same code
// weft_bench runs) on 2 workers. One runtime per benchmark run; each iteration is one whole
// workload, timed by the workload itself (clock from its first spawn), so iterations after the
// first are warm. CPU time is the process's (both workers).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include <weft/weft.hpp>

#include "weft_bench_workloads.hpp"

namespace {

using weft::bench::Outcome;

constexpr unsigned kWorkers = 2;  // the suite's default --threads

template <class Workload>
void BM_Workload(benchmark::State& state, Workload workload) {
  weft::Config config;
  config.workers = kWorkers;
  weft::Runtime runtime(config);
  std::uint64_t ops = 0;
  for (auto _ : state) {
    const Outcome outcome = runtime.submit(workload).get();
    state.SetIterationTime(std::chrono::duration<double>(outcome.wall).count());
    ops += outcome.ops;
    if (!outcome.ok) {
      state.SkipWithError("the workload's correctness check failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  state.counters["ns_per_op"] = benchmark::Counter(
      static_cast<double>(ops), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

#define WEFT_WORKLOAD(name, call)                           \
  BENCHMARK_CAPTURE(BM_Workload, name, [] { return call; }) \
      ->UseManualTime()                                     \
      ->MeasureProcessCPUTime()                             \
      ->Unit(benchmark::kMillisecond)

WEFT_WORKLOAD(skynet, weft::bench::skynet(1'000'000));
WEFT_WORKLOAD(spawn_many, weft::bench::spawn_many(100'000));
WEFT_WORKLOAD(yield_many, weft::bench::yield_many(std::uint64_t{2} * kWorkers * 50, 1000));
WEFT_WORKLOAD(ping_pong, weft::bench::ping_pong(1000, 100));
WEFT_WORKLOAD(chained_spawn, weft::bench::chained_spawn(100'000));

}  // namespace
