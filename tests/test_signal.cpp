// Signals: add_signal_handler / remove_signal_handler, and weft::run's graceful shutdown on
// SIGINT/SIGTERM (checked in forked children, since it ends the process).
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/signal.hpp>

#include "eventually.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::eventually;
using weft_test::in_runtimes;
using weft_test::with_runtimes;

namespace {

// Sets a disposition for the test and puts back the one before. The tests set SIG_IGN first,
// so that a signal arriving while no weft handler is installed cannot kill the test binary.
class Disposition {
 public:
  Disposition(int sig, void (*handler)(int)) : sig_(sig) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    REQUIRE(sigaction(sig, &action, &saved_) == 0);
  }
  ~Disposition() { sigaction(sig_, &saved_, nullptr); }
  Disposition(const Disposition&) = delete;
  Disposition& operator=(const Disposition&) = delete;

 private:
  int sig_;
  struct sigaction saved_ {};
};

bool disposition_is(int sig, void (*handler)(int)) {
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  return current.sa_handler == handler;
}

// Sends sig to the process from a thread of its own until destroyed, one every `gap`. Paced:
// an unpaced kill() loop keeps a signal always pending, and a thread that gets them all (the
// kernel prefers the main thread) then never finishes a nanosleep.
class Pelter {
 public:
  explicit Pelter(int sig, std::chrono::microseconds gap = 20us)
      : thread_([this, sig, gap] {
          sigset_t only;
          sigemptyset(&only);
          sigaddset(&only, sig);
          pthread_sigmask(SIG_BLOCK, &only, nullptr);
          while (!stop_) {
            kill(getpid(), sig);
            ++sent_;
            std::this_thread::sleep_for(gap);
          }
        }) {}
  ~Pelter() {
    stop_ = true;
    thread_.join();
  }
  Pelter(const Pelter&) = delete;
  Pelter& operator=(const Pelter&) = delete;
  [[nodiscard]] long sent() const { return sent_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> sent_{0};
  std::thread thread_;
};

// in_runtimes, with this thread waiting in nanosleep rather than in a futex: the kernel prefers
// this (the main) thread for a process-directed signal, and a sanitizer runtime runs a handler at
// once only in a call it intercepts as blocking (nanosleep is one); in a raw futex wait it would
// defer the handler until the wait ends.
template <class Fn>
void in_runtimes_taking_signals(Fn&& fn,
                                std::initializer_list<unsigned> worker_counts = {1, 2, 4}) {
  with_runtimes(
      [&](weft::Runtime& runtime) {
        auto done = runtime.submit(fn);
        while (done.wait_for(0s) != std::future_status::ready) std::this_thread::sleep_for(1ms);
        done.get();
      },
      worker_counts);
}

std::atomic<int> c_handler_calls{0};
void count_c_handler(int) {
  ++c_handler_calls;
}

}  // namespace

TEST_CASE(
    "a SIGUSR1 handler runs as a task of its runtime for signals from threads and from fibers") {
  Disposition ignored(SIGUSR1, SIG_IGN);
  in_runtimes_taking_signals([] {
    std::atomic<int> calls{0};
    std::atomic<bool> was_fiber{true};
    std::atomic<bool> named{true};
    weft::add_signal_handler(SIGUSR1, [&] {
      was_fiber = was_fiber && weft::in_fiber();
      named = named && weft::current_task().name() == "signal handler SIGUSR1";
      weft::sleep(1ms);  // fiber-only: throws std::logic_error outside a fiber
      ++calls;
    });
    CHECK(!disposition_is(SIGUSR1, SIG_IGN));
    // From a plain thread, directed at the process.
    std::thread([] { kill(getpid(), SIGUSR1); }).join();
    CHECK(eventually([&] { return calls >= 1; }));
    // From this fiber, directed at this worker thread: the handler only writes to a pipe.
    const int before = calls;
    REQUIRE(raise(SIGUSR1) == 0);
    CHECK(eventually([&] { return calls > before; }));
    CHECK(was_fiber);
    CHECK(named);
    CHECK(weft::remove_signal_handler(SIGUSR1));
    CHECK(disposition_is(SIGUSR1, SIG_IGN));
  });
}

