#!/bin/bash
# Echo-server comparison (issue 6): builds the servers and the load generator with -c opt, starts
# every server, runs the matrix {64 B, 1 KiB, 16 KiB} x {1, 100 connections} against each, and
# prints a markdown table. See bench/echo/README.md.
#
# Environment (all optional):
#   SERVERS="raw_epoll libuv asio aio"  which servers (aio = //examples:echo_server, if it exists)
#   SIZES="64 1024 16384"  CONNS="1 100"
#   DURATION=1 WARMUP=0.5  seconds per run (timed window) and of warm-up before it
#   ROUNDS=5               runs per (server, setting); rounds interleave the servers, so drift in
#                          the machine's load hits all of them alike
#   STAT=best              per column, the best round (most msgs/s, lowest latencies, least CPU:
#                          interference only ever adds cost); STAT=median for the median
#   BAZEL=bazel BAZEL_STARTUP_FLAGS="" BAZEL_FLAGS=""   e.g. BAZEL_FLAGS="--config=ci"
#   OUT=<dir>              keeps the raw generator lines there (default: a temporary directory)
set -euo pipefail

cd "$(dirname "$0")/../.."
SERVERS=${SERVERS:-"raw_epoll libuv asio aio"}
SIZES=${SIZES:-"64 1024 16384"}
CONNS=${CONNS:-"1 100"}
DURATION=${DURATION:-1}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-5}
STAT=${STAT:-best}
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

# --- build ---------------------------------------------------------------------------------------
declare -A target=(
  [raw_epoll]=//bench/echo:raw_epoll_echo_server
  [libuv]=//bench/echo:libuv_echo_server
  [asio]=//bench/echo:asio_echo_server
  [aio]=//examples:echo_server
  [streams]=//bench/echo:streams_echo_server
)
# Servers that are scripts, not Bazel targets: CPython's asyncio streams, on its own loop or on
# uvloop (Debian's python3-uvloop, installed for /usr/bin/python3). Run them with LINES=1.
declare -A script=(
  [asyncio]="/usr/bin/python3 bench/echo/asyncio_streams_echo_server.py"
  [uvloop]="/usr/bin/python3 bench/echo/asyncio_streams_echo_server.py --uvloop"
)
# LINES=1: every message is a text line (load_generator --lines), as the line-based servers
# (streams, asyncio, uvloop: readline / write / drain) need; the byte echo servers work either way.
lines_flag=()
[ "${LINES:-0}" = 1 ] && lines_flag=(--lines)
servers=()
for s in $SERVERS; do
  if [ -n "${script[$s]:-}" ]; then
    servers+=("$s")
    continue
  fi
  [ -n "${target[$s]:-}" ] || { echo "unknown server '$s'" >&2; exit 2; }
  if [ "$s" = aio ] && ! bazel_cmd query "${target[$s]}" >/dev/null 2>&1; then
    echo "note: ${target[$s]} does not exist yet; aio is left out" >&2
    continue
  fi
  servers+=("$s")
done
targets=(//bench/echo:load_generator)
for s in "${servers[@]}"; do [ -n "${target[$s]:-}" ] && targets+=("${target[$s]}"); done
echo "building with -c opt: ${targets[*]}" >&2
bazel_cmd build -c opt "${flags[@]}" "${targets[@]}" >&2
bin=$(bazel_cmd info -c opt "${flags[@]}" bazel-bin 2>/dev/null)
path_of() { local t=${1#//}; echo "$bin/${t%%:*}/${t#*:}"; }
generator=$(path_of //bench/echo:load_generator)

# --- start every server; each must print "listening on PORT" first ---------------------------
declare -A port pid_of
started=()
for s in "${servers[@]}"; do
  if [ -n "${script[$s]:-}" ]; then
    read -r -a command <<<"${script[$s]}"
  else
    command=("$(path_of "${target[$s]}")")
  fi
  "${command[@]}" --host 127.0.0.1 --port 0 >"$tmp/$s.out" 2>"$tmp/$s.err" &
  pid=$!
  pids+=("$pid")
  p=""
  for _ in $(seq 100); do  # up to 10 s
    # The output file may not exist yet: the server's shell creates it.
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
    for conns in $CONNS; do
      for s in "${started[@]}"; do
        if line=$("$generator" --port "${port[$s]}" --connections "$conns" --size "$size" \
          --duration "$DURATION" --warmup "$WARMUP" --server-pid "${pid_of[$s]}" "${lines_flag[@]}" 2>"$tmp/gen.err")
        then
          echo "server=$s round=$round $line" | tee -a "$results" >&2
        else
          echo "server=$s round=$round size=$size conns=$conns FAILED: $(cat "$tmp/gen.err")" >&2
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
metric() {  # metric SERVER SIZE CONNS KEY higher|lower -> over that setting's rounds
  { grep -E "^server=$1 .* size=$2 conns=$3 " "$results" || true; } | field "$4" | summarize "$5"
}

echo
echo "Echo servers, ping-pong over TCP loopback; ${DURATION} s timed after ${WARMUP} s warm-up," \
  "$STAT of $ROUNDS rounds; $(nproc) CPUs shared by server and generator; load average" \
  "$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after."
echo
echo "| server | size | conns | msgs/s | p50 µs | p99 µs | server CPU ns/msg | CPU/msg vs raw epoll |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for conns in $CONNS; do
    base=""
    if [ -n "${port[raw_epoll]:-}" ]; then
      base=$(metric raw_epoll "$size" "$conns" server_cpu_ns_per_msg lower)
    fi
    for s in "${started[@]}"; do
      rate=$(metric "$s" "$size" "$conns" msgs_per_s higher)
      p50=$(metric "$s" "$size" "$conns" p50_us lower)
      p99=$(metric "$s" "$size" "$conns" p99_us lower)
      cpu=$(metric "$s" "$size" "$conns" server_cpu_ns_per_msg lower)
      if [ "$rate" = fail ]; then
        printf '| %s | %s | %s | failed | | | | |\n' "$s" "$size" "$conns"
        continue
      fi
      ratio=$(awk -v c="$cpu" -v b="$base" \
        'BEGIN { if (c + 0 > 0 && b + 0 > 0) printf "%.2f", c / b; else print "-" }')
      printf '| %s | %s | %s | %.0f | %.1f | %.1f | %.0f | %s |\n' "$s" "$size" "$conns" \
        "$rate" "$p50" "$p99" "$cpu" "$ratio"
    done
  done
done
