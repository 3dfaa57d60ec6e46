#!/bin/sh
# Sum the results files written by scripts/run-tests.sh and print one line:
#   check: N passed, N failed, N skipped
# A results file that is missing means that step did not build or run.
missing=0
for f in "$@"; do
    [ -f "$f" ] || { echo "  $f: missing (the step failed to build or run)"; missing=$((missing + 1)); }
done
cat "$@" 2>/dev/null | awk -v missing="$missing" '
    { printf "  %-28s %-8s %4d passed %2d failed %2d skipped\n", $1, $2, $3, $4, $5
      p += $3; f += $4; s += $5 }
    END { f += missing
          printf "check: %d passed, %d failed, %d skipped\n", p, f, s; exit f > 0 }'
