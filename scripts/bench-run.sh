#!/bin/sh
# Run the benchmarks one after the other and say how long each took.
#
#   scripts/bench-run.sh BUILD_DIR BENCH_BINARY...
#
# Runs each BENCH_BINARY, then scripts/replay-table.sh (the hit ratios on
# the LIRS traces) and bench/bench_hcachegen.sh (hcachegen against
# compiling what it writes for 10,000 declarations: minutes, mostly the
# compiler's). With HC_BENCH_QUICK set (make bench QUICK=1) the benchmarks
# make one run each instead of several (bench/bench.h) and the
# 10,000-declaration compile is skipped. After each benchmark, its wall
# time; at the end, a table of them and the total. Stops at the first
# benchmark that fails (a wrong answer or a failed call, never a time).
set -u
b=$1
shift
quick=
case ${HC_BENCH_QUICK:-0} in ''|0) ;; *) quick=1 ;; esac

times=$(mktemp "${TMPDIR:-/tmp}/bench-times.XXXXXX")
trap 'rm -f "$times"' EXIT
now() { date +%s.%N; }
start=$(now)

# run NAME COMMAND...: run it, print and record its wall time.
run() {
    name=$1
    shift
    echo "== $name"
    t0=$(now)
    "$@"
    st=$?
    t1=$(now)
    secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
    echo "-- $name: $secs s"
    echo "$name $secs" >> "$times"
    if [ "$st" -ne 0 ]; then
        echo "bench: $name failed (exit status $st)" >&2
        exit "$st"
    fi
}

for bin in "$@"; do run "$(basename "$bin")" "$bin"; done
run replay-table scripts/replay-table.sh "$b/hcache-replay"
if [ -n "$quick" ]; then
    echo "== bench_hcachegen.sh: skipped (QUICK=1: compiling the output of 10,000 declarations takes minutes)"
else
    run bench_hcachegen bench/bench_hcachegen.sh "$b"
fi

total=$(echo "$start $(now)" | awk '{ printf "%.1f", $2 - $1 }')
echo
echo "Wall time per benchmark${quick:+ (QUICK=1: one run each, bench_hcachegen skipped)}:"
awk '{ printf "  %-20s %8.1f s\n", $1, $2 }' "$times"
printf '  %-20s %8.1f s\n' total "$total"
