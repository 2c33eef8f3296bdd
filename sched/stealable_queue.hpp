#pragma once
// A worker's local run queue: a bounded Chase–Lev work-stealing deque of T*.
//
// Algorithm: N. M. Lê, A. Pop, A. Cohen, F. Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models", PPoPP 2013 (Fig. 1, the C11 version of Chase and
// Lev's deque), without the resize step: the buffer is fixed and push() reports full, so the
// caller (the worker) spills to the injection queue instead.
//
// The owner pushes and pops at `bottom` (LIFO: the newest spawn runs first, so fork–join trees
// go depth-first); thieves take from `top` (the oldest) with one CAS per item. The owner may
// also call steal() on its own queue to take the oldest, which is how it serves yields and
// wake-ups in FIFO order; that is exactly a thief's operation, so it is safe alongside thieves.
//
// Fences. The paper writes push as `slot store; fence(release); bottom store`, take as
// `bottom store; fence(seq_cst); top load` and steal as `top load; fence(seq_cst); bottom
// load`. Here each fence is folded into the access next to it: every store to bottom is a
// release (or seq_cst) store, and the four accesses the seq_cst fences order are seq_cst
// accesses, whose single total order forbids the same outcome the fences forbid (pop and
// steal both missing each other's update). That is at least as strong, compiles to the same
// code on x86-64 (an xchg in pop, plain loads in steal), and, unlike standalone fences, is
// understood by ThreadSanitizer (GCC rejects atomic_thread_fence under -fsanitize=thread).
//
// Indices are signed 64-bit and only grow (they wrap after ~292 years at 10^9 ops/s), so
// `bottom - 1` in pop never underflows and slot i lives at i & mask.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace weft::sched {

template <class T>
class StealableQueue {
 public:
  // One steal attempt's outcome. `item == nullptr && !lost_race` means the queue was seen
  // empty; `lost_race` means another thread took the oldest item first, so the queue may
  // still hold items and the caller can retry or move on to another victim.
  struct StealResult {
    T* item = nullptr;
    bool lost_race = false;
  };

  // Throws std::invalid_argument unless capacity is a power of two >= 2. The only allocation
  // this queue ever makes is here.
  explicit StealableQueue(std::size_t capacity)
      : slots_(make_slots(capacity)), mask_(static_cast<std::int64_t>(capacity) - 1) {}

  StealableQueue(const StealableQueue&) = delete;
  StealableQueue& operator=(const StealableQueue&) = delete;
  StealableQueue(StealableQueue&&) = delete;
  StealableQueue& operator=(StealableQueue&&) = delete;
  ~StealableQueue() = default;

  // Owner only. Returns false when full; "full" may be reported while a thief is between its
  // CAS and our reading of top, which only makes the caller spill one item early.
  [[nodiscard]] bool push(T* item) noexcept {
    // relaxed: only the owner writes bottom.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // acquire: pairs with the thieves' CAS on top (a release, and later CASes extend its
    // release sequence), so every thief's read of a slot below top happens-before we
    // overwrite that slot below.
    const std::int64_t t = top_.load(std::memory_order_acquire);
    if (b - t >= capacity_signed()) return false;
    put(b, item);
    return true;
  }

