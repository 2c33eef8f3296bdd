// Context switches: two weft fibers on one worker taking turns with yield_now(), and, for
// reference, a bare Boost.Context fiber resumed back and forth (no scheduler at all).
// Both report ns_per_switch = round trip / 2.
#include <benchmark/benchmark.h>

#include <atomic>
#include <utility>

#include <boost/context/fiber.hpp>
#include <weft/weft.hpp>

namespace {

// Seconds per item (shown with an SI prefix, e.g. "25n" = 25 ns), over the benchmark's real time.
benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One iteration: the driving fiber yields, the partner runs and yields back. That is two
// fiber-to-fiber switches, each of them fiber -> worker loop -> fiber (two Boost.Context jumps)
// through the worker's FIFO of yielded tasks.
void BM_WeftYieldSwitch(benchmark::State& state) {
  weft::Config config;
  config.workers = 1;
  weft::Runtime runtime(config);
  runtime
      .submit([&state] {
        std::atomic<bool> stop{false};
        weft::Task<void> partner = weft::spawn([&stop] {
          while (!stop.load(std::memory_order_relaxed)) weft::yield_now();
        });
        weft::yield_now();  // the partner takes its fiber outside the timed loop
        for (auto _ : state) weft::yield_now();
        stop.store(true, std::memory_order_relaxed);
        partner.get();
      })
      .get();
  state.counters["ns_per_switch"] = per_item(2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_WeftYieldSwitch)->UseRealTime();

// One iteration: resume the partner, which resumes us back. Two switches of one jump each, no
// scheduler in between.
void BM_BoostContextSwitch(benchmark::State& state) {
  namespace ctx = boost::context;
  bool stop = false;
  ctx::fiber partner([&stop](ctx::fiber&& caller) {
    while (!stop) caller = std::move(caller).resume();
    return std::move(caller);
  });
  partner = std::move(partner).resume();  // enter the fiber outside the timed loop
  for (auto _ : state) partner = std::move(partner).resume();
  stop = true;
  partner = std::move(partner).resume();  // lets the fiber return
  state.counters["ns_per_switch"] = per_item(2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_BoostContextSwitch)->UseRealTime();

}  // namespace
