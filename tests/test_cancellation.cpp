// The cancellation API (cancel(msg), cancelling, uncancel), eager spawns, done callbacks, and a
// cancellation storm that must leave no fiber behind.
#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::with_runtimes;

TEST_CASE("cancelling counts requests, uncancel takes them back") {
  in_runtimes([] {
    weft::Task<int> t = weft::spawn([] {
      weft::TaskRef self = weft::current_task();
      CHECK(self.cancel("one"));
      CHECK(self.cancel("two"));
      CHECK(self.cancelling() == 2);
      try {
        weft::sleep(1h);
      } catch (const weft::CancelledError& e) {
        // Delivered once, however many requests, with the last message.
        CHECK(e.message() == "two");
        CHECK(self.cancelling() == 2);
        CHECK(self.uncancel() == 1);
        CHECK(self.uncancel() == 0);
        CHECK(self.uncancel() == 0);  // never below zero
        weft::sleep(1ms);             // not cancelled any more
        return 1;
      }
      return 0;
    });
    CHECK(t.get() == 1);
    CHECK_FALSE(t.cancel());  // done
    CHECK(t.cancelling() == 0);

    // From outside, on a parked task: counted the same way.
    weft::Promise<void> never;
    weft::Future<void> f = never.get_future();
    std::atomic<bool> parked{false};
    weft::Task<unsigned> waiter = weft::spawn([&] {
      parked = true;
      try {
        f.get();
      } catch (const weft::CancelledError&) {
        return weft::current_task().cancelling();
      }
      return 0u;
    });
    while (!parked.load()) weft::yield_now();
    CHECK(waiter.cancel());
    CHECK(waiter.get() >= 1);
  });
}

TEST_CASE("uncancel to zero withdraws a cancellation not yet delivered") {
  in_runtimes([] {
    weft::Task<int> t = weft::spawn([] {
      weft::current_task().cancel();
      weft::current_task().uncancel();
      weft::sleep(1ms);  // would raise CancelledError if the request were still pending
      return 5;
    });
    CHECK(t.get() == 5);
  });
}

TEST_CASE("a cancelled task's get() throws CancelledError with its message") {
  in_runtimes([] {
    weft::Task<void> t = weft::spawn([] { weft::sleep(1h); });
    weft::yield_now();
    t.cancel("shutting down");
    try {
      t.get();
      FAIL("no CancelledError");
    } catch (const weft::CancelledError& e) {
      CHECK(e.message() == "shutting down");
    }
  });
}

