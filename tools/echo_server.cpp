// echo_server: a TCP echo server on weft's streams; every byte a client sends comes back.
//   echo_server --workers N --port P --backend epoll|io_uring [--host 127.0.0.1] [--reuse-port]
// The command line, runtime and signal handling are tools/example_server's (see there).
#include <cstddef>
#include <string_view>

#include <weft/weft.hpp>

#include "example_server.hpp"

namespace {

// Writes are sent at once while the socket takes them; past this much buffered (a client that
// sends without reading) the handler waits for the buffer to drain.
constexpr std::size_t kDrainAbove = std::size_t{64} * 1024;

void echo(weft::StreamReader& reader, weft::StreamWriter& writer) {
  char buffer[16 * 1024];
  try {
    for (;;) {
      const std::size_t n = reader.read_into(buffer, sizeof buffer);
      if (n == 0) return;
      writer.write(std::string_view(buffer, n));
      if (writer.write_buffer_size() > kDrainAbove) writer.drain();
    }
  } catch (const weft::ConnectionError&) {
    // The client reset the connection or went away mid-write: nothing left to echo to.
  }
}

}  // namespace

int main(int argc, char** argv) {
  return weft::tools::run_example_server(argc, argv, "echo_server", 9000, echo);
}
