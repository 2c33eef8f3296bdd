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
  asan_unpoison(stack.bottom(), static_cast<std::size_t>(stack.top() - stack.bottom()));
  // The Fiber object sits at the top of its own stack, on a cache-line boundary.
  std::byte* place = stack.top() - sizeof(Fiber);
  place -= reinterpret_cast<std::uintptr_t>(place) % 64;
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): owned by its stack, see end()
  Fiber* fiber = ::new (place) Fiber(stack);
  // Boost places its own record below ours; the usable stack ends at our object.
  boost::context::stack_context context;
  context.sp = stack.top();
  context.size = stack.size;
  const auto usable = static_cast<std::size_t>(place - stack.bottom());
  // Boost's constructor jumps into the new stack and back: account that to the new fiber.
  void* creator = tsan_current_fiber();
  tsan_enter(fiber->side_.tsan_fiber);
  fiber->self_ = boost::context::fiber(
      std::allocator_arg, boost::context::preallocated(place, usable, context), NoDeallocate{},
      [fiber](boost::context::fiber&& scheduler) { return fiber->main(std::move(scheduler)); });
  tsan_enter(creator);
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

Stack Fiber::end(Fiber* fiber, SwitchSide& caller) noexcept {
  fiber->task = nullptr;
  fiber->exit_to_ = &caller;
  if (fiber->self_) {
    // main() (or the switch it is parked in) sees exiting() and returns to us.
    before_switch(caller, fiber->side_);
    fiber->self_ = std::move(fiber->self_).resume();
    tsan_enter(caller.tsan_fiber);  // the fiber ended without switching TSan back (see main)
    after_switch(caller);
  }
  const Stack stack = fiber->stack_;
  fiber->~Fiber();
  return stack;
}

boost::context::fiber Fiber::main(boost::context::fiber&& from) {
  after_switch(side_);
  if (exiting()) {
    exit_back_ = std::move(from);
  } else {
    current_worker()->finish_switch(std::move(from));
    while (task) {
      detail::run_task_body(task);
      // Ends the task. Either the next one runs here at once, or this fiber is handed back and
      // comes back with a later task, or with none to exit.
      current_worker()->finish_current();
    }
  }
  before_exit_switch(*exit_to_);
  return std::move(exit_back_);
}

}  // namespace weft::sched
