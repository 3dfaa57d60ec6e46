#!/bin/sh
# make install into a temporary prefix, used the way a user would:
#
#   tests/install-test.sh BUILD_DIR [RESULTS]
#
#   - every file is installed: headers, libraries, pkg-config modules,
#     programs, hydracache.mk, man pages, documentation, CMake package;
#   - programs built with nothing but `pkg-config --cflags --libs` run
#     without LD_LIBRARY_PATH, given the prefix's lib as their runpath (what
#     the README tells a user of a prefix outside the linker's path), for
#     each of the three modules; and static, with --static;
#   - the man pages render without warnings;
#   - hcachegen and hydracache.mk through pkg-config (the functions
#     example), with dependency tracking;
#   - ldconfig ($(LDCONFIG)) runs when installing to the live system as
#     root, and not into a DESTDIR, which gets the same files under it;
#   - make uninstall removes every file.
# BUILD_DIR is the build that make install copies (build/release). Appends
# "release install P F S" to RESULTS.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/testlib.sh"
t_init install "${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
prefix=$tmp/prefix
cd "$root" || exit 2

# A stand-in for ldconfig that says when it ran.
cat > "$tmp/ldconfig" <<SH
#!/bin/sh
echo ran >> "$tmp/ldconfig.ran"
SH
chmod +x "$tmp/ldconfig"

if make --no-print-directory -s install PREFIX="$prefix" LDCONFIG="$tmp/ldconfig" > "$log" 2>&1; then
    ok "make install"
else
    ko "make install" "$log"
fi
# ldconfig: only as root, and only without DESTDIR (here there is none).
if [ "$(id -u)" -eq 0 ]; then
    if [ -f "$tmp/ldconfig.ran" ]; then ok "ldconfig ran (as root, no DESTDIR)"; else ko "ldconfig ran (as root, no DESTDIR)"; fi
else
    if [ ! -f "$tmp/ldconfig.ran" ]; then ok "ldconfig did not run (not root)"; else ko "ldconfig did not run (not root)"; fi
fi

