#pragma once
// Network streams, servers and datagrams (asyncio's streams API and DatagramTransport).
// Every call that waits parks the calling fiber, never the worker thread; all of them are
// cancellable, and those with a `timeout` throw TimeoutError when it passes. Bytes come in as
// std::string and go out as std::string_view.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "weft/errors.hpp"
#include "weft/export.hpp"
#include "weft/time.hpp"

namespace weft {

namespace detail {
struct StreamState;
struct ServerState;
struct UdpState;
}  // namespace detail

inline constexpr std::size_t kDefaultStreamLimit = 64 * 1024;

// The read half of a connection (asyncio.StreamReader). One fiber reads at a time. Bytes that
// arrived stay in the buffer whatever happens to a call (cancellation, timeout, limit).
class WEFT_API StreamReader {
 public:
  StreamReader() = default;
  explicit StreamReader(std::shared_ptr<detail::StreamState> state) : state_(std::move(state)) {}

  // Up to n bytes (at least one unless at EOF, then ""). n == npos: everything until EOF.
  [[nodiscard]] std::string read(std::size_t n = std::string::npos);
  // Exactly n bytes; at EOF first, IncompleteReadError holding the partial bytes.
  [[nodiscard]] std::string readexactly(std::size_t n);
  // Up to and including '\n' (or what is left at EOF). LimitOverrunError past limit().
  [[nodiscard]] std::string readline();
  // Up to and including `separator`. If it is not found within limit() bytes,
  // LimitOverrunError (the data stays buffered); at EOF first, IncompleteReadError.
  [[nodiscard]] std::string readuntil(std::string_view separator = "\n");
  // Copies up to buffer.size() bytes into `buffer` (no allocation); 0 at EOF.
  [[nodiscard]] std::size_t read_into(char* buffer, std::size_t size);
  // Fills `buffer` entirely; at EOF first, IncompleteReadError with the partial bytes.
  void readexactly_into(char* buffer, std::size_t size);
  // EOF reached and the buffer is empty.
  [[nodiscard]] bool at_eof() const noexcept;
  [[nodiscard]] std::size_t limit() const noexcept;
  // Bytes received and not yet read.
  [[nodiscard]] std::size_t buffered() const noexcept;
  // A deadline for every following read call until cleared (std::nullopt).
  void set_timeout(std::optional<Duration> timeout) noexcept;

 private:
  std::shared_ptr<detail::StreamState> state_;
};

// The write half of a connection (asyncio.StreamWriter). write() never blocks: what the socket
// does not take at once is buffered and sent in the background; drain() parks while more than
// the high-water mark is buffered, until it falls to the low-water mark.
class WEFT_API StreamWriter {
 public:
  StreamWriter() = default;
  explicit StreamWriter(std::shared_ptr<detail::StreamState> state) : state_(std::move(state)) {}

  void write(std::string_view data);
  // Raises the error that ended the connection (ConnectionResetError, BrokenPipeError...).
  void drain();
  // Sends what is buffered, then closes the connection (both halves); returns at once.
  void close() noexcept;
  // Parks until the connection is closed.
  void wait_closed();
  [[nodiscard]] bool is_closing() const noexcept;
  // Half-close: no more writes, the peer reads EOF once the buffer is sent.
  void write_eof();
  [[nodiscard]] bool can_write_eof() const noexcept { return true; }
  // asyncio's water marks (defaults 64 KiB / 16 KiB).
  void set_write_buffer_limits(std::size_t high, std::size_t low = std::string::npos);
  [[nodiscard]] std::size_t write_buffer_size() const noexcept;

  // "peername", "sockname" ("host:port", or the path of a Unix socket) and "fd".
  [[nodiscard]] std::optional<std::string> get_extra_info(std::string_view name) const;
  [[nodiscard]] std::string peername() const;
  [[nodiscard]] std::string sockname() const;

 private:
  std::shared_ptr<detail::StreamState> state_;
};

// open_connection's result, for structured bindings: auto [reader, writer] = ...
struct Connection {
  StreamReader reader;
  StreamWriter writer;
};

struct ConnectOptions {
  std::optional<Duration> timeout{};  // for resolving and connecting together
  std::size_t limit = kDefaultStreamLimit;
  bool nodelay = true;  // TCP_NODELAY
};

[[nodiscard]] WEFT_API Connection open_connection(std::string_view host, std::uint16_t port,
                                                  ConnectOptions options = {});
[[nodiscard]] WEFT_API Connection open_unix_connection(std::string_view path,
                                                       ConnectOptions options = {});

// Runs in its own fiber per connection. The writer is closed when it returns.
using ConnectionHandler = std::function<void(StreamReader&, StreamWriter&)>;

struct ServerOptions {
  int backlog = 511;
  bool reuse_address = true;  // SO_REUSEADDR
  // SO_REUSEPORT with one listening socket per worker: the kernel spreads connections.
  bool reuse_port = false;
  std::size_t limit = kDefaultStreamLimit;
  bool nodelay = true;
};

// A listening server (asyncio.Server). Destroying it closes it (without waiting).
class WEFT_API Server {
 public:
  Server() = default;
  explicit Server(std::shared_ptr<detail::ServerState> state) : state_(std::move(state)) {}
  Server(Server&&) noexcept = default;
  Server& operator=(Server&&) noexcept = default;
  ~Server();

  // The bound port (useful with port 0); 0 for a Unix server.
  [[nodiscard]] std::uint16_t port() const noexcept;
  // "host:port" of each listening socket.
  [[nodiscard]] std::string address() const;
  [[nodiscard]] bool is_serving() const noexcept;
  // Parks until the server is closed; cancelling the caller closes the server.
  void serve_forever();
  // Stops accepting; existing connections go on.
  void close() noexcept;
  // Cancels every connection's handler.
  void close_clients() noexcept;
  // Parks until closed and every connection handler has returned.
  void wait_closed();
  [[nodiscard]] std::size_t active_connections() const noexcept;

 private:
  std::shared_ptr<detail::ServerState> state_;
};

[[nodiscard]] WEFT_API Server start_server(ConnectionHandler handler, std::string_view host,
                                           std::uint16_t port, ServerOptions options = {});
// A stale socket file at `path` is replaced, and removed when the server closes.
[[nodiscard]] WEFT_API Server start_unix_server(ConnectionHandler handler, std::string_view path,
                                                ServerOptions options = {});

// A datagram received: its bytes and the sender's "host:port".
struct Datagram {
  std::string data;
  std::string host;
  std::uint16_t port = 0;
};

// A UDP socket (asyncio's datagram endpoint, as calls instead of callbacks).
class WEFT_API UdpSocket {
 public:
  UdpSocket() = default;
  // Bound to host:port (port 0: any free port).
  [[nodiscard]] static UdpSocket bind(std::string_view host, std::uint16_t port);
  // Connected to host:port (send/recv then need no address), bound to any local port.
  [[nodiscard]] static UdpSocket connect(std::string_view host, std::uint16_t port);

  void send_to(std::string_view data, std::string_view host, std::uint16_t port);
  [[nodiscard]] Datagram recv_from(std::size_t max_size = 65536,
                                   std::optional<Duration> timeout = std::nullopt);
  void send(std::string_view data);
  [[nodiscard]] std::string recv(std::size_t max_size = 65536,
                                 std::optional<Duration> timeout = std::nullopt);
  [[nodiscard]] std::uint16_t local_port() const;
  [[nodiscard]] std::string local_address() const;
  void close() noexcept;

 private:
  std::shared_ptr<detail::UdpState> state_;
};

}  // namespace weft
