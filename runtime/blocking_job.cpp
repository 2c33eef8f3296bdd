// Jobs of the blocking pool (weft/executor.hpp): task blocks that run on a pool thread instead
// of a fiber. Who starts a job is decided by setting kStarted: the pool thread about to run it,
// or a cancel() that comes first (which then finishes it at once, so its awaiter does not wait
// for the queue to reach it).
#include <boost/context/fiber.hpp>

#include <mutex>
#include <stdexcept>

#include <weft/errors.hpp>

#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

thread_local TaskBlock* running_job = nullptr;

bool claim_start(TaskBlock* job) noexcept {
  return !(job->flags.fetch_or(kStarted, std::memory_order_acq_rel) & kStarted);
}

}  // namespace

TaskBlock* submit_job(TaskBlock* block, Runtime* runtime) {
  RuntimeCore* core = nullptr;
  if (runtime) {
    core = &runtime->core();
  } else {
    sched::Worker* worker = sched::current_worker();
    if (!worker || !worker->current_task()) {
      release(block);
      throw std::logic_error("weft::to_thread must be called from a weft fiber");
    }
    core = &worker->scheduler().owner;
  }
  block->runtime = core;
  block->refs.store(2, std::memory_order_relaxed);  // the pool's and the handle's
  {
    // A stuck job may finish after its runtime is gone: it keeps the sink, not the runtime.
    std::lock_guard guard(block->done_waiters.lock());
    block->extras_locked().sink = core->sink;
  }
  try {
    core->blocking_pool().submit(block);
  } catch (...) {
    release(block);  // the handle's; submit dropped the pool's
    throw;
  }
  return block;
}

// A job that will not run: finished as cancelled, and the pool's reference dropped.
void drop_job(TaskBlock* job) noexcept {
  if (claim_start(job)) finish_unstarted(job);
  release(job);
}

void cancel_unstarted_job(TaskBlock* job) noexcept {
  if (claim_start(job)) finish_unstarted(job);
}

void run_job(TaskBlock* job) noexcept {
  if (!claim_start(job)) {  // a cancel() finished it already
    release(job);
    return;
  }
  if (job->has(kCancelRequested)) {
    finish_unstarted(job);
    release(job);
    return;
  }
  running_job = job;
  try {
    job->body->run();
  } catch (const CancelledError&) {
    job->error = std::current_exception();
    job->flags.fetch_or(kCancelled, std::memory_order_relaxed);
  } catch (...) {
    job->error = std::current_exception();
    job->flags.fetch_or(kFailed, std::memory_order_relaxed);
  }
  running_job = nullptr;
  if (!job->error && job->has(kCancelRequested)) {
    // Cancelled while it ran: what it returned is discarded.
    job->error = std::make_exception_ptr(CancelledError(cancel_message_of(job)));
    job->flags.fetch_or(kCancelled, std::memory_order_relaxed);
  }
  finish_block(job);
  release(job);
}

bool current_job_cancelled() noexcept {
  return running_job && running_job->has(kCancelRequested);
}

}  // namespace weft::detail
