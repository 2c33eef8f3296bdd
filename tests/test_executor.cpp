// The blocking pool: to_thread / run_in_executor, its thread limit, cancellation and shutdown.
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "executor_support.hpp"
#include "runtime/runtime_core.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::with_runtimes;

TEST_CASE("to_thread runs on a pool thread and returns values, void and exceptions") {
  in_runtimes([] {
    CHECK(weft::to_thread([] { return weft::in_fiber() ? 0 : 42; }).get() == 42);
    weft::to_thread([] { std::this_thread::sleep_for(1ms); }).get();
    CHECK_THROWS_WITH_AS(
        weft::to_thread([]() -> int { throw std::runtime_error("io failed"); }).get(), "io failed",
        std::runtime_error);
    CHECK(weft::run_in_executor(weft::blocking_executor, [] { return 7; }).get() == 7);
    // Many fibers awaiting jobs at once; no worker thread blocks meanwhile.
    std::vector<weft::Task<int>> jobs;
    for (int i = 0; i < 50; ++i)
      jobs.push_back(weft::to_thread([i] {
        std::this_thread::sleep_for(1ms);
        return i;
      }));
    int sum = 0;
    for (auto& job : jobs) sum += job.get();
    CHECK(sum == 49 * 50 / 2);
  });
}

TEST_CASE("with pinned workers, blocking-pool threads still run on every CPU of the process") {
  cpu_set_t process;
  CPU_ZERO(&process);
  REQUIRE(sched_getaffinity(0, sizeof process, &process) == 0);
  weft::Config config = weft_test::base_config();
  config.pin_workers = true;
  with_runtimes(
      [&](weft::Runtime& runtime) {
        const int pool_cpus = runtime
                                  .submit([] {
                                    return weft::to_thread([] {
                                             cpu_set_t mine;
                                             CPU_ZERO(&mine);
                                             sched_getaffinity(0, sizeof mine, &mine);
                                             return CPU_COUNT(&mine);
                                           })
                                        .get();
                                  })
                                  .get();
        // A worker is pinned to one core; the pool thread it started is not.
        CHECK(pool_cpus == CPU_COUNT(&process));
      },
      {1}, config);
}

