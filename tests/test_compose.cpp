// gather, gather_all, wait, as_completed, wait_for and shield.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "parked.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

namespace {

// A task that waits on a promise the test controls.
struct Gate {
  weft::Promise<void> promise;
  weft::Future<void> future = promise.get_future();
  void open() { promise.set_value(); }
};

double seconds_since(weft::TimePoint start) {
  return std::chrono::duration<double>(weft::now() - start).count();
}

// A single-pass range of tasks: it may be read once, and the range functions read twice.
struct InputOnlyTasks {
  struct iterator {
    using value_type = weft::Task<int>;
    using difference_type = std::ptrdiff_t;
    weft::Task<int>* at;
    weft::Task<int>& operator*() const { return *at; }
    iterator& operator++() {
      ++at;
      return *this;
    }
    void operator++(int) { ++at; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.at; }
  };
  iterator begin() { return {nullptr}; }
  std::default_sentinel_t end() { return {}; }
};

template <class R>
concept GatherAllTakes = requires(R& tasks) {
  weft::gather_all(tasks);
};
template <class R>
concept WaitTakes = requires(R& tasks) {
  weft::wait(tasks);
};
template <class R>
concept AsCompletedTakes = requires(R& tasks) {
  weft::as_completed(tasks);
};

static_assert(std::ranges::input_range<InputOnlyTasks> &&
              !std::ranges::forward_range<InputOnlyTasks>);
static_assert(GatherAllTakes<std::vector<weft::Task<int>>> && !GatherAllTakes<InputOnlyTasks>);
static_assert(WaitTakes<std::vector<weft::Task<int>>> && !WaitTakes<InputOnlyTasks>);
static_assert(AsCompletedTakes<std::vector<weft::Task<int>>> && !AsCompletedTakes<InputOnlyTasks>);

}  // namespace

TEST_CASE("gather returns a tuple of results, void as monostate, and runs tasks concurrently") {
  in_runtimes([] {
    // Concurrent, shown without a clock: each child returns only once all three have met at
    // the barrier, which tasks run one after another never do (the first would time out).
    weft::Barrier all_running(3);
    auto [a, b, c] = weft::gather(weft::spawn([&] {
                                    all_running.wait(10s);
                                    return 1;
                                  }),
                                  weft::spawn([&] {
                                    all_running.wait(10s);
                                    return std::string("two");
                                  }),
                                  weft::spawn([&] { all_running.wait(10s); }));
    CHECK(a == 1);
    CHECK(b == "two");
    CHECK(std::is_same_v<decltype(c), std::monostate>);
  });
}

TEST_CASE("gather spawns callables and takes tasks by reference") {
  in_runtimes([] {
    weft::Task<int> t = weft::spawn([] { return 3; });
    auto [x, y] = weft::gather(t, [] { return 4; });
    CHECK(x + y == 7);
    CHECK(t.done());
    CHECK(t.result() == 3);
  });
}

TEST_CASE("gather of tasks that have already finished returns at once") {
  in_runtimes([] {
    weft::Task<int> a = weft::spawn([] { return 1; });
    weft::Task<int> b = weft::spawn([] { return 2; });
    a.wait();
    b.wait();
    auto [x, y] = weft::gather(a, b);
    CHECK(x == 1);
    CHECK(y == 2);
  });
}

TEST_CASE("gather rethrows the first failure at once and leaves the other tasks running") {
  in_runtimes([] {
    Gate gate;
    std::atomic<bool> slow_finished{false};
    weft::Task<int> slow = weft::spawn([&] {
      gate.future.get();
      slow_finished = true;
      return 1;
    });
    weft::Task<int> failing = weft::spawn([]() -> int {
      weft::sleep(5ms);
      throw std::runtime_error("broken");
    });
    CHECK_THROWS_WITH_AS(weft::gather(slow, failing), "broken", std::runtime_error);
    CHECK_FALSE(slow.done());  // gather did not wait for it, nor cancel it
    gate.open();
    CHECK(slow.get() == 1);
    CHECK(slow_finished.load());
  });
}

