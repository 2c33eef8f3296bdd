#pragma once
// Every task of a runtime that has not been let go of yet, for all_tasks(), dump_tasks() and
// shutdown. Sharded by spawning worker (threads that are not workers share the last shard).
//
// The registry holds the scheduler's reference to each task. A task that finishes on the worker
// that spawned it (the common fork–join case) leaves its shard at once, under a lock only that
// worker and rare readers take, so its block is freed while still hot in cache. A task that
// finishes on another worker goes on a list that worker keeps for the task's shard; every
// kReleaseBatch tasks, and whenever the worker goes idle or stops, it takes that shard's lock
// once, unlinks the whole batch and lets go of it. So the finishing worker, whose cache holds
// those blocks, does the unlinking; two workers meet on a shard's lock once per batch, not once
// per task; and no walk ever visits the live tasks. (Blocks freed on a thread other than the one
// that allocated them go back through the block cache's depot, a batch at a time.)
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
  // Drops the references of whatever is left (every task has finished by then, and every
  // worker has released its batches).
  ~TaskRegistry();
  TaskRegistry(const TaskRegistry&) = delete;
  TaskRegistry& operator=(const TaskRegistry&) = delete;

  // Takes over one reference to the task (the scheduler's) and assigns its id.
  void add(TaskBlock* task, unsigned shard) noexcept;
  // The scheduler is done with the task, on `worker`: let go of now if `worker` spawned it,
  // else with the next batch `worker` releases.
  void retire(TaskBlock* task, unsigned worker) noexcept;
  // Lets go of every task `worker` retired for other shards and still holds. On that worker,
  // outside any switch: dropping the last reference runs user destructors.
  // Returns whether there were any.
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
  // TaskBlock::next (a finished task is in no run queue), touched by that worker only.
  struct Batch {
    TaskBlock* first = nullptr;
    std::size_t count = 0;
  };
  struct alignas(64) WorkerBatches {
    std::unique_ptr<Batch[]> by_shard;
  };
  void unlink_locked(Shard& s, TaskBlock* task) noexcept;
  void release_batch(Batch& batch, Shard& s) noexcept;
  unsigned count_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<WorkerBatches[]> batches_;  // one per worker
};

}  // namespace weft::detail
