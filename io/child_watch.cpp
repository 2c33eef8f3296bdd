#include "io/child_watch.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>

#include <weft/errors.hpp>
#include <weft/task.hpp>

namespace weft::io {
namespace {

// Python's returncode for a child that something else reaped (SIGCHLD set to SIG_IGN, or a
// waitpid(-1) elsewhere in the process): its status is lost.
constexpr int kStatusLost = 255;

// The system calls themselves rather than glibc's wrappers: those need glibc 2.36, whose
// <sys/pidfd.h> also lacks extern "C". Without them (old kernel headers, or ENOSYS at run
// time) the thread watch takes over.
int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // close-on-exec
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int signal_pidfd(int pidfd, int signal) noexcept {
#ifdef SYS_pidfd_send_signal
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
#else
  (void)pidfd;
  (void)signal;
  errno = ENOSYS;
  return -1;
#endif
}

int status_of(const siginfo_t& info) noexcept {
  return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

int status_of_wait(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return kStatusLost;
}

// Owned by the watcher task's callable. Whenever that callable goes (the task finished, was
// cancelled before it ran, or could not be spawned) without the child reaped, a thread takes
// the watch over, so that no way out leaves a zombie.
class WatcherTicket {
 public:
  explicit WatcherTicket(std::shared_ptr<ChildWatch> watch) noexcept : watch_(std::move(watch)) {}
  WatcherTicket(WatcherTicket&&) noexcept = default;
  WatcherTicket& operator=(WatcherTicket&&) = delete;
  WatcherTicket(const WatcherTicket&) = delete;
  WatcherTicket& operator=(const WatcherTicket&) = delete;
  ~WatcherTicket() {
    if (watch_) watch_->abandon();
  }
  [[nodiscard]] ChildWatch& watch() const noexcept { return *watch_; }

 private:
  std::shared_ptr<ChildWatch> watch_;
};

}  // namespace

std::shared_ptr<ChildWatch> ChildWatch::start(pid_t pid, Method method) {
  auto watch = std::make_shared<ChildWatch>(pid);
  if (method == Method::pidfd) {
    // Opened after the spawn, but the pid cannot have been reused: an unreaped child keeps it.
    if (const int fd = open_pidfd(pid); fd >= 0) {
      bool watched = false;
      try {
        watch->pidfd_ = Socket(fd);  // closes fd if it throws
        watched = true;
      } catch (...) {
        // No reactor slot for it: the thread watch below.
      }
      if (watched) {
        WatcherTicket ticket(watch);
        // If spawning throws, the ticket has already handed the watch to a thread.
        try {
          (void)weft::spawn(
              TaskOptions{.name = "weft: child watcher (pid " + std::to_string(pid) + ")",
                          .fresh_context = true},  // keeps none of the spawner's values
              [ticket = std::move(ticket)] { ticket.watch().watch_pidfd(); });
        } catch (...) {
        }
        return watch;
      }
    }
  }
  try {
    watch->start_thread();
  } catch (...) {
    // Nothing could watch the child: end it now rather than leave a zombie behind.
    ::kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
  return watch;
}

std::optional<int> ChildWatch::returncode() const {
  std::lock_guard guard(mutex_);
  return returncode_;
}

bool ChildWatch::uses_pidfd() const {
  std::lock_guard guard(mutex_);
  return pidfd_.is_open();
}

int ChildWatch::wait() {
  exited_.wait(kNoDeadline, "waiting for a child process to exit");
  std::lock_guard guard(mutex_);
  return *returncode_;
}

void ChildWatch::send_signal(int signal) {
  std::lock_guard guard(mutex_);
  if (returncode_) return;
  // Under the mutex nobody reaps the child, so pid_ (and the pidfd) still name it.
  const int rc = pidfd_.is_open() ? signal_pidfd(pidfd_.fd(), signal) : ::kill(pid_, signal);
  if (rc != 0 && errno != ESRCH)
    throw_os_error(errno, "weft: sending signal " + std::to_string(signal) + " to process " +
                              std::to_string(pid_));
}

void ChildWatch::watch_pidfd() {
  // The pidfd turns readable when the child exits. A readiness edge that came before the first
  // wait registered the fd is reported at registration, so checking first loses nothing.
  // Unsupported (an old kernel): returning drops the watcher's ticket, which hands the watch
  // to a thread (abandon()).
  while (try_reap() == Reap::running)
    pidfd_.wait(kReadable, kNoDeadline, "waiting for a child process to exit");
}

ChildWatch::Reap ChildWatch::try_reap() {
  std::lock_guard guard(mutex_);
  if (returncode_) return Reap::done;
  siginfo_t info{};
  int rc;
  do {
    rc = waitid(P_PIDFD, static_cast<id_t>(pidfd_.fd()), &info, WEXITED | WNOHANG);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EAGAIN) return Reap::running;  // a non-blocking pidfd of a running child
    // Linux 5.3 has pidfd_open but not P_PIDFD (5.4): waitid says EINVAL, and a thread waits
    // by pid instead. Only ECHILD means that someone else reaped the child.
    if (errno != ECHILD) return Reap::unsupported;
    finish_locked(kStatusLost);
    return Reap::done;
  }
  if (info.si_pid == 0) return Reap::running;
  finish_locked(status_of(info));
  return Reap::done;
}

void ChildWatch::abandon() noexcept {
  {
    std::lock_guard guard(mutex_);
    if (returncode_) return;
    pidfd_.close();  // a thread cannot use the reactor, and the runtime may be going away
  }
  try {
    start_thread();
  } catch (...) {
    std::fprintf(stderr,
                 "weft: cannot start a thread to reap child process %d; it stays a zombie until "
                 "this process exits\n",
                 static_cast<int>(pid_));
  }
}

void ChildWatch::start_thread() {
  std::thread([self = shared_from_this()] { self->reap_blocking(); }).detach();
}

void ChildWatch::reap_blocking() {
  // WNOWAIT: the child stays a zombie, so its pid stays ours until it is reaped under the mutex
  // (where send_signal looks at it).
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  std::lock_guard guard(mutex_);
  if (returncode_) return;
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  finish_locked(got == pid_ ? status_of_wait(status) : kStatusLost);
}

void ChildWatch::finish_locked(int status) noexcept {
  returncode_ = status;
  pidfd_.close();
  exited_.set();
}

}  // namespace weft::io
