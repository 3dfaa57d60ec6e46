#!/bin/sh
# Install the Debian packages HydraCache needs, if any are missing.
#
#   scripts/deps.sh [GROUP...]     groups: build (default), test, pg
#
# Uses apt-get as root, or through sudo otherwise. Prints nothing and does
# nothing when everything is already installed, so `make` can call it on
# every run. HC_NO_DEPS=1 skips it (for machines managed by other means).
set -eu

[ "${HC_NO_DEPS:-0}" = 1 ] && exit 0

# gcc only recommends libc6-dev, and recommends are not installed here.
build="make gcc libc6-dev binutils pkg-config libxxhash-dev gzip re2c lemon libsqlite3-dev libpq-dev"
# libhydracache-observability (HTTP, JSON), hcache-stat (libcurl) and
# hcache-sandbox (HTTP, JSON, YAML; libjs-chart.js: the charts of its
# console, which it serves from /usr/share/javascript/chart.js).
build="$build libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libyaml-dev libjs-chart.js"
# prometheus for promtool, which checks the metrics text; python3 for the
# sandbox's HTTP suite (Node.js and npm below); groff-base checks the man
# pages; cmake and ninja-build build the CMake example against an
# installed HydraCache; chromium runs the sandbox console's browser tests
# (driven by playwright-core from npm, which downloads no browser).
test="clang libcmocka-dev prometheus python3 groff-base cmake ninja-build chromium"
pg="postgresql"

want=""
[ $# -eq 0 ] && set -- build
for g in "$@"; do
    case "$g" in
    build) want="$want $build" ;;
    test)  want="$want $build $test"
           # Some Node.js packages carry npm, Debian's comes apart: ask for
           # Debian's only where there is no npm at all.
           command -v npm >/dev/null 2>&1 || want="$want nodejs npm" ;;
    pg)    want="$want $pg" ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root or install sudo, or install them yourself" >&2
    exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# An index older than a day (or none) is refreshed once.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get update -qq
fi
# What apt-get writes to stdout is dropped, as before; its stderr is shown,
# all of it when the install fails, and otherwise without debconf's notes
# that it cannot ask questions ("debconf: delaying package configuration,
# since apt-utils is not installed"), which are noise here.
log=$(mktemp "${TMPDIR:-/tmp}/deps.XXXXXX")
if ! $sudo apt-get install -y -qq --no-install-recommends $missing 2>"$log" >/dev/null; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
grep -v '^debconf: ' "$log" >&2 || true
rm -f "$log"
