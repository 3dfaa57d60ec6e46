#!/bin/sh
# The CMake package, used as an application uses it: examples/cmake built
# against `make install` into a temporary prefix, with the Ninja and the
# Makefile generators (and once with the static libraries):
#
#   tests/cmake-test.sh BUILD_DIR [RESULTS]
#
# For each generator: configure and build; a second build does nothing;
# touching schema.sql (named only in hcachegen's depfile) or library.hcache
# runs hcachegen again, and then nothing more; under Ninja, an unchanged
# output is not recompiled; the program runs. Also: find_package refuses a
# version of another 0.x series, and an unknown component. Appends
# "release cmake P F S" to RESULTS.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/testlib.sh"
t_init cmake "${2:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
prefix=$tmp/prefix

for tool in cmake ninja; do
    command -v $tool > /dev/null || { t_skip "no $tool (scripts/deps.sh test installs it)"; t_done; }
done
if ! make --no-print-directory -s -C "$root" install PREFIX="$prefix" LDCONFIG=true > "$log" 2>&1; then
    ko "make install" "$log"
    t_done
fi

# The example in a copy of its own, so that touching its files leaves the
# tree alone. It and the installed files go back to a time in the past, so
# that the outputs of the first build are newer than them, and a file
# touched later newer than those outputs, without waiting for the clock.
# (The build directories are left as they are: Ninja keeps the times of
# its outputs in its log.)
src=$tmp/src
cp -r "$root/examples/cmake" "$src"
find "$src" "$prefix" -type f -exec touch -d '2001-01-01 00:00:00' {} +

build() { cmake --build "$1" > "$log" 2>&1; }
gens() { grep -c 'hcachegen library.hcache' "$log"; }
# Whether the last build did anything at all.
idle() {
    case $1 in
    ninja) grep -q '^ninja: no work to do' "$log" ;;
    make) ! grep -q -E 'hcachegen|Building|Linking' "$log" ;;
    esac
}

version=$(cd "$root" && t_version)
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
for g in ninja make; do
    case $g in ninja) G=Ninja ;; make) G="Unix Makefiles" ;; esac
    b=$tmp/build-$g
    if cmake -S "$src" -B "$b" -G "$G" -DCMAKE_PREFIX_PATH="$prefix" > "$log" 2>&1 &&
       ! grep -q -i 'warning' "$log"; then
        ok "$G: configure (no warnings)"
    else
        ko "$G: configure (no warnings)" "$log"
        continue
    fi
    if build "$b" && [ "$(gens)" -eq 1 ] && [ -x "$b/library" ]; then ok "$G: build"; else ko "$G: build" "$log"; continue; fi
    if build "$b" && idle $g; then ok "$G: a second build does nothing"; else ko "$G: a second build does nothing" "$log"; fi
    for f in schema.sql library.hcache; do
        touch "$src/$f"
        if build "$b" && [ "$(gens)" -eq 1 ]; then ok "$G: touching $f regenerates"; else ko "$G: touching $f regenerates" "$log"; fi
        if [ $g = ninja ]; then
            if grep -q 'Building C object' "$log"; then
                ko "$G: an unchanged output is not recompiled" "$log"
            else
                ok "$G: an unchanged output is not recompiled"
            fi
        fi
        if build "$b" && idle $g; then ok "$G: and then nothing more"; else ko "$G: and then nothing more" "$log"; fi
    done
    # Without LD_LIBRARY_PATH: CMake gives the program a runpath to the
    # prefix's lib, as for any imported shared library.
    if (cd "$tmp" && env -u LD_LIBRARY_PATH "$b/library") > "$log" 2>&1 &&
       grep -q '^after library_retitle(3) *-> "Kindred (1979)"' "$log"; then
        ok "$G: the program runs"
    else
        ko "$G: the program runs" "$log"
    fi
    # It records the libraries' sonames, which name the ABI series (0.MINOR
    # in 0.x), not the file it linked.
    if [ "$major" -eq 0 ]; then so=0.$minor; else so=$major; fi
    if readelf -d "$b/library" > "$log" 2>&1 &&
       grep -q "NEEDED.*\[libhydracache-sqlite\.so\.$so\]" "$log"; then
        ok "$G: the program needs libhydracache-sqlite.so.$so"
    else
        ko "$G: the program needs libhydracache-sqlite.so.$so" "$log"
    fi
done

# The static archives (hydracache_USE_STATIC_LIBS): nothing of HydraCache
# among the libraries the program needs at run time.
b=$tmp/build-static
if cmake -S "$src" -B "$b" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -Dhydracache_USE_STATIC_LIBS=ON > "$log" 2>&1 &&
   build "$b" && "$b/library" > "$log" 2>&1 && ! readelf -d "$b/library" | grep -q 'NEEDED.*hydracache'; then
    ok "hydracache_USE_STATIC_LIBS links the archives"
else
    ko "hydracache_USE_STATIC_LIBS links the archives" "$log"
fi

# find_package's checks: another 0.x series, an unknown component.
probe() {
    mkdir -p "$tmp/probe"
    printf 'cmake_minimum_required(VERSION 3.20)\nproject(probe C)\nfind_package(%s)\n' "$1" > "$tmp/probe/CMakeLists.txt"
    rm -rf "$tmp/probe/b"
    cmake -S "$tmp/probe" -B "$tmp/probe/b" -DCMAKE_PREFIX_PATH="$prefix" > "$log" 2>&1
}
if probe "hydracache $version REQUIRED" && probe "hydracache $major.$minor REQUIRED COMPONENTS core sqlite pg"; then
    ok "find_package(hydracache $version) and ($major.$minor COMPONENTS core sqlite pg)"
else
    ko "find_package(hydracache $version) and ($major.$minor COMPONENTS core sqlite pg)" "$log"
fi
if [ "$major" -eq 0 ]; then other="0.$((minor + 1))"; else other="$((major + 1)).0"; fi
if ! probe "hydracache $other REQUIRED" && grep -q 'hydracache-config.cmake, version: '"$version" "$log"; then
    ok "find_package(hydracache $other) is refused"
else
    ko "find_package(hydracache $other) is refused" "$log"
fi
if ! probe "hydracache REQUIRED COMPONENTS nosuch" && grep -q "no component 'nosuch'" "$log"; then
    ok "an unknown component is refused"
else
    ko "an unknown component is refused" "$log"
fi

t_done
