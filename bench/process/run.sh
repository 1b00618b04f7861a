#!/bin/bash
# Spawn + wait of /bin/true (issue 15): aio, libuv's uv_spawn, CPython asyncio and uvloop,
# sequential and 32 in flight. Builds the C++ peers with -c opt, runs ROUNDS rounds in which
# every (peer, mode) runs once, in a rotated order (so drift in the machine's load hits all of
# them alike), and prints a markdown table: median spawns/s and parent CPU per spawn, with the
# min..max spread over the rounds. See bench/README.md ("Spawning children").
#
# Environment (all optional):
#   PEERS="aio libuv asyncio uvloop"  MODES="1 32" (children in flight); aio is aio-pidfd (the
#     default watcher); aio-threaded, aio-safe, aio-multiloop run aio_spawn with that watcher
#   COUNT=2000 WARMUP=100   spawns per run (timed) and before it (untimed)
#   ROUNDS=5
#   BAZEL=bazel BAZEL_FLAGS=""   e.g. BAZEL_FLAGS="--config=cache"
#   OUT=<dir>               keeps the raw lines there (default: a temporary directory)
set -euo pipefail

cd "$(dirname "$0")/../.."
PEERS=${PEERS:-"aio libuv asyncio uvloop"}
MODES=${MODES:-"1 32"}
COUNT=${COUNT:-2000}
WARMUP=${WARMUP:-100}
ROUNDS=${ROUNDS:-5}
BAZEL=${BAZEL:-bazel}
read -r -a flags <<<"${BAZEL_FLAGS:-}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$tmp}
mkdir -p "$out"

declare -A target=([aio]=//bench/process:aio_spawn [libuv]=//bench/process:libuv_spawn)
for w in pidfd threaded safe multiloop; do target[aio-$w]=//bench/process:aio_spawn; done
declare -A cmd=(
  [asyncio]="/usr/bin/python3 bench/process/asyncio_spawn.py"
  [uvloop]="/usr/bin/python3 bench/process/asyncio_spawn.py --uvloop"
)
peers=()
for p in $PEERS; do
  if [ -n "${cmd[$p]:-}" ]; then
    peers+=("$p")
    continue
  fi
  [ -n "${target[$p]:-}" ] || { echo "unknown peer '$p'" >&2; exit 2; }
  if ! "$BAZEL" query "${target[$p]}" >/dev/null 2>&1; then
    echo "note: ${target[$p]} does not exist; $p is left out" >&2
    continue
  fi
  "$BAZEL" build -c opt "${flags[@]}" "${target[$p]}" >&2
  bin="bazel-bin/${target[$p]#//}"
  cmd[$p]="${bin/://}"
  case "$p" in aio-*) cmd[$p]+=" --watcher ${p#aio-}" ;; esac
  peers+=("$p")
done

# --- rounds --------------------------------------------------------------------------------------
runs=()
for p in "${peers[@]}"; do for m in $MODES; do runs+=("$p $m"); done; done
n=${#runs[@]}
for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    read -r p m <<<"${runs[$(((i + round) % n))]}"
    line=$(${cmd[$p]} --count "$COUNT" --warmup "$WARMUP" --inflight "$m")
    echo "$line" >>"$out/$p.$m.txt"
    echo "round $round: $line" >&2
  done
done

# --- table ---------------------------------------------------------------------------------------
# median and min..max of one field over a file's lines
stat() {
  sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$1" | sort -g | awk '
    { v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
          printf "%.0f (%.0f..%.0f)", m, v[1], v[NR] }'
}
echo
echo "| peer | in flight | spawns/s median (min..max) | parent CPU us/spawn median (min..max) |"
echo "|---|---:|---:|---:|"
for m in $MODES; do
  for p in "${peers[@]}"; do
    f="$out/$p.$m.txt"
    echo "| $p | $m | $(stat "$f" spawns_per_s) | $(stat "$f" cpu_us_per_spawn) |"
  done
done
echo
echo "$ROUNDS rounds x $COUNT spawns (after $WARMUP untimed) per cell; $(nproc) CPUs; $(date -u +%F)"
