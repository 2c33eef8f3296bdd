#pragma once
// The engine side of TaskGroup (weft/task_group.hpp). A child is linked into its group's list
// when it is spawned and unlinked when it finishes (finish_block calls group_child_done, after
// the child is done and outside every task lock), so the group can cancel the children still
// running and join() knows when the last one is done.
//
// Locking: the group's lock is never taken while a task's lock is held. Cancelling siblings
// happens after it is released, except on the out-of-memory path, which takes each task's
// lock inside the group's.
#include <cstddef>
#include <exception>
#include <vector>

#include "sync/spin_lock.hpp"

namespace weft::sched {
class Waiter;
}

namespace weft::detail {

class TaskBlock;

class GroupCore {
 public:
  sync::SpinLock lock;
  TaskBlock* children = nullptr;   // unfinished children (TaskBlock::group_next/prev)
  std::size_t pending = 0;         // len(children)
  std::vector<TaskBlock*> failed;  // children that failed, with a reference each
  bool aborting = false;           // a child failed or the group was cancelled: no new children
  bool joined = false;             // join() is over: no new children
  bool joining = false;            // a fiber is in join()
  sched::Waiter* joiner = nullptr;
};

// Links a new child (before it is scheduled). InvalidStateError if the group takes no more.
void group_adopt(GroupCore* group, TaskBlock* child);
// A child is done: unlinks it; a failure cancels its siblings; the last one wakes the joiner.
void group_child_done(TaskBlock* child) noexcept;

}  // namespace weft::detail
