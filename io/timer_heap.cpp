#include "io/timer_heap.hpp"

#include <utility>

#include "sched/task_block.hpp"
#include "sched/waiter.hpp"

namespace weft::io {

TimerHeap::~TimerHeap() = default;  // nodes live in chunks_; no fiber can still hold one

TimerNode* TimerHeap::allocate() {
  if (!free_) free_ = returned_.exchange(nullptr, std::memory_order_acquire);
  if (!free_) {
    auto chunk = std::make_unique<TimerNode[]>(kChunk);
    for (std::size_t i = 0; i < kChunk; ++i)
      chunk[i].next_free = i + 1 < kChunk ? &chunk[i + 1] : nullptr;
    free_ = &chunk[0];
    chunks_.push_back(std::move(chunk));
  }
  TimerNode* node = free_;
  free_ = node->next_free;
  return node;
}

TimerNode* TimerHeap::add(std::uint64_t deadline_ns, sched::Waiter& waiter) {
  if (remote_cancelled_.load(std::memory_order_relaxed) >
      static_cast<std::int64_t>(64 + heap_.size() / 2))
    compact();
  TimerNode* node = allocate();
  node->deadline = deadline_ns;
  node->waiter = &waiter;
  node->task = waiter.task();
  node->owner = this;
  node->state.store(TimerNode::armed, std::memory_order_relaxed);
  node->released.store(0, std::memory_order_relaxed);
  heap_.push_back(node);
  node->index = heap_.size() - 1;
  sift_up(node->index);
  return node;
}

void TimerHeap::cancel(TimerNode* node, bool on_owner) noexcept {
  TimerHeap& owner = *node->owner;
  std::uint8_t state = TimerNode::armed;
  // acq_rel: pairs with expire()'s CAS; exactly one of them owns the waiter.
  if (node->state.compare_exchange_strong(state, TimerNode::cancelled, std::memory_order_acq_rel)) {
    if (on_owner && node->index != TimerNode::kOutOfHeap) {
      owner.remove_at(node->index);
      owner.recycle(node);
      return;
    }
    owner.remote_cancelled_.fetch_add(1, std::memory_order_relaxed);
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
  while (!heap_.empty() && heap_.front()->deadline <= now_ns) {
    // Take up to a batch of due timers out of the heap, announcing the waiter and task each
    // will touch; the misses (waiters sit on the stacks of fibers parked for milliseconds)
    // then overlap with the sifting instead of stalling one fire after another. A node taken
    // out stays armed until fired below: a cancel meanwhile finds it armed and wins as a
    // remote cancel does (firing only queues tasks, so none should come from this thread, but
    // kOutOfHeap keeps one from unlinking a node that is no longer in the heap).
    std::size_t taken = 0;
    do {
      TimerNode* node = heap_.front();
      remove_at(0);
      node->index = TimerNode::kOutOfHeap;
      if (node->state.load(std::memory_order_relaxed) == TimerNode::armed) {
        node->waiter->prefetch_for_fire();
        if (node->task) __builtin_prefetch(&node->task->wake_state, 1);
      }
      batch[taken++] = node;
    } while (taken < kExpireBatch && !heap_.empty() && heap_.front()->deadline <= now_ns);
    for (std::size_t i = 0; i < taken; ++i) {
      TimerNode* node = batch[i];
      std::uint8_t state = TimerNode::armed;
      if (node->state.compare_exchange_strong(state, TimerNode::firing,
                                              std::memory_order_acq_rel)) {
        node->waiter->fire(sched::WakeReason::timed_out);
        node->state.store(TimerNode::fired, std::memory_order_release);
        ++fired;
      } else {
        remote_cancelled_.fetch_sub(1, std::memory_order_relaxed);
      }
      release(node, TimerNode::kLeftHeap);
    }
  }
  return fired;
}

std::uint64_t TimerHeap::next_deadline() const noexcept {
  return heap_.empty() ? UINT64_MAX : heap_.front()->deadline;
}

void TimerHeap::remove_at(std::size_t index) noexcept {
  TimerNode* last = heap_.back();
  heap_.pop_back();
  if (index == heap_.size()) return;  // it was the last one
  place(index, last);
  if (index > 0 && last->deadline < heap_[(index - 1) / kArity]->deadline)
    sift_up(index);
  else
    sift_down(index);
}

void TimerHeap::sift_up(std::size_t index) noexcept {
  TimerNode* node = heap_[index];
  while (index > 0) {
    const std::size_t parent = (index - 1) / kArity;
    if (heap_[parent]->deadline <= node->deadline) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, node);
}

void TimerHeap::sift_down(std::size_t index) noexcept {
  TimerNode* node = heap_[index];
  const std::size_t size = heap_.size();
  for (;;) {
    const std::size_t first = index * kArity + 1;
    if (first >= size) break;
    std::size_t best = first;
    for (std::size_t c = first + 1; c < first + kArity && c < size; ++c)
      if (heap_[c]->deadline < heap_[best]->deadline) best = c;
    if (heap_[best]->deadline >= node->deadline) break;
    place(index, heap_[best]);
    index = best;
  }
  place(index, node);
}

void TimerHeap::compact() noexcept {
  std::size_t kept = 0;
  std::size_t dropped = 0;
  for (TimerNode* node : heap_) {
    if (node->state.load(std::memory_order_acquire) == TimerNode::cancelled) {
      release(node, TimerNode::kLeftHeap);
      ++dropped;
    } else {
      heap_[kept++] = node;
    }
  }
  heap_.resize(kept);
  remote_cancelled_.fetch_sub(static_cast<std::int64_t>(dropped), std::memory_order_relaxed);
  for (std::size_t i = 0; i < kept; ++i) heap_[i]->index = i;
  for (std::size_t i = kept; i-- > 0;) sift_down(i);
}

}  // namespace weft::io
