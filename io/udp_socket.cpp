// UdpSocket: datagrams over a non-blocking socket; waits park the fiber.
#include <sys/socket.h>

#include <cerrno>

#include <weft/net.hpp>

#include "io/address.hpp"
#include "io/socket.hpp"

namespace weft::detail {
struct UdpState {
  io::Socket socket;
  bool connected = false;
};
}  // namespace weft::detail

namespace weft {
namespace {

detail::UdpState& state_of(const std::shared_ptr<detail::UdpState>& state) {
  if (!state || !state->socket.is_open()) throw InvalidStateError("weft: the UdpSocket is closed");
  return *state;
}

std::uint64_t deadline_of(std::optional<Duration> timeout) {
  return timeout ? io::deadline_after(*timeout) : io::kNoDeadline;
}

}  // namespace

UdpSocket UdpSocket::bind(std::string_view host, std::uint16_t port) {
  const auto endpoints = io::resolve(host, port, SOCK_DGRAM, true);
  const io::Endpoint& endpoint = endpoints.front();
  UdpSocket udp;
  udp.state_ = std::make_shared<detail::UdpState>();
  udp.state_->socket = io::Socket(io::open_socket(endpoint.family(), SOCK_DGRAM));
  if (::bind(udp.state_->socket.fd(), endpoint.get(), endpoint.length) != 0)
    throw_os_error(errno,
                   "weft: cannot bind UDP " + io::to_string(endpoint.get(), endpoint.length));
  return udp;
}

UdpSocket UdpSocket::connect(std::string_view host, std::uint16_t port) {
  const auto endpoints = io::resolve(host, port, SOCK_DGRAM, false);
  const io::Endpoint& endpoint = endpoints.front();
  UdpSocket udp;
  udp.state_ = std::make_shared<detail::UdpState>();
  udp.state_->socket = io::Socket(io::open_socket(endpoint.family(), SOCK_DGRAM));
  if (::connect(udp.state_->socket.fd(), endpoint.get(), endpoint.length) != 0)
    throw_os_error(errno,
                   "weft: cannot connect UDP to " + io::to_string(endpoint.get(), endpoint.length));
  udp.state_->connected = true;
  return udp;
}

void UdpSocket::send_to(std::string_view data, std::string_view host, std::uint16_t port) {
  detail::UdpState& s = state_of(state_);
  const auto endpoints = io::resolve(host, port, SOCK_DGRAM, false);
  const io::Endpoint& endpoint = endpoints.front();
  s.socket.send_to(data.data(), data.size(), endpoint.get(), endpoint.length, io::kNoDeadline);
}

Datagram UdpSocket::recv_from(std::size_t max_size, std::optional<Duration> timeout) {
  detail::UdpState& s = state_of(state_);
  Datagram datagram;
  datagram.data.resize(max_size);
  sockaddr_storage from{};
  socklen_t length = sizeof from;
  const std::size_t got =
      s.socket.recv_from(datagram.data.data(), max_size, reinterpret_cast<sockaddr*>(&from),
                         &length, deadline_of(timeout));
  datagram.data.resize(got);
  datagram.host = io::host_of(reinterpret_cast<sockaddr*>(&from), length);
  datagram.port = io::port_of(reinterpret_cast<sockaddr*>(&from));
  return datagram;
}

void UdpSocket::send(std::string_view data) {
  detail::UdpState& s = state_of(state_);
  if (!s.connected) throw InvalidStateError("weft: UdpSocket::send needs connect(); use send_to");
  s.socket.send_to(data.data(), data.size(), nullptr, 0, io::kNoDeadline);
}

std::string UdpSocket::recv(std::size_t max_size, std::optional<Duration> timeout) {
  detail::UdpState& s = state_of(state_);
  std::string data(max_size, '\0');
  data.resize(s.socket.recv_from(data.data(), max_size, nullptr, nullptr, deadline_of(timeout)));
  return data;
}

std::uint16_t UdpSocket::local_port() const {
  detail::UdpState& s = state_of(state_);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(s.socket.fd(), reinterpret_cast<sockaddr*>(&bound), &length);
  return io::port_of(reinterpret_cast<sockaddr*>(&bound));
}

std::string UdpSocket::local_address() const {
  return io::sock_name(state_of(state_).socket.fd());
}

void UdpSocket::close() noexcept {
  if (state_) state_->socket.close();
}

}  // namespace weft
