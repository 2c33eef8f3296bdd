// Timeout scopes: see runtime/deadline_scope.hpp.
#include "runtime/deadline_scope.hpp"

#include <chrono>

#include <weft/errors.hpp>
#include <weft/timeout.hpp>

#include "io/clock.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

bool counts(const DeadlineScope* s, const TaskBlock* task) noexcept {
  return !s->expired && s->shield_depth == task->shield_depth;
}

}  // namespace

void refresh_scope_deadline(TaskBlock* task) noexcept {
  std::uint64_t earliest = io::kNoDeadline;
  for (const DeadlineScope* s = task->scope; s; s = s->parent)
    if (counts(s, task) && s->deadline_ns < earliest) earliest = s->deadline_ns;
  task->scope_deadline = earliest;
}

void enter_scope(DeadlineScope& scope, std::uint64_t deadline_ns) {
  TaskBlock* task = sched::fiber_worker("weft::timeout").current_task();
  scope.task = task;
  scope.parent = task->scope;
  scope.deadline_ns = deadline_ns;
  scope.cancelling_at_entry = cancelling(task);
  scope.shield_depth = task->shield_depth;
  task->scope = &scope;
  if (deadline_ns < task->scope_deadline) task->scope_deadline = deadline_ns;
}

bool leave_scope(DeadlineScope& scope) noexcept {
  TaskBlock* task = scope.task;
  // Scopes are RAII objects on the task's stack, so they close innermost first.
  task->scope = scope.parent;
  refresh_scope_deadline(task);
  if (!scope.expired || scope.taken_back) return false;
  scope.taken_back = true;
  // Requests that came while uncancellable held them back are not this scope's business: they
  // are still due, at the next suspension point outside the section (delivering the expiry
  // cleared their flag, so it is set again).
  const bool ours = uncancel(task) <= scope.cancelling_at_entry + scope.held_back;
  if (ours && scope.held_back != 0)
    task->flags.fetch_or(kCancelRequested, std::memory_order_seq_cst);
  return ours;
}

void reschedule_scope(DeadlineScope& scope, std::uint64_t deadline_ns) {
  sched::Worker* worker = sched::current_worker();
  if (!worker || worker->current_task() != scope.task)
    throw InvalidStateError(
        "weft::Timeout::reschedule: only the fiber that opened the scope may "
        "move its deadline");
  if (scope.expired)
    throw InvalidStateError("weft::Timeout::reschedule: the scope has already expired");
  scope.deadline_ns = deadline_ns;
  refresh_scope_deadline(scope.task);
}

bool expire_due_scope(TaskBlock* task, std::uint64_t now_ns) {
  if (task->scope_deadline > now_ns) return false;
  DeadlineScope* due = nullptr;
  for (DeadlineScope* s = task->scope; s; s = s->parent)
    if (counts(s, task) && (!due || s->deadline_ns < due->deadline_ns)) due = s;
  if (!due || due->deadline_ns > now_ns) return false;
  due->expired = true;
  if (task->shield_depth != 0 && task->has(kCancelRequested)) {
    const unsigned now = cancelling(task);
    due->held_back = now > due->cancelling_at_entry ? now - due->cancelling_at_entry : 0;
  }
  refresh_scope_deadline(task);
  request_cancel(task, "weft::timeout: deadline expired", true);
  return true;
}

std::uint64_t deadline_after_ns(std::int64_t nanoseconds) noexcept {
  return io::deadline_after(std::chrono::nanoseconds(nanoseconds));
}

std::uint64_t deadline_ns_of(TimePoint when) noexcept {
  return when == TimePoint::max() ? io::kNoDeadline : io::to_ns(when);
}

TimePoint time_point_of(std::uint64_t deadline_ns) noexcept {
  if (deadline_ns == io::kNoDeadline) return TimePoint::max();
  return TimePoint(std::chrono::duration_cast<Duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(deadline_ns))));
}

}  // namespace weft::detail
