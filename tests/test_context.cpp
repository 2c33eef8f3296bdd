// ContextVar (asyncio's contextvars) and FiberLocal: values per task, inherited by copy on
// spawn (ContextVar only), kept when the task moves between workers.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

namespace {
weft::ContextVar<int> request_id("request_id");
weft::ContextVar<std::string> user("user", "anonymous");
}  // namespace

TEST_CASE("ContextVar: get, the default, get(fallback) and a missing value") {
  in_runtimes([] {
    CHECK(user.get() == "anonymous");
    CHECK(request_id.get(-1) == -1);
    CHECK_THROWS_WITH_AS((void)request_id.get(), doctest::Contains("'request_id'"),
                         std::out_of_range);
    auto token = request_id.set(7);
    CHECK(request_id.get() == 7);
    CHECK(request_id.get(-1) == 7);
    CHECK_FALSE(token.had_value());
    request_id.reset(token);
    CHECK(request_id.get(-1) == -1);
  });
}

TEST_CASE("ContextVar: reset puts back the previous value and tokens are checked") {
  in_runtimes([] {
    auto first = user.set("ada");
    auto second = user.set("grace");
    CHECK(second.had_value());
    CHECK(user.get() == "grace");
    user.reset(second);
    CHECK(user.get() == "ada");
    CHECK_THROWS_AS(user.reset(second), std::logic_error);  // used already
    weft::ContextVar<std::string> other("other");
    CHECK_THROWS_WITH_AS(other.reset(first), doctest::Contains("another variable"),
                         std::invalid_argument);
    // A token made in one task cannot reset the variable in another.
    auto elsewhere = user.set("linus");
    CHECK_THROWS_WITH_AS(weft::spawn([&] { user.reset(elsewhere); }).get(),
                         doctest::Contains("another context"), std::invalid_argument);
    user.reset(elsewhere);
    user.reset(first);
    CHECK(user.get() == "anonymous");
  });
}

TEST_CASE("ContextVar: a spawned task starts with a copy of its spawner's values") {
  in_runtimes([] {
    auto token = request_id.set(1);
    weft::Event child_set;
    weft::Event parent_set;
    weft::Task<std::vector<int>> child = weft::spawn([&] {
      std::vector<int> seen{request_id.get()};  // the spawner's value at spawn time
      auto mine = request_id.set(2);            // not seen by the parent
      child_set.set();
      parent_set.wait();
      seen.push_back(request_id.get());  // still 2: the parent's later set is not seen
      // A grandchild copies the child's context.
      seen.push_back(weft::spawn([] { return request_id.get(); }).get());
      return seen;
    });
    child_set.wait();
    CHECK(request_id.get() == 1);
    auto later = request_id.set(3);
    parent_set.set();
    CHECK(child.get() == std::vector<int>{1, 2, 2});
    CHECK(request_id.get() == 3);
    request_id.reset(later);
    request_id.reset(token);
  });
}

TEST_CASE("ContextVar: spawn with fresh_context starts empty: TaskGroup children inherit") {
  in_runtimes([] {
    auto token = request_id.set(5);
    CHECK(weft::spawn({.fresh_context = true}, [] { return request_id.get(-1); }).get() == -1);
    CHECK(weft::spawn({.name = "named"}, [] { return request_id.get(-1); }).get() == 5);
    weft::TaskGroup group;
    weft::Task<int> child = group.spawn([] { return request_id.get(-1); });
    group.join();
    CHECK(child.get() == 5);
    request_id.reset(token);
  });
}

TEST_CASE("ContextVar: to_thread and run_cpu jobs see a copy of the submitter's values") {
  in_runtimes([] {
    auto token = request_id.set(11);
    CHECK(weft::to_thread([] { return request_id.get(-1); }).get() == 11);
    CHECK(weft::run_cpu([] { return request_id.get(-1); }).get() == 11);
    // A set inside the job stays in the job.
    CHECK(weft::to_thread([] {
            auto inner = request_id.set(12);
            return request_id.get();
          }).get() == 12);
    CHECK(request_id.get() == 11);
    request_id.reset(token);
  });
}

