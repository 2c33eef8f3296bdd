#pragma once
// Stacks of ended fibers (those beyond Config::stack_cache), gathered from every worker and
// unmapped together by a thread of their own. With another worker running, each munmap call
// pays a TLB shootdown (~12 µs on a 2-vCPU VM); the fibers of a burst end on both workers in
// turns, so only a runtime-wide batch finds the runs of neighbouring stacks (StackPool hands
// them out in order) that one call can unmap: cancelling 100,000 sleepers went from ~12 to
// ~3 µs per task. The unmapping is off the workers because a batch whose stacks are not
// neighbours (tasks that end in random order, as timers do) still costs ~12 µs a stack: a
// worker doing 512 of them would stall its timers for milliseconds.
//
// The thread starts with the first full batch (a runtime that stays within its stack cache
// never has one). A worker unmaps its own stacks inline only when both batches are taken, or
// when the thread cannot be started.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <thread>

#include "sched/stack_pool.hpp"

namespace weft::sched {

class StackUnmapQueue {
 public:
  static constexpr std::size_t kCapacity = 512;
  static constexpr std::size_t kMaxPush = 64;  // stacks a worker pushes at once, at most

  StackUnmapQueue() = default;
  StackUnmapQueue(const StackUnmapQueue&) = delete;
  StackUnmapQueue& operator=(const StackUnmapQueue&) = delete;
  // Stops the thread and unmaps what is left.
  ~StackUnmapQueue();

  // Queues `stacks`; a full batch goes to the unmapping thread.
  void push(std::span<Stack> stacks) noexcept;
  // Hands what is queued to the unmapping thread (an idle worker, so that a burst's last
  // stacks do not linger).
  void flush() noexcept;
  // Unmaps everything queued before it returns. Only once the workers have stopped (shutdown):
  // it unmaps the filling batch under the lock.
  void drain() noexcept;
  // Nothing queued and nothing being unmapped.
  [[nodiscard]] bool empty() const noexcept { return queued_.load(std::memory_order_relaxed) == 0; }

 private:
  struct Batch {
    std::array<Stack, kCapacity> stacks;
    std::size_t count = 0;
  };
  [[nodiscard]] Batch& other(const Batch& batch) noexcept {
    return &batch == &batches_[0] ? batches_[1] : batches_[0];
  }
  // Under the lock, with the filling batch non-empty and no batch handed over: hands it over.
  // False if the thread could not be started (then nothing changed).
  bool hand_over_locked() noexcept;
  // Unmaps the filling batch here and now (under the lock, or with no other thread left).
  void unmap_filling_locked() noexcept;
  void thread_main() noexcept;

  std::mutex mutex_;  // guards everything below but the batch being unmapped
  std::condition_variable work_;
  std::condition_variable idle_;  // the thread finished a batch and took no other
  std::array<Batch, 2> batches_;
  Batch* filling_ = &batches_[0];
  Batch* handed_over_ = nullptr;  // being unmapped by the thread, outside the lock
  bool flush_pending_ = false;    // flush() came while a batch was being unmapped
  bool stop_ = false;
  bool thread_failed_ = false;  // std::thread could not start: unmap inline from then on
  std::thread thread_;
  std::atomic<std::size_t> queued_{0};  // stacks in both batches; read without the lock
};

}  // namespace weft::sched
