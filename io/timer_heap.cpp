#include "io/timer_heap.hpp"

#include <algorithm>
#include <utility>

#include "io/clock.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"

namespace weft::io {

TimerHeap::~TimerHeap() = default;  // nodes live in chunks_; no fiber can still hold one

TimerNode* TimerHeap::allocate() {
  if (!free_) free_ = returned_.exchange(nullptr, std::memory_order_acquire);
  if (!free_) {
    // Kept before it is used: if either allocation throws, free_ still points at nothing freed.
    chunks_.push_back(std::make_unique<TimerNode[]>(kChunk));
    TimerNode* chunk = chunks_.back().get();
    for (std::size_t i = 0; i < kChunk; ++i)
      chunk[i].next_free = i + 1 < kChunk ? &chunk[i + 1] : nullptr;
    free_ = &chunk[0];
  }
  TimerNode* node = free_;
  free_ = node->next_free;
  return node;
}

TimerNode* TimerHeap::add(std::uint64_t deadline_ns, sched::Waiter& waiter) {
  // Compact once cancelled entries outnumber live ones: the heap stays within twice the live
  // timers plus 128, and each compaction's O(n) is paid for by the n/2 cancels before it.
  const std::int64_t cancelled =
      cancelled_.load(std::memory_order_relaxed) + static_cast<std::int64_t>(owner_cancelled_);
  if (cancelled > static_cast<std::int64_t>(64 + count_ / 2)) compact();
  if (lines_.size() <= (count_ + kSlotOffset) / kArity) lines_.emplace_back();  // may throw
  TimerNode* node = allocate();
  node->waiter = &waiter;
  node->task = waiter.task();
  node->owner = this;
  node->state.store(TimerNode::armed, std::memory_order_relaxed);
  node->released.store(0, std::memory_order_relaxed);
  sift_up(count_++, {deadline_ns, node});  // into slot count_, made room for above
  return node;
}

void TimerHeap::cancel(TimerNode* node, bool on_owner) noexcept {
  TimerHeap& owner = *node->owner;
  if (on_owner) {
    // Only this thread fires, drops or frees the node: plain steps suffice.
    if (node->state.load(std::memory_order_relaxed) == TimerNode::armed) {
      // The entry stays in the heap (or in expire()'s batch) until the owner drops it.
      node->state.store(TimerNode::cancelled_here, std::memory_order_relaxed);
      node->released.store(TimerNode::kWaiterDone, std::memory_order_relaxed);
      ++owner.owner_cancelled_;
      return;
    }
    // Fired: expire() let go of it already, on this thread.
    if (node->released.load(std::memory_order_relaxed) == TimerNode::kLeftHeap)
      owner.recycle_here(node);
    else
      owner.release(node, TimerNode::kWaiterDone);
    return;
  }
  std::uint8_t state = TimerNode::armed;
  // acq_rel: pairs with expire()'s CAS; exactly one of them owns the waiter.
  if (node->state.compare_exchange_strong(state, TimerNode::cancelled, std::memory_order_acq_rel)) {
    // The entry stays in the heap until it reaches the top or the heap compacts.
    owner.cancelled_.fetch_add(1, std::memory_order_relaxed);
    owner.release(node, TimerNode::kWaiterDone);
    return;
  }
  // The owner is firing our waiter: it must be done with it before the waiter goes away.
  while (node->state.load(std::memory_order_acquire) == TimerNode::firing) __builtin_ia32_pause();
  owner.release(node, TimerNode::kWaiterDone);
}

void TimerHeap::release(TimerNode* node, std::uint8_t side) noexcept {
  const std::uint8_t both = TimerNode::kLeftHeap | TimerNode::kWaiterDone;
  // acq_rel: whoever comes second sees everything the first did with the node.
  if ((node->released.fetch_or(side, std::memory_order_acq_rel) | side) != both) return;
  recycle(node);
}

void TimerHeap::recycle(TimerNode* node) noexcept {
  // Any thread: push onto returned_; the owner takes the whole stack at once in allocate().
  TimerNode* head = returned_.load(std::memory_order_relaxed);
  do {
    node->next_free = head;
  } while (!returned_.compare_exchange_weak(head, node, std::memory_order_release,
                                            std::memory_order_relaxed));
}

std::size_t TimerHeap::expire(std::uint64_t now_ns) noexcept {
  std::size_t fired = 0;
  TimerNode* batch[kExpireBatch];
  while (count_ != 0 && slot(0).deadline <= now_ns) {
    // Take up to a batch of due timers out of the heap, announcing each node, then the waiter
    // and task each will touch; the misses (waiters sit on the stacks of fibers parked for
    // milliseconds) then overlap with the sifting instead of stalling one fire after another.
    // A node taken out stays armed until fired below: a cancel meanwhile (from any thread)
    // finds it armed and wins, as it would in the heap.
    std::size_t taken = 0;
    do {
      TimerNode* node = pop_top();
      __builtin_prefetch(node, 1);
      batch[taken++] = node;
    } while (taken < kExpireBatch && count_ != 0 && slot(0).deadline <= now_ns);
    for (std::size_t i = 0; i < taken; ++i) {
      TimerNode* node = batch[i];
      if (node->state.load(std::memory_order_relaxed) == TimerNode::armed) {
        node->waiter->prefetch_for_fire();
        if (node->task) __builtin_prefetch(&node->task->wake_state, 1);
      }
    }
    for (std::size_t i = 0; i < taken; ++i) {
      TimerNode* node = batch[i];
      std::uint8_t state = TimerNode::armed;
      if (node->state.compare_exchange_strong(state, TimerNode::firing,
                                              std::memory_order_acq_rel)) {
        node->waiter->fire(sched::WakeReason::timed_out);
        node->state.store(TimerNode::fired, std::memory_order_release);
        ++fired;
        release(node, TimerNode::kLeftHeap);
      } else {
        drop_cancelled(node, state);
      }
    }
  }
  return fired;
}

std::uint64_t TimerHeap::next_deadline() noexcept {
  while (count_ != 0) {
    const Entry& top = slot(0);
    const std::uint8_t state = top.node->state.load(std::memory_order_relaxed);
    if (!TimerNode::is_cancelled(state)) return top.deadline;
    drop_cancelled(pop_top(), state);
  }
  return kNoDeadline;
}

void TimerHeap::drop_cancelled(TimerNode* node, std::uint8_t state) noexcept {
  if (state == TimerNode::cancelled_here) {
    --owner_cancelled_;
    recycle_here(node);  // its fiber let go of it on this thread
    return;
  }
  cancelled_.fetch_sub(1, std::memory_order_relaxed);
  // acquire (in release()): the canceller is done with the node before it is recycled.
  release(node, TimerNode::kLeftHeap);
}

std::size_t TimerHeap::size() const noexcept {
  const std::int64_t remote = cancelled_.load(std::memory_order_relaxed);
  const std::size_t dead = owner_cancelled_ + (remote > 0 ? static_cast<std::size_t>(remote) : 0);
  return dead >= count_ ? 0 : count_ - dead;
}

TimerNode* TimerHeap::pop_top() noexcept {
  TimerNode* top = slot(0).node;
  const Entry last = slot(--count_);
  if (count_ != 0) sift_down(0, last);
  return top;
}

void TimerHeap::sift_up(std::size_t index, Entry entry) noexcept {
  while (index > 0) {
    const std::size_t parent = (index - 1) / kArity;
    const Entry& above = slot(parent);
    if (above.deadline <= entry.deadline) break;
    slot(index) = above;
    index = parent;
  }
  slot(index) = entry;
}

void TimerHeap::sift_down(std::size_t index, Entry entry) noexcept {
  for (;;) {
    const std::size_t first = index * kArity + 1;
    if (first >= count_) break;
    // The children of `index` are line index + 1; theirs are the four lines from
    // first + 1: announce them while this level is compared.
    for (std::size_t k = 0; k < kArity && first + 1 + k < lines_.size(); ++k)
      __builtin_prefetch(&lines_[first + 1 + k]);
    const Entry* children = lines_[index + 1].at;
    const std::size_t n = std::min(kArity, count_ - first);
    std::size_t best = 0;
    for (std::size_t c = 1; c < n; ++c)
      if (children[c].deadline < children[best].deadline) best = c;
    if (children[best].deadline >= entry.deadline) break;
    slot(index) = children[best];
    index = first + best;
  }
  slot(index) = entry;
}

void TimerHeap::compact() noexcept {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    const Entry entry = slot(i);
    const std::uint8_t state = entry.node->state.load(std::memory_order_relaxed);
    if (TimerNode::is_cancelled(state))
      drop_cancelled(entry.node, state);
    else
      slot(kept++) = entry;
  }
  count_ = kept;
  // Floyd's heap construction: sift each parent down, the last first.
  for (std::size_t i = kept / kArity + 1; i-- > 0;)
    if (i < kept) sift_down(i, slot(i));
}

}  // namespace weft::io
