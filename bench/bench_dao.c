/*
** bench_dao.c -- a cached DAO read against the same read from the database.
**
** The code under test is what hcachegen writes for tests/dao/dao.hcache:
**
**   direct   dao_user_by_id_direct(db, id, &u): the prepared primary-key
**            query (bind, step, seven columns mapped into a struct with two
**            strings), through the hc_db adapter, as an application without
**            a cache would run it.
**   cached   dao_user_by_id(c, db, id, &u): the same call through the cache,
**            every key present: build the key, hit, decode the struct.
**
** 10,000 users, looked up in one fixed pseudo-random order on both sides,
** so both return the same rows. On SQLite the database is a file (in the OS
** page cache: the query does no I/O, which is the strongest baseline); on
** PostgreSQL it is a server on a Unix socket (HC_PG_CONNINFO; `make bench`
** starts a throwaway one with scripts/pg.sh, and HC_SKIP_PG=1 skips it).
**
** The machine is shared and noisy: each side runs five times, alternating,
** and the ratio is taken between the best runs, with the median alongside.
** It prints the figures and exits 0 unless a read returns a wrong row.
*/
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hydracache.h"
#include "dao.hc.h"
#include "bench.h"

#define NUSERS 10000
#define RUNS   5

static int64_t order[1 << 16];

/* ns per read of n reads from order[], or a negative number on a wrong row. */
static double run(hc_cache *c, hc_db *db, size_t n, bool cached)
{
    dao_user u = {0};
    hc_error err;
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        int64_t id = order[i % (sizeof order / sizeof order[0])];
        int rc = cached ? dao_user_by_id(c, db, id, &u, &err) : dao_user_by_id_direct(db, id, &u, &err);
        if (rc != HC_OK || u.id != id) {
            fprintf(stderr, "bench_dao: user %lld: %s %s\n", (long long)id, hc_err_name(rc), err.message);
            dao_user_clear(&u);
            return -1;
        }
    }
    double t = (now_ns() - t0) / (double)n;
    dao_user_clear(&u);
    return t;
}

static int measure(const char *name, hc_db *db, size_t n_direct, size_t n_cached)
{
    hc_cache *c;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = 2 * NUSERS;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    if (hc_cache_open(&c, &cfg) != HC_OK) return -1;
    /* Warm up: every key loaded once, the statement prepared. */
    for (int64_t id = 1; id <= NUSERS; id++) {
        dao_user u = {0};
        if (dao_user_by_id(c, db, id, &u, NULL) != HC_OK) return -1;
        dao_user_clear(&u);
    }
    double d[RUNS], k[RUNS], ratio[RUNS];
    int runs = bench_runs(RUNS);
    for (int r = 0; r < runs; r++) {
        d[r] = run(c, db, n_direct, false);
        k[r] = run(c, db, n_cached, true);
        if (d[r] < 0 || k[r] < 0) return -1;
        ratio[r] = d[r] / k[r];
    }
    hc_stats s;
    hc_stats_get(c, &s);
    hc_cache_close(c);
    qsort(d, (size_t)runs, sizeof d[0], cmp_double);
    qsort(k, (size_t)runs, sizeof k[0], cmp_double);
    qsort(ratio, (size_t)runs, sizeof ratio[0], cmp_double);
    printf("%-10s direct %9.0f ns/read (median %9.0f)   cached %6.0f ns/read (median %6.0f)\n",
           name, d[0], d[runs / 2], k[0], k[runs / 2]);
    printf("%-10s cached reads are %.0fx faster (best runs; median of per-run ratios %.0fx); "
           "%llu hits, %llu loads\n",
           name, d[0] / k[0], ratio[runs / 2], (unsigned long long)s.hits, (unsigned long long)s.loads);
    return 0;
}

static const char fill_sql[] =
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,"
    "  score DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank BIGINT);"
    "CREATE TABLE docs (id BIGINT PRIMARY KEY, body BYTEA NOT NULL, size BIGINT NOT NULL, big NUMERIC(20));";

static int bench_sqlite(void)
{
    char dir[] = "/tmp/hc_bench_dao.XXXXXX", path[64];
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/bench.db", dir);
    sqlite3 *lite;
    int st = -1;
    if (sqlite3_open(path, &lite) != SQLITE_OK) goto out;
    if (sqlite3_exec(lite, fill_sql, NULL, NULL, NULL) != SQLITE_OK) goto out;
    if (sqlite3_exec(lite, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
                           "INSERT INTO users SELECT i, 'user' || i, CASE WHEN i % 3 THEN 'user' || i || '@example.com' END,"
                           " i * 0.5, i % 2, i % 100, CASE WHEN i % 5 THEN i END FROM n",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    hc_db *db;
    if (hc_db_sqlite(&db, lite, NULL) != HC_OK) goto out;
    st = measure("sqlite", db, 200000, 2000000);
    hc_db_free(db);
out:
    if (st) fprintf(stderr, "bench_dao: sqlite: %s\n", sqlite3_errmsg(lite));
    sqlite3_close(lite);
    unlink(path);
    rmdir(dir);
    return st;
}

static int bench_pg(void)
{
    const char *info = getenv("HC_PG_CONNINFO");
    if (!info || !*info) {
        printf("postgres   skipped: HC_PG_CONNINFO is not set (make bench starts a server)\n");
        return 0;
    }
    PGconn *pg = PQconnectdb(info);
    int st = -1;
    if (PQstatus(pg) != CONNECTION_OK) goto out;
    PGresult *r = PQexec(pg, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS hc_bench_dao CASCADE;"
                             "CREATE SCHEMA hc_bench_dao; SET search_path = hc_bench_dao");
    PQclear(r);
    r = PQexec(pg, fill_sql);
    PQclear(r);
    r = PQexec(pg, "INSERT INTO users SELECT i, 'user' || i, CASE WHEN i % 3 <> 0 THEN 'user' || i || '@example.com' END,"
                   " i * 0.5, i % 2 = 1, i % 100, CASE WHEN i % 5 <> 0 THEN i END FROM generate_series(1, 10000) AS i;"
                   "ANALYZE users");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        PQclear(r);
        goto out;
    }
    PQclear(r);
    hc_db *db;
    if (hc_db_pg(&db, pg, NULL) != HC_OK) goto out;
    st = measure("postgres", db, 20000, 2000000);
    hc_db_free(db);
    PQclear(PQexec(pg, "DROP SCHEMA hc_bench_dao CASCADE"));
out:
    if (st) fprintf(stderr, "bench_dao: postgres: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return st;
}

int main(void)
{
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        order[i] = (int64_t)(splitmix64(&seed) % NUSERS) + 1;
    printf("Cached DAO read vs the same prepared query (10,000 users, one random order)\n");
    if (bench_sqlite() != 0) return 1;
    if (bench_pg() != 0) return 1;
    return 0;
}
