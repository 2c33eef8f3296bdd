#include "sched/fiber.hpp"

#include <cstdint>
#include <new>

#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::sched {

// Boost releases a fiber's stack through its allocator when the fiber ends; ours belongs to the
// StackPool, which unmaps it after the Fiber object (which lives on it) is gone.
struct Fiber::NoDeallocate {
  boost::context::stack_context allocate() { return {}; }
  void deallocate(boost::context::stack_context&) noexcept {}
};

Fiber* Fiber::create(StackPool& pool) {
  const Stack stack = pool.allocate();
  // The Fiber object sits at the top of its own stack, on a cache-line boundary.
  std::byte* place = stack.top() - sizeof(Fiber);
  place -= reinterpret_cast<std::uintptr_t>(place) % 64;
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): owned by its stack, see destroy()
  Fiber* fiber = ::new (place) Fiber(stack);
  // Boost places its own record below ours; the usable stack ends at our object.
  boost::context::stack_context context;
  context.sp = stack.top();
  context.size = stack.size;
  const auto usable = static_cast<std::size_t>(place - stack.bottom());
  fiber->self_ = boost::context::fiber(
      std::allocator_arg, boost::context::preallocated(place, usable, context), NoDeallocate{},
      [fiber](boost::context::fiber&& scheduler) { return fiber->main(std::move(scheduler)); });
  return fiber;
}

Fiber::Fiber(const Stack& stack) : stack_(stack) {
  side_.stack_bottom = stack.bottom();
  side_.stack_size = static_cast<std::size_t>(stack.top() - stack.bottom());
  side_.tsan_fiber = tsan_create_fiber();
}

Fiber::~Fiber() {
  tsan_destroy_fiber(side_.tsan_fiber);
}

void Fiber::destroy(Fiber* fiber, StackPool& pool, SwitchSide& caller) noexcept {
  fiber->task = nullptr;
  fiber->exit_to_ = &caller;
  if (fiber->self_) fiber->resume(caller);  // main() sees no task and returns
  const Stack stack = fiber->stack_;
  fiber->~Fiber();
  pool.release(stack);
}

void Fiber::resume(SwitchSide& scheduler) {
  before_switch(scheduler, side_);
  self_ = std::move(self_).resume();
  after_switch(scheduler);
}

void Fiber::suspend(const SwitchSide& scheduler) {
  before_switch(side_, scheduler);
  scheduler_ = std::move(scheduler_).resume();
  after_switch(side_);
}

boost::context::fiber Fiber::main(boost::context::fiber&& scheduler) {
  scheduler_ = std::move(scheduler);
  after_switch(side_);
  while (task) {
    detail::run_task_body(task);
    // The scheduler recycles this fiber; it comes back with the next task or none.
    Worker* worker = current_worker();
    worker->after_switch = AfterSwitch::finish;
    suspend(worker->switch_side());
  }
  before_switch(side_, *exit_to_, /*dying=*/true);
  return std::move(scheduler_);
}

}  // namespace weft::sched
