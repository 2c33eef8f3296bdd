#include "io/wake_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace weft::io {

WakeFd::WakeFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: eventfd");
}

WakeFd::~WakeFd() {
  ::close(fd_);
}

void WakeFd::signal() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN (the counter is full) still leaves the fd readable, which is all a wake-up needs.
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

void WakeFd::drain() noexcept {
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(fd_, &count, sizeof count);
}

}  // namespace weft::io
