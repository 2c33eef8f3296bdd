#include "io/signal_route.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

namespace weft::io {
namespace {

// Process-wide because dispositions are: a signal has one handler, whichever runtime asked.
// Indexed by signal number.
// Zero-initialised, so a signal can never find them unbuilt: routes hold fd + 1 (0: nowhere).
std::atomic<int> routes[NSIG];  // write end of the pipe for each signal
std::atomic<bool> pending[NSIG];
// Handlers between loading a route and finishing the write to it.
std::atomic<int> writing{0};

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "signal handlers may only use lock-free atomics");

void on_signal(int sig) {
  const int saved_errno = errno;  // the interrupted code may be about to read errno
  // seq_cst on writing and on routes (here and in unroute/quiesce) is Dekker's pattern: either
  // quiesce sees this handler counted, or this handler sees the route already gone.
  writing.fetch_add(1);
  const int fd = sig > 0 && sig < NSIG ? routes[sig].load() - 1 : -1;
  if (fd >= 0 && !pending[sig].exchange(true)) {
    const unsigned char byte = static_cast<unsigned char>(sig);
    // EAGAIN cannot happen (one byte per signal in flight); nothing else can be done here.
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);
  }
  writing.fetch_sub(1);
  errno = saved_errno;
}

}  // namespace

struct sigaction signal_action(bool one_shot) noexcept {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a signal must not make other threads' blocking calls fail with EINTR.
  action.sa_flags = SA_RESTART | (one_shot ? SA_RESETHAND : 0);
  return action;
}

void route_signal(int sig, int fd) noexcept {
  pending[sig].store(false);
  routes[sig].store(fd + 1);
}

void unroute_signal(int sig) noexcept {
  routes[sig].store(0);
}

void quiesce_signal_handlers() noexcept {
  // A handler writes one byte: this spins for microseconds at most. It cannot deadlock: a
  // handler that interrupted this very thread has returned before the loop resumes.
  while (writing.load() != 0) std::this_thread::yield();
}

void clear_pending_signal(int sig) noexcept {
  if (sig > 0 && sig < NSIG) pending[sig].store(false);
}

}  // namespace weft::io
