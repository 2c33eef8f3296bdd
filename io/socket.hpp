#pragma once
// A non-blocking fd owned by a fiber world: its calls park the current fiber on EAGAIN
// instead of blocking the worker, and resume when the reactor reports readiness. Closing it
// (from any fiber) wakes fibers waiting on it with an OSError(EBADF); readiness reported for
// the old fd never reaches a later user of the same number (IoSlot generations). A call in
// progress on another thread keeps the fd number itself open until it returns (as Go's fdMutex
// does), so a close never lets a racing recv or send reach a reused number.
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/clock.hpp"
#include "io/io_slot.hpp"

namespace weft::sched {
class Scheduler;
class Worker;
}  // namespace weft::sched

namespace weft::io {

class Socket {
 public:
  Socket() = default;
  // Takes ownership of fd (made non-blocking here) for the runtime of the calling fiber.
  // Outside a fiber: std::logic_error (and fd is closed).
  explicit Socket(int fd);
  ~Socket() { close(); }
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  [[nodiscard]] bool is_open() const noexcept {
    return fd_ >= 0 && !(state_.load(std::memory_order_acquire) & kClosing);
  }
  // The fd number while open, else -1.
  [[nodiscard]] int fd() const noexcept { return is_open() ? fd_ : -1; }
  // Idempotent; any thread.
  void close() noexcept;

  // Parks until the fd is ready for `what_for` (after a call returned EAGAIN). Throws
  // CancelledError, TimeoutError at the deadline, OSError(EBADF) if closed meanwhile.
  void wait(Readiness what_for, std::uint64_t deadline_ns, const char* what);

  // Up to n bytes; 0 at end of stream. Throws OSError and the errors of wait().
  [[nodiscard]] std::size_t recv(void* buffer, std::size_t n,
                                 std::uint64_t deadline_ns = kNoDeadline);
  // Sends at least one byte (parking while the socket buffer is full); returns how many.
  std::size_t send(const void* data, std::size_t n, std::uint64_t deadline_ns = kNoDeadline);
  // Without waiting: bytes sent (possibly 0 when the buffer is full).
  [[nodiscard]] std::size_t try_send(const void* data, std::size_t n);
  void send_all(const void* data, std::size_t n, std::uint64_t deadline_ns = kNoDeadline);
  // A new connection's fd (non-blocking, close-on-exec); parks while none is pending.
  [[nodiscard]] int accept(sockaddr* address, socklen_t* length, std::uint64_t deadline_ns);
  // Connects, parking until the handshake ends. Errors name `peer`.
  void connect(const sockaddr* address, socklen_t length, std::uint64_t deadline_ns,
               const std::string& peer);
  // Datagrams.
  [[nodiscard]] std::size_t recv_from(void* buffer, std::size_t n, sockaddr* from,
                                      socklen_t* length, std::uint64_t deadline_ns);
  std::size_t send_to(const void* data, std::size_t n, const sockaddr* to, socklen_t length,
                      std::uint64_t deadline_ns);

  // "fd 7" for messages.
  [[nodiscard]] std::string describe() const;
  // Has `worker`'s reactor watch this fd (any thread), unless one already does. By default the
  // reactor of the first worker to wait on it does.
  void watch_on(sched::Worker& worker);

 private:
  // Makes `call` (a system call returning -1 and errno on failure) until it succeeds: parks for
  // `readiness` on EAGAIN, retries on EINTR (and `also_retry`), throws otherwise. `doing` and
  // `name` are for messages ("reading from a socket", "recv").
  template <class Call>
  auto retry(Readiness readiness, std::uint64_t deadline_ns, const char* doing, const char* name,
             Call call, int also_retry = EINTR) -> decltype(call());
  void ensure_watched();
  [[noreturn]] void throw_closed(const char* what) const;

  // Counts calls in progress; kClosing once close() began. The last one out closes fd_.
  static constexpr std::uint32_t kClosing = 1u << 31;
  [[nodiscard]] bool enter() noexcept;
  void leave() noexcept;
  int fd_ = -1;
  std::atomic<std::uint32_t> state_{kClosing};
  bool drained_ = false;  // the last recv was short (edge-triggered: the next one waits first)
  IoSlot* slot_ = nullptr;
  std::uint32_t generation_ = 0;
  sched::Scheduler* scheduler_ = nullptr;
};

// A socket() call with SOCK_NONBLOCK | SOCK_CLOEXEC; throws OSError naming the family.
[[nodiscard]] int open_socket(int family, int type, int protocol = 0);

}  // namespace weft::io
