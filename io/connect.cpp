// open_connection / open_unix_connection: resolve, connect (each address in turn), wrap.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <exception>

#include <weft/net.hpp>

#include "io/address.hpp"
#include "io/stream_state.hpp"

namespace weft {
namespace {

Connection wrap(io::Socket socket, std::size_t limit) {
  auto state = std::make_shared<detail::StreamState>(std::move(socket), limit);
  return {StreamReader(state), StreamWriter(state)};
}

}  // namespace

namespace io {
void set_nodelay(int fd) noexcept {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace io

Connection open_connection(std::string_view host, std::uint16_t port, ConnectOptions options) {
  const std::uint64_t deadline =
      options.timeout ? io::deadline_after(*options.timeout) : io::kNoDeadline;
  const std::vector<io::Endpoint> endpoints = io::resolve(host, port, SOCK_STREAM, false, deadline);
  std::exception_ptr last;
  for (const io::Endpoint& endpoint : endpoints) {
    io::Socket socket(io::open_socket(endpoint.family(), SOCK_STREAM));
    try {
      socket.connect(endpoint.get(), endpoint.length, deadline,
                     io::to_string(endpoint.get(), endpoint.length));
    } catch (const OSError&) {
      last = std::current_exception();  // try the next address
      continue;
    }
    if (options.nodelay) io::set_nodelay(socket.fd());
    return wrap(std::move(socket), options.limit);
  }
  std::rethrow_exception(last);
}

Connection open_unix_connection(std::string_view path, ConnectOptions options) {
  const std::uint64_t deadline =
      options.timeout ? io::deadline_after(*options.timeout) : io::kNoDeadline;
  const io::Endpoint endpoint = io::unix_endpoint(path);
  io::Socket socket(io::open_socket(AF_UNIX, SOCK_STREAM));
  socket.connect(endpoint.get(), endpoint.length, deadline, "unix:" + std::string(path));
  return wrap(std::move(socket), options.limit);
}

}  // namespace weft
