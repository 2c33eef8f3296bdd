#pragma once
// A fiber: a Boost.Context fiber on a pooled stack that runs task after task. A task takes a
// fiber when it first runs and gives it back when it ends, so stacks stay warm (a fresh stack
// costs page faults at ~6 µs each) and queued tasks hold no stack (DESIGN.md rule 6).
//
// Fibers switch to each other directly (Worker::switch_to): the context that is switched to
// stores the continuation of the one that left and finishes what it asked for (yield, park,
// finish), so a hand-off between two tasks is one jump, not two through the worker's loop. A
// task that finishes hands its fiber straight to the next task if that one has not started
// yet (Worker::finish_current): no jump at all.
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
  // Ends an idle fiber (one without a task) from the context described by `caller`; returns
  // its stack, which the caller gives back to the pool (StackPool::release takes several).
  [[nodiscard]] static Stack end(Fiber* fiber, SwitchSide& caller) noexcept;

  [[nodiscard]] const Stack& stack() const noexcept { return stack_; }
  [[nodiscard]] bool stack_intact() const noexcept { return stack_.canary_intact(); }
  [[nodiscard]] SwitchSide& side() noexcept { return side_; }
  // This fiber's continuation while it is switched out.
  [[nodiscard]] boost::context::fiber& continuation() noexcept { return self_; }
  // Set by end(): the fiber must return to `continuation` instead of scheduling.
  [[nodiscard]] bool exiting() const noexcept { return exit_to_ != nullptr; }
  void exit_through(boost::context::fiber&& destroyer) noexcept {
    exit_back_ = std::move(destroyer);
  }

  detail::TaskBlock* task = nullptr;  // the task it runs; nullptr tells it to exit
  Fiber* next_idle = nullptr;         // link in a fiber cache

 private:
  struct NoDeallocate;
  explicit Fiber(const Stack& stack);
  ~Fiber();
  boost::context::fiber main(boost::context::fiber&& from);

  Stack stack_;
  SwitchSide side_;
  boost::context::fiber self_;       // this fiber's continuation while it is switched out
  boost::context::fiber exit_back_;  // where to go when it exits (end())
  SwitchSide* exit_to_ = nullptr;    // set by end()
};

}  // namespace weft::sched
