#pragma once
// asyncio.Queue, PriorityQueue and LifoQueue, for fibers on any worker (and put_nowait from any
// thread). maxsize 0 means unbounded. get() parks while empty, put() while full; both have a
// timeout variant (TimeoutError) and a non-parking try_ variant (QueueEmpty / QueueFull).
// task_done()/join() count unfinished items; shutdown() (Python 3.13) makes put() raise
// QueueShutDown and get() raise it once the queue is empty (at once with immediate = true,
// which also drops the items). A waiter that is cancelled or times out takes no item: items
// stay in the queue until a get() returns them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "weft/detail/queue_core.hpp"
#include "weft/errors.hpp"
#include "weft/time.hpp"
#include "weft/timeout.hpp"

namespace weft {

namespace detail {

template <class T>
struct FifoItems {
  std::deque<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items.front());
    items.pop_front();
    return item;
  }
  [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
  void clear() noexcept { items.clear(); }
};

template <class T>
struct LifoItems {
  std::vector<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
  [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
  void clear() noexcept { items.clear(); }
};

// Smallest first by `Compare` (asyncio's PriorityQueue is a min-heap too).
template <class T, class Compare>
struct PriorityItems {
  std::vector<T> heap;
  Compare compare;
  bool after(const T& a, const T& b) const { return compare(b, a); }
  void push(T&& item) {
    heap.push_back(std::move(item));
    std::push_heap(heap.begin(), heap.end(),
                   [this](const T& a, const T& b) { return after(a, b); });
  }
  T pop() {
    std::pop_heap(heap.begin(), heap.end(), [this](const T& a, const T& b) { return after(a, b); });
    T item = std::move(heap.back());
    heap.pop_back();
    return item;
  }
  [[nodiscard]] std::size_t size() const noexcept { return heap.size(); }
  void clear() noexcept { heap.clear(); }
};

template <class T, class Items>
class BasicQueue {
  using Side = QueueCore::Side;

 public:
  explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  void put(T item) { put_until(std::move(item), UINT64_MAX); }
  template <class Rep, class Period>
  void put(T item, std::chrono::duration<Rep, Period> timeout) {
    put_until(std::move(item), deadline_ns_after(timeout));
  }
  // QueueFull if full, QueueShutDown after shutdown(). From any thread.
  void try_put(T item) {
    QueueCore::HandedWake wake;  // after the unlock (see push_locked)
    std::unique_lock held(core_);
    check_open();
    if (full_locked()) throw QueueFull();
    push_locked(std::move(item), wake);
  }
  void put_nowait(T item) { try_put(std::move(item)); }

  [[nodiscard]] T get() { return get_until(UINT64_MAX); }
  template <class Rep, class Period>
  [[nodiscard]] T get(std::chrono::duration<Rep, Period> timeout) {
    return get_until(deadline_ns_after(timeout));
  }
  // QueueEmpty if empty (QueueShutDown if also shut down).
  [[nodiscard]] T try_get() {
    std::unique_lock held(core_);
    if (items_.size() == 0) {
      if (shutdown_) throw QueueShutDown();
      throw QueueEmpty();
    }
    return pop_locked();
  }
  [[nodiscard]] T get_nowait() { return try_get(); }

  [[nodiscard]] std::size_t qsize() const {
    std::unique_lock held(core_);
    return items_.size();
  }
  [[nodiscard]] bool empty() const { return qsize() == 0; }
  [[nodiscard]] bool full() const {
    std::unique_lock held(core_);
    return full_locked();
  }
  [[nodiscard]] std::size_t maxsize() const noexcept { return maxsize_; }

  // One item taken by get() has been dealt with. std::invalid_argument if called more often
  // than items were put.
  void task_done() {
    std::unique_lock held(core_);
    if (unfinished_ == 0)
      throw std::invalid_argument("weft::Queue::task_done: called more times than items were put");
    if (--unfinished_ == 0) core_.notify_all(Side::joiners);
  }
  // Parks until every item put has had its task_done().
  void join() { join_until(UINT64_MAX); }
  // TimeoutError if items are still unfinished after `timeout`.
  template <class Rep, class Period>
  void join(std::chrono::duration<Rep, Period> timeout) {
    join_until(deadline_ns_after(timeout));
  }

