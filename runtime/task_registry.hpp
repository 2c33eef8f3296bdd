#pragma once
// Every task of a runtime that has not been let go of yet, for all_tasks(), dump_tasks() and
// shutdown. Sharded by spawning worker (threads that are not workers share the last shard).
//
// The registry holds the scheduler's reference to each task. A task that finishes on the worker
// that spawned it (the common fork–join case) leaves its shard at once, so its block is freed
// while still hot in cache. A task that finishes on another worker goes on a list that worker
// keeps for the task's shard; once it holds kReleaseBatch such tasks in all, and whenever it goes
// idle or stops, the worker takes each shard's lock once, unlinks that shard's batch and lets go
// of it. So the finishing worker, whose cache holds those blocks, does the unlinking; workers
// meet on a shard's lock once per batch, not once per task; a worker holds at most
// kReleaseBatch finished tasks however many workers there are; and no walk ever visits the
// live tasks. (Blocks freed on a thread other than the one that allocated them go back through
// the block cache's depot, a batch at a time.)
//
// Letting go of a task may free it and so run destructors of user code (its callable's
// captures): on the worker, outside every lock here, as a task that finishes on the worker
// that spawned it always has been.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <weft/task.hpp>

#include "sched/task_block.hpp"
#include "sync/spin_lock.hpp"

namespace weft::detail {

class TaskRegistry {
 public:
  // `workers` workers, plus one shard for threads that are not workers.
  explicit TaskRegistry(unsigned workers);
  // Every worker has released its batches by then (it does as it stops).
  ~TaskRegistry();
  TaskRegistry(const TaskRegistry&) = delete;
  TaskRegistry& operator=(const TaskRegistry&) = delete;

  // Takes over one reference to the task (the scheduler's) and assigns its id.
  void add(TaskBlock* task, unsigned shard) noexcept;
  // The scheduler is done with the task, on `worker`: let go of now if `worker` spawned it,
  // else with the next batch `worker` releases.
  void retire(TaskBlock* task, unsigned worker) noexcept;
  // Lets go of every task `worker` retired for other shards and still holds, on that worker
  // (dropping the last reference runs user destructors). Returns whether there were any.
  bool release_batches(unsigned worker) noexcept;
  // Tasks not finished yet.
  [[nodiscard]] std::uint64_t live() const noexcept;
  [[nodiscard]] std::vector<TaskRef> snapshot() const;
  [[nodiscard]] unsigned outside_shard() const noexcept { return count_ - 1; }

 private:
  static constexpr std::size_t kReleaseBatch = 64;
  struct alignas(64) Shard {
    mutable sync::SpinLock lock;  // guards head and next_id
    TaskBlock* head = nullptr;
    std::uint64_t next_id = 0;
  };
  // What one worker retired for one other shard and has not let go of yet: a chain through
  // TaskBlock::next (a finished task is in no run queue), touched by that worker only (a line
  // of its own, so no two workers write the same line).
  struct alignas(64) Batch {
    TaskBlock* first = nullptr;
  };
  struct alignas(64) WorkerBatches {
    std::unique_ptr<Batch[]> by_shard;
    std::size_t held = 0;  // in all of them
  };
  void unlink_locked(Shard& s, TaskBlock* task) noexcept;
  void release_batch(Batch& batch, Shard& s) noexcept;
  unsigned count_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<WorkerBatches[]> batches_;  // one per worker
};

}  // namespace weft::detail
