#!/usr/bin/env bash
# Run tap with the plain TAP reporter, keep its exit code, and end with one plain
# "N passed, N failed, N skipped" line built from tap's own closing "# { total: ... }" line.
# tap's 100% coverage gate is off (package.json); instead line coverage is printed here
# and must stay >= 90% (COVERAGE_MIN).
set -u -o pipefail
out=$(mktemp)
npx tap -R tap "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -E '^# \{ total: ' "$out" | tail -n 1)
num() { echo "$line" | grep -oE "$1: [0-9]+" | grep -oE '[0-9]+' || echo 0; }
rm -f "$out"
summary=.tap/report/coverage-summary.json
if [ "$#" -eq 0 ] && [ -f "$summary" ]; then
  pct=$(node -e "console.log(require('./$summary').total.lines.pct)")
  echo "line coverage: ${pct}% (minimum ${COVERAGE_MIN:-90}%)"
  if ! node -e "process.exit(Number('$pct') >= Number('${COVERAGE_MIN:-90}') ? 0 : 1)"; then
    echo "line coverage below ${COVERAGE_MIN:-90}%"
    [ "$rc" -eq 0 ] && rc=1
  fi
fi
if [ -z "$line" ]; then echo "tap: no summary line (exit $rc)"; exit $(( rc == 0 ? 1 : rc )); fi
echo "tap: $(num pass) passed, $(num fail) failed, $(( $(num skip) + $(num todo) )) skipped"
exit "$rc"