TEST_CASE("a cancelled child makes gather raise CancelledError") {
  in_runtimes([] {
    weft::Task<void> a = weft::spawn([] { weft::sleep(1h); });
    weft::Task<int> b = weft::spawn([] { return 1; });
    // The child is cancelled while gather waits for it (not after a sleep that a loaded
    // sanitizer run could outlast before gather is even called).
    const weft::TaskRef gathering = weft::current_task();
    weft::Task<void> canceller = weft::spawn([&] {
      CHECK(weft_test::wait_parked(gathering, "gathering tasks"));
      a.cancel("child stopped");
    });
    CHECK_THROWS_WITH_AS(weft::gather(a, b), "child stopped", weft::CancelledError);
    canceller.get();
  });
}

TEST_CASE("cancelling the gathering fiber cancels every child and waits for them") {
  in_runtimes([] {
    std::atomic<int> cleaned{0};
    std::atomic<int> started{0};
    auto child = [&] {
      struct Cleanup {
        std::atomic<int>& n;
        ~Cleanup() { ++n; }
      } cleanup{cleaned};
      ++started;
      weft::sleep(1h);
    };
    weft::Task<void> gatherer = weft::spawn([&] {
      weft::Task<void> a = weft::spawn(child);
      weft::Task<void> b = weft::spawn(child);
      weft::Task<void> c = weft::spawn(child);
      weft::gather(a, b, c);
    });
    while (started.load() < 3) weft::yield_now();
    gatherer.cancel("stop");
    CHECK_THROWS_WITH_AS(gatherer.get(), "stop", weft::CancelledError);
    CHECK(cleaned.load() == 3);  // every child had finished before gather gave up
  });
}

TEST_CASE("gather_all returns values in order and propagates the first failure") {
  in_runtimes([] {
    std::vector<weft::Task<int>> tasks;
    for (int i = 0; i < 50; ++i)
      tasks.push_back(weft::spawn([i] {
        weft::sleep(std::chrono::microseconds((50 - i) * 20));
        return i * i;
      }));
    const std::vector<int> values = weft::gather_all(tasks);
    REQUIRE(values.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(values[static_cast<std::size_t>(i)] == i * i);

    std::vector<weft::Task<void>> failing;
    failing.push_back(weft::spawn([] { weft::sleep(1ms); }));
    failing.push_back(weft::spawn([] { throw std::logic_error("bad input"); }));
    CHECK_THROWS_WITH_AS(weft::gather_all(std::move(failing)), "bad input", std::logic_error);

    std::vector<weft::Task<int>> none;
    CHECK(weft::gather_all(none).empty());
  });
}

TEST_CASE("gather_all with return_exceptions reports every outcome") {
  in_runtimes([] {
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::spawn([] { return 1; }));
    tasks.push_back(weft::spawn([]() -> int { throw std::runtime_error("second failed"); }));
    tasks.push_back(weft::spawn([] {
      weft::sleep(1h);
      return 3;
    }));
    tasks.push_back(weft::spawn([] {
      weft::sleep(2ms);
      return 4;
    }));
    weft::Task<void> canceller = weft::spawn([&] {
      weft::sleep(5ms);
      tasks[2].cancel();
    });
    std::vector<weft::Result<int>> results = weft::gather_all(tasks, weft::return_exceptions);
    REQUIRE(results.size() == 4);
    CHECK(results[0].ok());
    CHECK(results[0].value() == 1);
    CHECK_FALSE(results[1].ok());
    CHECK_THROWS_WITH_AS(results[1].value(), "second failed", std::runtime_error);
    CHECK_FALSE(results[2].ok());
    CHECK_THROWS_AS(std::rethrow_exception(results[2].exception()), weft::CancelledError);
    CHECK(results[3].value() == 4);
    canceller.get();

    std::vector<weft::Task<void>> voids;
    voids.push_back(weft::spawn([] {}));
    const auto void_results = weft::gather_all(voids, weft::return_exceptions);
    CHECK(void_results.at(0).ok());
  });
}

TEST_CASE("wait FirstCompleted returns as soon as one task is done and cancels nothing") {
  in_runtimes([] {
    Gate gate;
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::spawn([&] {
      gate.future.get();
      return 1;
    }));
    tasks.push_back(weft::spawn([] {
      weft::sleep(2ms);
      return 2;
    }));
    auto [done, pending] = weft::wait(tasks, weft::FirstCompleted);
    REQUIRE(done.size() == 1);
    REQUIRE(pending.size() == 1);
    CHECK(done[0]->get() == 2);
    CHECK(pending[0] == &tasks[0]);
    CHECK_FALSE(tasks[0].done());
    gate.open();
    CHECK(tasks[0].get() == 1);
  });
}

