#pragma once
// A worker's event loop backend (DESIGN.md: per-core reactors). Private to weft: the worker
// owns one, sleeps in it when it has nothing to run, and polls it every few dozen ticks while
// busy. Backends (epoll_reactor, uring_reactor) only report readiness; the IoRegistry turns a
// report into a woken fiber. Readiness is edge-triggered: a fiber waits only after its call
// returned EAGAIN, and retries the call when woken.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <weft/config.hpp>

#include "io/wake_fd.hpp"

namespace weft::io {

class IoRegistry;
struct IoSlot;
struct FileOp;

class Reactor {
 public:
  explicit Reactor(IoRegistry& registry) : registry_(registry) {}
  virtual ~Reactor() = default;
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // The owner thread (set once, by the worker when it starts).
  void bind_owner() noexcept;
  [[nodiscard]] bool on_owner() const noexcept;

  // Owner: waits up to timeout_ns (< 0: no limit, 0: only look) for readiness or unpark().
  virtual void poll(std::int64_t timeout_ns) = 0;
  // Any thread: starts watching the slot's fd for both directions under `key`.
  virtual void watch(int fd, std::uint64_t key) = 0;
  // Any thread: the fd behind `key` is about to be closed.
  virtual void unwatch(int fd, std::uint64_t key) noexcept = 0;
  [[nodiscard]] virtual Backend backend() const noexcept = 0;
  // Owner: starts `op` asynchronously and returns true (its waiter is fired on completion),
  // or returns false if this backend cannot (epoll: the caller uses the blocking pool).
  virtual bool start_file_op(FileOp& op) { return (void)op, false; }

  // Owner: blocks (up to timeout_ns) unless unpark() was called since the last park.
  void park(std::int64_t timeout_ns);
  // Any thread: makes the owner's current or next park() return.
  void unpark() noexcept {
    // Only the 0 -> 1 change writes the eventfd: at most one system call per park.
    if (token_.exchange(1, std::memory_order_acq_rel) == 0) wake_.signal();
  }
  // Owner: whether any fd is watched (a busy worker skips its periodic poll otherwise).
  [[nodiscard]] bool watching() const noexcept {
    return watched_.load(std::memory_order_relaxed) != 0;
  }

 protected:
  IoRegistry& registry_;
  WakeFd wake_;
  std::atomic<std::size_t> watched_{0};
  // The owner's pthread_t, written once when its worker starts, read by any thread.
  std::atomic<unsigned long> owner_thread_{0};

 private:
  std::atomic<std::uint32_t> token_{0};
};

// The backend `wanted` asks for. io_uring that cannot start (old kernel, seccomp,
// io_uring_disabled) falls back to epoll; `warning` then says why, for the caller to print once.
[[nodiscard]] std::unique_ptr<Reactor> make_reactor(Backend wanted, IoRegistry& registry,
                                                    std::string& warning);

// What a poll(2)-style event mask (epoll's EPOLL* bits are the same values) means for the
// waiters of an fd: errors and hang-ups wake both sides, whose next call reports them, and
// mark the slot hung up for good.
[[nodiscard]] std::uint8_t readiness_of_poll_events(std::uint32_t events) noexcept;

// The io_uring backend, or nullptr with the reason in `why_not`.
[[nodiscard]] std::unique_ptr<Reactor> make_uring_reactor(IoRegistry& registry,
                                                          std::string& why_not);
[[nodiscard]] std::unique_ptr<Reactor> make_epoll_reactor(IoRegistry& registry);

}  // namespace weft::io
