#!/bin/bash
# Server CPU per message of already built echo servers, in interleaved rounds, with the spread:
# for comparing two builds of one server (before / after a change) or servers run.sh does not
# know. Every server is started once; each round runs the load generator once against each
# server in turn, so drift in the machine's load hits all of them alike. CPU is the server
# process's own (the generator's --server-pid: /proc/PID/task/*/schedstat), never the machine's.
#
#   bench/echo/compare_cpu.sh GENERATOR NAME=COMMAND [NAME=COMMAND ...]
#   e.g. bench/echo/compare_cpu.sh bazel-bin/bench/echo/load_generator \
#          protocol=bazel-bin/examples/echo_server streams=/tmp/streams_echo_server \
#          asyncio="/usr/bin/python3 bench/echo/asyncio_streams_echo_server.py"
#
# Server commands are run from the workspace root (relative paths are taken from there).
# Environment: SIZES="64" CONNS="1 100" DURATION=1 WARMUP=0.5 ROUNDS=7 LINES=1 (text lines,
# needed by the readline servers). Prints, per setting and server, the median, min and max of
# server_cpu_ns_per_msg over the rounds, and the median's ratio to the first server's.
set -euo pipefail
generator=$(realpath "$1")
shift
SIZES=${SIZES:-64}
CONNS=${CONNS:-"1 100"}
DURATION=${DURATION:-1}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-7}
lines_flag=()
[ "${LINES:-1}" = 1 ] && lines_flag=(--lines)

cd "$(dirname "$0")/../.."
source bench/lib.sh
bench_init  # $tmp, $results, the clean-up trap

for spec in "$@"; do
  read -r -a command <<<"${spec#*=}"
  bench_start "${spec%%=*}" "${command[@]}" --host 127.0.0.1 --port 0 || exit 1
done
names=("${started[@]}")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for size in $SIZES; do
    for conns in $CONNS; do
      for name in "${names[@]}"; do
        line=$("$generator" --port "${port[$name]}" --connections "$conns" --size "$size" \
          --duration "$DURATION" --warmup "$WARMUP" --server-pid "${pid_of[$name]}" \
          "${lines_flag[@]}")
        echo "server=$name round=$round $line" | tee -a "$results" >&2
      done
    done
  done
done

echo "$ROUNDS interleaved rounds of ${DURATION} s (after ${WARMUP} s warm-up); load average" \
  "$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after; $(date -u +%FT%TZ)"
echo
echo "| server | size | conns | CPU ns/msg median | min | max | median vs ${names[0]} |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for conns in $CONNS; do
    base=""
    for name in "${names[@]}"; do
      stats=$(grep -E "^server=$name .* size=$size conns=$conns " "$results" |
        field server_cpu_ns_per_msg | sort -g |
        awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
                                  print m, a[1], a[NR] }')
      read -r median low high <<<"$stats"
      [ -z "$base" ] && base=$median
      printf '| %s | %s | %s | %.0f | %.0f | %.0f | %.2f |\n' "$name" "$size" "$conns" \
        "$median" "$low" "$high" "$(awk -v a="$median" -v b="$base" 'BEGIN { print a / b }')"
    done
  done
done
