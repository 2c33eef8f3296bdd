// Regression tests for races and edge cases found in review of the composition and sync work.
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

TEST_CASE("a generator whose consumer is already cancelled does not hang") {
  in_runtimes([] {
    std::atomic<bool> body_ran{false};
    weft::Task<void> consumer = weft::spawn([&] {
      weft::Generator<int> g([&](weft::Yield<int>& yield) {
        body_ran = true;
        yield(1);
      });
      weft::current_task().cancel("already");
      (void)g.next();
    });
    CHECK_THROWS_WITH_AS(consumer.get(), "already", weft::CancelledError);
  });
}

TEST_CASE("TaskGroup::join never returns while a child admitted during the join still runs") {
  in_runtimes(
      [] {
        std::mt19937 rng(5);
        for (int trial = 0; trial < 200; ++trial) {
          std::atomic<int> running{0};
          std::atomic<bool> late_admitted{false};
          auto group = std::make_unique<weft::TaskGroup>();
          weft::TaskGroup& tg = *group;
          tg.spawn([&] {
            ++running;
            weft::yield_now();
            --running;
          });
          weft::Task<void> outsider = weft::spawn([&] {
            for (int i = 0; i < 3; ++i) {
              try {
                tg.spawn([&] {
                  ++running;
                  weft::yield_now();
                  --running;
                });
                late_admitted = true;
              } catch (const weft::InvalidStateError&) {
                return;  // joined: refused, as it must be
              }
              weft::yield_now();
            }
          });
          if (rng() % 2) weft::yield_now();
          tg.join();
          CHECK(running.load() == 0);  // every admitted child was waited for
          outsider.get();
          group.reset();
        }
      },
      {2, 4});
}

TEST_CASE("an outside cancel racing a Timeout scope's exit is never lost") {
  in_runtimes(
      [] {
        std::mt19937 rng(11);
        for (int trial = 0; trial < 100; ++trial) {
          weft::Task<void> looper = weft::spawn([] {
            for (;;) {
              try {
                weft::timeout(0ms, [] { weft::yield_now(); });
              } catch (const weft::TimeoutError&) {
              }
            }
          });
          weft::sleep(std::chrono::microseconds(rng() % 200));
          looper.cancel("stop");
          std::vector<weft::Task<void>> one;
          one.push_back(std::move(looper));
          // A lost cancel never ends the loop; the limit only stops such a test from hanging.
          auto [done, pending] = weft::wait(one, weft::AllCompleted, 10s);
          REQUIRE(done.size() == 1);
          CHECK_THROWS_AS(one[0].get(), weft::CancelledError);
        }
      },
      {2});
}

TEST_CASE("huge timeouts mean no deadline") {
  in_runtimes([] {
    CHECK(weft::timeout(std::chrono::hours::max(), [] {
            weft::sleep(1ms);
            return 1;
          }) == 1);
    CHECK(weft::timeout(std::chrono::seconds::max(), [] { return 2; }) == 2);
    std::vector<weft::Task<int>> tasks;
    tasks.push_back(weft::spawn([] {
      weft::sleep(5ms);
      return 3;
    }));
    auto [done, pending] = weft::wait(tasks, weft::AllCompleted, std::chrono::seconds::max());
    CHECK(done.size() == 1);
    CHECK(pending.empty());
    CHECK(weft::wait_for(std::chrono::hours::max(), weft::spawn([] { return 4; })) == 4);

    weft::Lock lock;
    lock.lock();
    weft::Task<void> releaser = weft::spawn([&] {
      weft::sleep(5ms);
      lock.unlock();
    });
    CHECK(lock.try_lock_for(std::chrono::hours::max()));
    lock.unlock();
    releaser.get();
    weft::Queue<int> q;
    weft::Task<void> putter = weft::spawn([&] {
      weft::sleep(2ms);
      q.put(5);
    });
    CHECK(q.get(std::chrono::hours::max()) == 5);
    putter.get();
  });
}

TEST_CASE("a timeout opened inside uncancellable still expires: an outside cancel stays held") {
  in_runtimes([] {
    std::atomic<bool> inside{false};
    std::atomic<bool> inner_timed_out{false};
    // Shared with t: it may still wait on the event if the test fails early.
    auto cancelled_outside = std::make_shared<weft::Event>();
    weft::Task<void> t = weft::spawn([&, cancelled_outside] {
      weft::timeout(1ms, [&] {  // outside the section: must wait for it to end
        weft::uncancellable([&] {
          inside = true;
          // Held back: neither the outside cancel nor the outer scope's expiry ends this wait.
          cancelled_outside->wait();
          // With the outside cancel pending, a timeout opened here still expires.
          try {
            weft::timeout(20ms, [] { weft::sleep(1h); });
          } catch (const weft::TimeoutError&) {
            inner_timed_out = true;
          }
        });
        weft::sleep(1h);  // the outer scope (and the outside cancel) are delivered here
      });
    });
    while (!inside.load()) weft::yield_now();
    t.cancel("outside");
    cancelled_outside->set();
    CHECK_THROWS_AS(t.get(), weft::CancelledError);
    CHECK(inner_timed_out.load());
  });
}
