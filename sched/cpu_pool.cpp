#include "sched/cpu_pool.hpp"

#include <limits>
#include <memory>
#include <utility>

namespace weft::sched {
namespace {

// How long an idle dispatcher waits for the next job before its thread retires.
constexpr std::chrono::milliseconds kKeepAlive{10'000};

}  // namespace

CpuPool::CpuPool(unsigned threads)
    : threads_(threads),
      arena_(make_cpu_arena(threads)),
      dispatch_(std::make_shared<BlockingPool>("weft::run_cpu", threads,
                                               std::numeric_limits<std::size_t>::max(), kKeepAlive,
                                               JobRunner{arena_.get(), &run_in_cpu_arena})) {}

// After a clean shutdown() no dispatcher is inside the arena any more, and it is destroyed
// here, on the runtime's thread. A job stuck past the deadline still is (inside
// task_arena::execute, which uses the task_arena object on its way out): the arena then goes
// with the dispatchers' pool, which its last thread frees.
CpuPool::~CpuPool() {
  if (stuck_ != 0) dispatch_->keep_alive(std::shared_ptr<CpuArena>(std::move(arena_)));
}

}  // namespace weft::sched
