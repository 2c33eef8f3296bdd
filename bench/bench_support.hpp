#pragma once
// What the Google Benchmark files share: a per-item time counter and a fresh runtime around
// each benchmark body.
#include <benchmark/benchmark.h>

#include <utility>

#include <weft/weft.hpp>

namespace weft_bench_support {

// Seconds per item (shown with an SI prefix, e.g. "25n" = 25 ns), over the benchmark's real (or
// manual) time.
inline benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

inline weft::Config with_workers(unsigned workers) {
  weft::Config config;
  config.workers = workers;
  return config;
}

}  // namespace weft_bench_support
