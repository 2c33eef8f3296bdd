#pragma once
// Helpers shared by the network suites.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <weft/weft.hpp>

#include "io/owned_fd.hpp"
#include "parked.hpp"
#include "sched/task_block.hpp"

namespace weft_test {

// An echo handler: every line comes back as it was, until EOF.
inline void echo_lines(weft::StreamReader& reader, weft::StreamWriter& writer) {
  for (;;) {
    std::string line = reader.readline();
    if (line.empty()) return;
    writer.write(line);
  }
}

// A payload that tells connection c's request r apart from every other one.
inline std::string payload(std::size_t c, std::size_t r, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t k = 0; k < size; ++k)
    bytes[k] = static_cast<char>('a' + (c * 7 + r * 13 + k) % 26);
  return bytes;
}

// Raises the soft fd limit to the hard one (tests with a thousand connections need it).
inline void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// A raw fd, closed when it goes out of scope (the runtime's own owner type).
using UniqueFd = weft::io::OwnedFd;

// 127.0.0.1:port.
inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Seconds of CPU (user + system) the whole process has used.
inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); 0 if absent.
inline std::size_t proc_status_bytes(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':')
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
  }
  return 0;
}

// Resident memory now.
inline std::size_t rss_bytes() {
  return proc_status_bytes("VmRSS");
}

// getrusage's peak resident memory (the process's high-water mark, never reset).
inline std::size_t max_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;
}

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so a test can measure its own
// peak whatever ran before it in the process; false if the kernel refuses.
inline bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good();
}

inline std::size_t peak_rss_bytes() {
  return proc_status_bytes("VmHWM");
}

// The lowest fd number not in use: every fd below it is open.
inline int lowest_free_fd() {
  const int probe = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) ::close(probe);
  return probe;
}

// Lowers the soft RLIMIT_NOFILE for its lifetime and restores the previous limits after, even
// if the test fails in between.
class FdLimit {
 public:
  explicit FdLimit(rlim_t soft) {
    ok_ = getrlimit(RLIMIT_NOFILE, &saved_) == 0;
    if (!ok_) return;
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  FdLimit(const FdLimit&) = delete;
  FdLimit& operator=(const FdLimit&) = delete;
  ~FdLimit() { restore(); }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  void restore() noexcept {
    if (ok_) setrlimit(RLIMIT_NOFILE, &saved_);
    ok_ = false;
  }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

// A fresh directory under the system's temp directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weft-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // The path of `name` in it, as a string.
  [[nodiscard]] std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// Cancels `task` if it is still running after `limit`, so a hang fails the test (the awaited
// task raises CancelledError) instead of blocking the suite. In a fiber.
class Watchdog {
 public:
  Watchdog(weft::TaskRef task, std::chrono::milliseconds limit)
      : dog_(weft::spawn([task = std::move(task), limit] {
          weft::sleep(limit);
          task.cancel("the watchdog's time limit passed");
        })) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { dog_.cancel(); }

 private:
  weft::Task<void> dog_;
};

// Milliseconds between two points of weft's clock.
inline double millis(weft::TimePoint from, weft::TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace weft_test
