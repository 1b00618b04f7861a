#!/bin/sh
# //examples:echo_server against real clients: started with --port 0 it must print "listening
# on PORT" (the port the kernel chose), echo what `nc -N` sends (one client, then ten at once) and
# close each connection when its client half-closes; the same over a UNIX socket (--unix).
# SIGTERM and SIGINT shut it down cleanly (exit 0, its two shutdown lines, no stderr). Clients
# that send 10 MB without reading (one, then ten) are held back by backpressure: the server's
# resident memory grows by less than 1 MiB (1 client) / 6 MiB (10 clients), and every byte
# still comes back (without backpressure: 1.7-3.1 MiB and 13-17 MiB; the bound is not checked
# in ASan/TSan builds). On both pollers. Every wait is bounded; the server is always killed.
set -eu
server="$1"
flood="$2"  # examples/testdata/flood.py
# Under ASan (freed memory is quarantined) or TSan (shadow memory) the resident size does not
# measure the server's own buffering: the memory bound is checked in uninstrumented builds only.
sanitized=""
if grep -aq __asan_init "$server"; then sanitized=ASan; fi
if grep -aq __tsan_init "$server"; then sanitized=TSan; fi
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

# Stops the server with signal $1 (TERM or INT); it must still be running, then exit 0 by
# itself after printing its shutdown lines, with nothing on stderr.
stop() {
  kill -0 "$pid" 2>/dev/null || fail "the server exited by itself"
  kill -"$1" "$pid"
  tries=0
  while kill -0 "$pid" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -le 500 ] || fail "the server did not exit within 10 s of SIG$1"
    sleep 0.02
  done
  status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" -eq 0 ] || fail "the server exited with status $status after SIG$1"
  [ "$(sed -n '2,$p' "$tmp/out")" = "got SIG$1: closing the server
closed" ] || fail "unexpected shutdown output after SIG$1"
  [ ! -s "$tmp/err" ] || fail "the server wrote to stderr"
}

# $1 clients each send 10 MB without reading; the server's memory must grow by less than $2 KiB.
flood() {
  result=$(timeout 120 python3 "$flood" "$port" "$pid" "$1") || fail "flood.py $1 failed"
  case "$result" in
    *verified*) ;;
    *) fail "flood with $1 clients: $result" ;;
  esac
  growth=$(echo "$result" | sed -n 's/^growth_kib=\([-0-9]*\) .*/\1/p')
  echo "$1 client(s) sending 10 MB without reading: the server grew by $growth KiB"
  if [ -n "$sanitized" ]; then
    echo "  (not compared with $2 KiB: $sanitized's shadow memory / quarantine is in the figure)"
  else
    [ "$growth" -lt "$2" ] || fail "$1 non-reading clients grew the server by $growth KiB"
  fi
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
  flood 1 1024
  flood 10 6144
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
  stop TERM

  start --unix "$tmp/echo.sock"
  [ "$listening" = "$tmp/echo.sock" ] || fail "listening on '$listening', not $tmp/echo.sock"
  echo_through "-U $tmp/echo.sock" "over a UNIX socket"
  stop INT
  rm -f "$tmp/echo.sock"
done
echo "echo_server echoed through nc over TCP and a UNIX socket, held back non-reading clients,"
echo "and shut down cleanly on SIGTERM and SIGINT, on epoll and poll"
