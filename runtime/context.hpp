#pragma once
// What a task carries for weft/context.hpp: its context (ContextVar values) and its
// fiber-local values. Both hang off the TaskBlock, so they move with the task between workers.
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace weft::detail {

class TaskBlock;

// ContextVar values, sorted by key. Immutable once shared: set() makes a new map, so a
// spawned task can share its spawner's map until either side changes something.
struct ContextMap {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const void>>> values;
};

// FiberLocal values of one task (or plain thread), each with its deleter.
class FiberLocalStore {
 public:
  FiberLocalStore() = default;
  FiberLocalStore(const FiberLocalStore&) = delete;
  FiberLocalStore& operator=(const FiberLocalStore&) = delete;
  ~FiberLocalStore();

  [[nodiscard]] void* find(std::uint64_t key) const noexcept;
  void* store(std::uint64_t key, void* value, void (*destroy)(void*));

 private:
  struct Slot {
    std::uint64_t key;
    void* value;
    void (*destroy)(void*);
  };
  std::vector<Slot> slots_;
};

// The calling task's context, for a task being spawned or a job being submitted from it
// (empty outside any task: the plain thread's own context).
[[nodiscard]] std::shared_ptr<const ContextMap> context_to_inherit() noexcept;
// A task or job whose body has returned: its fiber-locals are destroyed (on its own fiber or
// pool thread, as thread_locals are at thread exit) and its context let go.
void release_task_context(TaskBlock* task) noexcept;

}  // namespace weft::detail