  // Python 3.13's Queue.shutdown.
  void shutdown(bool immediate = false) {
    std::unique_lock held(core_);
    shutdown_ = true;
    if (immediate) {
      const std::size_t dropped = items_.size();
      items_.clear();
      unfinished_ -= std::min(unfinished_, dropped);
      if (unfinished_ == 0) core_.notify_all(Side::joiners);
    }
    core_.notify_all(Side::getters);
    core_.notify_all(Side::putters);
  }
  [[nodiscard]] bool is_shut_down() const {
    std::unique_lock held(core_);
    return shutdown_;
  }

 private:
  void join_until(std::uint64_t deadline_ns) {
    std::unique_lock held(core_);
    while (unfinished_ != 0) {
      if (!core_.wait(held, Side::joiners, deadline_ns, "joining a Queue") && unfinished_ != 0)
        throw TimeoutError("weft::Queue::join: items still unfinished at the timeout");
    }
  }
  void check_open() const {
    if (shutdown_) throw QueueShutDown();
  }
  bool full_locked() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  // `wake` must be declared before the caller's lock guard: a getter handed the item may
  // return, and destroy this queue, as soon as it is woken.
  void push_locked(T&& item, [[maybe_unused]] QueueCore::HandedWake& wake) {
    // Straight to a parked getter when nothing is queued ahead of it.
    if constexpr (QueueCore::kHandsOff<T>) {
      if (items_.size() == 0 && core_.hand_off(Side::getters, item, wake)) {
        ++unfinished_;  // the getter's task_done() needs the lock we hold
        // The queue has room still: a putter woken for it, which handed its item over
        // instead, passes the wake-up on.
        if (maxsize_ != 0) core_.notify_one(Side::putters);
        return;
      }
    }
    items_.push(std::move(item));
    ++unfinished_;
    core_.notify_one(Side::getters);
  }
  T pop_locked() {
    T item = items_.pop();
    if (maxsize_ != 0) core_.notify_one(Side::putters);
    return item;
  }
  void put_until(T&& item, std::uint64_t deadline_ns) {
    QueueCore::HandedWake wake;  // after the unlock (see push_locked)
    std::unique_lock held(core_);
    check_open();
    while (full_locked()) {
      const bool woken = core_.wait(held, Side::putters, deadline_ns, "putting into a full Queue");
      check_open();
      if (!woken && full_locked())
        throw TimeoutError("weft::Queue::put: still full at the timeout");
    }
    push_locked(std::move(item), wake);
  }
  T get_until(std::uint64_t deadline_ns) {
    constexpr const char* kWhat = "getting from an empty Queue";
    std::unique_lock held(core_);
    while (items_.size() == 0) {
      if (shutdown_) throw QueueShutDown();
      bool woken;
      if constexpr (QueueCore::kHandsOff<T>) {
        std::optional<T> handed;
        const auto how = core_.wait_offering(held, Side::getters, deadline_ns, kWhat, &handed);
        if (how == QueueCore::Woken::handed) return std::move(*handed);  // the lock is not held
        woken = how == QueueCore::Woken::notified;
      } else {
        woken = core_.wait(held, Side::getters, deadline_ns, kWhat);
      }
      if (!woken && items_.size() == 0) {
        if (shutdown_) throw QueueShutDown();
        throw TimeoutError("weft::Queue::get: still empty at the timeout");
      }
    }
    return pop_locked();
  }

  mutable QueueCore core_;
  Items items_;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
};

}  // namespace detail

template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoItems<T>> {
 public:
  using detail::BasicQueue<T, detail::FifoItems<T>>::BasicQueue;
};

template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoItems<T>> {
 public:
  using detail::BasicQueue<T, detail::LifoItems<T>>::BasicQueue;
};

// Items come out smallest first by Compare.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::PriorityItems<T, Compare>> {
 public:
  using detail::BasicQueue<T, detail::PriorityItems<T, Compare>>::BasicQueue;
};

}  // namespace weft
