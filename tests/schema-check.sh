#!/bin/sh
# Check hcachegen's --schema and --pg-check against the cases in tests/schema.
#
#   tests/schema-check.sh BUILD_DIR [RESULTS_FILE]
#
# tests/schema holds:
#   schema.sql       the SQLite schema given to --schema
#   pg-schema.sql    the same tables for PostgreSQL, loaded with psql into a
#                    schema of this run's own (dropped at the end), which
#                    hcachegen finds through PGOPTIONS='-c search_path=...'
#   bad-schema.sql   a schema with a mistake in it
#   good.hcache      valid against both
#   lite-*.hcache    cases run with --schema schema.sql (a "// schema: F"
#                    line gives another schema file)
#   pg-*.hcache      cases run with --pg-check
#   both-*.hcache    cases run with both options at once
#
# Each case names the diagnostics it expects, in order, in leading comments:
#   // expect: LINE:COL: error: MESSAGE-START         (in the case itself)
#   // expect: FILE:LINE:COL: error: MESSAGE-START    (in FILE, the schema)
#   // expect: LINE:COL: note: MESSAGE-START
# A case passes when hcachegen, run from tests/schema, exits with status 1;
# its stderr holds the expected diagnostics in that order (other notes, such
# as the PostgreSQL server's hints, may come between) and no other error;
# every diagnostic is followed by its source line and a caret under the
# reported column; the last line is "NAME.hcache: N error(s); nothing
# written"; nothing is written to the output directory, the depfile
# included; and, run again as shop.hcache over an output directory that
# holds shop.hc.h and shop.hc.c, it leaves those byte-identical with their
# modification times. Under a sanitizer build any sanitizer report fails a
# case. A few more checks: good.hcache writes its outputs (the same as
# without --schema) and a depfile that lists the schema, --check writes
# nothing, a missing schema file and an unreachable server exit with 2.
#
# PostgreSQL: the pg-* and both-* cases need a server, named by the libpq
# connection string in HC_PG_CONNINFO (scripts/pg.sh run sets it). Without
# it they are skipped if HC_SKIP_PG=1 and fail otherwise.
#
# Prints one line per failed check and a summary; with RESULTS_FILE, appends
# "<variant> schema N M 0" and "<variant> schema-pg N M S" to it (the format
# of scripts/run-tests.sh, for scripts/test-summary.sh).
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
dir=$here/schema
variant=$(basename "$build")

gen=$(cd "$build" 2>/dev/null && pwd)/hcachegen
if [ ! -x "$gen" ]; then
    echo "schema-check: $build/hcachegen is missing (build it first)" >&2
    if [ -n "$results" ]; then
        echo "$variant schema 0 1 0" >> "$results"
        echo "$variant schema-pg 0 1 0" >> "$results"
    fi
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/schema-check.XXXXXX") || exit 2
pgschema="" pgprojects=""
cleanup() {
    for s in $pgschema $pgprojects; do
        PGOPTIONS= psql "$HC_PG_CONNINFO" -X -q -c "DROP SCHEMA IF EXISTS $s CASCADE" \
            > /dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lite_passed=0 lite_failed=0
pg_passed=0 pg_failed=0 pg_skipped=0
sanitizer_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'

# tally GROUP NAME WHY: count a check as passed (WHY empty) or failed.
tally() {
    if [ -z "$3" ]; then
        eval "$1_passed=\$((\$1_passed + 1))"
    else
        eval "$1_failed=\$((\$1_failed + 1))"
        echo "FAILED $2: $3"
        # The cause again, for the summary of make check.
        [ -n "$results" ] && { echo "$variant schema: FAILED $2: $3"
                               [ -f "$work/stderr" ] && sed -n '1,6s/^/    | /p' "$work/stderr"; } \
                             >> "${results%results.txt}failures.txt"
        if [ -n "${SCHEMA_CHECK_VERBOSE:-}" ] && [ -f "$work/stderr" ]; then
            sed 's/^/    | /' "$work/stderr"
        fi
    fi
}

# invoke KIND SCHEMA INPUT ARGS...: hcachegen with the options of a case of
# kind lite, pg or both.
invoke() {
    i_kind=$1 i_schema=$2 i_input=$3
    shift 3
    case $i_kind in lite|both) set -- "$@" --schema "$i_schema" ;; esac
    case $i_kind in pg|both) set -- "$@" --pg-check "$HC_PG_CONNINFO" ;; esac
    "$gen" "$@" "$i_input"
}

