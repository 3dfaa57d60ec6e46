#!/bin/sh
# The command-line tools. hcachegen as a build step: what it does with what
# it finds at its output paths, how it writes them, how long lines show in
# its diagnostics, and what it says about a bad command line. hcache-replay:
# --version, what it read, and a bad line of a trace.
#
#   tests/cli.sh BUILD_DIR [RESULTS_FILE]
#
# Prints one line per failed check and ends with "cli: N passed, M failed";
# with RESULTS_FILE, appends "<variant> cli N M 0" to it (the format of
# scripts/run-tests.sh, for scripts/test-summary.sh).
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
variant=$(basename "$build")

gen=$(cd "$build" 2>/dev/null && pwd)/hcachegen
if [ ! -x "$gen" ]; then
    echo "cli: $build/hcachegen is missing (build it first)" >&2
    [ -n "$results" ] && echo "$variant cli 0 1 0" >> "$results"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cli.XXXXXX") || exit 2
bgpid=""
cleanup() {
    [ -n "$bgpid" ] && kill "$bgpid" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
sanitizer_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'

# check NAME WHY: count a check as passed (WHY empty) or failed.
check() {
    if [ -z "$2" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED $1: $2"
    fi
}

input=$here/golden/plain.hcache
ref=$work/ref
mkdir -p "$ref"
"$gen" -o "$ref" "$input" || { echo "cli: hcachegen fails on $input" >&2; exit 1; }

# What hcachegen writes into $out: the reference outputs, whose #line
# directives back to an output name it by the path it is written to.
expected() {
    sed "s|^\(#line [0-9]* \"\)$ref/|\1$out/|" "$ref/plain.hc.$1" > "$work/expected.hc.$1"
    echo "$work/expected.hc.$1"
}

# ------------------------------------------- what sits at an output path

# A symlink to a file that holds exactly the output is replaced by a
# regular file, not followed: the file it pointed to stays as it was.
out=$work/symlink
mkdir -p "$out"
cp "$(expected c)" "$work/victim.c"
cp "$(expected h)" "$work/victim.h"
touch -t 200001020304 "$work/victim.c" "$work/victim.h"
ln -s "$work/victim.c" "$out/plain.hc.c"
ln -s "$work/victim.h" "$out/plain.hc.h"
"$gen" -o "$out" "$input" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
elif [ -L "$out/plain.hc.c" ] || [ -L "$out/plain.hc.h" ]; then why="left a symlink in place of an output"
elif ! cmp -s "$out/plain.hc.c" "$(expected c)" || ! cmp -s "$out/plain.hc.h" "$(expected h)"; then
    why="the outputs are not what was generated"
elif [ -n "$(find "$work/victim.c" "$work/victim.h" -newermt '2000-01-03')" ]; then
    why="wrote through the symlink"
fi
check symlink-replaced "$why"

# A FIFO: before, hcachegen opened it and read it (a FIFO that nobody
# writes to blocked it forever). Here a writer hands it exactly the output,
# so reading it could even finish, and would leave the FIFO in place. It
# must be replaced without being opened; the writer, which never gets a
# reader, is then stopped.
out=$work/fifo
mkdir -p "$out"
cp "$(expected h)" "$out/plain.hc.h"
mkfifo "$out/plain.hc.c"
want=$(expected c)
cat "$want" > "$out/plain.hc.c" &
bgpid=$!
"$gen" -o "$out" "$input" 2> "$work/stderr"
rc=$?
kill "$bgpid" 2> /dev/null
wait "$bgpid" 2> /dev/null
bgpid=""
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
elif [ ! -f "$out/plain.hc.c" ] || [ -p "$out/plain.hc.c" ]; then why="left the FIFO in place of an output"
elif ! cmp -s "$out/plain.hc.c" "$want"; then why="the output is not what was generated"
fi
check fifo-replaced "$why"

# A symlink to a device: replaced, never read. (/dev/null, not /dev/zero
# or /dev/urandom: an hcachegen that follows the link would read those
# until memory ran out, as one did.)
out=$work/device
mkdir -p "$out"
ln -s /dev/null "$out/plain.hc.c"
ln -s /dev/null "$out/plain.hc.h"
"$gen" -o "$out" "$input" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
elif [ -L "$out/plain.hc.c" ] || [ -L "$out/plain.hc.h" ]; then why="left a symlink in place of an output"
elif ! cmp -s "$out/plain.hc.c" "$(expected c)" || ! cmp -s "$out/plain.hc.h" "$(expected h)"; then
    why="the outputs are not what was generated"
fi
check device-replaced "$why"

# The --stamp file is ours as well: a symlink there is replaced by a
# regular file, not followed (the file it pointed to keeps its time), and
# a FIFO is replaced without being opened (opening it to write blocked
# hcachegen until a reader came: here, until the timeout).
out=$work/stamp
mkdir -p "$out"
: > "$work/stamp-victim"
touch -t 200001020304 "$work/stamp-victim"
ln -s "$work/stamp-victim" "$out/link.stamp"
mkfifo "$out/fifo.stamp"
"$gen" -o "$out" --stamp "$out/link.stamp" "$input" 2> "$work/stderr"
rc=$?
timeout 60 "$gen" -o "$out" --stamp "$out/fifo.stamp" "$input" 2>> "$work/stderr"
rc2=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 0 ] || [ "$rc2" -ne 0 ]; then why="exit status $rc, $rc2: $(head -n 1 "$work/stderr")"
elif [ -L "$out/link.stamp" ] || [ ! -f "$out/link.stamp" ]; then why="left the symlink in place of the stamp"
elif [ -n "$(find "$work/stamp-victim" -newermt '2000-01-03')" ]; then why="touched the symlink's target"
elif [ -p "$out/fifo.stamp" ] || [ ! -f "$out/fifo.stamp" ]; then why="left the FIFO in place of the stamp"
fi
check stamp-replaced "$why"

# A regular file with the same content is still left alone, timestamp and
# all; one with other content of the same size is rewritten.
out=$work/same
mkdir -p "$out"
cp "$(expected c)" "$out/plain.hc.c"
cp "$(expected h)" "$out/plain.hc.h"
touch -t 200001020304 "$out/plain.hc.c"
sed 's/DO NOT EDIT/DO NOT EDIX/' "$(expected h)" > "$out/plain.hc.h"
touch -t 200001020304 "$out/plain.hc.h"
"$gen" -o "$out" "$input" 2> "$work/stderr"
rc=$?
why=""
if [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
elif [ -n "$(find "$out/plain.hc.c" -newermt '2000-01-03')" ]; then why="rewrote an unchanged output"
elif ! cmp -s "$out/plain.hc.h" "$(expected h)"; then why="kept an output of the same size that differs"
fi
check regular-compared "$why"

# ------------------------------------------------------- durable writes

# An interposer, loaded with LD_PRELOAD, logs every fsync and fdatasync
# (with the path of the descriptor) and every rename, in order. Each output
# must be synced as its temporary file before the rename, and its directory
# after it, before the next output. (Under ASan the interposer comes first
# in the library list, which ASan accepts with verify_asan_link_order=0.)
cat > "$work/syncspy.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const char *what, const char *a, const char *b)
{
    const char *log = getenv("SYNCSPY_LOG");
    if (!log) return;
    char line[8192];
    int n = snprintf(line, sizeof line, "%s %s%s%s\n", what, a, b ? " " : "", b ? b : "");
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    if (write(fd, line, (size_t)n) < 0) {}
    close(fd);
}

static void note_fd(const char *what, int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, path, sizeof path - 1);
    path[k > 0 ? k : 0] = 0;
    note(what, path, NULL);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int rc = real(fd);
    if (rc == 0) note_fd("fsync", fd);
    return rc;
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);
    if (rc == 0) note_fd("fsync", fd);
    return rc;
}

