// The free functions of weft/task.hpp.
#include <stdexcept>

#include <weft/task.hpp>

#include "io/clock.hpp"
#include "runtime/deadline_scope.hpp"
#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft {

namespace {

// A suspension point delivers a pending cancel() and, once the fiber has been away (so one
// clock read per yield), the expiry of a Timeout scope.
void checkpoint(detail::TaskBlock* task, bool after_switch) {
  if (after_switch && task->scope_deadline != io::kNoDeadline &&
      detail::expire_due_scope(task, io::now_ns()))
    detail::throw_cancelled(task);
  // Inside weft::uncancellable, a cancel() waits for the section to end.
  if (task->shield_depth == 0 && task->has(detail::kCancelRequested)) detail::throw_cancelled(task);
}

}  // namespace

namespace detail {
void cancellation_point(TaskBlock* task) {
  checkpoint(task, true);
}
}  // namespace detail

void yield_now() {
  sched::Worker& worker = sched::fiber_worker("yield_now()");
  detail::TaskBlock* task = worker.current_task();
  checkpoint(task, false);
  worker.suspend_current(sched::AfterSwitch::yield);
  // Resumed, maybe elsewhere; a cancel() that came while we were queued is delivered here.
  checkpoint(task, true);
}

namespace detail {

void enter_uncancellable() noexcept {
  sched::Worker* worker = sched::current_worker();
  if (TaskBlock* task = worker ? worker->current_task() : nullptr) {
    ++task->shield_depth;
    refresh_scope_deadline(task);
  }
}

void leave_uncancellable() noexcept {
  sched::Worker* worker = sched::current_worker();
  if (TaskBlock* task = worker ? worker->current_task() : nullptr) {
    --task->shield_depth;
    refresh_scope_deadline(task);
  }
}

}  // namespace detail

bool in_fiber() noexcept {
  sched::Worker* worker = sched::current_worker();
  return worker && worker->current_task();
}

TaskRef current_task() {
  sched::Worker* worker = sched::current_worker();
  return TaskRef(worker ? worker->current_task() : nullptr);
}

std::vector<TaskRef> all_tasks() {
  return sched::fiber_worker("all_tasks()").scheduler().owner.registry.snapshot();
}

}  // namespace weft
