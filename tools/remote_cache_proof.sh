#!/usr/bin/env bash
# Proof that aio's build outputs are safe to share through a remote cache (issue 17): a real
# HTTP cache (nginx with WebDAV PUT, Debian's nginx-light) on loopback, two clones of this
# repository in different directories, each with an output base of its own and no disk cache.
#
#   1. clone A builds //... and fills the cache;
#   2. clone B runs `bazel test //...`: every compile, precompile and link is a cache hit (none
#      runs locally) and every test passes;
#   3. A's clone and output base are deleted, a one-line change is made in B to a source that
#      `import`s the aio modules (so it is compiled against .pcm files A built at A's paths),
#      and B builds //... and runs the affected tests again.
#
# Prints one line per step and ends with PASS, or says what failed and exits non-zero.
# Takes as long as one cold build of //... plus one run of the suite (25-40 min on 2 cores).
#
#   tools/remote_cache_proof.sh [extra bazel flags...]      e.g. --config=asan
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v nginx >/dev/null || { echo "remote_cache_proof: needs nginx (apt-get install nginx-light)" >&2; exit 2; }
extra=("$@")

work=$(mktemp -d /tmp/aio-remote-cache-proof.XXXXXX)
nginx_pid=""
cleanup() {
  local ob
  for ob in "$work"/ob-*; do
    [[ -d $ob ]] && bazel --output_base="$ob" shutdown >/dev/null 2>&1 || true
  done
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the cache server: nginx in the foreground, one process, everything under $work ---------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/cache" "$work/nginx-tmp"
cat >"$work/nginx.conf" <<EOF
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events {}
http {
  access_log $work/nginx-access.log;
  client_body_temp_path $work/nginx-tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$port;
    root $work/cache;
    location / {
      dav_methods PUT;
      create_full_put_path on;
    }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 1 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
echo "cache: nginx $(nginx -v 2>&1 | sed 's|.*/||') on http://127.0.0.1:$port (WebDAV PUT), store $work/cache"

# --- helpers ------------------------------------------------------------------------------------
bazel_in() {  # bazel_in <clone> <command> [args...]: Bazel in a clone, with its own output base
  local clone=$1
  shift
  (cd "$work/$clone" && bazel --output_base="$work/ob-$clone" "$@")
}
flags=(--remote_cache="http://127.0.0.1:$port" --nosandbox_debug --color=no --curses=no "${extra[@]}")

# Counts the spawns of an execution log (--execution_log_json_file) by mnemonic and by whether
# they came from the remote cache; prints "<C++ compiles/precompiles/links run locally> <other
# build actions run locally> <cache hits> <tests run>" and, on stderr, each build action that ran
# locally.
count_spawns() {
  python3 - "$1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
dec, pos, spawns = json.JSONDecoder(), 0, []
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    obj, pos = dec.raw_decode(text, pos)
    spawns.append(obj)
local_build = [s for s in spawns if not s.get("remoteCacheHit") and s.get("mnemonic") != "TestRunner"]
cpp = [s for s in local_build if s.get("mnemonic", "").startswith("Cpp")]
hits = [s for s in spawns if s.get("remoteCacheHit")]
tests = [s for s in spawns if s.get("mnemonic") == "TestRunner" and not s.get("remoteCacheHit")]
for s in local_build:
    print("  ran locally: %s %s" % (s.get("mnemonic"), s.get("progressMessage", "")), file=sys.stderr)
print(len(cpp), len(local_build) - len(cpp), len(hits), len(tests))
PY
}

# --- 1. clone A fills the cache ------------------------------------------------------------------
git clone -q "$repo" "$work/a"
git clone -q "$repo" "$work/b"
echo "clones: $work/a and $work/b at $(git -C "$work/a" rev-parse --short HEAD)"
start=$SECONDS
bazel_in a build "${flags[@]}" --execution_log_json_file="$work/a.log" //... >"$work/a.out" 2>&1 ||
  { tail -30 "$work/a.out"; echo "FAIL: clone A's build"; exit 1; }
read -r a_cpp a_other a_hits _ < <(count_spawns "$work/a.log" 2>/dev/null)
echo "1. A: bazel build //... ($((SECONDS - start)) s): $a_cpp C++ actions and $a_other others ran locally, $a_hits cache hits; cache holds $(find "$work/cache" -type f | wc -l) entries ($(du -sh "$work/cache" | cut -f1))"

# --- 2. clone B: everything from the cache, the tests run --------------------------------------
start=$SECONDS
set +e
bazel_in b test "${flags[@]}" --execution_log_json_file="$work/b.log" //... >"$work/b.out" 2>&1
b_code=$?
set -e
read -r b_cpp b_other b_hits b_tests < <(count_spawns "$work/b.log" 2>"$work/b.local")
passed=$(grep -cE '^//[^ ]+ +PASSED' "$work/b.out" || true)
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS)' "$work/b.out" || true)
echo "2. B: bazel test //... ($((SECONDS - start)) s): $b_cpp C++ compiles/links and $b_other other build actions ran locally, $b_hits cache hits; $b_tests tests run: $passed passed, $failed failed"
sed 's/^/   /' "$work/b.local"
if ((b_code != 0 || b_cpp != 0 || failed != 0 || passed == 0)); then
  grep -E '^//|ERROR' "$work/b.out" | head -40
  echo "FAIL: clone B did not build from the cache alone, or a test failed"
  exit 1
fi

# --- 3. A is gone; a one-line change in B recompiles a module importer against A's .pcm --------
bazel --output_base="$work/ob-a" shutdown >/dev/null 2>&1 || true
rm -rf "$work/ob-a" "$work/a"
echo "3. A's output base and clone deleted"
importer=examples/import_aio_test.cc
echo "// one-line change made by tools/remote_cache_proof.sh" >>"$work/b/$importer"
start=$SECONDS
set +e
bazel_in b test "${flags[@]}" --execution_log_json_file="$work/b2.log" //... >"$work/b2.out" 2>&1
b2_code=$?
set -e
read -r b2_cpp b2_other _ b2_tests < <(count_spawns "$work/b2.log" 2>"$work/b2.local")
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$work/b2.out" || true)
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS)' "$work/b2.out" || true)
echo "   B after the change ($((SECONDS - start)) s): $b2_cpp C++ and $b2_other other build actions ran locally:"
sed 's/^/   /' "$work/b2.local"
echo "   $b2_tests tests run; //... $passed passed, $failed failed"
if ((b2_code != 0 || failed != 0)) || ! grep -q "import_aio_test" "$work/b2.local"; then
  grep -E '^//|ERROR|error:' "$work/b2.out" | head -40
  echo "FAIL: clone B did not build and pass after the change with A gone"
  exit 1
fi
echo "PASS: B built //... from the cache with no local compile, and after A was deleted"
