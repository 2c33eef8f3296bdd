#pragma once
// Every task of a runtime that has not been swept yet, for all_tasks(), dump_tasks() and
// shutdown. Sharded by spawning worker (threads that are not workers share the last shard).
//
// The registry holds the scheduler's reference to each task. A task that finishes on the worker
// that spawned it (the common fork–join case) leaves its shard at once, under a lock only that
// worker and rare readers take, so its block is freed while still hot in cache. A task that
// finishes elsewhere is pushed onto its shard's lock-free retired stack; the shard's owner
// unlinks those later, each in O(1) (once kSweepBatch have piled up, and when the worker goes
// idle). So two workers never race on a shard's lock for every task, such blocks are freed on
// the thread that allocated them, and no sweep ever walks the live tasks.
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
  explicit TaskRegistry(unsigned shards);
  // Drops the references of whatever is left (every task has finished by then).
  ~TaskRegistry();
  TaskRegistry(const TaskRegistry&) = delete;
  TaskRegistry& operator=(const TaskRegistry&) = delete;

  // Takes over one reference to the task (the scheduler's) and assigns its id.
  void add(TaskBlock* task, unsigned shard) noexcept;
  // The scheduler is done with the task, on `worker`.
  void retire(TaskBlock* task, unsigned worker) noexcept;
  // Drops up to `limit` retired tasks of one shard (returns whether more are left), or all of
  // every shard. A bounded sweep keeps a worker from disappearing for milliseconds after a
  // burst of tasks finished elsewhere.
  bool sweep(unsigned shard, std::size_t limit = SIZE_MAX) noexcept;
  void sweep_all() noexcept;
  // Tasks not finished yet.
  [[nodiscard]] std::uint64_t live() const noexcept;
  [[nodiscard]] std::vector<TaskRef> snapshot() const;
  [[nodiscard]] unsigned outside_shard() const noexcept { return count_ - 1; }

 private:
  static constexpr std::size_t kSweepBatch = 256;
  struct alignas(64) Shard {
    mutable sync::SpinLock lock;  // guards head, backlog and next_id
    TaskBlock* head = nullptr;
    std::uint64_t next_id = 0;
    // Finished elsewhere, still linked: a Treiber stack through TaskBlock::next (a finished
    // task is in no run queue), taken whole by a sweep, so no ABA.
    std::atomic<TaskBlock*> retired{nullptr};
    TaskBlock* backlog = nullptr;  // taken off `retired`, not yet unlinked (under the lock)
    std::atomic<std::size_t> retired_count{0};  // on the stack or in the backlog
  };
  void unlink_locked(Shard& s, TaskBlock* task) noexcept;
  unsigned count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace weft::detail
