// TCP streams: asyncio's StreamReader/StreamWriter calls, servers and clients, on every worker
// count (CTest runs this suite once per backend).
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "net_support.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;

TEST_CASE("tcp: a line echo server and client, with readline/readuntil/readexactly/read") {
  weft_test::in_runtimes([] {
    weft::Server server = weft::start_server(weft_test::echo_lines, "127.0.0.1", 0);
    REQUIRE(server.port() != 0);
    CHECK(server.is_serving());
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    writer.write("hello\n");
    CHECK(reader.readline() == "hello\n");
    writer.write("abc;def\n");
    CHECK(reader.readuntil(";") == "abc;");
    CHECK(reader.readexactly(3) == "def");
    CHECK(reader.read(100) == "\n");
    writer.write("tail\n");
    writer.write_eof();  // the server sees EOF after "tail\n", echoes it and closes
    CHECK(reader.read() == "tail\n");
    CHECK(reader.at_eof());
    CHECK(reader.read(10).empty());
    writer.close();
    writer.wait_closed();
    server.close();
    server.wait_closed();
    CHECK_FALSE(server.is_serving());
  });
}

TEST_CASE("tcp: peer and local addresses, TCP_NODELAY on both ends") {
  weft_test::in_runtimes([] {
    weft::Promise<std::string> peer_seen;
    weft::Future<std::string> seen_peer = peer_seen.get_future();
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter& writer) {
          peer_seen.set_value(writer.peername());
          (void)reader.read();
        },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("localhost", server.port());
    CHECK(writer.peername() == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(writer.get_extra_info("sockname").value().rfind("127.0.0.1:", 0) == 0);
    CHECK_FALSE(writer.get_extra_info("nonsense").has_value());
    CHECK(seen_peer.get() == writer.sockname());
    writer.close();
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("tcp: readexactly at EOF raises IncompleteReadError with the partial bytes") {
  weft_test::in_runtimes([] {
    weft::Server server = weft::start_server(
        [](weft::StreamReader&, weft::StreamWriter& writer) { writer.write("abc"); }, "127.0.0.1",
        0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    try {
      (void)reader.readexactly(10);
      FAIL("no IncompleteReadError");
    } catch (const weft::IncompleteReadError& error) {
      CHECK(error.partial() == "abc");
      CHECK(error.expected() == 10);
    }
    CHECK(reader.at_eof());
  });
}

TEST_CASE("tcp: readuntil past the limit raises LimitOverrunError and keeps the data") {
  weft_test::in_runtimes([] {
    weft::ServerOptions options;
    weft::Server server = weft::start_server(
        [](weft::StreamReader&, weft::StreamWriter& writer) {
          writer.write(std::string(300, 'x') + "\n");
        },
        "127.0.0.1", 0, options);
    // Designated initializers name only what they set (no -Wmissing-field-initializers).
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port(), {.limit = 100});
    CHECK(reader.limit() == 100);
    CHECK_THROWS_AS((void)reader.readline(), weft::LimitOverrunError);
    CHECK(reader.buffered() > 100);
    // Nothing was lost: the whole line is still there.
    CHECK(reader.readexactly(301) == std::string(300, 'x') + "\n");
  });
}

TEST_CASE("tcp: a reader cancelled in the middle of readexactly loses no byte") {
  weft_test::in_runtimes([] {
    weft::Promise<void> first_half;
    weft::Future<void> first_sent = first_half.get_future();
    weft::Promise<void> second_half;
    weft::Future<void> go = second_half.get_future();
    weft::Server server = weft::start_server(
        [&](weft::StreamReader&, weft::StreamWriter& writer) {
          writer.write("123");
          writer.drain();
          first_half.set_value();
          go.get();
          writer.write("456789");
          writer.drain();
        },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    first_sent.get();
    // "123" has arrived in the client's socket (loopback delivery may lag the send a little),
    // so the reader's first receive takes it, and its next one waits for more.
    const int fd = std::stoi(writer.get_extra_info("fd").value());
    int arrived = 0;
    for (const auto give_up = weft::now() + 10s;; weft::sleep(1ms)) {
      REQUIRE(::ioctl(fd, FIONREAD, &arrived) == 0);
      if (arrived >= 3 || weft::now() > give_up) break;
    }
    REQUIRE(arrived == 3);
    weft::Task<std::string> waiting = weft::spawn([&] { return reader.readexactly(6); });
    // Parked for the rest: it has read "123" into the buffer and waits for more.
    REQUIRE(weft_test::wait_parked(waiting, "reading from a socket"));
    waiting.cancel();
    CHECK_THROWS_AS(waiting.get(), weft::CancelledError);
    CHECK(reader.buffered() == 3);
    second_half.set_value();
    CHECK(reader.readexactly(6) == "123456");
    CHECK(reader.readexactly(3) == "789");
  });
}

TEST_CASE("tcp: a thousand concurrent echo connections with checked payloads") {
  weft_test::raise_fd_limit();
  const std::size_t connections = weft_test::scaled(1000);
  weft_test::in_runtimes(
      [&] {
        weft::ServerOptions options;
        options.backlog = 4096;
        weft::Server server = weft::start_server(
            [](weft::StreamReader& reader, weft::StreamWriter& writer) {
              char buffer[128];
              for (;;) {
                const std::size_t n = reader.read_into(buffer, sizeof buffer);
                if (n == 0) return;
                writer.write(std::string_view(buffer, n));
              }
            },
            "127.0.0.1", 0, options);
        std::atomic<std::size_t> wrong{0};
        std::vector<weft::Task<void>> clients;
        for (std::size_t c = 0; c < connections; ++c) {
          clients.push_back(weft::spawn([&, c] {
            auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
            for (std::size_t r = 0; r < 10; ++r) {
              const std::string out = weft_test::payload(c, r, 64);
              writer.write(out);
              if (reader.readexactly(out.size()) != out) ++wrong;
            }
            writer.close();
          }));
        }
        for (auto& client : clients) client.get();
        CHECK(wrong == 0);
        server.close();
        server.wait_closed();
        CHECK(server.active_connections() == 0);
      },
      {1, 2, 4});
}

TEST_CASE("tcp: connection refused names the address") {
  weft_test::in_runtimes([] {
    std::uint16_t port;
    {
      weft::Server probe =
          weft::start_server([](weft::StreamReader&, weft::StreamWriter&) {}, "127.0.0.1", 0);
      port = probe.port();
      probe.close();
      probe.wait_closed();
    }
    try {
      (void)weft::open_connection("127.0.0.1", port);
      FAIL("connected to a closed port");
    } catch (const weft::ConnectionRefusedError& error) {
      CHECK(std::string(error.what()).find("127.0.0.1:" + std::to_string(port)) !=
            std::string::npos);
    }
  });
}

TEST_CASE("tcp: a name that does not resolve raises OSError naming it") {
  weft_test::in_runtimes(
      [] {
        try {
          (void)weft::open_connection("no-such-host.invalid", 80);
          FAIL("resolved an invalid name");
        } catch (const weft::OSError& error) {
          CHECK(std::string(error.what()).find("no-such-host.invalid") != std::string::npos);
        }
      },
      {1});
}

namespace {

// Runs body(release) as the main fiber of runtimes (1 and 2 workers) whose only blocking
// thread is held by a job until `release` is set (at the latest when body returns): name
// lookups queue behind that job.
template <class Body>
void with_blocking_thread_held(Body body) {
  weft::Config config = weft_test::base_config();
  config.blocking_threads = 1;
  weft_test::with_runtimes(
      [&body](weft::Runtime& runtime) {
        runtime
            .submit([&body] {
              // Shared with the job: it may still read the flag after this fiber has left.
              auto release = std::make_shared<std::atomic<bool>>(false);
              weft::Task<void> holder = weft::to_thread([release] {
                while (!release->load()) std::this_thread::sleep_for(1ms);
              });
              body(*release);
              *release = true;
              holder.get();
            })
            .get();
      },
      {1, 2}, config);
}

}  // namespace

TEST_CASE("tcp: a name is looked up on the blocking pool, and a cancelled lookup ends at once") {
  // A lookup of "localhost" has to wait for the held thread (it does not start a thread of its
  // own), and cancelling the connecting task ends its wait.
  with_blocking_thread_held([](std::atomic<bool>& release) {
    weft::Server server = weft::start_server(weft_test::echo_lines, "127.0.0.1", 0);
    const std::uint16_t port = server.port();
    weft::Task<bool> connect = weft::spawn([port] {
      auto [reader, writer] = weft::open_connection("localhost", port);
      writer.write("x\n");
      return reader.readline() == "x\n";
    });
    // Its lookup is queued behind the holder: it waits for the job. (CHECK, not REQUIRE: the
    // holder must be released at the end whatever happens.)
    CHECK(weft_test::wait_parked(connect, "awaiting a task or future"));
    CHECK_FALSE(connect.done());
    weft::Task<void> cancelled =
        weft::spawn([port] { (void)weft::open_connection("localhost", port); });
    // Cancelled while it waits for its lookup (not before it started).
    CHECK(weft_test::wait_parked(cancelled, "awaiting a task or future"));
    cancelled.cancel();
    CHECK_THROWS_AS(cancelled.get(), weft::CancelledError);
    release = true;
    CHECK(connect.get());
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("tcp: open_connection's timeout covers resolving the name") {
  // The lookup of "localhost" cannot finish while the thread is held: the timeout ends it with
  // a TimeoutError that names the host.
  with_blocking_thread_held([](std::atomic<bool>&) {
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)weft::open_connection("localhost", 9, {.timeout = 50ms});
      FAIL("connected although the lookup could not run");
    } catch (const weft::TimeoutError& error) {
      CHECK(std::string(error.what()).find("'localhost'") != std::string::npos);
    }
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  });
}

TEST_CASE("tcp: write after close is an InvalidStateError, the peer sees EOF") {
  weft_test::in_runtimes([] {
    weft::Promise<std::string> got;
    weft::Future<std::string> result = got.get_future();
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter&) { got.set_value(reader.read()); },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    writer.write("bye");
    writer.close();
    CHECK(writer.is_closing());
    CHECK_THROWS_AS(writer.write("more"), weft::InvalidStateError);
    CHECK(result.get() == "bye");
  });
}

TEST_CASE("tcp: closing the writer wakes the reader of the same connection with EOF") {
  weft_test::in_runtimes([] {
    weft::Server server = weft::start_server(
        [](weft::StreamReader& reader, weft::StreamWriter&) { (void)reader.read(); }, "127.0.0.1",
        0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    weft::Task<std::string> waiting = weft::spawn([&] { return reader.read(100); });
    REQUIRE(weft_test::wait_parked(waiting, "reading from a socket"));
    writer.close();
    CHECK(waiting.get().empty());
  });
}

TEST_CASE("tcp: serve_forever returns once the server is closed, cancelling it closes the server") {
  weft_test::in_runtimes([] {
    weft::Server server =
        weft::start_server([](weft::StreamReader&, weft::StreamWriter&) {}, "127.0.0.1", 0);
    weft::Task<void> serving = weft::spawn([&] { server.serve_forever(); });
    // Cancelled in serve_forever (a task cancelled before it ran would never close the server).
    REQUIRE(weft_test::wait_parked(serving, "serving forever"));
    serving.cancel();
    CHECK_THROWS_AS(serving.get(), weft::CancelledError);
    CHECK_FALSE(server.is_serving());
    server.wait_closed();
  });
}

TEST_CASE("tcp: wait_closed waits for the handlers, close_clients cancels them") {
  weft_test::in_runtimes([] {
    std::atomic<int> started{0};
    std::atomic<int> cleaned{0};
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter&) {
          struct Cleanup {
            std::atomic<int>& count;
            ~Cleanup() { ++count; }
          } cleanup{cleaned};
          ++started;
          (void)reader.read();  // blocks until cancelled
        },
        "127.0.0.1", 0);
    std::vector<weft::Connection> clients;
    for (int i = 0; i < 5; ++i)
      clients.push_back(weft::open_connection("127.0.0.1", server.port()));
    // Every handler runs (a handler cancelled before its first run would never run its body).
    while (started < 5) weft::sleep(1ms);
    CHECK(server.active_connections() == 5);
    server.close();
    weft::Task<void> waiting = weft::spawn([&] { server.wait_closed(); });
    REQUIRE(weft_test::wait_parked(waiting, "awaiting a task or future"));
    CHECK_FALSE(waiting.done());  // the handlers are still running
    server.close_clients();
    waiting.get();
    CHECK(cleaned == 5);
  });
}

TEST_CASE("tcp: SO_REUSEPORT servers accept on a listening socket per worker") {
  weft_test::in_runtimes([] {
    weft::ServerOptions options;
    options.reuse_port = true;
    weft::Server server = weft::start_server(weft_test::echo_lines, "127.0.0.1", 0, options);
    for (int i = 0; i < 20; ++i) {
      auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
      writer.write("x\n");
      CHECK(reader.readline() == "x\n");
      writer.close();
    }
  });
}

TEST_CASE("tcp: sockets outside a fiber are a logic_error") {
  CHECK_THROWS_AS((void)weft::open_connection("127.0.0.1", 1), std::logic_error);
}

TEST_CASE("tcp: end of stream that arrives with the last data is seen (no wait for an edge)") {
  weft_test::in_runtimes([] {
    weft::Promise<std::string> got;
    weft::Future<std::string> result = got.get_future();
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter&) {
          reader.set_timeout(5s);  // a hang fails the test instead of blocking it
          std::string text = reader.readline();
          text += reader.read();  // the rest, up to EOF
          got.set_value(text);
        },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    // TCP_CORK holds the data back so that the FIN of write_eof() rides on the same segment.
    const int fd = std::stoi(writer.get_extra_info("fd").value());
    const int one = 1;
    REQUIRE(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0);
    writer.write("line\nrest");
    writer.write_eof();
    CHECK(result.get() == "line\nrest");
  });
}

TEST_CASE("tcp: a Server object may outlive its runtime") {
  weft::Server server;
  {
    weft::Config cfg = weft_test::base_config();
    cfg.workers = 2;
    weft::run(cfg, [&] { server = weft::start_server(weft_test::echo_lines, "127.0.0.1", 0); });
  }
  CHECK(server.port() != 0);
  CHECK_FALSE(server.is_serving());  // the runtime's shutdown closed it
  server.close();                    // after the runtime is gone: nothing to touch, no crash
}
