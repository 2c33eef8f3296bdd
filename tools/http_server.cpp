// http_server: an HTTP/1.1 "hello world" server on weft's streams, for load generators such as
// wrk (tools/http_bench.sh). Keep-alive and pipelining work; every request gets the same
// 12-byte text/plain body (HEAD: the headers only), in one write per response.
//   http_server --workers N --port P --backend epoll|io_uring [--host 127.0.0.1] [--reuse-port]
// Flags are `--name value` or `--name=value`; the runtime starts from Config::from_env() (so the
// other WEFT_* variables apply) and the flags override workers and backend. Port 0 picks a free
// port; the "listening on" line names it. Serves until SIGINT or SIGTERM (a second one exits at
// once). Exit status: 0 after a signal, 1 if serving failed, 2 for bad flags or a bad WEFT_*.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <weft/weft.hpp>

namespace {

constexpr std::string_view kUsage =
    "usage: http_server [--workers N] [--port P] [--backend epoll|io_uring] [--host HOST] "
    "[--reuse-port]\n"
    "  --workers N     worker threads (default: WEFT_WORKERS, else the number of CPUs)\n"
    "  --port P        TCP port, 0 for any free port (default 8080)\n"
    "  --backend B     epoll or io_uring (default: WEFT_BACKEND, else epoll)\n"
    "  --host HOST     address to listen on (default 127.0.0.1)\n"
    "  --reuse-port    one SO_REUSEPORT listening socket per worker\n";

struct Options {
  std::optional<unsigned> workers;
  std::optional<weft::Backend> backend;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  bool reuse_port = false;
  bool help = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::uint64_t parse_number(std::string_view key, std::string_view text, std::uint64_t min,
                           std::uint64_t max) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min ||
      value > max)
    throw UsageError("bad value for --" + std::string(key) + ": '" + std::string(text) +
                     "' (expected " + std::to_string(min) + ".." + std::to_string(max) + ")");
  return value;
}

Options parse_options(int argc, const char* const* argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("-")) throw UsageError("unexpected argument '" + std::string(arg) + "'");
    while (arg.starts_with("-")) arg.remove_prefix(1);
    std::string_view key = arg;
    std::optional<std::string_view> inline_value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      key = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    if (key == "help" || key == "h") {
      options.help = true;
      continue;
    }
    if (key == "reuse-port") {
      if (inline_value) throw UsageError("--reuse-port takes no value");
      options.reuse_port = true;
      continue;
    }
    if (key != "workers" && key != "port" && key != "backend" && key != "host")
      throw UsageError("unknown flag --" + std::string(key));
    if (!inline_value && i + 1 >= argc) throw UsageError("missing value for --" + std::string(key));
    const std::string_view value = inline_value ? *inline_value : std::string_view(argv[++i]);
    if (key == "workers") {
      options.workers =
          static_cast<unsigned>(parse_number(key, value, 1, std::numeric_limits<unsigned>::max()));
    } else if (key == "port") {
      options.port = static_cast<std::uint16_t>(parse_number(key, value, 0, 65535));
    } else if (key == "backend") {
      if (value == "epoll")
        options.backend = weft::Backend::epoll;
      else if (value == "io_uring")
        options.backend = weft::Backend::io_uring;
      else
        throw UsageError("bad value for --backend: '" + std::string(value) +
                         "' (expected epoll or io_uring)");
    } else {
      if (value.empty()) throw UsageError("empty value for --host");
      options.host = std::string(value);
    }
  }
  return options;
}

// weft has no signal API yet. SIGINT and SIGTERM are blocked in every thread (the workers
// inherit the mask of the thread that starts them, so the blocking must come first) and taken
// by sigwait() in one watcher thread, which cancels the serving task through the runtime.
// SIGUSR1, blocked too, is how stop() wakes the watcher.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGUSR1);
    if (const int error = pthread_sigmask(SIG_BLOCK, &signals_, nullptr))
      throw std::system_error(error, std::generic_category(), "pthread_sigmask");
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  ~SignalWatcher() { stop(); }

  void watch(weft::Runtime& runtime, weft::TaskRef serving, const char* program) {
    thread_ = std::thread([this, &runtime, serving = std::move(serving), program] {
      bool signalled = false;
      for (;;) {
        int signal = 0;
        if (sigwait(&signals_, &signal) != 0 || stopping_.load()) return;
        if (signal == SIGUSR1) continue;  // not from stop(): ignored
        if (signalled) {
          std::fprintf(stderr, "%s: second signal, exiting now\n", program);
          std::_Exit(128 + signal);
        }
        signalled = true;
        std::fprintf(stderr, "%s: %s, shutting down\n", program,
                     signal == SIGINT ? "SIGINT" : "SIGTERM");
        runtime.call_soon_threadsafe([serving] { serving.cancel("stopped by a signal"); });
      }
    });
  }

  // Wakes the watcher with a signal only it can take (blocked everywhere, directed at it), then
  // joins it. Must run before the runtime shuts down: the watcher spawns into it.
  void stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true);
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  sigset_t signals_{};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::string host_port(std::string_view host, std::uint16_t port) {
  std::string text;
  const bool ipv6 = host.find(':') != std::string_view::npos;
  text.append(ipv6 ? "[" : "").append(host).append(ipv6 ? "]:" : ":");
  return text.append(std::to_string(port));
}

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

// `backend` is the one the workers really use (io_uring falls back to epoll where refused).
void serve(const Options& options, weft::Backend backend, unsigned workers,
           const Responses& responses) {
  weft::Server server = weft::start_server(
      [&responses](weft::StreamReader& reader, weft::StreamWriter& writer) {
        serve_client(responses, reader, writer);
      },
      options.host, options.port, weft::ServerOptions{.reuse_port = options.reuse_port});
  std::printf(
      "listening on %s (%.*s, %u workers)\n", host_port(options.host, server.port()).c_str(),
      static_cast<int>(weft::to_string(backend).size()), weft::to_string(backend).data(), workers);
  std::fflush(stdout);
  server.serve_forever();
}

int run(const Options& options) {
  weft::Config config = weft::Config::from_env();
  if (options.workers) config.workers = *options.workers;
  if (options.backend) config.backend = *options.backend;
  // Outlives the runtime: connection handlers still use it while shutdown cancels them.
  const Responses responses;
  SignalWatcher watcher;  // before the runtime: its workers inherit the blocked signals
  weft::Runtime runtime(config);
  weft::Task<void> serving = runtime.spawn("http_server", [&, backend = runtime.backend()] {
    serve(options, backend, config.workers, responses);
  });
  watcher.watch(runtime, serving.ref(), "http_server");
  int status = 0;
  try {
    serving.get();
  } catch (const weft::CancelledError&) {
    // Stopped by a signal: the server is closed; shutdown cancels the open connections.
  } catch (const std::exception& error) {
    std::fprintf(stderr, "http_server: error: %s\n", error.what());
    status = 1;
  }
  watcher.stop();
  runtime.shutdown();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse_options(argc, argv);
    if (options.help) {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    return run(options);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "http_server: %s (see --help)\n", error.what());
    return 2;
  } catch (const weft::ConfigError& error) {
    std::fprintf(stderr, "http_server: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "http_server: error: %s\n", error.what());
    return 1;
  }
}
