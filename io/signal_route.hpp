#pragma once
// The part of signal handling that runs in signal context: weft's sigaction handler, and where
// it writes each signal's number (the write end of the pipe of the runtime that handles it, as
// Python's signal.set_wakeup_fd). Everything here is async-signal-safe and lock-free; the rest
// (which handler, which runtime) lives in the signal registry, behind a mutex.
#include <signal.h>

namespace weft::io {

// The sigaction weft installs for a handled signal. one_shot: the kernel resets the
// disposition to SIG_DFL on delivery (SA_RESETHAND), so a second signal acts at once.
[[nodiscard]] struct sigaction signal_action(bool one_shot) noexcept;

// From now on a delivery of sig writes its number to fd (the write end of a non-blocking
// pipe); forgets a delivery still pending from an earlier route.
void route_signal(int sig, int fd) noexcept;
// From now on a delivery of sig writes nowhere (sig's disposition is being restored).
void unroute_signal(int sig) noexcept;
// Waits until no handler is between reading a route and writing to it: after unroute_signal
// for each signal routed to an fd, that fd may be closed once this returns.
void quiesce_signal_handlers() noexcept;
// The reader of a pipe, for each number it reads: a later delivery writes again. (One byte per
// signal is in flight at a time, so the pipe never fills; deliveries in between coalesce.)
void clear_pending_signal(int sig) noexcept;

}  // namespace weft::io
