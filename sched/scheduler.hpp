#pragma once
// The engine of one runtime: its workers, the global injection queue, idle-worker parking, the
// stack pool and a shared cache of idle fibers. Owned by the runtime (runtime/runtime_core).
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <weft/config.hpp>

#include "io/io_registry.hpp"
#include "sched/fiber.hpp"
#include "sched/idle_workers.hpp"
#include "sched/injection_queue.hpp"
#include "sched/stack_unmap_queue.hpp"
#include "sched/steal_policy.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"
#include "sync/spin_lock.hpp"

namespace weft::detail {
class RuntimeCore;
}

namespace weft::sched {

class Scheduler {
 public:
  Scheduler(const Config& config, detail::RuntimeCore& owner);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  // Wakes every worker and joins them once they run out of work.
  void stop();

  // Makes a new or woken task runnable: next on the calling worker if it is one of ours, else
  // through the global queue.
  void schedule(detail::TaskBlock* task);
  // From any thread: the global queue.
  void inject(detail::TaskBlock* task);

  // The calling thread's worker if it belongs to this scheduler.
  [[nodiscard]] Worker* own_worker() const noexcept;
  [[nodiscard]] bool has_visible_work() const noexcept;
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  // The runtime's depot of idle fibers, beyond what each worker keeps at hand; workers move
  // them in whole batches (a list linked through Fiber::next_idle), which the depot keeps as
  // they are: neither side walks a batch (each Fiber is a cache miss, on its own stack's top
  // page). Up to Config::stack_cache fibers are kept in all; batches beyond it are unmapped.
  // take_fiber_batch returns nullptr if the depot is empty, else a batch and its size.
  [[nodiscard]] Fiber* take_fiber_batch(std::size_t& taken) noexcept;
  void give_fiber_batch(Fiber* first, std::size_t count, SwitchSide& caller) noexcept;
  [[nodiscard]] Fiber* new_fiber(StackPool& stacks);
  // Ends the idle fibers of a list linked through Fiber::next_idle and unmaps their stacks in
  // batches (neighbouring stacks in one call).
  void destroy_fibers(Fiber* first, SwitchSide& caller) noexcept;

  [[nodiscard]] std::uint64_t live_fibers() const noexcept;  // created and not destroyed
  [[nodiscard]] std::uint64_t cached_fibers() const noexcept;

  const Config config;
  detail::RuntimeCore& owner;
  io::IoRegistry io_slots;  // the fds this runtime's reactors watch
  InjectionQueue<detail::TaskBlock, &detail::TaskBlock::next> injection;
  // Woken and yielded tasks that overflowed a worker's FIFO. Kept apart from `injection` (new
  // spawns, outside work) and taken first: a burst of wake-ups must not queue behind a burst
  // of a hundred thousand tasks that have not started yet.
  InjectionQueue<detail::TaskBlock, &detail::TaskBlock::next> resumed;
  IdleWorkers idle;
  StackUnmapQueue ended_stacks;  // stacks of fibers beyond Config::stack_cache, unmapped in batches
  std::unique_ptr<StealPolicy> policy;
  std::vector<std::unique_ptr<Worker>> workers;

 private:
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> fibers_created_{0};
  std::atomic<std::uint64_t> fibers_destroyed_{0};
  struct FiberBatch {
    Fiber* first;
    std::size_t count;
  };
  // Guards shared_batches_ and shared_count_. A spin lock for the reason InjectionQueue's is one.
  mutable sync::SpinLock shared_lock_;
  std::vector<FiberBatch> shared_batches_;  // reserved for the whole budget: no growth locked
  std::size_t shared_count_ = 0;            // fibers in shared_batches_
};

// The stack bounds and sanitizer identity of the calling thread's own stack.
[[nodiscard]] SwitchSide thread_switch_side() noexcept;

}  // namespace weft::sched
