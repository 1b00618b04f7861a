#!/bin/bash
# UDP echo comparison (issue 7): builds the servers and the load generator with -c opt, starts
# every server, runs the matrix {64 B, 1 KiB} x {1, 32 clients} against each, and prints a
# markdown table. See bench/udp/README.md.
#
# Environment (all optional):
#   SERVERS="raw_epoll raw_epoll_batch aio"   raw_epoll: one recvfrom per wake-up (aio's shape);
#                          raw_epoll_batch: up to 32 per wake-up (--batch 32); aio: aio's server
#   SIZES="64 1024"  CLIENTS="1 32"
#   DURATION=1 WARMUP=0.5  seconds per run (timed window) and of warm-up before it
#   ROUNDS=3               runs per (server, setting); rounds interleave the servers, so drift in
#                          the machine's load hits all of them alike
#   STAT=best              per column, the best round (most datagrams/s, lowest latencies, least
#                          CPU: interference only ever adds cost); STAT=median for the median
#   PIN=1                  servers on CPU 0, the generator on CPU 1 (taskset), so every server sees
#                          the same scheduling; PIN=0 lets the scheduler place them (needs 2 CPUs)
#   BAZEL=bazel BAZEL_STARTUP_FLAGS="" BAZEL_FLAGS=""   e.g. BAZEL_FLAGS="--config=ci"
#   OUT=<dir>              keeps the raw generator lines there (default: a temporary directory)
set -euo pipefail

cd "$(dirname "$0")/../.."
SERVERS=${SERVERS:-"raw_epoll raw_epoll_batch aio"}
SIZES=${SIZES:-"64 1024"}
CLIENTS=${CLIENTS:-"1 32"}
DURATION=${DURATION:-1}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-3}
STAT=${STAT:-best}
PIN=${PIN:-1}
case "$STAT" in best | median) ;; *) echo "STAT must be best or median" >&2; exit 2 ;; esac
BAZEL=${BAZEL:-bazel}
read -r -a startup <<<"${BAZEL_STARTUP_FLAGS:-}"
read -r -a flags <<<"${BAZEL_FLAGS:-}"
bazel_cmd() { "$BAZEL" "${startup[@]}" "$@"; }

