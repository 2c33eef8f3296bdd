#pragma once
// Subprocesses (asyncio.create_subprocess_exec / create_subprocess_shell). A child's standard
// streams are inherited, /dev/null, another fd, or a pipe to this process that is read and
// written through the usual StreamReader / StreamWriter. Every call that waits parks the calling
// fiber, never the worker thread, and is cancellable. See docs/processes.md.
//
// The child's pipe ends are Unix stream sockets (socketpair), not pipe(2) fds: a child sees a
// socket on fd 0, 1 or 2 where it asked for a pipe. Reading, writing, EOF and SIGPIPE behave as
// with a pipe; only programs that fstat() their stdio can tell the difference.
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/errors.hpp"
#include "weft/export.hpp"
#include "weft/net.hpp"

namespace weft {

namespace detail {
struct ProcessState;
}  // namespace detail

// Where a child's stdin, stdout or stderr goes: one of the constants below, or an fd of this
// process (`Stdio::from_fd(fd)`, which the child gets a copy of; the caller keeps it).
class Stdio {
 public:
  enum class Kind : unsigned char { inherit, pipe, devnull, to_stdout, fd };
  constexpr Stdio() = default;
  constexpr explicit Stdio(Kind kind) : kind_(kind) {}
  [[nodiscard]] static constexpr Stdio from_fd(int fd) {
    Stdio target(Kind::fd);
    target.fd_ = fd;
    return target;
  }
  [[nodiscard]] constexpr Kind kind() const noexcept { return kind_; }
  [[nodiscard]] constexpr int fd() const noexcept { return fd_; }

 private:
  Kind kind_ = Kind::inherit;
  int fd_ = -1;
};

// asyncio's subprocess.PIPE, DEVNULL and STDOUT, and "None" (inherit this process's stream).
inline constexpr Stdio Inherit{Stdio::Kind::inherit};
inline constexpr Stdio Pipe{Stdio::Kind::pipe};
inline constexpr Stdio DevNull{Stdio::Kind::devnull};
// For stderr_ only: the child's stderr goes wherever its stdout goes.
inline constexpr Stdio Stdout{Stdio::Kind::to_stdout};

struct ProcessOptions {
  Stdio stdin_ = Inherit;
  Stdio stdout_ = Inherit;
  Stdio stderr_ = Inherit;
  // The child's working directory; empty: this process's.
  std::string cwd{};
  // The child's whole environment; nullopt: this process's. (The executable is still looked up
  // in this process's PATH.)
  std::optional<std::map<std::string, std::string>> env{};
  // The StreamReader limit of the stdout and stderr pipes.
  std::size_t limit = kDefaultStreamLimit;
};

// communicate()'s result, for structured bindings: auto [out, err] = process.communicate();
struct ProcessOutput {
  std::string out;
  std::string err;
};

// A running (or finished) child (asyncio.subprocess.Process). Move-only.
//
// Destroying a Process closes this side of its pipes and leaves the child running, as Python
// does; the child is still reaped in the background when it exits, so it never stays a zombie.
// If the runtime shuts down first, a detached thread waits for the child and reaps it.
class WEFT_API Process {
 public:
  Process() = default;
  explicit Process(std::shared_ptr<detail::ProcessState> state) : state_(std::move(state)) {}
  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  [[nodiscard]] int pid() const;
  // The exit status once the child has exited and been reaped: its exit code, or -N if signal N
  // killed it. std::nullopt while it runs.
  [[nodiscard]] std::optional<int> returncode() const;

  // Parks until the child exits and returns returncode(). Any number of fibers may wait at once;
  // cancelling one leaves the child running and still watched. With stdout_ = Pipe, a child that
  // writes more than a socket buffer holds blocks until someone reads: use communicate().
  int wait();

  // Writes `input` to stdin (which must then be a Pipe) and closes it, reads stdout and stderr
  // (those that are Pipes) until EOF, both at once so that neither can fill up and block the
  // child, then waits for the child. A child that exits without reading its input is not an
  // error. If the caller is cancelled, the readers stop and the child keeps running.
  [[nodiscard]] ProcessOutput communicate(std::string_view input = {});

  // Signals the child (pidfd_send_signal, so never another process that reused the pid). Does
  // nothing once the child has been reaped (as subprocess.Popen).
  void send_signal(int signal);
  void terminate();  // SIGTERM
  void kill();       // SIGKILL

  // The pipes; InvalidStateError if that stream is not a Pipe.
  [[nodiscard]] StreamWriter& stdin_pipe();
  [[nodiscard]] StreamReader& stdout_pipe();
  [[nodiscard]] StreamReader& stderr_pipe();

 private:
  [[nodiscard]] detail::ProcessState& state() const;
  std::shared_ptr<detail::ProcessState> state_;
};

// Runs argv[0] (looked up in PATH unless it contains a '/') with arguments argv, by posix_spawn.
// Fiber-only (std::logic_error outside one). A missing executable throws FileNotFoundError, one
// that may not be run PermissionError, both naming the path. No fd of this process leaks into
// the child except the ones `options` gives it as stdin, stdout and stderr.
[[nodiscard]] WEFT_API Process create_subprocess_exec(const std::vector<std::string>& argv,
                                                      const ProcessOptions& options = {});
// Runs `command` with /bin/sh -c.
[[nodiscard]] WEFT_API Process create_subprocess_shell(std::string_view command,
                                                       const ProcessOptions& options = {});

}  // namespace weft