TEST_CASE("a handler registered through Runtime& from a plain thread runs in that runtime") {
  Disposition ignored(SIGUSR2, SIG_IGN);
  with_runtimes([](weft::Runtime& runtime) {
    // A parked task only this runtime has: the handler finds it among its runtime's tasks.
    weft::Task<void> marker = runtime.spawn("marker", [] { weft::sleep(std::chrono::hours(1)); });
    std::atomic<int> saw_marker{-1};
    weft::add_signal_handler(runtime, SIGUSR2, [&] {
      int found = 0;
      for (const weft::TaskRef& task : weft::all_tasks()) found += task.name() == "marker";
      saw_marker = found;
    });
    kill(getpid(), SIGUSR2);
    CHECK(eventually([&] { return saw_marker != -1; }));
    CHECK(saw_marker == 1);
    marker.cancel();
    // Not removed here: the runtime's shutdown must remove it.
  });
  CHECK(disposition_is(SIGUSR2, SIG_IGN));
  CHECK_FALSE(weft::remove_signal_handler(SIGUSR2));
}

TEST_CASE("registering replaces the handler and removing restores the disposition from before") {
  SUBCASE("SIG_IGN") {
    Disposition ignored(SIGUSR1, SIG_IGN);
    in_runtimes_taking_signals([] {
      std::atomic<int> first{0};
      std::atomic<int> second{0};
      weft::add_signal_handler(SIGUSR1, [&] { ++first; });
      weft::add_signal_handler(SIGUSR1, [&] { ++second; });
      kill(getpid(), SIGUSR1);
      CHECK(eventually([&] { return second == 1; }));
      CHECK(first == 0);
      CHECK(weft::remove_signal_handler(SIGUSR1));
      CHECK(disposition_is(SIGUSR1, SIG_IGN));
      CHECK_FALSE(weft::remove_signal_handler(SIGUSR1));
      // Ignored again: no handler runs.
      kill(getpid(), SIGUSR1);
      weft::sleep(20ms);
      CHECK(second == 1);
    });
  }
  SUBCASE("the program's own sigaction handler") {
    Disposition own(SIGUSR1, count_c_handler);
    in_runtimes_taking_signals([] {
      std::atomic<int> calls{0};
      const int c_calls = c_handler_calls;
      weft::add_signal_handler(SIGUSR1, [&] { ++calls; });
      kill(getpid(), SIGUSR1);
      CHECK(eventually([&] { return calls == 1; }));
      CHECK(c_handler_calls == c_calls);
      CHECK(weft::remove_signal_handler(SIGUSR1));
      CHECK(disposition_is(SIGUSR1, count_c_handler));
      const int before = c_handler_calls;
      kill(getpid(), SIGUSR1);
      CHECK(eventually([&] { return c_handler_calls == before + 1; }));
      CHECK(calls == 1);
    });
  }
}

TEST_CASE("signals that cannot be handled throw std::invalid_argument naming them") {
  in_runtimes(
      [] {
        auto noop = [] {};
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(SIGKILL, noop),
                             doctest::Contains("SIGKILL cannot be caught"), std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(SIGSTOP, noop),
                             doctest::Contains("SIGSTOP cannot be caught"), std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(SIGSEGV, noop), doctest::Contains("SIGSEGV"),
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(0, noop),
                             doctest::Contains("0 is not a signal number"), std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(-3, noop), doctest::Contains("-3"),
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(NSIG, noop),
                             doctest::Contains(std::to_string(NSIG).c_str()),
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(weft::add_signal_handler(SIGUSR1, {}), doctest::Contains("empty"),
                             std::invalid_argument);
        CHECK_THROWS_AS(weft::remove_signal_handler(1000), std::invalid_argument);
        CHECK_FALSE(weft::remove_signal_handler(SIGKILL));
        // Nothing was installed by the failed calls.
        CHECK(disposition_is(SIGUSR1, SIG_DFL));
      },
      {1});
  CHECK_THROWS_AS(weft::add_signal_handler(SIGUSR1, [] {}), std::logic_error);
  CHECK(disposition_is(SIGUSR1, SIG_DFL));
}

