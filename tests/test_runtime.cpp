#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::with_runtimes;

TEST_CASE("Runtime validates a config filled in code") {
  weft::Config cfg;
  cfg.workers = 0;
  CHECK_THROWS_WITH_AS(weft::Runtime{cfg}, doctest::Contains("workers = 0"), weft::ConfigError);
  cfg.workers = 1;
  cfg.stack_size = 100;
  CHECK_THROWS_WITH_AS(weft::Runtime{cfg}, doctest::Contains("stack_size = 100"),
                       weft::ConfigError);
}

TEST_CASE("submit from many plain threads delivers every result") {
  with_runtimes([](weft::Runtime& runtime) {
    std::vector<std::thread> threads;
    std::atomic<long> sum{0};
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          std::future<int> f =
              runtime.submit([t, i] { return weft::spawn([=] { return t * 1000 + i; }).get(); });
          sum += f.get();
        }
      });
    for (auto& thread : threads) thread.join();
    long expected = 0;
    for (int t = 0; t < 4; ++t)
      for (int i = 0; i < 200; ++i) expected += t * 1000 + i;
    CHECK(sum.load() == expected);
  });
}

TEST_CASE("submit carries exceptions into the std::future") {
  with_runtimes([](weft::Runtime& runtime) {
    auto f = runtime.submit([]() -> int { throw std::domain_error("d"); });
    CHECK_THROWS_AS(f.get(), std::domain_error);
  });
}

TEST_CASE("call_soon_threadsafe runs the function in a fiber") {
  with_runtimes([](weft::Runtime& runtime) {
    std::promise<bool> ran;
    runtime.call_soon_threadsafe([&] { ran.set_value(weft::in_fiber()); });
    CHECK(ran.get_future().get());
  });
}

TEST_CASE("shutdown cancels parked and detached tasks and runs their cleanup") {
  std::atomic<int> cleaned{0};
  std::atomic<int> started{0};
  weft::Config cfg;
  cfg.workers = 2;
  weft::Runtime runtime(cfg);
  weft::Promise<void> never;
  weft::Future<void> forever = never.get_future();
  weft::Task<void> gate = runtime.spawn([&] { forever.get(); });
  for (int i = 0; i < 100; ++i) {
    (void)runtime.spawn([&] {  // detached
      struct Cleanup {
        std::atomic<int>& n;
        ~Cleanup() { ++n; }
      } cleanup{cleaned};
      ++started;
      gate.wait();
    });
  }
  while (started.load() != 100) std::this_thread::sleep_for(1ms);
  CHECK(runtime.shutdown(5s));
  CHECK(cleaned.load() == 100);
  CHECK(gate.cancelled());
  CHECK(runtime.stats().live_tasks == 0);
  CHECK(runtime.stats().live_fibers == 0);
  CHECK(runtime.shutdown());  // idempotent
  CHECK_THROWS_AS(runtime.spawn([] {}), weft::InvalidStateError);
}

TEST_CASE("shutdown keeps cancelling a task that swallows the first CancelledError") {
  weft::Config cfg;
  cfg.workers = 1;
  weft::Runtime runtime(cfg);
  std::atomic<int> swallowed{0};
  std::atomic<bool> started{false};
  weft::Task<void> stubborn = runtime.spawn([&] {
    started = true;
    for (;;) {
      try {
        weft::yield_now();
      } catch (const weft::CancelledError&) {
        if (++swallowed == 3) throw;
      }
    }
  });
  while (!started.load()) std::this_thread::sleep_for(1ms);
  CHECK(runtime.shutdown(5s));
  CHECK(swallowed.load() == 3);
  CHECK(stubborn.cancelled());
}

