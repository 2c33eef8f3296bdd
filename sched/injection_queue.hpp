#pragma once
// The global injection queue: work submitted by threads that are not workers, and the overflow
// a worker spills when its StealableQueue is full. Any thread pushes, any worker pops (MPMC).
//
// An intrusive singly linked FIFO threaded through each node's `Next` member, so pushing never
// allocates, guarded by one mutex. The queue is off the hot path (a worker looks at it only
// every few ticks or when its own queue is empty), so a lock is simpler than a lock-free list
// and costs little; the lock-free length lets an idle worker skip the lock when there is
// nothing to take.
//
// The queue does not own its nodes: whoever destroys it (the runtime, at shutdown) drains it
// first.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <stdexcept>

namespace weft::sched {

template <class Node, Node* Node::*Next>
class InjectionQueue {
 public:
  InjectionQueue() = default;
  InjectionQueue(const InjectionQueue&) = delete;
  InjectionQueue& operator=(const InjectionQueue&) = delete;
  InjectionQueue(InjectionQueue&&) = delete;
  InjectionQueue& operator=(InjectionQueue&&) = delete;
  ~InjectionQueue() = default;

  // Appends one node; its Next member is overwritten.
  void push(Node* node) {
    if (node == nullptr) throw std::invalid_argument("InjectionQueue::push: null node");
    node->*Next = nullptr;
    const std::lock_guard lock(mutex_);
    append_locked(node, node, 1);
  }

  // Appends a chain first -> ... -> last of exactly n nodes, already linked through Next (the
  // last node's Next is overwritten). One lock for the whole chain; n == 0 does nothing.
  void push_batch(Node* first, Node* last, std::size_t n) {
    if (n == 0) return;
    if (first == nullptr || last == nullptr) {
      throw std::invalid_argument("InjectionQueue::push_batch: null end of a non-empty chain");
    }
    last->*Next = nullptr;
    const std::lock_guard lock(mutex_);
    append_locked(first, last, n);
  }

  // Takes the oldest node, or nullptr when empty. Authoritative: it looks at the list under the
  // lock, whatever the lock-free length says.
  [[nodiscard]] Node* pop() {
    const std::lock_guard lock(mutex_);
    if (head_ == nullptr) return nullptr;
    Node* node = head_;
    head_ = node->*Next;
    if (head_ == nullptr) tail_ = nullptr;
    node->*Next = nullptr;
    set_count_locked(count_ - 1);
    return node;
  }

  // Takes up to max of the oldest nodes into out[0..], oldest first, under one lock; returns
  // how many. The nodes' Next members are cleared.
  [[nodiscard]] std::size_t pop_batch(Node** out, std::size_t max) {
    if (max == 0) return 0;
    if (out == nullptr) throw std::invalid_argument("InjectionQueue::pop_batch: null output");
    const std::lock_guard lock(mutex_);
    std::size_t n = 0;
    while (n < max && head_ != nullptr) {
      Node* node = head_;
      head_ = node->*Next;
      node->*Next = nullptr;
      out[n++] = node;
    }
    if (head_ == nullptr) tail_ = nullptr;
    if (n != 0) set_count_locked(count_ - n);
    return n;
  }

  // Lock-free reads for a worker's fast path. The length is stored inside the critical section
  // after the list itself changes, so a reader may briefly see the old value: a push that is
  // still holding the lock, or a pop that already emptied the list. Both are safe. A stale
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
  void append_locked(Node* first, Node* last, std::size_t n) {
    if (tail_ == nullptr) {
      head_ = first;
    } else {
      tail_->*Next = first;
    }
    tail_ = last;
    set_count_locked(count_ + n);
  }

  void set_count_locked(std::size_t n) noexcept {
    count_ = n;
    // seq_cst: see size(). The nodes themselves are published by the mutex, not by this store.
    length_.store(n, std::memory_order_seq_cst);
  }

  static constexpr std::size_t kCacheLine = 64;

  std::mutex mutex_;
  Node* head_ = nullptr;   // guarded by mutex_
  Node* tail_ = nullptr;   // guarded by mutex_
  std::size_t count_ = 0;  // guarded by mutex_; the authoritative length
  // Mirror of count_ for lock-free readers, on its own line so that idle workers polling it
  // do not slow down whoever holds the lock.
  alignas(kCacheLine) std::atomic<std::size_t> length_{0};
};

}  // namespace weft::sched
