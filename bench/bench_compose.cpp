// The composition layer's overhead, each case next to the plain spawn/get() it should cost about
// the same as, on 2 workers: gather_all and TaskGroup over 1,000 trivial tasks, wait_for on a
// task that finishes first (done already, or done after the awaiter parked), a timeout() scope
// that never expires, and cancelling 100,000 sleeping tasks. Targets (the issue's): gather and
// TaskGroup <= 1.2x spawn+join; wait_for and timeout <= 100 ns over the plain call, with no
// system call; cancel+join <= 0.5 us per task.
//
// The loops run on a weft fiber that may move between workers, hence real (or manual) time and
// process CPU time, as in bench_spawn.cpp. With manual time, the CPU column still covers the
// whole iteration, untimed set-up included.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

#include "bench_support.hpp"

namespace {

using namespace std::chrono_literals;

constexpr unsigned kWorkers = 2;
constexpr std::int64_t kBatch = 1000;
constexpr std::int64_t kSleepers = 100'000;
constexpr std::int64_t kBatchSum = kBatch * (kBatch - 1) / 2;

using weft_bench_support::per_item;
using weft_bench_support::with_workers;

// Runs body(state) as one fiber of a fresh runtime, the way bench_spawn.cpp does.
template <class Body>
void on_runtime(benchmark::State& state, weft::Config config, Body body) {
  weft::Runtime runtime(config);
  runtime.submit([&state, &body] { body(state); }).get();
}
template <class Body>
void on_runtime(benchmark::State& state, Body body) {
  on_runtime(state, with_workers(kWorkers), std::move(body));
}

void spawn_batch(std::vector<weft::Task<std::int64_t>>& tasks) {
  for (std::int64_t i = 0; i < kBatch; ++i) tasks.push_back(weft::spawn([i] { return i; }));
}

bool check_sum(benchmark::State& state, std::int64_t sum) {
  if (sum == kBatchSum) return true;
  state.SkipWithError("the tasks' results do not add up");
  return false;
}

void set_batch_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_task"] = per_item(static_cast<double>(state.iterations() * kBatch));
}

// --- 1 and 2: a batch of 1,000 tasks, joined one by one, by gather_all, by a TaskGroup. ------

// The baseline: spawn 1,000, then get() each in turn.
void BM_Batch_SpawnJoinEach(benchmark::State& state) {
  on_runtime(state, [](benchmark::State& st) {
    std::vector<weft::Task<std::int64_t>> tasks;
    tasks.reserve(kBatch);
    for (auto _ : st) {
      spawn_batch(tasks);
      std::int64_t sum = 0;
      for (auto& task : tasks) sum += task.get();
      tasks.clear();
      if (!check_sum(st, sum)) break;
    }
  });
  set_batch_counters(state);
}
BENCHMARK(BM_Batch_SpawnJoinEach)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// Spawn 1,000, then one gather_all (a single multi-wait, then each result taken).
void BM_Batch_GatherAll(benchmark::State& state) {
  on_runtime(state, [](benchmark::State& st) {
    std::vector<weft::Task<std::int64_t>> tasks;
    tasks.reserve(kBatch);
    for (auto _ : st) {
      spawn_batch(tasks);
      const std::vector<std::int64_t> values = weft::gather_all(tasks);
      tasks.clear();
      std::int64_t sum = 0;
      for (const std::int64_t v : values) sum += v;
      if (!check_sum(st, sum)) break;
    }
  });
  set_batch_counters(state);
}
BENCHMARK(BM_Batch_GatherAll)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// Spawn 1,000 into a TaskGroup, join() it. The handles are kept (as the baseline keeps them) so
// that the results can be checked afterwards with result(), which does not park.
void BM_Batch_TaskGroup(benchmark::State& state) {
  on_runtime(state, [](benchmark::State& st) {
    std::vector<weft::Task<std::int64_t>> tasks;
    tasks.reserve(kBatch);
    for (auto _ : st) {
      {
        weft::TaskGroup group;
        for (std::int64_t i = 0; i < kBatch; ++i) tasks.push_back(group.spawn([i] { return i; }));
        group.join();
      }
      std::int64_t sum = 0;
      for (auto& task : tasks) sum += task.result();
      tasks.clear();
      if (!check_sum(st, sum)) break;
    }
  });
  set_batch_counters(state);
}
BENCHMARK(BM_Batch_TaskGroup)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// --- 3a: wait_for / get() on a task that is done already. -------------------------------------
// Each iteration spawns 1,000 tasks and waits (untimed) until every one is done; only the loop
// of 1,000 get() or wait_for(1s, task) calls is timed (manual time). ns_per_call is per call.

