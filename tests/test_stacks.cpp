#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "eventually.hpp"
#include "runtime_fixture.hpp"
#include "sched/current.hpp"
#include "sched/fiber.hpp"
#include "sched/stack_pool.hpp"
#include "sched/stack_unmap_queue.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

using weft_test::scaled;
using weft_test::with_runtimes;

namespace {

using weft_test::run_in_child;

// A child that died: killed by a signal, or (sanitizer runtimes may turn abort() into an
// exit code) exited unsuccessfully.
bool died(int status) {
  return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

// Deep, non-tail recursion that the optimiser cannot turn into a loop.
volatile int recursion_limit = 1 << 30;
__attribute__((noinline)) int recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth > recursion_limit) return frame[0];
  return recurse(depth + 1) + frame[0];
}

std::size_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

// mincore fails with ENOMEM on a page that is not mapped.
bool mapped(const std::byte* address) {
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  auto* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(address) / page * page);
  unsigned char resident = 0;
  return mincore(start, page, &resident) == 0;
}

bool any_mapped(const weft::sched::Stack& stack) {
  return mapped(stack.base) || mapped(stack.bottom() + stack.size / 2) || mapped(stack.top() - 1);
}

// Lines of /proc/self/maps that overlap [low, high).
std::size_t maps_within(const std::byte* low, const std::byte* high) {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    const std::size_t dash = line.find('-');
    const auto start = std::stoull(line.substr(0, dash), nullptr, 16);
    const auto end = std::stoull(line.substr(dash + 1), nullptr, 16);
    if (start < reinterpret_cast<std::uintptr_t>(high) &&
        end > reinterpret_cast<std::uintptr_t>(low))
      ++n;
  }
  return n;
}

std::size_t map_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

}  // namespace

TEST_CASE("stacks are reused: sequential tasks do not map a stack each") {
  with_runtimes([](weft::Runtime& runtime) {
    runtime
        .submit([] {
          for (int i = 0; i < 2000; ++i) weft::spawn([] { return 1; }).get();
        })
        .get();
    const weft::RuntimeStats stats = runtime.stats();
    // The main fiber plus one child at a time per worker, kept in the caches.
    CHECK(stats.cached_fibers <= 2 * runtime.config().workers + 2);
  });
}

namespace {

weft::sched::Fiber* current_fiber() {
  return weft::sched::current_worker()->current_task()->fiber;
}

// One worker whose stacks have no guard page (as when the map budget is spent): only the
// canary watches them.
weft::Config unguarded_config() {
  weft::Config cfg;
  cfg.workers = 1;
  cfg.guard_markers = false;
  cfg.guarded_stacks = 0;
  cfg.stack_size = 64 * 1024;
  return cfg;
}

// Overwrites the lowest words of the current fiber's stack, as a deep overflow would, without
// running past the mapping.
void smash_canary() {
  std::byte* bottom = current_fiber()->stack().bottom();
  for (int i = 0; i < 64; ++i) bottom[i] = std::byte{0x55};
}

// Each link records its fiber, starts the next link and returns without waiting for it.
void chain_link(int left, std::vector<weft::sched::Fiber*>& fibers, weft::Event& done) {
  fibers.push_back(current_fiber());
  if (left == 0) {
    done.set();
    return;
  }
  (void)weft::spawn([left, &fibers, &done] { chain_link(left - 1, fibers, done); });
}

}  // namespace

TEST_CASE("a task that ends hands its fiber to the unstarted task that runs next") {
  weft::Runtime runtime(weft_test::config_with(1));
  runtime
      .submit([] {
        std::vector<weft::sched::Fiber*> fibers;
        weft::Event done;
        (void)weft::spawn([&] { chain_link(99, fibers, done); });
        done.wait();
        REQUIRE(fibers.size() == 100);
        // Without the hand-over, each link would switch to a fiber from the cache.
        CHECK(std::count(fibers.begin(), fibers.end(), fibers.front()) == 100);
      })
      .get();
}

