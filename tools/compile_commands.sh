#!/usr/bin/env bash
# Writes compile_commands.json at the workspace root for clangd-19 and clang-tidy-19: one entry
# per .cc/.cppm the build compiles and one per header (see tools/compile_commands.py).
#
#   tools/compile_commands.sh                  the default configuration
#   tools/compile_commands.sh --config=asan    any bazel flags: the commands of that build
#
# It builds //... first: module importers need the .pcm files their -fmodule-file= flags
# name, and headers are matched to their includers through the build's .d files. The flags are
# read from `bazel aquery`, so they follow whatever toolchain and options the build uses.
set -euo pipefail
cd "$(dirname "$0")/.."

flags=(--config=cache "$@")
bazel build "${flags[@]}" //...
workspace=$(bazel info "${flags[@]}" workspace 2>/dev/null)
execroot=$(bazel info "${flags[@]}" execution_root 2>/dev/null)
bazel aquery "${flags[@]}" --output=jsonproto \
  'mnemonic("CppCompile|CppModulePrecompile|CppModuleCompile", //...)' |
  python3 tools/compile_commands.py "$workspace" "$execroot" "$workspace/compile_commands.json"
