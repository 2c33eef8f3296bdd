#pragma once
// The engine's record of one task (or of one promise's shared state). Allocated with its typed
// body right behind it (see weft/detail/task_block.hpp); reference counted: the handle holds one
// reference, the scheduler one while the task is unfinished.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sched/waiter.hpp"
#include "sync/wait_list.hpp"
#include "weft/detail/task_block.hpp"

namespace weft {
class TaskRef;
}

namespace weft::sched {
class Fiber;
}

namespace weft::detail {

class RuntimeCore;
class ExceptionSink;
struct DeadlineScope;
struct ContextMap;      // runtime/context.hpp
class FiberLocalStore;  // runtime/context.hpp

// wake_state protocol between a parking fiber, its scheduler and a waker (one winner per park):
//   the scheduler sets running before it resumes the fiber;
//   after the fiber has switched out, the scheduler exchanges in parked: if it finds notified,
//     the wake came before the switch finished and the scheduler requeues the task itself;
//   a waker exchanges in notified: if it finds parked, the fiber is fully switched out and the
//     waker queues it; if it finds running, the scheduler will see notified.
enum class WakeState : std::uint32_t { running, parked, notified };

enum TaskFlag : std::uint32_t {
  kStarted = 1u << 0,
  kDone = 1u << 1,
  kCancelled = 1u << 2,        // finished by a CancelledError
  kFailed = 1u << 3,           // finished by another exception
  kRetrieved = 1u << 4,        // someone looked at the exception
  kClaimed = 1u << 5,          // get() was called
  kSetBegun = 1u << 6,         // a promise is being satisfied
  kCancelRequested = 1u << 7,  // cancel() pending delivery at the next suspension point
};

// Fields few tasks use, allocated on first use under the block's lock.
// How cancel() reaches into a running job's own machinery: for a CPU job, its oneTBB task
// group, so that the parallel algorithms inside stop taking new pieces and this_job::cancelled()
// turns true on the oneTBB threads that help it. Called under the job's lock, and only while
// installed (runtime/blocking_job.cpp).
struct JobCancelHook {
  void (*cancel)(void* target) noexcept = nullptr;
  void* target = nullptr;
  // Set once it has been called: what it cancelled stays cancelled (a oneTBB task group cannot
  // be reset), so the job ends cancelled even if uncancel() withdraws the request.
  bool fired = false;

  // Calls it once; nothing without a hook.
  void fire() noexcept {
    if (!cancel || fired) return;
    fired = true;
    cancel(target);
  }
};

struct TaskExtras {
  std::string name;
  std::string cancel_message;
  std::vector<std::pair<std::uint64_t, std::function<void(TaskRef)>>> callbacks;
  std::uint64_t last_callback_id = 0;
  std::shared_ptr<ExceptionSink> sink;  // set when the task failed, for the never-retrieved report
  JobCancelHook cancel_hook;            // while a CPU job runs
  std::vector<void*> park_trace;        // debug mode: return addresses where it last parked
};

class TaskBlock {
 public:
  // --- what every switch, park and wake reads, in the block's first cache line (blocks are
  // allocated on a line: sched/block_cache.hpp) ---
  sched::Fiber* fiber = nullptr;
  std::atomic<WakeState> wake_state{WakeState::running};
  std::atomic<std::uint32_t> flags{0};
  // The wait a cancel() must fire. Whoever exchanges it out (the task when it resumes, or a
  // canceller) owns the pointer; a canceller that took it sets Waiter::canceller_done when it
  // has finished touching the Waiter, and the task waits for that before leaving the wait.
  std::atomic<sched::Waiter*> waiter{nullptr};
  std::atomic<const char*> waiting_on{nullptr};  // what a parked task waits for (dump_tasks)
  // Timeout scopes (runtime/deadline_scope): the earliest deadline among those not expired yet
  // (UINT64_MAX: none); `scope`, further down, is the innermost one open on this task. Only the
  // task's own fiber touches them.
  std::uint64_t scope_deadline = UINT64_MAX;
  RuntimeCore* runtime = nullptr;
  // Open weft::uncancellable() sections: while > 0, waits ignore cancel() and scope deadlines
  // (they take effect at the first suspension point after). Own fiber only.
  std::uint32_t shield_depth = 0;
  // cancel() requests not yet taken back by uncancel() (asyncio's Task.cancelling()).
  std::atomic<std::uint32_t> cancel_requests{0};
  TaskBlock* next = nullptr;  // link in the injection queue