template <bool kWaitFor>
void await_done_tasks(benchmark::State& state) {
  on_runtime(state, [](benchmark::State& st) {
    std::vector<weft::Task<std::int64_t>> tasks;
    tasks.reserve(kBatch);
    for (auto _ : st) {
      spawn_batch(tasks);
      for (auto& task : tasks) task.wait();  // every task done before the clock starts
      std::int64_t sum = 0;
      const auto start = weft::Clock::now();
      for (auto& task : tasks) {
        if constexpr (kWaitFor) {
          sum += weft::wait_for(1s, task);
        } else {
          sum += task.get();
        }
      }
      const auto stop = weft::Clock::now();
      st.SetIterationTime(std::chrono::duration<double>(stop - start).count());
      tasks.clear();
      if (!check_sum(st, sum)) break;
    }
  });
  state.counters["ns_per_call"] = per_item(static_cast<double>(state.iterations() * kBatch));
}

void BM_AwaitDone_Get(benchmark::State& state) {
  await_done_tasks<false>(state);
}
void BM_AwaitDone_WaitFor(benchmark::State& state) {
  await_done_tasks<true>(state);
}
BENCHMARK(BM_AwaitDone_Get)->UseManualTime()->MeasureProcessCPUTime();
BENCHMARK(BM_AwaitDone_WaitFor)->UseManualTime()->MeasureProcessCPUTime();

// --- 3b: wait_for / get() on a task that finishes after the awaiter parked. ------------------
// One iteration: spawn a task eagerly (it runs at once, up to its yield_now(), and is queued
// behind the awaiter), then await it: the awaiter parks, the task resumes, returns, and wakes the
// awaiter. Spawn included in both. done_before_await is the share of iterations whose task had
// finished before the awaiter asked (then wait_for took its done-already path): with 2 workers
// the idle one sometimes steals the yielded task and finishes it first; with 1 worker
// (for reference) that cannot happen. Arg = workers.

template <bool kWaitFor>
void await_parked_task(benchmark::State& state) {
  std::int64_t done_before = 0;
  const auto workers = static_cast<unsigned>(state.range(0));
  on_runtime(state, with_workers(workers), [&done_before](benchmark::State& st) {
    std::int64_t sum = 0;
    for (auto _ : st) {
      weft::Task<std::int64_t> task = weft::spawn(weft::eager, [] {
        weft::yield_now();
        return std::int64_t{1};
      });
      done_before += task.done() ? 1 : 0;
      if constexpr (kWaitFor) {
        sum += weft::wait_for(1s, task);
      } else {
        sum += task.get();
      }
    }
    if (sum != static_cast<std::int64_t>(st.iterations()))
      st.SkipWithError("the tasks' results do not add up");
  });
  state.counters["ns_per_call"] = per_item(static_cast<double>(state.iterations()));
  state.counters["done_before_await"] = benchmark::Counter(static_cast<double>(done_before) /
                                                           static_cast<double>(state.iterations()));
}

void BM_AwaitParked_Get(benchmark::State& state) {
  await_parked_task<false>(state);
}
void BM_AwaitParked_WaitFor(benchmark::State& state) {
  await_parked_task<true>(state);
}
BENCHMARK(BM_AwaitParked_Get)
    ->ArgName("workers")
    ->Arg(2)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(BM_AwaitParked_WaitFor)
    ->ArgName("workers")
    ->Arg(2)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

// --- 4: a timeout(1s, fn) scope that does not expire, around the same body without it. -------

// (a) A body that does not suspend: reads and bumps a counter the compiler must keep.
template <bool kScoped>
void trivial_body(benchmark::State& state) {
  on_runtime(state, [](benchmark::State& st) {
    std::int64_t counter = 0;
    auto body = [&counter] {
      benchmark::DoNotOptimize(counter);
      return ++counter;
    };
    for (auto _ : st) {
      std::int64_t r = 0;
      if constexpr (kScoped) {
        r = weft::timeout(1s, body);
      } else {
        r = body();
      }
      benchmark::DoNotOptimize(r);
    }
    if (counter != static_cast<std::int64_t>(st.iterations()))
      st.SkipWithError("the body did not run once per iteration");
  });
}

