#pragma once
// Synchronisation points for tests: wait until a task is parked on a given wait, instead of
// sleeping and hoping the task got there (a loaded sanitizer run can deschedule a worker for
// tens of milliseconds).
#include <chrono>
#include <string_view>

#include <weft/weft.hpp>

#include "sched/task_block.hpp"

namespace weft_test {

// What a task (Task<T> or TaskRef) is parked on (the `what` of its current wait), or "" while
// it runs or is queued.
template <class TaskHandle>
std::string_view parked_on(const TaskHandle& task) {
  const char* what = task.block()->waiting_on.load(std::memory_order_relaxed);
  return what ? std::string_view(what) : std::string_view();
}

// Waits (in a fiber) until `task` is parked on `what`; false if it finished or `limit` passed
// first. A synchronisation point, not an assertion about time.
template <class TaskHandle>
bool wait_parked(const TaskHandle& task, std::string_view what,
                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto give_up = weft::now() + limit;
  while (parked_on(task) != what) {
    if (task.done() || weft::now() > give_up) return false;
    weft::sleep(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace weft_test
