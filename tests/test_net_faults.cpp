// Network faults: fds closed under a waiter, peers that never read, fd exhaustion, oversized
// lines, slow clients, unanswered connects, resets, and cancelled writers (CTest runs this
// suite once per backend).
#include <doctest/doctest.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

#include "io/clock.hpp"
#include "io/socket.hpp"
#include "net_support.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// A byte of an endless stream that tells every offset apart from its neighbours and from the
// same offset in a chunk of another size.
char pattern_at(std::size_t offset) {
  return static_cast<char>('!' + (offset * 7 + offset / 4093) % 89);
}

std::string pattern(std::size_t offset, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t k = 0; k < size; ++k) bytes[k] = pattern_at(offset + k);
  return bytes;
}

// A connected pair of Unix stream sockets, close-on-exec.
std::pair<int, int> socket_pair() {
  int fds[2] = {-1, -1};
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {fds[0], fds[1]};
}

// A line from a raw socket, byte by byte (the lines here are a few bytes).
std::string read_line(weft::io::Socket& socket, std::uint64_t deadline_ns) {
  std::string line;
  char c;
  while (socket.recv(&c, 1, deadline_ns) == 1) {
    line += c;
    if (c == '\n') break;
  }
  return line;
}

// What a test shares with its server's handler: a gate the handler waits at, and the
// handler's result. Held by the handler too, so a test that fails early leaves the handler
// waiting on live objects until the runtime cancels it.
template <class Result>
struct Gate {
  weft::Promise<void> open;
  weft::Future<void> opened = open.get_future();
  weft::Promise<Result> result;
  weft::Future<Result> outcome = result.get_future();
};

// What the kernel holds for the sending end `fd`: whether it takes more bytes now, and how
// many it holds that the peer has not acknowledged (SIOCOUTQ).
struct SendSide {
  bool writable = true;
  int queued = -1;
  bool operator==(const SendSide&) const = default;
};

SendSide send_side(int fd) {
  pollfd probe{fd, POLLOUT, 0};
  SendSide side;
  side.writable = ::poll(&probe, 1, 0) != 0 && (probe.revents & POLLOUT) != 0;
  if (::ioctl(fd, SIOCOUTQ, &side.queued) != 0) side.queued = -1;
  return side;
}

// Waits until a writer on the sending end `fd` whose peer does not read has filled every buffer
// on the way: `task` parked on `what`, `progress` not moving, and the kernel neither taking
// more bytes on `fd` nor getting any acknowledged, for 3 windows of `quiet` in a row. Only the
// peer could move bytes on from there (a descheduled worker, which a quiet window alone cannot
// tell from full buffers, leaves the socket writable or its queue moving). False if the task
// finished or 10 s passed first. A synchronisation point: what follows checks the state it
// reached.
template <class T>
bool wait_stuck(const weft::Task<T>& task, std::string_view what, int fd,
                const std::atomic<std::size_t>& progress, std::chrono::milliseconds quiet) {
  constexpr int kWindows = 3;
  const auto give_up = weft::now() + 10s;
  int quiet_windows = 0;
  std::size_t seen = progress;
  SendSide kernel = send_side(fd);
  while (weft::now() < give_up) {
    if (task.done()) return false;
    weft::sleep(quiet);
    const std::size_t now_seen = progress;
    const SendSide now_kernel = send_side(fd);
    const bool still = weft_test::parked_on(task) == what && now_seen == seen &&
                       now_kernel == kernel && !now_kernel.writable && now_kernel.queued > 0;
    quiet_windows = still ? quiet_windows + 1 : 0;
    if (quiet_windows == kWindows) return true;
    seen = now_seen;
    kernel = now_kernel;
  }
  return false;
}

}  // namespace

