// Awaiting a task block, reading its outcome, and cancelling a task.
#include <mutex>
#include <string>

#include <weft/errors.hpp>

#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

TaskBlock* current_fiber_task() noexcept {
  sched::Worker* worker = sched::current_worker();
  return worker ? worker->current_task() : nullptr;
}

}  // namespace

void await_done(TaskBlock* block) {
  if (block->has(kDone)) return;
  TaskBlock* self = current_fiber_task();
  if (self == block) throw InvalidStateError("weft: a task cannot await itself");
  sched::Waiter waiter(self);
  {
    std::lock_guard guard(block->done_waiters.lock());
    if (block->has(kDone)) return;
    block->done_waiters.push_back(waiter);
  }
  if (!self) {
    // A plain thread (Future::get from outside the runtime) blocks.
    waiter.block_thread();
    block->done_waiters.leave(waiter);
    return;
  }
  const sched::WakeReason why = sched::park(waiter, "awaiting a task or future");
  block->done_waiters.leave(waiter);
  if (why == sched::WakeReason::cancelled) throw_cancelled(self);
}

void rethrow_if_failed(TaskBlock* block) {
  if (!block->has(kDone)) throw InvalidStateError("weft: the result is not ready yet");
  block->flags.fetch_or(kRetrieved, std::memory_order_relaxed);
  if (block->error) std::rethrow_exception(block->error);
}

void claim_result(TaskBlock* block) {
  if (block->flags.fetch_or(kClaimed, std::memory_order_acq_rel) & kClaimed)
    throw InvalidStateError("weft: get() may be called only once; use result() to read again");
  rethrow_if_failed(block);
}

std::exception_ptr exception_of(TaskBlock* block) {
  if (!block->has(kDone)) throw InvalidStateError("weft: the task is not done yet");
  block->flags.fetch_or(kRetrieved, std::memory_order_relaxed);
  if (block->has(kCancelled)) std::rethrow_exception(block->error);
  return block->error;
}

bool cancel(TaskBlock* block, std::string message) {
  if (block->has(kDone)) return false;
  {
    std::lock_guard guard(block->done_waiters.lock());
    block->extras_locked().cancel_message = std::move(message);
  }
  // seq_cst pairs with park(): see there.
  if (block->flags.fetch_or(kCancelRequested, std::memory_order_seq_cst) & kDone) return false;
  if (sched::Waiter* waiter = block->waiter.exchange(nullptr, std::memory_order_seq_cst)) {
    waiter->fire(sched::WakeReason::cancelled);
    // Last touch of the waiter: from here its task may leave the wait and destroy it.
    waiter->canceller_done.store(true, std::memory_order_release);
  }
  return true;
}

void deliver_pending_cancel(TaskBlock* task) {
  if (task->has(kCancelRequested)) throw_cancelled(task);
}

void throw_cancelled(TaskBlock* task) {
  task->flags.fetch_and(~static_cast<std::uint32_t>(kCancelRequested), std::memory_order_acq_rel);
  std::string message;
  {
    std::lock_guard guard(task->done_waiters.lock());
    if (task->extras) message = task->extras->cancel_message;
  }
  throw CancelledError(std::move(message));
}

}  // namespace weft::detail
