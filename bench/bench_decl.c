/*
** bench_decl.c -- what the per-declaration counters cost a cached DAO read.
**
** Two copies of the code hcachegen writes for tests/dao/dao.hcache: module
** dao, compiled as generated (it counts each call per declaration), and
** module daonc, the same file with another module name compiled with
** -DHC_NO_DECL_STATS (it does not). Both read 10,000 cached users, every
** key present, in one fixed pseudo-random order, from two caches over the
** same SQLite database, alternating seven times; the figures are the best
** and median runs of each side and the ratio of the bests. With no
** per-declaration counting the generated code is what it was before they
** existed, so the ratio is their cost.
**
** `bench_decl N` runs N reads per run instead of 2,000,000: under
** `valgrind --tool=callgrind --toggle-collect=run_dao_user_by_id` (then
** run_daonc_user_by_id), it gives the instructions per read of each side.
**
** It exits 0 unless a read returns a wrong row or the counters are wrong.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hydracache.h"
#include "dao.hc.h"
#include "daonc.hc.h"
#include "bench.h"

#define NUSERS 10000
#define RUNS   7

static int64_t order[1 << 16];
static size_t reads = 2000000;

/* ns per read of n cached reads through FN, or -1 on a wrong row. */
#define RUN(FN, T)                                                                   \
    static double run_##FN(hc_cache *c, hc_db *db, size_t n)                          \
    {                                                                                 \
        T u = {0};                                                                    \
        hc_error err;                                                                 \
        double t0 = now_ns();                                                         \
        for (size_t i = 0; i < n; i++) {                                              \
            int64_t id = order[i % (sizeof order / sizeof order[0])];                 \
            int rc = FN(c, db, id, &u, &err);                                         \
            if (rc != HC_OK || u.id != id) {                                          \
                fprintf(stderr, "bench_decl: user %lld: %s %s\n", (long long)id,      \
                        hc_err_name(rc), err.message);                                \
                return -1;                                                            \
            }                                                                         \
        }                                                                             \
        double t = (now_ns() - t0) / (double)n;                                       \
        T##_clear(&u);                                                                \
        return t;                                                                     \
    }
RUN(dao_user_by_id, dao_user)
RUN(daonc_user_by_id, daonc_user)

static hc_cache *open_cache(const char *name)
{
    hc_cache *c;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = name;
    cfg.max_entries = 2 * NUSERS;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    return hc_cache_open(&c, &cfg) == HC_OK ? c : NULL;
}

static const char fill_sql[] =
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,"
    "  score DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank BIGINT);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
    "INSERT INTO users SELECT i, 'user' || i, CASE WHEN i % 3 THEN 'user' || i || '@example.com' END,"
    " i * 0.5, i % 2, i % 100, CASE WHEN i % 5 THEN i END FROM n";

int main(int argc, char **argv)
{
    if (argc > 1) reads = strtoul(argv[1], NULL, 10);
    if (!reads) return 2;
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        order[i] = (int64_t)(splitmix64(&seed) % NUSERS) + 1;

    char dir[] = "/tmp/hc_bench_decl.XXXXXX", path[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/bench.db", dir);
    sqlite3 *lite = NULL;
    hc_db *db = NULL;
    hc_cache *counted = open_cache("counted"), *plain = open_cache("plain");
    int st = 1;
    if (!counted || !plain || sqlite3_open(path, &lite) != SQLITE_OK ||
        sqlite3_exec(lite, fill_sql, NULL, NULL, NULL) != SQLITE_OK || hc_db_sqlite(&db, lite, NULL) != HC_OK) {
        fprintf(stderr, "bench_decl: setup failed\n");
        goto out;
    }
    for (int64_t id = 1; id <= NUSERS; id++) {
        dao_user u = {0};
        daonc_user v = {0};
        if (dao_user_by_id(counted, db, id, &u, NULL) != HC_OK ||
            daonc_user_by_id(plain, db, id, &v, NULL) != HC_OK)
            goto out;
        dao_user_clear(&u);
        daonc_user_clear(&v);
    }
    double with[RUNS], without[RUNS], ratio[RUNS];
    for (int r = 0; r < RUNS; r++) {
        without[r] = run_daonc_user_by_id(plain, db, reads);
        with[r] = run_dao_user_by_id(counted, db, reads);
        if (with[r] < 0 || without[r] < 0) goto out;
        ratio[r] = with[r] / without[r];
    }
    /* The counters must have seen every call, and only the counted side. */
    hc_decl_stats ds;
    if (hc_decl_stats_get(counted, "dao", "user_by_id", &ds) != HC_OK ||
        ds.calls != (uint64_t)NUSERS + (uint64_t)RUNS * reads || ds.hits != (uint64_t)RUNS * reads ||
        ds.loads != NUSERS || hc_decl_stats_get(plain, "daonc", "user_by_id", &ds) != HC_ENOTFOUND) {
        fprintf(stderr, "bench_decl: the per-declaration counters are wrong\n");
        goto out;
    }
    qsort(with, RUNS, sizeof with[0], cmp_double);
    qsort(without, RUNS, sizeof without[0], cmp_double);
    qsort(ratio, RUNS, sizeof ratio[0], cmp_double);
    printf("Per-declaration counters on a cached DAO read (10,000 users, %d runs of %zu reads, alternating)\n",
           RUNS, reads);
    printf("without  %6.1f ns/read (median %6.1f)\n", without[0], without[RUNS / 2]);
    printf("with     %6.1f ns/read (median %6.1f)\n", with[0], with[RUNS / 2]);
    printf("with / without: %.3f (best runs); median of per-run ratios %.3f\n",
           with[0] / without[0], ratio[RUNS / 2]);
    st = 0;
out:
    hc_db_free(db);
    if (lite) sqlite3_close(lite);
    hc_cache_close(counted);
    hc_cache_close(plain);
    unlink(path);
    rmdir(dir);
    return st;
}
