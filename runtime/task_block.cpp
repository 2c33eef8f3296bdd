// The life of a task block: allocation, scheduling, completion and release. Awaiting and
// cancellation live in task_wait.cpp.
#include "sched/task_block.hpp"

#include <boost/context/fiber.hpp>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include <weft/errors.hpp>
#include <weft/task.hpp>

#include "runtime/context.hpp"
#include "runtime/runtime_core.hpp"
#include "runtime/task_group.hpp"
#include "sched/block_cache.hpp"
#include "sched/current.hpp"
#include "sched/fiber.hpp"
#include "sched/worker.hpp"

namespace weft::detail {
namespace {

std::size_t body_offset(std::size_t body_align) noexcept {
  const std::size_t align = body_align > alignof(TaskBlock) ? body_align : alignof(TaskBlock);
  return (sizeof(TaskBlock) + align - 1) / align * align;
}

void report_unretrieved(TaskBlock* block) noexcept {
  if (block->kind == BlockKind::promise || !block->extras || !block->extras->sink) return;
  const std::uint32_t flags = block->flags.load(std::memory_order_acquire);
  if (!(flags & kFailed) || (flags & kRetrieved)) return;
  try {
    block->extras->sink->report({name_of(block), block->error});
  } catch (...) {
    // Reporting must not take the process down while a block is being freed.
  }
}

}  // namespace

TaskExtras& TaskBlock::extras_locked() {
  if (!extras) extras = std::make_unique<TaskExtras>();
  return *extras;
}

TaskBlock* allocate_block(std::size_t body_size, std::size_t body_align, BlockKind kind,
                          void** body_memory) {
  const std::size_t offset = body_offset(body_align);
  const std::size_t size = offset + body_size;
  const std::size_t align = body_align > alignof(TaskBlock) ? body_align : alignof(TaskBlock);
  unsigned size_class = 0;
  void* memory = sched::allocate_block_memory(size, align, size_class);
  // Default-initialised: every member has its initializer. `TaskBlock()` would zero the whole
  // block first (a `rep stos` of ~240 bytes, 15% of chained_spawn's profile).
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): this is the allocator
  auto* block = ::new (memory) TaskBlock;
  block->kind = kind;
  block->size_class = size_class;
  block->alloc_size = static_cast<std::uint32_t>(size);
  block->alloc_align = static_cast<std::uint32_t>(align);
  *body_memory = static_cast<std::byte*>(memory) + offset;
  return block;
}

void attach_body(TaskBlock* block, TaskBody* body) noexcept {
  block->body = body;
}

void free_block(TaskBlock* block) noexcept {
  report_unretrieved(block);
  if (block->body) block->body->destroy();
  const std::size_t align = block->alloc_align;
  const unsigned size_class = block->size_class;
  block->~TaskBlock();
  sched::free_block_memory(block, align, size_class);
}

void discard_block(TaskBlock* block) noexcept {
  free_block(block);
}

void retain(TaskBlock* block) noexcept {
  block->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(TaskBlock* block) noexcept {
  // acq_rel: the last owner sees every write the others made before dropping theirs.
  if (block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) free_block(block);
}

TaskBody* body_of(TaskBlock* block) noexcept {
  return block->body;
}

TaskBlock* schedule_new(TaskBlock* block, Runtime* runtime, const SpawnOptions& options) {
  RuntimeCore* core = nullptr;
  if (runtime) {
    core = &runtime->core();
  } else if (sched::Worker* worker = sched::current_worker()) {
    core = &worker->scheduler().owner;
  } else {
    release(block);
    throw std::logic_error(
        "weft::spawn must be called from a weft fiber; from other threads use Runtime::spawn");
  }
  if (core->stopped()) {
    release(block);
    throw InvalidStateError("weft: cannot spawn on a runtime that has been shut down");
  }
  block->runtime = core;
  if (!options.fresh_context) block->context = context_to_inherit();
  if (!options.name.empty()) block->extras_locked().name = std::string(options.name);
  if (options.group) {
    try {
      group_adopt(options.group, block);
    } catch (...) {
      release(block);
      throw;
    }
  }
  // Two references: the handle's, and the scheduler's, which the registry holds.
  block->refs.store(2, std::memory_order_relaxed);
  core->registry.add(block, core->spawn_shard());
  // A runtime that is closing cancels new tasks before they run (they never take a stack).
  if (core->closing()) block->flags.fetch_or(kCancelRequested, std::memory_order_relaxed);
  sched::Worker* worker = options.eager ? sched::current_worker() : nullptr;
  if (worker && worker->current_task() && &worker->scheduler() == &core->scheduler())
    worker->run_now(block);
  else
    core->scheduler().schedule(block);
  return block;
}

void finish_block(TaskBlock* block) noexcept {
  std::vector<std::pair<std::uint64_t, std::function<void(TaskRef)>>> callbacks;
  {
    std::lock_guard guard(block->done_waiters.lock());
    // release (within the lock and the flag): the result and error are published to whoever
    // sees kDone.
    block->flags.fetch_or(kDone, std::memory_order_acq_rel);
    block->done_waiters.notify_all();
    if (block->extras) callbacks.swap(block->extras->callbacks);
  }
  for (auto& [id, callback] : callbacks) {
    try {
      callback(TaskRef(block));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "weft: a done callback of %s threw: %s\n", name_of(block).c_str(),
                   error.what());
    } catch (...) {
      std::fprintf(stderr, "weft: a done callback of %s threw\n", name_of(block).c_str());
    }
  }
  // Last: the group may be joined (and freed) as soon as it hears of its final child.
  if (block->group) group_child_done(block);
}

