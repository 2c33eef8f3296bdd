// The free functions of weft/task.hpp.
#include <stdexcept>

#include <weft/task.hpp>

#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft {

void yield_now() {
  sched::Worker& worker = sched::fiber_worker("yield_now()");
  detail::TaskBlock* task = worker.current_task();
  detail::deliver_pending_cancel(task);
  worker.suspend_current(sched::AfterSwitch::yield);
  // Resumed, maybe elsewhere; a cancel() that came while we were queued is delivered here.
  detail::deliver_pending_cancel(task);
}

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
