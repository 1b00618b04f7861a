#!/bin/sh
# The consumer's echo_server binary against a real client (python3's socket module): it prints
# the port it chose, answers upper-cased, and is killed at the end (every wait is bounded).
set -eu
server="$1"
out=$(mktemp)
"$server" >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$out"' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: no 'listening on PORT' line:"; cat "$out"; exit 1; }
reply=$(python3 - "$port" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    s.sendall(b"consumer says hi")
    data = b""
    while len(data) < 16:
        chunk = s.recv(64)
        if not chunk:
            break
        data += chunk
print(data.decode())
PY
)
[ "$reply" = "CONSUMER SAYS HI" ] || { echo "FAIL: got '$reply'"; exit 1; }
echo "PASS: $reply"
