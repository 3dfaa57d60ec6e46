#!/bin/sh
# Install into a temporary prefix and build a program the way a user would:
# with nothing but `pkg-config --cflags --libs hydracache`. Prints a plain
# "install: N passed, N failed" line for the check summary.
set -u
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "[       OK ] install: $1"; }
ko() { failed=$((failed + 1)); echo "[  FAILED  ] install: $1" >&2; }

if make --no-print-directory -s install PREFIX="$prefix" >/dev/null; then ok "make install"; else ko "make install"; fi
for f in include/hydracache.h include/hydracache/core.h include/hydracache/gen.h \
         include/hydracache/bus.h include/hydracache/sqlite.h include/hydracache/pg.h \
         lib/libhydracache.a lib/libhydracache.so lib/libhydracache.so.0 \
         lib/libhydracache-sqlite.a lib/libhydracache-sqlite.so lib/libhydracache-sqlite.so.0 \
         lib/libhydracache-pg.a lib/libhydracache-pg.so lib/libhydracache-pg.so.0 \
         lib/pkgconfig/hydracache.pc lib/pkgconfig/hydracache-sqlite.pc lib/pkgconfig/hydracache-pg.pc \
         bin/hcache-replay bin/hcachegen share/hydracache/hydracache.mk; do
    if [ -e "$prefix/$f" ]; then ok "installed $f"; else ko "missing $f"; fi
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags hydracache) && libs=$(pkg-config --libs hydracache)
if cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror $cflags examples/quickstart/quickstart.c \
      -o "$prefix/qs-shared" $libs -pthread &&
   LD_LIBRARY_PATH="$prefix/lib" "$prefix/qs-shared" >/dev/null; then
    ok "shared library via pkg-config"
else
    ko "shared library via pkg-config"
fi
# Static: the archive in place of -lhydracache, then what --static adds for
# it (-pthread -lm and the database libraries, through Libs.private).
static_libs=$(pkg-config --static --libs hydracache | sed "s|-lhydracache|$prefix/lib/libhydracache.a|")
if cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror $cflags examples/quickstart/quickstart.c \
      -o "$prefix/qs-static" $static_libs &&
   "$prefix/qs-static" >/dev/null; then
    ok "static library via pkg-config"
else
    ko "static library via pkg-config"
fi
# The cacheable-functions example with the installed generator and rules:
# what an application's Makefile does.
work="$prefix/fn"
mkdir -p "$work"
cp examples/functions/functions.c examples/functions/functions.hcache "$work/"
cat > "$work/Makefile" <<'MK'
include $(shell pkg-config --variable=mkfile hydracache)
CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $(shell pkg-config --cflags hydracache)
LDLIBS += $(shell pkg-config --libs hydracache) -pthread
functions: functions.o functions.hc.o
functions.o: functions.hc.h
MK
if make --no-print-directory -s -C "$work" functions >/dev/null &&
   LD_LIBRARY_PATH="$prefix/lib" "$work/functions" | grep -q '^fib(90) = 2880067194370816120' &&
   [ -f "$work/functions.hc.d" ]; then
    ok "hcachegen and hydracache.mk via pkg-config"
else
    ko "hcachegen and hydracache.mk via pkg-config"
fi
# Touching the .hcache remakes the outputs; a second make does nothing.
sleep 1
touch "$work/functions.hcache"
if make --no-print-directory -C "$work" functions | grep -q hcachegen &&
   make --no-print-directory -C "$work" functions | grep -q 'is up to date'; then
    ok "the depfile drives rebuilds"
else
    ko "the depfile drives rebuilds"
fi
rm -rf "$work"

if make --no-print-directory -s uninstall PREFIX="$prefix" >/dev/null &&
   [ -z "$(find "$prefix" -type f ! -name 'qs-*')" ]; then
    ok "make uninstall removes every file"
else
    ko "make uninstall removes every file"
fi
echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
