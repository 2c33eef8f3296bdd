// StreamReader: asyncio.StreamReader's calls over StreamState's buffer. Every call leaves
// bytes it did not return in the buffer, whatever interrupts it.
#include <cstring>

#include <weft/net.hpp>

#include "io/stream_state.hpp"

namespace weft {
namespace {

detail::StreamState& state_of(const std::shared_ptr<detail::StreamState>& state) {
  if (!state) throw InvalidStateError("weft: StreamReader is not connected");
  return *state;
}

std::string take(io::ByteBuffer& in, std::size_t n) {
  std::string bytes(in.data(), n);
  in.consume(n);
  return bytes;
}

// Receives until n bytes are buffered; at end of stream first, hands the partial bytes to
// IncompleteReadError (asyncio's readexactly).
void fill_to(detail::StreamState& s, std::size_t n) {
  while (s.in.size() < n) {
    if (!s.fill(n - s.in.size())) throw IncompleteReadError(take(s.in, s.in.size()), n);
  }
}

}  // namespace

std::string StreamReader::read(std::size_t n) {
  detail::StreamState& s = state_of(state_);
  if (n == 0) return {};
  if (n == std::string::npos) {
    while (s.fill(0)) {
    }
    return take(s.in, s.in.size());
  }
  if (s.in.empty()) s.fill(0);
  return take(s.in, std::min(n, s.in.size()));
}

std::size_t StreamReader::read_into(char* buffer, std::size_t size) {
  detail::StreamState& s = state_of(state_);
  if (size == 0) return 0;
  if (s.in.empty()) {
    // Nothing buffered: receive straight into the caller's memory.
    if (s.eof) return 0;
    const std::size_t got = s.socket.recv(buffer, size, s.read_deadline());
    if (got == 0) s.eof = true;
    return got;
  }
  const std::size_t n = std::min(size, s.in.size());
  std::memcpy(buffer, s.in.data(), n);
  s.in.consume(n);
  return n;
}

std::string StreamReader::readexactly(std::size_t n) {
  detail::StreamState& s = state_of(state_);
  fill_to(s, n);
  return take(s.in, n);
}

void StreamReader::readexactly_into(char* buffer, std::size_t size) {
  detail::StreamState& s = state_of(state_);
  fill_to(s, size);
  std::memcpy(buffer, s.in.data(), size);
  s.in.consume(size);
}

std::string StreamReader::readuntil(std::string_view separator) {
  detail::StreamState& s = state_of(state_);
  if (separator.empty())
    throw std::invalid_argument("weft: readuntil() needs a non-empty separator");
  std::size_t scanned = 0;  // bytes already searched, so a long wait does not rescan
  for (;;) {
    const std::string_view buffered = s.in.view();
    const std::size_t found = buffered.find(separator, scanned);
    if (found != std::string_view::npos) {
      const std::size_t end = found + separator.size();
      if (end > s.limit)
        throw LimitOverrunError("weft: separator found, but the chunk (" + std::to_string(end) +
                                    " bytes) is longer than the limit (" + std::to_string(s.limit) +
                                    ")",
                                end);
      return take(s.in, end);
    }
    if (buffered.size() > s.limit)
      throw LimitOverrunError("weft: separator not found within the limit (" +
                                  std::to_string(s.limit) + " bytes); the data stays buffered",
                              buffered.size());
    scanned = buffered.size() >= separator.size() ? buffered.size() - separator.size() + 1 : 0;
    if (!s.fill(0)) {
      std::string partial = take(s.in, s.in.size());
      throw IncompleteReadError(std::move(partial), std::string::npos);
    }
  }
}

std::string StreamReader::readline() {
  // asyncio: at end of stream the last, unterminated line comes back as it is.
  try {
    return readuntil("\n");
  } catch (const IncompleteReadError& error) {
    return error.partial();
  }
}

bool StreamReader::at_eof() const noexcept {
  return state_ && state_->eof && state_->in.empty();
}

std::size_t StreamReader::limit() const noexcept {
  return state_ ? state_->limit : kDefaultStreamLimit;
}

std::size_t StreamReader::buffered() const noexcept {
  return state_ ? state_->in.size() : 0;
}

void StreamReader::set_timeout(std::optional<Duration> timeout) noexcept {
  if (state_) state_->read_timeout = timeout;
}

}  // namespace weft
