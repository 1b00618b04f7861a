#!/bin/sh
# //examples:line_echo, server and client, against each other and against a real client: the
# server started with --port 0 prints "listening on PORT"; the aio client sends stdin's lines
# and prints each echo and the server's "bye after N lines"; nc -N (one client, then five at
# once) gets its lines back and the same last line; the same over a UNIX socket (--unix). On
# both pollers. Every wait is bounded; the server is always killed.
set -eu
bin="$1"
tmp=$(mktemp -d /tmp/aio-line-echo-XXXXXX)  # short: a UNIX socket path lives here
pid=""

cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
  echo "FAIL: $*"
  echo "--- server stdout:"; cat "$tmp/out" 2>/dev/null || true
  echo "--- server stderr:"; cat "$tmp/err" 2>/dev/null || true
  exit 1
}

start() {
  rm -f "$tmp/out" "$tmp/err"
  "$bin" server "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  tries=0
  until grep -qs '^listening on ' "$tmp/out" && [ -z "$(tail -c 1 "$tmp/out")" ]; do
    kill -0 "$pid" 2>/dev/null || fail "the server exited before listening"
    tries=$((tries + 1))
    [ "$tries" -le 500 ] || fail "no 'listening on' line within 10 s"
    sleep 0.02
  done
  listening=$(sed -n 's/^listening on //p' "$tmp/out")
}

stop() {
  kill -0 "$pid" 2>/dev/null || fail "the server exited by itself"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

# $1: how the client reaches the server (client arguments), $2: nc's address arguments.
converse() {
  expected=$(printf 'one\ntwo\nthree\nbye after 3 lines')
  got=$(printf 'one\ntwo\nthree\n' | timeout 10 "$bin" client $1) || fail "client $1 failed"
  [ "$got" = "$expected" ] || fail "client $1 got '$got'"
  got=$(printf 'no newline at the end' | timeout 10 "$bin" client $1) || fail "client $1 failed"
  [ "$got" = "$(printf 'no newline at the end\nbye after 1 lines')" ] || fail "client got '$got'"
  got=$(printf 'over nc\n' | timeout 10 nc -N $2) || fail "nc $2 failed"
  [ "$got" = "$(printf 'over nc\nbye after 1 lines')" ] || fail "nc $2 got '$got'"
  i=0
  clients=""
  while [ $i -lt 5 ]; do
    (printf 'client %s\nsays hi\n' $i | timeout 10 nc -N $2 >"$tmp/client$i") &
    clients="$clients $!"
    i=$((i + 1))
  done
  for client in $clients; do wait "$client" || fail "a concurrent nc failed"; done
  i=0
  while [ $i -lt 5 ]; do
    [ "$(cat "$tmp/client$i")" = "$(printf 'client %s\nsays hi\nbye after 2 lines' $i)" ] ||
      fail "client $i got '$(cat "$tmp/client$i")'"
    i=$((i + 1))
  done
}

for poller in epoll poll; do
  export AIO_POLLER=$poller
  start --port 0
  case "$listening" in '' | *[!0-9]*) fail "'listening on $listening' does not name a port" ;; esac
  converse "--port $listening" "127.0.0.1 $listening"
  stop
  start --unix "$tmp/echo.sock"
  [ "$listening" = "$tmp/echo.sock" ] || fail "listening on '$listening', not $tmp/echo.sock"
  converse "--unix $tmp/echo.sock" "-U $tmp/echo.sock"
  stop
  rm -f "$tmp/echo.sock"
done
echo "line_echo: aio client and nc over TCP and a UNIX socket, on epoll and poll"