version=$(t_version)
# The soname's version, as the Makefile derives it: the ABI series, 0.MINOR
# in 0.x (a minor release may break the ABI), MAJOR from 1.0 on.
major=${version%%.*}
if [ "$major" = 0 ]; then minor=${version#0.}; so=0.${minor%%.*}; else so=$major; fi
docs="README.md CHANGELOG.md LICENSE $(cd docs && ls *.md)"
files="include/hydracache.h include/hydracache/core.h include/hydracache/gen.h
       include/hydracache/bus.h include/hydracache/sqlite.h include/hydracache/pg.h
       include/hydracache/observability.h
       bin/hcache-replay bin/hcachegen bin/hcache-stat share/hydracache/hydracache.mk
       share/man/man1/hcachegen.1 share/man/man1/hcache-replay.1
       lib/cmake/hydracache/hydracache-config.cmake
       lib/cmake/hydracache/hydracache-config-version.cmake
       lib/cmake/hydracache/hydracache-generate.cmake"
for l in hydracache hydracache-sqlite hydracache-pg hydracache-observability; do
    files="$files lib/lib$l.a lib/lib$l.so lib/lib$l.so.$so lib/lib$l.so.$version lib/pkgconfig/$l.pc"
done
for d in $docs; do files="$files share/doc/hydracache/$d"; done
# SANDBOX.md's pictures, beside it as in the tree.
for i in docs/images/*.png; do files="$files share/doc/hydracache/images/${i#docs/images/}"; done
# Each library's soname names its ABI series.
badso=""
for l in hydracache hydracache-sqlite hydracache-pg hydracache-observability; do
    readelf -d "$prefix/lib/lib$l.so" 2>/dev/null | grep -q "SONAME.*\[lib$l\.so\.$so\]" || badso="$badso $l"
done
if [ -z "$badso" ]; then ok "sonames lib<name>.so.$so"; else ko "soname not lib<name>.so.$so:$badso"; fi
missing=""
for f in $files; do [ -e "$prefix/$f" ] || missing="$missing $f"; done
if [ -z "$missing" ]; then ok "every file installed ($(echo $files | wc -w))"; else ko "not installed:$missing"; fi
# The installed documents are the tree's.
differ=""
for d in $docs; do
    src=$d
    [ -f "$src" ] || src=docs/$d
    cmp -s "$src" "$prefix/share/doc/hydracache/$d" || differ="$differ $d"
done
if [ -z "$differ" ]; then ok "the documentation in share/doc/hydracache"; else ko "differ from the tree's:$differ"; fi

# The man pages: what `man` shows, without a warning from groff.
for m in hcachegen hcache-replay; do
    page=$prefix/share/man/man1/$m.1
    if groff -man -Tutf8 -ww -z "$page" > "$log" 2>&1 && [ ! -s "$log" ] &&
       groff -man -Tutf8 "$page" 2>/dev/null | sed 's/.\x08//g' | grep -q "^NAME"; then
        ok "man page $m(1) renders without warnings"
    else
        ko "man page $m(1) renders without warnings" "$log"
    fi
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
unset LD_LIBRARY_PATH
libdir=$(pkg-config --variable=libdir hydracache)
CC=${CC:-cc}
STD="-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror"

# One program per module, as the README says: hydracache alone for the
# cache (quickstart); hydracache-sqlite (with sqlite3, which the program
# calls itself) and hydracache-pg (with libpq) for the adapters. Linked
# with a runpath to the prefix's lib, as the README tells a user of a
# prefix outside the dynamic linker's path; run without LD_LIBRARY_PATH.
if $CC $STD $(pkg-config --cflags hydracache) examples/quickstart/quickstart.c -o "$tmp/qs-shared" \
       $(pkg-config --libs hydracache) -Wl,-rpath,"$libdir" > "$log" 2>&1 &&
   "$tmp/qs-shared" > "$log" 2>&1; then
    ok "hydracache: built with pkg-config and a runpath, runs without LD_LIBRARY_PATH"
else
    ko "hydracache: built with pkg-config and a runpath, runs without LD_LIBRARY_PATH" "$log"
fi
# Without the runpath the program is not found at run time (the prefix is
# not among the dynamic linker's directories): what the README's advice is
# for. Not a test where a libhydracache.so.$so is installed system-wide.
if /sbin/ldconfig -p 2>/dev/null | grep -q "libhydracache\.so\.$so "; then
    t_skip "without the runpath: a libhydracache.so.$so is installed on this system"
elif $CC $STD $(pkg-config --cflags hydracache) examples/quickstart/quickstart.c -o "$tmp/qs-norpath" \
       $(pkg-config --libs hydracache) > "$log" 2>&1 &&
   ! "$tmp/qs-norpath" > "$log" 2>&1 && grep -q "libhydracache.so.$so" "$log"; then
    ok "without the runpath: libhydracache.so.$so not found, as the README says"
else
    ko "without the runpath: libhydracache.so.$so not found, as the README says" "$log"
fi
cat > "$tmp/sqlite.c" <<'C'
#include <sqlite3.h>
#include <stdio.h>
#include <hydracache.h>
int main(void)
{
    sqlite3 *conn;
    hc_db *db;
    hc_error err;
    if (sqlite3_open(":memory:", &conn) != SQLITE_OK) return 1;
    int rc = hc_db_sqlite(&db, conn, &err);
    if (rc != HC_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
    hc_db_free(db);
    sqlite3_close(conn);
    puts(hc_version_string());
    return 0;
}
C
cat > "$tmp/pg.c" <<'C'
#include <stdio.h>
#include <hydracache.h>
int main(void)
{
    hc_db *db;
    hc_error err;
    /* A NULL connection is refused: the call links and runs. */
    if (hc_db_pg(&db, NULL, &err) != HC_EINVAL) return 1;
    puts(hc_version_string());
    return 0;
}
C
for m in sqlite:"hydracache-sqlite sqlite3" pg:"hydracache-pg"; do
    name=${m%%:*} mods=${m#*:}
    if $CC $STD $(pkg-config --cflags $mods) "$tmp/$name.c" -o "$tmp/$name" \
           $(pkg-config --libs $mods) -Wl,-rpath,"$libdir" > "$log" 2>&1 &&
       [ "$("$tmp/$name" 2>"$log")" = "$version" ]; then
        ok "pkg-config $mods: built and run"
    else
        ko "pkg-config $mods: built and run" "$log"
    fi
done

# Static: the archive in place of -lhydracache, then what --static adds for
# it (-pthread -lm, through Libs.private).
static_libs=$(pkg-config --static --libs hydracache | sed "s|-lhydracache|$prefix/lib/libhydracache.a|")
if $CC $STD $(pkg-config --cflags hydracache) examples/quickstart/quickstart.c \
      -o "$tmp/qs-static" $static_libs > "$log" 2>&1 &&
   "$tmp/qs-static" > "$log" 2>&1; then
    ok "static library via pkg-config --static"
else
    ko "static library via pkg-config --static" "$log"
fi
# Exposing a cache over HTTP takes five lines with the observability
# library, found by pkg-config alone; the program asks its own actuator.
cat > "$tmp/obs.c" <<'C'
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
if $CC $STD $ocflags "$tmp/obs.c" -o "$tmp/qs-obs-shared" $olibs -Wl,-rpath,"$libdir" > "$log" 2>&1 &&
   "$tmp/qs-obs-shared" 2>"$log" | grep -q '"hit_ratio": null'; then
    ok "hydracache-observability: five lines, built with pkg-config and a runpath, run"
else
    ko "hydracache-observability: five lines, built with pkg-config and a runpath, run" "$log"
fi
ostatic=$(pkg-config --static --libs hydracache-observability |
          sed -e "s|-lhydracache-observability|$prefix/lib/libhydracache-observability.a|" \
              -e "s|-lhydracache |$prefix/lib/libhydracache.a |")
if $CC $STD $ocflags "$tmp/obs.c" -o "$tmp/qs-obs-static" $ostatic > "$log" 2>&1 &&
   "$tmp/qs-obs-static" 2>"$log" | grep -q '"hit_ratio": null'; then
    ok "static observability library via pkg-config --static"
else
    ko "static observability library via pkg-config --static" "$log"
fi
if "$prefix/bin/hcache-stat" --help 2>"$log" | grep -q '^usage: hcache-stat'; then
    ok "hcache-stat runs"
else
    ko "hcache-stat runs" "$log"
fi

# The cacheable-functions example with the installed generator and rules:
# what an application's Makefile does.
work=$tmp/fn
mkdir -p "$work"
cp examples/functions/functions.c examples/functions/functions.hcache "$work/"
cat > "$work/Makefile" <<'MK'
include $(shell pkg-config --variable=mkfile hydracache)
CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $(shell pkg-config --cflags hydracache)
LDFLAGS += -Wl,-rpath,$(shell pkg-config --variable=libdir hydracache)
LDLIBS += $(shell pkg-config --libs hydracache) -pthread
functions: functions.o functions.hc.o
functions.o: functions.hc.h
MK
if make --no-print-directory -C "$work" functions > "$log" 2>&1 &&
   "$work/functions" 2>&1 | grep -q '^fib(90) = 2880067194370816120' &&
   [ -f "$work/functions.hc.d" ]; then
    ok "hcachegen and hydracache.mk via pkg-config"
else
    ko "hcachegen and hydracache.mk via pkg-config" "$log"
fi
# Touching the .hcache remakes the outputs; a second make does nothing.
find "$work" -type f -exec touch -d '2001-01-01 00:00:00' {} +
touch "$work/functions.hcache"
if make --no-print-directory -C "$work" functions 2>&1 | grep -q hcachegen &&
   make --no-print-directory -C "$work" functions 2>&1 | grep -q 'is up to date'; then
    ok "the depfile drives rebuilds"
else
    ko "the depfile drives rebuilds"
fi

# DESTDIR: the same files under it, the pkg-config files naming PREFIX,
# and no ldconfig (the live system's libraries did not change).
rm -f "$tmp/ldconfig.ran"
stage=$tmp/stage
if make --no-print-directory -s install DESTDIR="$stage" PREFIX=/opt/hc LDCONFIG="$tmp/ldconfig" > "$log" 2>&1 &&
   [ "$(cd "$stage/opt/hc" && find . | sort)" = "$(cd "$prefix" && find . | sort)" ] &&
   grep -q '^prefix=/opt/hc$' "$stage/opt/hc/lib/pkgconfig/hydracache.pc" &&
   [ ! -f "$tmp/ldconfig.ran" ]; then
    ok "DESTDIR: the same files, PREFIX in the .pc files, no ldconfig"
else
    ko "DESTDIR: the same files, PREFIX in the .pc files, no ldconfig" "$log"
fi
if make --no-print-directory -s uninstall DESTDIR="$stage" PREFIX=/opt/hc > "$log" 2>&1 &&
   [ -z "$(find "$stage" ! -type d)" ]; then
    ok "make uninstall DESTDIR removes every file"
else
    find "$stage" ! -type d >> "$log"
    ko "make uninstall DESTDIR removes every file" "$log"
fi

if make --no-print-directory -s uninstall PREFIX="$prefix" > "$log" 2>&1 &&
   [ -z "$(find "$prefix" ! -type d)" ]; then
    ok "make uninstall removes every file"
else
    find "$prefix" ! -type d >> "$log"
    ko "make uninstall removes every file" "$log"
fi

t_done
