#!/bin/sh
# Run cmocka suites and tally them.
#
#   scripts/run-tests.sh BUILD_DIR "test_a test_b ..."
#
# Runs BUILD_DIR/tests/<name> for each name from the repository root, shows
# its output, and appends "<variant> <name> <passed> <failed> <skipped>" to
# BUILD_DIR/test-results.txt (reset on each call) for scripts/test-summary.sh.
# Exits non-zero if any suite failed or crashed.
set -u
dir=$1
names=$2
results="$dir/test-results.txt"
: > "$results"
status=0
variant=$(basename "$dir")
for name in $names; do
    bin="$dir/tests/$name"
    out=$(mktemp)
    "$bin" > "$out" 2>&1
    rc=$?
    cat "$out"
    # A suite may run several groups: each prints its own summary lines.
    passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{ n += $1 } END { print n + 0 }')
    failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{ n += $1 } END { print n + 0 }')
    skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | awk '{ n += $1 } END { print n + 0 }')
    passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # A crash or sanitizer report: cmocka never printed its summary.
        echo "$name ($variant): exited with status $rc" >&2
        failed=1
    fi
    [ "$rc" -ne 0 ] && status=1
    echo "$variant $name $passed $failed $skipped" >> "$results"
    rm -f "$out"
done
exit $status
