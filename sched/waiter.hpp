#pragma once
// The one way to suspend (DESIGN.md rule 1). A fiber that waits puts a Waiter (on its own
// stack) where a waker can find it, then parks. Exactly one of completion, timeout or
// cancellation wins the Waiter with a compare-and-swap and makes the task runnable again; the
// losers do nothing. A plain thread can wait on a Waiter too: it blocks on the state word.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

class Scheduler;
class Worker;

enum class WakeReason : std::uint32_t { armed = 0, notified, timed_out, cancelled };

class Waiter {
 public:
  // A relay waiter wakes no one itself: firing it calls relay(waiter, why) instead, which
  // passes the news on (gather/wait/as_completed watch many tasks through one waiter each and
  // wake their own task at most once). It runs under the lock of the list that fired it.
  using Relay = void (*)(Waiter& waiter, WakeReason why) noexcept;

  // task == nullptr: a plain-thread waiter.
  explicit Waiter(detail::TaskBlock* task) noexcept : task_(task) {}
  Waiter(std::nullptr_t no_task, Relay relay) noexcept : task_(no_task), relay_(relay) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Tries to be the one winner. On success the waiting task is made runnable (or the thread
  // woken) and true is returned. The caller must not touch the Waiter after a successful fire
  // unless it holds the lock the waiter's owner takes before it returns (see WaitList).
  bool fire(WakeReason why) noexcept;
  // Wins the waiter without waking anyone: for the waiting task itself, before it parks.
  bool claim(WakeReason why) noexcept {
    WakeReason expected = WakeReason::armed;
    return state_.compare_exchange_strong(expected, why, std::memory_order_acq_rel);
  }
  [[nodiscard]] WakeReason reason() const noexcept {
    return state_.load(std::memory_order_acquire);
  }
  [[nodiscard]] detail::TaskBlock* task() const noexcept { return task_; }
  // Asks the CPU to bring in the word fire() claims. A timer fires waiters that sit on the
  // stacks of fibers parked for a while: each is a cache and TLB miss, which the caller
  // overlaps by announcing a batch before firing it.
  void prefetch_for_fire() const noexcept { __builtin_prefetch(&state_, 1); }
  // For a plain-thread waiter: blocks until fired.
  void block_thread() noexcept;

  // Intrusive links for the wait list that holds this waiter (guarded by that list's lock).
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool linked = false;
  // A queue's direct hand-off (detail::QueueCore): the slot this waiter offers for an item,
  // the scheduler its task runs on (only a fiber of that runtime may hand off; kept here, next
  // to the slot the putter reads anyway, rather than read from the task's block, a line the
  // putter would otherwise miss on), and whether the putter that claimed it (under the queue's
  // lock) filled the slot.
  bool handed = false;
  // Set by a timed wait that could not arm its timer (out of memory) and so ended timed out
  // at once, before its deadline (io::park_until).
  bool timer_failed = false;
  void* handoff = nullptr;
  const Scheduler* handoff_scheduler = nullptr;
  // Set by a canceller that took this waiter from its task (see TaskBlock::waiter).
  std::atomic<bool> canceller_done{false};

 private:
  std::atomic<WakeReason> state_{WakeReason::armed};
  detail::TaskBlock* task_;
  Relay relay_ = nullptr;
};

// Whether cancel() may cut a wait short. Cleanup waits (a gather waiting for the children it
// just cancelled, a TaskGroup joining in its destructor) are not: they must see the end.
enum class Cancellable : bool { no, yes };

// Parks the current fiber on `waiter` until something fires it, and returns why. The waiter
// must already be reachable by its wakers. If the task has a cancellation pending, the wait is
// fired as cancelled at once (unless `cancellable` is no: then cancel() does not see this
// wait). Outside a fiber: std::logic_error.
WakeReason park(Waiter& waiter, const char* what, Cancellable cancellable = Cancellable::yes);
// park() for a caller that has looked up its worker and task already (`task` is `worker`'s
// current task).
WakeReason park_task(Worker& worker, detail::TaskBlock* task, Waiter& waiter, const char* what,
                     Cancellable cancellable);

// Makes a task that was parked (or is just parking) runnable: on the calling worker if it
// belongs to the same runtime, else through its runtime's injection queue.
void wake(detail::TaskBlock* task) noexcept;

}  // namespace weft::sched