void BM_TrivialBody_Plain(benchmark::State& state) {
  trivial_body<false>(state);
}
void BM_TrivialBody_Timeout(benchmark::State& state) {
  trivial_body<true>(state);
}
BENCHMARK(BM_TrivialBody_Plain)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_TrivialBody_Timeout)->UseRealTime()->MeasureProcessCPUTime();

// (b) A body that suspends once: one yield_now() (the only runnable fiber, it is resumed at once
// through the worker's queue; a scope's deadline is checked at both ends of the yield). With 2
// workers the idle one keeps stealing the yielded fiber; 1 worker (for reference) shows the
// scope's own cost. Arg = workers.
template <bool kScoped>
void yield_body(benchmark::State& state) {
  const auto workers = static_cast<unsigned>(state.range(0));
  on_runtime(state, with_workers(workers), [](benchmark::State& st) {
    for (auto _ : st) {
      if constexpr (kScoped) {
        weft::timeout(1s, [] { weft::yield_now(); });
      } else {
        weft::yield_now();
      }
    }
  });
}

void BM_YieldBody_Plain(benchmark::State& state) {
  yield_body<false>(state);
}
void BM_YieldBody_Timeout(benchmark::State& state) {
  yield_body<true>(state);
}
BENCHMARK(BM_YieldBody_Plain)
    ->ArgName("workers")
    ->Arg(2)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(BM_YieldBody_Timeout)
    ->ArgName("workers")
    ->Arg(2)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

// --- 5: cancel 100,000 sleeping tasks and join them. -----------------------------------------
// Each iteration spawns 100,000 tasks that each sleep(1h) and waits until all of them are asleep
// (untimed: spawn_ns_per_task reports that phase). The timed phase (manual time) cancels every
// task, joins every one, and drops the handles. Arg join_get: 0 = wait() (joins without
// retrieving the result), 1 = get(), which rethrows each task's CancelledError to the joiner.
// Arg cache_all: 0 = the default Config::stack_cache (16,384 fibers, so ~84% of the ending
// fibers unmap their stacks during the timed phase), 1 = a cache that holds all 100,000 (only
// the first iteration of a run maps fresh stacks; the timed phase makes no munmap).

void BM_CancelSleepers(benchmark::State& state) {
  const bool join_with_get = state.range(0) != 0;
  weft::Config config = with_workers(kWorkers);
  if (state.range(1) != 0) config.stack_cache = 2 * kSleepers;
  double spawn_seconds = 0;
  on_runtime(state, config, [join_with_get, &spawn_seconds](benchmark::State& st) {
    std::vector<weft::Task<void>> tasks;
    tasks.reserve(kSleepers);
    std::atomic<std::int64_t> asleep{0};
    for (auto _ : st) {
      const auto spawn_start = weft::Clock::now();
      asleep.store(0, std::memory_order_relaxed);
      for (std::int64_t i = 0; i < kSleepers; ++i)
        tasks.push_back(weft::spawn([&asleep] {
          asleep.fetch_add(1, std::memory_order_relaxed);
          weft::sleep(1h);
        }));
      while (asleep.load(std::memory_order_relaxed) < kSleepers) weft::sleep(100us);
      // The last task counted itself a few instructions before it parked.
      weft::sleep(1ms);
      spawn_seconds += std::chrono::duration<double>(weft::Clock::now() - spawn_start).count();

      std::int64_t cancelled = 0;
      const auto start = weft::Clock::now();
      for (auto& task : tasks) task.cancel();
      if (join_with_get) {
        for (auto& task : tasks) {
          try {
            task.get();
          } catch (const weft::CancelledError&) {
            ++cancelled;
          }
        }
      } else {
        for (auto& task : tasks) {
          task.wait();
          cancelled += task.cancelled() ? 1 : 0;
        }
      }
      tasks.clear();
      const auto stop = weft::Clock::now();
      st.SetIterationTime(std::chrono::duration<double>(stop - start).count());
      if (cancelled != kSleepers) {
        st.SkipWithError("not every sleeping task ended cancelled");
        break;
      }
    }
  });
  const double tasks = static_cast<double>(state.iterations() * kSleepers);
  state.counters["ns_per_task"] = per_item(tasks);
  state.counters["spawn_ns_per_task"] = benchmark::Counter(spawn_seconds * 1e9 / tasks);
}
BENCHMARK(BM_CancelSleepers)
    ->ArgNames({"join_get", "cache_all"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Iterations(4)  // the first maps fresh stacks; later ones reuse what the cache kept
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
