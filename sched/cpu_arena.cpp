#include "sched/cpu_arena.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <exception>

namespace weft::detail {
// runtime/blocking_job.cpp
void run_job(TaskBlock* job, void (*cancel)(void*) noexcept, void* target) noexcept;
void take_over_job(const TaskBlock* job) noexcept;
void fail_unstarted_job(TaskBlock* job, std::exception_ptr error) noexcept;
}  // namespace weft::detail

namespace weft::sched {

struct CpuArena {
  explicit CpuArena(unsigned threads)
      : workers(tbb::global_control::max_allowed_parallelism,
                std::max<std::size_t>(
                    tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism),
                    static_cast<std::size_t>(threads) + 1)),
        arena(static_cast<int>(threads), /*reserved_for_masters=*/0) {}
  // oneTBB starts at most max_allowed_parallelism - 1 worker threads in all (one fewer than
  // the hardware threads by default, so one on a 2-core machine); a parallel_for inside a job
  // needs threads - 1 of them to fill the arena beside its dispatcher.
  tbb::global_control workers;
  tbb::task_arena arena;
};

CpuArena* make_cpu_arena(unsigned threads) {
  return std::make_unique<CpuArena>(threads).release();  // owned by a CpuArenaPtr
}

void destroy_cpu_arena(CpuArena* arena) noexcept {
  const std::unique_ptr<CpuArena> doomed(arena);
}

namespace {
void cancel_group(void* context) noexcept {
  static_cast<tbb::task_group_context*>(context)->cancel_group_execution();
}
}  // namespace

bool helping_cancelled_cpu_job() noexcept {
  // Only a thread inside some arena has a current task group; asking on any other thread
  // would set oneTBB up for it.
  if (tbb::this_task_arena::current_thread_index() == tbb::task_arena::not_initialized)
    return false;
  return tbb::is_current_task_group_canceling();
}

void run_in_cpu_arena(void* arena, detail::TaskBlock* job) noexcept {
  bool taken = false;
  try {
    static_cast<CpuArena*>(arena)->arena.execute([job, &taken] {
      taken = true;
      // Usually on this thread; if every slot is busy, oneTBB hands the functor to one of its
      // workers instead. Either way, an acquire in instrumented code first: TSan must see that
      // what the submitter did (the job's contents) happened before.
      detail::take_over_job(job);
      // Isolated: while this job waits inside its own parallel_for, its thread takes only
      // that loop's pieces, never another queued job (which would run nested on this stack,
      // under this job's context, and hold this one up until it ended).
      tbb::this_task_arena::isolate([job] {
        // The job's own task group (run_and_wait runs it right here, about 50 ns): cancel()
        // cancels it through the hook, and with it every parallel algorithm inside.
        tbb::task_group_context group_context;
        tbb::task_group group(group_context);
        (void)group.run_and_wait(
            [job, &group_context] { detail::run_job(job, &cancel_group, &group_context); });
      });
    });
  } catch (...) {
    // oneTBB could not take the job (say, no memory for the arena): it fails, nothing else.
    if (!taken) detail::fail_unstarted_job(job, std::current_exception());
  }
}

}  // namespace weft::sched
