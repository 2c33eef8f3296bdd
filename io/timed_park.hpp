#pragma once
// Deadline-aware parking: park() plus a timer on the current worker. Every wait with a timeout
// (sleep, I/O, locks, queues) goes through here, so a wait that ends for any reason removes
// its timer, and a timer never fires a waiter that has already gone.
#include <cstdint>

#include "io/clock.hpp"
#include "sched/waiter.hpp"

namespace weft::io {

// Parks on `waiter` until it is fired or deadline_ns (kNoDeadline: none) passes; then it
// returns WakeReason::timed_out. Outside a fiber: std::logic_error.
sched::WakeReason park_until(sched::Waiter& waiter, const char* what, std::uint64_t deadline_ns);

}  // namespace weft::io
