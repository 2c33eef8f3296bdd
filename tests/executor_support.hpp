#pragma once
// What the executor suites share: shutting a runtime down while one of its pool jobs is stuck.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "runtime_fixture.hpp"

namespace weft_test {

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
