// A port of Go's runtime test RunSchedLocalQueueEmptyTest (runtime/export_test.go, run by
// TestSchedLocalQueueEmpty): a run queue that holds a task at every moment must never be
// reported empty, because idle workers use that report to decide to sleep. A spurious "empty"
// lets an idle worker sleep beside a queue with work in it, and the owner's pushes of yields
// do not wake anyone, so the work stays serialised on one worker for as long as that lasts.
//
// Each iteration: the queue holds one item; the owner pushes a second and takes one while a
// checker thread asks empty() and size() at the same moment (both sides leave a spin barrier
// together). Then, through the real Worker: two tasks yield in turns on a one-worker runtime
// (push_yielded pushes one into `ready_`, take_ready takes the other), so that queue always
// holds one of them while a foreign thread asks Worker::has_stealable_work().
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "runtime/runtime_core.hpp"
#include "runtime_fixture.hpp"
#include "sched/scheduler.hpp"
#include "sched/stealable_queue.hpp"
#include "sched/worker.hpp"
#include "stress/stress_support.hpp"

namespace {

using weft::sched::StealableQueue;
using weft_stress::SpinBarrier;

struct Item {
  int id = 0;
};

// How the owner takes its one item back: pop() takes the newest (how a worker serves spawns),
// steal() the oldest (how Worker::take_ready serves yields and wake-ups, FIFO).
enum class Take { pop, steal };

struct Observed {
  std::uint64_t reported_empty = 0;  // empty() said true while an item was in the queue
  std::uint64_t bad_size = 0;        // size() outside [1, 2]
  std::uint64_t first_bad_iteration = ~std::uint64_t{0};
  std::uint64_t lost_items = 0;  // an item not taken back exactly once
};

Observed run_local_queue_empty_test(std::size_t capacity, Take take, std::uint64_t iterations) {
  StealableQueue<Item> queue(capacity);
  Item items[2] = {{0}, {1}};
  SpinBarrier start(2);
  SpinBarrier finish(2);
  std::atomic<std::uint64_t> reported_empty{0};
  std::atomic<std::uint64_t> bad_size{0};
  std::atomic<std::uint64_t> first_bad{~std::uint64_t{0}};

  std::thread checker([&] {
    for (std::uint64_t i = 0; i < iterations; ++i) {
      start.arrive_and_wait();
      const bool empty = queue.empty();
      const std::size_t size = queue.size();
      if (empty) reported_empty.fetch_add(1, std::memory_order_relaxed);
      if (size < 1 || size > 2) bad_size.fetch_add(1, std::memory_order_relaxed);
      if (empty || size < 1 || size > 2) {
        std::uint64_t none = ~std::uint64_t{0};
        first_bad.compare_exchange_strong(none, i, std::memory_order_relaxed);
      }
      finish.arrive_and_wait();
    }
  });

  std::uint64_t lost = 0;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    if (!queue.push(&items[0])) ++lost;
    start.arrive_and_wait();
    if (!queue.push(&items[1])) ++lost;
    Item* first = take == Take::pop ? queue.pop() : queue.steal();
    finish.arrive_and_wait();
    Item* second = queue.pop();
    // Exactly the two items, once each, and nothing left behind.
    if (first == nullptr || second == nullptr || first == second || queue.pop() != nullptr) ++lost;
    if (first != (take == Take::pop ? &items[1] : &items[0])) ++lost;  // LIFO / FIFO order
  }
  checker.join();
  return {reported_empty.load(), bad_size.load(), first_bad.load(), lost};
}

void check_local_queue_never_empty(Take take) {
  const std::uint64_t iterations = weft_test::scaled(100000);
  for (std::size_t capacity : {std::size_t{2}, std::size_t{4}, std::size_t{256}}) {
    CAPTURE(capacity);
    CAPTURE(iterations);
    const Observed seen = run_local_queue_empty_test(capacity, take, iterations);
    CAPTURE(seen.first_bad_iteration);
    CHECK(seen.lost_items == 0);
    CHECK(seen.reported_empty == 0);
    CHECK(seen.bad_size == 0);
  }
}

}  // namespace

TEST_CASE("stress: a local queue holding an item is never reported empty (owner pops, LIFO)") {
  check_local_queue_never_empty(Take::pop);
}

TEST_CASE("stress: a local queue holding an item is never reported empty (owner steals, FIFO)") {
  check_local_queue_never_empty(Take::steal);
}

// The same property through weft's own Worker: on a one-worker runtime, two tasks that yield in
// turns keep one of them in the worker's `ready_` queue at every moment (the running one is
// pushed by push_yielded before take_ready takes the other), so has_stealable_work(), which is
// what Scheduler::has_visible_work() asks before a worker sleeps, must never be false.
TEST_CASE("stress: a worker whose yielders take turns is never reported without work") {
  for (std::size_t queue_size : {std::size_t{2}, std::size_t{256}}) {
    CAPTURE(queue_size);
    weft::Config base;
    base.local_queue_size = queue_size;
    weft_test::with_runtimes(
        [&](weft::Runtime& runtime) {
          std::atomic<bool> stop{false};
          std::atomic<std::uint64_t> yields{0};
          std::atomic<std::uint64_t> per_task[2] = {0, 0};
          auto yielder = [&](int which) {
            return [&, which] {
              while (!stop.load(std::memory_order_relaxed)) {
                weft::yield_now();
                per_task[which].fetch_add(1, std::memory_order_relaxed);
                yields.fetch_add(1, std::memory_order_relaxed);
              }
            };
          };
          weft::Task<void> a = runtime.spawn(yielder(0));
          weft::Task<void> b = runtime.spawn(yielder(1));
          // Both started and both taking turns through `ready_`.
          REQUIRE(weft_stress::spin_until(
              [&] { return per_task[0].load() >= 500 && per_task[1].load() >= 500; },
              std::chrono::seconds(10)));

          const weft::sched::Worker& worker = *runtime.core().scheduler().workers.at(0);
          const std::uint64_t transitions = weft_test::scaled(100000);
          std::uint64_t reported_idle = 0;
          std::uint64_t checks = 0;
          std::uint64_t first_idle_at = ~std::uint64_t{0};
          std::string state_at_first_idle;
          const auto deadline = weft_stress::Clock::now() + std::chrono::seconds(60);
          // Ask over and over during each yield (one push and one take by the worker), for
          // `transitions` yields.
          for (std::uint64_t i = 0; i < transitions; ++i) {
            const std::uint64_t before = yields.load(std::memory_order_relaxed);
            do {
              ++checks;
              if (!worker.has_stealable_work()) {
                if (reported_idle++ == 0) {
                  first_idle_at = i;
                  state_at_first_idle =
                      "yields " + std::to_string(per_task[0].load()) + "/" +
                      std::to_string(per_task[1].load()) + ", queued " +
                      std::to_string(worker.queued()) + ", global " +
                      std::to_string(runtime.core().scheduler().injection.size()) + ", tasks\n" +
                      runtime.dump_tasks();
                }
              }
            } while (yields.load(std::memory_order_relaxed) == before &&
                     weft_stress::Clock::now() < deadline);
          }
          stop = true;
          a.get();
          b.get();
          CAPTURE(checks);
          CAPTURE(first_idle_at);
          CAPTURE(state_at_first_idle);
          CHECK(reported_idle == 0);
        },
        {1}, base);
  }
}
