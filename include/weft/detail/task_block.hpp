#pragma once
// The boundary between weft's public templates and its engine. A task (and a promise's shared
// state) is one TaskBlock allocated by the engine with a typed TaskBody placed right after it;
// templates only see the body and call the exported functions below.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "weft/export.hpp"

namespace weft {
class Runtime;
class TaskRef;
}  // namespace weft

namespace weft::detail {

class TaskBlock;  // private: sched/task_block.hpp

// The typed part of a task: the callable and where its result goes.
class TaskBody {
 public:
  TaskBody() = default;
  TaskBody(const TaskBody&) = delete;
  TaskBody& operator=(const TaskBody&) = delete;
  // Runs the callable on the task's fiber and stores its result; exceptions propagate to the
  // engine. Called at most once.
  virtual void run() = 0;
  // Destroys the body in place (the engine owns the memory).
  virtual void destroy() noexcept = 0;
  // Releases the callable of a task that will never run (cancelled before it started), so
  // what it captured does not live as long as the last handle.
  virtual void discard() noexcept {}

 protected:
  ~TaskBody() = default;
};

// A body that can hold a T (std::monostate-like for void).
template <class T>
class TypedBody : public TaskBody {
 public:
  template <class... A>
  void emplace(A&&... args) {
    ::new (static_cast<void*>(&storage_)) T(std::forward<A>(args)...);
    has_value_ = true;
  }
  T& value() noexcept { return *std::launder(reinterpret_cast<T*>(&storage_)); }
  bool has_value() const noexcept { return has_value_; }

 protected:
  ~TypedBody() {
    if (has_value_) value().~T();
  }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
  bool has_value_ = false;
};

template <>
class TypedBody<void> : public TaskBody {
 public:
  void emplace() noexcept { has_value_ = true; }
  bool has_value() const noexcept { return has_value_; }

 protected:
  ~TypedBody() = default;

 private:
  bool has_value_ = false;
};

template <class F>
using TaskResultOf = std::invoke_result_t<std::decay_t<F>&>;

// A spawned callable. The callable is destroyed as soon as it has run (on the task's fiber), so
// whatever it captured is released when the task finishes, not when the last handle goes.
template <class F, class T>
class SpawnBody final : public TypedBody<T> {
 public:
  explicit SpawnBody(F&& fn) { ::new (static_cast<void*>(&fn_)) F(std::move(fn)); }
  explicit SpawnBody(const F& fn) { ::new (static_cast<void*>(&fn_)) F(fn); }
  void run() override {
    struct DropFn {
      SpawnBody* self;
      ~DropFn() { self->drop_fn(); }
    } drop{this};
    if constexpr (std::is_void_v<T>) {
      std::invoke(fn());
      this->emplace();
    } else {
      this->emplace(std::invoke(fn()));
    }
  }
  void destroy() noexcept override { this->~SpawnBody(); }
  void discard() noexcept override { drop_fn(); }

 private:
  ~SpawnBody() { drop_fn(); }
  F& fn() noexcept { return *std::launder(reinterpret_cast<F*>(&fn_)); }
  void drop_fn() noexcept {
    if (alive_) {
      alive_ = false;
      fn().~F();
    }
  }
  alignas(F) unsigned char fn_[sizeof(F)];
  bool alive_ = true;
};

// A promise's shared state: never runs.
template <class T>
class PromiseBody final : public TypedBody<T> {
 public:
  void run() override {}
  void destroy() noexcept override { this->~PromiseBody(); }

