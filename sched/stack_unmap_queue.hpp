#pragma once
// Stacks of ended fibers (those beyond Config::stack_cache), gathered from every worker and
// unmapped together. With another worker running, each munmap call pays a TLB shootdown
// (~12 µs on a 2-vCPU VM); the fibers of a burst end on both workers in turns, so only a
// runtime-wide batch finds the runs of neighbouring stacks (StackPool hands them out in
// order) that one call can unmap: cancelling 100,000 sleepers went from ~12 to ~2.5 µs per
// task. A batch holds at most kCapacity stacks' memory until it is unmapped.
#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <span>

#include "sched/stack_pool.hpp"

namespace weft::sched {

class StackUnmapQueue {
 public:
  static constexpr std::size_t kCapacity = 512;

  StackUnmapQueue() = default;
  StackUnmapQueue(const StackUnmapQueue&) = delete;
  StackUnmapQueue& operator=(const StackUnmapQueue&) = delete;
  ~StackUnmapQueue() { flush(); }

  // Queues `stacks`; the caller that fills the batch unmaps it, outside the lock. Never waits
  // for another thread's munmap: while the other batch is still being unmapped, the caller
  // unmaps its own stacks at once.
  void push(std::span<Stack> stacks) noexcept;
  // Unmaps what is queued (an idle worker, so that a burst's last stacks do not linger).
  void flush() noexcept;
  [[nodiscard]] bool empty() const noexcept { return queued_.load(std::memory_order_relaxed) == 0; }

 private:
  struct Batch {
    std::array<Stack, kCapacity> stacks;
    std::size_t count = 0;
  };
  [[nodiscard]] Batch& other(const Batch& batch) noexcept {
    return &batch == &batches_[0] ? batches_[1] : batches_[0];
  }
  void unmap(Batch& batch) noexcept;

  std::mutex mutex_;  // guards filling_, unmapping_ and the filling batch
  std::array<Batch, 2> batches_;
  Batch* filling_ = &batches_[0];
  Batch* unmapping_ = nullptr;          // owned by the thread unmapping it, outside the lock
  std::atomic<std::size_t> queued_{0};  // in the filling batch; read without the lock by empty()
};

}  // namespace weft::sched
