#!/bin/sh
# make bench QUICK=1, as a smoke test of the benchmarks and of their
# timing: every benchmark runs (one run each) and answers right, the
# summary gives each one's wall time and the total, and the 10,000-
# declaration compile is skipped. No figure is judged: a benchmark fails
# only on a wrong answer or a failed call.
#
#   tests/bench-test.sh BUILD_DIR [RESULTS]
#
# Appends "release bench P F S" to RESULTS.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/testlib.sh"
t_init bench "${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

if make --no-print-directory -C "$root" bench QUICK=1 > "$log" 2>&1; then
    ok "make bench QUICK=1"
else
    ko "make bench QUICK=1" "$log"
fi
missing=""
for b in "$root"/bench/bench_*.c; do
    n=$(basename "$b" .c)
    grep -q "^  $n  *[0-9.]* s\$" "$log" || missing="$missing $n"
done
grep -q '^  replay-table  *[0-9.]* s$' "$log" || missing="$missing replay-table"
grep -q '^  total  *[0-9.]* s$' "$log" || missing="$missing total"
if [ -z "$missing" ]; then ok "a wall time for each benchmark and the total"; else ko "no wall time for:$missing" "$log"; fi
if grep -q '^== bench_hcachegen.sh: skipped' "$log" && ! grep -q '^hcachegen: generate' "$log" &&
   grep -q 'best of 1 runs' "$log"; then
    ok "QUICK=1: one run each, bench_hcachegen skipped"
else
    ko "QUICK=1: one run each, bench_hcachegen skipped" "$log"
fi

t_done
