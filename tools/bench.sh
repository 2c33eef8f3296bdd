#!/usr/bin/env bash
# Installs missing packages, builds the release preset, and runs weft's bench suite:
# the peer benchmarks (same definitions and flags as ../shared/peers: scheduler, timers,
# tcp_echo) in fresh processes, REPS times each and on each I/O backend, printed as tables of
# medians; the HTTP server under wrk; then the Google Benchmark micro benchmarks.
#   WEFT_PEERS="go tokio boost_fiber_dispatch"  also run those peers in the same run, with ratios
#   REPS=5 BENCHES="skynet yield_many"          fewer/more repetitions or benches
#   BACKENDS="epoll"  HTTP_DURATION=0 (skip wrk)  MICRO=0 (skip the micro benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target weft_bench weft_micro bench_compose bench_sync bench_executor http_server
bench_bin=$PWD/build/release/tools/weft_bench
micro_bin=$PWD/build/release/bench/weft_micro
REPS=${REPS:-3}
BENCHES=${BENCHES:-"skynet spawn_many yield_many ping_pong chained_spawn timers tcp_echo"}
THREADS=${THREADS:-2}
BACKENDS=${BACKENDS:-"epoll io_uring"}
HTTP_DURATION=${HTTP_DURATION:-5}

if [ -n "${WEFT_PEERS:-}" ] && [ -x ../shared/peers/run_all.sh ]; then
  for backend in $BACKENDS; do
    echo "=== weft ($backend) beside ${WEFT_PEERS} (../shared/peers, ITERS=2: iter 1 cold, iter 2 warm) ==="
    WEFT_BACKEND=$backend WEFT_BENCH=$bench_bin PEERS="$WEFT_PEERS weft" BENCHES="$BENCHES" \
      REPS=$REPS ITERS=2 THREADS=$THREADS INSTALL_DEPS=${INSTALL_DEPS:-0} ../shared/peers/run_all.sh
  done
else
  results=$(mktemp)
  trap 'rm -f "$results"' EXIT
  for backend in $BACKENDS; do
    echo "=== weft peer benchmarks ($backend): $THREADS workers, median of $REPS processes (iter 2 = warm) ==="
    : >"$results"
    for rep in $(seq "$REPS"); do
      for bench in $BENCHES; do
        WEFT_BACKEND=$backend "$bench_bin" --threads "$THREADS" --iters 2 --bench "$bench" >>"$results"
      done
    done
    awk '
      function field(k,   i, p) { for (i = 1; i <= NF; i++) { p = index($i, "="); if (substr($i, 1, p - 1) == k) return substr($i, p + 1) } return "" }
      { key = field("name") SUBSEP field("iter"); n[key]++; v[key, n[key]] = field("ns_per_op") + 0
        x = field("p99_late_us"); if (x == "") x = field("rps"); e[key, n[key]] = x + 0
        extra[field("name")] = (field("p99_late_us") != "") ? "p99 late us" : (field("rps") != "") ? "req/s" : ""
        names[field("name")] = 1; if (field("check") != "ok") bad[field("name")] = 1 }
      function median(arr, key,   m, i, j, t, a) { m = n[key]; for (i = 1; i <= m; i++) a[i] = arr[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
      END { printf "%-16s %14s %14s  %-26s %s\n", "bench", "cold ns/op", "warm ns/op", "extra (cold / warm)", "check"
            for (b in names) {
              x = extra[b] == "" ? "" : sprintf("%s %.0f / %.0f", extra[b], median(e, b SUBSEP 1), median(e, b SUBSEP 2))
              printf "%-16s %14.1f %14.1f  %-26s %s\n", b, median(v, b SUBSEP 1), median(v, b SUBSEP 2), x, (b in bad) ? "FAIL" : "ok" } }
    ' "$results" | (read -r header; echo "$header"; sort)
    if grep -q "check=FAIL" "$results"; then echo "a correctness check failed" >&2; exit 1; fi
    echo
  done
fi

if [ "$HTTP_DURATION" != 0 ]; then
  echo
  echo "=== tools/http_server under wrk -t1 -c50 (${HTTP_DURATION}s per run) ==="
  DURATION=$HTTP_DURATION BACKENDS="$BACKENDS" tools/http_bench.sh build/release/tools/http_server
fi

[ "${MICRO:-1}" = 0 ] && exit 0
echo
echo "=== micro benchmarks (Google Benchmark, median of 3) ==="
for bin in "$micro_bin" "$PWD/build/release/bench/bench_compose" "$PWD/build/release/bench/bench_sync" \
  "$PWD/build/release/bench/bench_executor"; do
  "$bin" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_display_aggregates_only=true 2>&1 | grep -E "^(Benchmark|-|[A-Za-z_/:0-9]+_median)"
done
