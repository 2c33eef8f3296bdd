// Stress: timers and sockets across 4 workers on 2 cores, with randomized sizes, delays and
// cancellations. Invariants: no timer fires early, no byte is lost, duplicated or reordered on a
// stream, every cancelled wait ends promptly, and nothing leaks (the fixture checks tasks,
// fibers, blocks and fds).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "../net_support.hpp"
#include "../runtime_fixture.hpp"
#include "stress_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("stress: sleepers cancelled from other workers at random moments") {
  const std::uint32_t seed = weft_stress::stress_seed();
  CAPTURE(seed);
  const std::size_t count = weft_test::scaled(20000);
  weft_test::in_runtimes(
      [&] {
        std::vector<weft::Task<int>> sleepers;
        std::mt19937 rng(seed);
        std::atomic<std::size_t> early{0};
        for (std::size_t i = 0; i < count; ++i) {
          const auto d = std::chrono::microseconds(rng() % 5000);
          sleepers.push_back(weft::spawn([d, &early] {
            const auto deadline = weft::now() + d;
            weft::sleep_until(deadline);
            if (weft::now() < deadline) ++early;
            return 1;
          }));
        }
        // Cancellers on other tasks (so on any worker) race with the timers.
        std::vector<weft::Task<void>> cancellers;
        for (int c = 0; c < 4; ++c) {
          cancellers.push_back(weft::spawn([&, c] {
            std::mt19937 local(seed + c);
            for (std::size_t i = c; i < sleepers.size(); i += 4) {
              if (local() % 3 == 0) sleepers[i].cancel();
              if (local() % 64 == 0) weft::sleep(std::chrono::microseconds(local() % 500));
            }
          }));
        }
        for (auto& c : cancellers) c.get();
        std::size_t finished = 0;
        std::size_t cancelled = 0;
        for (auto& s : sleepers) {
          try {
            finished += s.get();
          } catch (const weft::CancelledError&) {
            ++cancelled;
          }
        }
        CHECK(finished + cancelled == count);
        CHECK(early == 0);
      },
      {4});
}

TEST_CASE("stress: streams with random chunking, delays and cancelled readers lose no byte") {
  weft_test::raise_fd_limit();
  const std::uint32_t seed = weft_stress::stress_seed();
  CAPTURE(seed);
  const std::size_t connections = weft_test::scaled(64);
  const std::size_t bytes_each = 200'000;
  weft_test::in_runtimes(
      [&] {
        // The server echoes in randomly sized reads with random pauses.
        weft::Server server = weft::start_server(
            [seed](weft::StreamReader& reader, weft::StreamWriter& writer) {
              std::mt19937 rng(
                  seed ^ static_cast<std::uint32_t>(std::hash<std::string>{}(writer.peername())));
              char buffer[8192];
              for (;;) {
                const std::size_t n = reader.read_into(buffer, 1 + rng() % sizeof buffer);
                if (n == 0) break;
                writer.write(std::string_view(buffer, n));
                writer.drain();
                if (rng() % 16 == 0) weft::sleep(std::chrono::microseconds(rng() % 300));
                if (rng() % 8 == 0) weft::yield_now();
              }
              writer.close();
            },
            "127.0.0.1", 0);
        std::atomic<std::size_t> wrong{0};
        std::vector<weft::Task<void>> clients;
        for (std::size_t c = 0; c < connections; ++c) {
          clients.push_back(weft::spawn([&, c] {
            std::mt19937 rng(seed + static_cast<std::uint32_t>(c));
            auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
            const std::string sent = weft_test::payload(c, 0, bytes_each);
            // The writer runs in its own task while this one reads.
            weft::Task<void> sender = weft::spawn([&, w = writer]() mutable {
              std::mt19937 wrng(seed * 31 + static_cast<std::uint32_t>(c));
              std::size_t at = 0;
              while (at < sent.size()) {
                const std::size_t n = std::min<std::size_t>(1 + wrng() % 20000, sent.size() - at);
                w.write(std::string_view(sent).substr(at, n));
                w.drain();
                at += n;
                if (wrng() % 8 == 0) weft::yield_now();
              }
              w.write_eof();
            });
            std::string received;
            while (received.size() < sent.size()) {
              const std::size_t want = 1 + rng() % 30000;
              if (rng() % 5 == 0) {
                // A reader cancelled at a random moment must leave every byte buffered.
                weft::Task<std::string> partial =
                    weft::spawn([&] { return reader.readexactly(want); });
                if (rng() % 2) weft::yield_now();
                partial.cancel();
                try {
                  received += partial.get();
                } catch (const weft::CancelledError&) {
                } catch (const weft::IncompleteReadError& e) {
                  received += e.partial();
                }
              } else {
                std::string chunk = reader.read(want);
                if (chunk.empty()) break;
                received += chunk;
              }
            }
            sender.get();
            if (received != sent) ++wrong;
            writer.close();
          }));
        }
        for (auto& client : clients) client.get();
        CHECK(wrong == 0);
        server.close();
        server.wait_closed();
      },
      {4});
}

TEST_CASE("stress: sockets closed while fibers wait on them, again and again") {
  const std::uint32_t seed = weft_stress::stress_seed();
  CAPTURE(seed);
  const std::size_t rounds = weft_test::scaled(500);
  weft_test::in_runtimes(
      [&] {
        weft::Server server = weft::start_server(
            [](weft::StreamReader& reader, weft::StreamWriter&) { (void)reader.read(); },
            "127.0.0.1", 0);
        std::mt19937 rng(seed);
        std::size_t eofs = 0;
        for (std::size_t r = 0; r < rounds; ++r) {
          auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
          weft::Task<std::string> waiting = weft::spawn([&reader] { return reader.read(10); });
          if (rng() % 2) weft::yield_now();
          if (rng() % 4 == 0) weft::sleep(std::chrono::microseconds(rng() % 200));
          writer.close();  // the reader wakes with end of stream, never hangs
          eofs += waiting.get().empty();
        }
        CHECK(eofs == rounds);
        server.close();
        server.wait_closed();
      },
      {4});
}
