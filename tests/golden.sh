#!/bin/sh
# Golden tests for hcachegen.
#
#   tests/golden.sh BUILD_DIR [RESULTS]      compare
#   tests/golden.sh BUILD_DIR --update       rewrite the expectations
#
# For every tests/golden/NAME.hcache, hcachegen's output must equal
# tests/golden/NAME.hc.h and NAME.hc.c byte for byte (NAME.noline.hc.* are
# the same with --no-line). Then the build-step behaviour: a second run
# leaves unchanged outputs alone (same mtime), the depfile names the input
# and hcachegen, and --check writes nothing.
# Appends "<variant> golden <passed> <failed> 0" to RESULTS if given.
set -u
dir=$1
mode=${2:-}
gen="$dir/hcachegen"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() {
    echo "golden: FAILED $*" >&2
    failed=$((failed + 1))
    # The cause again, for the summary of make check.
    case $mode in
    *results.txt) echo "$(basename "$dir") golden: FAILED $*" >> "${mode%results.txt}failures.txt" ;;
    esac
}

for src in tests/golden/*.hcache; do
    name=$(basename "$src" .hcache)
    for flavour in line noline; do
        out="$tmp/$flavour"
        mkdir -p "$out"
        if [ "$flavour" = noline ]; then set -- --no-line; suffix=.noline; else set --; suffix=; fi
        if ! "$gen" "$@" -o "$out" "$src"; then
            bad "$src ($flavour): hcachegen failed"
            continue
        fi
        for ext in h c; do
            # #line names an output by the path it was written to: the
            # expectations hold it without this run's temporary directory.
            sed -i "s|^\(#line [0-9]* \)\"$out/|\1\"|" "$out/$name.hc.$ext"
            want="tests/golden/$name$suffix.hc.$ext"
            if [ "$mode" = --update ]; then
                cp "$out/$name.hc.$ext" "$want"
            elif cmp -s "$out/$name.hc.$ext" "$want"; then
                ok
            else
                bad "$want differs (make golden-update to accept):"
                diff -u "$want" "$out/$name.hc.$ext" | head -n 40 >&2
            fi
        done
    done
done
[ "$mode" = --update ] && { echo "golden: expectations rewritten"; exit 0; }

# The expectations compile clean under strict warnings, with gcc and clang.
for cc in gcc clang; do
    command -v $cc > /dev/null || continue
    for c in tests/golden/*.hc.c; do
        if $cc -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wstrict-prototypes \
               -Wmissing-prototypes -Werror -Iruntime/include -Itests/golden -c "$c" -o "$tmp/x.o"; then
            ok
        else
            bad "$c does not compile clean with $cc"
        fi
    done
done

# And as C++ (a C++ program includes the header; the source compiles as
# C++ too), with g++ and clang++.
for cxx in g++ clang++; do
    command -v $cxx > /dev/null || continue
    for c in tests/golden/*.hc.c; do
        if $cxx -std=c++11 -x c++ -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror \
                -Iruntime/include -Itests/golden -fsyntax-only "$c"; then
            ok
        else
            bad "$c does not compile clean as C++ with $cxx"
        fi
    done
done

# Many entities, two list results of the last one: its list codec is made
# once (an early version tracked only the first 1,024 entities).
out="$tmp/many"
mkdir -p "$out"
awk 'BEGIN { print "module many;"
             for (i = 0; i < 1030; i++) printf "entity e%d { id: i64; }\n", i
             print "cacheable a(n: i64) -> e1029[] {}"
             print "cacheable b(n: i64) -> e1029[] {}" }' > "$out/many.hcache"
if "$gen" -o "$out" "$out/many.hcache" &&
   cc -std=c11 -fsyntax-only -Wall -Werror -Iruntime/include "$out/many.hc.c"; then
    ok
else
    bad "1,030 entities with shared list results do not compile"
fi

# Unchanged outputs are not rewritten: make must not rebuild needlessly.
out="$tmp/again"
mkdir -p "$out"
"$gen" -o "$out" --depfile "$out/shop.d" tests/golden/shop.hcache
touch -d '2000-01-01 00:00:00' "$out/shop.hc.h" "$out/shop.hc.c" "$out/shop.d"
"$gen" -o "$out" --depfile "$out/shop.d" tests/golden/shop.hcache
if [ -z "$(find "$out" -newermt '2000-01-02' -type f)" ]; then ok; else bad "unchanged outputs were rewritten"; fi
if ls "$out" | grep -q tmp; then bad "a temporary file was left behind"; else ok; fi

# The depfile: both outputs, then the input and the generator itself.
if grep -q "shop.hc.h .*shop.hc.c: tests/golden/shop.hcache .*hcachegen" "$out/shop.d" &&
   grep -q '^tests/golden/shop.hcache:$' "$out/shop.d"; then ok; else bad "depfile:"; cat "$out/shop.d" >&2; fi

# --check writes nothing; --version and --help answer.
out="$tmp/check"
mkdir -p "$out"
if "$gen" --check -o "$out" tests/golden/shop.hcache && [ -z "$(ls "$out")" ]; then ok; else bad "--check wrote output"; fi
if "$gen" --version | grep -q '^hcachegen [0-9]'; then ok; else bad "--version"; fi
if "$gen" --help | grep -q -- '--depfile'; then ok; else bad "--help"; fi
"$gen" --bogus tests/golden/shop.hcache 2>/dev/null
if [ $? -eq 2 ]; then ok; else bad "unknown option must exit 2"; fi
"$gen" -o "$out" /nonexistent.hcache 2>/dev/null
if [ $? -eq 2 ]; then ok; else bad "a missing input must exit 2"; fi

# --templates DIR: a changed template shows in the output.
cp -r templates "$tmp/tpl"
sed 's/DO NOT EDIT/DO NOT EDIT (custom)/' templates/header.h.tmpl > "$tmp/tpl/header.h.tmpl"
out="$tmp/tplout"
mkdir -p "$out"
if "$gen" --templates "$tmp/tpl" -o "$out" tests/golden/shop.hcache &&
   grep -q 'DO NOT EDIT (custom)' "$out/shop.hc.h"; then ok; else bad "--templates"; fi
# A template with an unknown variable is an error, and writes nothing.
printf '$nosuchvar$\n' > "$tmp/tpl/source.c.tmpl"
out="$tmp/tplbad"
mkdir -p "$out"
if ! "$gen" --templates "$tmp/tpl" -o "$out" tests/golden/shop.hcache 2>/dev/null &&
   [ -z "$(ls "$out")" ]; then ok; else bad "a bad template must fail and write nothing"; fi

echo "golden: $passed passed, $failed failed"
[ -n "$mode" ] && echo "$(basename "$dir") golden $passed $failed 0" >> "$mode"
[ "$failed" -eq 0 ]
