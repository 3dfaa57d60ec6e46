#!/bin/sh
# Sum the results files written by scripts/run-tests.sh and print one line:
#   check: N passed, N failed, N skipped
cat "$@" 2>/dev/null | awk '
    { printf "  %-28s %-8s %4d passed %2d failed %2d skipped\n", $1, $2, $3, $4, $5
      p += $3; f += $4; s += $5 }
    END { printf "check: %d passed, %d failed, %d skipped\n", p, f, s; exit f > 0 }'
