#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parked.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::wait_parked;
using weft_test::with_runtimes;

TEST_CASE("run returns the main function's result") {
  weft::Config cfg;
  cfg.workers = 2;
  CHECK(weft::run(cfg, [] { return 42; }) == 42);
  CHECK(weft::run(cfg, [] { return weft::spawn([] { return std::string("hi"); }).get(); }) == "hi");
}

TEST_CASE("run rethrows the main function's exception after shutting down") {
  weft::Config cfg;
  cfg.workers = 2;
  CHECK_THROWS_WITH_AS(weft::run(cfg, []() -> int { throw std::runtime_error("boom"); }), "boom",
                       std::runtime_error);
}

TEST_CASE("spawn and get return values, void and exceptions") {
  in_runtimes([] {
    weft::Task<int> a = weft::spawn([] { return 7; });
    weft::Task<void> b = weft::spawn([] {});
    weft::Task<int> c = weft::spawn([]() -> int { throw std::out_of_range("nope"); });
    CHECK(a.get() == 7);
    b.get();
    CHECK_THROWS_WITH_AS(c.get(), "nope", std::out_of_range);
    CHECK(c.done());
    CHECK_FALSE(c.cancelled());
  });
}

TEST_CASE("get may be called once, result and exception read a finished task repeatedly") {
  in_runtimes([] {
    weft::Task<int> t = weft::spawn([] { return 5; });
    CHECK(t.get() == 5);
    CHECK_THROWS_AS(t.get(), weft::InvalidStateError);
    CHECK(t.result() == 5);
    CHECK(t.result() == 5);
    CHECK(t.exception() == nullptr);
    weft::Task<int> bad = weft::spawn([]() -> int { throw std::runtime_error("x"); });
    bad.wait();
    CHECK(bad.exception() != nullptr);
    CHECK_THROWS_AS(bad.result(), std::runtime_error);
  });
}

TEST_CASE("result and exception of an unfinished task throw InvalidStateError") {
  in_runtimes([] {
    weft::Promise<int> gate;
    weft::Future<int> opened = gate.get_future();
    weft::Task<int> t = weft::spawn([&] { return opened.get(); });
    weft::yield_now();
    CHECK_FALSE(t.done());
    CHECK_THROWS_AS(t.result(), weft::InvalidStateError);
    CHECK_THROWS_AS((void)t.exception(), weft::InvalidStateError);
    gate.set_value(3);
    CHECK(t.get() == 3);
  });
}

TEST_CASE("an empty Task handle throws InvalidStateError instead of crashing") {
  weft::Task<int> empty;
  CHECK_FALSE(empty);
  CHECK_FALSE(empty.done());
  CHECK_THROWS_AS(empty.get(), weft::InvalidStateError);
}

TEST_CASE("cancel wakes a parked task with CancelledError carrying the message") {
  in_runtimes([] {
    weft::Promise<int> never;
    weft::Future<int> f = never.get_future();
    std::atomic<bool> cleaned{false};
    weft::Task<int> t = weft::spawn([&] {
      struct Cleanup {
        std::atomic<bool>& flag;
        ~Cleanup() { flag = true; }
      } cleanup{cleaned};
      return f.get();
    });
    // Parked in f.get() (a task cancelled before its first run would never build `cleanup`).
    REQUIRE(wait_parked(t, "awaiting a task or future"));
    CHECK(t.cancel("stop now"));
    try {
      t.get();
      FAIL("get() should have thrown");
    } catch (const weft::CancelledError& e) {
      CHECK(e.message() == "stop now");
    }
    CHECK(t.cancelled());
    CHECK(cleaned.load());
    CHECK_FALSE(t.cancel());  // already done
  });
}

TEST_CASE("a task that catches CancelledError and returns is not cancelled") {
  in_runtimes([] {
    weft::Promise<void> never;
    weft::Future<void> f = never.get_future();
    weft::Task<int> t = weft::spawn([&] {
      try {
        f.get();
      } catch (const weft::CancelledError&) {
        return 99;
      }
      return 0;
    });
    REQUIRE(wait_parked(t, "awaiting a task or future"));  // inside the try
    t.cancel();
    CHECK(t.get() == 99);
    CHECK_FALSE(t.cancelled());
  });
}

