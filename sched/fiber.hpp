#pragma once
// A fiber: a Boost.Context fiber on a pooled stack that runs task after task. A task takes a
// fiber when it first runs and gives it back when it ends, so stacks stay warm (a fresh stack
// costs page faults at ~6 µs each) and queued tasks hold no stack (DESIGN.md rule 6).
#include <boost/context/fiber.hpp>

#include "sched/stack_pool.hpp"
#include "sched/switch_annotations.hpp"

namespace weft::detail {
class TaskBlock;
}

namespace weft::sched {

class Fiber {
 public:
  // Maps a stack and builds the fiber on it; the Fiber object itself lives at the stack's top.
  [[nodiscard]] static Fiber* create(StackPool& pool);
  // Ends an idle fiber (one without a task) from the thread described by `caller` and unmaps
  // its stack.
  static void destroy(Fiber* fiber, StackPool& pool, SwitchSide& caller) noexcept;

  // Scheduler side: runs the fiber until it switches out again.
  void resume(SwitchSide& scheduler);
  // Fiber side: switches to the scheduler that resumed it; returns once some scheduler (maybe
  // on another worker) resumes it.
  void suspend(const SwitchSide& scheduler);

  [[nodiscard]] const Stack& stack() const noexcept { return stack_; }
  [[nodiscard]] bool stack_intact() const noexcept { return stack_.canary_intact(); }

  detail::TaskBlock* task = nullptr;  // the task it runs; nullptr tells it to exit
  Fiber* next_idle = nullptr;         // link in a fiber cache

 private:
  struct NoDeallocate;
  explicit Fiber(const Stack& stack);
  ~Fiber();
  boost::context::fiber main(boost::context::fiber&& scheduler);

  Stack stack_;
  SwitchSide side_;
  boost::context::fiber self_;       // this fiber's continuation while it is switched out
  boost::context::fiber scheduler_;  // the resuming scheduler's continuation while it runs
  SwitchSide* exit_to_ = nullptr;    // set by destroy()
};

}  // namespace weft::sched
