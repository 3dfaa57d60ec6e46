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
         include/hydracache/observability.h \
         lib/libhydracache.a lib/libhydracache.so lib/libhydracache.so.0 \
         lib/libhydracache-sqlite.a lib/libhydracache-sqlite.so lib/libhydracache-sqlite.so.0 \
         lib/libhydracache-pg.a lib/libhydracache-pg.so lib/libhydracache-pg.so.0 \
         lib/libhydracache-observability.a lib/libhydracache-observability.so \
         lib/libhydracache-observability.so.0 \
         lib/pkgconfig/hydracache.pc lib/pkgconfig/hydracache-sqlite.pc lib/pkgconfig/hydracache-pg.pc \
         lib/pkgconfig/hydracache-observability.pc \
         bin/hcache-replay bin/hcachegen bin/hcache-stat share/hydracache/hydracache.mk; do
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
# Exposing a cache over HTTP takes five lines with the observability
# library, found by pkg-config alone; the program asks its own actuator.
cat > "$prefix/obs.c" <<'C'
#include <stdio.h>
#include <hydracache.h>
int main(void)
{
    hc_cache *c;
    hc_registry *reg;
    hc_actuator *act;
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = 0;                                 /* an ephemeral port, for the test */
    if (hc_cache_open(&c, NULL) != HC_OK) return 1;
    /* The five lines: */
    hc_registry_new(&reg);
    hc_registry_add(reg, c);
    if (hc_actuator_start(&act, reg, &o, NULL) != HC_OK) return 1;
    /* ... serve ... */
    hc_actuator_stop(act);
    hc_registry_free(reg);
    hc_buf b = HC_BUF_INIT;
    if (hc_cache_stats_json(c, &b) != HC_OK) return 1;
    printf("%s\n", (char *)b.data);
    hc_buf_free(&b);
    hc_cache_close(c);
    return 0;
}
C
ocflags=$(pkg-config --cflags hydracache-observability) && olibs=$(pkg-config --libs hydracache-observability)
if cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror $ocflags "$prefix/obs.c" -o "$prefix/qs-obs-shared" $olibs -pthread &&
   LD_LIBRARY_PATH="$prefix/lib" "$prefix/qs-obs-shared" | grep -q '"hit_ratio": null'; then
    ok "observability library via pkg-config"
else
    ko "observability library via pkg-config"
fi
ostatic=$(pkg-config --static --libs hydracache-observability |
          sed -e "s|-lhydracache-observability|$prefix/lib/libhydracache-observability.a|" \
              -e "s|-lhydracache |$prefix/lib/libhydracache.a |")
if cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror $ocflags "$prefix/obs.c" -o "$prefix/qs-obs-static" $ostatic &&
   "$prefix/qs-obs-static" | grep -q '"hit_ratio": null'; then
    ok "static observability library via pkg-config"
else
    ko "static observability library via pkg-config"
fi
if "$prefix/bin/hcache-stat" --help | grep -q '^usage: hcache-stat'; then
    ok "hcache-stat runs"
else
    ko "hcache-stat runs"
fi
rm -f "$prefix/obs.c"

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
