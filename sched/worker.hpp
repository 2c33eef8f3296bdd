#pragma once
// One worker thread: a scheduling loop over its own queues.
//   spawns_  Chase–Lev deque of new tasks: the owner takes the newest (depth-first fork–join),
//            thieves the oldest (the biggest subtrees).
//   ready_   a second deque the owner uses as a FIFO (it takes the oldest too): yields and
//            displaced wake-ups, so a task that keeps yielding cannot starve others.
//   lifo_    the task spawned or woken last by this worker (Go's runnext, tokio's LIFO slot),
//            run next; a woken one at most kMaxLifoStreak times in a row. Not stealable: the
//            task it displaces goes to spawns_ or ready_, where thieves can reach it.
//   reactor_ its event loop (epoll or io_uring) and timers_ its timer heap: the worker sleeps
//            in the reactor until the next timer when it has nothing to run, and polls both
//            every kEventInterval ticks while busy.
// See docs/scheduler.md for how a task moves between these, the global queue and other workers.
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>

#include "io/reactor.hpp"
#include "io/timer_heap.hpp"
#include "sched/current.hpp"
#include "sched/fiber.hpp"
#include "sched/stealable_queue.hpp"
#include "sched/switch_annotations.hpp"

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

class Scheduler;

// What a fiber asked its scheduler to do once it has switched out.
// run_next: it handed the worker to a task it spawned eagerly and runs again as soon as that
// task suspends (from the LIFO slot).
enum class AfterSwitch : std::uint8_t { none, yield, park, finish, run_next };

// Single-writer counters (the owning worker), read by anyone.
struct WorkerCounters {
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> parks{0};
  std::atomic<std::uint64_t> busy_ns{0};

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

class Worker {
 public:
  Worker(Scheduler& scheduler, unsigned index, std::unique_ptr<io::Reactor> reactor);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // --- on this worker's own thread ---
  // A new or woken task runs next; the task it displaces from the LIFO slot is queued.
  void push_next(detail::TaskBlock* task);
  void push_yielded(detail::TaskBlock* task);
  [[nodiscard]] detail::TaskBlock* current_task() const noexcept { return current_; }
  [[nodiscard]] io::TimerHeap& timers() noexcept { return timers_; }
  // On the current task's fiber: switches to the next runnable task of this worker (or to the
  // worker's loop if there is none), after which `why` is carried out for the task that left.
  // Returns when the task is resumed, maybe on another worker: do not use `this` afterwards.
  void suspend_current(AfterSwitch why);
  // On the fiber of a task whose body has returned: ends the task and moves on. If the next
  // task of this worker has not started yet, it runs on this very fiber (the caller's loop
  // finds it in Fiber::task): no switch, and its stack is the one just warm in the cache.
  // Otherwise as suspend_current(AfterSwitch::finish).
  void finish_current();
  // On the current task's fiber: switches straight to the new task `task` (an eager spawn),
  // which runs until it suspends; the current task is resumed next. If `task` cannot start
  // (cancelled already, or no stack to be had), it is left to the scheduler and this returns.
  void run_now(detail::TaskBlock* task);
  // Called first thing by a context that was just switched to: stores the continuation of the
  // context that left and carries out what it asked for.
  void finish_switch(boost::context::fiber&& from) noexcept;

  // --- any thread ---
  [[nodiscard]] bool has_stealable_work() const noexcept;
  [[nodiscard]] std::size_t queued() const noexcept;
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  [[nodiscard]] bool debug() const noexcept { return debug_; }  // Config::debug
  [[nodiscard]] Scheduler& scheduler() const noexcept { return scheduler_; }
  [[nodiscard]] io::Reactor& reactor() const noexcept { return *reactor_; }
  [[nodiscard]] std::size_t cached_fibers() const noexcept {
    return cached_count_.load(std::memory_order_relaxed);
  }
  WorkerCounters counters;
  // Idle fibers a worker moves to or from the runtime's depot at once. It keeps up to two
  // batches at hand: the one it takes from and gives to, and a full spare.
  static constexpr std::size_t kFiberBatch = 64;

 private:
  static constexpr unsigned kMaxLifoStreak = 3;
  // Every this many ticks new spawns go before the FIFO, so endless yielding cannot starve them.
  static constexpr unsigned kSpawnsFirstInterval = 31;
  // An idle worker whose next timer is due within this long waits for it awake (sleep()),
  // if the runtime has no more workers than the process has CPUs (spin_for_timers_).
  static constexpr std::uint64_t kTimerSpinNs = 100'000;
  // Every this many ticks a busy worker collects I/O readiness and expired timers (tokio's
  // event_interval).
  static constexpr unsigned kEventInterval = 61;

