#pragma once
// Watches one child process until it exits, reaps it (so it never stays a zombie) and records
// its exit status, whether or not anyone still holds its Process.
//
// With a pidfd (Linux 5.3+), a watcher task parks on the pidfd in the reactor and reaps with
// waitid(P_PIDFD). Without one (pidfd_open fails: an old kernel or a seccomp policy), a
// detached thread per child blocks in waitid, as Python's ThreadedChildWatcher does: a blocking
// pool job would hold one of a few pool threads for the child's whole life, and a long-lived
// child would then starve other jobs and hold up a runtime's shutdown. If the runtime shuts down
// (cancelling the watcher task) while the child runs, the watch moves to such a thread.
//
// The pid stays ours until we reap it, so reaping and signalling happen under one mutex: a
// signal never reaches a process that reused the pid.
#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>

#include "io/socket.hpp"
#include "sync/flag.hpp"

namespace weft::io {

class ChildWatch : public std::enable_shared_from_this<ChildWatch> {
 public:
  enum class Method { pidfd, thread };

  // Starts watching `pid`, a child of this process that nothing else reaps. `method` pidfd
  // falls back to a thread if pidfd_open fails. Fiber-only for pidfd. If no thread can be
  // started either, kills and reaps the child and throws.
  [[nodiscard]] static std::shared_ptr<ChildWatch> start(pid_t pid, Method method = Method::pidfd);

  explicit ChildWatch(pid_t pid) noexcept : pid_(pid) {}

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::optional<int> returncode() const;
  // Parks (blocks a plain thread) until the child is reaped; returns its status. Cancellable.
  int wait();
  // Does nothing once the child is reaped.
  void send_signal(int signal);
  // Which watch is active (for tests): true while a pidfd is held.
  [[nodiscard]] bool uses_pidfd() const;
  // The watcher task is gone (finished, cancelled, or never spawned): unless the child has been
  // reaped, a thread takes the watch over.
  void abandon() noexcept;

 private:
  void watch_pidfd();
  // running: not exited yet; done: reaped (now or before); unsupported: waitid cannot use the
  // pidfd (an old kernel). Takes mutex_.
  enum class Reap { running, done, unsupported };
  Reap try_reap();
  void start_thread();
  void reap_blocking();
  void finish_locked(int status) noexcept;

  const pid_t pid_;
  mutable std::mutex mutex_;  // guards returncode_ and pidfd_ (closed only when reaped or moved)
  std::optional<int> returncode_;
  Socket pidfd_;
  sync::Flag exited_;  // set once returncode_ is
};

}  // namespace weft::io
