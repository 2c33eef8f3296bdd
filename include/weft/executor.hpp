#pragma once
// Executor pools (asyncio's run_in_executor / to_thread): blocking calls run on an elastic pool
// of threads, never on a worker. The result comes back as a Task<T> that a fiber awaits like
// any other.
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
// Config::blocking_threads threads; idle ones retire after 10 s). If the pool's queue is full,
// the calling fiber parks until there is room (backpressure). Fiber-only (std::logic_error).
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> to_thread(F&& fn) {
  using T = detail::TaskResultOf<F>;
  using Body = detail::SpawnBody<std::decay_t<F>, T>;
  detail::TaskBlock* block = detail::make_block<Body>(detail::BlockKind::job, std::forward<F>(fn));
  return Task<T>(detail::submit_job(block, nullptr));
}

// The default executor of run_in_executor: the blocking pool.
struct BlockingExecutor {};
inline constexpr BlockingExecutor blocking_executor{};

// loop.run_in_executor(None, fn).
template <class F>
[[nodiscard]] Task<detail::TaskResultOf<F>> run_in_executor(BlockingExecutor, F&& fn) {
  return to_thread(std::forward<F>(fn));
}

namespace this_job {
// On a pool thread: true once the job running there has been cancelled (cooperative: long
// jobs should look at it and return early). False elsewhere.
[[nodiscard]] inline bool cancelled() noexcept {
  return detail::current_job_cancelled();
}
}  // namespace this_job

}  // namespace weft
