# Shared shell for the bench/*/run.sh comparisons: Bazel invocation, server start-up and
# clean-up, and the best-or-median statistics of the result table. Source it from a run.sh after
# `cd` to the workspace root:
#
#   source bench/lib.sh
#   bench_init                        # STAT, BAZEL*, $tmp/$out, the clean-up trap
#   bench_build //bench/x:gen //bench/x:server   # -c opt; then `path_of //bench/x:server`
#   bench_start NAME command args...  # waits for "listening on PORT": port[NAME], pid_of[NAME]
#   metric 'server=NAME .* size=64 conns=1 ' KEY higher|lower   # over the rounds in $results
#
# Environment it reads: STAT (best|median), BAZEL, BAZEL_STARTUP_FLAGS, BAZEL_FLAGS, OUT.

bench_init() {
  STAT=${STAT:-best}
  case "$STAT" in best | median) ;; *) echo "STAT must be best or median" >&2; exit 2 ;; esac
  BAZEL=${BAZEL:-bazel}
  read -r -a startup <<<"${BAZEL_STARTUP_FLAGS:-}"
  read -r -a flags <<<"${BAZEL_FLAGS:-}"
  tmp=$(mktemp -d)
  out=${OUT:-$tmp}
  mkdir -p "$out"
  results="$out/results.txt"
  : >"$results"
  pids=()
  started=()
  declare -gA port pid_of
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bazel_cmd() { "$BAZEL" "${startup[@]}" "$@"; }

# SIGTERM, then SIGKILL for any server still there after 2 s (a SIGTERM that reaches the
# background subshell before it has exec'd the server can be lost), then reap them.
bench_cleanup() {
  local pid alive
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}

# Builds the targets with -c opt (plus BAZEL_FLAGS) and finds bazel-bin for path_of.
bench_build() {
  echo "building with -c opt: $*" >&2
  bazel_cmd build -c opt "${flags[@]}" "$@" >&2
  bin=$(bazel_cmd info -c opt "${flags[@]}" bazel-bin 2>/dev/null)
}

path_of() {
  local t=${1#//}
  echo "$bin/${t%%:*}/${t#*:}"
}

# bench_start NAME COMMAND...: runs the server in the background (stdout/stderr in $tmp) and
# waits up to 10 s for its first line, "listening on PORT". Returns 1 (and says why) if it does
# not come; else records port[NAME] and pid_of[NAME] and appends NAME to `started`.
bench_start() {
  local name=$1 pid p=""
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    # The output file may not exist yet: the background shell creates it.
    p=$(sed -n '1s/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/$name.out" 2>/dev/null || true)
    [ -n "$p" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$p" ]; then
    echo "note: $name did not print 'listening on PORT' (first line:" \
      "'$(head -n1 "$tmp/$name.out")'); left out" >&2
    sed 's/^/  /' "$tmp/$name.err" >&2
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  port[$name]=$p
  pid_of[$name]=$pid
  started+=("$name")
  echo "$name: pid $pid, port $p" >&2
}

# The KEY=value fields of the lines on stdin.
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# summarize higher|lower: the best (STAT=best) or the median of the numbers on stdin, "fail"
# if there are none.
summarize() {
  sort -g | awk -v stat="$STAT" -v better="$1" '{ a[NR] = $1 } END {
    if (NR == 0) { print "fail"; exit }
    if (stat == "best") print ((better == "higher") ? a[NR] : a[1])
    else print ((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

# metric PATTERN KEY higher|lower: KEY summarized over the lines of $results matching PATTERN.
metric() {
  { grep -E "^$1" "$results" || true; } | field "$2" | summarize "$3"
}

# ratio A B: A / B to two decimals, "-" unless both are positive numbers.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
