#!/bin/sh
# A throwaway PostgreSQL server for the tests and benchmarks.
#
#   scripts/pg.sh start DIR    initdb in DIR/data, start a server listening
#                              only on a Unix socket in DIR; prints its conninfo
#   scripts/pg.sh stop DIR     stop it (DIR is left for the caller to remove)
#   scripts/pg.sh run CMD...   start one in a new temporary directory, run CMD
#                              with HC_PG_CONNINFO set, stop it, remove the
#                              directory, exit with CMD's status
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` user (the Debian package creates it). The superuser is called
# postgres either way, trusted on the socket; fsync is off: the data is
# thrown away. `run` does nothing but run CMD when HC_SKIP_PG=1 (the tests
# then skip, and say how many) or when HC_PG_CONNINFO is already set (a
# server of your own).
set -eu

bindir() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    echo "pg.sh: no initdb found: install the postgresql package (scripts/deps.sh pg)" >&2
    exit 1
}

# Run a command as the server's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    dir=$1
    bin=$(bindir)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses= -c port=5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "host=$dir port=5432 user=postgres dbname=postgres"
}

stop() {
    dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
start) start "$2" ;;
stop) stop "$2" ;;
run)
    shift
    if [ "${HC_SKIP_PG:-0}" = 1 ] || [ -n "${HC_PG_CONNINFO:-}" ]; then
        exec "$@"
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/hcpg.XXXXXX")
    chmod 755 "$dir"
    trap 'stop "$dir" || true; rm -rf "$dir"' EXIT INT TERM
    HC_PG_CONNINFO=$(start "$dir")
    export HC_PG_CONNINFO
    st=0
    "$@" || st=$?
    exit $st
    ;;
*)
    echo "usage: scripts/pg.sh start DIR | stop DIR | run CMD..." >&2
    exit 2
    ;;
esac
