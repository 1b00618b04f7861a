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
source bench/lib.sh
SERVERS=${SERVERS:-"raw_epoll libuv asio aio"}
SIZES=${SIZES:-"64 1024 16384"}
CONNS=${CONNS:-"1 100"}
DURATION=${DURATION:-1}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-5}
bench_init

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
  servers+=("$s")
done
targets=(//bench/echo:load_generator)
for s in "${servers[@]}"; do [ -n "${target[$s]:-}" ] && targets+=("${target[$s]}"); done
bench_build "${targets[@]}"
generator=$(path_of //bench/echo:load_generator)

# --- start every server; each must print "listening on PORT" first ---------------------------
for s in "${servers[@]}"; do
  if [ -n "${script[$s]:-}" ]; then
    read -r -a command <<<"${script[$s]}"
  else
    command=("$(path_of "${target[$s]}")")
  fi
  bench_start "$s" "${command[@]}" --host 127.0.0.1 --port 0 || true
done
[ "${#started[@]}" -gt 0 ] || { echo "no server started" >&2; exit 1; }

# --- the matrix ----------------------------------------------------------------------------------
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
echo
echo "Echo servers, ping-pong over TCP loopback; ${DURATION} s timed after ${WARMUP} s warm-up," \
  "$STAT of $ROUNDS rounds; $(nproc) CPUs shared by server and generator; load average" \
  "$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after."
echo
echo "| server | size | conns | msgs/s | p50 µs | p99 µs | server CPU ns/msg | CPU/msg vs raw epoll |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for conns in $CONNS; do
    setting="size=$size conns=$conns "
    base=""
    if [ -n "${port[raw_epoll]:-}" ]; then
      base=$(metric "server=raw_epoll .* $setting" server_cpu_ns_per_msg lower)
    fi
    for s in "${started[@]}"; do
      rate=$(metric "server=$s .* $setting" msgs_per_s higher)
      p50=$(metric "server=$s .* $setting" p50_us lower)
      p99=$(metric "server=$s .* $setting" p99_us lower)
      cpu=$(metric "server=$s .* $setting" server_cpu_ns_per_msg lower)
      if [ "$rate" = fail ]; then
        printf '| %s | %s | %s | failed | | | | |\n' "$s" "$size" "$conns"
        continue
      fi
      printf '| %s | %s | %s | %.0f | %.1f | %.1f | %.0f | %s |\n' "$s" "$size" "$conns" \
        "$rate" "$p50" "$p99" "$cpu" "$(ratio "$cpu" "$base")"
    done
  done
done
