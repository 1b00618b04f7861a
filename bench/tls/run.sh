#!/bin/bash
# TLS echo comparison (issue 12): builds the servers and the load generator with -c opt, makes an
# ECDSA P-256 certificate, starts every server, and runs, round after round (the servers
# interleaved, so drift in the machine's load hits all of them alike):
#   echo 64 B x 100 connections, echo 16 KiB x 10 connections, one bulk transfer, and new
#   TLS 1.3 handshakes per second (10 at a time),
# then prints a markdown table: the median of the rounds, the spread (min-max) of server CPU,
# and each server's CPU per message relative to the raw epoll + BoringSSL server.
# Standalone on purpose (bench/echo/run.sh and bench/udp/run.sh may move to bench/lib.sh).
#
# Environment (all optional):
#   SERVERS="raw aio asio asyncio uvloop"
#   DURATION=2 WARMUP=0.5   seconds per echo/handshake run (timed window) and of warm-up
#   BULK_BYTES=1073741824   bytes of the bulk transfer (each way)
#   ROUNDS=5
#   BAZEL=bazel BAZEL_FLAGS=""   e.g. BAZEL_FLAGS="--config=cache"
#   OUT=<dir>               keeps the raw generator lines there (default: a temporary directory)
set -euo pipefail

cd "$(dirname "$0")/../.."
SERVERS=${SERVERS:-"raw aio asio asyncio uvloop"}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-0.5}
BULK_BYTES=${BULK_BYTES:-1073741824}
ROUNDS=${ROUNDS:-5}
BAZEL=${BAZEL:-bazel}
read -r -a flags <<<"${BAZEL_FLAGS:-}"

tmp=$(mktemp -d)
out=${OUT:-$tmp}
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A target=(
  [raw]=//bench/tls:raw_tls_echo_server
  [asio]=//bench/tls:asio_tls_echo_server
  [aio]=//examples:tls_echo
)
declare -A script=(
  [asyncio]="/usr/bin/python3 bench/tls/asyncio_tls_echo_server.py"
  [uvloop]="/usr/bin/python3 bench/tls/asyncio_tls_echo_server.py --uvloop"
)
targets=(//bench/tls:tls_load_generator)
for s in $SERVERS; do [ -n "${target[$s]:-}" ] && targets+=("${target[$s]}"); done
echo "building with -c opt: ${targets[*]}" >&2
"$BAZEL" build -c opt "${flags[@]}" "${targets[@]}" >&2
bin=$("$BAZEL" info -c opt "${flags[@]}" bazel-bin 2>/dev/null)
path_of() { local t=${1#//}; echo "$bin/${t%%:*}/${t#*:}"; }
generator=$(path_of //bench/tls:tls_load_generator)

# The server certificate: ECDSA P-256, self-signed (the generator does not verify).
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/key.pem"
openssl req -x509 -new -key "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost \
  2>/dev/null

declare -A port pid_of
started=()
for s in $SERVERS; do
  if [ -n "${script[$s]:-}" ]; then
    read -r -a command <<<"${script[$s]}"
  elif [ "$s" = aio ]; then
    command=("$(path_of "${target[$s]}")" server)
  elif [ -n "${target[$s]:-}" ]; then
    command=("$(path_of "${target[$s]}")")
  else
    echo "unknown server '$s'" >&2
    exit 2
  fi
  "${command[@]}" --cert "$tmp/cert.pem" --key "$tmp/key.pem" --host 127.0.0.1 --port 0 \
    >"$tmp/$s.out" 2>"$tmp/$s.err" &
  pid=$!
  pids+=("$pid")
  p=""
  for _ in $(seq 100); do
    p=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/$s.out" 2>/dev/null || true)
    [ -n "$p" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$p" ]; then
    echo "note: $s did not start; left out" >&2
    sed 's/^/  /' "$tmp/$s.err" >&2
    continue
  fi
  port[$s]=$p
  pid_of[$s]=$pid
  started+=("$s")
  echo "$s: pid $pid, port $p" >&2
done
[ "${#started[@]}" -gt 0 ] || { echo "no server started" >&2; exit 1; }

results="$out/results.txt"
: >"$results"
settings=(
  "echo64|--mode echo --size 64 --connections 100 --duration $DURATION --warmup $WARMUP"
  "echo16k|--mode echo --size 16384 --connections 10 --duration $DURATION --warmup $WARMUP"
  "bulk|--mode bulk --bytes $BULK_BYTES"
  "handshake|--mode handshake --connections 10 --duration $DURATION --warmup $WARMUP"
)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  for setting in "${settings[@]}"; do
    name=${setting%%|*}
    read -r -a args <<<"${setting#*|}"
    for s in "${started[@]}"; do
      if line=$(timeout 300 "$generator" --port "${port[$s]}" "${args[@]}" \
        --server-pid "${pid_of[$s]}" 2>"$tmp/gen.err"); then
        echo "server=$s round=$round setting=$name $line" | tee -a "$results" >&2
      else
        echo "server=$s round=$round setting=$name FAILED: $(cat "$tmp/gen.err")" >&2
      fi
    done
  done
done

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
values() { { grep -E "^server=$1 .* setting=$2 " "$results" || true; } | field "$3" | sort -g; }
median() { awk '{ a[NR] = $1 } END { if (NR == 0) print "fail"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
spread() { awk '{ a[NR] = $1 } END { if (NR) printf "%g-%g", a[1], a[NR] }'; }

echo
echo "TLS 1.3 echo servers (ECDSA P-256 certificate) under tls_load_generator, loopback;" \
  "median of $ROUNDS interleaved rounds (spread = min-max of the rounds);" \
  "$(nproc) CPUs shared by server and generator; load average $load_before before," \
  "$(cut -d' ' -f1-3 /proc/loadavg) after; $(date -u +%Y-%m-%d)."
echo
echo "| server | setting | rate | server CPU | spread | CPU vs raw |"
echo "|---|---|---:|---:|---:|---:|"
for setting in "${settings[@]}"; do
  name=${setting%%|*}
  case $name in
    echo64 | echo16k) rate_key=msgs_per_s; cpu_key=server_cpu_ns_per_msg; unit="ns/msg"; rate_unit="msg/s" ;;
    bulk) rate_key=mib_per_s; cpu_key=server_cpu_ms_per_gib; unit="ms/GiB"; rate_unit="MiB/s" ;;
    handshake) rate_key=handshakes_per_s; cpu_key=server_cpu_us_per_handshake; unit="µs/hs"; rate_unit="hs/s" ;;
  esac
  base=""
  [ -n "${port[raw]:-}" ] && base=$(values raw "$name" "$cpu_key" | median)
  for s in "${started[@]}"; do
    rate=$(values "$s" "$name" "$rate_key" | median)
    cpu=$(values "$s" "$name" "$cpu_key" | median)
    sp=$(values "$s" "$name" "$cpu_key" | spread)
    ratio=$(awk -v c="$cpu" -v b="$base" 'BEGIN { if (c + 0 > 0 && b + 0 > 0) printf "%.2f", c / b; else print "-" }')
    printf '| %s | %s | %s %s | %s %s | %s | %s |\n' "$s" "$name" "$rate" "$rate_unit" "$cpu" "$unit" "$sp" "$ratio"
  done
done