void run_task_body(TaskBlock* task) {
  task->flags.fetch_or(kStarted, std::memory_order_relaxed);
  try {
    // A cancellation requested after the body's last suspension point is never delivered: the
    // body's result stands. (asyncio would cancel the task at its next step; with several
    // workers the body may already have consumed a value — say, a queue item — that would
    // then be lost with it.)
    task->body->run();
  } catch (const boost::context::detail::forced_unwind&) {
    throw;
  } catch (const CancelledError&) {
    task->error = std::current_exception();
    task->flags.fetch_or(kCancelled, std::memory_order_relaxed);
  } catch (...) {
    task->error = std::current_exception();
    {
      std::lock_guard guard(task->done_waiters.lock());
      task->extras_locked().sink = task->runtime->sink;
    }
    task->flags.fetch_or(kFailed, std::memory_order_relaxed);
  }
  release_task_context(task);
  finish_block(task);
}

void finish_unstarted(TaskBlock* task, std::exception_ptr error) noexcept {
  if (error) {
    task->error = std::move(error);
    task->flags.fetch_or(kStarted | kFailed, std::memory_order_relaxed);
  } else {
    std::string message;
    {
      std::lock_guard guard(task->done_waiters.lock());
      if (task->extras) message = task->extras->cancel_message;
    }
    task->error = std::make_exception_ptr(CancelledError(std::move(message)));
    task->flags.fetch_or(kStarted | kCancelled, std::memory_order_relaxed);
  }
  if (task->body) task->body->discard();
  task->context.reset();  // it never ran: nothing else touches its context
  finish_block(task);
}

void report_stack_overflow(TaskBlock* task) noexcept {
  std::fprintf(stderr,
               "weft: fatal: the stack of task '%s' overflowed (its canary was overwritten); "
               "raise Config::stack_size\n",
               name_of(task).c_str());
  std::abort();
}

bool is_done(const TaskBlock* block) noexcept {
  return block->has(kDone);
}

bool is_cancelled(const TaskBlock* block) noexcept {
  return (block->flags.load(std::memory_order_acquire) & (kDone | kCancelled)) ==
         (kDone | kCancelled);
}

bool is_failed(const TaskBlock* block) noexcept {
  return (block->flags.load(std::memory_order_acquire) & (kDone | kFailed)) == (kDone | kFailed);
}

std::string name_of(const TaskBlock* block) {
  auto* mutable_block = const_cast<TaskBlock*>(block);
  std::lock_guard guard(mutable_block->done_waiters.lock());
  if (block->extras && !block->extras->name.empty()) return block->extras->name;
  const char* prefix = block->kind == BlockKind::promise ? "Future-"
                       : block->kind == BlockKind::job   ? "Job-"
                                                         : "Task-";
  return prefix + std::to_string(block->id);
}

void set_name(TaskBlock* block, std::string name) {
  std::lock_guard guard(block->done_waiters.lock());
  block->extras_locked().name = std::move(name);
}

unsigned long long id_of(const TaskBlock* block) noexcept {
  return block->id;
}

std::uint64_t add_done_callback(TaskBlock* block, std::function<void(TaskRef)> callback) {
  std::uint64_t id = 0;
  {
    std::lock_guard guard(block->done_waiters.lock());
    TaskExtras& extras = block->extras_locked();
    id = ++extras.last_callback_id;
    if (!block->has(kDone)) {
      extras.callbacks.emplace_back(id, std::move(callback));
      return id;
    }
  }
  callback(TaskRef(block));
  return id;
}

bool remove_done_callback(TaskBlock* block, std::uint64_t id) noexcept {
  std::lock_guard guard(block->done_waiters.lock());
  if (!block->extras) return false;
  auto& callbacks = block->extras->callbacks;
  for (auto it = callbacks.begin(); it != callbacks.end(); ++it) {
    if (it->first == id) {
      callbacks.erase(it);
      return true;
    }
  }
  return false;
}

void begin_set(TaskBlock* block) {
  if (block->flags.fetch_or(kSetBegun, std::memory_order_acq_rel) & kSetBegun)
    throw InvalidStateError("weft::Promise: already satisfied");
}

void complete_value(TaskBlock* block) noexcept {
  finish_block(block);
}

void complete_exception(TaskBlock* block, std::exception_ptr error) noexcept {
  block->error = std::move(error);
  block->flags.fetch_or(kFailed, std::memory_order_relaxed);
  finish_block(block);
}

}  // namespace weft::detail
