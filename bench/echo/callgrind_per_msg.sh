#!/bin/bash
# User-space instructions per message of an echo server, with callgrind: the server runs under
# valgrind twice, once for SHORT and once for LONG seconds of load, and the difference of the
# two instruction totals divided by the difference of the two message counts is the cost of
# one message (start-up, connection set-up and shutdown cancel out). No hardware counters
# needed; deterministic enough to compare servers on a noisy shared machine.
#
#   bench/echo/callgrind_per_msg.sh GENERATOR NAME=COMMAND [NAME=COMMAND ...]
#
# Environment: SIZE=64 CONNS=1 SHORT=2 LONG=4 LINES=1 (text lines for the readline servers),
# KEEP=<dir> keeps the callgrind files (NAME.SHORT / NAME.LONG, for callgrind_annotate).
# Prints one markdown row per server: messages in each run, Ir per message.
set -euo pipefail
generator=$1
shift
SIZE=${SIZE:-64}
CONNS=${CONNS:-1}
SHORT=${SHORT:-2}
LONG=${LONG:-4}
lines_flag=()
[ "${LINES:-1}" = 1 ] && lines_flag=(--lines)
tmp=$(mktemp -d)
keep=${KEEP:-$tmp}
mkdir -p "$keep"
trap 'rm -rf "$tmp"' EXIT

# run_once NAME SECONDS COMMAND... -> "messages instructions"
run_once() {
  local name=$1 seconds=$2
  shift 2
  valgrind --tool=callgrind --callgrind-out-file="$keep/$name.$seconds" "$@" \
    --host 127.0.0.1 --port 0 >"$tmp/out" 2>"$tmp/err" &
  local pid=$! p=""
  for _ in $(seq 600); do  # valgrind start-up (CPython's imports) can take a while
    p=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/out" 2>/dev/null || true)
    [ -n "$p" ] && break
    sleep 0.1
  done
  [ -n "$p" ] || { echo "$name did not start" >&2; kill "$pid"; exit 1; }
  local line
  line=$("$generator" --port "$p" --connections "$CONNS" --size "$SIZE" --duration "$seconds" \
    --warmup 0 "${lines_flag[@]}")
  kill -TERM "$pid"
  wait "$pid" || true  # valgrind writes the profile on SIGTERM; the exit status is the signal's
  local msgs ir
  msgs=$(tr ' ' '\n' <<<"$line" | sed -n 's/^msgs=//p')
  ir=$(sed -n 's/^summary: //p' "$keep/$name.$seconds")
  echo "$msgs $ir"
}

echo "| server | size | conns | msgs ${SHORT} s | msgs ${LONG} s | Ir/msg |"
echo "|---|---:|---:|---:|---:|---:|"
for spec in "$@"; do
  name=${spec%%=*}
  read -r -a command <<<"${spec#*=}"
  read -r m1 i1 <<<"$(run_once "$name" "$SHORT" "${command[@]}")"
  read -r m2 i2 <<<"$(run_once "$name" "$LONG" "${command[@]}")"
  printf '| %s | %s | %s | %s | %s | %.0f |\n' "$name" "$SIZE" "$CONNS" "$m1" "$m2" \
    "$(awk -v a="$i1" -v b="$i2" -v m="$m1" -v n="$m2" 'BEGIN { print (b - a) / (n - m) }')"
done
