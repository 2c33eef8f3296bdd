#pragma once
// Deadline-aware parking: park() plus a timer on the current worker. Every wait goes through
// here, so a wait that ends for any reason removes its timer, a timer never fires a waiter that
// has already gone, and the deadline of an open Timeout scope applies to every wait.
#include <cstdint>

#include "io/clock.hpp"
#include "sched/waiter.hpp"

namespace weft::io {

// Parks on `waiter` until it is fired or deadline_ns (kNoDeadline: none) passes; then it
// returns WakeReason::timed_out. If the task's Timeout scope expires first, the scope cancels
// the task and this returns WakeReason::cancelled. A wait that is not cancellable ignores both
// cancel() and scopes. Outside a fiber: std::logic_error. If no timer can be had (out of
// memory), the wait ends as timed out at once, with a message on stderr: the caller's waiter
// may be linked in a list, so this must return, not throw. `now`: the caller's own clock
// reading, taken just before (0: none; this reads the clock if there is a deadline).
sched::WakeReason park_until(sched::Waiter& waiter, const char* what, std::uint64_t deadline_ns,
                             sched::Cancellable cancellable = sched::Cancellable::yes,
                             std::uint64_t now = 0);

}  // namespace weft::io
