#pragma once
// Threads a runtime starts besides its workers (the blocking pool's, the stack unmapper) are
// often started from a worker and would inherit its pinning (Config::pin_workers): a pool of
// blocking calls on one core, next to that worker's tasks.
#include <sched.h>

namespace weft::sched {

// The CPUs the process runs on: those of its main thread, which weft never pins.
[[nodiscard]] bool process_cpus(cpu_set_t& cpus) noexcept;
// For the calling helper thread: runs on process_cpus() and takes no asynchronous signal
// (those are for the workers and the thread that called weft::run).
void run_as_helper_thread() noexcept;

}  // namespace weft::sched
