#!/bin/sh
# Smoke test of the spawn-benchmark peers: each spawns /bin/true a few times, sequentially and
# 4 in flight, and must print a line whose fields parse (spawns as asked, positive rates).
set -eu
libuv="$1"
asyncio="$2"
aio="$3"

check() {
  line="$1"
  echo "$line"
  field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  [ "$(field spawns)" = 20 ] || { echo "bad spawns"; exit 1; }
  for key in wall_s cpu_s spawns_per_s cpu_us_per_spawn; do
    value=$(field "$key")
    echo "$value" | grep -Eq '^[0-9]+(\.[0-9]+)?$' || { echo "bad $key: '$value'"; exit 1; }
  done
  awk "BEGIN{exit !($(field spawns_per_s) > 0)}" || { echo "no spawns per second"; exit 1; }
}

for inflight in 1 4; do
  check "$("$libuv" --count 20 --warmup 2 --inflight "$inflight")"
  for watcher in pidfd threaded safe multiloop; do
    check "$("$aio" --count 20 --warmup 2 --inflight "$inflight" --watcher "$watcher")"
  done
  if [ -x /usr/bin/python3 ]; then
    check "$(/usr/bin/python3 "$asyncio" --count 20 --warmup 2 --inflight "$inflight")"
  fi
done
echo PASS