TEST_CASE("a task cancelled before it ran is skipped when its fiber would be handed over") {
  weft::Runtime runtime(weft_test::config_with(1));
  runtime
      .submit([] {
        weft::sched::Fiber* first = nullptr;
        weft::sched::Fiber* last = nullptr;
        bool skipped_ran = false;
        weft::Event done;
        std::optional<weft::Task<void>> skipped;
        weft::Task<void> starter = weft::spawn([&] {
          first = current_fiber();
          (void)weft::spawn([&] {
            last = current_fiber();
            done.set();
          });
          // Spawned last, so it runs next (the LIFO slot) and has to be skipped.
          skipped = weft::spawn([&] { skipped_ran = true; });
          skipped->cancel();
        });
        done.wait();
        starter.get();
        CHECK_THROWS_AS(skipped->get(), weft::CancelledError);
        CHECK_FALSE(skipped_ran);
        CHECK(last == first);
      })
      .get();
}

TEST_CASE("mprotect'ed guard pages are given within the process budget, beyond it none") {
  weft::sched::StackPool pool(64 * 1024, weft::sched::StackPool::guarded_in_process() + 2,
                              weft::sched::GuardKind::protect);
  const std::size_t before = weft::sched::StackPool::guarded_in_process();
  weft::sched::Stack a = pool.allocate();
  weft::sched::Stack b = pool.allocate();
  weft::sched::Stack c = pool.allocate();
  CHECK(a.guarded);
  CHECK(b.guarded);
  CHECK_FALSE(c.guarded);
  CHECK(weft::sched::StackPool::guarded_in_process() == before + 2);
  CHECK(a.canary_intact());
  CHECK(c.canary_intact());
  c.bottom()[3] = std::byte{1};
  CHECK_FALSE(c.canary_intact());
  c.bottom()[3] = std::byte{0};
  CHECK(c.canary_intact());
  CHECK(a.in_guard(a.base));
  CHECK_FALSE(c.in_guard(c.base));
  pool.release(a);
  pool.release(b);
  pool.release(c);
  CHECK(weft::sched::StackPool::guarded_in_process() == before);
}

TEST_CASE("guard markers, where the kernel has them, guard every stack at no map cost") {
  const std::size_t guards_before = weft::sched::StackPool::guarded_in_process();
  weft::sched::StackPool pool(64 * 1024, 0);  // no budget for mprotect'ed guards
  std::vector<weft::sched::Stack> stacks;
  for (int i = 0; i < 256; ++i) stacks.push_back(pool.allocate());
  const auto [low, high] = std::ranges::minmax_element(
      stacks, [](const auto& a, const auto& b) { return a.base < b.base; });
  const std::size_t maps = maps_within(low->base, high->top());
  if (weft::sched::StackPool::guard_markers_available()) {
    for (const auto& stack : stacks) {
      CHECK(stack.guarded);
      CHECK_FALSE(stack.guard_splits_map);
    }
    // 16 mappings of 16 stacks, fewer once the kernel merged them, and whatever else the
    // process mapped in between (a thread's stack); mprotect'ed guards alone would be 512.
    CHECK(maps <= 64);
    // A write to the guard page faults.
    auto [status, text] = run_in_child([&] {
      std::signal(SIGSEGV, SIG_DFL);  // die quietly, without doctest's crash report
      stacks[7].base[100] = std::byte{1};
    });
    CHECK(died(status));
  } else {
    MESSAGE("this kernel has no guard markers (MADV_GUARD_INSTALL, Linux 6.13+)");
    for (const auto& stack : stacks) CHECK_FALSE(stack.guarded);  // no budget: canaries
  }
  CHECK(weft::sched::StackPool::guarded_in_process() == guards_before);
  weft::sched::StackPool::release(stacks);
}

TEST_CASE("a pool hands out neighbouring stacks and a batch goes back whole, in any order") {
  for (const bool guarded : {false, true}) {
    CAPTURE(guarded);
    const std::size_t guards_before = weft::sched::StackPool::guarded_in_process();
    std::vector<weft::sched::Stack> stacks;
    std::byte* lowest_spare = nullptr;
    {
      weft::sched::StackPool pool(64 * 1024, guarded ? guards_before + 8 : 0,
                                  weft::sched::GuardKind::protect);
      for (int i = 0; i < 8; ++i) stacks.push_back(pool.allocate());
      for (std::size_t i = 0; i + 1 < stacks.size(); ++i) {
        CHECK(stacks[i].guarded == guarded);
        // One mapping holds several stacks; the next one handed out lies just below.
        CHECK(stacks[i + 1].top() == stacks[i].base);
      }
      for (auto& stack : stacks) stack.top()[-1] = std::byte{1};  // touched, as a fiber would
      lowest_spare = stacks.back().base - stacks.back().size;
      CHECK(mapped(lowest_spare));  // never handed out, still the pool's
      std::ranges::shuffle(stacks, std::mt19937(7));
      weft::sched::StackPool::release(stacks);
      for (const auto& stack : stacks) CHECK_FALSE(any_mapped(stack));
      CHECK(weft::sched::StackPool::guarded_in_process() == guards_before);
    }
    CHECK_FALSE(mapped(lowest_spare));  // the pool unmaps what it never handed out
  }
}

