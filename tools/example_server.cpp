#include "example_server.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <charconv>
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

namespace weft::tools {
namespace {

std::string usage(std::string_view program, std::uint16_t default_port) {
  std::string text = "usage: " + std::string(program) +
                     " [--workers N] [--port P] [--backend epoll|io_uring] [--host HOST] "
                     "[--reuse-port]\n";
  text += "  --workers N     worker threads (default: WEFT_WORKERS, else the number of CPUs)\n";
  text += "  --port P        TCP port, 0 for any free port (default " +
          std::to_string(default_port) + ")\n";
  text += "  --backend B     epoll or io_uring (default: WEFT_BACKEND, else epoll)\n";
  text += "  --host HOST     address to listen on (default 127.0.0.1)\n";
  text += "  --reuse-port    one SO_REUSEPORT listening socket per worker\n";
  return text;
}

struct Options {
  std::optional<unsigned> workers;
  std::optional<weft::Backend> backend;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
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

Options parse_options(int argc, const char* const* argv, std::uint16_t default_port) {
  Options options;
  options.port = default_port;
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

// `backend` is the one the workers really use (io_uring falls back to epoll where refused).
void serve(const Options& options, weft::Backend backend, unsigned workers,
           const ConnectionHandler& handler) {
  weft::Server server = weft::start_server(handler, options.host, options.port,
                                           weft::ServerOptions{.reuse_port = options.reuse_port});
  std::printf(
      "listening on %s (%.*s, %u workers)\n", host_port(options.host, server.port()).c_str(),
      static_cast<int>(weft::to_string(backend).size()), weft::to_string(backend).data(), workers);
  std::fflush(stdout);
  server.serve_forever();
}

int run(const Options& options, std::string_view program_view, const ConnectionHandler& handler) {
  const std::string program(program_view);
  weft::Config config = weft::Config::from_env();
  if (options.workers) config.workers = *options.workers;
  if (options.backend) config.backend = *options.backend;
  SignalWatcher watcher;  // before the runtime: its workers inherit the blocked signals
  weft::Runtime runtime(config);
  weft::Task<void> serving = runtime.spawn(program, [&, backend = runtime.backend()] {
    serve(options, backend, config.workers, handler);
  });
  watcher.watch(runtime, serving.ref(), program.c_str());
  int status = 0;
  try {
    serving.get();
  } catch (const weft::CancelledError&) {
    // Stopped by a signal: the server is closed; shutdown cancels the open connections.
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), error.what());
    status = 1;
  }
  watcher.stop();
  runtime.shutdown();
  return status;
}

}  // namespace

int run_example_server(int argc, const char* const* argv, std::string_view program,
                       std::uint16_t default_port, ConnectionHandler handler) {
  const std::string name(program);
  try {
    const Options options = parse_options(argc, argv, default_port);
    if (options.help) {
      std::fputs(usage(program, default_port).c_str(), stdout);
      return 0;
    }
    return run(options, program, handler);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), error.what());
    return 2;
  } catch (const weft::ConfigError& error) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), error.what());
    return 1;
  }
}

}  // namespace weft::tools
