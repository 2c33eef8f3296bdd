#include "sched/worker.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "io/clock.hpp"
#include "sched/current.hpp"
#include "sched/helper_thread.hpp"
#include "sched/overflow_report.hpp"
#include "sched/scheduler.hpp"
#include "sched/task_block.hpp"

namespace weft::sched {
namespace {
using io::now_ns;
}  // namespace

Worker::Worker(Scheduler& scheduler, unsigned index, std::unique_ptr<io::Reactor> reactor)
    : scheduler_(scheduler),
      index_(index),
      spawns_(scheduler.config.local_queue_size),
      ready_(scheduler.config.local_queue_size),
      global_interval_(scheduler.policy->global_interval()),
      global_countdown_(global_interval_),
      debug_(scheduler.config.debug),
      reactor_(std::move(reactor)),
      rng_(0x9E3779B97F4A7C15ULL * (index + 1)),
      stacks_(scheduler.config.stack_size, scheduler.config.guarded_stacks,
              scheduler.config.guard_markers ? GuardKind::automatic : GuardKind::protect),
      spin_for_timers_(scheduler.config.workers <= usable_cpus()) {}

unsigned Worker::usable_cpus() noexcept {
  cpu_set_t cpus;
  if (process_cpus(cpus)) return static_cast<unsigned>(CPU_COUNT(&cpus));
  return std::max(1u, std::thread::hardware_concurrency());
}

Worker::~Worker() {
  join();
}

void Worker::start() {
  thread_ = std::thread([this] { loop(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::loop() {
  set_current_worker(this);
  reactor_->bind_owner();
  side_ = thread_switch_side();
  exceptions_ = &thread_exception_state();
  const Config& config = scheduler_.config;
  if (config.pin_workers) pin_to_core();
  std::optional<AlternateSignalStack> signal_stack;
  if (config.debug) signal_stack.emplace();
  std::uint64_t awake_since = now_ns();
  for (;;) {
    if (std::exchange(stack_shortage_, false))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Fiber* next = next_local_fiber();
    if (next && searching_) {
      // Work turned up locally (a timer or I/O woke a task) while this worker was still
      // counted as searching: stop counting, or notify_one() would keep leaving the wake-up
      // to a "searcher" that is busy running tasks.
      searching_ = false;
      if (scheduler_.idle.end_search()) scheduler_.idle.notify_one();
    }
    if (!next) {
      if (detail::TaskBlock* stolen = search()) {
        if (!prepare(stolen)) continue;
        next = stolen->fiber;
      }
    }
    if (next) {
      prev_fiber_ = nullptr;  // the loop is what leaves
      switch_to(next);
      continue;
    }
    if (scheduler_.stopping() && !scheduler_.has_visible_work()) {
      // Let go of the finished tasks this worker holds for others before it stops; their
      // destructors may wake or spawn tasks, which must still run.
      if (detail::release_retired(scheduler_.owner, index_)) continue;
      break;
    }
    WorkerCounters::bump(counters.busy_ns, now_ns() - awake_since);
    sleep();
    awake_since = now_ns();
  }
  drop_cached_fibers();
  set_current_worker(nullptr);
}

inline void Worker::push_or_spill(StealableQueue<detail::TaskBlock>& queue,
                                  detail::TaskBlock* task) {
  if (queue.push(task)) [[likely]]
    return;
  spill_and_push(queue, task);
}

// find_local, prepare and next_local_fiber run on every switch: they are forced inline into
// their two callers (the loop and suspend_current), with their rare branches out of line, so a
// switch costs one function's prologue, not four.
[[gnu::always_inline]] inline detail::TaskBlock* Worker::find_local() {
  // Countdowns rather than tick % n: this runs on every switch.
  if (--event_countdown_ == 0) [[unlikely]] {
    event_countdown_ = kEventInterval;
    poll_events();
  }
  if (--global_countdown_ == 0) [[unlikely]] {
    global_countdown_ = global_interval_;
    if (detail::TaskBlock* task = take_one_global()) return task;
  }
  if (lifo_) {
    // A new spawn always runs next (depth-first); a woken task at most kMaxLifoStreak times
    // in a row, so two tasks handing a value back and forth cannot starve the rest.
    const bool spawned = !lifo_->has(detail::kStarted);
    if (spawned || lifo_streak_ < kMaxLifoStreak) {
      if (!spawned) ++lifo_streak_;
      return std::exchange(lifo_, nullptr);
    }
    push_or_spill(ready_, std::exchange(lifo_, nullptr));
  }
  lifo_streak_ = 0;
  // Woken and yielded tasks (FIFO) before tasks not started yet: a timer or I/O completion
  // is served within a few ticks even behind a burst of spawns, and a task that finishes
  // gives its stack back before a new one takes another. Every kSpawnsFirstInterval ticks the
  // spawns go first, so tasks that keep yielding cannot starve them.
  if (--spawns_countdown_ == 0) [[unlikely]] {
    spawns_countdown_ = kSpawnsFirstInterval;
    if (detail::TaskBlock* task = take_spawn()) return task;
  }
  if (detail::TaskBlock* task = take_ready()) return task;
  return find_beyond_ready();
}

detail::TaskBlock* Worker::take_one_global() {
  if (!scheduler_.resumed.empty()) {
    if (detail::TaskBlock* task = scheduler_.resumed.pop()) return task;
  }
  if (!scheduler_.injection.empty()) {
    if (detail::TaskBlock* task = scheduler_.injection.pop()) return task;
  }
  return nullptr;
}

detail::TaskBlock* Worker::find_beyond_ready() {
  if (!scheduler_.resumed.empty()) {
    if (detail::TaskBlock* task = take_global_from(GlobalSource::resumed)) return task;
  }
  if (detail::TaskBlock* task = take_spawn()) return task;
  return take_global_from(GlobalSource::injection);  // `resumed` was looked at just above
}

inline detail::TaskBlock* Worker::take_ready() {
  // The owner takes the oldest, like a thief; a lost race with a thief is retried (steal()).
  detail::TaskBlock* task = ready_.steal();
  // The blocks of the tasks that run after it: misses now, while this switch goes on, rather
  // than one by one at each switch.
  __builtin_prefetch(ready_.peek_oldest(0), 1);
  __builtin_prefetch(ready_.peek_oldest(1), 1);
  return task;
}

inline detail::TaskBlock* Worker::take_spawn() {
  detail::TaskBlock* task = spawns_.pop();
  __builtin_prefetch(spawns_.peek_newest(0), 1);  // its first run writes the block
  __builtin_prefetch(spawns_.peek_newest(1), 1);
  return task;
}

detail::TaskBlock* Worker::take_global() {
  if (detail::TaskBlock* task = take_global_from(GlobalSource::resumed)) return task;
  return take_global_from(GlobalSource::injection);
}

detail::TaskBlock* Worker::take_global_from(GlobalSource source) {
  const bool resumed = source == GlobalSource::resumed;
  auto& injection = resumed ? scheduler_.resumed : scheduler_.injection;
  StealableQueue<detail::TaskBlock>& local = resumed ? ready_ : spawns_;
  if (injection.empty()) return nullptr;
  // Take a fair share, bounded by the room in our own queue, so one worker does not hoard it.
  constexpr std::size_t kMaxBatch = 64;
  detail::TaskBlock* batch[kMaxBatch];
  const std::size_t share = injection.size() / scheduler_.workers.size() + 1;
  const std::size_t room = local.capacity() - local.size();
  const std::size_t want = std::min({share, room + 1, kMaxBatch});
  const std::size_t got = injection.pop_batch(batch, want);
  if (got == 0) return nullptr;
  // Their blocks were last written by other threads: start the cache misses now, together,
  // rather than one by one as each task comes up.
  for (std::size_t i = 1; i < got; ++i) __builtin_prefetch(batch[i], 1);
  // spawns_ pops the newest first, ready_ the oldest: either way batch[1] runs next.
  if (!resumed) {
    for (std::size_t i = got; i-- > 1;) push_or_spill(local, batch[i]);
  } else {
    for (std::size_t i = 1; i < got; ++i) push_or_spill(local, batch[i]);
  }
  if (got > 1) scheduler_.idle.notify_one();
  return batch[0];
}

detail::TaskBlock* Worker::search() {
  if (!searching_) {
    if (!scheduler_.idle.begin_search()) return nullptr;
    searching_ = true;
  }
  const auto& workers = scheduler_.workers;
  const unsigned count = static_cast<unsigned>(workers.size());
  detail::TaskBlock* found = nullptr;
  for (unsigned round = 0; round < scheduler_.config.steal_attempts && !found; ++round) {
    if (count > 1) {
      const unsigned first = scheduler_.policy->first_victim(index_, count, rng_);
      for (unsigned k = 0; k < count && !found; ++k) {
        const unsigned victim = (first + k) % count;
        if (victim != index_) found = steal_from(*workers[victim]);
      }
    }
    if (!found) found = take_global();
  }
  if (!found) return nullptr;  // still searching: sleep() ends it
  searching_ = false;
  if (scheduler_.idle.end_search()) scheduler_.idle.notify_one();
  return found;
}

detail::TaskBlock* Worker::steal_from(Worker& victim) {
  if (std::size_t n = victim.spawns_.size()) {
    if (std::size_t got = victim.spawns_.steal_into(spawns_, scheduler_.policy->batch(n))) {
      WorkerCounters::bump(counters.steals, got);
      return take_spawn();
    }
  }
  if (std::size_t n = victim.ready_.size()) {
    if (std::size_t got = victim.ready_.steal_into(ready_, scheduler_.policy->batch(n))) {
      WorkerCounters::bump(counters.steals, got);
      return take_ready();
    }
  }
  return nullptr;
}

void Worker::sleep() {
  std::uint64_t now = now_ns();
  const std::uint64_t next_timer = timers_.next_deadline();
  if (next_timer <= now) {
    timers_.expire(now);
    return;
  }
  // Let go of the finished tasks this worker holds for others (fewer than a batch), so none
  // waits on a sleeping worker. Freeing may run user destructors, which may wake or spawn
  // tasks: the loop looks for work again before it sleeps.
  if (detail::release_retired(scheduler_.owner, index_)) return;
  // A burst of ending fibers is over here: give back the stacks still queued for unmapping.
  if (!scheduler_.ended_stacks.empty()) scheduler_.ended_stacks.flush();
  // A timer due within the spin window is waited for awake: the loop looks for work again and
  // comes back here. Parking would cost a wake-up of a halted vCPU (tens of µs on a VM), and
  // a worker woken by another lands on the waker's CPU, where it may preempt that worker for
  // a whole scheduler tick (4 ms) while the other CPU stays idle. I/O is polled on each pass,
  // as a park would have seen it at once. Each pass yields the CPU: awake, but not in the way
  // of another thread that has work for this CPU (a loaded host). Only with a core for each
  // worker: with more workers than cores, spinning ones hold the cores that busy ones need.
  if (spin_for_timers_ && next_timer - now <= kTimerSpinNs) {
    if (reactor_->watching()) reactor_->poll(0);
    std::this_thread::yield();
    return;
  }
  auto& idle = scheduler_.idle;
  idle.announce_sleep(index_, std::exchange(searching_, false));
  if (scheduler_.has_visible_work() || scheduler_.stopping()) {
    idle.cancel_sleep(index_);
    return;
  }
  WorkerCounters::bump(counters.parks);
  reactor_->park(next_timer == io::kNoDeadline ? -1 : static_cast<std::int64_t>(next_timer - now));
  // A timer or I/O may have woken us while we were still listed as a sleeper.
  idle.cancel_sleep(index_);
  if (timers_.size() != 0) expire_due_timers();
}

void Worker::poll_events() {
  if (reactor_->watching()) reactor_->poll(0);
  if (timers_.size() != 0) expire_due_timers();
}

void Worker::expire_due_timers() {
  const std::uint64_t now = now_ns();
  if (timers_.next_deadline() <= now) timers_.expire(now);
}

[[gnu::always_inline]] inline bool Worker::prepare(detail::TaskBlock* task) {
  if (!task->fiber) [[unlikely]] {
    if (!prepare_first_run(task)) return false;
  }
  current_ = task;
  task->wake_state.store(detail::WakeState::running, std::memory_order_relaxed);
  WorkerCounters::bump(counters.polls);
  if (debug_) resumed_at_ = now_ns();
  return true;
}

inline bool Worker::end_if_cancelled_unstarted(detail::TaskBlock* task) {
  if (!task->has(detail::kCancelRequested)) return false;
  detail::finish_unstarted(task);
  detail::retire(task, index_);
  return true;
}

bool Worker::prepare_first_run(detail::TaskBlock* task) {
  // A first run may cost a fresh stack (tens of microseconds cold), so a tick count alone
  // would let a burst of new tasks hold due timers back by milliseconds: while timers are
  // pending, look at the clock before each first run that may have to map one. A fiber this
  // worker keeps at hand costs no more than a switch, and the tick count covers those.
  if (!cached_ && !spare_batch_ && timers_.size() != 0) expire_due_timers();
  if (end_if_cancelled_unstarted(task)) return false;
  Fiber* fiber = nullptr;
  try {
    fiber = acquire_fiber();
  } catch (const std::exception& error) {
    // Out of memory or memory maps: the task waits in the global queue until stacks are
    // given back, rather than taking the worker down.
    report_stack_shortage(error);
    scheduler_.injection.push(task);
    stack_shortage_ = true;
    // Stacks queued for unmapping hold memory and maps that the retry may need.
    scheduler_.ended_stacks.flush();
    return false;
  }
  fiber->task = task;
  task->fiber = fiber;
  return true;
}

[[gnu::always_inline]] inline Fiber* Worker::next_local_fiber() {
  while (detail::TaskBlock* task = find_local()) {
    if (prepare(task)) return task->fiber;
    if (stack_shortage_) break;  // the loop backs off before trying again
  }
  return nullptr;
}

void Worker::switch_to(Fiber* target) {
  Fiber* self = prev_fiber_;  // the context running now (nullptr: the loop)
  SwitchSide& from = self ? self->side() : side_;
  SwitchSide& to = target ? target->side() : side_;
  active_side_ = &to;
  before_switch(from, to, *exceptions_);
  boost::context::fiber back = std::move(target ? target->continuation() : loop_).resume();
  // Back on this context, maybe on another worker: `this` is stale from here on (rule 2).
  after_switch(from);
  if (self && self->exiting()) {
    self->exit_through(std::move(back));  // Fiber::end woke it to end it
    return;
  }
  current_worker()->finish_switch(std::move(back));
}

[[gnu::always_inline]] inline void Worker::switch_away(detail::TaskBlock* task, AfterSwitch why,
                                                       Fiber* target) {
  prev_task_ = task;
  prev_fiber_ = task->fiber;
  after_switch_ = why;
  switch_to(target);
}

void Worker::suspend_current(AfterSwitch why) {
  detail::TaskBlock* task = current_;
  if (debug_) warn_if_slow(task, now_ns() - resumed_at_);
  // A yielding task is requeued by the next context, after the jump; until then it counts as
  // this worker's stealable work (see has_stealable_work). release: ordered before the take
  // below that may empty ready_.
  if (why == AfterSwitch::yield) bump_yield_sequence();
  current_ = nullptr;
  Fiber* target = next_local_fiber();
  if (!target && why == AfterSwitch::yield && !stack_shortage_) {
    // Nothing else can run here: find_local looked at this worker's queues and the global
    // ones (and polls I/O and timers on its usual count). A yield has nobody to let go first,
    // so the task goes on without a switch; going through the loop would cost two jumps, and
    // requeueing it would wake an idle worker only to find nothing (or to steal it). Not when
    // a task could not get a stack: the loop backs off before it tries again.
    bump_yield_sequence();
    current_ = task;
    if (debug_) resumed_at_ = now_ns();
    return;
  }
  // Recorded only now: nothing in next_local_fiber reads it. prepare() may have finished
  // unstarted tasks; what switches out is still this fiber.
  switch_away(task, why, target);
}

void Worker::finish_current() {
  detail::TaskBlock* task = current_;
  if (debug_) warn_if_slow(task, now_ns() - resumed_at_);
  current_ = nullptr;
  Fiber* self = task->fiber;
  Fiber* target = nullptr;
  while (detail::TaskBlock* next = find_local()) {
    if (next->fiber) {
      prepare(next);  // it has a fiber: cannot fail
      target = next->fiber;
      break;
    }
    if (end_if_cancelled_unstarted(next)) continue;
    // Not started yet: it takes over this fiber, which is done with `task` (Fiber::main loops).
    if (!self->stack_intact()) detail::report_stack_overflow(task);
    task->fiber = nullptr;
    self->task = next;
    next->fiber = self;
    prepare(next);
    // After prepare, as finish_switch would: what the release runs (destructors) runs as part
    // of the next task, on this worker.
    detail::retire(task, index_);
    return;
  }
  switch_away(task, AfterSwitch::finish, target);
}

void Worker::run_now(detail::TaskBlock* task) {
  detail::TaskBlock* self = current_;
  current_ = nullptr;
  if (!prepare(task)) {
    // prepare() finished it (cancelled before it ran) or queued it (no stack): carry on.
    current_ = self;
    return;
  }
  switch_away(self, AfterSwitch::run_next, task->fiber);
}

void Worker::finish_switch(boost::context::fiber&& from) noexcept {
  Fiber* left = std::exchange(prev_fiber_, nullptr);
  detail::TaskBlock* task = std::exchange(prev_task_, nullptr);
  if (!left) {
    loop_ = std::move(from);
    return;
  }
  left->continuation() = std::move(from);
  if (!left->stack_intact()) detail::report_stack_overflow(task);
  switch (std::exchange(after_switch_, AfterSwitch::none)) {
    case AfterSwitch::yield:
      push_yielded(task);
      bump_yield_sequence();
      break;
    case AfterSwitch::park:
      // From here a waker may queue the task elsewhere; do not touch it unless the wake came
      // before we got here (then we queue it ourselves).
      if (task->wake_state.exchange(detail::WakeState::parked, std::memory_order_acq_rel) ==
          detail::WakeState::notified)
        push_next(task);
      break;
    case AfterSwitch::run_next:
      push_next(task);
      break;
    case AfterSwitch::finish:
      task->fiber = nullptr;
      left->task = nullptr;
      recycle_fiber(left);
      detail::retire(task, index_);
      break;
    case AfterSwitch::none:
      std::fputs("weft: internal error: a fiber switched out without saying why\n", stderr);
      std::abort();
  }
}

void Worker::report_stack_shortage(const std::exception& error) {
  // Once per second at most: the condition may last while tasks keep arriving.
  const std::uint64_t now = now_ns();
  if (now - last_shortage_report_ < 1'000'000'000) return;
  last_shortage_report_ = now;
  std::fprintf(stderr, "weft: worker %u cannot start a task: %s; it waits until stacks free up\n",
               index_, error.what());
}

void Worker::warn_if_slow(detail::TaskBlock* task, std::uint64_t ran_ns) const {
  const std::uint64_t limit_ns = std::uint64_t{scheduler_.config.slow_callback_ms} * 1'000'000;
  if (ran_ns <= limit_ns) return;
  std::fprintf(stderr,
               "weft: debug: task '%s' ran %.1f ms on worker %u without suspending (limit %u ms); "
               "it held up every other task on this worker\n",
               detail::name_of(task).c_str(), static_cast<double>(ran_ns) / 1e6, index_,
               scheduler_.config.slow_callback_ms);
}

void Worker::pin_to_core() const {
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(index_ % cores, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    std::fprintf(stderr, "weft: could not pin worker %u to core %u; it runs unpinned\n", index_,
                 index_ % cores);
}

void Worker::push_next(detail::TaskBlock* task) {
  if (detail::TaskBlock* displaced = std::exchange(lifo_, task)) push_displaced(displaced);
}

void Worker::push_displaced(detail::TaskBlock* task) {
  // Spawns keep their LIFO order in spawns_; woken tasks queue fairly in ready_.
  auto& queue = task->has(detail::kStarted) ? ready_ : spawns_;
  // Only an empty-to-non-empty change needs a wake-up: while the queue was non-empty, either
  // the push that filled it woke someone, or every sleeper saw it when it went to sleep (see
  // IdleWorkers).
  const bool was_empty = queue.owner_sees_empty();
  push_or_spill(queue, task);
  if (was_empty) scheduler_.idle.notify_one();
}

void Worker::push_yielded(detail::TaskBlock* task) {
  const bool was_empty = ready_.owner_sees_empty();
  push_or_spill(ready_, task);
  if (was_empty) scheduler_.idle.notify_one();
}

void Worker::spill_and_push(StealableQueue<detail::TaskBlock>& queue, detail::TaskBlock* task) {
  // Full: move the older half to the global queue (tokio does the same), so the queue has room
  // again and other workers can pick the moved tasks up. A chunk at a time, each under one lock.
  auto& global = &queue == &ready_ ? scheduler_.resumed : scheduler_.injection;
  constexpr std::size_t kChunk = 64;
  detail::TaskBlock* chunk[kChunk];
  for (std::size_t left = queue.capacity() / 2; left > 0;) {
    std::size_t n = 0;
    while (n < kChunk && n < left) {
      detail::TaskBlock* old = queue.steal();
      if (!old) break;
      chunk[n++] = old;
    }
    global.push_array(chunk, n);
    if (n < kChunk && n < left) break;  // thieves took the rest
    left -= n;
  }
  if (!queue.push(task)) global.push(task);
  scheduler_.idle.notify_one();
}

Fiber* Worker::acquire_fiber() {
  if (!cached_) {
    if (spare_batch_) {
      cached_ = std::exchange(spare_batch_, nullptr);
      cached_in_list_ = kFiberBatch;
    } else {
      cached_ = scheduler_.take_fiber_batch(cached_in_list_);
      if (!cached_) return scheduler_.new_fiber(stacks_);
    }
  }
  Fiber* fiber = cached_;
  cached_ = fiber->next_idle;
  --cached_in_list_;
  // The next one is a cache miss (it sits on its own stack's top page): start it now.
  if (cached_) __builtin_prefetch(cached_, 1);
  publish_cached_count();
  return fiber;
}

void Worker::recycle_fiber(Fiber* fiber) {
  fiber->next_idle = cached_;
  cached_ = fiber;
  if (++cached_in_list_ == kFiberBatch) {
    // A full batch becomes the spare; the spare before it goes to the runtime's depot whole,
    // so no list is ever walked to split it.
    if (spare_batch_) scheduler_.give_fiber_batch(spare_batch_, kFiberBatch, *active_side_);
    spare_batch_ = std::exchange(cached_, nullptr);
    cached_in_list_ = 0;
  }
  publish_cached_count();
}

void Worker::publish_cached_count() noexcept {
  cached_count_.store(cached_in_list_ + (spare_batch_ ? kFiberBatch : 0),
                      std::memory_order_relaxed);
}

void Worker::drop_cached_fibers() noexcept {
  scheduler_.destroy_fibers(std::exchange(cached_, nullptr), side_);
  scheduler_.destroy_fibers(std::exchange(spare_batch_, nullptr), side_);
  cached_in_list_ = 0;
  publish_cached_count();
}

bool Worker::has_stealable_work() const noexcept {
  // Like a seqlock: the queues were empty with no yield in flight only if the sequence was even
  // and unchanged around the look. After a few changed looks, answer "maybe" (true): that only
  // costs an idle worker one more round.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::uint64_t before = yield_sequence_.load(std::memory_order_acquire);
    if (before & 1) return true;
    if (!spawns_.empty() || !ready_.empty()) return true;
    if (yield_sequence_.load(std::memory_order_acquire) == before) return false;
  }
  return true;
}

void Worker::bump_yield_sequence() noexcept {
  // Single writer (this worker); release orders it with the queue operations around it.
  yield_sequence_.store(yield_sequence_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_release);
}

std::size_t Worker::queued() const noexcept {
  return spawns_.size() + ready_.size();
}

}  // namespace weft::sched
