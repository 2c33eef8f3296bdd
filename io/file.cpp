// weft::File: each system call either goes to the worker's io_uring (one request, the fiber
// parks until its completion) or, with epoll, runs on the blocking pool. Either way the wait
// is not cancellable: the kernel or the pool thread uses the caller's buffer until it is done.
#include <weft/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <utility>

#include <weft/errors.hpp>
#include <weft/executor.hpp>
#include <weft/task.hpp>

#include "io/file_op.hpp"
#include "io/reactor.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft {
namespace {

// One request moves at most this much (io_uring's length is 32 bits; read(2) stops near 2 GiB).
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// The blocking-pool version of one FileOp: the system call's result, or -errno.
int call_blocking(const io::FileOp& op) noexcept {
  long r = -1;
  switch (op.kind) {
    case io::FileOp::Kind::open:
      r = ::open(op.path, op.flags, op.mode);
      break;
    case io::FileOp::Kind::read:
      r = ::pread(op.fd, op.buffer, op.length, static_cast<off_t>(op.offset));
      break;
    case io::FileOp::Kind::write:
      r = ::pwrite(op.fd, op.buffer, op.length, static_cast<off_t>(op.offset));
      break;
    case io::FileOp::Kind::fsync:
      r = ::fsync(op.fd);
      break;
    case io::FileOp::Kind::close:
      r = ::close(op.fd);
      break;
  }
  return r < 0 ? -errno : static_cast<int>(r);
}

// Runs op from the calling fiber; returns its result (or -errno). EINTR is retried.
int run(io::FileOp& op) {
  for (;;) {
    // Looked up each round: the fiber may be on another worker after a wait.
    sched::Worker& worker = sched::fiber_worker("weft::File");
    // The wait below cannot be cut short (the kernel owns the buffer), so a cancel or an
    // expired Timeout is taken here, before anything is in flight; a close always runs.
    if (op.kind != io::FileOp::Kind::close) detail::cancellation_point(worker.current_task());
    sched::Waiter waiter(worker.current_task());
    op.waiter = &waiter;
    int result;
    if (worker.reactor().start_file_op(op)) {
      (void)io::park_until(waiter, "file I/O", io::kNoDeadline, sched::Cancellable::no);
      result = op.result;
    } else {
      result =
          weft::uncancellable([&] { return to_thread([&op] { return call_blocking(op); }).get(); });
    }
    if (result != -EINTR || op.kind == io::FileOp::Kind::close) return result;
  }
}

[[noreturn]] void fail(int error, const char* doing, const std::string& path) {
  throw_os_error(error, std::string("weft: ") + doing + " '" + path + "'");
}

int open_flags(OpenMode mode) {
  switch (mode) {
    case OpenMode::read:
      return O_RDONLY;
    case OpenMode::write:
      return O_WRONLY | O_CREAT | O_TRUNC;
    case OpenMode::append:
      return O_WRONLY | O_CREAT | O_APPEND;
    case OpenMode::read_write:
      return O_RDWR | O_CREAT;
  }
  throw std::invalid_argument("weft::File::open: unknown OpenMode");
}

}  // namespace

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      position_(other.position_) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    position_ = other.position_;
  }
  return *this;
}

File File::open(std::string path, OpenMode mode, unsigned permissions) {
  io::FileOp op{.kind = io::FileOp::Kind::open};
  op.path = path.c_str();
  op.flags = open_flags(mode) | O_CLOEXEC;
  op.mode = permissions;
  const int fd = run(op);
  if (fd < 0) fail(-fd, "opening", path);
  return File(fd, std::move(path));
}

void File::check_open(const char* doing) const {
  if (fd_ < 0)
    throw OSError(EBADF, std::string("weft: ") + doing + " '" + path_ + "': the file is closed");
}

std::string File::read_at(std::uint64_t offset, std::size_t n) {
  check_open("reading");
  std::string data(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    io::FileOp op{.kind = io::FileOp::Kind::read};
    op.fd = fd_;
    op.buffer = data.data() + got;
    op.length = static_cast<unsigned>(std::min(n - got, kMaxChunk));
    op.offset = offset + got;
    const int r = run(op);
    if (r < 0) fail(-r, "reading", path_);
    if (r == 0) break;  // end of file
    got += static_cast<std::size_t>(r);
  }
  data.resize(got);
  return data;
}

void File::write_at(std::uint64_t offset, std::string_view data) {
  check_open("writing");
  std::size_t put = 0;
  while (put < data.size()) {
    io::FileOp op{.kind = io::FileOp::Kind::write};
    op.fd = fd_;
    // The kernel only reads from it; FileOp has one buffer pointer for both directions.
    op.buffer = const_cast<char*>(data.data() + put);
    op.length = static_cast<unsigned>(std::min(data.size() - put, kMaxChunk));
    op.offset = offset + put;
    const int r = run(op);
    if (r < 0) fail(-r, "writing", path_);
    if (r == 0) fail(EIO, "writing (no progress)", path_);
    put += static_cast<std::size_t>(r);
  }
}

std::string File::read(std::size_t n) {
  std::string data = read_at(position_, n);
  position_ += data.size();
  return data;
}

void File::write(std::string_view data) {
  write_at(position_, data);
  position_ += data.size();
}

std::string File::read_all() {
  check_open("reading");
  std::string all;
  constexpr std::size_t kChunk = 256 * 1024;
  for (;;) {
    // One byte more than the file holds now, so a regular file is read in one round: read_at
    // stops short only at the end of the file. A file that reports no size left (/proc, one
    // that grew) is read a chunk at a time.
    const std::uint64_t file_size = size();
    const std::size_t want = std::min(
        file_size > all.size() ? static_cast<std::size_t>(file_size - all.size()) + 1 : kChunk,
        kMaxChunk);
    std::string chunk = read_at(all.size(), want);
    const bool at_end = chunk.size() < want;
    if (all.empty())
      all = std::move(chunk);
    else
      all += chunk;
    if (at_end) return all;
  }
}

std::uint64_t File::size() const {
  check_open("inspecting");
  struct stat st {};
  // fstat only reads the inode the kernel already holds; it does not wait for the disk.
  if (::fstat(fd_, &st) != 0) fail(errno, "inspecting", path_);
  return static_cast<std::uint64_t>(st.st_size);
}

void File::fsync() {
  check_open("syncing");
  io::FileOp op{.kind = io::FileOp::Kind::fsync};
  op.fd = fd_;
  if (const int r = run(op); r < 0) fail(-r, "syncing", path_);
}

void File::close() {
  if (fd_ < 0) return;
  io::FileOp op{.kind = io::FileOp::Kind::close};
  op.fd = std::exchange(fd_, -1);  // closed whatever the result (close(2) never keeps the fd)
  int r = 0;
  try {
    r = run(op);
  } catch (...) {
    ::close(op.fd);  // the request never ran (no pool thread, shutdown): close it here
    throw;
  }
  if (r < 0) fail(-r, "closing", path_);
}

std::string read_file(const std::string& path) {
  File file = File::open(path);
  std::string all = file.read_all();
  file.close();
  return all;
}

void write_file(const std::string& path, std::string_view data) {
  File file = File::open(path, OpenMode::write);
  file.write_at(0, data);
  file.close();
}

}  // namespace weft
