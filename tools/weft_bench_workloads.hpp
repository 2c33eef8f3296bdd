#pragma once
// The scheduler workloads of the peer benchmark suite (/work/shared/peers/README.md), with the
// definitions the Go, Tokio and Boost.Fiber peers use. Shared by weft_bench (the peer-compatible
// program) and weft_micro (Google Benchmark), so both measure exactly the same thing.
//
// Each workload must be called on a weft fiber. It starts its clock just before its first spawn,
// stops it when the last result is in, and checks its own result.
#include <chrono>
#include <cstdint>
#include <string>

namespace weft::bench {

struct Outcome {
  std::chrono::steady_clock::duration wall{};
  std::uint64_t ops = 0;  // what ns_per_op divides by
  bool ok = false;        // the correctness check passed
  std::string extra;      // extra "k=v" fields of the report line, space-separated
};

// 10-ary task tree with `leaves` leaves (a power of 10): a leaf returns its ordinal, a parent
// sums its children. ops = every node, the root included.
[[nodiscard]] Outcome skynet(std::uint64_t leaves);
// A driver spawns `tasks` tiny tasks that each add 1 to a counter; the last one signals it.
[[nodiscard]] Outcome spawn_many(std::uint64_t tasks);
// `tasks` tasks each call yield_now() `yields` times. ops = every yield.
[[nodiscard]] Outcome yield_many(std::uint64_t tasks, std::uint64_t yields);
// `pairs` pinger/ponger pairs bounce a value `rounds` round trips; the ponger replies v + 1.
[[nodiscard]] Outcome ping_pong(std::uint64_t pairs, std::uint64_t rounds);
// `tasks` fibers, each awaiting one to_thread() job that sleeps `us` microseconds (blocking the
// pool thread, like Tokio's spawn_blocking(thread::sleep)).
[[nodiscard]] Outcome blocking_offload(std::uint64_t tasks, std::uint64_t us);
// Each task spawns the next, `length` times; the last one signals the driver.
[[nodiscard]] Outcome chained_spawn(std::uint64_t length);
// `tasks` tasks; task i sleeps min_us + splitmix64(i) % (max_us - min_us + 1) microseconds
// (the same durations as every peer). Lateness = wakeup - (moment the task began to sleep + its
// duration); extra = p50/p99/max lateness in us and `early` (wakeups before the deadline).
// ok = every task finished and none woke early.
[[nodiscard]] Outcome timers(std::uint64_t tasks, std::uint64_t min_us, std::uint64_t max_us);
// An echo server on 127.0.0.1 and `connections` clients in the same process, each doing
// `requests` round trips of `size` bytes (write, read the echo, compare). extra = rps, p50/p99
// round-trip latency in us, conns.
[[nodiscard]] Outcome tcp_echo(std::uint64_t connections, std::uint64_t requests,
                               std::uint64_t size);

}  // namespace weft::bench
