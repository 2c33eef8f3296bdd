#include "io/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <weft/errors.hpp>
#include <weft/executor.hpp>
#include <weft/task.hpp>
#include <weft/timeout.hpp>

namespace weft::io {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* list) const noexcept { freeaddrinfo(list); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo's outcome: the list, or its error code.
struct Lookup {
  int status = 0;
  int saved_errno = 0;
  std::vector<Endpoint> endpoints;
};

Lookup lookup(const std::string& host, const std::string& service, int socktype, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = flags;
  addrinfo* raw = nullptr;
  Lookup result;
  result.status = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &raw);
  result.saved_errno = errno;
  AddrInfoList list(raw);
  for (addrinfo* ai = raw; ai; ai = ai->ai_next) {
    Endpoint endpoint;
    std::memcpy(&endpoint.storage, ai->ai_addr, ai->ai_addrlen);
    endpoint.length = ai->ai_addrlen;
    result.endpoints.push_back(endpoint);
  }
  return result;
}

}  // namespace

std::vector<Endpoint> resolve(std::string_view host_view, std::uint16_t port, int socktype,
                              bool passive, std::uint64_t deadline_ns) {
  const std::string host(host_view);
  const std::string service = std::to_string(port);
  const int base_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  // Numeric hosts (and "every interface") need no name service: converted right here.
  Lookup result = lookup(host, service, socktype, base_flags | AI_NUMERICHOST);
  if (result.status == EAI_NONAME && !host.empty()) {
    // A name: getaddrinfo may block for seconds (a name server that does not answer), so on a
    // fiber it runs on the blocking pool while the fiber parks (bounded threads, backpressure,
    // and a cancelled caller stops waiting at once); a plain thread may block.
    auto by_name = [host, service, socktype, base_flags] {
      return lookup(host, service, socktype, base_flags | AI_ADDRCONFIG);
    };
    if (!in_fiber()) {
      result = by_name();
    } else {
      try {  // a deadline of UINT64_MAX is none
        result =
            detail::run_until(deadline_ns, [&] { return to_thread(std::move(by_name)).get(); });
      } catch (const TimeoutError&) {
        throw TimeoutError("weft: resolving '" + host + "' took longer than the timeout");
      }
    }
  }
  if (result.status != 0) {
    const std::string what = "weft: cannot resolve '" + host + "'";
    if (result.status == EAI_SYSTEM) throw_os_error(result.saved_errno, what);
    throw OSError(EHOSTUNREACH, what + ": " + gai_strerror(result.status));
  }
  if (result.endpoints.empty())
    throw OSError(EHOSTUNREACH, "weft: cannot resolve '" + host + "': no addresses");
  return result.endpoints;
}

Endpoint unix_endpoint(std::string_view path) {
  Endpoint endpoint;
  auto* un = reinterpret_cast<sockaddr_un*>(&endpoint.storage);
  if (path.size() >= sizeof un->sun_path)
    throw OSError(ENAMETOOLONG, "weft: Unix socket path too long (" + std::to_string(path.size()) +
                                    " bytes): " + std::string(path));
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  un->sun_path[path.size()] = '\0';
  endpoint.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return endpoint;
}

std::string host_of(const sockaddr* address, socklen_t length) {
  char text[INET6_ADDRSTRLEN] = "";
  switch (address->sa_family) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text,
                sizeof text);
      return text;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text,
                sizeof text);
      return text;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(address);
      const std::size_t max =
          length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
      return std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return "<family " + std::to_string(address->sa_family) + ">";
  }
}

std::uint16_t port_of(const sockaddr* address) noexcept {
  if (address->sa_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port);
  if (address->sa_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(address)->sin6_port);
  return 0;
}

std::string to_string(const sockaddr* address, socklen_t length) {
  std::string host = host_of(address, length);
  if (address->sa_family == AF_INET) return host + ":" + std::to_string(port_of(address));
  if (address->sa_family == AF_INET6) return "[" + host + "]:" + std::to_string(port_of(address));
  return host;
}

std::string peer_name(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return to_string(reinterpret_cast<sockaddr*>(&storage), length);
}

std::string sock_name(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return to_string(reinterpret_cast<sockaddr*>(&storage), length);
}

}  // namespace weft::io
