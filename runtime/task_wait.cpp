// Awaiting a task block, reading its outcome, and cancelling a task.
#include <mutex>
#include <new>
#include <string>
#include <string_view>

#include <weft/errors.hpp>

#include "io/clock.hpp"
#include "io/timed_park.hpp"
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

enum class Awaited : bool { done, cancelled };

// Parks `self` (nullptr: a plain thread, which blocks) until `block` is done. Returns
// `cancelled` if the wait was cut short by a cancellation of `self` (or its Timeout scope).
Awaited park_until_done(TaskBlock* block, TaskBlock* self, sched::Cancellable cancellable) {
  sched::Waiter waiter(self);
  {
    std::lock_guard guard(block->done_waiters.lock());
    if (block->has(kDone)) return Awaited::done;
    block->done_waiters.push_back(waiter);
  }
  if (!self) {
    waiter.block_thread();
    block->done_waiters.leave(waiter);
    return Awaited::done;
  }
  const sched::WakeReason why =
      io::park_until(waiter, "awaiting a task or future", io::kNoDeadline, cancellable);
  block->done_waiters.leave(waiter);
  return why == sched::WakeReason::cancelled ? Awaited::cancelled : Awaited::done;
}

TaskBlock* awaiter_of(TaskBlock* block) {
  TaskBlock* self = current_fiber_task();
  if (self == block) throw InvalidStateError("weft: a task cannot await itself");
  return self;
}

}  // namespace

void await_done(TaskBlock* block) {
  if (block->has(kDone)) return;
  TaskBlock* self = awaiter_of(block);
  if (park_until_done(block, self, sched::Cancellable::yes) == Awaited::cancelled)
    throw_cancelled(self);
}

void await_task(TaskBlock* block) {
  if (block->has(kDone)) return;
  TaskBlock* self = awaiter_of(block);
  if (park_until_done(block, self, sched::Cancellable::yes) == Awaited::done) return;
  // asyncio's `await task` hands the awaiter's cancellation to the task and waits for it.
  request_cancel(block, cancel_message_of(self), false);
  if (block->kind == BlockKind::job) {
    // A pool thread cannot be interrupted: do not wait for it (see weft/executor.hpp).
    cancel_unstarted_job(block);
    throw_cancelled(self);
  }
  await_done_uncancellable(block);
  if (block->has(kCancelled)) throw_cancelled(self);
  // The task finished anyway: its outcome is not lost, and the awaiter's cancellation is still
  // pending (kCancelRequested), so its next suspension point raises it.
}

void await_done_uncancellable(TaskBlock* block) noexcept {
  // A wait that cannot be cut short, whose waker cannot fail: nothing here throws.
  while (!block->has(kDone)) park_until_done(block, current_fiber_task(), sched::Cancellable::no);
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

bool request_cancel(TaskBlock* block, std::string_view message, bool keep_message) noexcept {
  {
    // The count and the flag change together under the block's lock, as in uncancel(), so an
    // uncancel() racing this request cannot withdraw it; kDone is set under the same lock.
    std::lock_guard guard(block->done_waiters.lock());
    if (block->has(kDone)) return false;
    try {
      TaskExtras& extras = block->extras_locked();
      if (!keep_message || extras.cancel_message.empty()) extras.cancel_message.assign(message);
    } catch (const std::bad_alloc&) {
      // The message is best effort; the cancellation itself must not fail.
    }
    block->cancel_requests.fetch_add(1, std::memory_order_relaxed);
    // seq_cst pairs with park(): see there.
    block->flags.fetch_or(kCancelRequested, std::memory_order_seq_cst);
    if (block->extras) block->extras->cancel_hook.fire();
  }
  if (sched::Waiter* waiter = block->waiter.exchange(nullptr, std::memory_order_seq_cst)) {
    waiter->fire(sched::WakeReason::cancelled);
    // Last touch of the waiter: from here its task may leave the wait and destroy it.
    waiter->canceller_done.store(true, std::memory_order_release);
  }
  return true;
}

bool cancel(TaskBlock* block, std::string message) {
  const bool requested = request_cancel(block, std::move(message), false);
  if (requested && block->kind == BlockKind::job) cancel_unstarted_job(block);
  return requested;
}

unsigned cancelling(const TaskBlock* block) noexcept {
  return block->cancel_requests.load(std::memory_order_acquire);
}

unsigned uncancel(TaskBlock* block) noexcept {
  std::lock_guard guard(block->done_waiters.lock());
  const std::uint32_t count = block->cancel_requests.load(std::memory_order_relaxed);
  if (count == 0) return 0;
  block->cancel_requests.store(count - 1, std::memory_order_release);
  // Python 3.13: taking back the last request also withdraws one not yet delivered.
  if (count == 1)
    block->flags.fetch_and(~static_cast<std::uint32_t>(kCancelRequested),
                           std::memory_order_acq_rel);
  return count - 1;
}

void deliver_pending_cancel(TaskBlock* task) {
  if (task->has(kCancelRequested)) throw_cancelled(task);
}

std::string cancel_message_of(TaskBlock* task) {
  std::lock_guard guard(task->done_waiters.lock());
  return task->extras ? task->extras->cancel_message : std::string();
}

void throw_cancelled(TaskBlock* task) {
  task->flags.fetch_and(~static_cast<std::uint32_t>(kCancelRequested), std::memory_order_acq_rel);
  throw CancelledError(cancel_message_of(task));
}

}  // namespace weft::detail