TEST_CASE("tasks spawned while the runtime shuts down are cancelled before they run") {
  weft::Config cfg;
  cfg.workers = 2;
  weft::Runtime runtime(cfg);
  std::atomic<int> bodies{0};
  std::atomic<bool> started{false};
  (void)runtime.spawn([&] {
    started = true;
    try {
      for (;;) weft::yield_now();
    } catch (const weft::CancelledError&) {
      for (int i = 0; i < 10; ++i) (void)weft::spawn([&] { ++bodies; });
      throw;
    }
  });
  while (!started.load()) std::this_thread::sleep_for(1ms);
  CHECK(runtime.shutdown(5s));
  CHECK(bodies.load() == 0);
}

TEST_CASE("two runtimes live side by side and a fiber of one spawns on the other") {
  weft::Runtime first(weft_test::config_with(2));
  weft::Runtime second(weft_test::config_with(1));
  int v = first
              .submit([&] {
                weft::Task<int> remote = second.spawn([] { return 5; });
                return remote.get() + weft::spawn([] { return 1; }).get();
              })
              .get();
  CHECK(v == 6);
  CHECK(first.shutdown());
  CHECK(second.shutdown());
}

namespace {

// Waits until the task named `name` shows as parked in the runtime's dump.
bool dump_shows_parked(weft::Runtime& runtime, const std::string& name) {
  return weft_test::eventually(
      [&] { return runtime.dump_tasks().find(name + " [parked]") != std::string::npos; });
}

}  // namespace

TEST_CASE("metrics count polls and steals, dump_tasks lists parked tasks") {
  weft::Runtime runtime(weft_test::config_with(2));
  runtime
      .submit([] {
        std::vector<weft::Task<int>> tasks;
        for (int i = 0; i < 2000; ++i)
          tasks.push_back(weft::spawn([i] {
            weft::yield_now();
            return i;
          }));
        for (auto& t : tasks) (void)t.get();
      })
      .get();
  std::uint64_t polls = 0;
  for (const weft::WorkerMetrics& m : runtime.metrics()) polls += m.polls;
  // Every task is switched to when it starts and, unless nothing else was left to run on its
  // worker when it yielded (then the yield goes on without a switch), once more after it.
  CHECK(polls > 2000);
  CHECK(runtime.metrics().size() == 2);

  weft::Promise<void> never;
  weft::Future<void> forever = never.get_future();
  weft::Task<void> waiting = runtime.spawn("sleepy", [&] { forever.get(); });
  REQUIRE(dump_shows_parked(runtime, "sleepy"));
  const std::string dump = runtime.dump_tasks();
  CHECK(dump.find("sleepy") != std::string::npos);
  CHECK(dump.find("waiting on awaiting a task or future") != std::string::npos);
  CHECK(runtime.shutdown());
}

// Not inlined, and not a tail call (the asm after the wait): its frame is on the stack while
// the task is parked, for the dump to name.
[[gnu::noinline]] void wait_in_a_named_frame(weft::Future<void>& gate) {
  gate.get();
  asm volatile("" ::: "memory");
}

TEST_CASE("current_runtime is the runtime of the calling fiber, nullptr elsewhere") {
  CHECK(weft::current_runtime() == nullptr);  // a plain thread
  weft::Runtime first(weft_test::config_with(1));
  weft::Runtime second(weft_test::config_with(2));
  CHECK(first.submit([] { return weft::current_runtime(); }).get() == &first);
  CHECK(second.submit([] { return weft::current_runtime(); }).get() == &second);
  // A task spawned from a fiber, and a blocking-pool job (not a fiber).
  CHECK(first.submit([] { return weft::spawn([] { return weft::current_runtime(); }).get(); })
            .get() == &first);
  CHECK(first.submit([] { return weft::to_thread([] { return weft::current_runtime(); }).get(); })
            .get() == nullptr);
  // Inside weft::run, where the program has no Runtime object of its own.
  const bool found = weft::run(weft_test::config_with(1), [] {
    weft::Runtime* runtime = weft::current_runtime();
    return runtime != nullptr && runtime->metrics().size() == 1;
  });
  CHECK(found);
  CHECK(first.shutdown());
  CHECK(second.shutdown());
}