TEST_CASE("wait FirstException returns at the first error, AllCompleted waits for all") {
  in_runtimes([] {
    // The empty task is done before the other one throws (it waits for it: a loaded sanitizer
    // run may not get to the empty task within any sleep), so two are done at the first error.
    weft::Task<void> empty = weft::spawn([] {});
    std::vector<weft::Task<void>> tasks;
    tasks.push_back(weft::spawn([] { weft::sleep(1h); }));
    tasks.push_back(weft::spawn([empty_done = empty.ref()] {
      empty_done.wait();
      weft::sleep(2ms);
      throw std::runtime_error("x");
    }));
    tasks.push_back(std::move(empty));
    auto [done, pending] = weft::wait(std::move(tasks), weft::FirstException);
    CHECK(done.size() == 2);
    REQUIRE(pending.size() == 1);
    CHECK_FALSE(pending[0].done());
    pending[0].cancel();
    CHECK_THROWS_AS(pending[0].get(), weft::CancelledError);
    for (auto& t : done) {
      if (t.exception()) CHECK_THROWS_AS(t.get(), std::runtime_error);
    }

    // A cancelled task is not an exception for FirstException: it waits for the rest.
    std::vector<weft::Task<void>> more;
    more.push_back(weft::spawn([] { weft::sleep(1h); }));
    more.push_back(weft::spawn([] { weft::sleep(5ms); }));
    more[0].cancel();
    auto all = weft::wait(more, weft::FirstException);
    CHECK(all.done.size() == 2);
    CHECK(all.pending.empty());
    auto every = weft::wait(more, weft::AllCompleted);
    CHECK(every.done.size() == 2);
  });
}

TEST_CASE("wait with a timeout returns what is done, and an empty set is a clear error") {
  in_runtimes([] {
    std::vector<weft::Task<void>> tasks;
    tasks.push_back(weft::spawn([] { weft::sleep(1h); }));
    tasks.push_back(weft::spawn([] {}));
    // Done before the timed wait starts (a loaded sanitizer run may not get to it within 20 ms).
    tasks[1].wait();
    const weft::TimePoint start = weft::now();
    auto [done, pending] = weft::wait(tasks, weft::AllCompleted, 20ms);
    CHECK(seconds_since(start) >= 0.02);
    CHECK(done.size() == 1);
    CHECK(pending.size() == 1);
    CHECK_FALSE(tasks[0].done());  // not cancelled by the timeout
    tasks[0].cancel();

    std::vector<weft::Task<void>> empty;
    CHECK_THROWS_AS(weft::wait(empty), std::invalid_argument);
  });
}

TEST_CASE("as_completed yields tasks in completion order") {
  in_runtimes([] {
    // Finishing order 1, 2, 0, forced by gates an opener task opens one after another.
    Gate gates[3];
    std::vector<weft::Task<int>> tasks;
    for (int i = 0; i < 3; ++i)
      tasks.push_back(weft::spawn([&gates, i] {
        gates[i].future.get();
        return i;
      }));
    weft::Task<void> opener = weft::spawn([&] {
      for (int i : {1, 2, 0}) {
        weft::sleep(1ms);
        gates[i].open();
        tasks[static_cast<std::size_t>(i)].wait();
      }
    });
    std::vector<int> order;
    for (auto& t : weft::as_completed(tasks)) order.push_back(t.get());
    CHECK(order == std::vector<int>{1, 2, 0});
    opener.get();
  });
}

TEST_CASE("as_completed raises TimeoutError when the timeout passes first") {
  in_runtimes([] {
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::spawn([] { return 1; }));
    tasks.push_back(weft::spawn([] {
      weft::sleep(1h);
      return 2;
    }));
    // The first task is done before the loop starts (a loaded sanitizer run may not get to it
    // within the 20 ms otherwise): it comes out first, then the timeout passes.
    tasks[0].wait();
    std::vector<int> got;
    CHECK_THROWS_AS(
        [&] {
          for (auto& t : weft::as_completed(std::move(tasks), 20ms)) got.push_back(t.get());
        }(),
        weft::TimeoutError);
    CHECK(got == std::vector<int>{1});
  });
}

