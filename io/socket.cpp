#include "io/socket.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <weft/errors.hpp>

#include "io/io_registry.hpp"
#include "io/reactor.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/scheduler.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::io {
namespace {

bool would_block(int error) noexcept {
  return error == EAGAIN || error == EWOULDBLOCK;
}

}  // namespace

template <class Call>
auto Socket::retry(Readiness readiness, std::uint64_t deadline_ns, const char* doing,
                   const char* name, Call call, int also_retry) -> decltype(call()) {
  for (;;) {
    if (!enter()) throw_closed(doing);
    const auto result = call();
    const int error = errno;
    leave();
    if (result >= 0) return result;
    if (would_block(error))
      wait(readiness, deadline_ns, doing);
    else if (error == EBADF && !is_open())
      throw_closed(doing);
    else if (error != EINTR && error != also_retry)
      throw_os_error(error, std::string("weft: ") + name + " on " + describe());
  }
}

int open_socket(int family, int type, int protocol) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_os_error(errno, "weft: socket(family " + std::to_string(family) + ")");
  return fd;
}

Socket::Socket(int fd) {
  sched::Worker* worker = sched::current_worker();
  if (!worker || !worker->current_task()) {
    ::close(fd);
    throw std::logic_error(
        "weft: sockets need a weft fiber (inside weft::run, a task, or Runtime::submit)");
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  scheduler_ = &worker->scheduler();
  try {
    slot_ = &scheduler_->io_slots.acquire(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  generation_ = slot_->generation;
  fd_ = fd;
  state_.store(0, std::memory_order_release);
}

// Moves happen while no call is in progress (a Socket in use is not moved).
Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      state_(other.state_.exchange(kClosing, std::memory_order_acq_rel)),
      slot_(std::exchange(other.slot_, nullptr)),
      generation_(other.generation_),
      scheduler_(other.scheduler_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    slot_ = std::exchange(other.slot_, nullptr);
    generation_ = other.generation_;
    scheduler_ = other.scheduler_;
    fd_ = std::exchange(other.fd_, -1);
    state_.store(other.state_.exchange(kClosing, std::memory_order_acq_rel),
                 std::memory_order_release);
  }
  return *this;
}

bool Socket::enter() noexcept {
  std::uint32_t state = state_.load(std::memory_order_relaxed);
  do {
    if (state & kClosing) return false;
  } while (!state_.compare_exchange_weak(state, state + 1, std::memory_order_acquire,
                                         std::memory_order_relaxed));
  return true;
}

void Socket::leave() noexcept {
  // acq_rel: the closer's work (and ours) happens before the fd number is given back.
  if (state_.fetch_sub(1, std::memory_order_acq_rel) == (kClosing | 1)) ::close(fd_);
}

void Socket::close() noexcept {
  std::uint32_t state = state_.load(std::memory_order_relaxed);
  do {
    if (state & kClosing) return;
    // The closer counts as a call in progress too, until it is done with the number: a call
    // that ends meanwhile must not close the fd under the unwatch below (which could then
    // remove the registration of a new fd that reused the number).
  } while (!state_.compare_exchange_weak(state, (state | kClosing) + 1, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  // Stop watching and wake the waiters now; the number stays open while a call is in progress.
  const int reactor = slot_->reactor.load(std::memory_order_acquire);
  if (reactor >= 0)
    scheduler_->workers[static_cast<unsigned>(reactor)]->reactor().unwatch(
        fd_, key_of(slot_->index, generation_));
  scheduler_->io_slots.close(*slot_);  // wakes waiters; they see a new generation
  leave();  // closes the fd, unless a call is still in progress: its leave() will
}

std::string Socket::describe() const {
  return "fd " + std::to_string(fd());
}

void Socket::throw_closed(const char* what) const {
  throw OSError(EBADF, std::string("weft: the socket was closed while ") + what);
}

void Socket::ensure_watched() {
  if (slot_->reactor.load(std::memory_order_acquire) >= 0) return;
  watch_on(sched::fiber_worker("waiting on a socket"));
}

void Socket::watch_on(sched::Worker& worker) {
  // As a call in progress: a close() meanwhile must not let the number go (and be reused by
  // another fd, which this registration would then watch under our key) before it is watched;
  // the fd's own close drops the registration.
  if (!enter()) throw_closed("waiting on a socket");
  int expected = -1;
  // One registration per fd: its readiness goes to that worker's reactor (a fiber that later
  // runs elsewhere is still woken, through that reactor).
  if (slot_->reactor.compare_exchange_strong(expected, static_cast<int>(worker.index()),
                                             std::memory_order_acq_rel)) {
    try {
      worker.reactor().watch(fd_, key_of(slot_->index, generation_));
    } catch (...) {
      slot_->reactor.store(-1, std::memory_order_release);
      leave();
      throw;
    }
  }
  leave();
}

void Socket::wait(Readiness what_for, std::uint64_t deadline_ns, const char* what) {
  if (!is_open()) throw_closed(what);
  sched::Worker& worker = sched::fiber_worker(what);
  detail::TaskBlock* task = worker.current_task();
  ensure_watched();
  IoSlot& slot = *slot_;
  sched::Waiter waiter(task);
  sched::Waiter* IoSlot::*side = what_for == kReadable ? &IoSlot::reader : &IoSlot::writer;
  {
    std::lock_guard guard(slot.lock);
    if (slot.closed || slot.generation != generation_) throw_closed(what);
    if (slot.ready & what_for) {  // readiness came after our call saw EAGAIN: retry it
      slot.ready &= static_cast<std::uint8_t>(~what_for);
      return;
    }
    if (slot.*side)
      throw InvalidStateError(std::string("weft: two fibers wait at once while ") + what + " on " +
                              describe());
    slot.*side = &waiter;
  }
  const sched::WakeReason why = park_until(waiter, what, deadline_ns);
  bool closed;
  {
    // Taking the lock also waits out a reactor still firing this waiter.
    std::lock_guard guard(slot.lock);
    if (slot.*side == &waiter) slot.*side = nullptr;
    closed = slot.closed || slot.generation != generation_;
  }
  if (why == sched::WakeReason::cancelled) detail::throw_cancelled(task);
  if (closed) throw_closed(what);
  if (why == sched::WakeReason::timed_out)
    throw TimeoutError(std::string("weft: timed out ") + what);
}

std::size_t Socket::recv(void* buffer, std::size_t n, std::uint64_t deadline_ns) {
  // The last read came back short, so the socket was drained then: wait for the next edge
  // instead of paying a system call for EAGAIN (data that came since set the readiness bit,
  // and wait() returns at once). Not after a hang-up: its edge may have come with that data.
  if (std::exchange(drained_, false) && !slot_->hung_up.load(std::memory_order_acquire))
    wait(kReadable, deadline_ns, "reading from a socket");
  const auto got =
      static_cast<std::size_t>(retry(kReadable, deadline_ns, "reading from a socket", "recv",
                                     [&] { return ::recv(fd_, buffer, n, 0); }));
  drained_ = got > 0 && got < n;
  return got;
}

std::size_t Socket::try_send(const void* data, std::size_t n) {
  for (;;) {
    if (!enter()) throw_closed("writing to a socket");
    const ssize_t sent = ::send(fd_, data, n, MSG_NOSIGNAL);
    const int error = errno;
    leave();
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (would_block(error)) return 0;
    if (error == EBADF && !is_open()) throw_closed("writing to a socket");
    if (error != EINTR) throw_os_error(error, "weft: send on " + describe());
  }
}

std::size_t Socket::send(const void* data, std::size_t n, std::uint64_t deadline_ns) {
  for (;;) {
    if (std::size_t sent = try_send(data, n); sent > 0 || n == 0) return sent;
    wait(kWritable, deadline_ns, "writing to a socket");
  }
}

void Socket::send_all(const void* data, std::size_t n, std::uint64_t deadline_ns) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const std::size_t sent = send(p, n, deadline_ns);
    p += sent;
    n -= sent;
  }
}

int Socket::accept(sockaddr* address, socklen_t* length, std::uint64_t deadline_ns) {
  // ECONNABORTED: a connection that was reset while queued; take the next one.
  return retry(
      kReadable, deadline_ns, "accepting a connection", "accept",
      [&] { return ::accept4(fd_, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC); }, ECONNABORTED);
}

void Socket::connect(const sockaddr* address, socklen_t length, std::uint64_t deadline_ns,
                     const std::string& peer) {
  if (!enter()) throw_closed("connecting");
  const int rc = ::connect(fd_, address, length);
  int error = errno;
  leave();
  if (rc == 0) return;
  if (error == EINPROGRESS || error == EINTR) {
    try {
      wait(kWritable, deadline_ns, "connecting");
    } catch (const TimeoutError&) {
      throw TimeoutError("weft: timed out connecting to " + peer);
    }
    socklen_t size = sizeof error;
    if (!enter()) throw_closed("connecting");
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    leave();
    if (error == 0) return;
  }
  throw_os_error(error, "weft: connect to " + peer);
}

std::size_t Socket::recv_from(void* buffer, std::size_t n, sockaddr* from, socklen_t* length,
                              std::uint64_t deadline_ns) {
  return static_cast<std::size_t>(
      retry(kReadable, deadline_ns, "receiving a datagram", "recvfrom",
            [&] { return ::recvfrom(fd_, buffer, n, 0, from, length); }));
}

std::size_t Socket::send_to(const void* data, std::size_t n, const sockaddr* to, socklen_t length,
                            std::uint64_t deadline_ns) {
  return static_cast<std::size_t>(
      retry(kWritable, deadline_ns, "sending a datagram", "sendto",
            [&] { return ::sendto(fd_, data, n, MSG_NOSIGNAL, to, length); }));
}

}  // namespace weft::io
