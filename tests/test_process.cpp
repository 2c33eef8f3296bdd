// Subprocesses: create_subprocess_exec / _shell, their pipes, exit status, signals, reaping
// (no zombies), fd hygiene and cancellation.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/process.hpp>

#include "eventually.hpp"
#include "io/child_watch.hpp"
#include "io/process_spawn.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

namespace {

weft::ProcessOptions piped() {
  return {.stdin_ = weft::Pipe, .stdout_ = weft::Pipe, .stderr_ = weft::Pipe};
}

// Without reaping it (WNOWAIT): 1 if `pid` is a child still running, 0 if it is an unreaped
// zombie, -1 if it is no child of ours any more (reaped).
int child_state(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    CHECK(errno == ECHILD);
    return -1;
  }
  return info.si_pid == 0 ? 1 : 0;
}

// Polls (sleeping the fiber, or the thread outside one) until `pid` has been reaped.
bool reaped_within(pid_t pid, std::chrono::milliseconds limit) {
  return weft_test::eventually([pid] { return child_state(pid) == -1; }, limit, 5ms);
}

}  // namespace

TEST_CASE("subprocess: echo through pipes: cat with stdin and stdout pipes") {
  in_runtimes([] {
    weft::Process cat =
        weft::create_subprocess_exec({"cat"}, {.stdin_ = weft::Pipe, .stdout_ = weft::Pipe});
    CHECK(cat.pid() > 0);
    CHECK_FALSE(cat.returncode().has_value());
    for (int i = 0; i < 20; ++i) {
      const std::string line = "line " + std::to_string(i) + "\n";
      cat.stdin_pipe().write(line);
      cat.stdin_pipe().drain();
      CHECK(cat.stdout_pipe().readline() == line);
    }
    cat.stdin_pipe().write("last, without newline");
    cat.stdin_pipe().write_eof();  // cat sees EOF and exits
    CHECK(cat.stdout_pipe().read() == "last, without newline");
    CHECK(cat.stdout_pipe().at_eof());
    CHECK(cat.wait() == 0);
    CHECK(cat.returncode() == 0);
    CHECK_THROWS_AS((void)cat.stderr_pipe(), weft::InvalidStateError);
  });
}

TEST_CASE("subprocess: communicate writes input, reads stdout and stderr at once, waits") {
  in_runtimes([] {
    weft::Process p = weft::create_subprocess_shell("cat; echo oops >&2; exit 4", piped());
    auto [out, err] = p.communicate("hello\nworld\n");
    CHECK(out == "hello\nworld\n");
    CHECK(err == "oops\n");
    CHECK(p.returncode() == 4);

    // Far more than a socket buffer in every direction at once: the child copies its stdin to
    // its stderr while we are still writing, then writes a lot to stdout. Nothing may block.
    std::string big(4u << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = '\n';
    weft::Process echo =
        weft::create_subprocess_shell("cat >&2; yes abc | head -c 3000000", piped());
    const weft::ProcessOutput both = echo.communicate(big);
    CHECK(both.err.size() == big.size());
    const bool err_intact = both.err == big;  // (not CHECK(a == b): doctest would print 4 MiB)
    CHECK(err_intact);
    CHECK(both.out.size() == 3000000);
    CHECK(both.out.substr(0, 8) == "abc\nabc\n");
    CHECK(echo.returncode() == 0);

    // A child that never reads its input: not an error.
    weft::Process quitter = weft::create_subprocess_shell("exit 0", piped());
    const weft::ProcessOutput none = quitter.communicate(big);
    CHECK(none.out.empty());
    CHECK(quitter.returncode() == 0);

    // Input needs a stdin pipe.
    weft::Process no_stdin = weft::create_subprocess_exec({"true"}, {.stdout_ = weft::Pipe});
    CHECK_THROWS_AS((void)no_stdin.communicate("x"), weft::InvalidStateError);
    CHECK(no_stdin.communicate().out.empty());
    CHECK(no_stdin.returncode() == 0);
  });
}

TEST_CASE("subprocess: stderr = Stdout merges stderr into the stdout pipe") {
  in_runtimes([] {
    weft::Process p = weft::create_subprocess_shell(
        "echo out; echo err >&2; echo out2", {.stdout_ = weft::Pipe, .stderr_ = weft::Stdout});
    CHECK_THROWS_AS((void)p.stderr_pipe(), weft::InvalidStateError);
    const weft::ProcessOutput output = p.communicate();
    CHECK(output.out == "out\nerr\nout2\n");
    CHECK(output.err.empty());
    CHECK(p.returncode() == 0);
    // Only stderr may go to stdout.
    CHECK_THROWS_AS((void)weft::create_subprocess_exec({"true"}, {.stdout_ = weft::Stdout}),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)weft::create_subprocess_exec({"true"}, {.stdin_ = weft::Stdout}),
                    std::invalid_argument);
  });
}

