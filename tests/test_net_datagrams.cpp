// Datagrams (UdpSocket) and Unix-domain stream sockets, on every worker count (CTest runs this
// suite once per backend).
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <weft/weft.hpp>

#include "net_support.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;

namespace fs = std::filesystem;

TEST_CASE("udp: send_to/recv_from between two bound sockets, with the sender's address") {
  weft_test::in_runtimes([] {
    weft::UdpSocket a = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::UdpSocket b = weft::UdpSocket::bind("127.0.0.1", 0);
    REQUIRE(a.local_port() != 0);
    REQUIRE(b.local_port() != 0);
    CHECK(a.local_port() != b.local_port());
    CHECK(a.local_address() == "127.0.0.1:" + std::to_string(a.local_port()));

    a.send_to("hello", "127.0.0.1", b.local_port());
    const weft::Datagram got = b.recv_from();
    CHECK(got.data == "hello");
    CHECK(got.host == "127.0.0.1");
    CHECK(got.port == a.local_port());

    // Answer to where it came from.
    b.send_to("world", got.host, got.port);
    const weft::Datagram reply = a.recv_from();
    CHECK(reply.data == "world");
    CHECK(reply.port == b.local_port());

    // Datagram boundaries hold: two sends are two receives, an empty one included.
    a.send_to("one", "127.0.0.1", b.local_port());
    a.send_to("", "127.0.0.1", b.local_port());
    a.send_to("three", "127.0.0.1", b.local_port());
    CHECK(b.recv_from().data == "one");
    CHECK(b.recv_from().data.empty());
    CHECK(b.recv_from().data == "three");

    // send() needs connect(); a closed socket refuses everything.
    CHECK_THROWS_AS(a.send("x"), weft::InvalidStateError);
    a.close();
    CHECK_THROWS_AS(a.send_to("x", "127.0.0.1", b.local_port()), weft::InvalidStateError);
    CHECK_THROWS_AS((void)a.recv_from(), weft::InvalidStateError);
    b.close();
  });
}

TEST_CASE("udp: a connected socket sends and receives without addresses") {
  weft_test::in_runtimes([] {
    weft::UdpSocket server = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::UdpSocket client = weft::UdpSocket::connect("127.0.0.1", server.local_port());
    REQUIRE(client.local_port() != 0);  // connect() bound it to a free port
    client.send("ping");
    const weft::Datagram got = server.recv_from();
    CHECK(got.data == "ping");
    CHECK(got.host == "127.0.0.1");
    CHECK(got.port == client.local_port());
    server.send_to("pong", got.host, got.port);
    CHECK(client.recv() == "pong");
    // The kernel drops what a connected socket receives from anyone else.
    weft::UdpSocket stranger = weft::UdpSocket::bind("127.0.0.1", 0);
    stranger.send_to("intruder", "127.0.0.1", client.local_port());
    server.send_to("expected", "127.0.0.1", client.local_port());
    CHECK(client.recv(65536, 5s) == "expected");
  });
}

TEST_CASE("udp: recv_from with a timeout raises TimeoutError and leaves the socket usable") {
  weft_test::in_runtimes([] {
    weft::UdpSocket a = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::UdpSocket b = weft::UdpSocket::bind("127.0.0.1", 0);
    const weft::TimePoint start = weft::now();
    CHECK_THROWS_AS((void)a.recv_from(65536, 50ms), weft::TimeoutError);
    const double waited = weft_test::millis(start, weft::now());
    CHECK(waited >= 50);
    CHECK(waited < 2000);
    CHECK_THROWS_AS((void)a.recv(65536, 1ms), weft::TimeoutError);
    b.send_to("late", "127.0.0.1", a.local_port());
    CHECK(a.recv_from(65536, 5s).data == "late");
  });
}

TEST_CASE("udp: a recv cancelled while parked raises CancelledError and loses no datagram") {
  weft_test::in_runtimes([] {
    weft::UdpSocket a = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::UdpSocket b = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::Task<weft::Datagram> waiting = weft::spawn([&] { return a.recv_from(); });
    CHECK(weft_test::wait_parked(waiting, "receiving a datagram"));
    waiting.cancel();
    CHECK_THROWS_AS(waiting.get(), weft::CancelledError);
    // The next datagram goes to the next receiver, a parked one included.
    weft::Task<weft::Datagram> next = weft::spawn([&] { return a.recv_from(65536, 5s); });
    CHECK(weft_test::wait_parked(next, "receiving a datagram"));
    b.send_to("after", "127.0.0.1", a.local_port());
    CHECK(next.get().data == "after");
  });
}

