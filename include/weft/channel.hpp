#pragma once
// Channel<T>: a bounded multi-producer multi-consumer channel (Go's buffered chan, Tokio's
// mpsc, but with many receivers). send() parks while full; recv() parks while empty and returns
// std::nullopt once the channel is closed and drained; close() wakes everyone. A range-for
// receives until then:
//
//   weft::Channel<int> ch(16);
//   weft::spawn([&] { for (int i = 0; i < 3; ++i) ch.send(i); ch.close(); });
//   for (int x : ch) use(x);
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include "weft/detail/pull_iterator.hpp"
#include "weft/detail/queue_core.hpp"
#include "weft/errors.hpp"
#include "weft/time.hpp"
#include "weft/timeout.hpp"

namespace weft {

// send() on a closed channel.
class WEFT_API ChannelClosed : public std::runtime_error {
 public:
  ChannelClosed() : std::runtime_error("weft::ChannelClosed: send on a closed channel") {}
};

template <class T>
class Channel {
  using Side = detail::QueueCore::Side;

 public:
  // capacity >= 1 (std::invalid_argument otherwise).
  explicit Channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("weft::Channel: capacity must be at least 1");
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Parks while full; ChannelClosed once closed.
  void send(T value) { send_until(std::move(value), UINT64_MAX); }
  template <class Rep, class Period>
  void send(T value, std::chrono::duration<Rep, Period> timeout) {
    send_until(std::move(value), detail::deadline_ns_after(timeout));
  }
  // False if full; ChannelClosed once closed. From any thread.
  [[nodiscard]] bool try_send(T& value) {
    detail::QueueCore::HandedWake wake;  // after the unlock (see push_locked)
    std::unique_lock held(core_);
    if (closed_) throw ChannelClosed();
    if (items_.size() >= capacity_) return false;
    push_locked(std::move(value), wake);
    return true;
  }

  // Parks while empty; nullopt once closed and drained.
  [[nodiscard]] std::optional<T> recv() { return recv_until(UINT64_MAX); }
  // TimeoutError if nothing came within `timeout`.
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> recv(std::chrono::duration<Rep, Period> timeout) {
    return recv_until(detail::deadline_ns_after(timeout));
  }
  // nullopt if empty right now (or closed and drained).
  [[nodiscard]] std::optional<T> try_recv() {
    std::unique_lock held(core_);
    if (items_.empty()) return std::nullopt;
    return pop_locked();
  }

  // No more sends; receivers drain what is buffered, then get nullopt. Idempotent.
  void close() noexcept {
    std::unique_lock held(core_);
    closed_ = true;
    core_.notify_all(Side::getters);
    core_.notify_all(Side::putters);
  }
  [[nodiscard]] bool closed() const {
    std::unique_lock held(core_);
    return closed_;
  }
  [[nodiscard]] std::size_t size() const {
    std::unique_lock held(core_);
    return items_.size();
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  using iterator = detail::PullIterator<Channel, T>;
  // Receives until closed and drained. Several fibers may each loop over the same Channel.
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend iterator;
  std::optional<T> pull() { return recv(); }
  // `wake` must be declared before the caller's lock guard: a receiver handed the value may
  // return, and destroy this channel, as soon as it is woken.
  void push_locked(T&& value, [[maybe_unused]] detail::QueueCore::HandedWake& wake) {
    // Straight to a parked receiver when nothing is buffered ahead of it.
    if constexpr (detail::QueueCore::kHandsOff<T>) {
      if (items_.empty() && core_.hand_off(Side::getters, value, wake)) {
        // The buffer has room still: a sender woken for it, which handed its value over
        // instead, passes the wake-up on.
        core_.notify_one(Side::putters);
        return;
      }
    }
    items_.push_back(std::move(value));
    core_.notify_one(Side::getters);
  }
  T pop_locked() {
    T value = std::move(items_.front());
    items_.pop_front();
    core_.notify_one(Side::putters);
    return value;
  }
  void send_until(T&& value, std::uint64_t deadline_ns) {
    detail::QueueCore::HandedWake wake;  // after the unlock (see push_locked)
    std::unique_lock held(core_);
    for (;;) {
      if (closed_) throw ChannelClosed();
      if (items_.size() < capacity_) break;
      if (!core_.wait(held, Side::putters, deadline_ns, "sending on a full Channel") &&
          items_.size() >= capacity_ && !closed_)
        throw TimeoutError("weft::Channel::send: still full at the timeout");
    }
    push_locked(std::move(value), wake);
  }
  std::optional<T> recv_until(std::uint64_t deadline_ns) {
    // One result object for both ways an item comes (popped, or handed into it while parked),
    // so the common path returns it in place.
    std::optional<T> item;
    constexpr const char* kWhat = "receiving from an empty Channel";
    std::unique_lock held(core_);
    while (items_.empty()) {
      if (closed_) return item;
      bool woken;
      if constexpr (detail::QueueCore::kHandsOff<T>) {
        const auto how = core_.wait_offering(held, Side::getters, deadline_ns, kWhat, &item);
        if (how == detail::QueueCore::Woken::handed) return item;  // the lock is not held
        woken = how == detail::QueueCore::Woken::notified;
      } else {
        woken = core_.wait(held, Side::getters, deadline_ns, kWhat);
      }
      if (!woken && items_.empty() && !closed_)
        throw TimeoutError("weft::Channel::recv: nothing arrived before the timeout");
    }
    item.emplace(pop_locked());
    return item;
  }

  mutable detail::QueueCore core_;
  std::deque<T> items_;
  const std::size_t capacity_;
  bool closed_ = false;
};

}  // namespace weft
