#!/bin/sh
# What a fresh clone does, in scratch copies of this working tree (the files
# git tracks or would track, uncommitted changes included):
#
#   tests/tree-test.sh BUILD_DIR [RESULTS]
#
#   - `make demo` then `make clean` leaves exactly the files it started
#     with: nothing built, generated or written by the examples is left
#     behind, ignored or not;
#   - `make -j8` installs the packages (scripts/deps.sh) before it compiles
#     anything: in a copy whose scripts/deps.sh takes a while and leaves a
#     mark when done, a compiler wrapper fails if it runs before the mark.
#
# BUILD_DIR is unused (the copies build from scratch); it is there for the
# same command line as the other tests. Appends "release tree P F S" to
# RESULTS.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/testlib.sh"
t_init tree "${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# The caller's settings must not reach the copies' makes (tests/testlib.sh
# unsets make's own).
unset SANITIZE OPT CFLAGS V

if ! git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    t_skip "not a git work tree: no list of the tree's own files"
    t_done
fi

copy() {
    mkdir -p "$1"
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf -) | (cd "$1" && tar xf -)
}
listing() { (cd "$1" && find . -path ./.git -prune -o -print | LC_ALL=C sort); }

# make demo, make clean.
w=$tmp/demo
copy "$w"
listing "$w" > "$tmp/before"
if make --no-print-directory -C "$w" demo > "$log" 2>&1; then ok "make demo in a fresh copy"; else ko "make demo in a fresh copy" "$log"; fi
if make --no-print-directory -C "$w" clean > "$log" 2>&1; then ok "make clean"; else ko "make clean" "$log"; fi
listing "$w" > "$tmp/after"
if diff "$tmp/before" "$tmp/after" > "$tmp/diff"; then
    ok "make clean leaves the tree as it was"
else
    ko "make clean leaves the tree as it was (> is a file left behind)" "$tmp/diff"
fi
rm -rf "$w"

# make -j: packages first. The stand-in deps.sh records its groups and
# leaves the mark only after a pause, so that a compile running beside it
# (the old `all: deps ...`) would start first. It is called whatever the
# caller's settings.
unset HC_DEPS_DONE HC_NO_DEPS
w=$tmp/race
copy "$w"
cat > "$w/scripts/deps.sh" <<'SH'
#!/bin/sh
echo "$*" >> "$(dirname "$0")/../deps-called"
sleep 1
touch "$(dirname "$0")/../deps-done"
SH
cat > "$tmp/cc" <<SH
#!/bin/sh
if [ ! -e "$w/deps-done" ]; then echo "cc ran before scripts/deps.sh finished" >&2; exit 1; fi
exec cc "\$@"
SH
chmod +x "$w/scripts/deps.sh" "$tmp/cc"
if make --no-print-directory -C "$w" -j8 CC="$tmp/cc" all > "$log" 2>&1; then
    ok "make -j8 compiles only after scripts/deps.sh is done"
else
    ko "make -j8 compiles only after scripts/deps.sh is done" "$log"
fi
# Each goal asks for its groups, once per make (not again in sub-makes).
# (Not make -n check: make runs the recipes that call $(MAKE) even then,
# and check's runs the tests.)
rm -f "$w/deps-called"
make --no-print-directory -C "$w" -n all > /dev/null 2>&1
make --no-print-directory -C "$w" clean > /dev/null 2>&1
make --no-print-directory -C "$w" CC="$tmp/cc" install PREFIX="$tmp/prefix" > /dev/null 2>&1
make --no-print-directory -C "$w" CC="$tmp/cc" build/release/tests/test_buf > /dev/null 2>&1
env -u HC_PG_CONNINFO make --no-print-directory -C "$w" CC="$tmp/cc" multiprocess-run > /dev/null 2>&1
printf 'build\nbuild test\nbuild pg\n' > "$tmp/want"
what="deps.sh groups: none for -n and clean; build for install, and test for a suite, pg for multiprocess-run"
if cmp -s "$w/deps-called" "$tmp/want"; then
    ok "$what"
else
    { echo "called:"; cat "$w/deps-called"; echo "wanted:"; cat "$tmp/want"; } > "$log"
    ko "$what" "$log"
fi

t_done
