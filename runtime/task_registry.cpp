#include "runtime/task_registry.hpp"

#include <mutex>

namespace weft::detail {

TaskRegistry::TaskRegistry(unsigned shards)
    : count_(shards), shards_(std::make_unique<Shard[]>(shards)) {}

void TaskRegistry::add(TaskBlock* task, unsigned shard) noexcept {
  Shard& s = shards_[shard];
  std::lock_guard guard(s.lock);
  // Ids are unique per runtime: shard index in the low part, a per-shard counter above it.
  task->id = ++s.next_id * count_ + shard;
  task->reg_shard = shard;
  task->reg_prev = nullptr;
  task->reg_next = s.head;
  if (s.head) s.head->reg_prev = task;
  s.head = task;
  ++s.live;
  task->registered = true;
}

void TaskRegistry::remove(TaskBlock* task) noexcept {
  Shard& s = shards_[task->reg_shard];
  std::lock_guard guard(s.lock);
  if (!task->registered) return;
  if (task->reg_prev)
    task->reg_prev->reg_next = task->reg_next;
  else
    s.head = task->reg_next;
  if (task->reg_next) task->reg_next->reg_prev = task->reg_prev;
  task->reg_prev = task->reg_next = nullptr;
  task->registered = false;
  --s.live;
}

std::uint64_t TaskRegistry::live() const noexcept {
  std::uint64_t total = 0;
  for (unsigned i = 0; i < count_; ++i) {
    std::lock_guard guard(shards_[i].lock);
    total += shards_[i].live;
  }
  return total;
}

std::vector<TaskRef> TaskRegistry::snapshot() const {
  std::vector<TaskRef> tasks;
  for (unsigned i = 0; i < count_; ++i) {
    std::lock_guard guard(shards_[i].lock);
    for (TaskBlock* task = shards_[i].head; task; task = task->reg_next) tasks.emplace_back(task);
  }
  return tasks;
}

}  // namespace weft::detail
