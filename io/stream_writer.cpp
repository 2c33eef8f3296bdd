// StreamWriter: asyncio.StreamWriter's calls over StreamState's write side.
#include <mutex>

#include <weft/net.hpp>

#include "io/address.hpp"
#include "io/stream_state.hpp"

namespace weft {
namespace {

detail::StreamState& state_of(const std::shared_ptr<detail::StreamState>& state) {
  if (!state) throw InvalidStateError("weft: StreamWriter is not connected");
  return *state;
}

}  // namespace

void StreamWriter::write(std::string_view data) {
  state_of(state_).write(data);
}

void StreamWriter::drain() {
  state_of(state_).drain();
}

void StreamWriter::close() noexcept {
  if (state_) state_->close();
}

void StreamWriter::wait_closed() {
  state_of(state_).closed.wait(io::kNoDeadline, "waiting for a stream to close");
}

bool StreamWriter::is_closing() const noexcept {
  if (!state_) return true;
  std::lock_guard guard(state_->drain_waiters.lock());
  return state_->closing;
}

void StreamWriter::write_eof() {
  state_of(state_).write_eof();
}

void StreamWriter::set_write_buffer_limits(std::size_t high, std::size_t low) {
  detail::StreamState& s = state_of(state_);
  if (low == std::string::npos) low = high / 4;
  if (low > high) throw std::invalid_argument("weft: write buffer limits need low <= high");
  std::lock_guard guard(s.drain_waiters.lock());
  s.high_water = high;
  s.low_water = low;
}

std::size_t StreamWriter::write_buffer_size() const noexcept {
  if (!state_) return 0;
  std::lock_guard guard(state_->drain_waiters.lock());
  return state_->pending_locked();
}

std::optional<std::string> StreamWriter::get_extra_info(std::string_view name) const {
  if (!state_ || !state_->socket.is_open()) return std::nullopt;
  const int fd = state_->socket.fd();
  if (name == "peername") return io::peer_name(fd);
  if (name == "sockname") return io::sock_name(fd);
  if (name == "fd") return std::to_string(fd);
  return std::nullopt;
}

std::string StreamWriter::peername() const {
  return get_extra_info("peername").value_or("");
}

std::string StreamWriter::sockname() const {
  return get_extra_info("sockname").value_or("");
}

}  // namespace weft
