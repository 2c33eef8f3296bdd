// Timeout scopes (asyncio.timeout / timeout_at): expiry, nesting, reschedule, and how they
// combine with outside cancellation.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

namespace {
double seconds_since(weft::TimePoint start) {
  return std::chrono::duration<double>(weft::now() - start).count();
}
}  // namespace

TEST_CASE("timeout returns the callable's result when the deadline does not pass") {
  in_runtimes([] {
    CHECK(weft::timeout(1h, [] {
            weft::sleep(1ms);
            return 3;
          }) == 3);
    int touched = 0;
    weft::timeout(1s, [&] { ++touched; });
    CHECK(touched == 1);
    CHECK(weft::current_task().cancelling() == 0);
  });
}

TEST_CASE("an expired timeout raises TimeoutError, never early, and cleans up") {
  in_runtimes([] {
    const weft::TimePoint start = weft::now();
    bool cleaned = false;
    CHECK_THROWS_AS(weft::timeout(20ms,
                                  [&] {
                                    struct Cleanup {
                                      bool& flag;
                                      ~Cleanup() { flag = true; }
                                    } cleanup{cleaned};
                                    weft::sleep(1h);
                                  }),
                    weft::TimeoutError);
    CHECK(seconds_since(start) >= 0.02);
    CHECK(cleaned);
    CHECK(weft::current_task().cancelling() == 0);
    weft::sleep(1ms);  // the fiber is not left cancelled
  });
}

TEST_CASE("a timeout cuts short every kind of wait") {
  in_runtimes([] {
    weft::Promise<int> never;
    weft::Future<int> f = never.get_future();
    CHECK_THROWS_AS(weft::timeout(5ms, [&] { return f.get(); }), weft::TimeoutError);
    weft::Task<void> other = weft::spawn([] { weft::sleep(1h); });
    CHECK_THROWS_AS(weft::timeout(5ms, [&] { other.wait(); }), weft::TimeoutError);
    CHECK_FALSE(other.done());  // wait() does not cancel what it waits for
    other.cancel();
    CHECK_THROWS_AS(weft::timeout(5ms,
                                  [] {
                                    for (;;) weft::yield_now();
                                  }),
                    weft::TimeoutError);
  });
}

TEST_CASE("timeout_at with a past deadline expires at the first suspension point") {
  in_runtimes([] {
    int before = 0;
    CHECK_THROWS_AS(weft::timeout_at(weft::now() - 1s,
                                     [&] {
                                       ++before;  // runs: expiry waits for a suspension point
                                       weft::yield_now();
                                       ++before;
                                     }),
                    weft::TimeoutError);
    CHECK(before == 1);
  });
}

TEST_CASE("the Timeout& argument: when, expired and reschedule") {
  in_runtimes([] {
    const weft::TimePoint start = weft::now();
    CHECK_THROWS_AS(weft::timeout(10ms,
                                  [&](weft::Timeout& t) {
                                    CHECK_FALSE(t.expired());
                                    CHECK(t.when() > start);
                                    t.reschedule(weft::now() + 40ms);
                                    weft::sleep(1h);
                                  }),
                    weft::TimeoutError);
    CHECK(seconds_since(start) >= 0.04);

    // Rescheduling to "never" removes the deadline.
    weft::timeout(5ms, [](weft::Timeout& t) {
      t.reschedule(weft::TimePoint::max());
      CHECK(t.when() == weft::TimePoint::max());
      weft::sleep(20ms);
    });

    // Catching the cancellation inside: the scope records its expiry, nothing is thrown.
    weft::timeout(5ms, [](weft::Timeout& t) {
      try {
        weft::sleep(1h);
      } catch (const weft::CancelledError&) {
        CHECK(t.expired());
        CHECK_THROWS_AS(t.reschedule(weft::now() + 1s), weft::InvalidStateError);
      }
    });
    CHECK(weft::current_task().cancelling() == 0);
  });
}

TEST_CASE("nested timeouts: the inner one expiring first raises from the inner call") {
  in_runtimes([] {
    bool inner_timed_out = false;
    weft::timeout(1h, [&] {
      try {
        weft::timeout(10ms, [] { weft::sleep(1h); });
      } catch (const weft::TimeoutError&) {
        inner_timed_out = true;
      }
      weft::sleep(1ms);  // the outer scope is still healthy
    });
    CHECK(inner_timed_out);
  });
}

TEST_CASE(
    "nested timeouts where the outer expires first: CancelledError inside, TimeoutError out") {
  in_runtimes([] {
    bool inner_saw_cancel = false;
    bool inner_saw_timeout = false;
    CHECK_THROWS_AS(weft::timeout(10ms,
                                  [&] {
                                    try {
                                      weft::timeout(1h, [] { weft::sleep(1h); });
                                    } catch (const weft::TimeoutError&) {
                                      inner_saw_timeout = true;
                                    } catch (const weft::CancelledError&) {
                                      inner_saw_cancel = true;
                                      throw;
                                    }
                                  }),
                    weft::TimeoutError);
    CHECK(inner_saw_cancel);
    CHECK_FALSE(inner_saw_timeout);
    CHECK(weft::current_task().cancelling() == 0);
  });
}

TEST_CASE("equal nested deadlines: the inner one wins") {
  in_runtimes([] {
    const weft::TimePoint when = weft::now() + 10ms;
    bool inner = false;
    weft::timeout_at(when, [&] {
      try {
        weft::timeout_at(when, [] { weft::sleep(1h); });
      } catch (const weft::TimeoutError&) {
        inner = true;
      }
    });
    CHECK(inner);
  });
}

TEST_CASE("an outside cancel inside a timeout stays a CancelledError") {
  in_runtimes([] {
    std::atomic<bool> inside{false};
    weft::Task<void> t = weft::spawn([&] {
      weft::timeout(1h, [&] {
        inside = true;
        weft::sleep(1h);
      });
    });
    while (!inside.load()) weft::yield_now();
    t.cancel("from outside");
    CHECK_THROWS_WITH_AS(t.get(), "from outside", weft::CancelledError);
  });
}

TEST_CASE("an outside cancel racing with expiry is not swallowed") {
  in_runtimes([] {
    weft::Task<void> t = weft::spawn([] {
      weft::timeout(5ms, [] {
        // Busy past the deadline, then get cancelled from outside too: both requests land.
        const weft::TimePoint until = weft::now() + 20ms;
        while (weft::now() < until) {
        }
        weft::current_task().cancel("outside");
        weft::sleep(1h);
      });
    });
    CHECK_THROWS_AS(t.get(), weft::CancelledError);
  });
}

TEST_CASE("an exception other than cancellation passes through a timeout unchanged") {
  in_runtimes([] {
    CHECK_THROWS_WITH_AS(weft::timeout(1s, []() -> int { throw std::out_of_range("range"); }),
                         "range", std::out_of_range);
    CHECK(weft::current_task().cancelling() == 0);
  });
}

TEST_CASE("timeout outside a fiber is a logic_error") {
  CHECK_THROWS_AS(weft::timeout(1s, [] {}), std::logic_error);
}
