#!/bin/sh
# Smoke test of the echo-benchmark tools: the raw epoll server under 0.5 s of load from 2
# connections; the generator's line must parse and report messages and the server's CPU.
set -eu
server="$1"
generator="$2"
dir="${TEST_TMPDIR:-$(mktemp -d)}"

"$server" --port 0 >"$dir/server.out" 2>"$dir/server.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

port=""
for _ in $(seq 50); do  # up to 5 s for "listening on PORT"
  port=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$dir/server.out")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.err"; echo "server died"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "server never printed 'listening on PORT'"; exit 1; }

line=$("$generator" --port "$port" --connections 2 --size 1024 --duration 0.5 --warmup 0.1 \
  --server-pid "$pid")
echo "$line"

field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
[ "$(field size)" = 1024 ] || { echo "bad size"; exit 1; }
[ "$(field conns)" = 2 ] || { echo "bad conns"; exit 1; }
for key in msgs_per_s p50_us p99_us server_cpu_ns_per_msg client_cpu_ns_per_msg; do
  value=$(field "$key")
  echo "$value" | grep -Eq '^[0-9]+(\.[0-9]+)?$' || { echo "bad $key: '$value'"; exit 1; }
done
awk -v r="$(field msgs_per_s)" -v c="$(field server_cpu_ns_per_msg)" \
  'BEGIN { exit !(r > 0 && c > 0) }' || { echo "no messages or no server CPU measured"; exit 1; }
echo "ok"
