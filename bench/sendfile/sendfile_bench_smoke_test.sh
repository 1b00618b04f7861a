#!/bin/sh
# Smoke test of the sendfile benchmark: a 4 MiB file, one round of every method (cat | nc only if
# nc is installed); the table must have a positive MiB/s on every row and the file must be gone.
set -eu
bench="$1"
dir="${TEST_TMPDIR:-$(mktemp -d)}"
out=$("$bench" --mib 4 --rounds 1 --dir "$dir")
echo "$out"
rows=$(echo "$out" | grep -c '^| [^-m]' || true)
[ "$rows" -ge 3 ] || { echo "expected at least 3 rows, got $rows"; exit 1; }
echo "$out" | grep '^| [^-m]' | awk -F'|' '{ if (!($3 + 0 > 0)) { print "bad row: " $0; exit 1 } }'
if ls "$dir"/aio_sendfile_bench.* >/dev/null 2>&1; then
  echo "the file was not deleted"
  exit 1
fi
echo "ok"
