// Round trips to the executor pools from a fiber on 2 workers: to_thread (blocking pool) and
// run_cpu (oneTBB arena) of a no-op, awaited one at a time (the targets: <= 5 us per
// call each), and a batch of 1,000 awaited together, next to spawn+get of the same no-op on a
// fiber. What a round trip costs is mostly waking the pool thread (a futex) and waking the
// fiber back; a busy pool takes jobs without sleeping, which the batch shows.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <weft/weft.hpp>

#include "bench_support.hpp"

namespace {

constexpr unsigned kWorkers = 2;
constexpr std::int64_t kBatch = 1000;

using weft_bench_support::per_item;
using weft_bench_support::with_workers;

template <class Submit>
void round_trip(benchmark::State& state, Submit submit) {
  weft::Runtime runtime(with_workers(kWorkers));
  runtime
      .submit([&] {
        std::int64_t sum = 0;
        for (auto _ : state) sum += submit([] { return 1; }).get();
        if (sum != state.iterations()) state.SkipWithError("lost results");
      })
      .get();
  state.counters["ns_per_call"] = per_item(static_cast<double>(state.iterations()));
}

template <class Submit>
void batch(benchmark::State& state, Submit submit) {
  weft::Runtime runtime(with_workers(kWorkers));
  runtime
      .submit([&] {
        std::vector<weft::Task<int>> tasks;
        tasks.reserve(kBatch);
        for (auto _ : state) {
          tasks.clear();
          for (std::int64_t i = 0; i < kBatch; ++i) tasks.push_back(submit([] { return 1; }));
          std::int64_t sum = 0;
          for (auto& task : tasks) sum += task.get();
          if (sum != kBatch) state.SkipWithError("lost results");
        }
      })
      .get();
  state.counters["ns_per_call"] = per_item(static_cast<double>(state.iterations() * kBatch));
}

const auto kToThread = [](auto fn) { return weft::to_thread(fn); };
const auto kRunCpu = [](auto fn) { return weft::run_cpu(fn); };
const auto kSpawn = [](auto fn) { return weft::spawn(fn); };

void BM_ToThreadRoundTrip(benchmark::State& state) {
  round_trip(state, kToThread);
}
void BM_RunCpuRoundTrip(benchmark::State& state) {
  round_trip(state, kRunCpu);
}
void BM_SpawnRoundTrip(benchmark::State& state) {
  round_trip(state, kSpawn);
}
void BM_ToThreadBatch(benchmark::State& state) {
  batch(state, kToThread);
}
void BM_RunCpuBatch(benchmark::State& state) {
  batch(state, kRunCpu);
}
void BM_SpawnBatch(benchmark::State& state) {
  batch(state, kSpawn);
}

}  // namespace

BENCHMARK(BM_ToThreadRoundTrip)->UseRealTime();
BENCHMARK(BM_RunCpuRoundTrip)->UseRealTime();
BENCHMARK(BM_SpawnRoundTrip)->UseRealTime();
BENCHMARK(BM_ToThreadBatch)->UseRealTime();
BENCHMARK(BM_RunCpuBatch)->UseRealTime();
BENCHMARK(BM_SpawnBatch)->UseRealTime();
