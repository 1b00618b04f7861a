#!/usr/bin/env bash
# One idempotent set-up for a Debian 12 machine (run as root), then an optional action:
#   tools/setup.sh demo   install what is missing, build and run the demo
#   tools/setup.sh test   install what is missing, run the whole test suite
# Safe to re-run: apt-get is only called for packages that are not installed yet.
set -euo pipefail

PACKAGES=(
  # Build: Bazel 4 from Debian, rules_java for its JDK toolchains, clang 19.
  bazel-bootstrap bazel-rules-java clang-19 libclang-rt-19-dev clang-format
  # Libraries the project links against, exposed by third_party/ overlays.
  libabsl-dev libc-ares-dev libgtest-dev libgmock-dev android-libboringssl-dev libbenchmark-dev
  # Real peers used by tests.
  python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