  void loop();
  detail::TaskBlock* find_local();
  // find_local's rarer steps: one task from the global queues (every global_interval ticks),
  // and what comes after this worker's FIFO.
  detail::TaskBlock* take_one_global();
  detail::TaskBlock* find_beyond_ready();
  // The owner's takes from its two deques; each prefetches the blocks of the next two tasks.
  detail::TaskBlock* take_ready();
  detail::TaskBlock* take_spawn();
  detail::TaskBlock* take_global();
  // A fair share of one of the scheduler's global queues: `resumed` (woken tasks, into ready_)
  // or `injection` (new tasks, into spawns_).
  enum class GlobalSource : std::uint8_t { resumed, injection };
  detail::TaskBlock* take_global_from(GlobalSource source);
  detail::TaskBlock* search();
  detail::TaskBlock* steal_from(Worker& victim);
  void sleep();
  // Without blocking: delivers I/O readiness and fires expired timers.
  void poll_events();
  void expire_due_timers();
  // Readies a task to be switched to (gives it a fiber); false if it ended without running.
  bool prepare(detail::TaskBlock* task);
  bool prepare_first_run(detail::TaskBlock* task);  // gives the task a fiber
  // A task cancelled before it ever ran finishes here, without taking a fiber; true if it did.
  bool end_if_cancelled_unstarted(detail::TaskBlock* task);
  // Records what the context switched to carries out for `task`, which leaves now with its
  // fiber (finish_switch), and jumps to `target`.
  void switch_away(detail::TaskBlock* task, AfterSwitch why, Fiber* target);
  // Switches from the context running now to `target` (nullptr: the loop) in one jump.
  void switch_to(Fiber* target);
  Fiber* next_local_fiber();
  void warn_if_slow(detail::TaskBlock* task, std::uint64_t ran_ns) const;
  void report_stack_shortage(const std::exception& error);
  void bump_yield_sequence() noexcept;
  void pin_to_core() const;
  void push_or_spill(StealableQueue<detail::TaskBlock>& queue, detail::TaskBlock* task);
  // push_or_spill's rare case: `queue` is full.
  void spill_and_push(StealableQueue<detail::TaskBlock>& queue, detail::TaskBlock* task);
  void push_displaced(detail::TaskBlock* task);
  Fiber* acquire_fiber();
  void recycle_fiber(Fiber* fiber);
  void drop_cached_fibers() noexcept;
  void publish_cached_count() noexcept;

  Scheduler& scheduler_;
  const unsigned index_;
  StealableQueue<detail::TaskBlock> spawns_;
  StealableQueue<detail::TaskBlock> ready_;
  detail::TaskBlock* lifo_ = nullptr;
  unsigned lifo_streak_ = 0;
  const unsigned global_interval_;
  unsigned global_countdown_;
  unsigned spawns_countdown_ = kSpawnsFirstInterval;
  unsigned event_countdown_ = kEventInterval;
  const bool debug_;  // Config::debug, read on every switch
  std::unique_ptr<io::Reactor> reactor_;
  io::TimerHeap timers_;
  std::uint64_t rng_;
  bool searching_ = false;
  detail::TaskBlock* current_ = nullptr;
  // The switch in flight: the context that left (nullptr: the loop), its task and its request.
  Fiber* prev_fiber_ = nullptr;
  detail::TaskBlock* prev_task_ = nullptr;
  AfterSwitch after_switch_ = AfterSwitch::none;
  boost::context::fiber loop_;  // the loop's continuation while a fiber runs
  SwitchSide side_;             // the worker thread's own stack
  SwitchSide* active_side_ = &side_;
  ExceptionState* exceptions_ = nullptr;  // this worker thread's, looked up once (loop())
  std::uint64_t resumed_at_ = 0;          // debug mode: when the current task was switched to
  std::uint64_t last_shortage_report_ = 0;
  bool stack_shortage_ = false;  // a task could not get a stack: back off before retrying
  // Odd while a yielding task is between its switch and its requeue (has_stealable_work).
  std::atomic<std::uint64_t> yield_sequence_{0};
  StackPool stacks_;                          // maps the stacks of the fibers this worker creates
  Fiber* cached_ = nullptr;                   // idle fibers, ready for the next task
  std::size_t cached_in_list_ = 0;            // how many are in cached_ (fewer than kFiberBatch)
  Fiber* spare_batch_ = nullptr;              // a full batch of idle fibers, or nullptr
  std::atomic<std::size_t> cached_count_{0};  // both lists, for readers on other threads
  const bool spin_for_timers_;
  [[nodiscard]] static unsigned usable_cpus() noexcept;
  std::thread thread_;
};

// The current worker if the caller runs on one of its fibers; else std::logic_error saying that
// `what` needs a weft fiber (DESIGN.md: fiber-only calls outside a fiber throw, never crash).
[[nodiscard]] inline Worker& fiber_worker(const char* what) {
  Worker* worker = current_worker();
  if (!worker || !worker->current_task()) [[unlikely]]
    throw_not_in_fiber(what);
  return *worker;
}

}  // namespace weft::sched
