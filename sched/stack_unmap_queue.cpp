#include "sched/stack_unmap_queue.hpp"

namespace weft::sched {

void StackUnmapQueue::push(std::span<Stack> stacks) noexcept {
  Batch* full = nullptr;
  {
    std::lock_guard guard(mutex_);
    if (filling_->count + stacks.size() > kCapacity && !unmapping_) {
      full = unmapping_ = filling_;
      filling_ = &other(*full);  // empty: whoever unmapped it last reset its count
    }
    if (filling_->count + stacks.size() <= kCapacity) {
      for (const Stack& stack : stacks) filling_->stacks[filling_->count++] = stack;
      queued_.store(filling_->count, std::memory_order_relaxed);
      stacks = {};
    }
  }
  StackPool::release(stacks);  // what did not fit: the other batch is still being unmapped
  if (full) unmap(*full);
}

void StackUnmapQueue::flush() noexcept {
  Batch* batch = nullptr;
  {
    std::lock_guard guard(mutex_);
    if (unmapping_ || filling_->count == 0) return;  // nothing, or someone is at it
    batch = unmapping_ = filling_;
    filling_ = &other(*batch);
    queued_.store(0, std::memory_order_relaxed);
  }
  unmap(*batch);
}

void StackUnmapQueue::unmap(Batch& batch) noexcept {
  StackPool::release(std::span(batch.stacks.data(), batch.count));
  batch.count = 0;
  std::lock_guard guard(mutex_);
  unmapping_ = nullptr;
}

}  // namespace weft::sched
