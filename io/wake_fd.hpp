#pragma once
// An eventfd that makes a reactor's blocking wait return: the way one thread wakes another's
// event loop.
#include <cstdint>

namespace weft::io {

class WakeFd {
 public:
  WakeFd();  // throws std::system_error
  ~WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  [[nodiscard]] int fd() const noexcept { return fd_; }
  void signal() noexcept;  // any thread
  void drain() noexcept;   // the reactor, after it saw the fd readable

 private:
  int fd_;
};

}  // namespace weft::io
