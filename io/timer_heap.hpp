#pragma once
// A worker's timers: a 4-ary min-heap of deadlines, O(log n) insert and removal, owned by one
// worker thread. A timer wakes a parked Waiter when its deadline passes (never before).
//
// The waiting fiber may resume on another worker (woken by a notification), so cancelling a
// timer can come from any thread. The node's state word decides who owns the waiter:
//   owner, deadline passed:  armed -> firing, fire the waiter, -> fired
//   the fiber, after waking: armed -> cancelled (the timer will not touch the waiter again);
//                            if it finds `firing` it waits for `fired` (a few instructions)
//                            before its waiter (on its stack) goes away.
// A cancelled node is unlinked at once by its owner thread; one cancelled from another thread
// stays in the heap until its owner reaches it (or compacts, if many pile up). expire() takes a
// batch of due nodes out before firing them; one of those cancelled meanwhile (from any thread)
// is treated like a remote cancel. A node is freed
// by whichever of "left the heap" and "the fiber is done with it" happens second.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace weft::sched {
class Waiter;
}
namespace weft::detail {
class TaskBlock;
}

namespace weft::io {

class TimerHeap;

struct TimerNode {
  enum State : std::uint8_t { armed, firing, fired, cancelled };
  static constexpr std::uint8_t kLeftHeap = 1;
  static constexpr std::uint8_t kWaiterDone = 2;

  // `index` of a node that expire() took out of the heap and has not fired yet.
  static constexpr std::size_t kOutOfHeap = SIZE_MAX;

  std::uint64_t deadline = 0;
  std::size_t index = 0;  // position in the heap (owner only)
  sched::Waiter* waiter = nullptr;
  detail::TaskBlock* task = nullptr;  // the waiter's task, kept here to prefetch it (expire)
  TimerHeap* owner = nullptr;
  TimerNode* next_free = nullptr;
  std::atomic<std::uint8_t> state{armed};
  std::atomic<std::uint8_t> released{0};
};

class TimerHeap {
 public:
  TimerHeap() = default;
  ~TimerHeap();
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;

  // Owner thread: arms a timer that fires `waiter` (WakeReason::timed_out) at `deadline_ns`.
  [[nodiscard]] TimerNode* add(std::uint64_t deadline_ns, sched::Waiter& waiter);
  // Any thread, by the waiting fiber once it has woken up, whatever woke it. `on_owner`: the
  // caller runs on the owner's thread (then the node leaves the heap at once).
  static void cancel(TimerNode* node, bool on_owner) noexcept;

  // Owner thread: fires every timer whose deadline is <= now_ns; returns how many fired.
  std::size_t expire(std::uint64_t now_ns) noexcept;
  // Owner thread: the earliest deadline (kNoDeadline if none).
  [[nodiscard]] std::uint64_t next_deadline() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }

 private:
  static constexpr std::size_t kArity = 4;
  static constexpr std::size_t kChunk = 256;
  // Due timers taken from the heap and prefetched before the first of them is fired.
  static constexpr std::size_t kExpireBatch = 16;

  TimerNode* allocate();
  void release(TimerNode* node, std::uint8_t side) noexcept;
  void recycle(TimerNode* node) noexcept;
  void remove_at(std::size_t index) noexcept;
  void sift_up(std::size_t index) noexcept;
  void sift_down(std::size_t index) noexcept;
  void place(std::size_t index, TimerNode* node) noexcept {
    heap_[index] = node;
    node->index = index;
  }
  void compact() noexcept;

  std::vector<TimerNode*> heap_;
  std::vector<std::unique_ptr<TimerNode[]>> chunks_;
  TimerNode* free_ = nullptr;  // owner's free list
  // Nodes freed by other threads (a Treiber stack the owner takes whole, so no ABA).
  std::atomic<TimerNode*> returned_{nullptr};
  // Nodes cancelled from other threads and still in the heap.
  std::atomic<std::int64_t> remote_cancelled_{0};  // may dip below 0 for a moment
};

}  // namespace weft::io
