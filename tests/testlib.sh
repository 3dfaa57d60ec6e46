# tests/testlib.sh -- what the shell tests of `make check` share (sourced).
#
#   . tests/testlib.sh
#   t_init NAME [RESULTS]     start counting; RESULTS is the results file
#   ok "what"                 a passed check
#   ko "what" [DETAIL_FILE]   a failed one (and the file that says why)
#   t_skip "what"             a skipped one
#   t_done                    print "NAME: N passed, N failed, N skipped",
#                             append "release NAME P F S" to RESULTS, exit
#
# A failure is also appended to the failures file beside RESULTS (the same
# name with failures.txt for results.txt), with the last lines of its
# detail file, so that scripts/test-summary.sh can repeat the cause under
# the summary of `make check`, far below the test's own output.

# The make that runs a test (make check) must not reach the makes the test
# runs: its flags (-s, -n, -j with its jobserver) and its command-line
# variables (CC=clang, SANITIZE=...) travel in these.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

# t_version: the version, from the three numbers of hydracache/core.h (run
# from the tree's root), as the Makefile reads it.
t_version() {
    sed -n 's/^#define HC_VERSION_\(MAJOR\|MINOR\|PATCH\)  *\([0-9][0-9]*\).*/\2/p' \
        runtime/include/hydracache/core.h | paste -sd. -
}

t_init() {
    t_name=$1
    t_results=${2:-}
    t_failures=
    [ -n "$t_results" ] && t_failures=$(printf '%s\n' "$t_results" | sed 's/results\.txt$/failures.txt/')
    t_passed=0 t_failed=0 t_skipped=0
}

ok() {
    t_passed=$((t_passed + 1))
    echo "[       OK ] $t_name: $1"
}

ko() {
    t_failed=$((t_failed + 1))
    echo "[  FAILED  ] $t_name: $1" >&2
    if [ -n "${2:-}" ] && [ -s "$2" ]; then tail -n 30 "$2" | sed 's/^/    /' >&2; fi
    if [ -n "$t_failures" ]; then
        {
            echo "[  FAILED  ] $t_name: $1"
            if [ -n "${2:-}" ] && [ -s "$2" ]; then tail -n 15 "$2" | sed 's/^/    /'; fi
        } >> "$t_failures"
    fi
}

t_skip() {
    t_skipped=$((t_skipped + 1))
    echo "[  SKIPPED ] $t_name: $1"
}

t_done() {
    echo "$t_name: $t_passed passed, $t_failed failed, $t_skipped skipped"
    [ -n "$t_results" ] && echo "release $t_name $t_passed $t_failed $t_skipped" >> "$t_results"
    [ "$t_failed" -eq 0 ]
    exit
}
