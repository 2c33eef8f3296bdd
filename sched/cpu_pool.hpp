#pragma once
// The CPU pool behind run_cpu: a oneTBB task_arena of Config::cpu_threads slots, fed by as many
// dispatcher threads (a BlockingPool whose threads run each job inside the arena with
// task_arena::execute). So a tbb::parallel_for inside a job spreads over that arena (the
// dispatcher plus oneTBB workers that join its free slots) and no other, and up to cpu_threads
// jobs run at once.
//
// Why dispatchers rather than task_arena::enqueue: oneTBB's workers go to sleep within
// microseconds of running dry, and waking one costs ~25 us here, which a loop of run_cpu calls
// would pay every time; a dispatcher watches its queue for a while first (BlockingPool's idle
// spin), so a round trip costs about as much as a to_thread.
//
// oneTBB itself is behind sched/cpu_arena.hpp.
#include <chrono>
#include <cstddef>
#include <memory>

#include "sched/blocking_pool.hpp"
#include "sched/cpu_arena.hpp"

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

class CpuPool {
 public:
  explicit CpuPool(unsigned threads);
  ~CpuPool();
  CpuPool(const CpuPool&) = delete;
  CpuPool& operator=(const CpuPool&) = delete;

  // Queues a job (taking over one reference); never parks. InvalidStateError after shutdown()
  // (the job is dropped, finished as cancelled).
  void submit(detail::TaskBlock* job) { dispatch_->submit(job); }

  // As BlockingPool::shutdown: queued jobs are dropped, running ones get until `deadline`.
  std::size_t shutdown(std::chrono::steady_clock::time_point deadline) {
    stuck_ = dispatch_->shutdown(deadline);
    return stuck_;
  }

  [[nodiscard]] unsigned threads() const noexcept { return threads_; }

 private:
  const unsigned threads_;
  // Owned here, not by the dispatcher threads: oneTBB objects must be destroyed on the
  // runtime's thread (a detached thread destroying them could meet libtbb's own teardown at
  // process exit). Declared first, so destroyed after the dispatchers' pool lets go.
  CpuArenaPtr arena_;
  std::shared_ptr<BlockingPool> dispatch_;
  std::size_t stuck_ = 0;  // jobs still running when shutdown() gave up on them
};

}  // namespace weft::sched
