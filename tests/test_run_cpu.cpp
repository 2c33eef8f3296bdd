// The CPU pool: run_cpu / run_in_executor(cpu_executor) in a oneTBB arena, nested
// parallelism in that arena, cancellation and shutdown.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>
#include <weft/context.hpp>

#include "eventually.hpp"
#include "executor_support.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::with_runtimes;

TEST_CASE("run_cpu runs off the fibers and returns values, void and exceptions") {
  in_runtimes([] {
    CHECK(weft::run_cpu([] { return weft::in_fiber() ? 0 : 42; }).get() == 42);
    std::atomic<bool> ran{false};
    weft::run_cpu([&] { ran = true; }).get();
    CHECK(ran.load());
    CHECK_THROWS_WITH_AS(weft::run_cpu([]() -> int { throw std::domain_error("bad input"); }).get(),
                         "bad input", std::domain_error);
    CHECK(weft::run_in_executor(weft::cpu_executor, [] { return 9; }).get() == 9);
    // The job runs inside an arena (this_task_arena reports one it is in).
    CHECK(weft::run_cpu([] {
            return tbb::this_task_arena::current_thread_index() != tbb::task_arena::not_initialized;
          }).get());
  });
}

TEST_CASE("a tbb::parallel_reduce sum inside run_cpu is right and uses the runtime's arena") {
  weft::Config config = weft_test::base_config();
  config.cpu_threads = 3;
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              constexpr std::int64_t n = 1'000'000;
              const std::int64_t sum =
                  weft::run_cpu([] {
                    return tbb::parallel_reduce(
                        tbb::blocked_range<std::int64_t>(1, n + 1), std::int64_t{0},
                        [](const tbb::blocked_range<std::int64_t>& r, std::int64_t acc) {
                          for (std::int64_t i = r.begin(); i != r.end(); ++i) acc += i;
                          return acc;
                        },
                        std::plus<>());
                  }).get();
              CHECK(sum == n * (n + 1) / 2);
              // The nested loop runs in the arena of cpu_threads slots, on at most that many
              // threads, none of them a worker of the runtime.
              std::mutex mutex;
              std::set<std::thread::id> threads;
              // Loops again until a oneTBB worker has joined (on a loaded machine one loop of
              // 40 ms may end before a worker is scheduled), for at most 5 s.
              const int slots = weft::run_cpu([&] {
                                  const auto give_up = std::chrono::steady_clock::now() + 5s;
                                  do {
                                    tbb::parallel_for(0, 2000, [&](int) {
                                      std::this_thread::sleep_for(20us);
                                      std::lock_guard lock(mutex);
                                      threads.insert(std::this_thread::get_id());
                                    });
                                  } while ([&] {
                                    std::lock_guard lock(mutex);
                                    return threads.size() < 2;
                                  }() && std::chrono::steady_clock::now() < give_up);
                                  return tbb::this_task_arena::max_concurrency();
                                }).get();
              CHECK(slots == 3);
              CHECK(threads.size() >= 2);  // oneTBB workers joined the dispatcher
              CHECK(threads.size() <= 3);
            })
            .get();
      },
      {1, 2}, config);
}

TEST_CASE("cpu_threads 0 (the default) sizes the arena like the workers") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    weft::Runtime runtime(weft_test::config_with(workers));
    CHECK(runtime
              .submit([] {
                return weft::run_cpu([] { return tbb::this_task_arena::max_concurrency(); }).get();
              })
              .get() == static_cast<int>(workers));
  }
}

TEST_CASE("cancelling a CPU job that has not started drops it at once: it never runs") {
  weft::Config one_thread = weft_test::base_config();
  one_thread.cpu_threads = 1;
  weft_test::check_unstarted_job_is_dropped([](auto fn) { return weft::run_cpu(std::move(fn)); },
                                            one_thread);
}

TEST_CASE("a running CPU job sees this_job::cancelled: its awaiter gets CancelledError at once") {
  weft_test::check_running_job_sees_cancel([](auto fn) { return weft::run_cpu(std::move(fn)); });
}

TEST_CASE("many fibers on every worker await CPU jobs at once: every result comes back") {
  in_runtimes([] {
    const int fibers = 64;
    const int per_fiber = static_cast<int>(weft_test::scaled(200));
    std::vector<weft::Task<std::int64_t>> tasks;
    for (int f = 0; f < fibers; ++f)
      tasks.push_back(weft::spawn([f, per_fiber] {
        std::int64_t sum = 0;
        for (int i = 0; i < per_fiber; ++i) sum += weft::run_cpu([f, i] { return f * i; }).get();
        return sum;
      }));
    for (int f = 0; f < fibers; ++f)
      CHECK(tasks[static_cast<std::size_t>(f)].get() ==
            static_cast<std::int64_t>(f) * per_fiber * (per_fiber - 1) / 2);
  });
}

