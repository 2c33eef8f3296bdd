#pragma once
// What the executor suites share: the same behaviour checked for both pools (to_thread and
// run_cpu), each given as `submit`, a callable that hands a job to its pool.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "parked.hpp"
#include "runtime_fixture.hpp"

namespace weft_test {

// With a pool of one thread busy, a second job is cancelled before it starts: its awaiter
// gets the CancelledError at once, and the job never runs (not even when the pool reaches it).
// `one_thread` is a config whose pool under test has a single thread.
template <class Submit>
void check_unstarted_job_is_dropped(Submit submit, const weft::Config& one_thread) {
  using namespace std::chrono_literals;
  with_runtimes(
      [submit](weft::Runtime& runtime) {
        runtime
            .submit([submit] {
              std::atomic<bool> release{false};
              std::atomic<bool> first_started{false};
              std::atomic<bool> second_ran{false};
              weft::Task<void> first = submit([&] {
                first_started = true;
                while (!release.load()) std::this_thread::sleep_for(100us);
              });
              while (!first_started.load()) weft::sleep(100us);
              weft::Task<void> second = submit([&] { second_ran = true; });
              CHECK(second.cancel("not needed"));
              CHECK_THROWS_WITH_AS(second.get(), "not needed", weft::CancelledError);
              release = true;
              first.get();
              submit([] {}).get();  // the pool has moved past the dropped job
              CHECK_FALSE(second_ran.load());
            })
            .get();
      },
      {1, 2}, one_thread);
}

// A running job sees this_job::cancelled() once cancelled; a fiber awaiting it that is
// cancelled gets CancelledError at once, and what the job returns afterwards is discarded.
template <class Submit>
void check_running_job_sees_cancel(Submit submit) {
  using namespace std::chrono_literals;
  in_runtimes([submit] {
    std::atomic<bool> started{false};
    std::atomic<bool> saw_cancel{false};
    weft::Task<int> job = submit([&] {
      started = true;
      const auto until = std::chrono::steady_clock::now() + 5s;
      while (!weft::this_job::cancelled() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(100us);
      saw_cancel = weft::this_job::cancelled();
      return 1;
    });
    while (!started.load()) weft::sleep(100us);
    weft::Task<int> awaiter = weft::spawn([&] { return job.get(); });
    REQUIRE(wait_parked(awaiter, "awaiting a task or future"));
    awaiter.cancel();
    CHECK_THROWS_AS(awaiter.get(), weft::CancelledError);
    job.wait();
    CHECK(saw_cancel.load());
    CHECK(job.cancelled());                    // what it returned after the cancel is discarded
    CHECK_FALSE(weft::this_job::cancelled());  // not in a job
  });
}

// Runs a job through submit(fn) (weft::to_thread or weft::run_cpu) that blocks until released,
// checks that Runtime::shutdown returns anyway (reporting an unclean shutdown), then lets the
// job end on its own thread.
template <class Submit>
void check_shutdown_with_stuck_job(Submit submit) {
  using namespace std::chrono_literals;
  // The flags outlive the runtime: the stuck job's thread still reads them after it.
  struct Flags {
    std::atomic<bool> release{false};
    std::atomic<bool> job_started{false};
    std::atomic<bool> job_ended{false};
  };
  auto flags = std::make_shared<Flags>();
  const auto start = std::chrono::steady_clock::now();
  {
    weft::Runtime runtime(config_with(2));
    runtime
        .submit([flags, submit] {
          weft::spawn([flags, submit] {
            submit([flags] {
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
  flags->release = true;  // the pool thread finishes on its own
  while (!flags->job_ended.load()) std::this_thread::sleep_for(1ms);
}

}  // namespace weft_test