# check_stderr EXPECTS STDERR FILE: print the problems found, if any.
check_stderr() {
    awk -v file="$3" -v expfile="$1" '
        BEGIN {
            ne = 0; nerr_want = 0
            while ((getline l < expfile) > 0) {
                if (substr(l, 1, 11) != "// expect: ") continue
                w = substr(l, 12)
                if (w ~ /^[0-9]/) w = file ":" w
                want[++ne] = w
                if (w ~ /:[0-9]+:[0-9]+: error: /) nerr_want++
            }
            if (ne == 0) { print "no expect lines"; bad = 1 }
            k = 1; nerr = 0
        }
        { line[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                l = line[i]
                if (substr(l, 1, 1) == " " || !match(l, /:[0-9]+:[0-9]+: (error|note): /)) continue
                split(substr(l, RSTART + 1), p, ":")
                col = p[2] + 0
                src = line[i + 1]; caret = line[i + 2]
                if (i + 2 > NR || substr(src, 1, 1) != " " || caret !~ /^ [ \t]*\^$/) {
                    print "no source line and caret after: " l; bad = 1
                } else if (length(caret) - 1 != col) {
                    print "caret at column " length(caret) - 1 " but reported " col ": " l; bad = 1
                }
                if (l ~ /^[^ ]*:[0-9]+:[0-9]+: error: /) nerr++
                if (k <= ne) {
                    w = want[k]
                    match(w, /:[0-9]+:[0-9]+: (error|note): /)
                    head = substr(w, 1, RSTART + RLENGTH - 1); msg = substr(w, RSTART + RLENGTH)
                    if (substr(l, 1, length(head)) == head &&
                        substr(l, length(head) + 1, length(msg)) == msg)
                        k++
                }
            }
            if (k <= ne) {
                print "expected, in order after the earlier ones: " want[k]; bad = 1
            } else if (nerr != nerr_want) {
                print nerr " errors reported, " nerr_want " expected"; bad = 1
            }
            summary = file ": " nerr " error" (nerr == 1 ? "" : "s") "; nothing written"
            if (NR == 0 || line[NR] != summary) {
                print "the last line is not \"" summary "\""; bad = 1
            }
            exit bad
        }' "$2"
}

# The reference contents and time of the outputs that must survive.
printf '/* shop.hc.h: made by hand, must survive */\n' > "$work/ref.h"
printf '/* shop.hc.c: made by hand, must survive */\n' > "$work/ref.c"
touch -t 200001020304 "$work/ref.h" "$work/ref.c" "$work/stamp"

