#!/usr/bin/env bash
# Builds and tests examples/consumer, a workspace of its own that uses aio only through
# `local_repository` + `aio_dependencies()` (no .bazelrc of its own), in a network namespace that
# has nothing but loopback: proof that a consumer builds offline. Prints Bazel's test summary
# with the consumer's labels as //examples/consumer:<name>, and exits with Bazel's code.
#   tools/consumer_test.sh [extra bazel test flags...]
set -euo pipefail
cd "$(dirname "$0")/../examples/consumer"
flags=(--nosandbox_debug --test_output=errors --disk_cache="$HOME/.cache/aio-bazel-disk-cache" "$@")
run() {
  set +e
  bazel test "${flags[@]}" //... 2>&1 | sed -e 's|^//:|//examples/consumer:|'
  local code=${PIPESTATUS[0]}
  bazel shutdown
  return "$code"
}
# A server left from a run outside the namespace could not be reached from inside it.
bazel shutdown 2>/dev/null || true
if unshare -n true 2>/dev/null; then
  # A new network namespace: only lo, brought up (Bazel's client talks to its server on it).
  export -f run
  export flags_serialized="${flags[*]}"
  exec unshare -n bash -c 'ip link set lo up && flags=($flags_serialized) && run'
else
  echo "consumer_test: cannot create a network namespace here (needs root); building with the network" >&2
  run
fi
