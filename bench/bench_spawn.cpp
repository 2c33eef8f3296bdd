// Spawning and joining: one task at a time (spawn, then get() parks the caller until it is
// done), and a batch of 1,000 spawned before any is joined. Arg = worker threads. The loop runs
// on a weft fiber that may move between workers, hence real time and process CPU time.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <weft/weft.hpp>

namespace {

// Seconds per item (shown with an SI prefix, e.g. "25n" = 25 ns), over the benchmark's real time.
benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
constexpr std::int64_t kBatch = 1000;

weft::Config with_workers(std::int64_t workers) {
  weft::Config config;
  config.workers = static_cast<unsigned>(workers);
  return config;
}

void BM_SpawnJoin(benchmark::State& state) {
  weft::Runtime runtime(with_workers(state.range(0)));
  runtime
      .submit([&state] {
        for (auto _ : state) benchmark::DoNotOptimize(weft::spawn([] { return 1; }).get());
      })
      .get();
  state.counters["ns_per_task"] = per_item(static_cast<double>(state.iterations()));
}
BENCHMARK(BM_SpawnJoin)->ArgName("workers")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();

void BM_SpawnJoinBatch(benchmark::State& state) {
  weft::Runtime runtime(with_workers(state.range(0)));
  runtime
      .submit([&state] {
        std::vector<weft::Task<std::int64_t>> tasks;
        tasks.reserve(kBatch);
        for (auto _ : state) {
          for (std::int64_t i = 0; i < kBatch; ++i) tasks.push_back(weft::spawn([i] { return i; }));
          std::int64_t sum = 0;
          for (auto& task : tasks) sum += task.get();
          tasks.clear();
          if (sum != kBatch * (kBatch - 1) / 2) {
            state.SkipWithError("the tasks' results do not add up");
            break;
          }
        }
      })
      .get();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_task"] = per_item(static_cast<double>(state.iterations() * kBatch));
}
BENCHMARK(BM_SpawnJoinBatch)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

}  // namespace
