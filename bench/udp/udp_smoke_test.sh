#!/bin/sh
# Smoke test of the UDP echo-benchmark tools: each server (raw epoll, aio) under 0.3 s of load
# from 2 clients; the generator's line must parse and report datagrams and the server's CPU.
set -eu
generator="$1"
shift
dir="${TEST_TMPDIR:-$(mktemp -d)}"
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi' EXIT

for server in "$@"; do
  name=$(basename "$server")
  "$server" --port 0 >"$dir/$name.out" 2>"$dir/$name.err" &
  pid=$!
  port=""
  for _ in $(seq 50); do  # up to 5 s for "listening on PORT"
    port=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$dir/$name.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/$name.err"; echo "$name died"; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$name never printed 'listening on PORT'"; exit 1; }

  line=$("$generator" --port "$port" --clients 2 --size 1024 --duration 0.3 --warmup 0.1 \
    --server-pid "$pid")
  echo "$name: $line"

  field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  [ "$(field size)" = 1024 ] || { echo "bad size"; exit 1; }
  [ "$(field clients)" = 2 ] || { echo "bad clients"; exit 1; }
  for key in dgrams_per_s p50_us p99_us server_cpu_ns_per_dgram client_cpu_ns_per_dgram lost; do
    value=$(field "$key")
    echo "$value" | grep -Eq '^[0-9]+(\.[0-9]+)?$' || { echo "bad $key: '$value'"; exit 1; }
  done
  awk -v r="$(field dgrams_per_s)" -v c="$(field server_cpu_ns_per_dgram)" \
    'BEGIN { exit !(r > 0 && c > 0) }' || { echo "no datagrams or no server CPU measured"; exit 1; }

  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done
echo "ok"
