// A million tasks with a checked result: a flat fan-out (spawn all, then get all) and a
// skynet-style tree (10-ary; every parent sums its children's get()). Run with more workers
// than this machine has cores, with fewer, and with 4-slot local queues so that spawning
// overflows to the global queue and thieves hit a full or empty deque all the time.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "runtime_fixture.hpp"
#include "stress/stress_support.hpp"

namespace {

constexpr std::uint64_t kFanOut = 10;

// 0 + 1 + ... + (n - 1).
constexpr std::uint64_t sum_below(std::uint64_t n) {
  return n * (n - 1) / 2;
}

struct FlatResult {
  std::uint64_t sum = 0;
  std::uint64_t wrong = 0;  // tasks whose value was not their index
};

// Spawns n tasks, task i returning i, then gets them in spawn order.
FlatResult flat_fan_out(std::uint64_t n) {
  std::vector<weft::Task<std::uint64_t>> tasks;
  tasks.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) tasks.push_back(weft::spawn([i] { return i; }));
  FlatResult result;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t value = tasks[i].get();
    result.sum += value;
    if (value != i) ++result.wrong;
  }
  return result;
}

// The children of a node over [first, first + size): up to kFanOut non-empty, contiguous parts.
// A leaf (size 1) returns its number; a parent returns the sum of its children's results, so the
// root returns first + ... + (first + size - 1) whatever the size.
std::uint64_t skynet(std::uint64_t first, std::uint64_t size, std::atomic<std::uint64_t>& nodes) {
  nodes.fetch_add(1, std::memory_order_relaxed);
  if (size == 1) return first;
  std::array<weft::Task<std::uint64_t>, kFanOut> children;
  std::size_t count = 0;
  for (std::uint64_t i = 0; i < kFanOut; ++i) {
    const std::uint64_t lo = size * i / kFanOut;
    const std::uint64_t hi = size * (i + 1) / kFanOut;
    if (hi > lo) {
      children[count++] =
          weft::spawn([&nodes, from = first + lo, n = hi - lo] { return skynet(from, n, nodes); });
    }
  }
  std::uint64_t sum = 0;
  for (std::size_t k = 0; k < count; ++k) sum += children[k].get();
  return sum;
}

// How many tasks skynet(_, size) runs, computed without a runtime.
std::uint64_t skynet_nodes(std::uint64_t size) {
  if (size == 1) return 1;
  std::uint64_t nodes = 1;
  for (std::uint64_t i = 0; i < kFanOut; ++i) {
    const std::uint64_t lo = size * i / kFanOut;
    const std::uint64_t hi = size * (i + 1) / kFanOut;
    if (hi > lo) nodes += skynet_nodes(hi - lo);
  }
  return nodes;
}

// Workers that ran at least one task: with many tasks, more than one should.
unsigned busy_workers(const weft::Runtime& runtime) {
  unsigned busy = 0;
  for (const weft::WorkerMetrics& m : runtime.metrics()) busy += m.polls > 0 ? 1 : 0;
  return busy;
}

void check_flat(weft::Runtime& runtime, std::uint64_t n) {
  CAPTURE(n);
  const FlatResult result = weft_stress::run_main(runtime, [n] { return flat_fan_out(n); });
  CHECK(result.wrong == 0);
  CHECK(result.sum == sum_below(n));
  if (runtime.config().workers > 1) CHECK(busy_workers(runtime) > 1);
}

void check_tree(weft::Runtime& runtime, std::uint64_t leaves) {
  CAPTURE(leaves);
  std::atomic<std::uint64_t> nodes{0};
  const std::uint64_t sum =
      weft_stress::run_main(runtime, [&nodes, leaves] { return skynet(0, leaves, nodes); });
  CHECK(sum == sum_below(leaves));
  CHECK(nodes.load() == skynet_nodes(leaves));
  if (runtime.config().workers > 1) CHECK(busy_workers(runtime) > 1);
}

weft::Config tiny_queues() {
  weft::Config cfg;
  cfg.local_queue_size = 4;
  return cfg;
}

}  // namespace

TEST_CASE("stress: a million tasks fanned out flat over 4 workers sum to the closed form") {
  const std::uint64_t n = weft_test::scaled(1000000);
  weft_test::with_runtimes([&](weft::Runtime& runtime) { check_flat(runtime, n); }, {4});
}

TEST_CASE("stress: a skynet tree of a million leaves over 4 workers sums to the closed form") {
  const std::uint64_t leaves = weft_test::scaled(1000000);
  weft_test::with_runtimes([&](weft::Runtime& runtime) { check_tree(runtime, leaves); }, {4});
}

TEST_CASE("stress: flat fan-out and skynet tree with 1 and 2 workers") {
  const std::uint64_t n = weft_test::scaled(200000);
  weft_test::with_runtimes(
      [&](weft::Runtime& runtime) {
        check_flat(runtime, n);
        check_tree(runtime, n);
      },
      {1, 2});
}

TEST_CASE("stress: a million tasks with 4-slot local queues (overflow to global, steal edges)") {
  const std::uint64_t n = weft_test::scaled(1000000);
  weft_test::with_runtimes(
      [&](weft::Runtime& runtime) {
        check_flat(runtime, n);
        check_tree(runtime, n);
      },
      {4, 2}, tiny_queues());
}

TEST_CASE("stress: tasks spawned from a plain thread go through the global queue") {
  const std::uint64_t n = weft_test::scaled(200000);
  CAPTURE(n);
  for (const weft::Config& base : {weft::Config{}, tiny_queues()}) {
    CAPTURE(base.local_queue_size);
    weft_test::with_runtimes(
        [&](weft::Runtime& runtime) {
          std::vector<weft::Task<std::uint64_t>> tasks;
          tasks.reserve(n);
          for (std::uint64_t i = 0; i < n; ++i) {
            // Every tenth task forks a child on its worker, so outside and inside spawns mix.
            tasks.push_back(runtime.spawn([i] {
              if (i % 10 != 0) return i;
              return weft::spawn([i] { return i; }).get();
            }));
          }
          std::uint64_t sum = 0;
          std::uint64_t wrong = 0;
          for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t value = tasks[i].get();  // blocks this plain thread
            sum += value;
            if (value != i) ++wrong;
          }
          CHECK(wrong == 0);
          CHECK(sum == sum_below(n));
        },
        {1, 4}, base);
  }
}
