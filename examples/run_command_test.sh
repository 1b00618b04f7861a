#!/bin/sh
# //examples:run_command on both pollers: both streams relayed line by line, the exit status
# passed on, death by signal, the time limit killing a child that runs too long (bounded here
# by timeout(1) as well), a program that does not exist, and 20000 lines through the pipe.
set -eu
bin="$1"

fail() {
  echo "FAIL: $*"
  echo "--- output:"; echo "$out"
  exit 1
}

for poller in epoll poll; do
  export AIO_POLLER=$poller

  code=0; out=$(timeout 20 "$bin" sh -c 'echo one; echo two >&2; echo three; exit 3') || code=$?
  [ "$code" = 3 ] || fail "$poller: exit status $code, wanted 3"
  echo "$out" | grep -qx "out: one" || fail "$poller: no 'out: one'"
  echo "$out" | grep -qx "err: two" || fail "$poller: no 'err: two'"
  echo "$out" | grep -qx "out: three" || fail "$poller: no 'out: three'"
  [ "$(echo "$out" | grep '^out:' | tr '\n' ' ')" = "out: one out: three " ] ||
    fail "$poller: stdout lines out of order"
  [ "$(echo "$out" | tail -n 1)" = "exit 3" ] || fail "$poller: last line"

  code=0; out=$(timeout 20 "$bin" sh -c 'kill -TERM $$') || code=$?
  [ "$code" = 143 ] || fail "$poller: exit status $code, wanted 143"
  [ "$(echo "$out" | tail -n 1)" = "killed by signal 15" ] || fail "$poller: signal line"

  start=$(date +%s)
  code=0; out=$(timeout 20 "$bin" --timeout 0.3 sh -c 'echo started; exec sleep 30') || code=$?
  [ "$code" = 124 ] || fail "$poller: exit status $code, wanted 124"
  echo "$out" | grep -qx "out: started" || fail "$poller: output before the timeout"
  [ "$(echo "$out" | tail -n 1)" = "timeout after 0.3 s" ] || fail "$poller: timeout line"
  [ $(( $(date +%s) - start )) -lt 10 ] || fail "$poller: the timeout did not end it"

  code=0; out=$(timeout 20 "$bin" aio-no-such-program) || code=$?
  [ "$code" = 127 ] || fail "$poller: exit status $code, wanted 127"
  [ "$out" = "cannot run aio-no-such-program: [Errno 2] No such file or directory: 'aio-no-such-program'" ] ||
    fail "$poller: missing program message"

  code=0; out=$(timeout 20 "$bin" seq 1 20000) || code=$?
  [ "$code" = 0 ] || fail "$poller: seq exit status $code"
  [ "$(echo "$out" | grep -c '^out: ')" = 20000 ] || fail "$poller: not 20000 lines"
  [ "$(echo "$out" | tail -n 2 | head -n 1)" = "out: 20000" ] || fail "$poller: last seq line"
done
echo "run_command passed on epoll and poll"
