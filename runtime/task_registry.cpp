#include "runtime/task_registry.hpp"

#include <algorithm>
#include <mutex>

namespace weft::detail {

TaskRegistry::TaskRegistry(unsigned shards)
    : count_(shards), shards_(std::make_unique<Shard[]>(shards)) {}

TaskRegistry::~TaskRegistry() {
  sweep_all();
}

void TaskRegistry::add(TaskBlock* task, unsigned shard) noexcept {
  Shard& s = shards_[shard];
  bool sweep_now;
  {
    std::lock_guard guard(s.lock);
    // Ids are unique per runtime: shard index in the low part, a per-shard counter above it.
    task->id = ++s.next_id * count_ + shard;
    task->reg_shard = shard;
    task->reg_prev = nullptr;
    task->reg_next = s.head;
    if (s.head) s.head->reg_prev = task;
    s.head = task;
    const std::size_t size = s.size.load(std::memory_order_relaxed) + 1;
    s.size.store(size, std::memory_order_relaxed);
    sweep_now = size >= s.next_sweep;
  }
  if (sweep_now) sweep(shard);
}

void TaskRegistry::retire(TaskBlock* task, unsigned worker) noexcept {
  if (task->reg_shard != worker) {
    task->flags.fetch_or(kRetired, std::memory_order_release);
    return;
  }
  Shard& s = shards_[worker];
  {
    std::lock_guard guard(s.lock);
    if (task->reg_prev)
      task->reg_prev->reg_next = task->reg_next;
    else
      s.head = task->reg_next;
    if (task->reg_next) task->reg_next->reg_prev = task->reg_prev;
    s.size.store(s.size.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  release(task);
}

void TaskRegistry::sweep(unsigned shard) noexcept {
  Shard& s = shards_[shard];
  if (s.size.load(std::memory_order_relaxed) == 0) return;
  TaskBlock* retired = nullptr;
  {
    std::lock_guard guard(s.lock);
    std::size_t kept = 0;
    for (TaskBlock* task = s.head; task;) {
      TaskBlock* next = task->reg_next;
      if (task->has(kRetired)) {
        if (task->reg_prev)
          task->reg_prev->reg_next = next;
        else
          s.head = next;
        if (next) next->reg_prev = task->reg_prev;
        task->reg_next = retired;
        retired = task;
      } else {
        ++kept;
      }
      task = next;
    }
    s.size.store(kept, std::memory_order_relaxed);
    s.next_sweep = std::max(kMinSweep, 2 * kept);
  }
  // Outside the lock: dropping the last reference runs destructors of user code.
  while (retired) {
    TaskBlock* next = retired->reg_next;
    release(retired);
    retired = next;
  }
}

void TaskRegistry::sweep_all() noexcept {
  for (unsigned i = 0; i < count_; ++i) sweep(i);
}

std::uint64_t TaskRegistry::live() const noexcept {
  std::uint64_t total = 0;
  for (unsigned i = 0; i < count_; ++i) {
    std::lock_guard guard(shards_[i].lock);
    for (TaskBlock* task = shards_[i].head; task; task = task->reg_next)
      if (!task->has(kDone)) ++total;
  }
  return total;
}

std::vector<TaskRef> TaskRegistry::snapshot() const {
  std::vector<TaskRef> tasks;
  for (unsigned i = 0; i < count_; ++i) {
    std::lock_guard guard(shards_[i].lock);
    for (TaskBlock* task = shards_[i].head; task; task = task->reg_next)
      if (!task->has(kDone)) tasks.emplace_back(task);
  }
  return tasks;
}

}  // namespace weft::detail
