#include "sched/stack_unmap_queue.hpp"

#include "sched/helper_thread.hpp"

namespace weft::sched {

StackUnmapQueue::~StackUnmapQueue() {
  {
    std::lock_guard guard(mutex_);
    stop_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
  // The thread unmaps a batch handed over before it sees stop_; the filling one is left.
  unmap_filling_locked();  // no other thread is left to race with
}

void StackUnmapQueue::unmap_filling_locked() noexcept {
  StackPool::release(std::span(filling_->stacks.data(), filling_->count));
  queued_.fetch_sub(filling_->count, std::memory_order_relaxed);
  filling_->count = 0;
}

bool StackUnmapQueue::hand_over_locked() noexcept {
  if (!thread_.joinable()) {
    if (thread_failed_) return false;
    try {
      thread_ = std::thread([this] { thread_main(); });
    } catch (...) {           // std::system_error (out of threads), std::bad_alloc
      thread_failed_ = true;  // the workers unmap inline, as without a queue
      return false;
    }
  }
  handed_over_ = filling_;
  filling_ = &other(*handed_over_);  // empty: the thread reset its count when it was done
  work_.notify_one();
  return true;
}

void StackUnmapQueue::push(std::span<Stack> stacks) noexcept {
  if (stacks.empty()) return;
  {
    std::lock_guard guard(mutex_);
    if (!thread_failed_) {
      if (filling_->count + stacks.size() > kCapacity && !handed_over_) (void)hand_over_locked();
      if (filling_->count + stacks.size() <= kCapacity) {
        for (const Stack& stack : stacks) filling_->stacks[filling_->count++] = stack;
        queued_.fetch_add(stacks.size(), std::memory_order_relaxed);
        return;
      }
    }
  }
  // Both batches taken (the thread is behind), or no thread: this worker unmaps its own.
  StackPool::release(stacks);
}

void StackUnmapQueue::flush() noexcept {
  std::lock_guard guard(mutex_);
  if (filling_->count == 0) return;
  if (handed_over_) {
    flush_pending_ = true;  // the thread takes this batch next, full or not
    return;
  }
  if (hand_over_locked()) return;
  // No thread could be started: unmap here, under the lock (a rare fallback; an idle worker).
  unmap_filling_locked();
}

void StackUnmapQueue::drain() noexcept {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !handed_over_; });  // the thread finishes what it holds
  // The rest here, under the lock: the workers have stopped, nothing else pushes.
  unmap_filling_locked();
}

void StackUnmapQueue::thread_main() noexcept {
  run_as_helper_thread();
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return handed_over_ != nullptr || stop_; });
    if (!handed_over_) return;  // stopping, nothing handed over
    Batch& batch = *handed_over_;
    lock.unlock();
    StackPool::release(std::span(batch.stacks.data(), batch.count));
    lock.lock();
    queued_.fetch_sub(batch.count, std::memory_order_relaxed);
    batch.count = 0;
    handed_over_ = nullptr;
    // What filled up, or was flushed, while this batch was being unmapped goes next.
    if (filling_->count != 0 && (filling_->count + kMaxPush > kCapacity || flush_pending_)) {
      handed_over_ = filling_;
      filling_ = &batch;
    }
    flush_pending_ = false;
    if (!handed_over_) idle_.notify_all();
  }
}

}  // namespace weft::sched