TEST_CASE("stacks queued for unmapping from many threads are all unmapped") {
  constexpr int kThreads = 4;
  const std::size_t per_thread = scaled(2000);
  const std::size_t guards_before = weft::sched::StackPool::guarded_in_process();
  const std::size_t stacks_before = weft::sched::StackPool::stacks_in_process();
  std::vector<std::vector<weft::sched::Stack>> shares(kThreads);
  std::vector<std::unique_ptr<weft::sched::StackPool>> pools;
  for (int t = 0; t < kThreads; ++t) {
    pools.push_back(std::make_unique<weft::sched::StackPool>(16 * 1024, guards_before + 100));
    for (std::size_t i = 0; i < per_thread; ++i) shares[t].push_back(pools.back()->allocate());
  }
  {
    weft::sched::StackUnmapQueue queue;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&queue, &share = shares[t], t] {
        std::mt19937 random(static_cast<unsigned>(t));
        std::span<weft::sched::Stack> rest(share);
        while (!rest.empty()) {
          const std::size_t n = std::min<std::size_t>(rest.size(), 1 + random() % 64);
          queue.push(rest.first(n));
          rest = rest.subspan(n);
          if (random() % 16 == 0) queue.flush();
        }
      });
    for (auto& thread : threads) thread.join();
    queue.flush();  // hands the rest to the queue's thread
    // Each stack unmapped once: none left, none counted twice. (Not checked by address: the
    // queue's own thread stack may be mapped where stacks were.)
    CHECK(weft_test::eventually([&] {
      return queue.empty() && weft::sched::StackPool::stacks_in_process() == stacks_before;
    }));
  }
  CHECK(weft::sched::StackPool::guarded_in_process() == guards_before);
}

TEST_CASE("after a burst, stacks beyond the fiber cache are unmapped once the workers idle") {
  weft::Config config = weft_test::base_config();
  config.stack_cache = 16;
  with_runtimes(
      [&](weft::Runtime& runtime) {
        const std::size_t tasks = scaled(5000);
        const std::size_t stacks_before = weft::sched::StackPool::stacks_in_process();
        runtime
            .submit([&] {
              weft::Promise<void> release;
              weft::Future<void> released = release.get_future();
              weft::Task<void> gate = weft::spawn([&] { released.get(); });
              std::vector<weft::Task<void>> all;
              for (std::size_t i = 0; i < tasks; ++i)
                all.push_back(weft::spawn([&] { gate.wait(); }));
              weft::sleep(std::chrono::milliseconds(20));
              release.set_value();
              for (auto& task : all) task.get();
              gate.get();
            })
            .get();
        // Only the fibers still there (cached ones, and any still running) keep a stack; the
        // stacks of the others must be unmapped, the last batch too, without waiting for
        // another burst.
        std::size_t mapped_now = 0;
        std::size_t fibers = 0;
        const auto settled = [&] {
          const weft::RuntimeStats stats = runtime.stats();
          fibers = stats.live_fibers + stats.cached_fibers;
          mapped_now = weft::sched::StackPool::stacks_in_process() - stacks_before;
          return mapped_now == fibers;
        };
        CHECK(weft_test::eventually(settled));
        MESSAGE("stacks still mapped: ", mapped_now, ", fibers: ", fibers);
      },
      {2}, config);
}

TEST_CASE("a stack overflow into the guard page names the task (debug mode)") {
  auto [status, text] = run_in_child([] {
    weft::Config cfg;
    cfg.workers = 1;
    cfg.debug = true;
    cfg.stack_size = 64 * 1024;
    weft::run(cfg, [] { return weft::spawn("deep-recursion", [] { return recurse(0); }).get(); });
  });
  CHECK(died(status));
  CHECK(text.find("stack overflow in task 'deep-recursion'") != std::string::npos);
}

TEST_CASE("an overflow of an unguarded stack is caught by its canary and names the task") {
  auto [status, text] = run_in_child([] {
    weft::run(unguarded_config(), [] {
      return weft::spawn("smasher",
                         [] {
                           smash_canary();
                           return 0;
                         })
          .get();
    });
  });
  CHECK(died(status));
  CHECK(text.find("task 'smasher' overflowed") != std::string::npos);
}