# run_case KIND FILE: one bad case; prints why it failed, if it did.
run_case() {
    kind=$1 input=$2
    name=$(basename "$input" .hcache)
    schema=$(sed -n 's|^// schema: \([^ ]*\)$|\1|p' "$input" | head -n 1)
    schema=${schema:-schema.sql}
    out=$work/out
    rm -rf "$out" && mkdir "$out"
    sed -n '/^\/\/ expect: /p' "$input" > "$work/expect"

    # 1. In its own name, from tests/schema, into an empty directory.
    (cd "$dir" && invoke "$kind" "$schema" "$name.hcache" -o "$out" --depfile "$out/$name.d") \
        > "$work/stdout" 2> "$work/stderr"
    rc=$?
    if grep -Eq "$sanitizer_re" "$work/stderr"; then
        echo "sanitizer report"; return
    elif [ "$rc" -ne 1 ]; then
        echo "exit status $rc, not 1"; return
    elif ! problems=$(check_stderr "$work/expect" "$work/stderr" "$name.hcache"); then
        printf '%s\n' "$problems" | head -n 1; return
    elif [ -n "$(ls -A "$out")" ]; then
        echo "wrote into the output directory: $(ls -A "$out" | tr '\n' ' ')"; return
    elif [ -s "$work/stdout" ]; then
        echo "printed on stdout"; return
    fi

    # 2. As shop.hcache, over existing outputs that must stay as they are.
    rm -rf "$work/in" && mkdir "$work/in"
    cp "$input" "$work/in/shop.hcache"
    cp -p "$work/ref.h" "$out/shop.hc.h"
    cp -p "$work/ref.c" "$out/shop.hc.c"
    touch -t 200001020304 "$out"      # a temporary file made and removed shows too
    invoke "$kind" "$dir/$schema" "$work/in/shop.hcache" -o "$out" --depfile "$out/shop.d" \
        > /dev/null 2> "$work/stderr2"
    rc=$?
    if grep -Eq "$sanitizer_re" "$work/stderr2"; then
        echo "sanitizer report (as shop.hcache)"
    elif [ "$rc" -ne 1 ]; then
        echo "exit status $rc as shop.hcache, not 1"
    elif ! cmp -s "$out/shop.hc.h" "$work/ref.h" || ! cmp -s "$out/shop.hc.c" "$work/ref.c"; then
        echo "changed the existing shop.hc.h/shop.hc.c"
    elif [ -n "$(find "$out" -newer "$work/stamp")" ]; then
        echo "touched the output directory: $(find "$out" -newer "$work/stamp" | tr '\n' ' ')"
    elif [ "$(ls -A "$out" | tr '\n' ' ')" != "shop.hc.c shop.hc.h " ]; then
        echo "left files in the output directory: $(ls -A "$out" | tr '\n' ' ')"
    fi
}

# run_good KIND: good.hcache passes, writes what it writes without the
# check, and (with --schema) lists the schema in the depfile.
# same A B EXT: A/good.hc.EXT and B/good.hc.EXT are the same output
# written into two directories (#line names an output by its path).
same() {
    sed "s|^\(#line [0-9]* \"\)$2/|\1$1/|" "$2/good.hc.$3" | cmp -s "$1/good.hc.$3" -
}

run_good() {
    kind=$1
    out=$work/good-$kind plain=$work/good-plain
    rm -rf "$out" "$plain" && mkdir "$out" "$plain"
    (cd "$dir" && invoke "$kind" schema.sql good.hcache -o "$out" --depfile "$out/good.d") \
        > "$work/stdout" 2> "$work/stderr"
    rc=$?
    (cd "$dir" && "$gen" -o "$plain" good.hcache) > /dev/null 2>&1
    if grep -Eq "$sanitizer_re" "$work/stderr"; then
        echo "sanitizer report"
    elif [ "$rc" -ne 0 ]; then
        echo "exit status $rc, not 0: $(head -n 1 "$work/stderr")"
    elif [ -s "$work/stderr" ] || [ -s "$work/stdout" ]; then
        echo "printed something: $(cat "$work/stdout" "$work/stderr" | head -n 1)"
    elif ! same "$out" "$plain" h || ! same "$out" "$plain" c; then
        echo "outputs differ from those written without the check"
    elif [ "$kind" = lite ] && ! head -n 1 "$out/good.d" | grep -q ': good.hcache schema.sql '; then
        echo "the depfile does not list schema.sql: $(head -n 1 "$out/good.d")"
    elif [ "$kind" = lite ] && ! grep -qx 'schema.sql:' "$out/good.d"; then
        echo "the depfile has no empty rule for schema.sql"
    elif [ "$kind" = pg ] && grep -q 'schema\.sql' "$out/good.d"; then
        echo "the depfile lists a schema without --schema"
    fi
}