TEST_CASE("eager spawn runs the task at once until its first suspension") {
  in_runtimes([] {
    std::vector<int> order;
    weft::Task<int> done_at_once = weft::spawn(weft::eager, [&] {
      order.push_back(1);
      return 10;
    });
    order.push_back(2);
    CHECK(done_at_once.done());  // finished without suspending: done when spawn returns
    CHECK(done_at_once.get() == 10);

    weft::Task<void> suspends = weft::spawn({.name = "eager-sleeper", .eager = true}, [&] {
      order.push_back(3);
      weft::sleep(1ms);
      order.push_back(5);
    });
    order.push_back(4);
    suspends.get();
    CHECK(order == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(suspends.name() == "eager-sleeper");

    // A lazy spawn does not run before the spawner suspends (on one worker, at least).
    std::atomic<bool> ran{false};
    weft::Task<void> lazy = weft::spawn([&] { ran = true; });
    lazy.get();
    CHECK(ran.load());
  });
}

TEST_CASE("add_done_callback / remove_done_callback") {
  in_runtimes([] {
    std::atomic<bool> release{false};
    weft::Task<int> t = weft::spawn([&] {
      while (!release.load()) weft::yield_now();
      return 1;
    });
    std::atomic<int> a{0};
    std::atomic<int> b{0};
    const weft::DoneCallbackId first = t.add_done_callback([&](weft::TaskRef) { ++a; });
    const weft::DoneCallbackId second = t.add_done_callback([&](weft::TaskRef) { ++b; });
    CHECK(first != second);
    CHECK(t.remove_done_callback(second));
    CHECK_FALSE(t.remove_done_callback(second));
    release = true;
    t.wait();
    CHECK(a.load() == 1);
    CHECK(b.load() == 0);
    CHECK_FALSE(t.remove_done_callback(first));  // already ran
    CHECK(t.get() == 1);
  });
}

TEST_CASE("stress: a cancellation storm under 4 workers leaks no fiber and loses no task") {
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              std::mt19937 rng(7);
              const int rounds = static_cast<int>(weft_test::scaled(20));
              for (int round = 0; round < rounds; ++round) {
                std::vector<weft::Task<int>> tasks;
                for (int i = 0; i < 200; ++i) {
                  switch (i % 5) {
                    case 0:
                      tasks.push_back(weft::spawn([] {
                        weft::sleep(std::chrono::microseconds(50));
                        return 0;
                      }));
                      break;
                    case 1:
                      tasks.push_back(weft::spawn([] {
                        for (int k = 0; k < 20; ++k) weft::yield_now();
                        return 1;
                      }));
                      break;
                    case 2:
                      tasks.push_back(weft::spawn([] {
                        weft::TaskGroup tg;
                        for (int k = 0; k < 3; ++k) tg.spawn([] { weft::sleep(1h); });
                        tg.join();
                        return 2;
                      }));
                      break;
                    case 3:
                      tasks.push_back(weft::spawn([] {
                        return weft::timeout(std::chrono::microseconds(200), [] {
                          weft::sleep(1h);
                          return 3;
                        });
                      }));
                      break;
                    default:
                      tasks.push_back(weft::spawn([&] {
                        auto inner = weft::spawn([] {
                          weft::sleep(1h);
                          return 4;
                        });
                        auto [a, b] = weft::gather(inner, [] { return 0; });
                        return a + b;
                      }));
                      break;
                  }
                }
                // Cancel a random half at random moments, then the rest.
                for (auto& t : tasks) {
                  if (rng() % 3 == 0) weft::yield_now();
                  if (rng() % 2 == 0) t.cancel("storm");
                }
                weft::sleep(std::chrono::microseconds(rng() % 300));
                for (auto& t : tasks) t.cancel("storm");
                for (auto& t : tasks) {
                  try {
                    t.get();
                  } catch (const weft::CancelledError&) {
                  } catch (const weft::TimeoutError&) {
                  }
                }
                // Everything must be finished now; the groups and gathers cancelled every child.
                for (auto& t : tasks) CHECK(t.done());
              }
            })
            .get();
        CHECK(runtime.stats().live_fibers <= 1);  // only the submitting fiber is left
      },
      {4});
}

TEST_CASE("uncancellable holds a cancellation back until the section ends") {
  in_runtimes([] {
    std::atomic<bool> inside{false};
    std::atomic<bool> section_finished{false};
    weft::Task<void> t = weft::spawn([&] {
      weft::uncancellable([&] {
        inside = true;
        weft::sleep(20ms);  // not cut short
        weft::yield_now();  // not delivered here either
        section_finished = true;
      });
      weft::sleep(1h);  // delivered here
    });
    while (!inside.load()) weft::yield_now();
    t.cancel("later");
    CHECK_THROWS_WITH_AS(t.get(), "later", weft::CancelledError);
    CHECK(section_finished.load());
  });
}

TEST_CASE("a destructor that waits under uncancellable survives cancellation and timeouts") {
  in_runtimes([] {
    struct Connection {
      std::atomic<int>& closed;
      ~Connection() {
        weft::uncancellable([] { weft::sleep(5ms); });  // a graceful close that must wait
        ++closed;
      }
    };
    std::atomic<int> closed{0};
    std::atomic<bool> open{false};
    weft::Task<void> t = weft::spawn([&] {
      Connection c{closed};
      open = true;
      weft::sleep(1h);
    });
    while (!open.load()) weft::yield_now();
    t.cancel();
    CHECK_THROWS_AS(t.get(), weft::CancelledError);
    CHECK(closed.load() == 1);

    const weft::TimePoint start = weft::now();
    CHECK_THROWS_AS(weft::timeout(2ms,
                                  [&] {
                                    Connection c{closed};
                                    weft::sleep(1h);
                                  }),
                    weft::TimeoutError);
    CHECK(closed.load() == 2);
    CHECK(weft::now() - start >= 7ms);
  });
}
