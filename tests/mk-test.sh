#!/bin/sh
# The make rules of hydracache.mk, used the way an application's Makefile
# uses them, in a scratch directory with this tree's hcachegen:
#
#   tests/mk-test.sh BUILD_DIR [RESULTS]
#
#   - a .hcache beside the Makefile and one two directories down (with its
#     --schema there too) are generated, compiled and linked;
#   - a second make does nothing;
#   - touching either schema or either .hcache runs hcachegen again for that
#     file only (the depfiles in subdirectories are read);
#   - deleting any output (.hc.c, .hc.h, or both) remakes it;
#   - the application's first rule stays the default goal;
#   - HCACHE_DEPFILES reaches a depfile (and the stamp beside it) deeper
#     than the levels read by default.
# Appends "release make-rules P F S" to RESULTS.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/testlib.sh"
t_init make-rules "${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
# A copy of hcachegen, so that age() below can age it with the rest.
b=$tmp/bin
mkdir -p "$b"
cp "$1/hcachegen" "$b/"
lib=$(cd "$1" && pwd)

# Two modules: fn in the top directory (no schema) and shop in src/db with
# the example's schema beside it.
w=$tmp/app
mkdir -p "$w/src/db"
printf 'module fn;\nentity item { id: i64 primary; name: text; }\n' > "$w/fn.hcache"
cp "$root/examples/shop/shop.hcache" "$root/examples/shop/schema.sql" "$w/src/db/"
cat > "$w/main.c" <<'C'
#include "fn.hc.h"
#include "src/db/shop.hc.h"
int main(void) { return 0; }
C
cat > "$w/Makefile" <<MK
HCACHEGEN = $b/hcachegen
HCACHEGEN_FLAGS = \$(if \$(filter src/db/%,\$<),--schema src/db/schema.sql)
include $root/hydracache.mk
CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I$root/runtime/include
app: main.o fn.hc.o src/db/shop.hc.o
	\$(CC) \$^ -o \$@ $lib/libhydracache-sqlite.a $lib/libhydracache-pg.a $lib/libhydracache.a -lsqlite3 -lpq -pthread -lm
main.o: main.c fn.hc.h src/db/shop.hc.h
MK

mk() { make --no-print-directory -C "$w" "$@" > "$log" 2>&1; }
# How many times hcachegen ran in the last make, on what.
gens() { grep -c "^$b/hcachegen" "$log"; }
ran_on() { grep "^$b/hcachegen" "$log" | grep -q "$1"; }
# Every file back to one time in the past, so that a file touched next is
# newer than all the others without waiting for the clock.
age() { find "$tmp" -type f -exec touch -d '2001-01-01 00:00:00' {} +; }

if mk && [ -x "$w/app" ] && [ "$(gens)" -eq 2 ]; then ok "first build generates both modules"; else ko "first build" "$log"; fi
if [ -f "$w/src/db/shop.hc.d" ] && [ -f "$w/src/db/shop.hc.stamp" ] &&
   grep -q 'src/db/schema.sql' "$w/src/db/shop.hc.d"; then
    ok "depfile and stamp beside the .hcache in src/db"
else
    ko "depfile and stamp beside the .hcache in src/db" "$w/src/db/shop.hc.d"
fi
# The application's first rule (app) stays the default goal, not a rule of
# the depfiles read by hydracache.mk.
if mk && grep -q "'app' is up to date" "$log" && [ "$(gens)" -eq 0 ]; then
    ok "a second make does nothing, and app is the default goal"
else
    ko "a second make does nothing, and app is the default goal" "$log"
fi

age
touch "$w/src/db/schema.sql"
if mk && [ "$(gens)" -eq 1 ] && ran_on src/db/shop.hcache; then
    ok "touching src/db/schema.sql reruns hcachegen on src/db/shop.hcache"
else
    ko "touching src/db/schema.sql reruns hcachegen on src/db/shop.hcache" "$log"
fi
if mk && [ "$(gens)" -eq 0 ]; then ok "and then nothing more"; else ko "and then nothing more" "$log"; fi
age
touch "$w/src/db/shop.hcache"
if mk && [ "$(gens)" -eq 1 ] && ran_on src/db/shop.hcache; then ok "touching src/db/shop.hcache reruns it"; else ko "touching src/db/shop.hcache reruns it" "$log"; fi
age
touch "$w/fn.hcache"
if mk && [ "$(gens)" -eq 1 ] && ran_on fn.hcache; then ok "touching fn.hcache reruns it"; else ko "touching fn.hcache reruns it" "$log"; fi

for f in fn.hc.h fn.hc.c src/db/shop.hc.h src/db/shop.hc.c "fn.hc.c fn.hc.h"; do
    (cd "$w" && rm -f $f)
    if mk && (cd "$w" && ls $f >/dev/null 2>&1) && [ "$(gens)" -eq 1 ] && [ -x "$w/app" ]; then
        ok "deleting $f remakes it"
    else
        ko "deleting $f remakes it" "$log"
    fi
done
if mk && [ "$(gens)" -eq 0 ] && grep -q "is up to date" "$log"; then ok "and then nothing more"; else ko "and then nothing more" "$log"; fi

# A module four directories down is below the levels read by default; the
# application names its depfile (a pattern) in HCACHE_DEPFILES.
d=$tmp/deep
mkdir -p "$d/a/b/c/d"
cp "$root/examples/shop/shop.hcache" "$root/examples/shop/schema.sql" "$d/a/b/c/d/"
cat > "$d/Makefile" <<MK
HCACHEGEN = $b/hcachegen
HCACHEGEN_FLAGS = --schema a/b/c/d/schema.sql
HCACHE_DEPFILES = a/*/*/*/*.hc.d
include $root/hydracache.mk
all: a/b/c/d/shop.hc.h
MK
mkd() { make --no-print-directory -C "$d" "$@" > "$log" 2>&1; }
mkd
age
touch "$d/a/b/c/d/schema.sql"
if mkd && [ "$(gens)" -eq 1 ]; then ok "HCACHE_DEPFILES reaches a depfile deeper down"; else ko "HCACHE_DEPFILES reaches a depfile deeper down" "$log"; fi
rm "$d/a/b/c/d/shop.hc.h"
if mkd && [ "$(gens)" -eq 1 ] && [ -f "$d/a/b/c/d/shop.hc.h" ]; then ok "and an output deleted there is remade"; else ko "and an output deleted there is remade" "$log"; fi

t_done
