#!/usr/bin/env bash
# Runs clang-tidy-19 with the root .clang-tidy over every .cc and .cppm of compile_commands.json
# (headers through the sources that include them), two at a time. Prints each finding once (a
# header's finding is seen by every includer), then "N files, N findings"; exits non-zero if
# there is any finding (or a file clang-tidy could not parse).
#
#   tools/tidy.sh               everything (writes compile_commands.json first if missing)
#   tools/tidy.sh loop net/x.cc the sources under these directories, or these files
#   JOBS=N tools/tidy.sh        N files at a time
#
# After changing BUILD files or adding sources, re-run tools/compile_commands.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f compile_commands.json ]] || tools/compile_commands.sh
(($#)) || set -- .

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export out

tidy_one() {
  local log
  log="$out/$(tr / _ <<<"$1").log"
  clang-tidy-19 -p . --quiet "$1" >"$log" 2>&1 || echo "$1" >"$log.failed"
}
export -f tidy_one

# The sources compile_commands.json has entries for, limited to the paths asked for.
python3 -c '
import json, os, sys
paths = [os.path.normpath(p) for p in sys.argv[1:]]
for entry in json.load(open("compile_commands.json")):
    f = os.path.normpath(entry["file"])
    if f.endswith((".cc", ".cppm")) and any(p == "." or f == p or f.startswith(p + "/") for p in paths):
        print(f)' "$@" >"$out/files"
[[ -s $out/files ]] || { echo "tidy: no source in compile_commands.json under: $*" >&2; exit 2; }
xargs -P"${JOBS:-2}" -I{} bash -c 'tidy_one {}' <"$out/files"

# One line per finding: "path:line:col: error: message [check]", ./ dropped, each once.
cat "$out"/*.log | grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning): ' | sed 's|^\./||' | sort -u |
  tee "$out/findings"
failed=$(cat "$out"/*.failed 2>/dev/null | wc -l)
echo "$(wc -l <"$out/files") files, $(wc -l <"$out/findings") findings, $failed files with findings or errors"
((failed == 0))
