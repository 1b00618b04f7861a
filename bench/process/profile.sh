#!/bin/bash
# Per-spawn costs that do not depend on the machine's load (issue 15), for the peers of run.sh:
#   - instructions executed by the parent process (its threads included), from callgrind, as
#     the difference between a run of HI and one of LO spawns divided by HI-LO (start-up,
#     interpreter import and warm-up cancel out);
#   - system calls per spawn from `strace -c -f` (parent, its threads and the child up to and
#     including /bin/true), differenced the same way; the top calls are listed too.
# Sequential spawns only (in-flight changes the wall time, not the work per spawn).
#
# Environment: PEERS (as run.sh, default "aio-pidfd aio-threaded aio-safe aio-multiloop libuv
# asyncio uvloop"), LO=100 HI=300, BAZEL=bazel BAZEL_FLAGS="".
set -euo pipefail

cd "$(dirname "$0")/../.."
PEERS=${PEERS:-"aio-pidfd aio-threaded aio-safe aio-multiloop libuv asyncio uvloop"}
LO=${LO:-100}
HI=${HI:-300}
BAZEL=${BAZEL:-bazel}
read -r -a flags <<<"${BAZEL_FLAGS:-}"
"$BAZEL" build -c opt "${flags[@]}" //bench/process:aio_spawn //bench/process:libuv_spawn >&2

command_of() {
  case "$1" in
    aio-*) echo "bazel-bin/bench/process/aio_spawn --watcher ${1#aio-}" ;;
    libuv) echo "bazel-bin/bench/process/libuv_spawn" ;;
    asyncio) echo "/usr/bin/python3 bench/process/asyncio_spawn.py" ;;
    uvloop) echo "/usr/bin/python3 bench/process/asyncio_spawn.py --uvloop" ;;
    *) echo "unknown peer '$1'" >&2; exit 2 ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

instructions() {  # peer count -> instructions executed by the parent
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file=/dev/null $(command_of "$1") \
    --count "$2" --warmup 0 >/dev/null 2>"$tmp/cg.err" || true
  grep -q "unhandled amd64-linux syscall" "$tmp/cg.err" && return 0
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/cg.err"
}

syscalls() {  # peer count -> strace -c -f summary file
  # shellcheck disable=SC2046
  strace -f -c -o "$tmp/$1.$2.strace" $(command_of "$1") --count "$2" --warmup 0 >/dev/null
  echo "$tmp/$1.$2.strace"
}

total_calls() { awk '$NF == "total" { print $4 }' "$1"; }

echo "| peer | instructions/spawn (parent) | syscalls/spawn (strace -f) | top syscalls per spawn |"
echo "|---|---:|---:|---|"
for p in $PEERS; do
  lo=$(instructions "$p" "$LO")
  hi=$(instructions "$p" "$HI")
  # Valgrind 3.19 has no pidfd_open (syscall 434): the pidfd watcher cannot run under it.
  if [ -n "$lo" ] && [ -n "$hi" ]; then ins=$(( (hi - lo) / (HI - LO) )); else ins="n/a"; fi
  s_lo=$(syscalls "$p" "$LO")
  s_hi=$(syscalls "$p" "$HI")
  per=$(awk -v a="$(total_calls "$s_lo")" -v b="$(total_calls "$s_hi")" -v n=$((HI - LO)) \
    'BEGIN { printf "%.1f", (b - a) / n }')
  top=$(join <(awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" { print $NF, $4 }' "$s_lo" | sort) \
             <(awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" { print $NF, $4 }' "$s_hi" | sort) |
        awk -v n=$((HI - LO)) '{ d = ($3 - $2) / n; if (d >= 0.95) printf "%s %.1f\n", $1, d }' |
        sort -k2 -gr | head -6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
  echo "| $p | $ins | $per | $top |"
done
echo
echo "sequential; differenced between $LO and $HI spawns; $(nproc) CPUs; $(date -u +%F)"