 private:
  ~PromiseBody() = default;
};

// task: runs on a fiber; promise: a Promise's shared state; job: runs on the blocking pool.
enum class BlockKind : unsigned char { task, promise, job };

class GroupCore;  // private: runtime/task_group.hpp

struct SpawnOptions {
  std::string_view name{};
  // Run the new task at once on the calling worker until its first suspension (asyncio's
  // eager_task_factory); the spawner continues right after. Ignored outside a fiber.
  bool eager = false;
  // The TaskGroup the task belongs to (its failure cancels its siblings, join() waits for it).
  GroupCore* group = nullptr;
  // Start with no ContextVar values instead of a copy of the spawner's.
  bool fresh_context = false;
};

// Allocation: returns the block and, through body_memory, where to construct the body.
[[nodiscard]] WEFT_API TaskBlock* allocate_block(std::size_t body_size, std::size_t body_align,
                                                 BlockKind kind, void** body_memory);
// Attaches the constructed body; the block owns it from here on.
WEFT_API void attach_body(TaskBlock* block, TaskBody* body) noexcept;
// Frees a block whose body could not be constructed.
WEFT_API void discard_block(TaskBlock* block) noexcept;

template <class Body, class... A>
[[nodiscard]] TaskBlock* make_block(BlockKind kind, A&&... args) {
  void* memory = nullptr;
  TaskBlock* block = allocate_block(sizeof(Body), alignof(Body), kind, &memory);
  Body* body;
  try {
    body = ::new (memory) Body(std::forward<A>(args)...);
  } catch (...) {
    discard_block(block);
    throw;
  }
  attach_body(block, body);
  return block;
}

// Scheduling. runtime == nullptr means the runtime of the calling fiber (std::logic_error
// outside a fiber). Takes over the caller's reference for the scheduler and returns the block
// with one reference for the handle.
WEFT_API TaskBlock* schedule_new(TaskBlock* block, Runtime* runtime, const SpawnOptions& options);

WEFT_API void retain(TaskBlock* block) noexcept;
WEFT_API void release(TaskBlock* block) noexcept;
[[nodiscard]] WEFT_API TaskBody* body_of(TaskBlock* block) noexcept;

// Parks the calling fiber (or blocks a plain thread) until the block is done. Throws
// CancelledError if the waiting fiber is cancelled meanwhile (the block is unaffected).
WEFT_API void await_done(TaskBlock* block);
// After done: rethrows the block's exception (CancelledError for a cancelled task) and marks
// it retrieved. Throws InvalidStateError if not done.
WEFT_API void rethrow_if_failed(TaskBlock* block);
// get(): the one-time retrieval; throws InvalidStateError on a second call.
WEFT_API void claim_result(TaskBlock* block);
[[nodiscard]] WEFT_API bool is_done(const TaskBlock* block) noexcept;
[[nodiscard]] WEFT_API bool is_cancelled(const TaskBlock* block) noexcept;
// Done with an exception other than CancelledError.
[[nodiscard]] WEFT_API bool is_failed(const TaskBlock* block) noexcept;
// exception(): nullptr for success; throws CancelledError if cancelled, InvalidStateError if
// not done.
[[nodiscard]] WEFT_API std::exception_ptr exception_of(TaskBlock* block);

WEFT_API bool cancel(TaskBlock* block, std::string message);
// asyncio's Task.cancelling() / Task.uncancel(): cancel() requests not yet taken back. uncancel()
// returns what is left; at zero a cancellation not yet delivered is withdrawn.
[[nodiscard]] WEFT_API unsigned cancelling(const TaskBlock* block) noexcept;
WEFT_API unsigned uncancel(TaskBlock* block) noexcept;
// Task::get()'s wait: like await_done, but if the awaiting fiber is cancelled meanwhile, the
// awaited task is cancelled too and waited for (asyncio's `await task`); then CancelledError if
// it ended cancelled, else its outcome is left for get() and the awaiter's cancellation stays
// pending until its next suspension point.
WEFT_API void await_task(TaskBlock* block);
// Parks until done and ignores cancellation of the waiting fiber (cleanup waits).
WEFT_API void await_done_uncancellable(TaskBlock* block) noexcept;
[[nodiscard]] WEFT_API std::string name_of(const TaskBlock* block);
WEFT_API void set_name(TaskBlock* block, std::string name);
[[nodiscard]] WEFT_API unsigned long long id_of(const TaskBlock* block) noexcept;
// Runs callback(task) when the block is done (at once, on the caller, if it already is).
// Returns an id for remove_done_callback (ids are never 0).
WEFT_API std::uint64_t add_done_callback(TaskBlock* block, std::function<void(TaskRef)> callback);
// Removes a callback that has not run yet; false if it ran already or the id is unknown.
WEFT_API bool remove_done_callback(TaskBlock* block, std::uint64_t id) noexcept;

// Executor pools (weft/executor.hpp): queues a job block (one reference for the pool, one
// returned for the handle) on one of the runtime's pools: the blocking pool parks the calling
// fiber while its queue is full; the CPU pool (oneTBB) never does. runtime == nullptr: the
// calling fiber's runtime.
enum class JobPool : unsigned char { blocking, cpu };
WEFT_API TaskBlock* submit_job(TaskBlock* block, Runtime* runtime, JobPool pool);
// On a pool thread (either pool): whether the job running there has been cancelled.
[[nodiscard]] WEFT_API bool current_job_cancelled() noexcept;

// Promise side: store then complete. Throws InvalidStateError if already completed.
WEFT_API void begin_set(TaskBlock* block);
WEFT_API void complete_value(TaskBlock* block) noexcept;
WEFT_API void complete_exception(TaskBlock* block, std::exception_ptr error) noexcept;

}  // namespace weft::detail