TEST_CASE("subprocess: DevNull: stdin reads EOF, output is discarded") {
  in_runtimes([] {
    weft::Process cat =
        weft::create_subprocess_exec({"cat"}, {.stdin_ = weft::DevNull, .stdout_ = weft::Pipe});
    CHECK(cat.communicate().out.empty());  // would hang if cat's stdin were not at EOF
    CHECK(cat.returncode() == 0);

    weft::Process quiet = weft::create_subprocess_shell(
        "echo visible; echo hidden >&2", {.stdout_ = weft::Pipe, .stderr_ = weft::DevNull});
    const weft::ProcessOutput output = quiet.communicate();
    CHECK(output.out == "visible\n");
    CHECK(output.err.empty());

    weft::Process silent =
        weft::create_subprocess_shell("echo gone; test -w /dev/stdout", {.stdout_ = weft::DevNull});
    CHECK_THROWS_AS((void)silent.stdout_pipe(), weft::InvalidStateError);
    CHECK(silent.wait() == 0);
  });
}

TEST_CASE("subprocess: Stdio::from_fd gives the child a copy of one of our fds") {
  in_runtimes([] {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    REQUIRE(write(fds[1], "from a pipe", 11) == 11);
    close(fds[1]);
    weft::Process cat = weft::create_subprocess_exec(
        {"cat"}, {.stdin_ = weft::Stdio::from_fd(fds[0]), .stdout_ = weft::Pipe});
    close(fds[0]);  // the child has its own copy
    CHECK(cat.communicate().out == "from a pipe");
    CHECK(cat.returncode() == 0);
    CHECK_THROWS_AS(
        (void)weft::create_subprocess_exec({"true"}, {.stdin_ = weft::Stdio::from_fd(-7)}),
        weft::OSError);
  });
}

TEST_CASE("subprocess: exit codes: wait() and returncode()") {
  in_runtimes([] {
    weft::Process three = weft::create_subprocess_exec({"sh", "-c", "exit 3"});
    CHECK(three.wait() == 3);
    CHECK(three.returncode() == 3);
    CHECK(three.wait() == 3);  // again: at once
    CHECK(weft::create_subprocess_exec({"true"}).wait() == 0);
    CHECK(weft::create_subprocess_exec({"false"}).wait() == 1);
    // The shell's "command not found".
    CHECK(weft::create_subprocess_shell("weft-no-such-command-4711 2>/dev/null").wait() == 127);

    // Running until its stdin closes: no returncode meanwhile.
    weft::Process cat = weft::create_subprocess_exec({"cat"}, {.stdin_ = weft::Pipe});
    weft::sleep(20ms);
    CHECK_FALSE(cat.returncode().has_value());
    cat.stdin_pipe().close();
    CHECK(cat.wait() == 0);
  });
}

TEST_CASE("subprocess: killed by a signal: the returncode is minus the signal number") {
  in_runtimes([] {
    weft::Process sleeper = weft::create_subprocess_exec({"sleep", "30"});
    sleeper.terminate();
    CHECK(sleeper.wait() == -SIGTERM);
    // Once reaped, signals do nothing (the pid may belong to someone else by now).
    sleeper.kill();
    sleeper.send_signal(SIGUSR1);
    CHECK(sleeper.returncode() == -SIGTERM);

    // The shell ignores SIGTERM, then execs sleep, which inherits that.
    weft::Process stubborn = weft::create_subprocess_shell(
        "trap '' TERM; echo ready; exec sleep 30", {.stdout_ = weft::Pipe});
    CHECK(stubborn.stdout_pipe().readline() == "ready\n");
    stubborn.terminate();
    weft::sleep(50ms);
    CHECK_FALSE(stubborn.returncode().has_value());
    stubborn.kill();
    CHECK(stubborn.wait() == -SIGKILL);

    weft::Process custom = weft::create_subprocess_exec({"sleep", "30"});
    custom.send_signal(SIGUSR1);
    CHECK(custom.wait() == -SIGUSR1);
    CHECK_THROWS_AS(weft::create_subprocess_exec({"true"}).send_signal(12345), weft::OSError);
  });
}