TEST_CASE("faults: close() wakes a parked reader with EBADF, and a reused fd never reaches it") {
  weft_test::in_runtimes([] {
    auto [old_fd, old_peer_fd] = socket_pair();
    weft_test::UniqueFd old_peer(old_peer_fd);
    weft::io::Socket old_socket(old_fd);
    weft::Task<std::string> old_reader = weft::spawn([&] {
      std::string buffer(64, '\0');
      buffer.resize(old_socket.recv(buffer.data(), buffer.size()));
      return buffer;
    });
    weft_test::Watchdog watchdog(old_reader.ref(), 10s);
    CHECK(weft_test::wait_parked(old_reader, "reading from a socket"));

    // Another fiber closes the socket, then at once opens a new one, which gets the lowest free
    // fd number (the one just closed) and the slot just freed, and makes it readable: a reader
    // that retried with the old fd number would get these bytes.
    std::unique_ptr<weft::io::Socket> new_socket;
    weft_test::UniqueFd new_peer;
    weft::TimePoint closed_at;
    weft::spawn([&] {
      closed_at = weft::now();
      old_socket.close();
      auto [fd, peer_fd] = socket_pair();
      new_socket = std::make_unique<weft::io::Socket>(fd);
      new_peer = weft_test::UniqueFd(peer_fd);
      CHECK(::write(new_peer.get(), "fresh", 5) == 5);
    }).get();
    if (new_socket->fd() != old_fd)
      MESSAGE("fd ", old_fd, " was not reused this time (new fd ", new_socket->fd(), ")");

    try {
      const std::string got = old_reader.get();
      FAIL("the reader of a closed socket returned '", got, "'");
    } catch (const weft::OSError& error) {
      CHECK(error.code().value() == EBADF);
      CHECK(std::string(error.what()).find("closed") != std::string::npos);
    }
    CHECK(weft_test::millis(closed_at, weft::now()) < 5000);  // woken, not left to a timeout

    // The new socket has its bytes, and its own waits work: the registration is the new one's.
    std::string buffer(64, '\0');
    buffer.resize(new_socket->recv(buffer.data(), buffer.size()));
    CHECK(buffer == "fresh");
    weft::Task<std::string> new_reader = weft::spawn([&] {
      std::string bytes(64, '\0');
      bytes.resize(new_socket->recv(bytes.data(), bytes.size()));
      return bytes;
    });
    weft_test::Watchdog new_watchdog(new_reader.ref(), 10s);
    CHECK(weft_test::wait_parked(new_reader, "reading from a socket"));
    CHECK(::write(new_peer.get(), "second", 6) == 6);
    CHECK(new_reader.get() == "second");
    // Nothing ever comes out of the old socket again.
    char byte;
    CHECK_THROWS_AS((void)old_socket.recv(&byte, 1), weft::OSError);
  });
}

TEST_CASE("faults: a socket closed from a plain thread wakes both its reader and its writer") {
  weft_test::in_runtimes([] {
    auto [fd, peer_fd] = socket_pair();
    weft_test::UniqueFd peer(peer_fd);
    weft::io::Socket socket(fd);
    // Fill the socket buffer so that the writer has to wait.
    const std::string block(64 * 1024, 'f');
    while (socket.try_send(block.data(), block.size()) > 0) {
    }
    auto waiter_error = [](auto& task) {
      try {
        task.get();
        return 0;
      } catch (const weft::OSError& error) {
        return error.code().value();
      }
    };
    weft::Task<std::size_t> reader = weft::spawn([&] {
      char byte;
      return socket.recv(&byte, 1);
    });
    weft::Task<std::size_t> writer =
        weft::spawn([&] { return socket.send(block.data(), block.size()); });
    weft_test::Watchdog reader_watchdog(reader.ref(), 10s);
    weft_test::Watchdog writer_watchdog(writer.ref(), 10s);
    CHECK(weft_test::wait_parked(reader, "reading from a socket"));
    CHECK(weft_test::wait_parked(writer, "writing to a socket"));
    std::thread closer([&] { socket.close(); });
    closer.join();  // a few microseconds of this worker
    CHECK(waiter_error(reader) == EBADF);
    CHECK(waiter_error(writer) == EBADF);
  });
}

