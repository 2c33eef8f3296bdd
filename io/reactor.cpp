#include "io/reactor.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>

#include <type_traits>

#include "io/io_slot.hpp"

namespace weft::io {

static_assert(std::is_same_v<pthread_t, unsigned long>, "owner_thread_ stores a pthread_t");

void Reactor::bind_owner() noexcept {
  owner_thread_.store(pthread_self(), std::memory_order_release);
}

bool Reactor::on_owner() const noexcept {
  return pthread_equal(owner_thread_.load(std::memory_order_acquire), pthread_self()) != 0;
}

void Reactor::park(std::int64_t timeout_ns) {
  // acquire: what the unparker published before unpark() is visible once we see its token.
  if (token_.exchange(0, std::memory_order_acquire) != 0) {
    poll(0);
    return;
  }
  poll(timeout_ns);
  // An unpark after poll() returned left the eventfd readable: the next park returns at once,
  // so resetting the token here loses nothing.
  token_.store(0, std::memory_order_release);
}

static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLRDHUP == POLLRDHUP &&
                  EPOLLHUP == POLLHUP && EPOLLERR == POLLERR,
              "epoll and poll report readiness with the same bits");

std::uint8_t readiness_of_poll_events(std::uint32_t events) noexcept {
  std::uint8_t bits = 0;
  if (events & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) bits |= kReadable;
  if (events & (POLLOUT | POLLHUP | POLLERR)) bits |= kWritable;
  if (events & (POLLRDHUP | POLLHUP | POLLERR)) bits |= kHangup;
  return bits;
}

std::unique_ptr<Reactor> make_reactor(Backend wanted, IoRegistry& registry, std::string& warning) {
  if (wanted == Backend::io_uring) {
    std::string why_not;
    if (auto reactor = make_uring_reactor(registry, why_not)) return reactor;
    warning = "weft: io_uring is not available (" + why_not + "); using epoll";
  }
  return make_epoll_reactor(registry);
}

}  // namespace weft::io
