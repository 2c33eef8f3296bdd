// Jobs of the blocking pool (weft/executor.hpp): task blocks that run on a pool thread instead
// of a fiber. Who starts a job is decided by setting kStarted: the pool thread about to run it,
// or a cancel() that comes first (which then finishes it at once, so its awaiter does not wait
// for the queue to reach it).
#include <boost/context/fiber.hpp>

#include <mutex>
#include <stdexcept>
#include <utility>

#include <weft/errors.hpp>

#include "runtime/context.hpp"
#include "runtime/runtime_core.hpp"
#include "sched/cpu_arena.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

thread_local TaskBlock* running_job = nullptr;

bool claim_start(TaskBlock* job) noexcept {
  return !(job->flags.fetch_or(kStarted, std::memory_order_acq_rel) & kStarted);
}

// Under the job's lock, which request_cancel() holds while it calls the hook: once taken away
// here, the hook is never called again. A cancel() that came before it was put in place is
// passed on at once. Returns whether the hook that was in place had been called.
bool set_cancel_hook(TaskBlock* job, JobCancelHook hook) noexcept {
  std::lock_guard guard(job->done_waiters.lock());
  if (!job->extras) return false;  // submit_job gave every job its extras (the sink)
  const bool fired = std::exchange(job->extras->cancel_hook, hook).fired;
  if (job->has(kCancelRequested)) job->extras->cancel_hook.fire();
  return fired;
}

}  // namespace

TaskBlock* submit_job(TaskBlock* block, Runtime* runtime, JobPool pool) {
  RuntimeCore* core = nullptr;
  if (runtime) {
    core = &runtime->core();
  } else {
    sched::Worker* worker = sched::current_worker();
    if (!worker || !worker->current_task()) {
      release(block);
      throw std::logic_error(pool == JobPool::cpu
                                 ? "weft::run_cpu must be called from a weft fiber"
                                 : "weft::to_thread must be called from a weft fiber");
    }
    core = &worker->scheduler().owner;
  }
  block->runtime = core;
  block->context = context_to_inherit();            // asyncio.to_thread copies the context too
  block->refs.store(2, std::memory_order_relaxed);  // the pool's and the handle's
  {
    // A stuck job may finish after its runtime is gone: it keeps the sink, not the runtime.
    std::lock_guard guard(block->done_waiters.lock());
    block->extras_locked().sink = core->sink;
  }
  // The pool thread that runs the job orders its reads after this through claim_start's
  // acq_rel on the same flags. The CPU pool hands the job over inside oneTBB, whose own
  // ordering ThreadSanitizer cannot see; this release is the edge it does see.
  block->flags.fetch_or(0, std::memory_order_release);
  try {
    if (pool == JobPool::cpu) {
      core->cpu_pool().submit(block);
    } else {
      core->blocking_pool().submit(block);
    }
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

void fail_unstarted_job(TaskBlock* job, std::exception_ptr error) noexcept {
  if (claim_start(job)) finish_unstarted(job, std::move(error));
  release(job);
}

void take_over_job(const TaskBlock* job) noexcept {
  (void)job->flags.load(std::memory_order_acquire);  // pairs with submit_job's release
}

void cancel_unstarted_job(TaskBlock* job) noexcept {
  if (claim_start(job)) finish_unstarted(job);
}

// The blocking pool's threads call the first, the CPU pool's the second (sched/cpu_arena.cpp).
void run_job(TaskBlock* job, void (*cancel)(void*) noexcept, void* target) noexcept;
void run_job(TaskBlock* job) noexcept {
  run_job(job, nullptr, nullptr);
}

void run_job(TaskBlock* job, void (*cancel)(void*) noexcept, void* target) noexcept {
  if (!claim_start(job)) {  // a cancel() finished it already
    release(job);
    return;
  }
  if (job->has(kCancelRequested)) {
    finish_unstarted(job);
    release(job);
    return;
  }
  // Saved and put back rather than cleared: a job may run inside another one on the same
  // thread (oneTBB lends a waiting thread to other work of its arena).
  TaskBlock* const outer = std::exchange(running_job, job);
  const JobCancelHook hook{cancel, target};
  if (hook.cancel) set_cancel_hook(job, hook);
  try {
    job->body->run();
  } catch (const CancelledError&) {
    job->error = std::current_exception();
    job->flags.fetch_or(kCancelled, std::memory_order_relaxed);
  } catch (...) {
    job->error = std::current_exception();
    job->flags.fetch_or(kFailed, std::memory_order_relaxed);
  }
  // What the hook points to ends with the caller. A job whose hook was called ends cancelled
  // even if the request was withdrawn since (uncancel): its parallel loops skipped pieces.
  const bool hook_fired = hook.cancel && set_cancel_hook(job, {});
  release_task_context(job);
  running_job = outer;
  if (!job->error && (hook_fired || job->has(kCancelRequested))) {
    // Cancelled while it ran: what it returned is discarded.
    job->error = std::make_exception_ptr(CancelledError(cancel_message_of(job)));
    job->flags.fetch_or(kCancelled, std::memory_order_relaxed);
  }
  finish_block(job);
  release(job);
}

TaskBlock* current_job() noexcept {
  return running_job;
}

bool current_job_cancelled() noexcept {
  if (running_job) return running_job->has(kCancelRequested);
  return sched::helping_cancelled_cpu_job();  // a oneTBB thread lending a CPU job a hand
}

}  // namespace weft::detail