tmp=$(mktemp -d)
out=${OUT:-$tmp}
mkdir -p "$out"
pids=()
cleanup() {
  # SIGTERM, then SIGKILL for any server still there after 2 s (a SIGTERM that reaches the
  # background subshell before it has exec'd the server can be lost), then reap them.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_cmd=()
generator_cmd=()
placement="not pinned"
if [ "$PIN" = 1 ]; then
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cmd=(taskset -c 0)
    generator_cmd=(taskset -c 1)
    placement="servers pinned to CPU 0, generator to CPU 1"
  else
    echo "note: PIN=1 needs 2 CPUs and taskset; not pinned" >&2
  fi
fi

# --- build ---------------------------------------------------------------------------------------
declare -A target=(
  [raw_epoll]=//bench/udp:raw_epoll_udp_echo_server
  [raw_epoll_batch]=//bench/udp:raw_epoll_udp_echo_server
  [aio]=//bench/udp:aio_udp_echo_server
)
declare -A extra_args=([raw_epoll]="--batch 1" [raw_epoll_batch]="--batch 32" [aio]="")
servers=()
for s in $SERVERS; do
  [ -n "${target[$s]:-}" ] || { echo "unknown server '$s'" >&2; exit 2; }
  servers+=("$s")
done
targets=(//bench/udp:udp_load_generator)
for s in "${servers[@]}"; do targets+=("${target[$s]}"); done
echo "building with -c opt: ${targets[*]}" >&2
bazel_cmd build -c opt "${flags[@]}" "${targets[@]}" >&2
bin=$(bazel_cmd info -c opt "${flags[@]}" bazel-bin 2>/dev/null)
path_of() { local t=${1#//}; echo "$bin/${t%%:*}/${t#*:}"; }
generator=$(path_of //bench/udp:udp_load_generator)

# --- start every server; each must print "listening on PORT" first ---------------------------
declare -A port pid_of
started=()
for s in "${servers[@]}"; do
  read -r -a server_args <<<"${extra_args[$s]}"
  "${server_cmd[@]}" "$(path_of "${target[$s]}")" --host 127.0.0.1 --port 0 "${server_args[@]}" \
    >"$tmp/$s.out" 2>"$tmp/$s.err" &
  pid=$!
  pids+=("$pid")
  p=""
  for _ in $(seq 100); do  # up to 10 s
    # (the file may not exist yet: the background shell creates it when it starts the server)
    p=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/$s.out" 2>/dev/null || true)
    [ -n "$p" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$p" ]; then
    echo "note: $s did not print 'listening on PORT' (first line: '$(head -n1 "$tmp/$s.out")');" \
      "left out" >&2
    sed 's/^/  /' "$tmp/$s.err" >&2
    kill "$pid" 2>/dev/null || true
    continue
  fi
  port[$s]=$p
  pid_of[$s]=$pid
  started+=("$s")
  echo "$s: pid $pid, port $p" >&2
done
[ "${#started[@]}" -gt 0 ] || { echo "no server started" >&2; exit 1; }

# --- the matrix ----------------------------------------------------------------------------------
results="$out/results.txt"
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for size in $SIZES; do
    for clients in $CLIENTS; do
      for s in "${started[@]}"; do
        if line=$("${generator_cmd[@]}" "$generator" --port "${port[$s]}" --clients "$clients" \
          --size "$size" --duration "$DURATION" --warmup "$WARMUP" --server-pid "${pid_of[$s]}" \
          2>"$tmp/gen.err")
        then
          echo "server=$s round=$round $line" | tee -a "$results" >&2
        else
          echo "server=$s round=$round size=$size clients=$clients FAILED: $(cat "$tmp/gen.err")" >&2
        fi
      done
    done
  done
done

# --- the table: best (or median) of the rounds, column by column ---------------------------------
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
summarize() {  # summarize higher|lower: the best or the median of the numbers on stdin
  sort -g | awk -v stat="$STAT" -v better="$1" '{ a[NR] = $1 } END {
    if (NR == 0) { print "fail"; exit }
    if (stat == "best") print ((better == "higher") ? a[NR] : a[1])
    else print ((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
metric() {  # metric SERVER SIZE CLIENTS KEY higher|lower -> over that setting's rounds
  { grep -E "^server=$1 .* size=$2 clients=$3 " "$results" || true; } | field "$4" | summarize "$5"
}
lost_total() {  # datagrams lost over all rounds of a setting
  { grep -E "^server=$1 .* size=$2 clients=$3 " "$results" || true; } | field lost |
    awk '{ n += $1 } END { print n + 0 }'
}

echo
echo "UDP echo servers, ping-pong over loopback; ${DURATION} s timed after ${WARMUP} s warm-up," \
  "$STAT of $ROUNDS rounds; $(nproc) CPUs, $placement; load average" \
  "$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after."
echo
echo "| server | size | clients | datagrams/s | p50 µs | p99 µs | server CPU ns/dgram | CPU vs raw epoll | lost |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for clients in $CLIENTS; do
    base=""
    if [ -n "${port[raw_epoll]:-}" ]; then
      base=$(metric raw_epoll "$size" "$clients" server_cpu_ns_per_dgram lower)
    fi
    for s in "${started[@]}"; do
      rate=$(metric "$s" "$size" "$clients" dgrams_per_s higher)
      p50=$(metric "$s" "$size" "$clients" p50_us lower)
      p99=$(metric "$s" "$size" "$clients" p99_us lower)
      cpu=$(metric "$s" "$size" "$clients" server_cpu_ns_per_dgram lower)
      if [ "$rate" = fail ]; then
        printf '| %s | %s | %s | failed | | | | | |\n' "$s" "$size" "$clients"
        continue
      fi
      ratio=$(awk -v c="$cpu" -v b="$base" \
        'BEGIN { if (c + 0 > 0 && b + 0 > 0) printf "%.2f", c / b; else print "-" }')
      printf '| %s | %s | %s | %.0f | %.1f | %.1f | %.0f | %s | %s |\n' "$s" "$size" "$clients" \
        "$rate" "$p50" "$p99" "$cpu" "$ratio" "$(lost_total "$s" "$size" "$clients")"
    done
  done
done
