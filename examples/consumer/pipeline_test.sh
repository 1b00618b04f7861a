#!/bin/sh
# The consumer's `import aio;` program: 300 items through the queue, their sum through a loopback
# echo, printed once (1 + 2 + ... + 300 = 45150).
set -eu
out=$("$1")
[ "$out" = "300 items, sum 45150" ] || { echo "FAIL: printed '$out'"; exit 1; }
echo "PASS: $out"
