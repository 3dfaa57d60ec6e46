#!/bin/sh
# Run hcachegen over every tests/bad/*.hcache and check its diagnostics.
#
#   tests/bad-inputs.sh BUILD_DIR [RESULTS_FILE]
#
# Each case names the errors it expects, in order, one per line:
#   // expect: LINE:COL: error: MESSAGE-SUBSTRING
# either as leading comment lines of NAME.hcache or, where a comment would
# change the input (the empty file), in a sidecar NAME.expect (which wins).
#
# For each case: the exit status is 1; stderr holds each expected
# "FILE:LINE:COL: error: ..." line in that order, and no other error (a
# case lists every error its input has); every error and note line
# is followed by the source line and a caret under the reported column;
# nothing is written to the output directory; and, run again as shop.hcache
# against an output directory that already holds shop.hc.h and shop.hc.c,
# those files are left byte-identical with their modification times.
# Under a sanitizer build any "ERROR: AddressSanitizer", "ERROR:
# LeakSanitizer" or "runtime error:" fails the case.
#
# Prints one line per failed case and ends with "bad-inputs: N passed, M
# failed"; with RESULTS_FILE, appends "<variant> bad-inputs N M 0" to it
# (the format of scripts/run-tests.sh, for scripts/test-summary.sh).
set -u
LC_ALL=C
export LC_ALL

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [RESULTS_FILE]" >&2
    exit 2
fi
build=$1
results=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
bad=$here/bad

gen=$(cd "$build" 2>/dev/null && pwd)/hcachegen
if [ ! -x "$gen" ]; then
    echo "bad-inputs: $build/hcachegen is missing (build it first)" >&2
    [ -n "$results" ] && echo "$(basename "$build") bad-inputs 0 1 0" >> "$results"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bad-inputs.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
sanitizer_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'

# The reference contents and time of the outputs that must survive.
printf '/* shop.hc.h: made by hand, must survive */\n' > "$work/ref.h"
printf '/* shop.hc.c: made by hand, must survive */\n' > "$work/ref.c"
touch -t 200001020304 "$work/ref.h" "$work/ref.c" "$work/stamp"

# check_stderr EXPECTS STDERR FILE: print the problems found, if any.
check_stderr() {
    awk -v file="$3" -v expfile="$1" '
        BEGIN {
            ne = 0
            while ((getline l < expfile) > 0)
                if (substr(l, 1, 11) == "// expect: ") want_l[++ne] = substr(l, 12)
            if (ne == 0) { print "no expect lines"; bad = 1 }
            k = 1; nerr = 0
        }
        { line[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                l = line[i]
                if (l ~ /^[^ ].*:[0-9]+:[0-9]+: (error|note): /) {
                    # the location: the last "N:N: kind: " before the message
                    rest = l
                    if (substr(l, 1, length(file) + 1) == file ":")
                        rest = substr(l, length(file) + 2)
                    else {
                        print "diagnostic not about " file ": " l; bad = 1
                    }
                    split(rest, p, ":")
                    col = p[2] + 0
                    src = line[i + 1]; caret = line[i + 2]
                    if (i + 2 > NR || substr(src, 1, 1) != " " || caret !~ /^ [ \t]*\^$/) {
                        print "no source line and caret after: " l; bad = 1
                    } else if (length(caret) - 1 != col) {
                        print "caret at column " length(caret) - 1 " but reported " col ": " l; bad = 1
                    }
                    if (l ~ /: error: /) nerr++
                    if (l ~ /: error: / && k <= ne) {
                        e = want_l[k]; c = index(e, ": error: ")
                        want = file ":" substr(e, 1, c + 8)
                        if (substr(l, 1, length(want)) == want &&
                            index(substr(l, length(want) + 1), substr(e, c + 9)) > 0)
                            k++
                    }
                }
            }
            if (k <= ne) {
                print "expected, in order after the earlier ones: " file ":" want_l[k]; bad = 1
            } else if (nerr != ne) {
                print nerr " errors reported, " ne " expected"; bad = 1
            }
            exit bad
        }' "$2"
}

# expects_of CASE OUT: the expect lines of a case into OUT.
expects_of() {
    side=${1%.hcache}.expect
    if [ -f "$side" ]; then
        cat "$side" > "$2"
    else
        tr -d '\000' < "$1" | sed -n '/^\/\/ expect: /p' > "$2"
    fi
}

for input in "$bad"/*.hcache; do
    [ -f "$input" ] || continue
    name=$(basename "$input" .hcache)
    why=""
    out=$work/out
    rm -rf "$out" && mkdir "$out"
    expects_of "$input" "$work/expect"

    # 1. In its own name, into an empty directory, from inside tests/bad so
    #    the diagnostics name the file as "NAME.hcache".
    (cd "$bad" && exec "$gen" -o "$out" "$name.hcache") > "$work/stdout" 2> "$work/stderr"
    rc=$?
    if grep -Eq "$sanitizer_re" "$work/stderr"; then
        why="sanitizer report"
    elif [ "$rc" -ne 1 ]; then
        why="exit status $rc, not 1"
    elif ! problems=$(check_stderr "$work/expect" "$work/stderr" "$name.hcache"); then
        why=$(printf '%s\n' "$problems" | head -n 1)
    elif [ -n "$(ls -A "$out")" ]; then
        why="wrote into the output directory: $(ls -A "$out" | tr '\n' ' ')"
    elif [ -s "$work/stdout" ]; then
        why="printed on stdout"
    fi

    # 2. As shop.hcache, over existing outputs that must stay as they are.
    if [ -z "$why" ]; then
        rm -rf "$work/in" && mkdir "$work/in"
        cp "$input" "$work/in/shop.hcache"
        cp -p "$work/ref.h" "$out/shop.hc.h"
        cp -p "$work/ref.c" "$out/shop.hc.c"
        touch -t 200001020304 "$out"      # a temporary file made and removed shows too
        "$gen" -o "$out" "$work/in/shop.hcache" > /dev/null 2> "$work/stderr2"
        rc=$?
        if grep -Eq "$sanitizer_re" "$work/stderr2"; then
            why="sanitizer report (as shop.hcache)"
        elif [ "$rc" -ne 1 ]; then
            why="exit status $rc as shop.hcache, not 1"
        elif ! cmp -s "$out/shop.hc.h" "$work/ref.h" || ! cmp -s "$out/shop.hc.c" "$work/ref.c"; then
            why="changed the existing shop.hc.h/shop.hc.c"
        elif [ -n "$(find "$out" -newer "$work/stamp")" ]; then
            why="touched the output directory: $(find "$out" -newer "$work/stamp" | tr '\n' ' ')"
        elif [ "$(ls -A "$out" | tr '\n' ' ')" != "shop.hc.c shop.hc.h " ]; then
            why="left files in the output directory: $(ls -A "$out" | tr '\n' ' ')"
        fi
    fi

    if [ -z "$why" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED $name: $why"
        # The cause again, for the summary of make check.
        [ -n "$results" ] && { echo "$(basename "$build") bad-inputs: FAILED $name: $why"
                               sed -n '1,6s/^/    | /p' "$work/stderr"; } >> "${results%results.txt}failures.txt"
        if [ -n "${BAD_INPUTS_VERBOSE:-}" ]; then
            sed 's/^/    | /' "$work/stderr"
        fi
    fi
done

echo "bad-inputs: $passed passed, $failed failed"
[ -n "$results" ] && echo "$(basename "$build") bad-inputs $passed $failed 0" >> "$results"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
