#include "runtime/task_registry.hpp"

#include <mutex>

namespace weft::detail {

TaskRegistry::TaskRegistry(unsigned shards)
    : count_(shards), shards_(std::make_unique<Shard[]>(shards)) {}

TaskRegistry::~TaskRegistry() {
  sweep_all();
}

void TaskRegistry::add(TaskBlock* task, unsigned shard) noexcept {
  Shard& s = shards_[shard];
  {
    std::lock_guard guard(s.lock);
    // Ids are unique per runtime: shard index in the low part, a per-shard counter above it.
    task->id = ++s.next_id * count_ + shard;
    task->reg_shard = shard;
    task->reg_prev = nullptr;
    task->reg_next = s.head;
    if (s.head) s.head->reg_prev = task;
    s.head = task;
  }
  if (s.retired_count.load(std::memory_order_relaxed) >= kSweepBatch) sweep(shard, kSweepBatch);
}

void TaskRegistry::unlink_locked(Shard& s, TaskBlock* task) noexcept {
  if (task->reg_prev)
    task->reg_prev->reg_next = task->reg_next;
  else
    s.head = task->reg_next;
  if (task->reg_next) task->reg_next->reg_prev = task->reg_prev;
}

void TaskRegistry::retire(TaskBlock* task, unsigned worker) noexcept {
  Shard& s = shards_[task->reg_shard];
  if (task->reg_shard != worker) {
    TaskBlock* head = s.retired.load(std::memory_order_relaxed);
    do {
      task->next = head;
      // release: the sweeper that takes the stack sees the task's final state.
    } while (!s.retired.compare_exchange_weak(head, task, std::memory_order_release,
                                              std::memory_order_relaxed));
    s.retired_count.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  {
    std::lock_guard guard(s.lock);
    unlink_locked(s, task);
  }
  release(task);
}

bool TaskRegistry::sweep(unsigned shard, std::size_t limit) noexcept {
  Shard& s = shards_[shard];
  if (s.retired_count.load(std::memory_order_relaxed) == 0 || limit == 0) return false;
  TaskBlock* done = nullptr;
  std::size_t count = 0;
  bool more;
  {
    std::lock_guard guard(s.lock);
    // The backlog holds what an earlier, bounded sweep took off the stack and left; refill it
    // from the stack only once it is empty, so each sweep costs O(limit).
    if (!s.backlog) s.backlog = s.retired.exchange(nullptr, std::memory_order_acquire);
    while (s.backlog && count < limit) {
      TaskBlock* task = s.backlog;
      s.backlog = task->next;
      unlink_locked(s, task);
      task->next = done;
      done = task;
      ++count;
    }
    more = s.backlog != nullptr || s.retired.load(std::memory_order_relaxed) != nullptr;
  }
  s.retired_count.fetch_sub(count, std::memory_order_relaxed);
  // Outside the lock: dropping the last reference runs destructors of user code.
  while (done) {
    TaskBlock* next = done->next;
    done->next = nullptr;
    release(done);
    done = next;
  }
  return more;
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
