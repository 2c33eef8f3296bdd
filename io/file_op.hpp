#pragma once
// One file system call handed to a reactor that can run it asynchronously (io_uring). The
// calling fiber parks on `waiter` until the completion arrives; the reactor stores the result
// and fires the waiter. The fiber owns the FileOp (on its stack) and the buffer, and does not
// return from the wait before the completion, cancelled or not, so the kernel never writes
// into memory that is gone.
#include <cstdint>

#include "sched/waiter.hpp"

namespace weft::io {

struct FileOp {
  enum class Kind : unsigned char { open, read, write, fsync, close };
  Kind kind;
  int fd = -1;                 // read, write, fsync, close
  const char* path = nullptr;  // open
  int flags = 0;               // open
  unsigned mode = 0;           // open
  void* buffer = nullptr;      // read, write
  unsigned length = 0;         // read, write
  std::uint64_t offset = 0;    // read, write
  int result = 0;              // the system call's result, or -errno
  sched::Waiter* waiter = nullptr;
};

}  // namespace weft::io
