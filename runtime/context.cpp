// ContextVar and FiberLocal storage (weft/context.hpp). The "current" context is the running
// task's: the fiber's on a worker, the job's on a pool thread, else the plain thread's own.
#include "runtime/context.hpp"

#include <algorithm>
#include <atomic>
#include <functional>

#include <weft/context.hpp>

#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

TaskBlock* current_job() noexcept;  // runtime/blocking_job.cpp

namespace {

// Destroys fiber-locals the way thread_locals go at thread exit, newest first. Moved out
// before destroying: a destructor may use fiber-locals again (which makes a new store,
// destroyed in the next round).
void destroy_locals(std::unique_ptr<FiberLocalStore>& locals) noexcept {
  while (locals) {
    std::unique_ptr<FiberLocalStore> doomed = std::move(locals);
    doomed.reset();
  }
}

// Context ids for Token checks and fiber-local keys: one process-wide counter, never reused
// (task ids are per runtime, and block addresses are recycled).
std::uint64_t next_context_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t context_id_of(TaskBlock* task) noexcept {
  if (task->context_id == 0) task->context_id = next_context_id();
  return task->context_id;
}

// A plain thread's context and fiber-locals (or a worker thread's outside any task).
struct ThreadContext {
  std::shared_ptr<const ContextMap> context;
  std::unique_ptr<FiberLocalStore> locals;
  const std::uint64_t id = next_context_id();
  ThreadContext() = default;
  ThreadContext(const ThreadContext&) = delete;
  ThreadContext& operator=(const ThreadContext&) = delete;
  ~ThreadContext() { destroy_locals(locals); }
};

struct CurrentContext {
  std::shared_ptr<const ContextMap>* context;
  std::unique_ptr<FiberLocalStore>* locals;
  TaskBlock* task;  // nullptr: the plain thread's
  std::uint64_t thread_id = 0;
};

CurrentContext current() noexcept {
  if (sched::Worker* worker = sched::current_worker()) {
    if (TaskBlock* task = worker->current_task()) return {&task->context, &task->locals, task};
  }
  if (TaskBlock* job = current_job()) return {&job->context, &job->locals, job};
  thread_local ThreadContext thread;
  return {&thread.context, &thread.locals, nullptr, thread.id};
}

template <class Map>  // ContextMap or const ContextMap
auto find_value(Map& map, std::uint64_t key) {
  return std::ranges::lower_bound(map.values, key, std::less<>{},
                                  [](const auto& entry) { return entry.first; });
}

}  // namespace

std::shared_ptr<const void> context_get(std::uint64_t key) noexcept {
  const std::shared_ptr<const ContextMap>& map = *current().context;
  if (!map) return nullptr;
  const auto it = find_value(*map, key);
  return it != map->values.end() && it->first == key ? it->second : nullptr;
}

std::shared_ptr<const void> context_set(std::uint64_t key, std::shared_ptr<const void> value) {
  std::shared_ptr<const ContextMap>& slot = *current().context;
  // Copy on every write: the old map may be shared with tasks spawned from this one.
  auto map = slot ? std::make_shared<ContextMap>(*slot) : std::make_shared<ContextMap>();
  std::shared_ptr<const void> old;
  const auto it = find_value(*map, key);
  if (it != map->values.end() && it->first == key) {
    old = std::move(it->second);
    if (value)
      it->second = std::move(value);
    else
      map->values.erase(it);
  } else if (value) {
    map->values.emplace(it, key, std::move(value));
  }
  slot = std::move(map);
  return old;
}

std::uint64_t context_owner() noexcept {
  const CurrentContext now = current();
  return now.task ? context_id_of(now.task) : now.thread_id;
}

std::uint64_t new_local_key() noexcept {
  return next_context_id();
}

void* fiber_local_find(std::uint64_t key) noexcept {
  const std::unique_ptr<FiberLocalStore>& store = *current().locals;
  return store ? store->find(key) : nullptr;
}

void* fiber_local_store(std::uint64_t key, void* value, void (*destroy)(void*)) {
  std::unique_ptr<FiberLocalStore>& store = *current().locals;
  if (!store) store = std::make_unique<FiberLocalStore>();
  return store->store(key, value, destroy);
}

FiberLocalStore::~FiberLocalStore() {
  // Newest first, as thread_locals are destroyed in reverse order of construction.
  for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) it->destroy(it->value);
}

void* FiberLocalStore::find(std::uint64_t key) const noexcept {
  for (const Slot& slot : slots_)
    if (slot.key == key) return slot.value;
  return nullptr;
}

void* FiberLocalStore::store(std::uint64_t key, void* value, void (*destroy)(void*)) {
  slots_.push_back({key, value, destroy});
  return value;
}

std::shared_ptr<const ContextMap> context_to_inherit() noexcept {
  return *current().context;
}

void release_task_context(TaskBlock* task) noexcept {
  if (task->locals) {
    // Destructors that wait must not be cut short by a cancel (this function cannot throw);
    // no Timeout scope is open any more once the body has returned.
    ++task->shield_depth;
    destroy_locals(task->locals);
    --task->shield_depth;
  }
  task->context.reset();
}

}  // namespace weft::detail