  DeadlineScope* scope = nullptr;
  // TaskGroup membership (guarded by the group's lock): the group, and the links of its list
  // of unfinished children.
  GroupCore* group = nullptr;
  TaskBlock* group_prev = nullptr;
  TaskBlock* group_next = nullptr;
  // ContextVar values (a copy of the spawner's, shared until either side sets one) and
  // FiberLocal values. Only the task itself touches them once it runs (weft/context.hpp).
  std::shared_ptr<const ContextMap> context;
  std::unique_ptr<FiberLocalStore> locals;
  std::uint64_t context_id = 0;  // for ContextVar tokens, given on first use

  // --- life ---
  std::atomic<std::uint32_t> refs{1};
  TaskBody* body = nullptr;
  std::exception_ptr error;
  sync::WaitList done_waiters;  // its lock also guards extras
  std::unique_ptr<TaskExtras> extras;
  // --- registry (guarded by the registry shard's lock) ---
  TaskBlock* reg_prev = nullptr;
  TaskBlock* reg_next = nullptr;
  unsigned reg_shard = 0;
  unsigned size_class = 0;  // the allocation cache's class, or kUncached
  std::uint32_t alloc_size = 0;
  std::uint32_t alloc_align = 0;
  std::uint64_t id = 0;
  BlockKind kind = BlockKind::task;

  [[nodiscard]] bool has(TaskFlag f) const noexcept {
    return (flags.load(std::memory_order_acquire) & f) != 0;
  }
  TaskExtras& extras_locked();  // caller holds done_waiters.lock()
};
// The switch path's fields, `fiber` through `next`, fill the first cache line exactly.
static_assert(offsetof(TaskBlock, next) + sizeof(TaskBlock*) == 64);

// Debug mode: the parking task records its call stack, for Runtime::dump_tasks()
// (runtime/park_trace.cpp).
void record_park_trace(TaskBlock* task) noexcept;
// What record_park_trace kept, symbolized: one frame per line, each starting with `indent`;
// empty if nothing was recorded.
[[nodiscard]] std::string park_trace_text(TaskBlock* task, std::string_view indent);

// Runs a started task's body on its fiber and completes the block. Lets only Boost's
// forced_unwind through (a fiber being destroyed at shutdown).
void run_task_body(TaskBlock* task);
// Marks the block done, wakes its waiters and runs its callbacks. Used by run_task_body and
// by promises; finishing a task without running it (cancelled before start) too.
void finish_block(TaskBlock* block) noexcept;
// The scheduler is done with a finished task (its fiber has switched out for good), on worker
// `worker`: the registry lets go of it now if that worker spawned it, else with the next batch
// of such tasks that worker releases (runtime/task_registry).
void retire(TaskBlock* task, unsigned worker) noexcept;
// Lets go of the tasks `worker` retired for other workers and still holds: when it goes idle
// and when it stops, so no finished task waits on a worker that is not running. Returns whether
// there were any.
bool release_retired(RuntimeCore& runtime, unsigned worker) noexcept;
// What every suspension point does, for calls that do not always suspend (file I/O): throws
// CancelledError for a pending cancel() or an expired Timeout scope, unless uncancellable.
void cancellation_point(TaskBlock* task);
// Finishes a task that never ran: cancelled (with its cancel() message), or failed with
// `error` if one is given (a job no pool thread could be started for).
void finish_unstarted(TaskBlock* task, std::exception_ptr error = nullptr) noexcept;
// Throws CancelledError if the task has a cancellation pending, consuming it.
void deliver_pending_cancel(TaskBlock* task);
// Throws the CancelledError of a delivered cancellation (the wait it cut short is left).
[[noreturn]] void throw_cancelled(TaskBlock* task);
// Records one more cancel() request and delivers it to the task's wait, if it has one. With
// keep_message, a message already pending is not replaced. False if the task is done.
bool request_cancel(TaskBlock* block, std::string_view message, bool keep_message) noexcept;
// A blocking-pool job that has not started is finished as cancelled at once.
void cancel_unstarted_job(TaskBlock* job) noexcept;
// The message of the task's last cancel() (empty if none).
[[nodiscard]] std::string cancel_message_of(TaskBlock* task);
// A stack's canary was overwritten: names the task and aborts.
[[noreturn]] void report_stack_overflow(TaskBlock* task) noexcept;

}  // namespace weft::detail
