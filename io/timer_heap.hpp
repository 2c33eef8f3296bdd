#pragma once
// A worker's timers: a 4-ary min-heap of (deadline, node) entries, O(log n) insert and
// removal of the earliest, owned by one worker thread. A timer wakes a parked Waiter when its
// deadline passes (never before).
//
// The entries hold their deadlines, so sifting compares within the heap's own array: the four
// children of an entry share one cache line (the array is laid out so that each group starts
// one), and a sift touches one line per level instead of a node per child. Cancelling is lazy:
// a cancelled node stays in the heap, marked, until it reaches the top or the heap compacts
// (when cancelled entries outnumber the live ones), so no node has to know where it sits.
//
// The waiting fiber may resume on another worker (woken by a notification), so cancelling a
// timer can come from any thread. The node's state word decides who owns the waiter:
//   owner, deadline passed:  armed -> firing, fire the waiter, -> fired
//   the fiber, after waking: armed -> cancelled (the timer will not touch the waiter again);
//                            if it finds `firing` it waits for `fired` (a few instructions)
//                            before its waiter (on its stack) goes away.
// A node is freed by whichever of "left the heap" and "the fiber is done with it" happens
// second. A fiber that wakes on the owner's own thread (the common case) races with nobody:
// it marks its node cancelled_here with plain stores, and the owner frees the node when it
// drops it, again without an atomic read-modify-write.
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
  // cancelled: from another thread (counted in TimerHeap::cancelled_); cancelled_here: on the
  // owner's thread (counted in owner_cancelled_, and the fiber is done with the node).
  enum State : std::uint8_t { armed, firing, fired, cancelled, cancelled_here };
  [[nodiscard]] static bool is_cancelled(std::uint8_t state) noexcept {
    return state == cancelled || state == cancelled_here;
  }
  static constexpr std::uint8_t kLeftHeap = 1;
  static constexpr std::uint8_t kWaiterDone = 2;

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
  // Any thread, by the waiting fiber once it has woken up, whatever woke it. Once it returns,
  // the timer never touches the waiter again. `on_owner`: the caller runs on the owner's
  // thread (then nothing can race with it).
  static void cancel(TimerNode* node, bool on_owner) noexcept;

  // Owner thread: fires every timer whose deadline is <= now_ns; returns how many fired.
  std::size_t expire(std::uint64_t now_ns) noexcept;
  // Owner thread: the earliest deadline of a live timer (kNoDeadline if none). Drops the
  // cancelled timers at the top on the way, so that a cancelled timer wakes no one.
  [[nodiscard]] std::uint64_t next_deadline() noexcept;
  // Live (not cancelled) timers, as far as this thread has seen the cancels.
  [[nodiscard]] std::size_t size() const noexcept;
  // Entries in the heap, cancelled ones not yet dropped included.
  [[nodiscard]] std::size_t entries() const noexcept { return count_; }
  // Nodes this heap has ever made (they are reused, never freed before the heap): a leak check.
  [[nodiscard]] std::size_t nodes_made() const noexcept { return chunks_.size() * kChunk; }

 private:
  static constexpr std::size_t kArity = 4;
  static constexpr std::size_t kChunk = 256;
  // Due timers taken from the heap and prefetched before the first of them is fired.
  static constexpr std::size_t kExpireBatch = 16;

  struct Entry {
    std::uint64_t deadline;
    TimerNode* node;
  };
  // Entry i lives at slot i + 3, so that the children of entry i (4i+1 .. 4i+4) are exactly
  // line i + 1.
  struct alignas(64) EntryLine {
    Entry at[kArity];
  };
  static constexpr std::size_t kSlotOffset = kArity - 1;

  [[nodiscard]] Entry& slot(std::size_t index) noexcept {
    const std::size_t s = index + kSlotOffset;
    return lines_[s / kArity].at[s % kArity];
  }
  [[nodiscard]] const Entry& slot(std::size_t index) const noexcept {
    const std::size_t s = index + kSlotOffset;
    return lines_[s / kArity].at[s % kArity];
  }

  TimerNode* allocate();
  void release(TimerNode* node, std::uint8_t side) noexcept;
  void recycle(TimerNode* node) noexcept;
  // Owner thread, for a node nobody else can touch: back on the owner's free list.
  void recycle_here(TimerNode* node) noexcept {
    node->next_free = free_;
    free_ = node;
  }
  // Owner thread: a cancelled node (in `state`) leaves the heap for good.
  void drop_cancelled(TimerNode* node, std::uint8_t state) noexcept;
  // Takes the earliest entry out of the heap (which must not be empty).
  TimerNode* pop_top() noexcept;
  void sift_up(std::size_t index, Entry entry) noexcept;
  void sift_down(std::size_t index, Entry entry) noexcept;
  void compact() noexcept;

  std::vector<EntryLine> lines_;
  std::size_t count_ = 0;  // entries in the heap, cancelled ones included
  std::vector<std::unique_ptr<TimerNode[]>> chunks_;
  TimerNode* free_ = nullptr;  // owner's free list
  // Nodes freed by other threads (a Treiber stack the owner takes whole, so no ABA).
  std::atomic<TimerNode*> returned_{nullptr};
  // Nodes cancelled from other threads and still in the heap. Counted by the canceller after
  // its CAS and uncounted by the owner when the node leaves, so it may dip below 0 for a moment.
  std::atomic<std::int64_t> cancelled_{0};
  std::size_t owner_cancelled_ = 0;  // nodes cancelled_here still in the heap
};

}  // namespace weft::io
