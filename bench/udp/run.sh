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
source bench/lib.sh
SERVERS=${SERVERS:-"raw_epoll raw_epoll_batch aio"}
SIZES=${SIZES:-"64 1024"}
CLIENTS=${CLIENTS:-"1 32"}
DURATION=${DURATION:-1}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-1}
bench_init

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
bench_build "${targets[@]}"
generator=$(path_of //bench/udp:udp_load_generator)

# --- start every server; each must print "listening on PORT" first ---------------------------
for s in "${servers[@]}"; do
  read -r -a server_args <<<"${extra_args[$s]}"
  bench_start "$s" "${server_cmd[@]}" "$(path_of "${target[$s]}")" --host 127.0.0.1 --port 0 \
    "${server_args[@]}" || true
done
[ "${#started[@]}" -gt 0 ] || { echo "no server started" >&2; exit 1; }

# --- the matrix ----------------------------------------------------------------------------------
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
lost_total() {  # datagrams lost over all rounds of the lines matching a pattern
  { grep -E "^$1" "$results" || true; } | field lost | awk '{ n += $1 } END { print n + 0 }'
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
    setting="size=$size clients=$clients "
    base=""
    if [ -n "${port[raw_epoll]:-}" ]; then
      base=$(metric "server=raw_epoll .* $setting" server_cpu_ns_per_dgram lower)
    fi
    for s in "${started[@]}"; do
      rate=$(metric "server=$s .* $setting" dgrams_per_s higher)
      p50=$(metric "server=$s .* $setting" p50_us lower)
      p99=$(metric "server=$s .* $setting" p99_us lower)
      cpu=$(metric "server=$s .* $setting" server_cpu_ns_per_dgram lower)
      if [ "$rate" = fail ]; then
        printf '| %s | %s | %s | failed | | | | | |\n' "$s" "$size" "$clients"
        continue
      fi
      printf '| %s | %s | %s | %.0f | %.1f | %.1f | %.0f | %s | %s |\n' "$s" "$size" "$clients" \
        "$rate" "$p50" "$p99" "$cpu" "$(ratio "$cpu" "$base")" "$(lost_total "server=$s .* $setting")"
    done
  done
done
