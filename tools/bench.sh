#!/usr/bin/env bash
# Installs missing packages, builds the release preset, and runs weft's bench suite:
# the scheduler benchmarks (same definitions and flags as ../shared/peers) in fresh processes,
# REPS times each, printed as a table of medians; then the Google Benchmark micro benchmarks.
#   WEFT_PEERS="go tokio boost_fiber_dispatch"  also run those peers in the same run, with ratios
#   REPS=5 BENCHES="skynet yield_many"          fewer/more repetitions or benches
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target weft_bench weft_micro
bench_bin=$PWD/build/release/tools/weft_bench
micro_bin=$PWD/build/release/bench/weft_micro
REPS=${REPS:-3}
BENCHES=${BENCHES:-"skynet spawn_many yield_many ping_pong chained_spawn"}
THREADS=${THREADS:-2}

if [ -n "${WEFT_PEERS:-}" ] && [ -x ../shared/peers/run_all.sh ]; then
  echo "=== weft beside ${WEFT_PEERS} (../shared/peers, ITERS=2: iter 1 cold, iter 2 warm) ==="
  WEFT_BENCH=$bench_bin PEERS="$WEFT_PEERS weft" BENCHES="$BENCHES" REPS=$REPS ITERS=2 \
    THREADS=$THREADS INSTALL_DEPS=${INSTALL_DEPS:-0} ../shared/peers/run_all.sh
else
  echo "=== weft scheduler benchmarks: $THREADS workers, median of $REPS processes (iter 2 = warm) ==="
  results=$(mktemp)
  trap 'rm -f "$results"' EXIT
  for rep in $(seq "$REPS"); do
    for bench in $BENCHES; do
      "$bench_bin" --threads "$THREADS" --iters 2 --bench "$bench" >>"$results"
    done
  done
  awk '
    function field(k,   i, p) { for (i = 1; i <= NF; i++) { p = index($i, "="); if (substr($i, 1, p - 1) == k) return substr($i, p + 1) } return "" }
    { key = field("name") SUBSEP field("iter"); n[key]++; v[key, n[key]] = field("ns_per_op") + 0
      names[field("name")] = 1; if (field("check") != "ok") bad[field("name")] = 1 }
    function median(key,   m, i, j, t, a) { m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
    END { printf "%-16s %14s %14s  %s\n", "bench", "cold ns/op", "warm ns/op", "check"
          for (b in names) printf "%-16s %14.1f %14.1f  %s\n", b, median(b SUBSEP 1), median(b SUBSEP 2), (b in bad) ? "FAIL" : "ok" }
  ' "$results" | (read -r header; echo "$header"; sort)
  if grep -q "check=FAIL" "$results"; then echo "a correctness check failed" >&2; exit 1; fi
fi

echo
echo "=== micro benchmarks (Google Benchmark, median of 3) ==="
"$micro_bin" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_display_aggregates_only=true 2>&1 | grep -E "^(Benchmark|-|[A-Za-z_/:0-9]+_median)"