TEST_CASE("a canary overflow is caught when the next task takes over the fiber too") {
  auto [status, text] = run_in_child([] {
    weft::run(unguarded_config(), [] {
      weft::Event done;
      (void)weft::spawn("smasher", [&done] {
        smash_canary();
        // Runs next, on this fiber if nothing checks the canary first.
        (void)weft::spawn([&done] { done.set(); });
      });
      done.wait();
      return 0;
    });
  });
  CHECK(died(status));
  CHECK(text.find("task 'smasher' overflowed") != std::string::npos);
}

TEST_CASE("100,000 parked fibers fit the stock map budget and cost little memory each") {
  const std::size_t tasks = scaled(100'000);
  with_runtimes(
      [&](weft::Runtime& runtime) {
        runtime
            .submit([&] {
              weft::Promise<void> release;
              weft::Future<void> released = release.get_future();
              std::atomic<std::size_t> parked{0};
              const std::size_t rss_before = resident_kib();
              std::vector<weft::Task<void>> all;
              all.reserve(tasks);
              // A Future has one consumer, so each task waits on the shared gate through a task.
              weft::Task<void> gate = weft::spawn([&] { released.get(); });
              for (std::size_t i = 0; i < tasks; ++i)
                all.push_back(weft::spawn([&] {
                  ++parked;
                  gate.wait();
                }));
              while (parked.load() < tasks) weft::yield_now();
              const std::size_t rss_kib = resident_kib() - rss_before;
              CHECK(map_count() < 65'530);
              MESSAGE("parked fibers: ", tasks, ", RSS growth: ", rss_kib,
                      " KiB, per fiber: ", double(rss_kib) / tasks, " KiB");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
              CHECK(double(rss_kib) / tasks <= 8.0);
#endif
              release.set_value();
              for (auto& t : all) t.get();
              gate.get();
            })
            .get();
      },
      {2});
}

TEST_CASE("debug mode warns about a task that runs too long without suspending") {
  auto [status, text] = run_in_child([] {
    weft::Config cfg;
    cfg.workers = 1;
    cfg.debug = true;
    cfg.slow_callback_ms = 5;
    weft::run(cfg, [] {
      weft::spawn("hog", [] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
        while (std::chrono::steady_clock::now() < until) {
        }
      }).get();
      return 0;
    });
  });
  CHECK(WIFEXITED(status));
  CHECK(text.find("task 'hog' ran") != std::string::npos);
  CHECK(text.find("without suspending") != std::string::npos);
}

TEST_CASE("when no stack can be mapped, tasks wait for one instead of crashing or getting lost") {
  auto [status, text] = run_in_child([] {
    std::size_t vm_kib = 0;
    {
      std::ifstream proc("/proc/self/status");
      for (std::string line; std::getline(proc, line);)
        if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stoul(line.substr(7));
    }
    // Room for the runtime's threads and about a dozen 64 MiB stacks, not for 40.
    const rlim_t limit = (vm_kib + 1024 * 1024) * 1024;
    const struct rlimit as_limit { limit, limit };
    setrlimit(RLIMIT_AS, &as_limit);
    weft::Config cfg;
    cfg.workers = 2;
    cfg.stack_size = std::size_t{64} << 20;
    const int done = weft::run(cfg, [] {
      // Each task waits on its own promise: opening them needs no stack, so the tasks that
      // got one can finish and hand their stacks to those still waiting for one.
      std::vector<weft::Promise<void>> gates(40);
      std::vector<weft::Future<void>> opened;
      for (auto& gate : gates) opened.push_back(gate.get_future());
      std::atomic<int> parked{0};
      std::vector<weft::Task<int>> tasks;
      for (int i = 0; i < 40; ++i)
        tasks.push_back(weft::spawn([&, i] {
          ++parked;
          opened[i].get();
          return 1;
        }));
      // Only about a dozen can get a stack: give them time to try, so some must wait.
      const auto until = weft::now() + std::chrono::milliseconds(500);
      while (parked.load() < 20 && weft::now() < until) weft::sleep(std::chrono::milliseconds(1));
      for (auto& gate : gates) gate.set_value();
      int sum = 0;
      for (auto& t : tasks) sum += t.get();
      return sum;
    });
    _exit(done == 40 ? 0 : 3);
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("cannot start a task") != std::string::npos);
}
