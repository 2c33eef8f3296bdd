// TaskGroup: joining, failure handling, cancellation, destruction without join.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

namespace {

std::vector<std::string> messages_of(const weft::ExceptionGroup& group) {
  std::vector<std::string> out;
  for (const auto& error : group.exceptions()) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      out.emplace_back(e.what());
    }
  }
  return out;
}

struct CountOnExit {
  std::atomic<int>& n;
  ~CountOnExit() { ++n; }
};

}  // namespace

TEST_CASE("join waits for every child, including children spawned by children") {
  in_runtimes([] {
    std::atomic<int> finished{0};
    weft::TaskGroup tg;
    for (int i = 0; i < 20; ++i)
      tg.spawn([&, i] {
        weft::sleep(std::chrono::microseconds(i * 100));
        if (i % 5 == 0)
          tg.spawn([&] {
            weft::sleep(2ms);
            ++finished;
          });
        ++finished;
      });
    weft::Task<int> seven = tg.spawn([] { return 7; });
    tg.join();
    CHECK(finished.load() == 24);
    CHECK(seven.done());
    CHECK(seven.get() == 7);
    CHECK(tg.size() == 0);
    CHECK_THROWS_AS(tg.spawn([] {}), weft::InvalidStateError);
    CHECK_THROWS_AS(tg.join(), weft::InvalidStateError);
  });
}

TEST_CASE("the first failure cancels the siblings and join throws an ExceptionGroup") {
  in_runtimes([] {
    std::atomic<int> sibling_cleanups{0};
    std::atomic<int> siblings_started{0};
    std::atomic<bool> sibling_finished{false};
    weft::TaskGroup tg;
    for (int i = 0; i < 3; ++i)
      tg.spawn([&] {
        CountOnExit exit{sibling_cleanups};
        ++siblings_started;
        weft::sleep(1h);
        sibling_finished = true;
      });
    tg.spawn([] {
      weft::sleep(2ms);
      throw std::runtime_error("child failed");
    });
    try {
      tg.join();
      FAIL("join did not throw");
    } catch (const weft::ExceptionGroup& group) {
      CHECK(messages_of(group) == std::vector<std::string>{"child failed"});
    }
    // Every sibling that started was cancelled and cleaned up (one cancelled before it ran
    // never starts at all).
    CHECK(sibling_cleanups.load() == siblings_started.load());
    CHECK_FALSE(sibling_finished.load());
  });
}

TEST_CASE("two children failing: both errors are in the ExceptionGroup") {
  in_runtimes(
      [] {
        weft::TaskGroup tg;
        // Both fail before either can be cancelled (no suspension point before the throw).
        std::atomic<int> ready{0};
        tg.spawn([&] {
          ++ready;
          while (ready.load() < 2) {
          }
          throw std::runtime_error("first");
        });
        tg.spawn([&] {
          ++ready;
          while (ready.load() < 2) {
          }
          throw std::logic_error("second");
        });
        // On one worker the two cannot spin-wait for each other: give the second its own turn.
        try {
          tg.join();
          FAIL("join did not throw");
        } catch (const weft::ExceptionGroup& group) {
          auto messages = messages_of(group);
          std::sort(messages.begin(), messages.end());
          CHECK(messages == std::vector<std::string>{"first", "second"});
        }
      },
      {2, 4});
}

TEST_CASE("a child cancelled from outside is not an error and cancels nothing") {
  in_runtimes([] {
    weft::TaskGroup tg;
    weft::Task<void> victim = tg.spawn([] { weft::sleep(1h); });
    weft::Task<int> other = tg.spawn([] {
      weft::sleep(5ms);
      return 2;
    });
    weft::yield_now();
    victim.cancel();
    tg.join();
    CHECK(victim.cancelled());
    CHECK(other.get() == 2);
  });
}

TEST_CASE("cancelling the parent during join cancels the children and raises CancelledError") {
  in_runtimes([] {
    std::atomic<int> cleanups{0};
    std::atomic<int> started{0};
    std::atomic<bool> joining{false};
    weft::Task<void> parent = weft::spawn([&] {
      weft::TaskGroup tg;
      for (int i = 0; i < 4; ++i)
        tg.spawn([&] {
          CountOnExit exit{cleanups};
          ++started;
          weft::sleep(1h);
        });
      joining = true;
      tg.join();
    });
    while (!joining.load() || started.load() < 4) weft::yield_now();
    parent.cancel("parent stop");
    CHECK_THROWS_WITH_AS(parent.get(), "parent stop", weft::CancelledError);
    CHECK(cleanups.load() == 4);
  });
}

TEST_CASE("a group destroyed without join cancels and joins its children, throwing nothing") {
  in_runtimes([] {
    std::atomic<int> cleanups{0};
    std::atomic<int> spawned{0};
    weft::Task<void> parent = weft::spawn([&] {
      weft::TaskGroup tg;
      for (int i = 0; i < 5; ++i)
        tg.spawn([&] {
          CountOnExit exit{cleanups};
          ++spawned;
          weft::sleep(1h);
        });
      weft::sleep(2ms);
      throw std::runtime_error("parent body failed");
    });
    CHECK_THROWS_WITH_AS(parent.get(), "parent body failed", std::runtime_error);
    CHECK(cleanups.load() == spawned.load());  // no orphan outlived the group
  });
}

TEST_CASE("a TaskGroup under a timeout: the deadline cancels the join and the children") {
  in_runtimes([] {
    std::atomic<int> cleanups{0};
    std::atomic<int> started{0};
    // The deadline is set once every child runs: a child cancelled before its first run
    // has no cleanup to count, and on a loaded machine 10 ms may pass before they start.
    CHECK_THROWS_AS(weft::timeout(1h,
                                  [&](weft::Timeout& scope) {
                                    weft::TaskGroup tg;
                                    for (int i = 0; i < 3; ++i)
                                      tg.spawn([&] {
                                        CountOnExit exit{cleanups};
                                        ++started;
                                        weft::sleep(1h);
                                      });
                                    while (started.load() < 3) weft::yield_now();
                                    scope.reschedule(weft::now() + 10ms);
                                    tg.join();
                                  }),
                    weft::TimeoutError);
    CHECK(cleanups.load() == 3);
  });
}

TEST_CASE("spawning into a group that is shutting down is refused") {
  in_runtimes([] {
    weft::TaskGroup tg;
    weft::Task<void> failing = tg.spawn([] { throw std::runtime_error("x"); });
    failing.wait();
    CHECK_THROWS_AS(tg.spawn([] {}), weft::InvalidStateError);
    CHECK_THROWS_AS(tg.join(), weft::ExceptionGroup);
  });
}
