// TaskGroup: see runtime/task_group.hpp.
#include "runtime/task_group.hpp"

#include <mutex>
#include <string>

#include <weft/errors.hpp>
#include <weft/task_group.hpp>

#include "io/clock.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

void unlink_child(GroupCore& group, TaskBlock* child) noexcept {
  if (child->group_prev)
    child->group_prev->group_next = child->group_next;
  else
    group.children = child->group_next;
  if (child->group_next) child->group_next->group_prev = child->group_prev;
  child->group_prev = child->group_next = nullptr;
  child->group = nullptr;
}

// Under the group's lock: stops admitting children and takes a reference to each one still
// running, to be cancelled once the lock is released.
std::vector<TaskBlock*> begin_abort_locked(GroupCore& group) {
  group.aborting = true;
  std::vector<TaskBlock*> running;
  running.reserve(group.pending);
  for (TaskBlock* child = group.children; child; child = child->group_next) {
    retain(child);
    running.push_back(child);
  }
  return running;
}

void cancel_all(std::vector<TaskBlock*>& running) noexcept {
  for (TaskBlock* child : running) {
    request_cancel(child, {}, false);
    release(child);
  }
  running.clear();
}

// Without memory for a list of the running children: cancel them under the group's lock (a
// task's lock may be taken inside the group's; never the other way round).
void cancel_all_locked(GroupCore& group) noexcept {
  for (TaskBlock* child = group.children; child; child = child->group_next)
    request_cancel(child, {}, false);
}

void abort_group(GroupCore& group) noexcept {
  std::vector<TaskBlock*> running;
  try {
    std::lock_guard guard(group.lock);
    running = begin_abort_locked(group);
  } catch (const std::bad_alloc&) {
    std::lock_guard guard(group.lock);
    group.aborting = true;
    cancel_all_locked(group);
  }
  cancel_all(running);
}

// Parks until every child is done, then marks the group joined in the same critical section
// (so no child can be admitted between the last one finishing and the group closing). A
// cancellable wait returns false if the joining fiber was cancelled first.
bool wait_for_children(GroupCore& group, sched::Cancellable cancellable) noexcept {
  TaskBlock* self = sched::current_worker() ? sched::current_worker()->current_task() : nullptr;
  for (;;) {
    sched::Waiter waiter(self);
    {
      std::lock_guard guard(group.lock);
      if (group.pending == 0) {
        group.joined = true;
        return true;
      }
      group.joiner = &waiter;
    }
    sched::WakeReason why;
    if (self) {
      why = io::park_until(waiter, "joining a TaskGroup", io::kNoDeadline, cancellable);
    } else {
      waiter.block_thread();
      why = waiter.reason();
    }
    {
      // Also waits out a child still firing the waiter under the lock.
      std::lock_guard guard(group.lock);
      group.joiner = nullptr;
    }
    if (why == sched::WakeReason::cancelled) return false;
  }
}

}  // namespace

void group_adopt(GroupCore* group, TaskBlock* child) {
  std::lock_guard guard(group->lock);
  if (group->joined)
    throw InvalidStateError("weft::TaskGroup: the group has been joined and takes no new tasks");
  if (group->aborting)
    throw InvalidStateError(
        "weft::TaskGroup: the group is shutting down (a child failed or it "
        "was cancelled) and takes no new tasks");
  child->group = group;
  child->group_prev = nullptr;
  child->group_next = group->children;
  if (group->children) group->children->group_prev = child;
  group->children = child;
  ++group->pending;
}

void group_child_done(TaskBlock* child) noexcept {
  GroupCore& group = *child->group;
  std::vector<TaskBlock*> running;
  {
    std::lock_guard guard(group.lock);
    unlink_child(group, child);
    if (child->has(kFailed)) {
      try {
        group.failed.reserve(group.failed.size() + 1);
        retain(child);
        group.failed.push_back(child);
        if (!group.aborting) running = begin_abort_locked(group);
      } catch (const std::bad_alloc&) {
        // The error stays with the child's own handle; siblings are still cancelled.
        group.aborting = true;
        cancel_all_locked(group);
      }
    }
    if (--group.pending == 0 && group.joiner) group.joiner->fire(sched::WakeReason::notified);
  }
  cancel_all(running);
}

GroupCore* make_group() {
  return new GroupCore();  // NOLINT(cppcoreguidelines-owning-memory): owned by its TaskGroup
}

void join_group(GroupCore* group) {
  TaskBlock* self = sched::fiber_worker("TaskGroup::join()").current_task();
  {
    std::lock_guard guard(group->lock);
    if (group->joined || group->joining)
      throw InvalidStateError("weft::TaskGroup: join() may be called once");
    group->joining = true;
  }
  bool cancelled = false;
  if (!wait_for_children(*group, sched::Cancellable::yes)) {
    // Cancelling the parent cancels the children; they are waited for before it goes on.
    cancelled = true;
    abort_group(*group);
    wait_for_children(*group, sched::Cancellable::no);
  }
  std::vector<std::exception_ptr> errors;
  {
    std::lock_guard guard(group->lock);
    errors.reserve(group->failed.size());
    for (TaskBlock* child : group->failed) {
      child->flags.fetch_or(kRetrieved, std::memory_order_relaxed);
      errors.push_back(child->error);
    }
  }
  if (!errors.empty())
    throw ExceptionGroup("weft::TaskGroup: " + std::to_string(errors.size()) +
                             (errors.size() == 1 ? " child task failed" : " child tasks failed"),
                         std::move(errors));
  if (cancelled) throw_cancelled(self);
}

void destroy_group(GroupCore* group) noexcept {
  bool joined = false;
  {
    std::lock_guard guard(group->lock);
    joined = group->joined;
  }
  // A join() in progress on another fiber cannot be (the group is its owner's); so not joined
  // means nobody waits for the children: cancel them and wait here.
  if (!joined) {
    abort_group(*group);
    wait_for_children(*group, sched::Cancellable::no);
  }
  {
    // The last child to finish may still be inside group_child_done, firing the joiner.
    std::lock_guard guard(group->lock);
  }
  // Failures join() never reported keep their children's "never retrieved" report.
  for (TaskBlock* child : group->failed) release(child);
  delete group;  // NOLINT(cppcoreguidelines-owning-memory)
}

std::size_t group_pending(GroupCore* group) noexcept {
  std::lock_guard guard(group->lock);
  return group->pending;
}

}  // namespace weft::detail
