#include "weft_bench_workloads.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

namespace weft::bench {
namespace {

using Clock = std::chrono::steady_clock;

// ---- skynet

std::uint64_t skynet_node(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  const std::uint64_t sub = size / 10;
  std::array<Task<std::uint64_t>, 10> children;
  for (std::uint64_t i = 0; i < 10; ++i)
    children[i] = spawn([num, sub, i] { return skynet_node(num + i * sub, sub); });
  // The oldest child runs last on this worker (spawns run newest first), so awaiting it first
  // parks the parent once rather than once per child.
  std::uint64_t sum = 0;
  for (auto& child : children) sum += child.get();
  return sum;
}

// ---- ping_pong
// Two one-slot channels per pair, like the Go peer's make(chan int64, 1) and Tokio's mpsc(1).

std::uint64_t pinger(Channel<std::uint64_t>& ping, Channel<std::uint64_t>& pong,
                     std::uint64_t rounds) {
  std::uint64_t sum = 0;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    ping.send(r);
    sum += *pong.recv();
  }
  return sum;
}

void ponger(Channel<std::uint64_t>& ping, Channel<std::uint64_t>& pong, std::uint64_t rounds) {
  for (std::uint64_t r = 0; r < rounds; ++r) pong.send(*ping.recv() + 1);
}

// ---- chained_spawn
// The promise travels down the chain (like the Tokio peer's oneshot sender), so the task that
// satisfies it owns it.

void chain_link(Promise<std::uint64_t> done, std::uint64_t left, std::uint64_t hops) {
  if (left == 0) {
    done.set_value(hops);
    return;
  }
  spawn([done = std::move(done), left, hops]() mutable {
    chain_link(std::move(done), left - 1, hops + 1);
  });
}

// ---- timers
// The Go peer's duration generator, so every peer sleeps exactly the same amounts.

std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The Go peer's pct(): sorted[int(p * n)], clamped to the last element.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  auto idx = static_cast<std::size_t>(p * static_cast<double>(sorted.size()));
  if (idx >= sorted.size()) idx = sorted.size() - 1;
  return sorted[idx];
}

}  // namespace

Outcome skynet(std::uint64_t leaves) {
  std::uint64_t nodes = 0;
  for (std::uint64_t level = leaves; level >= 1; level /= 10) nodes += leaves / level;
  const auto start = Clock::now();
  const std::uint64_t sum = spawn([leaves] { return skynet_node(0, leaves); }).get();
  const auto wall = Clock::now() - start;
  return {wall, nodes, sum == leaves * (leaves - 1) / 2, "result=" + std::to_string(sum)};
}

Outcome spawn_many(std::uint64_t tasks) {
  struct Shared {
    std::atomic<std::uint64_t> counter{0};
    Promise<void> done;
  } shared;
  Future<void> all_done = shared.done.get_future();
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < tasks; ++i) {
    spawn([&shared, tasks] {
      if (shared.counter.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        // Take the promise before satisfying it: the driver frees `shared` as soon as it
        // wakes, which may be before set_value() has returned.
        Promise<void> done = std::move(shared.done);
        done.set_value();
      }
    });
  }
  if (tasks > 0) all_done.get();
  const auto wall = Clock::now() - start;
  return {wall, tasks, shared.counter.load(std::memory_order_acquire) == tasks, {}};
}

Outcome yield_many(std::uint64_t tasks, std::uint64_t yields) {
  std::atomic<std::uint64_t> total{0};
  std::vector<Task<void>> handles;
  handles.reserve(tasks);
  const auto start = Clock::now();
  for (std::uint64_t t = 0; t < tasks; ++t) {
    handles.push_back(spawn([&total, yields] {
      for (std::uint64_t i = 0; i < yields; ++i) yield_now();
      total.fetch_add(yields, std::memory_order_relaxed);
    }));
  }
  for (auto& handle : handles) handle.get();
  const auto wall = Clock::now() - start;
  const std::uint64_t ops = tasks * yields;
  return {wall, ops, total.load(std::memory_order_relaxed) == ops,
          "tasks=" + std::to_string(tasks)};
}

Outcome ping_pong(std::uint64_t pairs, std::uint64_t rounds) {
  struct Pair {
    Channel<std::uint64_t> ping{1};
    Channel<std::uint64_t> pong{1};
  };
  std::vector<std::unique_ptr<Pair>> channels;
  channels.reserve(pairs);
  for (std::uint64_t p = 0; p < pairs; ++p) channels.push_back(std::make_unique<Pair>());
  std::vector<Task<std::uint64_t>> pingers;
  std::vector<Task<void>> pongers;
  pingers.reserve(pairs);
  pongers.reserve(pairs);
  const auto start = Clock::now();
  for (auto& pair : channels) {
    Pair* p = pair.get();
    pongers.push_back(spawn([p, rounds] { ponger(p->ping, p->pong, rounds); }));
    pingers.push_back(spawn([p, rounds] { return pinger(p->ping, p->pong, rounds); }));
  }
  std::uint64_t sum = 0;
  for (auto& handle : pingers) sum += handle.get();
  for (auto& handle : pongers) handle.get();
  const auto wall = Clock::now() - start;
  const std::uint64_t want = pairs * (rounds * (rounds + 1) / 2);
  return {wall, pairs * rounds, sum == want, "pairs=" + std::to_string(pairs)};
}