# ---------------------------------------------------------------- SQLite

tally lite good "$(run_good lite)"

# --check --schema validates and writes nothing.
out=$work/check-only
rm -rf "$out" && mkdir "$out"
(cd "$dir" && "$gen" --check --schema schema.sql -o "$out" good.hcache) > "$work/stdout" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 0 ]; then why="exit status $rc, not 0"
elif [ -s "$work/stderr" ]; then why="printed on stderr"
elif [ -n "$(ls -A "$out")" ]; then why="wrote $(ls -A "$out" | tr '\n' ' ')"
fi
tally lite check-only "$why"

# A schema file that cannot be read is an I/O error: status 2.
rm -rf "$out" && mkdir "$out"
(cd "$dir" && "$gen" --schema no-such-schema.sql -o "$out" good.hcache) > "$work/stdout" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 2 ]; then why="exit status $rc, not 2"
elif ! grep -qx 'hcachegen: cannot read no-such-schema.sql: No such file or directory' "$work/stderr"; then
    why="unexpected message: $(head -n 1 "$work/stderr")"
elif [ -n "$(ls -A "$out")" ]; then why="wrote $(ls -A "$out" | tr '\n' ' ')"
fi
tally lite missing-schema "$why"

for input in "$dir"/lite-*.hcache; do
    [ -f "$input" ] || continue
    tally lite "$(basename "$input" .hcache)" "$(run_case lite "$input")"
done

# The project's own .hcache files pass every check, invalidation coverage
# included, against the schema their build checks them with (or, for
# tests/dao, the tables tests/test_dao.c creates): FILE, its SQLite schema
# and its PostgreSQL schema, from the repository's root.
root=$(cd "$here/.." && pwd)
projects="examples/shop/shop.hcache examples/shop/schema.sql examples/shop/schema.sql
          examples/multiprocess/inventory.hcache examples/multiprocess/schema.sql examples/multiprocess/schema.sql
          tests/dao/dao.hcache tests/dao/schema.sql tests/dao/pg-schema.sql"

# run_project KIND FILE SCHEMA: FILE passes --check with --schema SCHEMA
# (lite), or with --pg-check (pg; SCHEMA is then the PostgreSQL schema
# that holds its tables, put in the search path). Run from FILE's folder.
run_project() {
    (cd "$(dirname "$root/$2")" &&
     if [ "$1" = lite ]; then
         "$gen" --check --schema "$root/$3" "$(basename "$2")"
     else
         PGOPTIONS="-c search_path=$3" "$gen" --check --pg-check "$HC_PG_CONNINFO" "$(basename "$2")"
     fi) > "$work/stdout" 2> "$work/stderr"
    rc=$?
    if grep -Eq "$sanitizer_re" "$work/stderr"; then
        echo "sanitizer report"
    elif [ "$rc" -ne 0 ]; then
        echo "exit status $rc, not 0: $(head -n 1 "$work/stderr")"
    elif [ -s "$work/stderr" ] || [ -s "$work/stdout" ]; then
        echo "printed something: $(cat "$work/stdout" "$work/stderr" | head -n 1)"
    fi
}

set -- $projects
while [ $# -ge 3 ]; do
    tally lite "project $1" "$(run_project lite "$1" "$2")"
    shift 3
done

# ------------------------------------------------------------ PostgreSQL

# A server that cannot be reached is an I/O error: status 2, and the
# outputs stay as they were. (No server needed: this always runs.)
out=$work/unreachable
rm -rf "$out" && mkdir "$out"
cp -p "$work/ref.h" "$out/good.hc.h"
cp -p "$work/ref.c" "$out/good.hc.c"
(cd "$dir" && "$gen" --pg-check "host=$work/no-such-dir port=1 connect_timeout=5" -o "$out" good.hcache) \
    > "$work/stdout" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 2 ]; then why="exit status $rc, not 2"
