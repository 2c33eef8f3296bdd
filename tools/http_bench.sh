#!/usr/bin/env bash
# Load-tests tools/http_server with wrk: for each worker count and backend, starts the server on
# a free port, runs `wrk -t1 -c50 --latency` against it REPS times, stops it with SIGINT, and
# prints a table of medians (requests/s, latency p50 and p99). Builds nothing itself:
#   cmake --build --preset release --target http_server && tools/http_bench.sh
#   tools/http_bench.sh path/to/http_server   (default build/release/tools/http_server)
#   DURATION=3 REPS=1 WORKERS="1 2" BACKENDS="epoll io_uring" CONNECTIONS=50 tools/http_bench.sh
#   SERVER_FLAGS=--reuse-port tools/http_bench.sh        (extra http_server flags)
# wrk and the server share the machine: on a small one the numbers measure both.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-build/release/tools/http_server}
DURATION=${DURATION:-10}
REPS=${REPS:-1}
WORKERS=${WORKERS:-"1 2"}
BACKENDS=${BACKENDS:-"epoll io_uring"}
CONNECTIONS=${CONNECTIONS:-50}
SERVER_FLAGS=${SERVER_FLAGS:-}

if [ ! -x "$server" ]; then
  echo "http_bench: no http_server at $server (build the http_server target first)" >&2
  exit 2
fi
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "http_bench: wrk is missing (apt-get install wrk)" >&2
    exit 2
  fi
fi

work=$(mktemp -d)
server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -INT "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "http_bench: the server did not stop on SIGINT within 5 s; killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT

# Starts the server on port 0 and sets `port` to the one it reports ("listening on HOST:PORT
# (...)"). Not in a subshell: server_pid must stay set for stop_server.
start_server() {
  # shellcheck disable=SC2086 # SERVER_FLAGS holds separate words
  "$server" --workers "$1" --backend "$2" --port 0 $SERVER_FLAGS >"$work/server.out" \
    2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\) (.*/\1/p' "$work/server.out")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "http_bench: the server did not start: $(cat "$work/server.err")" >&2
  return 1
}

# wrk's latency as milliseconds ("850.00us", "1.20ms", "2.00s").
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "http_server: $server${SERVER_FLAGS:+ $SERVER_FLAGS}; wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency;" \
  "median of $REPS run(s)"
printf '%-8s %-9s %10s %18s %9s %9s %7s\n' workers backend "req/s" "req/s min-max" "p50 ms" \
  "p99 ms" errors
for workers in $WORKERS; do
  for backend in $BACKENDS; do
    : >"$work/runs"
    errors=0
    for _ in $(seq "$REPS"); do
      start_server "$workers" "$backend"
      wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" >"$work/wrk.out"
      stop_server
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.out")
      p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$work/wrk.out")")
      p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")")
      # "Socket errors: connect 0, read 0, write 0, timeout 0" and "Non-2xx or 3xx responses: N"
      run_errors=$(awk '/Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
                        /Non-2xx/ { s += $NF } END { print s + 0 }' "$work/wrk.out")
      errors=$((errors + run_errors))
      echo "$rps $p50 $p99" >>"$work/runs"
    done
    printf '%-8s %-9s %10.0f %18s %9.3f %9.3f %7d\n' "$workers" "$backend" \
      "$(awk '{ print $1 }' "$work/runs" | median)" \
      "$(sort -g "$work/runs" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }')" \
      "$(awk '{ print $2 }' "$work/runs" | median)" \
      "$(awk '{ print $3 }' "$work/runs" | median)" "$errors"
  done
done
