#pragma once
// What a StreamReader and its StreamWriter share: the socket, the read buffer, and the write
// buffer with its background flusher.
//
// Writes: write() sends at once while nothing is buffered; what the socket does not take is
// buffered and a flusher task (one at a time, holding the state alive) sends it as the socket
// drains, waking drain() callers once the buffer is at the low-water mark. Closing with bytes
// still buffered lets the flusher finish, then closes.
#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <weft/time.hpp>

#include "io/byte_buffer.hpp"
#include "io/socket.hpp"
#include "sync/flag.hpp"
#include "sync/wait_list.hpp"

namespace weft::detail {

struct StreamState : std::enable_shared_from_this<StreamState> {
  StreamState(io::Socket socket_in, std::size_t limit_in)
      : socket(std::move(socket_in)), limit(limit_in) {}

  io::Socket socket;
  const std::size_t limit;

  // Read side: used by one reading fiber at a time.
  io::ByteBuffer in;
  bool eof = false;
  std::optional<Duration> read_timeout;
  [[nodiscard]] std::uint64_t read_deadline() const noexcept;
  // One recv into `in` (at least `want` bytes of room); false at end of stream.
  bool fill(std::size_t want);

  // Write side, guarded by drain_waiters.lock().
  io::ByteBuffer out;          // written, not yet handed to the flusher
  std::size_t in_flight = 0;   // taken by the flusher, not yet sent
  bool flushing = false;       // a flusher task runs
  bool closing = false;        // close() was called
  bool eof_requested = false;  // write_eof() was called
  std::exception_ptr error;    // what ended the connection for writing
  std::size_t high_water = 64 * 1024;
  std::size_t low_water = 16 * 1024;
  sync::WaitList drain_waiters;
  sync::Flag closed;

  [[nodiscard]] std::size_t pending_locked() const noexcept { return out.size() + in_flight; }
  void write(std::string_view data);
  void drain();
  void close() noexcept;
  void write_eof();

 private:
  void run_flusher();
  void finish_locked_close() noexcept;  // the socket is closed; wakes everyone
};

}  // namespace weft::detail