  // Owner only. Takes the newest item; nullptr when empty.
  [[nodiscard]] T* pop() noexcept {
    // relaxed: only the owner writes bottom.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    // Fast path for the common empty case, without the seq_cst store below: top only grows, so
    // a top already past b stays past it. relaxed: a stale (smaller) top just takes the slow
    // path.
    if (top_.load(std::memory_order_relaxed) > b) return nullptr;
    // seq_cst store then seq_cst load (the paper's fence(seq_cst) between them): claims slot b
    // before looking at top, so a thief that still sees the old bottom must have read top
    // early enough that our top load sees its CAS — pop and steal cannot both take slot b.
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {
      // Was empty. release: every store to bottom is a release, so a thief that reads any
      // bottom value also sees the slot writes of every push before it.
      bottom_.store(b + 1, std::memory_order_release);
      return nullptr;
    }
    // relaxed: the owner wrote this slot itself; thieves never write slots.
    T* item = slot(b).load(std::memory_order_relaxed);
    if (t < b) return item;  // More than one item: no thief can reach index b (see above).
    // The last item: race the thieves for it on top. seq_cst: the CAS is the single point that
    // decides the winner among the owner and all thieves. Failure relaxed: the value is unused.
    const bool won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed);
    // release: as above. bottom == top again, so the queue reads as empty either way.
    bottom_.store(b + 1, std::memory_order_release);
    return won ? item : nullptr;
  }

  // Any thread. One attempt with one CAS: takes the oldest item, or reports empty or a lost
  // race (which does NOT mean the queue is empty).
  [[nodiscard]] StealResult try_steal() noexcept {
    // seq_cst top load, then seq_cst bottom load (the paper's acquire loads with fence(seq_cst)
    // between them): pairs with pop's seq_cst bottom store / top load, see pop(). The bottom
    // load is also an acquire: whichever bottom value we read was stored with release after
    // the pushes below it, so the slot we read next, and the item it points to, are visible.
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return {};
    // relaxed: visibility comes from the bottom load above. Read before the CAS: once top
    // moves past t the owner may reuse the slot. A value read here is only used if the CAS
    // proves slot t still held it.
    T* item = slot(t).load(std::memory_order_relaxed);
    // seq_cst: one winner per index among thieves and the owner's last-item pop, and the
    // release half lets push() know our slot read is done. Failure relaxed: value unused.
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return {nullptr, true};
    }
    return {item, false};
  }

  // Any thread, including the owner (to take its oldest item, FIFO). Retries lost races, so
  // nullptr means the queue was seen empty. Lock-free, not wait-free: every retry means some
  // other thread took an item.
  [[nodiscard]] T* steal() noexcept {
    for (;;) {
      const StealResult r = try_steal();
      if (!r.lost_race) return r.item;
    }
  }

  // Called by the owner of `mine` (a thief) on a victim: moves up to min(max, half of this
  // queue's size rounded up) of the oldest items into `mine`, oldest first, and returns how
  // many moved. Room in `mine` is reserved before anything is taken, so no item is ever
  // dropped; when `mine` is full nothing moves. 0 also when this queue is empty or is `mine`.
  //
  // One CAS per item, never one CAS for the whole batch: the owner's pop() takes index b with
  // no CAS at all whenever it sees top < b, which is safe only because a thief claims exactly
  // the one index it read from top. A batch CAS moving top from t to t + k would also claim
  // indices up to t + k - 1, one of which may be the b that the owner is popping at that
  // moment, and both would run the same task. (Tokio's queue can batch because its owner pops
  // with a CAS too.)
  std::size_t steal_into(StealableQueue& mine, std::size_t max) noexcept {
    if (&mine == this) return 0;
    const std::size_t want = std::min({max, (size() + 1) / 2, mine.free_slots_for_owner()});
    std::size_t moved = 0;
    // Only our thread pushes into `mine`, and its free space only grows under its thieves, so
    // the `want` slots reserved above stay free until we fill them.
    std::int64_t b = mine.bottom_.load(std::memory_order_relaxed);
    while (moved < want) {
      const StealResult r = try_steal();
      if (r.lost_race) continue;
      if (r.item == nullptr) break;
      mine.put(b++, r.item);
      ++moved;
    }
    return moved;
  }

  // A consistent snapshot: top is read before and after bottom, and since top only grows, an
  // unchanged top means b - t was the size at the moment bottom was read. Reading the two once
  // each can report an empty queue while it holds an item (the owner pushes and takes one
  // between the reads); Go's runqempty guards against the same with the same re-read. Pop's
  // brief decrement of bottom can make b - t equal -1, hence the clamp.
  [[nodiscard]] std::size_t size() const noexcept {
    for (;;) {
      const std::int64_t t = top_.load(std::memory_order_acquire);
      const std::int64_t b = bottom_.load(std::memory_order_acquire);
      if (top_.load(std::memory_order_acquire) != t) continue;
      return b > t ? static_cast<std::size_t>(std::min(b - t, capacity_signed())) : 0;
    }
  }

  // Approximate, like size().
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // Owner only: the item `ahead` places after the oldest, or nullptr. Only a hint (a thief may
  // take it meanwhile, and it may be gone by the time it is read): to prefetch, never to use.
  [[nodiscard]] T* peek_oldest(std::int64_t ahead) const noexcept {
    const std::int64_t t = top_.load(std::memory_order_relaxed) + ahead;
    if (t >= bottom_.load(std::memory_order_relaxed)) return nullptr;
    return slot(t).load(std::memory_order_relaxed);
  }

  // Owner only: the item `ahead` places before the newest, or nullptr; a hint, as above.
  [[nodiscard]] T* peek_newest(std::int64_t ahead) const noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1 - ahead;
    if (b < top_.load(std::memory_order_relaxed)) return nullptr;
    return slot(b).load(std::memory_order_relaxed);
  }

  // Owner only: two plain loads instead of size()'s three. A stale top can only make a
  // queue that just emptied look non-empty, never the reverse.
  [[nodiscard]] bool owner_sees_empty() const noexcept {
    return bottom_.load(std::memory_order_relaxed) <= top_.load(std::memory_order_relaxed);
  }

  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(mask_) + 1;
  }

 private:
  static constexpr std::size_t kCacheLine = 64;

  static std::unique_ptr<std::atomic<T*>[]> make_slots(std::size_t capacity) {
    // The upper bound keeps capacity representable as a signed index distance.
    if (capacity < 2 || !std::has_single_bit(capacity) || capacity > (std::size_t{1} << 62)) {
      throw std::invalid_argument("StealableQueue capacity must be a power of two >= 2, got " +
                                  std::to_string(capacity));
    }
    return std::make_unique<std::atomic<T*>[]>(capacity);
  }

  std::atomic<T*>& slot(std::int64_t index) const noexcept {
    return slots_[index & mask_];
  }
  std::int64_t capacity_signed() const noexcept { return mask_ + 1; }

  // Owner only; the caller has checked (or reserved) room for index b.
  void put(std::int64_t b, T* item) noexcept {
    // relaxed: published by the release store to bottom just below.
    slot(b).store(item, std::memory_order_relaxed);
    // release: a thief that reads bottom > b also sees the slot write and everything the
    // producer did to *item before pushing it (the paper's fence(release)).
    bottom_.store(b + 1, std::memory_order_release);
  }

  // Owner only: room that push() is guaranteed to find, given that only the owner pushes.
  std::size_t free_slots_for_owner() const noexcept {
    // relaxed: the owner's own variable. acquire on top: as in push(), the slots we will
    // overwrite were read by their thieves before we reuse them. A stale top only
    // under-reports the room.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_acquire);
    const std::int64_t used = std::max<std::int64_t>(b - t, 0);
    return static_cast<std::size_t>(capacity_signed() - std::min(used, capacity_signed()));
  }

  static_assert(std::atomic<std::int64_t>::is_always_lock_free);
  static_assert(std::atomic<T*>::is_always_lock_free);

  // Written once in the constructor, then only read: kept off the lines that top and bottom
  // bounce between cores.
  std::unique_ptr<std::atomic<T*>[]> slots_;
  const std::int64_t mask_;
  // Thieves CAS top; the owner writes bottom on every push and pop. Separate cache lines keep
  // the owner's fast path from ping-ponging with thieves that only read.
  alignas(kCacheLine) std::atomic<std::int64_t> top_{0};
  alignas(kCacheLine) std::atomic<std::int64_t> bottom_{0};
};

}  // namespace weft::sched