TEST_CASE("leaving an as_completed loop early leaves the other tasks alone") {
  in_runtimes([] {
    // The second task finishes only after the loop is left (not after a sleep that a loaded
    // sanitizer run could outlast before the first task even runs).
    weft::Event loop_left;
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::spawn([] { return 1; }));
    tasks.push_back(weft::spawn([&loop_left] {
      loop_left.wait();
      return 2;
    }));
    for (auto& t : weft::as_completed(tasks)) {
      CHECK(t.get() == 1);
      break;
    }
    CHECK_FALSE(tasks[1].done());
    loop_left.set();
    CHECK(tasks[1].get() == 2);
  });
}

TEST_CASE("wait_for returns the result of a task that finishes in time") {
  in_runtimes([] {
    CHECK(weft::wait_for(1h, weft::spawn([] {
                           weft::sleep(1ms);
                           return 5;
                         })) == 5);
    weft::Task<int> done = weft::spawn([] { return 6; });
    done.wait();
    CHECK(weft::wait_for(0ms, done) == 6);  // already done: no timeout even at zero
  });
}

TEST_CASE("wait_for cancels the task on timeout, waits for it, and throws TimeoutError") {
  in_runtimes([] {
    std::atomic<bool> cleaned{false};
    weft::Task<int> slow = weft::spawn([&] {
      struct Cleanup {
        std::atomic<bool>& flag;
        ~Cleanup() { flag = true; }
      } cleanup{cleaned};
      weft::sleep(1h);
      return 1;
    });
    // Started (its cleanup armed) before the 20 ms begin: a task cancelled before its first run
    // never runs its body, so a loaded sanitizer run could otherwise leave `cleaned` false.
    REQUIRE(weft_test::wait_parked(slow, "sleeping"));
    const weft::TimePoint start = weft::now();
    CHECK_THROWS_AS(weft::wait_for(20ms, slow), weft::TimeoutError);
    CHECK(seconds_since(start) >= 0.02);
    CHECK(slow.done());
    CHECK(slow.cancelled());
    CHECK(cleaned.load());
    CHECK(weft::current_task().cancelling() == 0);  // the timeout took its request back
  });
}

TEST_CASE("an outside cancel during wait_for stays a CancelledError") {
  in_runtimes([] {
    weft::Task<void> waiter = weft::spawn([] {
      (void)weft::wait_for(1h, weft::spawn([] {
                             weft::sleep(1h);
                             return 0;
                           }));
    });
    // Cancelled inside wait_for (not before its first run, which would never reach wait_for).
    REQUIRE(weft_test::wait_parked(waiter, "awaiting a task or future"));
    waiter.cancel("outside");
    CHECK_THROWS_WITH_AS(waiter.get(), "outside", weft::CancelledError);
  });
}

TEST_CASE("shield: the awaiter is cancelled, the shielded task runs on") {
  in_runtimes([] {
    Gate gate;
    weft::Task<int> precious = weft::spawn([&] {
      gate.future.get();
      return 42;
    });
    std::atomic<bool> awaiting{false};
    weft::Task<void> awaiter = weft::spawn([&] {
      awaiting = true;
      (void)weft::shield(precious);
    });
    while (!awaiting.load()) weft::yield_now();
    REQUIRE(weft_test::wait_parked(awaiter, "awaiting a task or future"));  // inside shield
    awaiter.cancel();
    CHECK_THROWS_AS(awaiter.get(), weft::CancelledError);
    CHECK_FALSE(precious.done());
    CHECK(precious.cancelling() == 0);
    gate.open();
    CHECK(precious.get() == 42);

    // Under a timeout: the timeout fires, the shielded task is untouched. It finishes only once
    // the timeout has fired (a 30 ms sleep could end first on a loaded sanitizer run).
    weft::Event timed_out;
    weft::Task<int> slow = weft::spawn([&] {
      timed_out.wait();
      return 7;
    });
    CHECK_THROWS_AS(weft::timeout(5ms, [&] { return weft::shield(slow); }), weft::TimeoutError);
    CHECK_FALSE(slow.done());
    CHECK(slow.cancelling() == 0);
    timed_out.set();
    CHECK(slow.get() == 7);
  });
}
