#pragma once
// Socket addresses: resolving a host name without blocking a worker, and printing addresses
// for messages and get_extra_info.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::io {

struct Endpoint {
  sockaddr_storage storage{};
  socklen_t length = 0;
  [[nodiscard]] const sockaddr* get() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
};

// Every address of host:port for `socktype` (SOCK_STREAM / SOCK_DGRAM). A numeric host is
// converted in place; a name is resolved by getaddrinfo on the blocking pool while the fiber
// parks (on a thread that is not a fiber, right there). An empty host means every local
// interface (for servers). Throws OSError naming the host, or TimeoutError naming it if a name
// is not resolved by `deadline_ns` (io/clock.hpp's clock; UINT64_MAX: no deadline).
[[nodiscard]] std::vector<Endpoint> resolve(std::string_view host, std::uint16_t port, int socktype,
                                            bool passive, std::uint64_t deadline_ns = UINT64_MAX);

// A Unix-domain address; throws OSError(ENAMETOOLONG) for a path that does not fit.
[[nodiscard]] Endpoint unix_endpoint(std::string_view path);

// "127.0.0.1:8080", "[::1]:8080", or the socket path.
[[nodiscard]] std::string to_string(const sockaddr* address, socklen_t length);
// The host part and port of an address (port 0 and the path for Unix sockets).
[[nodiscard]] std::string host_of(const sockaddr* address, socklen_t length);
[[nodiscard]] std::uint16_t port_of(const sockaddr* address) noexcept;
[[nodiscard]] std::string peer_name(int fd);
[[nodiscard]] std::string sock_name(int fd);

}  // namespace weft::io

namespace weft::io {
// TCP_NODELAY on a connected socket (best effort: not every socket is TCP).
void set_nodelay(int fd) noexcept;
}  // namespace weft::io