TEST_CASE("a flood of signals with registrations changing under it never hangs or crashes") {
  Disposition ignored1(SIGUSR1, SIG_IGN);
  Disposition ignored2(SIGUSR2, SIG_IGN);
  in_runtimes_taking_signals([] {
    std::atomic<int> calls1{0};
    std::atomic<int> calls2{0};
    weft::add_signal_handler(SIGUSR1, [&] { ++calls1; });
    weft::add_signal_handler(SIGUSR2, [&] { ++calls2; });
    const int n = static_cast<int>(weft_test::scaled(5'000));
    auto flood = [n] {
      for (int i = 0; i < n; ++i) kill(getpid(), i % 2 ? SIGUSR2 : SIGUSR1);
    };
    std::thread a(flood);
    std::thread b(flood);
    // And from fibers, at their own workers.
    std::vector<weft::Task<void>> raisers;
    raisers.reserve(4);
    for (int f = 0; f < 4; ++f)
      raisers.push_back(weft::spawn([n] {
        for (int i = 0; i < n / 10; ++i) {
          raise(SIGUSR1);
          if (i % 16 == 0) weft::yield_now();
        }
      }));
    for (auto& raiser : raisers) raiser.get();
    a.join();
    b.join();
    CHECK(eventually([&] { return calls1 >= 1 && calls2 >= 1; }));
    CHECK(calls1 <= n + 4 * (n / 10));  // coalesced, never duplicated
    // Once quiet (no handler call for 100 ms, so no straggler of the flood is still on its
    // way), a signal gets exactly one handler call.
    int settled = -1;
    while (settled != calls1.load()) {
      settled = calls1;
      weft::sleep(100ms);
    }
    kill(getpid(), SIGUSR1);
    CHECK(eventually([&] { return calls1 == settled + 1; }));

    // Handlers added and removed while signals keep coming: pipes are closed and made while
    // the signal handler may be writing.
    {
      Pelter pelter(SIGUSR1, 5us);
      for (int i = 0; i < static_cast<int>(weft_test::scaled(300)); ++i) {
        weft::add_signal_handler(SIGUSR1, [&] { ++calls1; });
        if (i % 3 == 0) weft::sleep(100us);
        CHECK(weft::remove_signal_handler(SIGUSR1));
        CHECK(weft::remove_signal_handler(SIGUSR2) == (i == 0));
      }
    }
    CHECK(disposition_is(SIGUSR1, SIG_IGN));
    CHECK(disposition_is(SIGUSR2, SIG_IGN));
  });
}

TEST_CASE(
    "signals arriving while the runtime shuts down are harmless and shutdown removes the "
    "handlers") {
  Disposition ignored(SIGUSR1, SIG_IGN);
  with_runtimes([](weft::Runtime& runtime) {
    std::atomic<int> calls{0};
    weft::add_signal_handler(runtime, SIGUSR1, [&] {
      ++calls;
      weft::sleep(5ms);  // some handlers are still running when shutdown cancels them
    });
    Pelter pelter(SIGUSR1);
    CHECK(eventually([&] { return calls > 0; }));
    CHECK(runtime.shutdown(10s));
    CHECK(disposition_is(SIGUSR1, SIG_IGN));
    CHECK(pelter.sent() > 0);
    CHECK_FALSE(weft::remove_signal_handler(SIGUSR1));
    // A stopped runtime takes no handler, and the failure leaves nothing installed.
    CHECK_THROWS_AS(weft::add_signal_handler(runtime, SIGUSR1, [] {}), weft::InvalidStateError);
    CHECK(disposition_is(SIGUSR1, SIG_IGN));
  });
}

TEST_CASE("two runtimes each run their own handlers and a signal can move from one to the other") {
  Disposition ignored1(SIGUSR1, SIG_IGN);
  Disposition ignored2(SIGUSR2, SIG_IGN);
  weft::Runtime a(weft_test::config_with(1));
  {
    weft::Runtime b(weft_test::config_with(2));
    std::atomic<int> a_calls{0};
    std::atomic<int> b_calls{0};
    std::atomic<int> wrong{0};
    weft::Task<void> a_marker = a.spawn("in a", [] { weft::sleep(std::chrono::hours(1)); });
    auto in = [](const char* name) {
      for (const weft::TaskRef& task : weft::all_tasks())
        if (task.name() == name) return true;
      return false;
    };
    // Counts a call in `right` if it ran in the runtime it should have, else in `wrong`.
    auto counter = [&](std::atomic<int>& right, bool in_a) {
      return [&, in_a] { ++(in("in a") == in_a ? right : wrong); };
    };
    weft::add_signal_handler(a, SIGUSR1, counter(a_calls, true));
    weft::add_signal_handler(b, SIGUSR2, counter(b_calls, false));
    auto wait_for = [](std::atomic<int>& count, int value) {
      return eventually([&] { return count >= value; });
    };
    kill(getpid(), SIGUSR1);
    CHECK(wait_for(a_calls, 1));
    kill(getpid(), SIGUSR2);
    CHECK(wait_for(b_calls, 1));
    // b takes SIGUSR1 over; a's reader then has nothing left and ends.
    weft::add_signal_handler(b, SIGUSR1, counter(b_calls, false));
    kill(getpid(), SIGUSR1);
    CHECK(wait_for(b_calls, 2));
    CHECK(a_calls == 1);
    CHECK(wrong == 0);
    a_marker.cancel();
    CHECK(a.shutdown(10s));
    // a going away does not touch what b handles.
    CHECK(!disposition_is(SIGUSR1, SIG_IGN));
    kill(getpid(), SIGUSR1);
    CHECK(wait_for(b_calls, 3));
    CHECK(b.shutdown(10s));
  }
  CHECK(disposition_is(SIGUSR1, SIG_IGN));
  CHECK(disposition_is(SIGUSR2, SIG_IGN));
}

TEST_CASE("weft::run installs SIGINT/SIGTERM handlers only while it runs and only over SIG_DFL") {
  // doctest has handlers of its own on both; a program starts with SIG_DFL.
  Disposition default_int(SIGINT, SIG_DFL);
  Disposition default_term(SIGTERM, SIG_DFL);
  weft::Config cfg = weft_test::config_with(2);
  CHECK(weft::run(cfg, [] { return !disposition_is(SIGINT, SIG_DFL); }));
  CHECK(disposition_is(SIGINT, SIG_DFL));
  CHECK(disposition_is(SIGTERM, SIG_DFL));
  {
    // An ignored signal stays ignored (a shell starts `cmd &` with SIGINT ignored).
    Disposition ignored(SIGINT, SIG_IGN);
    CHECK(weft::run(cfg, [] { return disposition_is(SIGINT, SIG_IGN); }));
    CHECK(disposition_is(SIGINT, SIG_IGN));
  }
  CHECK_FALSE(weft::run(cfg, weft::RunOptions{.handle_signals = false},
                        [] { return !disposition_is(SIGTERM, SIG_DFL); }));
}

namespace {

struct ChildResult {
  int status = 0;
  std::string text;
  std::chrono::milliseconds after_first_signal{0};
};

// Reads what the child wrote until `marker` shows up, EOF, or the deadline; true if seen.
bool read_until(int fd, std::string& text, const std::string& marker,
                std::chrono::steady_clock::time_point deadline) {
  char buffer[256];
  while (text.find(marker) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return text.find(marker) != std::string::npos;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// Forks (from this test thread, before any runtime exists in the child) a child that runs
// `child(write_fd)` and _exits with its result; waits until the child wrote "ready", sends it
// `signals` one by one (each after `between` shows up in its output, if given), and collects
// its output and wait status. A child still alive after 10 s is killed, and the test fails.
template <class Child>
ChildResult run_and_signal(Child child, const std::vector<int>& signals,
                           const std::string& between = {}) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);  // or the child's exit (which flushes) prints our buffered output again
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    // As a program starts: without doctest's crash handlers.
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    try {
      _exit(child(fds[1]));
    } catch (...) {
      _exit(99);  // never back into doctest in the child
    }
  }
  close(fds[1]);
  ChildResult result;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  CHECK(read_until(fds[0], result.text, "ready", deadline));
  const auto first = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < signals.size(); ++i) {
    if (i > 0 && !between.empty()) CHECK(read_until(fds[0], result.text, between, deadline));
    kill(pid, signals[i]);
  }
  read_until(fds[0], result.text, "\x04never", deadline);  // to EOF
  close(fds[0]);
  pid_t done = 0;
  while ((done = waitpid(pid, &result.status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  if (done == 0) {
    FAIL_CHECK("the child did not exit within 10 s; output: " << result.text);
    kill(pid, SIGKILL);
    waitpid(pid, &result.status, 0);
  }
  result.after_first_signal = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - first);
  return result;
}

void say(int fd, const char* text) {
  [[maybe_unused]] const ssize_t n = write(fd, text, std::char_traits<char>::length(text));
}

// The child of the graceful-shutdown tests: a main fiber that sleeps "forever", with cleanup in
// a destructor and in a catch block, and a second task whose cleanup runs too.
int sleeping_main(int fd, weft::RunOptions options) {
  struct Cleanup {
    int fd;
    ~Cleanup() { say(fd, "destructor ran\n"); }
  };
  weft::Config cfg;
  cfg.workers = 2;
  return weft::run(cfg, options, [fd] {
    weft::Task<void> helper = weft::spawn([fd] {
      Cleanup cleanup{fd};
      weft::sleep(std::chrono::hours(1));
    });
    Cleanup cleanup{fd};
    try {
      say(fd, "ready\n");
      weft::sleep(std::chrono::hours(1));
    } catch (const weft::CancelledError& error) {
      say(fd, (std::string("cleanup: ") + error.what() + "\n").c_str());
      weft::uncancellable([] { weft::sleep(50ms); });  // cleanup that waits
      say(fd, "cleanup done\n");
      throw;
    }
    return 0;
  });
}

}  // namespace

TEST_CASE(
    "on SIGTERM or SIGINT weft::run cancels main and cleanup runs and the process dies of the "
    "signal") {
  for (const int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    const ChildResult child =
        run_and_signal([](int fd) { return sleeping_main(fd, weft::RunOptions{}); }, {sig});
    CAPTURE(child.text);
    CHECK(child.text.find(sig == SIGTERM ? "cleanup: interrupted by SIGTERM"
                                         : "cleanup: interrupted by SIGINT") != std::string::npos);
    CHECK(child.text.find("cleanup done") != std::string::npos);
    // Main's destructor and the helper task's (cancelled by the shutdown).
    std::size_t destructors = 0;
    for (auto at = child.text.find("destructor ran"); at != std::string::npos;
         at = child.text.find("destructor ran", at + 1))
      ++destructors;
    CHECK(destructors == 2);
    REQUIRE(WIFSIGNALED(child.status));
    CHECK(WTERMSIG(child.status) == sig);
    CHECK(child.after_first_signal < 5s);
  }
}

TEST_CASE("with RunOptions{.handle_signals = false} SIGTERM kills at once without cleanup") {
  const ChildResult child = run_and_signal(
      [](int fd) { return sleeping_main(fd, weft::RunOptions{.handle_signals = false}); },
      {SIGTERM});
  CAPTURE(child.text);
  CHECK(child.text.find("cleanup") == std::string::npos);
  CHECK(child.text.find("destructor") == std::string::npos);
  REQUIRE(WIFSIGNALED(child.status));
  CHECK(WTERMSIG(child.status) == SIGTERM);
}

TEST_CASE("a second SIGINT during a cleanup that hangs kills the process at once") {
  const ChildResult child = run_and_signal(
      [](int fd) {
        weft::Config cfg;
        cfg.workers = 1;
        return weft::run(cfg, [fd] {
          try {
            say(fd, "ready\n");
            weft::sleep(std::chrono::hours(1));
          } catch (const weft::CancelledError&) {
            say(fd, "cleanup started\n");
            weft::uncancellable([] { weft::sleep(std::chrono::hours(1)); });
          }
          return 0;
        });
      },
      {SIGINT, SIGINT}, "cleanup started");
  CAPTURE(child.text);
  CHECK(child.text.find("cleanup started") != std::string::npos);
  REQUIRE(WIFSIGNALED(child.status));
  CHECK(WTERMSIG(child.status) == SIGINT);
  CHECK(child.after_first_signal < 5s);
}

TEST_CASE(
    "the program's own SIGTERM handler wins over weft::run's and an ignored SIGINT stays ignored") {
  const ChildResult child = run_and_signal(
      [](int fd) {
        signal(SIGINT, SIG_IGN);
        weft::Config cfg;
        cfg.workers = 2;
        return weft::run(cfg, [fd] {
          std::atomic<bool> asked{false};
          weft::add_signal_handler(SIGTERM, [&, fd] {
            say(fd, "own handler\n");
            asked = true;
          });
          say(fd, "ready\n");
          while (!asked) weft::sleep(1ms);
          return 7;  // a normal end: run() returns, the process exits with 7
        });
      },
      {SIGINT, SIGTERM});
  CAPTURE(child.text);
  CHECK(child.text.find("own handler") != std::string::npos);
  REQUIRE(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) == 7);
}

// The reader's end of a runtime's signal pipe closes only after the hub has retired: a signal
// that came in between would be written to a pipe with no reader, and SIGPIPE (left at its
// default here) would end the test process.
TEST_CASE("signals arriving while their runtime shuts down never meet a closed signal pipe") {
  Disposition ignored(SIGUSR1, SIG_IGN);
  Pelter pelter(SIGUSR1, 2us);
  for (int round = 0; round < static_cast<int>(weft_test::scaled(1'000)); ++round) {
    weft::Runtime runtime(weft_test::config_with(2));
    std::atomic<int> calls{0};
    weft::add_signal_handler(runtime, SIGUSR1, [&] { ++calls; });
    CHECK(runtime.shutdown(10s));
  }
  CHECK(disposition_is(SIGUSR1, SIG_IGN));
}
