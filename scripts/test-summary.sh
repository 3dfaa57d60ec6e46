#!/bin/sh
# The summary of `make check`: the results files written by its steps
# (scripts/run-tests.sh, the tests/*.sh scripts), as one aligned table,
# then the cause of every failure, then one line:
#   check: N passed, N failed, N skipped
#
#   scripts/test-summary.sh RESULTS...
#
# A results file holds "variant name passed failed skipped" lines. Beside
# it, a failures file (the same name with failures.txt for results.txt)
# holds what its step said about each failure: repeated here, so that the
# causes are next to the verdict rather than a thousand lines above it.
# A results file that is missing means that its step did not build or
# run; it counts as a failure.
missing=""
for f in "$@"; do
    [ -f "$f" ] || missing="$missing $f"
done

tmp=$(mktemp "${TMPDIR:-/tmp}/summary.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat "$@" 2>/dev/null | awk -v missing="$missing" '
    NF >= 5 { n++; v[n] = $1; s[n] = $2; P[n] = $3; F[n] = $4; S[n] = $5
              if (length($1) > wv) wv = length($1)
              if (length($2) > ws) ws = length($2)
              p += $3; f += $4; k += $5 }
    END {
        if (wv < 7) wv = 7
        if (ws < 5) ws = 5
        fmt = "  %-" wv "s  %-" ws "s  %6s  %6s  %7s\n"
        printf fmt, "variant", "suite", "passed", "failed", "skipped"
        for (i = 1; i <= n; i++) {
            mark = F[i] > 0 ? "   <- FAILED" : ""
            printf "  %-" wv "s  %-" ws "s  %6d  %6d  %7d%s\n", v[i], s[i], P[i], F[i], S[i], mark
        }
        m = split(missing, miss, " ")
        for (i = 1; i <= m; i++)
            printf "  %s: missing (its step failed to build or run)\n", miss[i]
        printf "check: %d passed, %d failed, %d skipped\n", p, f + m, k
    }' > "$tmp"
sed '$d' "$tmp"
verdict=$(tail -n 1 "$tmp")

causes=""
for f in "$@"; do
    c=$(printf '%s\n' "$f" | sed 's/results\.txt$/failures.txt/')
    [ "$c" != "$f" ] && [ -s "$c" ] && causes="$causes $c"
done
if [ -n "$causes" ]; then
    echo
    echo "What failed, and why (from$causes):"
    for c in $causes; do sed 's/^/  /' "$c"; done
    echo
fi
echo "$verdict"
case $verdict in
*" 0 failed,"*) exit 0 ;;
*) exit 1 ;;
esac
