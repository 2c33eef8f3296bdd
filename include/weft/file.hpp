#pragma once
// Files (aiofiles, or asyncio's loop.run_in_executor around open/read/write): reads and writes
// at offsets that park the calling fiber, never its worker. With the io_uring backend each call
// is one io_uring request on the fiber's worker; with epoll it runs on the blocking pool
// (to_thread), as regular files are always "ready" to epoll. Errors are OSError (FileNotFoundError
// for ENOENT) whose message names the operation, the path and the errno text.
//
// A call in progress is not cancellable: the kernel owns the buffer until it completes (disk
// I/O is short); a cancel() takes effect at the next suspension point after it. Fiber-only
// (std::logic_error elsewhere), like every call that parks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "weft/export.hpp"

namespace weft {

enum class OpenMode {
  read,        // existing file, read only
  write,       // created if missing, truncated, write only
  append,      // created if missing, every write goes to the end
  read_write,  // created if missing, not truncated
};

class WEFT_API File {
 public:
  File() = default;
  // Closes the fd without waiting for anything (close() reports errors; this cannot).
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Opens `path` (close-on-exec); `permissions` apply to a file it creates.
  [[nodiscard]] static File open(std::string path, OpenMode mode = OpenMode::read,
                                 unsigned permissions = 0644);

  // Up to n bytes from `offset`; fewer only at the end of the file.
  [[nodiscard]] std::string read_at(std::uint64_t offset, std::size_t n);
  // All of `data` at `offset` (in append mode, at the end whatever the offset).
  void write_at(std::uint64_t offset, std::string_view data);
  // Sequential use: read/write at the file's own position, which each call advances.
  [[nodiscard]] std::string read(std::size_t n);
  void write(std::string_view data);
  // Everything from offset 0 to the end.
  [[nodiscard]] std::string read_all();
  // The file's size now.
  [[nodiscard]] std::uint64_t size() const;
  // Data and metadata on stable storage (fsync(2)).
  void fsync();
  // Closes the file; OSError if the kernel reports a write error at close. Idempotent.
  void close();

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  File(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}
  void check_open(const char* doing) const;
  int fd_ = -1;
  std::string path_;
  std::uint64_t position_ = 0;
};

// The whole file at `path`, and its replacement by `data` (created if missing).
[[nodiscard]] WEFT_API std::string read_file(const std::string& path);
WEFT_API void write_file(const std::string& path, std::string_view data);

}  // namespace weft