elif ! head -n 1 "$work/stderr" | grep -q '^hcachegen: --pg-check: cannot connect to PostgreSQL: '; then
    why="unexpected message: $(head -n 1 "$work/stderr")"
elif ! cmp -s "$out/good.hc.h" "$work/ref.h" || ! cmp -s "$out/good.hc.c" "$work/ref.c"; then
    why="changed the existing outputs"
fi
tally pg unreachable "$why"

npg=1
for input in "$dir"/pg-*.hcache "$dir"/both-*.hcache; do
    [ -f "$input" ] && npg=$((npg + 1))
done
set -- $projects
npg=$((npg + $# / 3))

if [ -z "${HC_PG_CONNINFO:-}" ]; then
    if [ "${HC_SKIP_PG:-0}" = 1 ]; then
        pg_skipped=$npg
        echo "schema-check: HC_SKIP_PG=1: skipping $npg PostgreSQL checks"
    else
        pg_failed=$((pg_failed + npg))
        echo "FAILED $npg PostgreSQL checks: HC_PG_CONNINFO is not set" \
             "(run under scripts/pg.sh run, or set HC_SKIP_PG=1 to skip them)"
        [ -n "$results" ] && echo "$variant schema-pg: FAILED $npg checks: HC_PG_CONNINFO is not set" \
                             >> "${results%results.txt}failures.txt"
    fi
elif ! PGOPTIONS= psql "$HC_PG_CONNINFO" -X -q -v schema="hcache_schema_check_$$" \
        -f "$dir/pg-schema.sql" > "$work/psql.log" 2>&1; then
    pg_failed=$((pg_failed + npg))
    echo "FAILED $npg PostgreSQL checks: cannot load pg-schema.sql with psql:"
    sed 's/^/    | /' "$work/psql.log"
    [ -n "$results" ] && { echo "$variant schema-pg: FAILED $npg checks: cannot load pg-schema.sql with psql:"
                           sed -n '1,6s/^/    | /p' "$work/psql.log"; } >> "${results%results.txt}failures.txt"
else
    pgschema=hcache_schema_check_$$
    # Each project's tables in a schema of their own.
    set -- $projects
    i=0
    while [ $# -ge 3 ]; do
        i=$((i + 1))
        s=${pgschema}_p$i
        pgprojects="$pgprojects $s"
        if ! PGOPTIONS= psql "$HC_PG_CONNINFO" -X -q -v ON_ERROR_STOP=1 \
                -c "SET client_min_messages = warning" -c "CREATE SCHEMA $s" -c "SET search_path = $s" \
                -f "$root/$3" > "$work/psql.log" 2>&1; then
            tally pg "project $1" "cannot load $3 with psql: $(grep -m 1 ERROR "$work/psql.log")"
        else
            tally pg "project $1" "$(run_project pg "$1" "$s")"
        fi
        shift 3
    done
    PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c search_path=$pgschema"
    export PGOPTIONS
    tally pg good "$(run_good pg)"
    for input in "$dir"/pg-*.hcache; do
        [ -f "$input" ] || continue
        tally pg "$(basename "$input" .hcache)" "$(run_case pg "$input")"
    done
    for input in "$dir"/both-*.hcache; do
        [ -f "$input" ] || continue
        tally pg "$(basename "$input" .hcache)" "$(run_case both "$input")"
    done
fi

echo "schema-check: --schema $lite_passed passed, $lite_failed failed;" \
     "--pg-check $pg_passed passed, $pg_failed failed, $pg_skipped skipped"
if [ -n "$results" ]; then
    echo "$variant schema $lite_passed $lite_failed 0" >> "$results"
    echo "$variant schema-pg $pg_passed $pg_failed $pg_skipped" >> "$results"
fi
[ "$lite_failed" -eq 0 ] && [ "$pg_failed" -eq 0 ] && [ "$lite_passed" -gt 0 ]
