#!/usr/bin/env bash
# Parses files the way the editor will: `clangd-19 --check` on each, with the commands of
# compile_commands.json (run tools/compile_commands.sh first). Prints one line per file that
# has errors, then "N files, N clean, N with errors"; exits non-zero if any file has errors.
#
#   tools/clangd_check.sh                 every .cc, .cppm and .h in the tree
#   tools/clangd_check.sh loop net/x.h    the files under these directories, or these files
#
# --check-locations=0: only the parse and its diagnostics; clangd's per-location checks
# (hover, code actions) report "errors" for refactorings that do not apply, not for the code.
# --clang-tidy=0: clangd would also run the .clang-tidy checks; those are tools/tidy.sh's job,
# this script checks that every file parses as it is built.
# Runs two files at a time (the machines have 2 cores); JOBS=N to change that.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f compile_commands.json ]] || { echo "clangd_check: run tools/compile_commands.sh first" >&2; exit 2; }
(($#)) || set -- .

check_one() {
  local out errors
  out=$(clangd-19 --check="$1" --check-locations=0 --clang-tidy=0 2>&1) || true
  errors=$(sed -n 's/.*All checks completed, \([0-9]*\) errors.*/\1/p' <<<"$out")
  if [[ $errors == 0 ]]; then
    echo "ok $1"
  else
    echo "FAIL $1 (${errors:-clangd did not finish} errors)"
    grep -E '^E\[' <<<"$out" | head -5 | sed 's/^/    /'
  fi
}
export -f check_one

log=$(mktemp)
trap 'rm -f "$log"' EXIT
git ls-files -- "$@" | grep -E '\.(cc|cppm|h)$' | xargs -P"${JOBS:-2}" -I{} bash -c 'check_one {}' | tee "$log" | grep -v '^ok ' || true
total=$(grep -c -E '^(ok|FAIL) ' "$log" || true)
failed=$(grep -c '^FAIL ' "$log" || true)
echo "$total files, $((total - failed)) clean, $failed with errors"
((failed == 0))