TEST_CASE("a task cancelled before it starts never runs its body") {
  in_runtimes([] {
    std::atomic<bool> ran{false};
    weft::Task<void> t = weft::spawn([&] { ran = true; });
    t.cancel();
    CHECK_THROWS_AS(t.get(), weft::CancelledError);
    CHECK(t.cancelled());
    CHECK_FALSE(ran.load());
  });
}

TEST_CASE("cancel of a running task is delivered at its next suspension point") {
  in_runtimes([] {
    std::atomic<bool> go{false};
    std::atomic<int> stage{0};
    weft::Task<void> t = weft::spawn([&] {
      stage = 1;
      while (!go.load()) weft::yield_now();
      stage = 2;
      weft::yield_now();  // throws here
      stage = 3;
    });
    while (stage.load() == 0) weft::yield_now();
    t.cancel();
    go = true;
    CHECK_THROWS_AS(t.get(), weft::CancelledError);
    CHECK(stage.load() < 3);
  });
}

TEST_CASE("cancelling a fiber in get() cancels the awaited task too and waits for it") {
  in_runtimes([] {
    weft::Promise<int> p;
    weft::Future<int> f = p.get_future();
    std::atomic<bool> inner_cleaned{false};
    std::atomic<bool> inner_started{false};
    weft::Task<int> inner = weft::spawn([&] {
      inner_started = true;
      struct Cleanup {
        std::atomic<bool>& flag;
        ~Cleanup() { flag = true; }
      } cleanup{inner_cleaned};
      return f.get();
    });
    std::atomic<bool> outer_started{false};
    weft::Task<int> outer = weft::spawn([&] {
      outer_started = true;
      return inner.get();
    });
    while (!outer_started.load() || !inner_started.load()) weft::yield_now();
    while (inner.cancelling() == 0) {
      outer.cancel("stop both");
      weft::yield_now();
    }
    try {
      outer.get();
      FAIL("outer was not cancelled");
    } catch (const weft::CancelledError& error) {
      CHECK(std::string(error.what()) == "stop both");
    }
    // outer returned only after inner had finished cancelling.
    CHECK(inner.done());
    CHECK(inner.cancelled());
    CHECK(inner_cleaned.load());
  });
}

TEST_CASE("a task that finishes despite its awaiter's cancellation keeps its result") {
  in_runtimes([] {
    weft::Promise<void> release;
    weft::Future<void> released = release.get_future();
    std::atomic<bool> inner_started{false};
    weft::Task<int> inner = weft::spawn([&] {
      inner_started = true;
      try {
        released.get();
      } catch (const weft::CancelledError&) {
        // Refuses to be cancelled: finishes with a value.
      }
      return 5;
    });
    std::atomic<int> seen{0};
    std::atomic<bool> cancelled_later{false};
    std::atomic<bool> outer_started{false};
    weft::Task<void> outer = weft::spawn([&] {
      outer_started = true;
      seen = inner.get();
      try {
        weft::yield_now();  // the pending cancellation is delivered here
      } catch (const weft::CancelledError&) {
        cancelled_later = true;
      }
    });
    while (!outer_started.load() || !inner_started.load()) weft::yield_now();
    while (inner.cancelling() == 0) {
      outer.cancel();
      weft::yield_now();
    }
    outer.get();
    CHECK(seen.load() == 5);
    CHECK(cancelled_later.load());
  });
}

TEST_CASE("yield_now lets other tasks run: a task that keeps yielding starves nobody") {
  in_runtimes(
      [] {
        std::atomic<bool> stop{false};
        weft::Task<long> spinner = weft::spawn([&] {
          long yields = 0;
          while (!stop.load()) {
            weft::yield_now();
            ++yields;
          }
          return yields;
        });
        // On one worker, this task only runs because the spinner yields.
        weft::Task<int> other = weft::spawn([] { return 1; });
        CHECK(other.get() == 1);
        stop = true;
        CHECK(spinner.get() >= 0);
      },
      {1, 2});
}