TEST_CASE("subprocess: 100 concurrent subprocesses, each output correct") {
  in_runtimes([] {
    const int n = 100;
    std::vector<weft::Task<std::string>> tasks;
    tasks.reserve(n);
    for (int i = 0; i < n; ++i)
      tasks.push_back(weft::spawn([i] {
        weft::Process p = weft::create_subprocess_exec(
            {"printf", "%s-%s", "child", std::to_string(i)}, {.stdout_ = weft::Pipe});
        std::string out = p.communicate().out;
        CHECK(p.returncode() == 0);
        return out;
      }));
    for (int i = 0; i < n; ++i)
      CHECK(tasks[static_cast<std::size_t>(i)].get() == "child-" + std::to_string(i));
  });
}

TEST_CASE("subprocess: killing a child mid-output: -SIGKILL, and the reader reaches EOF") {
  in_runtimes([] {
    weft::Process chatty =
        weft::create_subprocess_shell("while :; do echo line; done", {.stdout_ = weft::Pipe});
    for (int i = 0; i < 100; ++i) CHECK(chatty.stdout_pipe().readline() == "line\n");
    chatty.kill();
    CHECK(chatty.wait() == -SIGKILL);
    // Whatever was still buffered, then EOF: never a hang.
    weft::timeout(10s, [&] {
      const std::string rest = chatty.stdout_pipe().read();
      CHECK(rest.size() % 5 == 0);
    });
    CHECK(chatty.stdout_pipe().at_eof());
  });
}

TEST_CASE("subprocess: a missing executable raises FileNotFoundError naming it") {
  in_runtimes([] {
    try {
      (void)weft::create_subprocess_exec({"/nonexistent/weft-no-such-binary", "arg"});
      FAIL("no exception");
    } catch (const weft::FileNotFoundError& error) {
      CHECK(std::string(error.what()).find("/nonexistent/weft-no-such-binary") !=
            std::string::npos);
      CHECK(error.code().value() == ENOENT);
    }
    // Looked up in PATH.
    CHECK_THROWS_WITH_AS((void)weft::create_subprocess_exec({"weft-no-such-binary-4711"}),
                         doctest::Contains("weft-no-such-binary-4711"), weft::FileNotFoundError);
    // A file that is not executable.
    char path[] = "/tmp/weft-not-executable-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_THROWS_WITH_AS((void)weft::create_subprocess_exec({path}), doctest::Contains(path),
                         weft::PermissionError);
    unlink(path);
    // A missing working directory.
    CHECK_THROWS_WITH_AS(
        (void)weft::create_subprocess_exec({"true"}, {.cwd = "/nonexistent/weft-dir"}),
        doctest::Contains("/nonexistent/weft-dir"), weft::FileNotFoundError);
    CHECK_THROWS_AS((void)weft::create_subprocess_exec({}), std::invalid_argument);
  });
}

TEST_CASE("subprocess: cwd and env") {
  in_runtimes([] {
    weft::Process p =
        weft::create_subprocess_exec({"sh", "-c", "pwd; echo \"$WEFT_X\"; echo \"${HOME:-unset}\""},
                                     {.stdout_ = weft::Pipe,
                                      .cwd = "/tmp",
                                      .env = {{{"WEFT_X", "42"}, {"PATH", "/usr/bin:/bin"}}}});
    CHECK(p.communicate().out == "/tmp\n42\nunset\n");
  });
}

TEST_CASE("subprocess: no fd of ours leaks into the child, even one without close-on-exec") {
  in_runtimes([] {
    const int leaky = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
    REQUIRE(leaky >= 0);
    const int high = fcntl(leaky, F_DUPFD, 50);  // F_DUPFD: the copy is not close-on-exec either
    REQUIRE(high >= 50);
    // Pipes for all three, and a watcher's pidfd and other processes' sockets open meanwhile.
    weft::Process other = weft::create_subprocess_exec({"cat"}, piped());
    // `; :` keeps the shell from exec'ing ls, so ls lists the shell's fds, not its own.
    weft::Process lister = weft::create_subprocess_shell("ls /proc/$$/fd; :", piped());
    const weft::ProcessOutput output = lister.communicate();
    CHECK(output.out == "0\n1\n2\n");
    CHECK(output.err.empty());
    CHECK(lister.returncode() == 0);
    other.stdin_pipe().close();
    CHECK(other.wait() == 0);
    close(leaky);
    close(high);
  });
}

