#!/bin/sh
# bench_hcachegen.sh BUILD_DIR -- what hcachegen costs in a build.
#
# Generates a .hcache file of 10,000 declarations (2,000 each of entities
# with five fields, entity-keyed policies, list cacheables, infallible text
# cacheables and queries), then times, in the same run:
#   generate   hcachegen -o DIR big.hcache      (best of 5)
#   compile    cc -O2 -c big.hc.c               (one run: it is long)
# and prints the ratio. Generation should be well under a second and a small
# fraction of compiling what it writes.
set -eu
dir=$1
gen="$dir/hcachegen"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}

awk 'BEGIN {
    print "module big;"
    print "default ttl 5m;"
    for (i = 0; i < 2000; i++) {
        printf "entity e%d {\n    id: i64 primary;\n    name: text;\n    note: text?;\n    score: f64;\n    flag: bool?;\n}\n", i
        printf "policy p%d(id: i64) -> e%d? {\n    entity e%d(id);\n}\n", i, i, i
        printf "cacheable c%d(a: i64, b: text) -> e%d[] {\n    key \"c%d:{a}:{b}\";\n    tags \"t:{a}\";\n}\n", i, i, i
        printf "cacheable s%d(x: u32) -> text infallible {\n    tags \"s\";\n}\n", i
        printf "query q%d(id: i64) -> e%d? {\n    sql \"SELECT id, name, note, score, flag FROM t WHERE id = :id\";\n    entity e%d(id);\n}\n", i, i, i
    }
}' > "$tmp/big.hcache"
decls=$(grep -c '^\(entity\|policy\|cacheable\|query\)' "$tmp/big.hcache")
lines=$(wc -l < "$tmp/big.hcache")

now() { date +%s.%N; }
best() {  # best of N runs of a command, in seconds
    n=$1; shift
    b=
    i=0
    while [ $i -lt "$n" ]; do
        t0=$(now); "$@" > /dev/null; t1=$(now)
        t=$(echo "$t1 - $t0" | bc)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" -eq 1 ]; then b=$t; fi
        i=$((i + 1))
    done
    echo "$b"
}

gtime=$(best 5 "$gen" -o "$tmp" "$tmp/big.hcache")
out_lines=$(cat "$tmp/big.hc.h" "$tmp/big.hc.c" | wc -l)
ctime=$(best 1 $cc -std=c11 -O2 -Iruntime/include -I"$tmp" -c "$tmp/big.hc.c" -o "$tmp/big.o")
echo "hcachegen: $decls declarations ($lines lines) -> $out_lines lines of C ($((out_lines / decls)) per declaration)"
printf 'hcachegen: generate %.3f s, compile the output (%s -O2) %.2f s, ratio generate/compile = %.4f\n' \
    "$gtime" "$cc" "$ctime" "$(echo "$gtime / $ctime" | bc -l)"
