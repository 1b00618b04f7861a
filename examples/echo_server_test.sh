#!/bin/sh
# //examples:echo_server against a real client: started with --port 0 it must print "listening
# on PORT" (the port the kernel chose), echo what `nc -N` sends (one client, then ten at once) and
# close each connection when its client half-closes, serving until it is killed; the same over a
# UNIX socket (--unix). On both pollers. Every wait is bounded; the server is always killed.
set -eu
server="$1"
tmp=$(mktemp -d /tmp/aio-echo-test-XXXXXX)  # short: a UNIX socket path lives here
pid=""

cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM  # so that cleanup also runs when the test is stopped

fail() {
  echo "FAIL: $*"
  echo "--- server stdout:"; cat "$tmp/out" 2>/dev/null || true
  echo "--- server stderr:"; cat "$tmp/err" 2>/dev/null || true
  exit 1
}

# Starts the server with "$@" and sets $listening to what it prints after "listening on ".
start() {
  rm -f "$tmp/out" "$tmp/err"  # not the last server's: the new one's shell may not have opened them
  "$server" "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  tries=0
  # The whole line: it ends with a newline.
  until grep -qs '^listening on ' "$tmp/out" && [ -z "$(tail -c 1 "$tmp/out")" ]; do
    kill -0 "$pid" 2>/dev/null || fail "the server exited before listening"
    tries=$((tries + 1))
    [ "$tries" -le 500 ] || fail "no 'listening on' line within 10 s"
    sleep 0.02
  done
  listening=$(sed -n 's/^listening on //p' "$tmp/out")
}

# Stops the server, which must still be running (it serves until killed).
stop() {
  kill -0 "$pid" 2>/dev/null || fail "the server exited by itself"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

# Sends $2 through `nc -N $1` (nc's address arguments) and checks that it comes back whole.
echo_through() {
  got=$(printf '%s' "$2" | timeout 10 nc -N $1) || fail "nc $1 failed or timed out"
  [ "$got" = "$2" ] || fail "sent '$2' through nc $1, got back '$got'"
}

for poller in epoll poll; do
  export AIO_POLLER=$poller

  start --port 0
  port=$listening
  case "$port" in '' | *[!0-9]*) fail "'listening on $port' does not name a port" ;; esac
  [ "$port" -gt 0 ] || fail "listening on port $port"
  echo_through "127.0.0.1 $port" "hello aio
a second line"
  # Ten clients at once, each with its own text.
  i=0
  clients=""
  while [ $i -lt 10 ]; do
    (printf 'client %s says hi\n' $i | timeout 10 nc -N 127.0.0.1 "$port" >"$tmp/client$i") &
    clients="$clients $!"
    i=$((i + 1))
  done
  for client in $clients; do wait "$client" || fail "a concurrent nc failed"; done
  i=0
  while [ $i -lt 10 ]; do
    [ "$(cat "$tmp/client$i")" = "client $i says hi" ] || fail "client $i got '$(cat "$tmp/client$i")'"
    i=$((i + 1))
  done
  stop

  start --unix "$tmp/echo.sock"
  [ "$listening" = "$tmp/echo.sock" ] || fail "listening on '$listening', not $tmp/echo.sock"
  echo_through "-U $tmp/echo.sock" "over a UNIX socket"
  stop
  rm -f "$tmp/echo.sock"
done
echo "echo_server echoed through nc over TCP and a UNIX socket, on epoll and poll"