Outcome blocking_offload(std::uint64_t tasks, std::uint64_t us) {
  std::atomic<std::uint64_t> done{0};
  std::vector<Task<void>> handles;
  handles.reserve(tasks);
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < tasks; ++i)
    handles.push_back(spawn([&done, us] {
      to_thread([us] { std::this_thread::sleep_for(std::chrono::microseconds(us)); }).get();
      done.fetch_add(1, std::memory_order_relaxed);
    }));
  for (auto& handle : handles) handle.get();
  const auto wall = Clock::now() - start;
  return {wall, tasks, done.load() == tasks, "how=to_thread"};
}

Outcome chained_spawn(std::uint64_t length) {
  Promise<std::uint64_t> done;
  Future<std::uint64_t> hops = done.get_future();
  const auto start = Clock::now();
  spawn([done = std::move(done), length]() mutable { chain_link(std::move(done), length, 0); });
  const std::uint64_t got = hops.get();
  const auto wall = Clock::now() - start;
  return {wall, length, got == length, {}};
}

Outcome timers(std::uint64_t tasks, std::uint64_t min_us, std::uint64_t max_us) {
  struct Shared {
    std::atomic<std::uint64_t> finished{0};
    Promise<void> done;
  } shared;
  std::vector<std::int64_t> late(tasks);  // ns, written by task i at index i
  Future<void> all_done = shared.done.get_future();
  const std::uint64_t span = max_us - min_us + 1;  // 0 only for the full uint64 range
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < tasks; ++i) {
    const std::uint64_t r = splitmix64(i);
    const std::chrono::microseconds d(static_cast<std::int64_t>(min_us + (span ? r % span : r)));
    spawn([&shared, &late, tasks, i, d] {
      const TimePoint deadline = now() + d;  // Go: t0 := time.Now(); time.Sleep(d)
      sleep_until(deadline);
      late[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(now() - deadline).count();
      if (shared.finished.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        // As in spawn_many: the driver frees `shared` as soon as it wakes.
        Promise<void> done = std::move(shared.done);
        done.set_value();
      }
    });
  }
  if (tasks > 0) all_done.get();
  const auto wall = Clock::now() - start;
  const bool all_finished = shared.finished.load(std::memory_order_acquire) == tasks;
  std::sort(late.begin(), late.end());
  const auto early = static_cast<std::uint64_t>(
      std::count_if(late.begin(), late.end(), [](std::int64_t l) { return l < 0; }));
  std::string extra;
  if (tasks > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "p50_late_us=%.1f p99_late_us=%.1f max_late_us=%.1f early=%llu",
                  static_cast<double>(percentile(late, 0.50)) / 1e3,
                  static_cast<double>(percentile(late, 0.99)) / 1e3,
                  static_cast<double>(late.back()) / 1e3, static_cast<unsigned long long>(early));
    extra = buf;
  }
  return {wall, tasks, all_finished && early == 0, std::move(extra)};
}

Outcome tcp_echo(std::uint64_t connections, std::uint64_t requests, std::uint64_t size) {
  // As the Go peer: an echo server on 127.0.0.1 (fiber per connection, TCP_NODELAY), the
  // clients in the same process; each client writes a request, reads the echo, compares.
  Server server = start_server(
      [size](StreamReader& reader, StreamWriter& writer) {
        std::vector<char> buffer(size);
        try {
          for (;;) {
            reader.readexactly_into(buffer.data(), size);
            writer.write(std::string_view(buffer.data(), size));
          }
        } catch (const IncompleteReadError&) {
          // the client is done
        }
      },
      "127.0.0.1", 0);
  const std::uint16_t port = server.port();
  std::vector<std::vector<std::int64_t>> latencies(connections);
  std::atomic<std::uint64_t> bad{0};
  std::vector<Task<void>> clients;
  clients.reserve(connections);
  const auto start = Clock::now();
  for (std::uint64_t c = 0; c < connections; ++c) {
    clients.push_back(spawn([&, c] {
      std::vector<std::int64_t>& mine = latencies[c];
      mine.reserve(requests);
      try {
        auto [reader, writer] = open_connection("127.0.0.1", port);
        std::string out(size, '\0');
        std::string in(size, '\0');
        for (std::uint64_t r = 0; r < requests; ++r) {
          for (std::uint64_t k = 0; k < size; ++k) out[k] = static_cast<char>(c + r + k);
          const auto t0 = Clock::now();
          writer.write(out);
          reader.readexactly_into(in.data(), size);
          mine.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
          if (in != out) bad.fetch_add(1, std::memory_order_relaxed);
        }
        writer.close();
      } catch (const std::exception& error) {
        std::fprintf(stderr, "weft_bench: tcp_echo client %llu: %s\n",
                     static_cast<unsigned long long>(c), error.what());
        bad.fetch_add(requests - mine.size(), std::memory_order_relaxed);
      }
    }));
  }
  for (auto& client : clients) client.get();
  const auto wall = Clock::now() - start;
  server.close();
  server.wait_closed();
  std::vector<std::int64_t> all;
  all.reserve(connections * requests);
  for (const auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  const std::uint64_t total = connections * requests;
  const bool ok = bad.load() == 0 && all.size() == total;
  std::string extra;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    const double seconds = std::chrono::duration<double>(wall).count();
    char buf[160];
    std::snprintf(buf, sizeof buf, "rps=%.0f p50_us=%.1f p99_us=%.1f conns=%llu",
                  static_cast<double>(total) / seconds,
                  static_cast<double>(percentile(all, 0.50)) / 1e3,
                  static_cast<double>(percentile(all, 0.99)) / 1e3,
                  static_cast<unsigned long long>(connections));
    extra = buf;
  }
  return {wall, total, ok, std::move(extra)};
}

}  // namespace weft::bench
