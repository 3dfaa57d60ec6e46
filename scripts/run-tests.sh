#!/bin/sh
# Run cmocka suites and tally them.
#
#   scripts/run-tests.sh BUILD_DIR "test_a test_b ..."
#
# Runs BUILD_DIR/tests/<name> for each name from the repository root, shows
# its output, and appends "<variant> <name> <passed> <failed> <skipped>" to
# BUILD_DIR/test-results.txt (reset on each call) for scripts/test-summary.sh.
# For a suite that fails, the lines that say why (cmocka's FAILED, ERROR and
# LINE lines, a sanitizer's report and the top of its stack, or the end of
# the output of a suite that died without a summary) go to
# BUILD_DIR/test-failures.txt, which the summary repeats.
# Exits non-zero if any suite failed or crashed.
set -u
dir=$1
names=$2
results="$dir/test-results.txt"
failures="$dir/test-failures.txt"
: > "$results"
: > "$failures"
status=0
variant=$(basename "$dir")

# Output a suite produces on purpose, not shown: test_codec asks ASan for
# an impossible allocation (allocator_may_return_null), and ASan warns.
noise() {
    case $1 in
    test_codec) grep -v -E '^==[0-9]+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$' ;;
    *) cat ;;
    esac
}

# The cause of a failure, from a suite's output: cmocka's verdict lines and
# a sanitizer's report with the first frames of its stack; when there is
# neither, the last lines.
causes() {
    awk '
        / test\(s\), listed below:$/ { next }
        /^\[  (FAILED|ERROR ) *\]|^\[   LINE   \]/ { if (!seen[$0]++) print; n++; next }
        /==[0-9]+==ERROR: |WARNING: ThreadSanitizer|runtime error: |^SUMMARY: / { print; n++; stack = 6; next }
        stack > 0 && /^ *#[0-9]+ / { print; stack--; next }
        END { exit n == 0 }
    ' "$1" | head -n 60 || tail -n 15 "$1"
}

for name in $names; do
    bin="$dir/tests/$name"
    out=$(mktemp)
    "$bin" > "$out" 2>&1
    rc=$?
    noise "$name" < "$out"
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
    if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
        status=1
        {
            echo "$variant $name (exit status $rc):"
            causes "$out" | sed 's/^/    /'
        } >> "$failures"
    fi
    echo "$variant $name $passed $failed $skipped" >> "$results"
    rm -f "$out"
done
exit $status
