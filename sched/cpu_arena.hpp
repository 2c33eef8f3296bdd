#pragma once
// The oneTBB side of the CPU pool: the arena (with the global_control that lets oneTBB start
// enough workers for it) and running one job inside it. Only sched/cpu_arena.cpp includes
// oneTBB's headers, and it is built without ThreadSanitizer instrumentation: oneTBB's task
// plumbing lives half in uninstrumented libtbb and half in its headers, and TSan would see
// only the header half. Everything else of the pool (sched/cpu_pool.cpp) is instrumented.
#include <memory>

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

struct CpuArena;

// An arena of `threads` slots.
[[nodiscard]] CpuArena* make_cpu_arena(unsigned threads);
void destroy_cpu_arena(CpuArena* arena) noexcept;
struct CpuArenaDeleter {
  void operator()(CpuArena* arena) const noexcept { destroy_cpu_arena(arena); }
};
using CpuArenaPtr = std::unique_ptr<CpuArena, CpuArenaDeleter>;

// A JobRunner: runs `job` (which the calling pool thread took) inside `arena`, isolated, and
// ends in detail::run_job; if oneTBB cannot take it, the job fails instead.
// Each job runs in a oneTBB task group of its own, which its cancel() cancels: the parallel
// algorithms inside stop taking new pieces.
void run_in_cpu_arena(void* arena, detail::TaskBlock* job) noexcept;

// On a oneTBB thread running a piece of some task group's work: whether that group is being
// cancelled (so, for a piece of a CPU job's parallel loop, whether the job was cancelled).
// False on any other thread.
[[nodiscard]] bool helping_cancelled_cpu_job() noexcept;

}  // namespace weft::sched
