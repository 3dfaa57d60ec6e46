#!/bin/sh
# genlines.sh HCACHEGEN -- the lines of C one more declaration of each kind
# adds to the output (.hc.h and .hc.c), over a module holding one entity
# of five fields; and the entity's own lines. docs/BENCHMARKS.md
# ("hcachegen") has the figures before and after the cached read moved
# into the runtime. Run it with two generators to compare them.
set -eu
gen=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
base='module m;
entity e { id: i64 primary; name: text; note: text?; score: f64; flag: bool?; }
'
lines() { cat "$t/m.hc.h" "$t/m.hc.c" | wc -l; }
printf '%s' "$base" > "$t/m.hcache"
"$gen" -o "$t" "$t/m.hcache"
b=$(lines)
one() {
    printf '%s%s\n' "$base" "$2" > "$t/m.hcache"
    "$gen" -o "$t" "$t/m.hcache"
    printf '%-34s %5d\n' "$1" $(($(lines) - b))
}
one "query q(id) -> e?, entity-keyed" 'query q(id: i64) -> e? { sql "SELECT id, name, note, score, flag FROM t WHERE id = :id"; entity e(id); }'
one "query q(id) -> i64" 'query q(id: i64) -> i64 { sql "SELECT 1 FROM t WHERE id = :id"; }'
one "policy p(id) -> e?, entity-keyed" 'policy p(id: i64) -> e? { entity e(id); }'
one "cacheable c(a, b) -> e[], key, tag" 'cacheable c(a: i64, b: text) -> e[] { key "c:{a}:{b}"; tags "t:{a}"; }'
one "cacheable s(x) -> text infallible" 'cacheable s(x: u32) -> text infallible { tags "s"; }'
one "cacheable f(n) -> i64" 'cacheable f(n: i64) -> i64 { }'
one "exec x(id)" 'exec x(id: i64) { sql "UPDATE t SET a = 1 WHERE id = :id"; invalidates "e:{id}"; }'
printf '%-34s %5d\n' "the module with entity e alone" "$b"
