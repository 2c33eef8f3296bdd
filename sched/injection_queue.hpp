#pragma once
// The global injection queue: work submitted by threads that are not workers, and the overflow
// a worker spills when its StealableQueue is full. Any thread pushes, any worker pops (MPMC).
//
// A ring of node pointers, guarded by one spin lock, that doubles when full (up to `max_ring`
// slots), with an intrusive singly linked list through each node's `Next` member behind it for
// what the ring cannot take (it may not grow: out of memory, or at its limit), so pushing never
// fails. A ring, not only a list: a worker taking a batch reads the pointers from a few
// contiguous cache lines, where walking a list costs one cache miss per node, in series, under
// the lock (a spill's nodes were last written by the worker that spilled them). Everything in
// the list is newer than everything in the ring: while the list holds anything, pushes go to
// it, and pops take from the ring first, so the queue stays FIFO.
//
// The queue is off the hot path (a worker looks at it only every few ticks or when its own
// queue is empty), so a lock is simpler than a lock-free queue and costs little; the lock-free
// length lets an idle worker skip the lock when there is nothing to take.
//
// The queue does not own its nodes: whoever destroys it (the runtime, at shutdown) drains it
// first.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

#include "sync/spin_lock.hpp"

namespace weft::sched {

template <class Node, Node* Node::*Next>
class InjectionQueue {
 public:
  static constexpr std::size_t kInitialRing = 256;
  static constexpr std::size_t kDefaultMaxRing = std::size_t{1} << 20;
  // Both powers of two, max_ring >= initial_ring >= 1.
  explicit InjectionQueue(std::size_t initial_ring = kInitialRing,
                          std::size_t max_ring = kDefaultMaxRing)
      : initial_ring_(initial_ring), max_ring_(max_ring) {
    if (!is_power_of_two(initial_ring) || !is_power_of_two(max_ring) || max_ring < initial_ring)
      throw std::invalid_argument(
          "InjectionQueue: ring sizes must be powers of two, max >= initial");
    ring_ = std::make_unique<Node*[]>(initial_ring);
    capacity_ = initial_ring;
  }
  InjectionQueue(const InjectionQueue&) = delete;
  InjectionQueue& operator=(const InjectionQueue&) = delete;
  InjectionQueue(InjectionQueue&&) = delete;
  InjectionQueue& operator=(InjectionQueue&&) = delete;
  ~InjectionQueue() = default;

  // Appends one node. Its Next member is left alone if the node goes into the ring, and
  // overwritten if it goes into the list.
  void push(Node* node) {
    if (node == nullptr) throw std::invalid_argument("InjectionQueue::push: null node");
    std::unique_ptr<Node*[]> old_ring;  // freed once the lock is let go (declared before it)
    const std::lock_guard lock(lock_);
    if (room_locked(1, old_ring)) {
      put_locked(node);
    } else {
      node->*Next = nullptr;
      append_list_locked(node, node, 1);
    }
    publish_locked();
  }

  // Appends nodes[0..n), oldest first, under one lock; n == 0 does nothing.
  void push_array(Node* const* nodes, std::size_t n) {
    if (n == 0) return;
    if (nodes == nullptr || std::find(nodes, nodes + n, nullptr) != nodes + n)
      throw std::invalid_argument("InjectionQueue::push_array: null array or node");
    std::unique_ptr<Node*[]> old_ring;  // freed once the lock is let go (declared before it)
    const std::lock_guard lock(lock_);
    if (room_locked(n, old_ring)) {
      for (std::size_t i = 0; i < n; ++i) put_locked(nodes[i]);
    } else {
      for (std::size_t i = 0; i + 1 < n; ++i) nodes[i]->*Next = nodes[i + 1];
      nodes[n - 1]->*Next = nullptr;
      append_list_locked(nodes[0], nodes[n - 1], n);
    }
    publish_locked();
  }

  // Takes the oldest node, or nullptr when empty. Authoritative: it looks at the queue under
  // the lock, whatever the lock-free length says.
  [[nodiscard]] Node* pop() {
    Node* node = nullptr;
    return pop_batch(&node, 1) == 1 ? node : nullptr;
  }

  // Takes up to max of the oldest nodes into out[0..], oldest first, under one lock; returns
  // how many. The Next member of a node taken from the list is cleared.
  [[nodiscard]] std::size_t pop_batch(Node** out, std::size_t max) {
    if (max == 0) return 0;
    if (out == nullptr) throw std::invalid_argument("InjectionQueue::pop_batch: null output");
    std::unique_ptr<Node*[]> old_ring;  // freed once the lock is let go (declared before it)
    const std::lock_guard lock(lock_);
    std::size_t n = std::min(max, in_ring_);
    for (std::size_t i = 0; i < n; ++i) out[i] = ring_[(head_ + i) & (capacity_ - 1)];
    head_ = (head_ + n) & (capacity_ - 1);
    in_ring_ -= n;
    while (n < max && list_head_ != nullptr) {
      Node* node = list_head_;
      list_head_ = node->*Next;
      node->*Next = nullptr;
      out[n++] = node;
      --in_list_;
    }
    if (list_head_ == nullptr) list_tail_ = nullptr;
    if (in_ring_ == 0) {
      head_ = 0;
      // A burst is over: give back a ring that grew far beyond its usual size.
      if (capacity_ > kShrinkAbove && capacity_ > initial_ring_) shrink_locked(old_ring);
    }
    if (n != 0) publish_locked();
    return n;
  }

