// The blocking pool: to_thread / run_in_executor, its thread limit, cancellation and shutdown.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::with_runtimes;

TEST_CASE("to_thread runs on a pool thread and returns values, void and exceptions") {
  in_runtimes([] {
    CHECK(weft::to_thread([] { return weft::in_fiber() ? 0 : 42; }).get() == 42);
    weft::to_thread([] { std::this_thread::sleep_for(1ms); }).get();
    CHECK_THROWS_WITH_AS(
        weft::to_thread([]() -> int { throw std::runtime_error("io failed"); }).get(), "io failed",
        std::runtime_error);
    CHECK(weft::run_in_executor(weft::blocking_executor, [] { return 7; }).get() == 7);
    // Many fibers awaiting jobs at once; no worker thread blocks meanwhile.
    std::vector<weft::Task<int>> jobs;
    for (int i = 0; i < 50; ++i)
      jobs.push_back(weft::to_thread([i] {
        std::this_thread::sleep_for(1ms);
        return i;
      }));
    int sum = 0;
    for (auto& job : jobs) sum += job.get();
    CHECK(sum == 49 * 50 / 2);
  });
}

TEST_CASE("10,000 to_thread calls with at most 8 threads: never more than 8 at once") {
  weft::Config config = weft_test::base_config();
  config.blocking_threads = 8;
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              std::atomic<int> inside{0};
              std::atomic<int> most{0};
              std::vector<weft::Task<int>> jobs;
              const int n = static_cast<int>(weft_test::scaled(10'000));
              jobs.reserve(static_cast<std::size_t>(n));
              for (int i = 0; i < n; ++i)
                jobs.push_back(weft::to_thread([&, i] {
                  const int now = ++inside;
                  int seen = most.load();
                  while (now > seen && !most.compare_exchange_weak(seen, now)) {
                  }
                  if (i % 100 == 0) std::this_thread::sleep_for(100us);
                  --inside;
                  return i;
                }));
              long long sum = 0;
              for (auto& job : jobs) sum += job.get();
              CHECK(sum == static_cast<long long>(n) * (n - 1) / 2);
              CHECK(most.load() <= 8);
              CHECK(most.load() >= 1);
            })
            .get();
      },
      {1, 2}, config);
}

TEST_CASE("cancelling a job that has not started drops it at once; it never runs") {
  weft::Config config = weft_test::base_config();
  config.blocking_threads = 1;
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              std::atomic<bool> release{false};
              std::atomic<bool> second_ran{false};
              weft::Task<void> first = weft::to_thread([&] {
                while (!release.load()) std::this_thread::sleep_for(100us);
              });
              weft::Task<void> second = weft::to_thread([&] { second_ran = true; });
              CHECK(second.cancel("not needed"));
              CHECK_THROWS_WITH_AS(second.get(), "not needed", weft::CancelledError);
              release = true;
              first.get();
              weft::to_thread([] {}).get();  // the pool moved past the dropped job
              CHECK_FALSE(second_ran.load());
            })
            .get();
      },
      {1, 2}, config);
}

TEST_CASE("a running job sees this_job::cancelled; its awaiter gets CancelledError at once") {
  in_runtimes([] {
    std::atomic<bool> started{false};
    std::atomic<bool> saw_cancel{false};
    weft::Task<int> job = weft::to_thread([&] {
      started = true;
      const auto until = std::chrono::steady_clock::now() + 5s;
      while (!weft::this_job::cancelled() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(100us);
      saw_cancel = weft::this_job::cancelled();
      return 1;
    });
    while (!started.load()) weft::sleep(100us);
    weft::Task<int> awaiter = weft::spawn([&] { return job.get(); });
    weft::sleep(1ms);
    awaiter.cancel();
    CHECK_THROWS_AS(awaiter.get(), weft::CancelledError);
    job.wait();
    CHECK(saw_cancel.load());
    CHECK(job.cancelled());                    // what it returned after the cancel is discarded
    CHECK_FALSE(weft::this_job::cancelled());  // not on a pool thread
  });
}

TEST_CASE("shutdown returns even if a blocking job is stuck") {
  // The flags outlive this test: the stuck job's detached thread still reads them after it.
  struct Flags {
    std::atomic<bool> release{false};
    std::atomic<bool> job_started{false};
    std::atomic<bool> job_ended{false};
  };
  auto flags = std::make_shared<Flags>();
  const auto start = std::chrono::steady_clock::now();
  {
    weft::Runtime runtime(weft_test::config_with(2));
    runtime
        .submit([flags] {
          weft::spawn([flags] {
            weft::to_thread([flags] {
              flags->job_started = true;
              while (!flags->release.load()) std::this_thread::sleep_for(1ms);
              flags->job_ended = true;
            }).get();
          });
          // Running, not just queued (a queued job would simply be dropped).
          while (!flags->job_started.load()) weft::sleep(1ms);
        })
        .get();
    CHECK_FALSE(runtime.shutdown(100ms));  // reported as not clean, but it returns
  }
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  flags->release = true;  // the detached pool thread finishes on its own
  while (!flags->job_ended.load()) std::this_thread::sleep_for(1ms);
}

TEST_CASE("to_thread outside a fiber is a logic_error") {
  CHECK_THROWS_AS((void)weft::to_thread([] {}), std::logic_error);
}