TEST_CASE("ContextVar: a plain thread has its own context, which Runtime::spawn copies") {
  weft::Runtime runtime(weft_test::config_with(2));
  std::thread([&] {
    auto token = request_id.set(99);
    CHECK(runtime.spawn([] { return request_id.get(-1); }).get() == 99);
    CHECK(runtime.submit([] { return request_id.get(-1); }).get() == 99);
    request_id.reset(token);
  }).join();
  CHECK(request_id.get(-1) == -1);  // this thread never set it
  CHECK(runtime.submit([] { return request_id.get(-1); }).get() == -1);
}

namespace {
// Counts its live instances.
struct Tracked {
  static inline std::atomic<int> alive{0};
  int value = 0;
  Tracked() { ++alive; }
  ~Tracked() { --alive; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
};
}  // namespace

TEST_CASE("FiberLocal: one value per task, never inherited, destroyed when the task ends") {
  static weft::FiberLocal<Tracked> local;
  in_runtimes([] {
    local->value = 1;
    const int before = Tracked::alive.load();  // this task's own value counts
    weft::Task<int> child = weft::spawn([] {
      const int seen = local->value;  // a fresh one, not the parent's
      local->value = 2;
      return seen;
    });
    CHECK(child.get() == 0);
    CHECK(local->value == 1);
    CHECK(Tracked::alive.load() == before);  // the child's value died with the child
    // Jobs have their own too.
    CHECK(weft::to_thread([] { return local->value; }).get() == 0);
    CHECK(Tracked::alive.load() == before);
  });
  CHECK(Tracked::alive.load() == 0);  // each test body's value died with its task
}

TEST_CASE("ContextVar and FiberLocal values stay with tasks that move between workers") {
  static weft::FiberLocal<int> local_id;
  weft::Runtime runtime(weft_test::config_with(4));
  // Few tasks for 4 workers, and some rounds block their worker thread for a moment: the
  // tasks queued behind it are stolen by idle workers, so tasks really change threads (a
  // steady load of yielding tasks would stay where it is).
  const int tasks = 16;
  const int rounds = static_cast<int>(weft_test::scaled(300));
  std::atomic<int> wrong{0};
  std::atomic<int> moves{0};
  runtime
      .submit([&] {
        std::vector<weft::Task<void>> all;
        for (int t = 0; t < tasks; ++t)
          all.push_back(weft::spawn([&, t] {
            auto token = request_id.set(t);
            *local_id = t;
            // gettid, not std::this_thread::get_id: pthread_self is declared const, so the
            // compiler may read it once for the whole loop, across fiber switches.
            long last = ::syscall(SYS_gettid);
            for (int r = 0; r < rounds; ++r) {
              if (r % 5 == 0)
                std::this_thread::sleep_for(100us);  // holds the worker: its queue is stolen
              else if (r % 5 == 1)
                weft::sleep(50us);
              else
                weft::yield_now();
              if (const long now = ::syscall(SYS_gettid); now != last) {
                ++moves;
                last = now;
              }
              if (request_id.get(-1) != t || *local_id != t) ++wrong;
            }
            request_id.reset(token);
          }));
        for (auto& task : all) task.get();
      })
      .get();
  CHECK(wrong.load() == 0);
  MESSAGE("tasks moved between worker threads " << moves.load() << " times");
  CHECK(moves.load() > 0);  // the test really exercised migration
}

namespace {
weft::FiberLocal<int> inner_local;
// A fiber-local whose destructor uses another fiber-local (as a thread_local's may).
struct UsesLocalOnExit {
  static inline std::atomic<int> destroyed{0};
  int value = 0;
  ~UsesLocalOnExit() {
    *inner_local += 1;
    ++destroyed;
  }
};
weft::FiberLocal<UsesLocalOnExit> outer_local;
}  // namespace

TEST_CASE("FiberLocal: a value whose destructor uses a FiberLocal, on a task and a thread") {
  const int before = UsesLocalOnExit::destroyed.load();
  in_runtimes([] {
    weft::spawn([] { outer_local->value = 1; }).get();
    weft::to_thread([] { outer_local->value = 2; }).get();
  });
  CHECK(UsesLocalOnExit::destroyed.load() == before + 2 * 3);  // per task and job, 3 runtimes
  std::thread([] { outer_local->value = 3; }).join();          // destroyed at thread exit
  CHECK(UsesLocalOnExit::destroyed.load() == before + 2 * 3 + 1);
}
