#!/usr/bin/env bash
# The one set-up script for a Debian 12 machine (run as root). Idempotent: it installs only the
# packages that are missing, then does what it is asked:
#
#   tools/setup.sh           install what is missing for everything below (and the developer
#                            tools: clangd, clang-tidy, clang-format), nothing else
#   tools/setup.sh demo      install only what the demo needs, then build and run it
#   tools/setup.sh test      install everything, then run the whole suite under every build config
#                            (default, asan = ASan+UBSan, tsan), print "N passed, N failed"
#                            and exit non-zero if anything failed
#
# Nothing is downloaded by the build itself: Bazel runs offline against Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the demo needs: Bazel 4 from Debian, rules_java for its JDK toolchains, clang 19, and the
# libraries the demo links (exposed to Bazel by the overlays in third_party/).
DEMO_PACKAGES=(bazel-bootstrap bazel-rules-java clang-19 libabsl-dev libc-ares-dev)
# What the whole suite needs on top.
TEST_PACKAGES=(
  # Sanitizer runtimes.
  libclang-rt-19-dev
  # Libraries of the other packages and tests.
  libgtest-dev libgmock-dev android-libboringssl-dev libbenchmark-dev
  # Real peers and oracles used by tests (dnsmasq: a real DNS server on loopback; socat, nc and
  # curl: real stream/datagram peers; memcached: a UDP peer the tests start themselves).
  python3 python3-uvloop dnsmasq-base socat netcat-openbsd curl memcached
  # TLS peers and test certificates (//tls): OpenSSL's CLI (s_server/s_client, and it makes the
  # CA and certificates at test time) and GnuTLS's gnutls-serv/gnutls-cli, a third TLS stack.
  openssl gnutls-bin
  # Other event loops that bench/ compares against.
  libuv1-dev libasio-dev
  # Debian's OpenSSL headers for Asio's ssl::stream in bench/tls (never mixed with BoringSSL's).
  libssl-dev
)

# Developer tools of the compiler's own version (19), so the editor, the linter and the
# formatter parse the code as clang-19 does (tools/compile_commands.sh, tools/tidy.sh); nginx
# (with WebDAV PUT) is the HTTP cache server of tools/remote_cache_proof.sh, which starts it
# itself on loopback.
DEV_PACKAGES=(clangd-19 clang-tidy-19 clang-format-19 nginx-light)

# Packages that would enable a system service: installed for tests and tools that start their
# own instance, so the service is disabled again (and never started: see policy-rc.d below).
SERVICE_PACKAGES=(memcached nginx-light)

# Installs the missing ones of the packages named. Test peers are started by the tests
# themselves: no service a package would start (memcached's) is started or left enabled.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's policy-rc.d hook: exit code 101 tells maintainer scripts not to start services.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  ((ours)) && rm -f "$policy"
  local service
  for p in "${missing[@]}"; do
    for service in "${SERVICE_PACKAGES[@]}"; do
      [[ $p == "$service" ]] || continue
      if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl disable --now "${p%-light}" >/dev/null 2>&1 || true
      fi
    done
  done
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
  # A consumer's workspace (local_repository + aio_dependencies() only), built offline.
  echo "=== tools/consumer_test.sh (examples/consumer, loopback-only network namespace)"
  set +e
  tools/consumer_test.sh 2>&1 | tee -a "$log"
  local code=${PIPESTATUS[0]}
  set -e
  ((status == 0)) && status=$code
  echo
  count_results <"$log"
  rm -f "$log"
  [[ ${CI:-} == true ]] && bazel shutdown
  return "$status"
}

case "${1:-}" in
  "")
    install_missing "${DEMO_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${DEV_PACKAGES[@]}"
    ;;
  demo)
    install_missing "${DEMO_PACKAGES[@]}"
    bazel run --config=cache //examples:demo
    ;;
  test)
    install_missing "${DEMO_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${DEV_PACKAGES[@]}"
    run_tests
    ;;
  *)
    echo "usage: tools/setup.sh [demo|test]" >&2
    exit 2
    ;;
esac