TEST_CASE("10,000 to_thread calls with at most 8 threads: never more than 8 at once") {
  weft::Config config = weft_test::base_config();
  config.blocking_threads = 8;
  with_runtimes(
      [](weft::Runtime& runtime) {
        runtime
            .submit([] {
              std::atomic<int> inside{0};
              std::atomic<int> most{0};
              std::vector<weft::Task<int>> jobs;
              const int n = static_cast<int>(weft_test::scaled(10'000));
              jobs.reserve(static_cast<std::size_t>(n));
              for (int i = 0; i < n; ++i)
                jobs.push_back(weft::to_thread([&, i] {
                  const int now = ++inside;
                  int seen = most.load();
                  while (now > seen && !most.compare_exchange_weak(seen, now)) {
                  }
                  if (i % 100 == 0) std::this_thread::sleep_for(100us);
                  --inside;
                  return i;
                }));
              long long sum = 0;
              for (auto& job : jobs) sum += job.get();
              CHECK(sum == static_cast<long long>(n) * (n - 1) / 2);
              CHECK(most.load() <= 8);
              CHECK(most.load() >= 1);
            })
            .get();
      },
      {1, 2}, config);
}

TEST_CASE("cancelling a job that has not started drops it at once: it never runs") {
  weft::Config one_thread = weft_test::base_config();
  one_thread.blocking_threads = 1;
  weft_test::check_unstarted_job_is_dropped([](auto fn) { return weft::to_thread(std::move(fn)); },
                                            one_thread);
}

TEST_CASE("a running job sees this_job::cancelled: its awaiter gets CancelledError at once") {
  weft_test::check_running_job_sees_cancel([](auto fn) { return weft::to_thread(std::move(fn)); });
}

TEST_CASE("shutdown returns even if a blocking job is stuck") {
  weft_test::check_shutdown_with_stuck_job([](auto fn) { return weft::to_thread(std::move(fn)); });
}

TEST_CASE("to_thread outside a fiber is a logic_error") {
  CHECK_THROWS_AS((void)weft::to_thread([] {}), std::logic_error);
}

// Counts the job callables alive: one is made with each to_thread call and lives in its job
// until the job has run (or is dropped), so the count is the jobs the pool holds, read as one
// atomic (the runtime's live_blocks sums per-thread counters without a snapshot, and under
// TSan one sample overshot by 40).
class LiveJobTally {
 public:
  explicit LiveJobTally(std::atomic<std::int64_t>& live) noexcept : live_(&live) { ++*live_; }
  LiveJobTally(const LiveJobTally& other) noexcept : live_(other.live_) { ++*live_; }
  LiveJobTally& operator=(const LiveJobTally&) = delete;
  ~LiveJobTally() { --*live_; }

 private:
  std::atomic<std::int64_t>* live_;
};

TEST_CASE("a flood of to_thread calls parks the submitters: the queue and memory stay bounded") {
  weft::Runtime flooded([&] {
    weft::Config c = weft_test::config_with(2);
    c.blocking_threads = 4;
    c.blocking_queue_limit = 256;
    return c;
  }());
  const std::uint64_t total = weft_test::scaled(1'000'000);
  std::atomic<std::uint64_t> ran{0};
  std::atomic<std::int64_t> live_jobs{0};
  std::atomic<bool> done{false};
  std::size_t most_queued = 0;
  std::int64_t most_jobs = 0;
  // Samples the pool from a plain thread while the flood runs.
  std::thread monitor([&] {
    while (!done.load()) {
      most_queued = std::max(most_queued, flooded.core().blocking_pool().queued());
      most_jobs = std::max(most_jobs, live_jobs.load());
      std::this_thread::sleep_for(200us);
    }
  });
  flooded
      .submit([&] {
        std::vector<weft::Task<void>> submitters;
        for (int s = 0; s < 4; ++s)
          submitters.push_back(weft::spawn([&] {
            for (std::uint64_t i = 0; i < total / 4; ++i)
              (void)weft::to_thread([&ran, tally = LiveJobTally(live_jobs)] {
                ran.fetch_add(1, std::memory_order_relaxed);
              });
          }));
        for (auto& s : submitters) s.get();
      })
      .get();
  // A lost job fails the check below instead of hanging the test.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ran.load() < total / 4 * 4 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(1ms);
  done = true;
  monitor.join();
  MESSAGE("most jobs queued: " << most_queued << ", most jobs alive: " << most_jobs);
  CHECK(ran.load() == total / 4 * 4);  // none lost
  CHECK(most_queued <= 256);
  // The queued and running jobs, and one being submitted per submitter; a queue that grew with
  // the flood would show hundreds of thousands.
  CHECK(most_jobs <= 256 + 64);
}

namespace {
// Threads (all processes' tasks) that belong to `uid` now.
int threads_of_user(uid_t uid) {
  int count = 0;
  for (const auto& process : std::filesystem::directory_iterator("/proc")) {
    const std::string name = process.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st {};
    if (::stat(process.path().c_str(), &st) != 0 || st.st_uid != uid) continue;
    std::error_code ignored;
    for (auto it = std::filesystem::directory_iterator(process.path() / "task", ignored);
         it != std::filesystem::directory_iterator(); ++it)
      ++count;
  }
  return count;
}
}  // namespace

TEST_CASE("when no blocking thread can be started, that to_thread fails clearly: nothing else") {
  // A forked child gives up root (RLIMIT_NPROC does not bind root) and lowers its thread
  // limit so that the runtime's workers start but a blocking thread cannot (EAGAIN).
  if (::geteuid() != 0) {
    MESSAGE("not run: needs root to switch to an unprivileged user (CI runs as root)");
    return;
  }
  const auto [status, err] = weft_test::run_in_child([]() -> int {
    constexpr uid_t kNobody = 65534;
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) return 10;
    // The runtime starts first (its workers, and any thread a sanitizer adds), then the limit
    // drops to exactly the threads the user has now: no further thread can start.
    weft::Runtime runtime(weft_test::config_with(2));
    const rlim_t tight = static_cast<rlim_t>(threads_of_user(kNobody));
    rlimit limit{tight, tight + 16};
    if (::setrlimit(RLIMIT_NPROC, &limit) != 0) return 11;
    const int code = runtime
                         .submit([&]() -> int {
                           try {
                             weft::to_thread([] { return 1; }).get();
                             return 12;  // the thread was started after all
                           } catch (const weft::OSError& error) {
                             if (error.code().value() != EAGAIN) return 13;
                             if (std::string(error.what()).find("cannot start a pool thread") ==
                                 std::string::npos)
                               return 14;
                           }
                           // The runtime goes on: fibers still run.
                           if (weft::spawn([] { return 5; }).get() != 5) return 15;
                           // Two calls at once, both thread starts failing: each gets an answer
                           // (the error), neither job is left queued with no thread.
                           std::vector<weft::Task<int>> racing;
                           for (int i = 0; i < 2; ++i)
                             racing.push_back(weft::spawn([] {
                               try {
                                 return weft::to_thread([] { return 1; }).get();
                               } catch (const weft::OSError&) {
                                 return 0;
                               }
                             }));
                           for (auto& t : racing) {
                             try {
                               (void)weft::wait_for(std::chrono::seconds(5), t);
                             } catch (const weft::TimeoutError&) {
                               return 18;  // a stranded job
                             }
                           }
                           // With room again, the pool starts threads and runs jobs.
                           rlimit more{tight + 16, tight + 16};
                           if (::setrlimit(RLIMIT_NPROC, &more) != 0) return 16;
                           std::vector<weft::Task<int>> jobs;
                           for (int i = 0; i < 20; ++i)
                             jobs.push_back(weft::to_thread([i] { return i; }));
                           int sum = 0;
                           for (auto& job : jobs) sum += job.get();
                           return sum == 190 ? 0 : 17;
                         })
                         .get();
    return code;
  });
  INFO("child stderr: " << err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
