#pragma once
// Shared pieces of the stress suites: a reusable spin barrier (so that two sides of a race go
// at the same moment), short random spins, waits that fail instead of hanging, and
// percentiles.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

namespace weft_stress {

using Clock = std::chrono::steady_clock;

inline void cpu_relax() noexcept {
  __builtin_ia32_pause();
}

// Busy-waits about `iterations` pause instructions: a random moment without a suspension point.
inline void spin_for(std::uint32_t iterations) noexcept {
  for (std::uint32_t i = 0; i < iterations; ++i) cpu_relax();
}

// A barrier for a fixed number of parties that may be reused round after round. Plain threads
// spin; a fiber passes weft::yield_now as `relax` so that another task queued behind it on the
// same worker can reach the barrier too.
class SpinBarrier {
 public:
  explicit SpinBarrier(unsigned parties) : parties_(parties) {}

  template <class Relax>
  void arrive_and_wait(Relax&& relax) {
    // acquire: pairs with the last arriver's release below.
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    // acq_rel: the last arriver sees what every earlier arriver did before arriving.
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
      // Reset before the release below, so a party that sees the new generation and arrives
      // again counts from zero.
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == generation) relax();
  }
  // Plain threads: spin, then give the CPU away now and then, so that a loaded machine (or a
  // sanitizer) that preempted the other party does not turn every round into a time slice.
  void arrive_and_wait() {
    unsigned spins = 0;
    arrive_and_wait([&spins] {
      if (++spins % 1024 == 0)
        std::this_thread::yield();
      else
        cpu_relax();
    });
  }

 private:
  const unsigned parties_;
  std::atomic<unsigned> arrived_{0};
  std::atomic<std::uint64_t> generation_{0};
};

// The seed of a randomised suite: WEFT_STRESS_SEED if set (to replay a failure), else fresh.
inline std::uint32_t stress_seed() {
  if (const char* env = std::getenv("WEFT_STRESS_SEED")) {
    return static_cast<std::uint32_t>(std::strtoul(env, nullptr, 0));
  }
  return std::random_device{}();
}

// A hang is a failure, and one that must not turn into a use-after-free of the test's locals
// (a fiber still running when the test body returns): report what the runtime is doing and
// abort the process, which CTest records as a failure.
[[noreturn]] inline void fail_hang(const std::string& what, const weft::Runtime* runtime) {
  std::fprintf(stderr, "\nSTRESS HANG: %s did not finish in time\n", what.c_str());
  if (runtime != nullptr) {
    std::fprintf(stderr, "unfinished tasks:\n%s", runtime->dump_tasks().c_str());
  }
  std::fflush(stderr);
  std::abort();
}

// Waits for a std::future (from Runtime::submit, or a std::promise a fiber fulfils); a
// timeout fails the test (see fail_hang).
template <class T>
void wait_or_fail(const std::future<T>& future, std::chrono::milliseconds timeout,
                  const std::string& what, const weft::Runtime* runtime = nullptr) {
  if (future.wait_for(timeout) != std::future_status::ready) fail_hang(what, runtime);
}

// Runs fn as the main fiber of `runtime` and returns its result; a hang fails.
template <class F>
auto run_main(weft::Runtime& runtime, F&& fn,
              std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  auto result = runtime.submit(std::forward<F>(fn));
  wait_or_fail(result, timeout, "the main fiber", &runtime);
  return result.get();
}

// Fails (see fail_hang) if tick() is not called for `timeout`: lets a test block without a
// timeout of its own (Task::get on a plain thread) and still never hang.
class Watchdog {
 public:
  Watchdog(std::string what, const weft::Runtime* runtime, std::chrono::milliseconds timeout)
      : what_(std::move(what)),
        runtime_(runtime),
        timeout_(timeout),
        thread_([this] { watch(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  void tick() noexcept { ticks_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void watch() {
    std::uint64_t last = ticks_.load(std::memory_order_relaxed);
    auto since = Clock::now();
    while (!stop_.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const std::uint64_t now = ticks_.load(std::memory_order_relaxed);
      if (now != last) {
        last = now;
        since = Clock::now();
      } else if (Clock::now() - since > timeout_) {
        fail_hang(what_, runtime_);
      }
    }
  }

  const std::string what_;
  const weft::Runtime* runtime_;
  const std::chrono::milliseconds timeout_;
  std::atomic<std::uint64_t> ticks_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts once the members above exist
};

// Spins (plain thread) until pred() holds or the timeout passes; returns pred().
template <class Pred>
bool spin_until(Pred&& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

// The q-quantile (0..1) of the samples, nearest rank.
template <class T>
T percentile(std::vector<T> samples, double q) {
  if (samples.empty()) return T{};
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(rank, samples.size() - 1)];
}

}  // namespace weft_stress
