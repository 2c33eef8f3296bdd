#pragma once
// A test-and-test-and-set lock for critical sections of a few instructions (wait lists, task
// registries). Never held across a suspension point; after a short spin it yields the thread
// so a preempted holder can finish.
#include <atomic>
#include <thread>

namespace weft::sync {

class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0;; ++spins) {
      // acquire: everything the previous holder wrote before unlock() is visible to us.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64)
          std::this_thread::yield();
        else
          __builtin_ia32_pause();
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // release: publishes the critical section to the next holder.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace weft::sync