TEST_CASE("udp: a thousand datagrams ping-pong with checked payloads") {
  weft_test::in_runtimes([] {
    constexpr std::size_t kRounds = 1000;
    weft::UdpSocket client = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::UdpSocket echo = weft::UdpSocket::bind("127.0.0.1", 0);
    weft::Task<std::size_t> echoing = weft::spawn([&] {
      std::size_t count = 0;
      for (;;) {
        weft::Datagram datagram = echo.recv_from(65536, 10s);
        if (datagram.data == "stop") return count;
        echo.send_to(datagram.data, datagram.host, datagram.port);
        ++count;
      }
    });
    std::size_t wrong = 0;
    for (std::size_t r = 0; r < kRounds; ++r) {
      const std::string out = std::to_string(r) + ":" + weft_test::payload(r, r, 1 + r % 700);
      client.send_to(out, "127.0.0.1", echo.local_port());
      const weft::Datagram back = client.recv_from(65536, 10s);
      if (back.data != out || back.port != echo.local_port()) ++wrong;
    }
    client.send_to("stop", "127.0.0.1", echo.local_port());
    CHECK(echoing.get() == kRounds);
    CHECK(wrong == 0);
  });
}

namespace {

// Leaves a socket file at `path` the way a crashed server would: bound, closed, not unlinked.
void leave_stale_socket(const std::string& path) {
  weft_test::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.get() >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
}

}  // namespace

TEST_CASE("unix: echo over start_unix_server/open_unix_connection, and close() removes the file") {
  weft_test::TempDir dir;
  const std::string path = (dir.path() / "echo.sock").string();
  weft_test::in_runtimes([&] {
    weft::Server server = weft::start_unix_server(weft_test::echo_lines, path);
    CHECK(fs::is_socket(path));
    CHECK(server.port() == 0);
    CHECK(server.address() == path);
    auto [reader, writer] = weft::open_unix_connection(path);
    CHECK(writer.peername() == path);
    for (int i = 0; i < 10; ++i) {
      const std::string line = weft_test::payload(0, i, 100) + "\n";
      writer.write(line);
      CHECK(reader.readline() == line);
    }
    writer.close();
    server.close();
    CHECK_FALSE(fs::exists(path));
    server.wait_closed();
  });
}

TEST_CASE("unix: a stale socket file is replaced, any other file is left alone") {
  weft_test::TempDir dir;
  const std::string path = (dir.path() / "stale.sock").string();
  weft_test::in_runtimes([&] {
    leave_stale_socket(path);
    REQUIRE(fs::is_socket(path));
    weft::Server server = weft::start_unix_server(weft_test::echo_lines, path);
    auto [reader, writer] = weft::open_unix_connection(path);
    writer.write("fresh\n");
    CHECK(reader.readline() == "fresh\n");
    writer.close();
    server.close();
    server.wait_closed();
    CHECK_FALSE(fs::exists(path));
  });
  // A regular file at the path is not a leftover of ours: bind fails, the file stays.
  const std::string file = (dir.path() / "data.txt").string();
  std::ofstream(file) << "precious";
  weft_test::in_runtimes(
      [&] {
        try {
          weft::Server server = weft::start_unix_server(weft_test::echo_lines, file);
          FAIL("start_unix_server replaced a regular file");
        } catch (const weft::OSError& error) {
          CHECK(error.code().value() == EADDRINUSE);
          CHECK(std::string(error.what()).find(file) != std::string::npos);
        }
      },
      {1});
  CHECK(fs::is_regular_file(file));
  std::ifstream in(file);
  std::string content;
  in >> content;
  CHECK(content == "precious");
}

TEST_CASE("unix: connecting to a missing path raises OSError naming the path") {
  weft_test::TempDir dir;
  const std::string path = (dir.path() / "missing.sock").string();
  weft_test::in_runtimes([&] {
    try {
      (void)weft::open_unix_connection(path);
      FAIL("connected to a path that does not exist");
    } catch (const weft::OSError& error) {
      CHECK(error.code().value() == ENOENT);
      CHECK(std::string(error.what()).find(path) != std::string::npos);
    }
  });
}