TEST_CASE("cancelling a CPU job reaches its parallel_for on every thread and stops the loop") {
  // Each piece of the job's loop waits for this_job::cancelled() on whichever arena thread runs
  // it: oneTBB's helpers see the cancel through the job's task group, and pieces not started
  // yet never run.
  weft::Config config = weft_test::base_config();
  config.cpu_threads = 2;
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              constexpr int kPieces = 1000;
              // Owned by the job too: if a check below fails early, the job still runs on
              // its own thread for a while and must not touch this fiber's stack.
              struct Shared {
                std::atomic<int> started{0};
                std::atomic<int> saw_cancel{0};
                std::atomic<int> saw_cancel_elsewhere{0};
                std::atomic<bool> finished{false};
                std::atomic<std::thread::id> job_thread{};
                // One limit for every piece, so that a cancel that never arrives fails the
                // test in seconds.
                const std::chrono::steady_clock::time_point give_up =
                    std::chrono::steady_clock::now() + 10s;
              };
              auto shared = std::make_shared<Shared>();
              weft::Task<void> job = weft::run_cpu([shared] {
                Shared& s = *shared;
                s.job_thread = std::this_thread::get_id();
                tbb::parallel_for(
                    tbb::blocked_range<int>(0, kPieces, 1),
                    [&s](const tbb::blocked_range<int>&) {
                      ++s.started;
                      while (!weft::this_job::cancelled() &&
                             std::chrono::steady_clock::now() < s.give_up)
                        std::this_thread::sleep_for(100us);
                      if (!weft::this_job::cancelled()) return;
                      ++s.saw_cancel;
                      if (std::this_thread::get_id() != s.job_thread.load())
                        ++s.saw_cancel_elsewhere;
                    },
                    tbb::simple_partitioner());
                s.finished = true;
              });
              Shared& s = *shared;
              // Both arena threads hold a piece (a oneTBB worker has joined), for at most 5 s.
              CHECK(weft_test::eventually([&s] { return s.started.load() >= 2; }));
              job.cancel();
              CHECK_THROWS_AS(job.get(), weft::CancelledError);
              // The job's thread returns from the loop on its own, soon.
              REQUIRE(weft_test::eventually([&s] { return s.finished.load(); }, 15s));
              CHECK(s.saw_cancel.load() == s.started.load());  // every piece that ran saw it
              CHECK(s.saw_cancel_elsewhere.load() >= 1);       // including on a oneTBB helper
              CHECK(s.started.load() < kPieces);               // the loop stopped taking pieces
            })
            .get();
      },
      {1, 2}, config);
}

TEST_CASE("a CPU job cancelled while it runs ends cancelled even if uncancel() withdraws it") {
  // Its task group was cancelled (which cannot be undone), so its loop skipped pieces: what it
  // returns is not a result.
  in_runtimes([] {
    auto started = std::make_shared<std::atomic<bool>>(false);
    auto cancel_sent = std::make_shared<std::atomic<bool>>(false);
    weft::Task<int> job = weft::run_cpu([started, cancel_sent] {
      std::atomic<int> ran{0};
      *started = true;
      tbb::parallel_for(
          tbb::blocked_range<int>(0, 200, 1),
          [&ran, &cancel_sent](const tbb::blocked_range<int>&) {
            ++ran;
            // The pieces wait for the cancel, so the loop cannot end before it arrives.
            const auto give_up = std::chrono::steady_clock::now() + 10s;
            while (!cancel_sent->load() && std::chrono::steady_clock::now() < give_up)
              std::this_thread::sleep_for(100us);
            std::this_thread::sleep_for(1ms);
          },
          tbb::simple_partitioner());
      return ran.load();
    });
    CHECK(weft_test::eventually([&started] { return started->load(); }));
    job.cancel();
    job.uncancel();
    *cancel_sent = true;
    CHECK_THROWS_AS(job.get(), weft::CancelledError);
  });
}

TEST_CASE("shutdown returns even if a CPU job is stuck") {
  weft_test::check_shutdown_with_stuck_job([](auto fn) { return weft::run_cpu(std::move(fn)); });
}

TEST_CASE("CPU jobs never run nested inside another job's parallel_for") {
  // Jobs with parallel loops run beside a stream of small jobs on a 2-slot arena. A thread
  // waiting inside its job's loop must take only that loop's pieces: a small job run nested
  // there would see (and then clear) the outer job's context and this_job state.
  static weft::ContextVar<int> round("round");
  weft::Config config = weft_test::base_config();
  config.workers = 2;
  config.cpu_threads = 2;
  weft::Runtime runtime(config);
  runtime
      .submit([] {
        std::atomic<bool> stop{false};
        std::atomic<int> small_done{0};
        weft::Task<int> small = weft::spawn([&] {
          while (!stop.load()) small_done += weft::run_cpu([] { return 1; }).get();
          return small_done.load();
        });
        int wrong = 0;
        const int rounds = static_cast<int>(weft_test::scaled(100));
        for (int i = 0; i < rounds; ++i) {
          auto token = round.set(i);
          wrong += weft::run_cpu([i] {
                     tbb::parallel_for(0, 64, [](int) { std::this_thread::sleep_for(20us); });
                     return round.get(-1) == i && !weft::this_job::cancelled() ? 0 : 1;
                   }).get();
          round.reset(token);
        }
        // The small jobs ran beside the loops; at least one has finished before they stop.
        while (small_done.load() == 0) weft::yield_now();
        stop = true;
        CHECK(small.get() > 0);
        CHECK(wrong == 0);
      })
      .get();
}

TEST_CASE("run_cpu outside a fiber is a logic_error") {
  CHECK_THROWS_AS((void)weft::run_cpu([] { return 1; }), std::logic_error);
}
