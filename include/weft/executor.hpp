#pragma once
// Executor pools (asyncio's run_in_executor / to_thread): blocking calls run on an elastic pool
// of threads, CPU-bound work in a oneTBB arena, never on a worker. The result comes back as a
// Task<T> that a fiber awaits like any other.
//
// Cancellation: a job that has not started is dropped at once (it never runs). A running job
// cannot be interrupted; it sees weft::this_job::cancelled() turn true, and whatever it returns
// is discarded. A fiber cancelled while it awaits a job gets CancelledError at once, without
// waiting for the job's thread (so a stuck job never holds up the awaiter or a shutdown).
#include <utility>

#include "weft/detail/task_block.hpp"
#include "weft/task.hpp"

namespace weft {

// asyncio.to_thread: runs fn() on the calling fiber's runtime's blocking pool (at most
// Config::blocking_threads threads; idle ones retire after Config::blocking_keep_alive_ms). If
// the pool's queue (Config::blocking_queue_limit jobs) is full, the calling fiber parks until
// there is room (backpressure). Fiber-only (std::logic_error).
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> to_thread(F&& fn) {
  using T = detail::TaskResultOf<F>;
  using Body = detail::SpawnBody<std::decay_t<F>, T>;
  detail::TaskBlock* block = detail::make_block<Body>(detail::BlockKind::job, std::forward<F>(fn));
  return Task<T>(detail::submit_job(block, nullptr, detail::JobPool::blocking));
}

// Runs fn() in the calling fiber's runtime's oneTBB task_arena (Config::cpu_threads slots, as
// many as workers by default), so a tbb::parallel_for or parallel_reduce inside fn spreads over
// that arena. For CPU-bound work that would hold a worker too long; blocking calls belong in
// to_thread (an arena thread that sleeps is a core lost). Never parks the caller: the arena's
// queue is unbounded. Fiber-only (std::logic_error).
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> run_cpu(F&& fn) {
  using T = detail::TaskResultOf<F>;
  using Body = detail::SpawnBody<std::decay_t<F>, T>;
  detail::TaskBlock* block = detail::make_block<Body>(detail::BlockKind::job, std::forward<F>(fn));
  return Task<T>(detail::submit_job(block, nullptr, detail::JobPool::cpu));
}

// The default executor of run_in_executor: the blocking pool.
struct BlockingExecutor {};
inline constexpr BlockingExecutor blocking_executor{};

// The CPU pool, for run_in_executor (asyncio would pass a ProcessPoolExecutor here).
struct CpuExecutor {};
inline constexpr CpuExecutor cpu_executor{};

// loop.run_in_executor(None, fn).
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> run_in_executor(BlockingExecutor, F&& fn) {
  return to_thread(std::forward<F>(fn));
}
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> run_in_executor(CpuExecutor, F&& fn) {
  return run_cpu(std::forward<F>(fn));
}

namespace this_job {
// In a job of either pool: true once that job has been cancelled (cooperative: long
// jobs should look at it and return early). Also on the oneTBB threads running pieces of a
// run_cpu job's parallel algorithms, which the cancel stops taking new pieces. False elsewhere.
[[nodiscard]] inline bool cancelled() noexcept {
  return detail::current_job_cancelled();
}
}  // namespace this_job

}  // namespace weft