TEST_CASE("in debug mode dump_tasks shows where each parked task parked") {
  weft::Config config = weft_test::config_with(2);
  config.debug = true;
  weft::Runtime runtime(config);
  weft::Promise<void> never;
  weft::Future<void> gate = never.get_future();
  weft::Task<void> waiting = runtime.spawn("traced", [&] { wait_in_a_named_frame(gate); });
  REQUIRE(dump_shows_parked(runtime, "traced"));
  const std::string dump = runtime.dump_tasks();
  CHECK(dump.find("traced [parked]") != std::string::npos);
#if defined(WEFT_TEST_HAVE_LIBBACKTRACE)
  // The frames: the wait inside weft, then the program's own function that called it.
  const auto wait_frame = dump.find("at weft::");
  const auto own_frame = dump.find("at wait_in_a_named_frame");
  CHECK(wait_frame != std::string::npos);
  CHECK(own_frame != std::string::npos);
  CHECK(wait_frame < own_frame);
#else
  // Without libbacktrace the names come from the dynamic symbol table (hidden here), but the
  // frames are there, one line each.
  CHECK(dump.find("\n      at ") != std::string::npos);
#endif
  never.set_value();
  waiting.get();
  CHECK(runtime.shutdown());
}

TEST_CASE("outside debug mode dump_tasks says how to get stack traces") {
  weft::Runtime runtime(weft_test::config_with(1));
  weft::Promise<void> never;
  weft::Future<void> gate = never.get_future();
  weft::Task<void> waiting = runtime.spawn("untraced", [&] { gate.get(); });
  REQUIRE(dump_shows_parked(runtime, "untraced"));
  const std::string dump = runtime.dump_tasks();
  CHECK(dump.find("untraced [parked]") != std::string::npos);
  CHECK(dump.find("Config::debug") != std::string::npos);
  never.set_value();
  waiting.get();
  CHECK(runtime.shutdown());
}

TEST_CASE("a yield switches to the other ready task, and with none it goes on without a switch") {
  weft::Runtime runtime(weft_test::config_with(1));
  const auto polls = [&runtime] { return runtime.metrics().front().polls; };
  runtime
      .submit([&polls] {
        // Alone on the worker: nothing to let go first.
        std::uint64_t before = polls();
        for (int i = 0; i < 100; ++i) weft::yield_now();
        CHECK(polls() == before);
        // With a partner that yields too, every yield hands over.
        std::atomic<bool> stop{false};
        weft::Task<int> partner = weft::spawn([&stop] {
          int turns = 0;
          while (!stop.load()) {
            weft::yield_now();
            ++turns;
          }
          return turns;
        });
        weft::yield_now();  // the partner starts
        before = polls();
        for (int i = 0; i < 100; ++i) weft::yield_now();
        stop = true;
        CHECK(polls() - before >= 200);  // 100 switches each way
        CHECK(partner.get() >= 100);
      })
      .get();
  CHECK(runtime.shutdown());
}

TEST_CASE("finished tasks spawned from outside are let go of while the runtime runs") {
  // Tasks spawned by a thread that is not a worker finish on some worker, which keeps them in a
  // batch for their shard; fewer than a batch must still be freed once that worker goes idle,
  // not only at shutdown.
  with_runtimes([](weft::Runtime& runtime) {
    const std::int64_t before = weft::sched::live_block_memory();
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i) {
      weft::Task<void> detached = runtime.spawn([&ran] { ran.fetch_add(1); });
    }
    CHECK(weft_test::eventually(
        [&] { return ran.load() == 10 && weft::sched::live_block_memory() == before; }));
  });
}

TEST_CASE("weft::run with Config::from_env honours WEFT_WORKERS") {
  setenv("WEFT_WORKERS", "3", 1);
  weft::Runtime runtime;  // default argument: Config::from_env()
  CHECK(runtime.config().workers == 3);
  CHECK(runtime.metrics().size() == 3);
  unsetenv("WEFT_WORKERS");
  CHECK(runtime.shutdown());
}
