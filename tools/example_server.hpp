#pragma once
// What the example servers in tools/ share: their command line (--workers, --port, --backend,
// --host, --reuse-port, --help), a runtime built from Config::from_env() with those applied,
// and a graceful stop on SIGINT/SIGTERM. Each server only brings its connection handler.
#include <cstdint>
#include <string_view>

#include <weft/net.hpp>

namespace weft::tools {

// Parses argv, serves `handler` on host:port until SIGINT or SIGTERM (a second one exits at
// once) and returns the exit status: 0 after a signal, 1 if serving failed, 2 for bad flags or
// a bad WEFT_* variable. Prints "listening on HOST:PORT (BACKEND, N workers)" once listening.
int run_example_server(int argc, const char* const* argv, std::string_view program,
                       std::uint16_t default_port, ConnectionHandler handler);

}  // namespace weft::tools
