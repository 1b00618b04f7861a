#!/bin/bash
# Instructions per echo message in the server, from callgrind (no hardware counters needed):
# each server runs under callgrind; per (server, setting), counters are zeroed, the generator runs
# for D1 seconds and the counters are dumped, then again for D2 seconds; the per-message figure
# is (Ir(D2) - Ir(D1)) / (msgs(D2) - msgs(D1)), which cancels what every run pays once (accepts,
# handshakes). Usage: bench/tls/callgrind.sh (after bench/tls/run.sh has built with -c opt)
#   SERVERS="raw aio asio" D1=2 D2=4 CONNS=10 SIZES="64 16384" BIN=<bazel-bin of -c opt>
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVERS=${SERVERS:-"raw aio asio"}
D1=${D1:-2}
D2=${D2:-4}
CONNS=${CONNS:-10}
SIZES=${SIZES:-"64 16384"}
bin=${BIN:-$(bazel info -c opt bazel-bin 2>/dev/null)}
declare -A cmd=(
  [raw]="$bin/bench/tls/raw_tls_echo_server"
  [asio]="$bin/bench/tls/asio_tls_echo_server"
  [aio]="$bin/examples/tls_echo server"
)
generator=$bin/bench/tls/tls_load_generator
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/key.pem"
openssl req -x509 -new -key "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
ir_of() { sed -n 's/^summary: \([0-9]*\).*/\1/p' "$1" | head -1; }
echo "| server | size | conns | Ir/msg | msgs D1/D2 |"
echo "|---|---:|---:|---:|---:|"
for s in $SERVERS; do
  read -r -a command <<<"${cmd[$s]}"
  (cd "$tmp" && exec valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$s.%p" \
    "${command[@]}" --cert cert.pem --key key.pem --host 127.0.0.1 --port 0 >"$tmp/$s.out" 2>"$tmp/$s.err") &
  vpid=$!
  port=""
  for _ in $(seq 300); do
    port=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$tmp/$s.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$s did not start" >&2; continue; }
  for size in $SIZES; do
    declare -A ir=() msgs=()
    for d in "$D1" "$D2"; do
      callgrind_control -z "$vpid" >/dev/null
      line=$("$generator" --port "$port" --mode echo --connections "$CONNS" --size "$size" \
        --duration "$d" --warmup 0)
      rm -f "$tmp"/cg."$s".*.[0-9]*
      callgrind_control -d "$vpid" >/dev/null
      sleep 0.5
      dump=$(ls -t "$tmp"/cg."$s".* | head -1)
      ir[$d]=$(ir_of "$dump")
      msgs[$d]=$(echo "$line" | tr ' ' '\n' | sed -n 's/^msgs=//p')
    done
    # No warm-up: msgs counts every message of the run, so the difference is exact.
    awk -v a="${ir[$D1]}" -v b="${ir[$D2]}" -v m="${msgs[$D1]}" -v n="${msgs[$D2]}" \
      -v s="$s" -v z="$size" -v c="$CONNS" \
      'BEGIN { printf "| %s | %s | %s | %.0f | %d/%d |\n", s, z, c, (b - a) / (n - m), m, n }'
  done
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
done
