// http_server: an HTTP/1.1 "hello world" server on weft's streams, for load generators such as
// wrk (tools/http_bench.sh). Keep-alive and pipelining work; every request gets the same
// 12-byte text/plain body (HEAD: the headers only), in one write per response.
//   http_server --workers N --port P --backend epoll|io_uring [--host 127.0.0.1] [--reuse-port]
// The command line, runtime and signal handling are tools/example_server's (see there).
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <weft/weft.hpp>

#include "example_server.hpp"

namespace {

// What the client asked of the connection after this response.
enum class Persistence { keep_alive_1_1, keep_alive_1_0, close };

// Every response this server sends, built once: a request costs no formatting or allocation.
struct Responses {
  static constexpr std::string_view kBody = "Hello world\n";
  // [persistence][head request]
  std::array<std::array<std::string, 2>, 3> ok;
  std::string bad_request = error("400 Bad Request");
  std::string header_too_large = error("431 Request Header Fields Too Large");
  std::string not_implemented = error("501 Not Implemented");

  Responses() {
    for (const Persistence p :
         {Persistence::keep_alive_1_1, Persistence::keep_alive_1_0, Persistence::close}) {
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody.size()) +
                         "\r\nContent-Type: text/plain\r\n";
      if (p == Persistence::keep_alive_1_0) head += "Connection: keep-alive\r\n";
      if (p == Persistence::close) head += "Connection: close\r\n";
      head += "\r\n";
      ok[static_cast<std::size_t>(p)] = {head + std::string(kBody), head};
    }
  }

  static std::string error(std::string_view status) {
    return "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }
};

struct Request {
  bool head = false;  // a HEAD request: no body in the response
  Persistence persistence = Persistence::keep_alive_1_1;
  std::size_t content_length = 0;
  bool transfer_encoding = false;  // a body this server cannot delimit (it decodes no codings)
};

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Whether the comma-separated header value `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  for (;;) {
    const std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// Parses a request head (request line and headers, ending in the blank line); nullopt if it is
// malformed.
std::optional<Request> parse_request(std::string_view head) {
  // RFC 9112 2.2: a server should ignore empty lines before the request line.
  while (head.starts_with("\r\n")) head.remove_prefix(2);
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1) return std::nullopt;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  Request request;
  request.head = method == "HEAD";
  bool http_1_0 = false;
  if (version == "HTTP/1.0")
    http_1_0 = true;
  else if (version != "HTTP/1.1")
    return std::nullopt;
  bool close = false;
  bool keep_alive = false;
  head.remove_prefix(eol + 2);
  while ((eol = head.find("\r\n")) != 0 && eol != std::string_view::npos) {
    const std::string_view field = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (iequals(name, "connection")) {
      close |= has_token(value, "close");
      keep_alive |= has_token(value, "keep-alive");
    } else if (iequals(name, "content-length")) {
      const auto [end, error] =
          std::from_chars(value.data(), value.data() + value.size(), request.content_length);
      if (value.empty() || error != std::errc{} || end != value.data() + value.size())
        return std::nullopt;
    } else if (iequals(name, "transfer-encoding")) {
      request.transfer_encoding = true;
    }
  }
  if (close || (http_1_0 && !keep_alive))
    request.persistence = Persistence::close;
  else if (http_1_0)
    request.persistence = Persistence::keep_alive_1_0;
  return request;
}

// Past this much buffered output (a client that pipelines without reading) the handler waits
// for the socket to drain before it reads the next request.
constexpr std::size_t kDrainAbove = std::size_t{64} * 1024;

// Ends a connection after an error response: a close() with unread request bytes in the
// kernel would send RST, and the client could lose the response. So: send it with a FIN, then
// read and drop what the client still sends, for a bounded time and amount.
void linger_close(weft::StreamReader& reader, weft::StreamWriter& writer, std::string_view last) {
  writer.write(last);
  writer.write_eof();
  reader.set_timeout(std::chrono::seconds(1));
  char sink[4096];
  std::size_t dropped = 0;
  try {
    while (dropped < std::size_t{1024} * 1024) {
      const std::size_t n = reader.read_into(sink, sizeof sink);
      if (n == 0) return;
      dropped += n;
    }
  } catch (const weft::TimeoutError&) {
  }
}

// Drops a request body of `length` bytes; false if the connection ended first.
bool skip_body(weft::StreamReader& reader, std::size_t length) {
  char sink[4096];
  while (length > 0) {
    const std::size_t n = reader.read_into(sink, std::min(length, sizeof sink));
    if (n == 0) return false;
    length -= n;
  }
  return true;
}

void serve_client(const Responses& responses, weft::StreamReader& reader,
                  weft::StreamWriter& writer) {
  try {
    for (;;) {
      std::string head;
      try {
        head = reader.readuntil("\r\n\r\n");
      } catch (const weft::LimitOverrunError&) {
        linger_close(reader, writer, responses.header_too_large);
        return;
      } catch (const weft::IncompleteReadError&) {
        return;  // the client closed the connection, between requests or within one
      }
      const std::optional<Request> request = parse_request(head);
      if (!request) {
        linger_close(reader, writer, responses.bad_request);
        return;
      }
      if (request->transfer_encoding) {
        linger_close(reader, writer, responses.not_implemented);
        return;
      }
      if (!skip_body(reader, request->content_length)) return;
      writer.write(responses.ok[static_cast<std::size_t>(request->persistence)][request->head]);
      if (request->persistence == Persistence::close) return;  // the server closes the writer
      if (writer.write_buffer_size() > kDrainAbove) writer.drain();
    }
  } catch (const weft::ConnectionError&) {
    // The client reset the connection or went away mid-write: nobody to answer.
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Outlives the runtime: connection handlers still use it while shutdown cancels them.
  const Responses responses;
  return weft::tools::run_example_server(
      argc, argv, "http_server", 8080,
      [&responses](weft::StreamReader& reader, weft::StreamWriter& writer) {
        serve_client(responses, reader, writer);
      });
}
