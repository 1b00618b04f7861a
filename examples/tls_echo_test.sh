#!/bin/sh
# //examples:tls_echo, server and client, with certificates made here by openssl: the client
# verifies the server (CA + name) and gets its message back over TLS 1.3; a client trusting
# another CA is refused with CERTIFICATE_VERIFY_FAILED; with --cafile on the server, a client
# without a certificate fails and one with a certificate passes. Every wait is bounded; the
# server is always killed.
set -eu
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"  # absolute: the test cds below
tmp=$(mktemp -d /tmp/aio-tls-echo-XXXXXX)
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
command -v openssl >/dev/null || { echo "openssl is not installed: skipped"; exit 0; }

# A CA, a server certificate for localhost and a client certificate; a second, untrusted CA.
cd "$tmp"
printf '[v3]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > leaf.ext
for ca in ca other; do
  openssl ecparam -name prime256v1 -genkey -noout -out $ca.key
  openssl req -x509 -new -key $ca.key -out $ca.pem -days 2 -subj "/CN=$ca"  # CA:TRUE by default
done
for leaf in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out $leaf.key
  openssl req -new -key $leaf.key -out $leaf.csr -subj "/CN=$leaf"
  openssl x509 -req -in $leaf.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
    -extfile leaf.ext -extensions v3 -out $leaf.pem 2>/dev/null
done

start() {
  rm -f out err
  "$bin" server "$@" --port 0 >out 2>err &
  pid=$!
  tries=0
  until grep -qs '^listening on ' out && [ -z "$(tail -c 1 out)" ]; do
    kill -0 "$pid" 2>/dev/null || fail "the server exited before listening"
    tries=$((tries + 1))
    [ "$tries" -le 500 ] || fail "no 'listening on' line within 10 s"
    sleep 0.02
  done
  port=$(sed -n 's/^listening on //p' out)
}
stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

for poller in epoll poll; do
  export AIO_POLLER=$poller
  start --cert server.pem --key server.key
  got=$(timeout 20 "$bin" client --cafile ca.pem --port "$port" --message "ping $poller") ||
    fail "client failed ($poller)"
  [ "$got" = "ping $poller (TLSv1.3)" ] || fail "got '$got' ($poller)"
  if err=$(timeout 20 "$bin" client --cafile other.pem --port "$port" 2>&1); then
    fail "a client trusting another CA connected"
  fi
  case "$err" in *CERTIFICATE_VERIFY_FAILED*) ;; *) fail "unexpected error: $err" ;; esac
  stop
  start --cert server.pem --key server.key --cafile ca.pem
  if timeout 20 "$bin" client --cafile ca.pem --port "$port" >/dev/null 2>&1; then
    fail "a client without a certificate passed mutual TLS"
  fi
  got=$(timeout 20 "$bin" client --cafile ca.pem --cert client.pem --key client.key \
    --port "$port" --message mutual) || fail "client with a certificate failed"
  [ "$got" = "mutual (TLSv1.3)" ] || fail "got '$got'"
  stop
done
echo PASS
