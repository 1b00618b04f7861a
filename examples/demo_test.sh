#!/bin/sh
# The demo is the README's first command: it must run to the end, on both pollers.
set -eu
demo="$1"
for poller in epoll poll; do
  out=$(AIO_POLLER=$poller timeout 20 "$demo")
  echo "$out" | grep -q "event loop using the $poller poller" || { echo "$out"; exit 1; }
  echo "$out" | grep -q "wait_for TimeoutError after 20 ms" || { echo "$out"; exit 1; }
  # aio's resolver answers "localhost" (from /etc/hosts) with a loopback address.
  echo "$out" | grep -Eq '^dns +getaddrinfo\("localhost"\) -> .*(127\.0\.0\.1|::1)' ||
    { echo "$out"; exit 1; }
  # The TCP step: the client sees the server's reply, then EOF, then connection_lost.
  echo "$out" | grep -q "client   data_received: HELLO, AIO" || { echo "$out"; exit 1; }
  echo "$out" | grep -A1 "client   eof_received" | grep -q "client   connection_lost" ||
    { echo "$out"; exit 1; }
  # The signal step: SIGUSR1 sent to itself twice, handled on the loop, then the handler removed.
  echo "$out" | grep -q "signal   SIGUSR1 #2 handled by a callback on the loop thread" ||
    { echo "$out"; exit 1; }
  echo "$out" | grep -q "signal   remove_signal_handler(SIGUSR1) -> true" || { echo "$out"; exit 1; }
  # The subprocess step: tr's output came back through the loop, and its exit status.
  echo "$out" | grep -q "process  read from its stdout: HELLO FROM A CHILD PROCESS" ||
    { echo "$out"; exit 1; }
  echo "$out" | grep -q "process  exited with return code 0" || { echo "$out"; exit 1; }
  [ "$(echo "$out" | tail -n 1)" = "done" ] || { echo "$out"; exit 1; }
done
echo "demo ran to the end on epoll and poll"
