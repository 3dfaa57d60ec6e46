#!/bin/sh
# Hit ratios of HydraCache on the LIRS traces, as a Markdown table.
#
#   scripts/replay-table.sh REPLAY_BINARY
#
# Runs REPLAY_BINARY (build/release/hcache-replay) on every *.trace.gz in
# ${HC_TRACES:-tests/traces} (a relative path is taken from the repo
# root) at capacities 250, 500, 1000 and 2000, and prints each point next to
# the Caffeine and OPT figures of REFERENCE.md in the same folder. LRU comes
# from this run (the tool's exact LRU), which doubles as a check of the
# replay: it must match REFERENCE.md's LRU column, and a mismatch is reported.
#
# Means are over the points REFERENCE.md has (cpp and multi1 have none, so
# they show '-' and stay out of the means); "better of two" is, per point,
# the better of LRU and Caffeine, the bar the policy aims at.
#
# The reference table is parsed, not copied, so that updating REFERENCE.md
# is enough. POSIX sh and awk only.
set -eu

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 REPLAY_BINARY" >&2
    exit 2
fi
replay=$1
caps=250,500,1000,2000

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${HC_TRACES:-tests/traces}
case $dir in
/*) ;;
*) dir=$root/$dir ;;
esac
ref=$dir/REFERENCE.md

if [ ! -x "$replay" ]; then
    echo "$0: $replay is not an executable (run make first)" >&2
    exit 1
fi
if [ ! -r "$ref" ]; then
    echo "$0: cannot read $ref (set HC_TRACES to the traces folder)" >&2
    exit 1
fi

# One "trace capacity hydracache lru" line per point. A temporary file
# rather than a pipe, so that a failing replay stops the script.
results=$(mktemp "${TMPDIR:-/tmp}/replay-table.XXXXXX")
trap 'rm -f "$results"' EXIT INT TERM

found=0
for t in "$dir"/*.trace.gz; do
    [ -e "$t" ] || continue
    found=1
    name=$(basename "$t" .trace.gz)
    out=$("$replay" "$t" "$caps") || {
        echo "$0: $replay failed on $t" >&2
        exit 1
    }
    printf '%s\n' "$out" | awk -v name="$name" '
        {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                v[kv[1]] = kv[2]
            }
            if (v["capacity"] == "" || v["hydracache"] == "" || v["lru"] == "") {
                print "unexpected replay output: " $0 > "/dev/stderr"
                exit 1
            }
            print name, v["capacity"], v["hydracache"], v["lru"]
        }' >>"$results"
done
if [ "$found" = 0 ]; then
    echo "$0: no *.trace.gz in $dir" >&2
    exit 1
fi

awk '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    function max(a, b) { return a > b ? a : b }
    function fmt(x) { return sprintf("%.2f", x) }

    BEGIN {
        printf "| trace | capacity | LRU (this run) | HydraCache | Caffeine 2.6.2 |"
        print " OPT | shortfall to OPT |"
        print "|---|---:|---:|---:|---:|---:|---:|"
    }

    # REFERENCE.md: | trace | capacity | LRU | Caffeine 2.6.2 | OPT |
    FNR == NR {
        if ($0 !~ /^\|/) next
        nf = split($0, f, "|")
        if (nf < 7) next
        tr = trim(f[2]); cap = trim(f[3])
        if (cap !~ /^[0-9]+$/) next          # the header and the --- line
        key = tr SUBSEP cap
        reflru[key] = trim(f[4]) + 0
        caf[key] = trim(f[5]) + 0
        opt[key] = trim(f[6]) + 0
        nref++
        next
    }

    # The replay results: trace capacity hydracache lru
    {
        key = $1 SUBSEP $2
        if (!(key in opt)) {
            printf "| %s | %s | %.2f | %.2f | - | - | - |\n", $1, $2, $4, $3
            next
        }
        hc = $3 + 0; lru = $4 + 0
        printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
               $1, $2, lru, hc, caf[key], opt[key], opt[key] - hc
        n++
        s_hc += opt[key] - hc
        s_lru += opt[key] - lru
        s_caf += opt[key] - caf[key]
        s_best += opt[key] - max(lru, caf[key])
        # Within 0.5 points of the better of LRU and Caffeine is the target.
        if (hc < max(lru, caf[key]) - 0.5) {
            below++
            belowlist = belowlist sprintf(" %s@%s", $1, $2)
        }
        d = lru - reflru[key]
        if (d > 0.005 || d < -0.005) {
            bad++
            badlist = badlist sprintf(" %s@%s (%.2f, reference %.2f)",
                                      $1, $2, lru, reflru[key])
        }
    }

    END {
        if (nref == 0) {
            print "replay-table.sh: no reference rows in REFERENCE.md" > "/dev/stderr"
            exit 1
        }
        if (n == 0) {
            print ""
            print "No replayed point has a reference figure."
            exit 0
        }
        print ""
        printf "Mean shortfall to OPT over the %d referenced points (percentage points):\n", n
        printf "HydraCache %s, LRU %s, Caffeine 2.6.2 %s, better of LRU and Caffeine %s.\n",
               fmt(s_hc / n), fmt(s_lru / n), fmt(s_caf / n), fmt(s_best / n)
        print ""
        if (below)
            printf "More than 0.5 points below the better of LRU and Caffeine " \
                   "at %d point(s):%s.\n", below, belowlist
        else
            print "HydraCache is within 0.5 points of the better of LRU and Caffeine at every point."
        if (bad) printf "WARNING: this run'"'"'s LRU differs from REFERENCE.md at%s.\n", badlist
        else print "This run'"'"'s LRU matches REFERENCE.md'"'"'s at every point."
    }
' "$ref" "$results"