TEST_CASE("subprocess: no zombies: a waited child, and a dropped one, are reaped") {
  in_runtimes([] {
    weft::Process waited = weft::create_subprocess_exec({"true"});
    const pid_t pid = waited.pid();
    CHECK(waited.wait() == 0);
    CHECK(child_state(pid) == -1);
    errno = 0;
    CHECK(waitpid(pid, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);

    // Dropped while it runs: it goes on (as in Python) and is reaped when it exits.
    pid_t dropped;
    {
      // Long enough to be seen running on a loaded machine, short enough for the test.
      weft::Process p = weft::create_subprocess_exec({"sleep", "1"});
      dropped = p.pid();
    }
    CHECK(child_state(dropped) == 1);
    CHECK(reaped_within(dropped, 10s));

    // Dropped with its pipes: the child sees EOF on stdin, exits, and is reaped.
    pid_t cat_pid;
    {
      weft::Process cat = weft::create_subprocess_exec({"cat"}, piped());
      cat_pid = cat.pid();
      cat.stdin_pipe().write("unread");
    }
    CHECK(reaped_within(cat_pid, 2s));
  });
}

TEST_CASE("subprocess: a child still running when the runtime shuts down is reaped by a thread") {
  std::atomic<pid_t> pid{0};
  in_runtimes(
      [&] {
        weft::Process p = weft::create_subprocess_exec({"sleep", "0.2"});
        pid = p.pid();
      },
      {2});
  REQUIRE(pid.load() > 0);
  CHECK(reaped_within(pid.load(), 3s));
}

TEST_CASE("subprocess: wait() is cancellable and several fibers may wait at once") {
  in_runtimes([] {
    weft::Process cat = weft::create_subprocess_exec({"cat"}, {.stdin_ = weft::Pipe});
    weft::Task<int> first = weft::spawn([&] { return cat.wait(); });
    weft::Task<int> second = weft::spawn([&] { return cat.wait(); });
    weft::sleep(20ms);
    CHECK_FALSE(first.done());
    first.cancel();
    CHECK_THROWS_AS((void)first.get(), weft::CancelledError);
    // The child runs on, still watched; the other waiter still waits.
    CHECK(child_state(cat.pid()) == 1);
    CHECK_FALSE(second.done());
    CHECK_THROWS_AS(weft::timeout(30ms, [&] { (void)cat.wait(); }), weft::TimeoutError);
    CHECK_FALSE(cat.returncode().has_value());

    cat.stdin_pipe().close();
    CHECK(second.get() == 0);
    CHECK(cat.wait() == 0);
    CHECK(child_state(cat.pid()) == -1);
  });
}

TEST_CASE("subprocess: writing to a child that exited raises a connection error, never SIGPIPE") {
  in_runtimes([] {
    weft::Process p = weft::create_subprocess_exec({"true"}, {.stdin_ = weft::Pipe});
    CHECK(p.wait() == 0);
    const std::string chunk(std::size_t{64} * 1024, 'z');
    CHECK_THROWS_AS(
        [&] {
          for (int i = 0; i < 100; ++i) {
            p.stdin_pipe().write(chunk);
            p.stdin_pipe().drain();
          }
        }(),
        weft::ConnectionError);
  });
}

TEST_CASE("subprocess: create_subprocess_exec outside a fiber throws std::logic_error") {
  CHECK_THROWS_AS((void)weft::create_subprocess_exec({"true"}), std::logic_error);
  CHECK_THROWS_AS((void)weft::create_subprocess_shell("true"), std::logic_error);
  weft::Process empty;
  CHECK_THROWS_AS((void)empty.pid(), weft::InvalidStateError);
}

TEST_CASE("subprocess: the thread watch (no pidfd) reaps, reports status and signals") {
  in_runtimes([] {
    using weft::io::ChildWatch;
    weft::ProcessOptions options;
    const pid_t pid = weft::io::spawn_child({"sh", "-c", "exit 6"}, options).pid;
    auto watch = ChildWatch::start(pid, ChildWatch::Method::thread);
    CHECK_FALSE(watch->uses_pidfd());
    CHECK(watch->wait() == 6);
    CHECK(child_state(pid) == -1);

    const pid_t sleeper = weft::io::spawn_child({"sleep", "30"}, options).pid;
    auto killed = ChildWatch::start(sleeper, ChildWatch::Method::thread);
    CHECK_FALSE(killed->returncode().has_value());
    killed->send_signal(SIGKILL);
    CHECK(killed->wait() == -SIGKILL);
    killed->send_signal(SIGKILL);  // reaped: nothing happens

    // The default uses a pidfd on this kernel.
    const pid_t other = weft::io::spawn_child({"true"}, options).pid;
    auto pidfd_watch = ChildWatch::start(other);
    CHECK(pidfd_watch->wait() == 0);
    CHECK_FALSE(pidfd_watch->uses_pidfd());  // closed once reaped
  });
}
