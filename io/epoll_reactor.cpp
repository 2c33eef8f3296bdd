// The epoll backend: one epoll instance per worker, every fd registered once, edge-triggered,
// for both directions (a fiber reads or writes until EAGAIN before it waits, so no edge is
// lost), plus the wake-up eventfd.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>

#include "io/io_registry.hpp"
#include "io/reactor.hpp"

namespace weft::io {
namespace {

constexpr std::uint64_t kWakeKey = UINT64_MAX;

class EpollReactor final : public Reactor {
 public:
  explicit EpollReactor(IoRegistry& registry)
      : Reactor(registry), epfd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.u64 = kWakeKey;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_.fd(), &event) != 0) {
      const int error = errno;
      ::close(epfd_);
      throw std::system_error(error, std::generic_category(), "weft: epoll_ctl(eventfd)");
    }
  }
  ~EpollReactor() override { ::close(epfd_); }

  void poll(std::int64_t timeout_ns) override {
    epoll_event events[kBatch];
    const int n = wait(events, timeout_ns);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t key = events[i].data.u64;
      if (key == kWakeKey)
        wake_.drain();
      else
        registry_.deliver(key, readiness_of_poll_events(events[i].events));
    }
  }

  void watch(int fd, std::uint64_t key) override {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = key;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &event) != 0)
      throw std::system_error(errno, std::generic_category(),
                              "weft: cannot watch fd " + std::to_string(fd) + " with epoll");
    watched_.fetch_add(1, std::memory_order_relaxed);
  }

  void unwatch(int fd, std::uint64_t) noexcept override {
    // Closing the fd would remove it too, unless it was duplicated; say it explicitly.
    if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) == 0)
      watched_.fetch_sub(1, std::memory_order_relaxed);
  }

  [[nodiscard]] Backend backend() const noexcept override { return Backend::epoll; }

 private:
  static constexpr int kBatch = 256;

  int wait(epoll_event* events, std::int64_t timeout_ns) {
    int n;
    if (timeout_ns < 0) {
      n = epoll_wait(epfd_, events, kBatch, -1);
    } else if (timeout_ns == 0) {
      n = epoll_wait(epfd_, events, kBatch, 0);
    } else if (have_pwait2_) {
      // Nanosecond timeout: a timer is never early and not late by a rounded-up millisecond.
      const timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                        static_cast<long>(timeout_ns % 1'000'000'000)};
      n = epoll_pwait2(epfd_, events, kBatch, &ts, nullptr);
      if (n < 0 && errno == ENOSYS) {
        have_pwait2_ = false;
        return wait(events, timeout_ns);
      }
    } else {
      const std::int64_t ms = (timeout_ns + 999'999) / 1'000'000;  // rounded up: never early
      n = epoll_wait(epfd_, events, kBatch, static_cast<int>(ms > INT32_MAX ? INT32_MAX : ms));
    }
    return n < 0 ? 0 : n;  // EINTR: the caller loops anyway
  }

  int epfd_;
  bool have_pwait2_ = true;
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor(IoRegistry& registry) {
  return std::make_unique<EpollReactor>(registry);
}

}  // namespace weft::io
