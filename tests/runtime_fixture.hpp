#pragma once
// Runs a runtime test body with 1, 2 and 4 workers, and fails if any task, fiber or task block
// is still alive once the runtime has shut down (DESIGN.md, Style: tests).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>

#include <weft/weft.hpp>

#include "sched/block_cache.hpp"

#ifndef WEFT_STRESS_SCALE
#define WEFT_STRESS_SCALE 100
#endif

namespace weft_test {

// A count scaled for the build (sanitizer presets run fewer iterations, never none).
inline std::uint64_t scaled(std::uint64_t full) {
  const std::uint64_t n = full * WEFT_STRESS_SCALE / 100;
  return n > 0 ? n : 1;
}

inline weft::Config config_with(unsigned workers) {
  weft::Config cfg;
  cfg.workers = workers;
  return cfg;
}

// Open file descriptors of this process: a runtime must close every fd it opened.
inline std::size_t open_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

// The base config of every fixture runtime: defaults plus WEFT_* variables, so CTest runs the
// I/O suites once per backend (WEFT_BACKEND=io_uring).
inline weft::Config base_config() {
  return weft::Config::from_env();
}

template <class Body>
void with_runtimes(Body&& body, std::initializer_list<unsigned> worker_counts = {1, 2, 4},
                   weft::Config base = base_config()) {
  for (unsigned workers : worker_counts) {
    CAPTURE(workers);
    const std::int64_t blocks_before = weft::sched::live_block_memory();
    const std::size_t fds_before = open_fds();
    {
      weft::Config cfg = base;
      cfg.workers = workers;
      weft::Runtime runtime(cfg);
      body(runtime);
      CHECK(runtime.shutdown(std::chrono::seconds(10)));
      const weft::RuntimeStats stats = runtime.stats();
      CHECK(stats.live_tasks == 0);
      CHECK(stats.live_fibers == 0);
    }
    CHECK(weft::sched::live_block_memory() == blocks_before);
    CHECK(open_fds() == fds_before);
  }
}

// Runs fn as the main fiber of a runtime (like weft::run) for 1, 2 and 4 workers.
template <class Fn>
void in_runtimes(Fn&& fn, std::initializer_list<unsigned> worker_counts = {1, 2, 4}) {
  with_runtimes([&](weft::Runtime& runtime) { runtime.submit(fn).get(); }, worker_counts);
}

}  // namespace weft_test
