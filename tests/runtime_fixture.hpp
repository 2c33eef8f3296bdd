#pragma once
// Runs a runtime test body with 1, 2 and 4 workers, and fails if any task, fiber or task block
// is still alive once the runtime has shut down (DESIGN.md, Style: tests).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "sched/block_cache.hpp"
#include "sched/stack_pool.hpp"

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

// Open file descriptors of this process, each as "number -> what it is", sorted: a runtime must
// close every fd it opened, and a failed check names the ones that differ.
inline std::vector<std::string> open_fds() {
  std::vector<std::string> fds;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const std::string name = entry.path().filename().string();
    fds.push_back(name + " -> " + std::filesystem::read_symlink(entry.path(), ignored).string());
  }
  // The iterator's own directory fd is among them, under a number it may not get next time.
  std::erase_if(fds, [](const std::string& fd) { return fd.ends_with("/fd"); });
  std::sort(fds.begin(), fds.end());
  return fds;
}

// The fds open now that were not open at `before`, as "number -> what it is; ...". Threads may
// outlive a runtime (detached child reapers, idle pool threads), and CI once saw one fd still
// open after a runtime ended that was closed while the next one ran (the count alone did not
// say which fd). So a difference must last 2 s to count: a leaked fd never closes, and if one
// does stay, the message names it.
inline std::string fds_left_open(const std::vector<std::string>& before) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    std::vector<std::string> opened;
    std::ranges::set_difference(open_fds(), before, std::back_inserter(opened));
    if (opened.empty() || std::chrono::steady_clock::now() > give_up) {
      std::string text;
      for (const std::string& fd : opened) text += fd + "; ";
      return text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
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
    const std::size_t stacks_before = weft::sched::StackPool::stacks_in_process();
    const std::vector<std::string> fds_before = open_fds();
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
    CHECK(weft::sched::StackPool::stacks_in_process() == stacks_before);  // every stack unmapped
    CHECK(fds_left_open(fds_before) == "");
  }
}

// Runs fn as the main fiber of a runtime (like weft::run) for 1, 2 and 4 workers.
template <class Fn>
void in_runtimes(Fn&& fn, std::initializer_list<unsigned> worker_counts = {1, 2, 4}) {
  with_runtimes([&](weft::Runtime& runtime) { runtime.submit(fn).get(); }, worker_counts);
}

}  // namespace weft_test