int rename(const char *from, const char *to)
{
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int rc = real(from, to);
    if (rc == 0) note("rename", from, to);
    return rc;
}
EOF
if ! cc -shared -fPIC -O1 -o "$work/syncspy.so" "$work/syncspy.c" -ldl 2> "$work/cc.log"; then
    check syncs "cannot build the interposer: $(head -n 1 "$work/cc.log")"
else
    out=$work/durable
    mkdir -p "$out"
    out=$(cd "$out" && pwd -P)
    : > "$work/sync.log"
    SYNCSPY_LOG=$work/sync.log LD_PRELOAD=$work/syncspy.so \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$gen" -o "$out" --depfile "$out/plain.d" "$input" 2> "$work/stderr"
    rc=$?
    why=""
    if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
    elif [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
    else
        # Every "rename A B": "fsync A" before it, "fsync DIR" between it
        # and the next rename; and all three outputs renamed into place.
        why=$(awk -v dir="$out" '
            $1 == "fsync" && $2 == dir { dirsync[++nd] = NR; next }
            $1 == "fsync" { synced[$2] = NR; next }
            $1 == "rename" { n++; from[n] = $2; to[n] = $3; at[n] = NR; renamed[$3] = 1 }
            END {
                at[n + 1] = NR + 1
                for (i = 1; i <= n; i++) {
                    if (!(from[i] in synced) || synced[from[i]] > at[i]) {
                        print "no fsync of " from[i] " before its rename"; exit
                    }
                    ok = 0
                    for (k = 1; k <= nd; k++) if (dirsync[k] > at[i] && dirsync[k] < at[i + 1]) ok = 1
                    if (!ok) { print "no fsync of " dir " right after renaming " to[i]; exit }
                }
                split("plain.hc.h plain.hc.c plain.d", want, " ")
                for (k = 1; k <= 3; k++)
                    if (!((dir "/" want[k]) in renamed)) { print "no rename to " dir "/" want[k]; exit }
            }' "$work/sync.log")
    fi
    check syncs "$why"
fi

# A depfile that cannot be written (its directory is missing) fails the run
# before any output is replaced: the outputs of an earlier run stay as they
# were, contents and times. (The header and source were written first.)
out=$work/depfail
mkdir -p "$out"
cp "$(expected c)" "$out/plain.hc.c"
sed 's/DO NOT EDIT/DO NOT EDIX/' "$(expected h)" > "$out/plain.hc.h"
touch -t 200001020304 "$out/plain.hc.c" "$out/plain.hc.h"
cp "$out/plain.hc.h" "$work/depfail-h"
"$gen" -o "$out" --depfile "$work/no-such-dir/plain.d" "$input" 2> "$work/stderr"
rc=$?
why=""
if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
elif [ "$rc" -ne 2 ]; then why="exit status $rc, not 2"
elif ! grep -q "no-such-dir" "$work/stderr"; then why="the error does not name the depfile: $(head -n 1 "$work/stderr")"
elif ! cmp -s "$out/plain.hc.h" "$work/depfail-h"; then why="replaced the header"
elif [ -n "$(find "$out" -newermt '2000-01-03' -name 'plain.hc.*')" ]; then why="touched an output"
fi
check depfile-fails-first "$why"

# ------------------------------------------------- diagnostics on long lines

# An error deep inside a 4 MB line, and one near the start of a line of
# 300 bytes: each diagnostic is its three lines, a window of the source line
# with the caret under the character the column names ('@'), and a few
# hundred bytes in all, however long the line. (hcachegen once wrote the
# whole line, a byte per write.)
long_line() {
    # long_line FILE PAD-BEFORE PAD-AFTER: a namespace string of PAD-BEFORE
    # x's, then " @", then PAD-AFTER y's, on line 2.
    awk -v a="$2" -v b="$3" 'BEGIN {
        s = "x"; while (length(s) < a) s = s s; s = substr(s, 1, a)
        t = "y"; while (length(t) < b) t = t t; t = substr(t, 1, b)
        print "module m;"
        printf "namespace \"%s\" @ %s\n", s, t
    }' > "$1"
}
# check_window NAME FILE COLUMN: run hcachegen on FILE, whose error is at
# line 2, column COLUMN, a '@'.
check_window() {
    out=$work/window
    rm -rf "$out" && mkdir -p "$out"
    (cd "$work" && "$gen" -o "$out" "$(basename "$2")") > /dev/null 2> "$work/stderr"
    rc=$?
    size=$(wc -c < "$work/stderr")
    why=""
    if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
    elif [ "$rc" -ne 1 ]; then why="exit status $rc, not 1"
    elif [ "$size" -gt 1024 ]; then why="$size bytes of diagnostics"
    else
        why=$(awk -v want="$(basename "$2"):2:$3: error: " '
            NR == 1 && index($0, want) != 1 { print "first line: " $0; exit }
            NR == 2 { src = $0 }
            NR == 3 {
                p = index($0, "^")
                if (p == 0 || substr($0, p + 1) != "") { print "no caret line"; exit }
                if (substr(src, p, 1) != "@") { print "the caret is under \"" substr(src, p, 1) "\", not \"@\""; exit }
                if (length(src) > 260) { print "a source line of " length(src) " bytes"; exit }
            }' "$work/stderr")
    fi
    check "$1" "$why"
}
long_line "$work/huge.hcache" 2000000 2000000
check_window window-huge "$work/huge.hcache" 2000014
long_line "$work/medium.hcache" 50 250
check_window window-start "$work/medium.hcache" 64

# ------------------------------------------------------- the command line

# cmdline NAME WANT ARGS...: hcachegen ARGS exits with status 2 and prints
# exactly WANT (lines separated by \n) on stderr, nothing on stdout.
hint="Try 'hcachegen --help' for more information."
cmdline() {
    c_name=$1 c_want=$2
    shift 2
    "$gen" "$@" > "$work/stdout" 2> "$work/stderr"
    rc=$?
    printf '%b\n' "$c_want" > "$work/want"
    why=""
    if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
    elif [ "$rc" -ne 2 ]; then why="exit status $rc, not 2"
    elif [ -s "$work/stdout" ]; then why="printed on stdout"
    elif ! cmp -s "$work/want" "$work/stderr"; then
        why="stderr is \"$(head -n 3 "$work/stderr" | tr '\n' '|')\", not \"$(tr '\n' '|' < "$work/want")\""
    fi
    check "$c_name" "$why"
}
mkdir -p "$work/outdir"
cmdline no-arguments "hcachegen: no input file\nhcachegen: no output directory (-o DIR)\n$hint"
cmdline no-input "hcachegen: no input file\n$hint" -o "$work/outdir"
cmdline no-outdir "hcachegen: no output directory (-o DIR)\n$hint" "$input"
cmdline missing-outdir "hcachegen: output directory '$work/nonexistent': No such file or directory" \
    -o "$work/nonexistent" "$input"
cmdline outdir-is-a-file "hcachegen: output directory '$input': Not a directory" -o "$input" "$input"
cmdline unknown-option "hcachegen: unknown option '--bogus'\n$hint" --bogus "$input"
cmdline option-argument "hcachegen: option '-o' needs an argument\n$hint" "$input" -o
# --check needs no output directory, and checks none.
"$gen" --check "$input" > "$work/stdout" 2> "$work/stderr"
rc=$?
why=""
if [ "$rc" -ne 0 ] || [ -s "$work/stderr" ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"; fi
check check-without-outdir "$why"

# --------------------------------------------------------- hcache-replay

replay=$(cd "$build" && pwd)/hcache-replay
# replay_case NAME WANT-STATUS WANT-STDERR-LINE ARGS...: hcache-replay ARGS
# (standard input from $work/trace) exits with WANT-STATUS and prints the
# line WANT-STDERR-LINE, whole, on stderr.
replay_case() {
    r_name=$1 r_status=$2 r_want=$3
    shift 3
    "$replay" "$@" < "$work/trace" > "$work/stdout" 2> "$work/stderr"
    rc=$?
    why=""
    if grep -Eq "$sanitizer_re" "$work/stderr"; then why="sanitizer report"
    elif [ "$rc" -ne "$r_status" ]; then why="exit status $rc, not $r_status: $(head -n 1 "$work/stderr")"
    elif ! grep -qxF "$r_want" "$work/stderr"; then why="no line \"$r_want\" on stderr: $(head -n 2 "$work/stderr" | tr '\n' '|')"
    fi
    check "$r_name" "$why"
}
if [ ! -x "$replay" ]; then
    check replay "$build/hcache-replay is missing"
else
    "$replay" --version > "$work/stdout" 2> "$work/stderr"
    rc=$?
    why=""
    if [ "$rc" -ne 0 ]; then why="exit status $rc: $(head -n 1 "$work/stderr")"
    elif ! grep -qx 'hcache-replay [0-9][0-9.]*' "$work/stdout"; then why="printed \"$(head -n 1 "$work/stdout")\""
    fi
    check replay-version "$why"

    # What was read: requests (blank and '*' lines are not), distinct keys;
    # stdout stays one line per capacity.
    printf 'a\nb\n*\n\na\nc \r\n' > "$work/trace"
    replay_case replay-counts 0 "hcache-replay: -: 4 requests, 3 distinct keys" - 1,2
    if [ "$(wc -l < "$work/stdout")" -ne 2 ] || grep -qv '^capacity=' "$work/stdout"; then
        check replay-stdout "stdout is not one capacity line each: $(tr '\n' '|' < "$work/stdout")"
    else
        check replay-stdout ""
    fi
    # A bad line is named by its number, skipped lines counted.
    printf 'a\n\n*\nb\0c\nd\n' > "$work/trace"
    replay_case replay-nul-line 1 "hcache-replay: -:4: a key with a NUL byte" - 10
    awk 'BEGIN { print "a"; s = "k"; while (length(s) < 70000) s = s s; print s }' > "$work/trace"
    replay_case replay-long-line 1 "hcache-replay: -:2: a key longer than 65535 bytes" - 10
fi

# ------------------------------------------------- the parser and lemon

# The grammar and the code around it use lemon's interface only (ParseAlloc,
# Parse, ParseFree, %syntax_error's TOKEN and its yymajor parameter), never
# the tables or stack of lempar.c, whose names and layout are lemon's own
# business from one version to the next (issue 17).
why=$(grep -nowE '(yy|YY)[A-Za-z0-9_]*' "$here/../generator/grammar.y" "$here/../generator/parse.c" \
          "$here/../generator/hcg.h" | grep -v ':yymajor$' | head -n 3 | tr '\n' ' ')
check lemon-interface "${why:+lemon internals used: $why}"

echo "cli: $passed passed, $failed failed"
[ -n "$results" ] && echo "$variant cli $passed $failed 0" >> "$results"
[ "$failed" -eq 0 ]
