#pragma once
// Every unfinished task of a runtime, for all_tasks(), dump_tasks() and shutdown. Sharded by
// worker so spawning and finishing rarely contend: a task joins the shard of the worker that
// spawned it (non-worker threads share the last shard) and leaves it from wherever it ends.
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

  // Assigns the task's id.
  void add(TaskBlock* task, unsigned shard) noexcept;
  void remove(TaskBlock* task) noexcept;
  [[nodiscard]] std::uint64_t live() const noexcept;
  // References to every registered task (taken under each shard's lock).
  [[nodiscard]] std::vector<TaskRef> snapshot() const;
  [[nodiscard]] unsigned outside_shard() const noexcept { return count_ - 1; }

 private:
  struct alignas(64) Shard {
    mutable sync::SpinLock lock;  // guards head, live, next_id
    TaskBlock* head = nullptr;
    std::uint64_t live = 0;
    std::uint64_t next_id = 0;
  };
  unsigned count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace weft::detail