  // Lock-free reads for a worker's fast path. The length is stored inside the critical section
  // after the queue itself changes, so a reader may briefly see the old value: a push that is
  // still holding the lock, or a pop that already emptied the queue. Both are safe. A stale
  // "non-empty" costs one lock round trip in which pop() finds nothing; a stale "empty" cannot
  // strand work, because the pusher wakes an idle worker through the parking protocol after
  // push() returns, and a worker about to park re-checks after announcing itself idle.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] std::size_t size() const noexcept {
    // seq_cst (with the seq_cst store below): the parking protocol may use this load as the
    // Dekker-style re-check "publish I am idle, then look at the queue" against a pusher's
    // "publish the item, then look for idle workers"; both pairs must be seq_cst so that at
    // least one side sees the other.
    return length_.load(std::memory_order_seq_cst);
  }

 private:
  static constexpr std::size_t kShrinkAbove = 4096;

  static constexpr bool is_power_of_two(std::size_t n) noexcept {
    return n != 0 && (n & (n - 1)) == 0;
  }

  // Whether n more nodes can go into the ring, growing it if need be. Never while the list
  // holds anything (FIFO: the list's nodes are older than the new ones). A ring that is
  // replaced goes to `old_ring`, for the caller to free after it lets go of the lock (a large
  // one is unmapped, a TLB shootdown that others would spin through). Growing itself happens
  // under the lock, once per doubling.
  bool room_locked(std::size_t n, std::unique_ptr<Node*[]>& old_ring) noexcept {
    if (list_head_ != nullptr) return false;
    if (in_ring_ + n <= capacity_) return true;
    std::size_t grown = capacity_;
    while (grown < in_ring_ + n && grown < max_ring_) grown *= 2;
    if (grown < in_ring_ + n) return false;
    return resize_locked(grown, old_ring);
  }
  bool resize_locked(std::size_t capacity, std::unique_ptr<Node*[]>& old_ring) noexcept {
    std::unique_ptr<Node*[]> ring;
    try {
      ring = std::make_unique_for_overwrite<Node*[]>(capacity);
    } catch (const std::bad_alloc&) {
      return false;
    }
    for (std::size_t i = 0; i < in_ring_; ++i) ring[i] = ring_[(head_ + i) & (capacity_ - 1)];
    old_ring = std::exchange(ring_, std::move(ring));
    capacity_ = capacity;
    head_ = 0;
    return true;
  }
  // Keeps the big ring if the small one cannot be had.
  void shrink_locked(std::unique_ptr<Node*[]>& old_ring) noexcept {
    resize_locked(initial_ring_, old_ring);
  }
  void put_locked(Node* node) noexcept {
    ring_[(head_ + in_ring_) & (capacity_ - 1)] = node;
    ++in_ring_;
  }
  void append_list_locked(Node* first, Node* last, std::size_t n) noexcept {
    if (list_tail_ == nullptr) {
      list_head_ = first;
    } else {
      list_tail_->*Next = first;
    }
    list_tail_ = last;
    in_list_ += n;
  }
  void publish_locked() noexcept {
    // seq_cst: see size(). The nodes themselves are published by the lock, not by this store.
    length_.store(in_ring_ + in_list_, std::memory_order_seq_cst);
  }

  static constexpr std::size_t kCacheLine = 64;

  const std::size_t initial_ring_;
  const std::size_t max_ring_;
  // A spin lock, not a mutex: its sections are a few dozen instructions, and a worker that
  // sleeps in futex() for one halts its vCPU, whose wake-up a busy host may delay by milliseconds.
  sync::SpinLock lock_;
  // Guarded by lock_: the ring (capacity_ slots, in_ring_ of them used from head_ on) and the
  // list behind it.
  std::unique_ptr<Node*[]> ring_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t in_ring_ = 0;
  Node* list_head_ = nullptr;
  Node* list_tail_ = nullptr;
  std::size_t in_list_ = 0;
  // Mirror of the length for lock-free readers, on its own line so that idle workers polling it
  // do not slow down whoever holds the lock.
  alignas(kCacheLine) std::atomic<std::size_t> length_{0};
};

}  // namespace weft::sched
