#!/usr/bin/env bash
# The one set-up script for a Debian 12 machine (run as root). Idempotent: it installs only the
# packages that are missing, then does what it is asked:
#
#   tools/setup.sh           install what is missing, nothing else
#   tools/setup.sh demo      ... then build and run the demo (examples/demo.cc)
#   tools/setup.sh test      ... then run the whole test suite under every build config
#                            (default, asan = ASan+UBSan, tsan), print "N passed, N failed"
#                            and exit non-zero if anything failed
#
# Nothing is downloaded by the build itself: Bazel runs offline against Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # Build: Bazel 4 from Debian, rules_java for its JDK toolchains, clang 19 and its sanitizer
  # runtimes, clang-format for the code style.
  bazel-bootstrap bazel-rules-java clang-19 libclang-rt-19-dev clang-format
  # Libraries, exposed to Bazel by the overlays in third_party/.
  libabsl-dev libc-ares-dev libgtest-dev libgmock-dev android-libboringssl-dev libbenchmark-dev
  # Real peers and oracles used by tests (dnsmasq: a real DNS server on loopback; socat, nc and
  # curl: real stream/datagram peers).
  python3 python3-uvloop dnsmasq-base socat netcat-openbsd curl memcached
  # TLS peers and test certificates (//tls): OpenSSL's CLI (s_server/s_client, and it makes the
  # CA and certificates at test time) and GnuTLS's gnutls-serv/gnutls-cli, a third TLS stack.
  openssl gnutls-bin
  # Other event loops that bench/ compares against.
  libuv1-dev libasio-dev
)

install_missing() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Prints one "N passed, N failed" line from Bazel test summaries read on stdin.
count_results() {
  awk '
    /^\/\/[^ ]+ +(\(cached\) )?PASSED/ { passed++ }
    /^\/\/[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)/ { failed++ }
    END { printf "%d passed, %d failed\n", passed, failed }'
}

run_tests() {
  local status=0 config log
  log=$(mktemp)
  # Each config is a full build of the suite; the disk cache (--config=ci) makes re-runs cheap.
  for config in default asan tsan; do
    local flags=(--config=ci)
    [[ $config != default ]] && flags+=("--config=$config")
    echo "=== bazel test ${flags[*]} //..."
    set +e
    bazel test "${flags[@]}" //... 2>&1 | tee -a "$log"
    local code=${PIPESTATUS[0]}
    set -e
    ((status == 0)) && status=$code
  done
  echo
  count_results <"$log"
  rm -f "$log"
  [[ ${CI:-} == true ]] && bazel shutdown
  return "$status"
}

install_missing
case "${1:-}" in
  "") ;;
  demo) bazel run --config=cache //examples:demo ;;
  test) run_tests ;;
  *)
    echo "usage: tools/setup.sh [demo|test]" >&2
    exit 2
    ;;
esac
