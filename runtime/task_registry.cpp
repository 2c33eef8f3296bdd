#include "runtime/task_registry.hpp"

#include <cstdio>
#include <mutex>

namespace weft::detail {

TaskRegistry::TaskRegistry(unsigned workers)
    : count_(workers + 1),
      shards_(std::make_unique<Shard[]>(count_)),
      batches_(std::make_unique<WorkerBatches[]>(workers)) {
  for (unsigned w = 0; w < workers; ++w) batches_[w].by_shard = std::make_unique<Batch[]>(count_);
}

TaskRegistry::~TaskRegistry() {
  for (unsigned w = 0; w + 1 < count_; ++w) {
    std::size_t held = 0;
    for (unsigned shard = 0; shard < count_; ++shard)
      for (TaskBlock* task = batches_[w].by_shard[shard].first; task; task = task->next) ++held;
    // Freeing now could run user destructors after the scheduler is gone: leak instead, and say
    // so (a worker that stops always releases its batches first).
    if (held != 0)
      std::fprintf(stderr, "weft: internal error: worker %u stopped holding %zu finished tasks\n",
                   w, held);
  }
}

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
    WorkerBatches& mine = batches_[worker];
    Batch& batch = mine.by_shard[task->reg_shard];
    task->next = batch.first;
    batch.first = task;
    if (++mine.held >= kReleaseBatch) release_batches(worker);
    return;
  }
  {
    std::lock_guard guard(s.lock);
    unlink_locked(s, task);
  }
  release(task);
}

void TaskRegistry::release_batch(Batch& batch, Shard& s) noexcept {
  TaskBlock* done = batch.first;
  batch = Batch{};
  {
    std::lock_guard guard(s.lock);
    for (TaskBlock* task = done; task; task = task->next) unlink_locked(s, task);
  }
  // Outside the lock: dropping the last reference runs destructors of user code.
  while (done) {
    TaskBlock* next = done->next;
    done->next = nullptr;
    release(done);
    done = next;
  }
}

bool TaskRegistry::release_batches(unsigned worker) noexcept {
  WorkerBatches& mine = batches_[worker];
  if (mine.held == 0) return false;
  mine.held = 0;  // before any destructor runs: one may finish and retire more tasks
  for (unsigned shard = 0; shard < count_; ++shard)
    if (mine.by_shard[shard].first) release_batch(mine.by_shard[shard], shards_[shard]);
  return true;
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
