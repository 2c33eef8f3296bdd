// Fairness under endless yielders. Eight tasks spin with yield_now() until a flag (two per worker
// on four workers, so no worker ever runs dry), while other work arrives: tasks submitted from a
// plain thread (the global queue), tasks the spinners spawn (local queues), and pairs of tasks
// where one parks on a future the other sets (the wake-up path). All of it must finish within a
// bounded wall time, for a small, the default and a large global_queue_interval: yields are
// FIFO, the global queue is looked at every `global_queue_interval` ticks, and new spawns are
// not starved by the ready queue nor the ready queue by spawns.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "runtime_fixture.hpp"
#include "stress/stress_support.hpp"

using namespace std::chrono_literals;

namespace {

using weft_stress::Clock;

constexpr unsigned kSpinners = 8;
constexpr auto kDeadline = 5s;

struct Load {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> spins{0};
  std::atomic<std::uint64_t> children_done{0};
  std::atomic<std::uint64_t> children_spawned{0};
};

// A child a spinner spawns: either a few yields, or a producer/consumer pair over a future
// (the consumer parks; the producer's set_value wakes it into the setter's LIFO slot).
void spawn_child(Load& load, std::uint64_t n, std::vector<weft::Task<void>>& kids) {
  if (n % 3 != 0) {
    load.children_spawned.fetch_add(1);
    kids.push_back(weft::spawn([&load] {
      for (int k = 0; k < 3; ++k) weft::yield_now();
      load.children_done.fetch_add(1);
    }));
    return;
  }
  load.children_spawned.fetch_add(2);
  auto promise = std::make_shared<weft::Promise<int>>();
  auto future = std::make_shared<weft::Future<int>>(promise->get_future());
  kids.push_back(weft::spawn([&load, future] {
    if (future->get() == 11) load.children_done.fetch_add(1);
  }));
  kids.push_back(weft::spawn([&load, promise] {
    weft::yield_now();
    promise->set_value(11);
    load.children_done.fetch_add(1);
  }));
}

void run_fairness(weft::Runtime& runtime, std::uint64_t outside, std::uint64_t per_spinner) {
  Load load;
  std::vector<weft::Task<std::uint64_t>> spinners;
  for (unsigned s = 0; s < kSpinners; ++s) {
    spinners.push_back(runtime.spawn([&load, per_spinner] {
      std::vector<weft::Task<void>> kids;
      std::uint64_t n = 0;
      std::uint64_t spawned = 0;
      while (!load.stop.load(std::memory_order_relaxed)) {
        weft::yield_now();
        load.spins.fetch_add(1, std::memory_order_relaxed);
        if (++n % 16 == 0 && spawned < per_spinner) {
          spawn_child(load, spawned, kids);
          ++spawned;
        }
      }
      for (auto& kid : kids) kid.get();
      return n;
    }));
  }
  // The spinners own every worker before anything else arrives.
  REQUIRE(weft_stress::spin_until([&] { return load.spins.load() >= 10ULL * kSpinners; }, 10s));

  const Clock::time_point began = Clock::now();
  const Clock::time_point deadline = began + kDeadline;
  std::vector<Clock::duration> latencies;
  std::vector<std::future<Clock::time_point>> submitted;
  std::vector<Clock::time_point> submitted_at;
  submitted.reserve(outside);
  submitted_at.reserve(outside);
  for (std::uint64_t i = 0; i < outside; ++i) {
    submitted_at.push_back(Clock::now());
    submitted.push_back(runtime.submit([i] {
      const Clock::time_point started = Clock::now();
      weft::yield_now();
      if (i % 8 == 0) weft::spawn([] { weft::yield_now(); }).get();  // parks under load
      weft::yield_now();
      return started;
    }));
  }
  for (std::uint64_t i = 0; i < outside; ++i) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    weft_stress::wait_or_fail(submitted[i], std::max(left, 1ms),
                              "a task submitted while every worker runs yielders (starved?)",
                              &runtime);
    latencies.push_back(submitted[i].get() - submitted_at[i]);
  }
  // Each spinner makes per_spinner spawn_child calls; every third spawns a pair.
  const std::uint64_t children = kSpinners * (per_spinner + (per_spinner + 2) / 3);
  if (!weft_stress::spin_until(
          [&] {
            // Every spinner has spawned its share (it spawns only while spinning) and every
            // child has finished.
            return load.children_spawned.load() == children &&
                   load.children_done.load() == load.children_spawned.load();
          },
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::max(deadline - Clock::now(), Clock::duration(1ms))))) {
    weft_stress::fail_hang("the tasks the yielders spawned (starved?)", &runtime);
  }
  const auto took = Clock::now() - began;
  load.stop = true;
  std::uint64_t spun = 0;
  for (auto& spinner : spinners) {
    const std::uint64_t n = spinner.get();
    CHECK(n > 0);
    spun += n;
  }
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  MESSAGE("global_queue_interval "
          << runtime.config().global_queue_interval << ": " << outside << " outside + "
          << load.children_done.load() << " inside tasks in " << ms(took) << " ms, worst start "
          << ms(weft_stress::percentile(latencies, 1.0)) << " ms, p50 start "
          << ms(weft_stress::percentile(latencies, 0.5)) << " ms");
  CHECK(took < kDeadline);
  CHECK(load.children_done.load() == load.children_spawned.load());
  CHECK(spun >= load.spins.load());
}

void check_fairness(unsigned global_queue_interval) {
  weft::Config base;
  base.global_queue_interval = global_queue_interval;
  const std::uint64_t outside = weft_test::scaled(2000);
  const std::uint64_t per_spinner = weft_test::scaled(300);
  weft_test::with_runtimes(
      [&](weft::Runtime& runtime) { run_fairness(runtime, outside, per_spinner); }, {4}, base);
}

}  // namespace

TEST_CASE("stress: endless yielders do not starve outside or spawned work (interval 1)") {
  check_fairness(1);
}

TEST_CASE("stress: endless yielders do not starve outside or spawned work (default interval)") {
  check_fairness(weft::Config{}.global_queue_interval);
}

TEST_CASE("stress: endless yielders do not starve outside or spawned work (interval 1000)") {
  check_fairness(1000);
}

TEST_CASE("stress: endless yielders with 4-slot local queues still let everything finish") {
  weft::Config base;
  base.local_queue_size = 4;  // yields overflow to the global queue
  const std::uint64_t outside = weft_test::scaled(2000);
  const std::uint64_t per_spinner = weft_test::scaled(300);
  weft_test::with_runtimes(
      [&](weft::Runtime& runtime) { run_fairness(runtime, outside, per_spinner); }, {4, 2}, base);
}