TEST_CASE("yields interleave round-robin on one worker") {
  in_runtimes(
      [] {
        std::vector<int> order;
        auto worker = [&](int id) {
          return weft::spawn([&order, id] {
            for (int i = 0; i < 3; ++i) {
              order.push_back(id);
              weft::yield_now();
            }
          });
        };
        weft::Task<void> a = worker(1);
        weft::Task<void> b = worker(2);
        a.get();
        b.get();
        REQUIRE(order.size() == 6);
        // Both interleave: neither runs all three steps before the other starts.
        CHECK(order[0] != order[1]);
      },
      {1});
}

TEST_CASE("names, ids, current_task and all_tasks") {
  in_runtimes([] {
    weft::TaskRef self = weft::current_task();
    REQUIRE(self);
    CHECK(self.name().rfind("Task-", 0) == 0);
    weft::Promise<void> gate;
    weft::Future<void> opened = gate.get_future();
    weft::Task<void> t = weft::spawn("worker-a", [&] { opened.get(); });
    CHECK(t.name() == "worker-a");
    t.set_name("renamed");
    CHECK(t.name() == "renamed");
    CHECK(t.id() != self.id());
    std::vector<weft::TaskRef> all = weft::all_tasks();
    bool found_self = false, found_t = false;
    for (auto& ref : all) {
      found_self |= ref == self;
      found_t |= ref.id() == t.id();
    }
    CHECK(found_self);
    CHECK(found_t);
    weft::Task<bool> inner = weft::spawn([] { return weft::current_task().name() == "me"; });
    gate.set_value();
    t.get();
    (void)inner.get();
    weft::Task<std::string> named = weft::spawn("me", [] { return weft::current_task().name(); });
    CHECK(named.get() == "me");
  });
}

TEST_CASE("add_done_callback runs once the task is done, or at once if it already is") {
  in_runtimes([] {
    std::atomic<int> calls{0};
    weft::Task<int> t = weft::spawn([] {
      weft::yield_now();
      return 1;
    });
    t.add_done_callback([&](weft::TaskRef ref) {
      CHECK(ref.done());
      ++calls;
    });
    t.wait();
    CHECK(calls.load() == 1);
    t.add_done_callback([&](weft::TaskRef) { ++calls; });
    CHECK(calls.load() == 2);
  });
}

TEST_CASE("a task whose exception is never retrieved is reported when destroyed") {
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    std::atomic<int> reports{0};
    std::string name;
    {
      weft::Runtime runtime(weft_test::config_with(workers));
      runtime.set_exception_handler([&](const weft::UnretrievedException& report) {
        name = report.task_name;
        try {
          std::rethrow_exception(report.error);
        } catch (const std::runtime_error& e) {
          CHECK(std::string(e.what()) == "lost");
        }
        ++reports;
      });
      {
        weft::Task<void> t = runtime.spawn("careless", [] { throw std::runtime_error("lost"); });
        t.wait();
      }  // handle dropped without looking at the exception
      {
        weft::Task<void> t = runtime.spawn([] { throw std::runtime_error("seen"); });
        CHECK_THROWS(t.get());
      }
      // The scheduler lets go of finished tasks lazily; by the end of shutdown it has.
      CHECK(runtime.shutdown());
    }
    CHECK(reports.load() == 1);
    CHECK(name == "careless");
  }
}

TEST_CASE("fiber-only calls outside a fiber throw std::logic_error") {
  CHECK_THROWS_AS(weft::yield_now(), std::logic_error);
  CHECK_THROWS_AS(weft::spawn([] {}), std::logic_error);
  CHECK_THROWS_AS((void)weft::all_tasks(), std::logic_error);
  CHECK_FALSE(weft::in_fiber());
  CHECK_FALSE(weft::current_task());
}

TEST_CASE("a task cannot await itself") {
  in_runtimes([] {
    weft::Task<void>* self_handle = nullptr;
    weft::Promise<void> ready;
    weft::Future<void> go = ready.get_future();
    weft::Task<void> t = weft::spawn([&] {
      go.get();
      CHECK_THROWS_AS(self_handle->wait(), weft::InvalidStateError);
    });
    self_handle = &t;
    ready.set_value();
    t.get();
  });
}