TEST_CASE("faults: a writer whose peer never reads parks in drain() with a bounded buffer") {
  weft_test::in_runtimes([] {
    constexpr std::size_t kChunk = 64 * 1024;
    // More than the socket buffers of both ends take, even autotuned (tcp_rmem's max is often
    // 32 MiB on loopback, tcp_wmem's 4 MiB).
    constexpr std::size_t kChunks = 48 * kMiB / kChunk;
    constexpr std::size_t kHighWater = 64 * 1024;  // the default
    auto gate = std::make_shared<Gate<std::size_t>>();
    weft::Server server = weft::start_server(
        [gate](weft::StreamReader& reader, weft::StreamWriter&) {
          try {
            gate->opened.get();
            reader.set_timeout(10s);  // a lost wake-up fails the test instead of hanging it
            std::vector<char> buffer(256 * 1024);
            std::size_t total = 0;
            while (const std::size_t n = reader.read_into(buffer.data(), buffer.size())) total += n;
            gate->result.set_value(total);
          } catch (const std::exception&) {
            gate->result.set_exception(std::current_exception());
          }
        },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    const std::string chunk(kChunk, 'w');
    std::atomic<std::size_t> chunks{0};
    std::atomic<std::size_t> most_buffered{0};
    const std::size_t rss_before = weft_test::rss_bytes();
    weft::Task<void> producer = weft::spawn([&] {
      for (std::size_t i = 0; i < kChunks; ++i) {
        writer.write(chunk);
        most_buffered = std::max(most_buffered.load(), writer.write_buffer_size());
        ++chunks;
        writer.drain();
      }
      writer.close();
    });
    weft_test::Watchdog watchdog(producer.ref(), 30s);

    // Wait until the kernel buffers are full: parked in drain(), and nothing moves.
    const int fd = std::stoi(writer.get_extra_info("fd").value());
    const bool stuck = wait_stuck(producer, "draining a stream", fd, chunks, 100ms);
    CHECK(stuck);
    if (stuck) {
      // Now ~200 ms more: still parked there, nothing written, the buffer within its bounds.
      const std::size_t seen = chunks;
      for (int i = 0; i < 20; ++i) {
        weft::sleep(10ms);
        CHECK(writer.write_buffer_size() <= kHighWater + kChunk);
      }
      CHECK_FALSE(producer.done());
      CHECK(weft_test::parked_on(producer) == "draining a stream");
      CHECK(chunks == seen);
      CHECK(chunks < kChunks);
    }
    CHECK(most_buffered <= kHighWater + kChunk);
    const std::size_t rss_after = weft_test::rss_bytes();
    {
      // doctest's INFO stack is per thread: never keep one across a suspension point, where
      // the fiber may move to another worker.
      INFO("RSS before ", rss_before, ", after ", rss_after);
      CHECK(rss_after < rss_before + 32 * kMiB);
    }

    // Once the peer reads, every byte arrives and the writer finishes.
    gate->open.set_value();
    producer.get();
    CHECK(gate->outcome.get() == kChunks * kChunk);
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("faults: accept at EMFILE backs off instead of spinning, then serves the queue") {
  weft_test::in_runtimes([] {
    constexpr int kClients = 8;
    std::atomic<int> handled{0};
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter& writer) {
          ++handled;
          weft_test::echo_lines(reader, writer);
        },
        "127.0.0.1", 0);
    // The clients' fds exist before the limit drops; connecting needs no new fd.
    std::vector<std::unique_ptr<weft::io::Socket>> clients;
    for (int i = 0; i < kClients; ++i)
      clients.push_back(
          std::make_unique<weft::io::Socket>(weft::io::open_socket(AF_INET, SOCK_STREAM)));
    const sockaddr_in address = weft_test::loopback(server.port());
    const std::uint64_t deadline = weft::io::deadline_after(10s);
    double cpu_used = 0;
    int handled_meanwhile = -1;
    std::size_t active_meanwhile = 0;
    bool serving_meanwhile = false;
    {
      // Every fd below the lowest free one is open: with that as the limit, accept() has no
      // number left to give and fails with EMFILE. Nothing in this block may need an fd (no
      // doctest context either: sanitizer runtimes open files to report).
      weft_test::FdLimit lowered(static_cast<rlim_t>(weft_test::lowest_free_fd()));
      REQUIRE(lowered.ok());
      // The kernel completes the handshakes into the listen queue; accept cannot take them.
      for (auto& client : clients)
        client->connect(reinterpret_cast<const sockaddr*>(&address), sizeof address, deadline,
                        "the server");
      const double cpu_before = weft_test::cpu_seconds();
      weft::sleep(300ms);
      cpu_used = weft_test::cpu_seconds() - cpu_before;
      handled_meanwhile = handled;
      active_meanwhile = server.active_connections();
      serving_meanwhile = server.is_serving();
    }
    {
      INFO("CPU seconds while out of fds: ", cpu_used);
      CHECK(cpu_used < 0.1);  // a spinning accept loop would burn one core: ~0.3 s
    }
    CHECK(handled_meanwhile == 0);
    CHECK(active_meanwhile == 0);
    CHECK(serving_meanwhile);
    // The limit is back: the loop's next retry (within its 100 ms backoff) serves everyone.
    for (int i = 0; i < kClients; ++i) {
      const std::string line = "client " + std::to_string(i) + "\n";
      clients[i]->send_all(line.data(), line.size(), deadline);
    }
    for (int i = 0; i < kClients; ++i)
      CHECK(read_line(*clients[i], deadline) == "client " + std::to_string(i) + "\n");
    CHECK(handled == kClients);
    clients.clear();
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("faults: a gigabyte line without a newline ends in LimitOverrunError, not in memory") {
  weft_test::in_runtimes([] {
    const std::size_t total = weft_test::scaled(1024) * kMiB;
    weft::Promise<std::size_t> overrun;
    weft::Future<std::size_t> consumed = overrun.get_future();
    weft::Server server = weft::start_server(
        [&](weft::StreamReader& reader, weft::StreamWriter&) {
          try {
            const std::string line = reader.readline();
            overrun.set_value(0);  // no error: wrong
          } catch (const weft::LimitOverrunError& error) {
            overrun.set_value(error.consumed());
          }
        },  // returning closes the connection with unread bytes: the client gets a reset
        "127.0.0.1", 0);
    const bool resettable = weft_test::reset_peak_rss();
    const std::size_t peak_before = weft_test::peak_rss_bytes();
    const std::size_t max_before = weft_test::max_rss_bytes();

    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    const std::string chunk(kMiB, 'x');
    std::size_t sent = 0;
    weft::Task<bool> client = weft::spawn([&] {
      try {
        while (sent < total) {
          writer.write(chunk);
          sent += chunk.size();
          writer.drain();
        }
        writer.close();
        writer.wait_closed();
        return false;
      } catch (const weft::ConnectionError&) {
        return true;  // reset or broken pipe: the server gave up on the line
      }
    });
    weft_test::Watchdog watchdog(client.ref(), 60s);
    const std::size_t got = consumed.get();
    CHECK(got > reader.limit());
    CHECK(got <= reader.limit() + 128 * 1024);  // what one more receive can add
    // Either way is fine: a reset or broken pipe (the server gave up) or every byte sent.
    const bool ended_by_error = client.get();
    writer.close();

    const std::size_t peak_after = weft_test::peak_rss_bytes();
    const std::size_t max_after = weft_test::max_rss_bytes();
    {
      INFO("client sent ", sent / kMiB, " MiB of ", total / kMiB, " MiB, then ",
           std::string(ended_by_error ? "got a connection error" : "completed"));
      INFO("VmHWM before ", peak_before, " after ", peak_after, " (reset: ", resettable, ")");
      INFO("ru_maxrss before ", max_before, " after ", max_after);
      if (resettable) CHECK(peak_after < peak_before + 64 * kMiB);
      CHECK(max_after < max_before + 64 * kMiB);
    }
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("faults: closing a connection while the peer streams ends it for the peer") {
  // Each handler reads a little and returns while its client is still sending: closing with
  // unread bytes resets the connection, and the client must see that, whatever the reactor
  // was doing with the socket when it was closed (readiness keeps coming while data flows).
  weft_test::in_runtimes([] {
    const std::size_t rounds = std::max<std::size_t>(weft_test::scaled(300), 20);
    weft::Server server =
        weft::start_server([](weft::StreamReader& reader,
                              weft::StreamWriter&) { (void)reader.readexactly(64 * 1024); },
                           "127.0.0.1", 0);
    const std::string chunk(256 * 1024, 'z');
    std::size_t ended = 0;
    for (std::size_t round = 0; round < rounds; ++round) {
      auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
      weft::Task<void> client = weft::spawn([&writer = writer, &chunk] {
        for (;;) {
          writer.write(chunk);
          writer.drain();
        }
      });
      weft_test::Watchdog watchdog(client.ref(), 5s);
      try {
        client.get();
      } catch (const weft::ConnectionError&) {
        ++ended;  // reset, or broken pipe: the close reached the client
      } catch (const weft::CancelledError&) {
        FAIL_CHECK("round ", round, ": the client still streams 5 s after the server closed");
        break;
      }
      writer.close();
    }
    CHECK(ended == rounds);
    server.close();
    server.wait_closed();
  });
}

TEST_CASE("faults: a client trickling a line byte by byte does not hold the only worker") {
  weft_test::in_runtimes(
      [] {
        struct Handler {
          weft::TaskRef task;
          int fd = -1;
        };
        weft::Promise<Handler> first_handler;
        weft::Future<Handler> slow_handler = first_handler.get_future();
        std::atomic<bool> first_seen{false};
        weft::Server server = weft::start_server(
            [&](weft::StreamReader& reader, weft::StreamWriter& writer) {
              if (!first_seen.exchange(true))
                first_handler.set_value(
                    Handler{weft::current_task(), std::stoi(writer.get_extra_info("fd").value())});
              weft_test::echo_lines(reader, writer);
            },
            "127.0.0.1", 0);
        const std::string slow_line = "slow\n";
        // Shared with the slow client: it may still wait on the event if the test fails early.
        auto fast_done = std::make_shared<weft::Event>();
        std::atomic<bool> trickling{false};
        weft::Task<weft::TimePoint> slow = weft::spawn([&, fast_done] {
          auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
          writer.write(slow_line.substr(0, 1));
          writer.drain();
          // Until the server's kernel has the byte (acknowledged: nothing left in our queue).
          const int fd = std::stoi(writer.get_extra_info("fd").value());
          int queued = -1;
          for (const auto give_up = weft::now() + 10s; weft::now() < give_up; weft::sleep(1ms))
            if (::ioctl(fd, SIOCOUTQ, &queued) != 0 || queued == 0) break;
          CHECK(queued == 0);
          trickling = true;
          // The rest of the line only once the fast client is done: until then the server's
          // handler for this connection waits in the middle of a line.
          fast_done->wait();
          for (std::size_t i = 1; i < slow_line.size(); ++i) {
            weft::sleep(10ms);
            writer.write(slow_line.substr(i, 1));
          }
          CHECK(reader.readline() == slow_line);
          return weft::now();
        });
        weft_test::Watchdog watchdog(slow.ref(), 10s);
        while (!trickling) weft::sleep(1ms);

        // The server's handler for the slow client (the only connection so far) has taken the
        // line's first byte from its socket and waits in the middle of the line.
        const Handler handler = slow_handler.get();
        bool mid_line = false;
        for (const auto give_up = weft::now() + 10s; weft::now() < give_up; weft::sleep(1ms)) {
          int unread = -1;
          REQUIRE(::ioctl(handler.fd, FIONREAD, &unread) == 0);
          mid_line = unread == 0 && weft_test::parked_on(handler.task) == "reading from a socket";
          if (mid_line) break;
        }
        REQUIRE(mid_line);

        // Meanwhile a fast client gets 200 round trips from the only worker.
        auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
        int wrong = 0;
        for (std::size_t r = 0; r < 200; ++r) {
          const std::string line = weft_test::payload(1, r, 40) + "\n";
          writer.write(line);
          if (reader.readline() != line) ++wrong;
        }
        const weft::TimePoint fast_end = weft::now();
        CHECK(wrong == 0);
        CHECK_FALSE(slow.done());  // its line is not complete yet
        CHECK(weft_test::parked_on(handler.task) == "reading from a socket");
        fast_done->set();
        const weft::TimePoint slow_end = slow.get();
        CHECK(fast_end < slow_end);
        writer.close();
        server.close();
        server.wait_closed();
      },
      {1});
}

TEST_CASE("faults: a connect nobody answers times out naming the address") {
  weft_test::in_runtimes([] {
    // A listener with the smallest backlog that never accepts. Linux queues one connection
    // (backlog 0 still admits one); once the accept queue is full it drops incoming SYNs, so
    // later connects stay in SYN_SENT and retransmit after a second.
    weft_test::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listener.get() >= 0);
    sockaddr_in address = weft_test::loopback(0);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener.get(), 0) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const std::uint16_t port = ntohs(address.sin_port);
    std::vector<weft_test::UniqueFd> fillers;
    for (int i = 0; i < 3; ++i) {
      fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      (void)::connect(fillers.back().get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    // Should the kernel take more than expected, whatever connects only fills the queue more.
    std::vector<weft::Connection> accepted;
    bool timed_out = false;
    for (int attempt = 0; attempt < 8 && !timed_out; ++attempt) {
      weft::ConnectOptions options;
      options.timeout = 200ms;
      const weft::TimePoint start = weft::now();
      try {
        accepted.push_back(weft::open_connection("127.0.0.1", port, options));
      } catch (const weft::TimeoutError& error) {
        timed_out = true;
        const double waited = weft_test::millis(start, weft::now());
        INFO("timed out after ", waited, " ms: ", error.what());
        CHECK(std::string(error.what()).find("127.0.0.1:" + std::to_string(port)) !=
              std::string::npos);
        CHECK(waited >= 190);
        CHECK(waited < 5000);  // ended by the timeout, not by the kernel giving up
      }
    }
    CHECK(timed_out);
    if (!accepted.empty()) MESSAGE(accepted.size(), " connects succeeded before one timed out");
  });
}

TEST_CASE("faults: a peer that resets the connection makes the reader raise ConnectionResetError") {
  weft_test::in_runtimes([] {
    weft::Server server = weft::start_server(
        [](weft::StreamReader& reader, weft::StreamWriter& writer) {
          (void)reader.readline();
          // A zero linger time: close() sends RST instead of FIN.
          const int fd = std::stoi(writer.get_extra_info("fd").value());
          const linger abort{1, 0};
          CHECK(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
        },  // returning closes the socket
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    writer.write("reset me\n");
    try {
      const std::string got = reader.read(100);
      FAIL("read returned '", got, "' instead of raising");
    } catch (const weft::ConnectionResetError& error) {
      CHECK(error.code().value() == ECONNRESET);
    }
    // Linux reports the reset once (sk_err); the stream then reads as ended and writes fail.
    CHECK(reader.read(100).empty());
    CHECK(reader.at_eof());
    CHECK_THROWS_AS(writer.write("more"), weft::BrokenPipeError);
    server.close();
    server.wait_closed();
  });
}

namespace {

// What the server's handler read: each read(100) until EOF, or the error that ended it.
struct LastWords {
  std::vector<std::string> reads;
  std::string error;  // "reset", "timeout", or another error's what()
};

// A handler already parked in read() when the peer sends its last bytes and closes at once:
// one readiness report covers both, and the reader must still get the bytes, then the end.
LastWords read_last_words(bool abort_connection) {
  auto gate = std::make_shared<Gate<LastWords>>();
  weft::Promise<weft::TaskRef> handler_started;
  weft::Future<weft::TaskRef> handler_task = handler_started.get_future();
  weft::Server server = weft::start_server(
      [gate, &handler_started](weft::StreamReader& reader, weft::StreamWriter&) {
        LastWords got;
        reader.set_timeout(10s);  // what a lost end of stream turns into
        handler_started.set_value(weft::current_task());
        try {
          for (;;) {
            got.reads.push_back(reader.read(100));
            if (got.reads.back().empty()) break;
          }
        } catch (const weft::ConnectionResetError&) {
          got.error = "reset";
        } catch (const weft::TimeoutError&) {
          got.error = "timeout";
        } catch (const std::exception& error) {
          got.error = error.what();
        }
        gate->result.set_value(std::move(got));
      },
      "127.0.0.1", 0);
  auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
  const weft::TaskRef handler = handler_task.get();
  CHECK(weft_test::wait_parked(handler, "reading from a socket"));
  // Bytes and the end of the stream, back to back: no suspension point in between.
  writer.write("last words");
  if (abort_connection) {
    const int fd = std::stoi(writer.get_extra_info("fd").value());
    const linger abort{1, 0};
    CHECK(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
  }
  writer.close();
  LastWords got = gate->outcome.get();
  server.close();
  server.wait_closed();
  return got;
}

}  // namespace

TEST_CASE("faults: bytes and EOF in one readiness report: the reader gets both") {
  weft_test::in_runtimes([] {
    const LastWords got = read_last_words(false);
    INFO("error: ", got.error);
    CHECK(got.error.empty());
    REQUIRE(got.reads.size() == 2);
    CHECK(got.reads[0] == "last words");
    CHECK(got.reads[1].empty());  // EOF, not a wait for an edge that never comes
  });
}

TEST_CASE("faults: bytes and a reset in one readiness report: the reader gets both") {
  weft_test::in_runtimes([] {
    const LastWords got = read_last_words(true);
    INFO("error: ", got.error);
    // Linux keeps received bytes readable after an RST, then reports ECONNRESET once.
    REQUIRE(!got.reads.empty());
    CHECK(got.reads[0] == "last words");
    CHECK(got.error == "reset");
  });
}

TEST_CASE("faults: a writer cancelled in drain() leaves a usable connection, bytes in order") {
  weft_test::in_runtimes([] {
    struct Received {
      std::size_t bytes = 0;
      std::size_t first_wrong = std::string::npos;
    };
    auto gate = std::make_shared<Gate<Received>>();
    weft::Server server = weft::start_server(
        [gate](weft::StreamReader& reader, weft::StreamWriter&) {
          try {
            gate->opened.get();
            reader.set_timeout(10s);  // a lost wake-up fails the test instead of hanging it
            Received got;
            std::vector<char> buffer(256 * 1024);
            while (const std::size_t n = reader.read_into(buffer.data(), buffer.size())) {
              for (std::size_t k = 0; k < n && got.first_wrong == std::string::npos; ++k)
                if (buffer[k] != pattern_at(got.bytes + k)) got.first_wrong = got.bytes + k;
              got.bytes += n;
            }
            gate->result.set_value(got);
          } catch (const std::exception&) {
            gate->result.set_exception(std::current_exception());
          }
        },
        "127.0.0.1", 0);
    auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
    constexpr std::size_t kChunk = 50'000;  // not a divisor of any buffer size
    std::atomic<std::size_t> written{0};
    weft::Task<void> producer = weft::spawn([&] {
      for (;;) {
        writer.write(pattern(written, kChunk));
        written += kChunk;  // write() takes all of it or throws
        writer.drain();
      }
    });
    // Parked in drain() for good: the peer does not read.
    const int fd = std::stoi(writer.get_extra_info("fd").value());
    CHECK(wait_stuck(producer, "draining a stream", fd, written, 50ms));
    producer.cancel();
    CHECK_THROWS_AS(producer.get(), weft::CancelledError);
    CHECK_FALSE(writer.is_closing());
    CHECK(writer.write_buffer_size() > 0);  // still buffered, not dropped

    // The same connection goes on from where the cancelled writer stopped.
    const std::size_t total = written + 3 * kMiB + 12'345;
    gate->open.set_value();
    for (std::size_t offset = written; offset < total;) {
      const std::size_t size = std::min<std::size_t>(kChunk, total - offset);
      writer.write(pattern(offset, size));
      offset += size;
      writer.drain();
    }
    writer.close();
    writer.wait_closed();
    const Received got = gate->outcome.get();
    CHECK(got.bytes == total);
    CHECK(got.first_wrong == std::string::npos);
    server.close();
    server.wait_closed();
  });
}
