/*
** test_decl.c -- per-declaration counters, through the code hcachegen
** writes for tests/decl/decl.hcache (queries on a real SQLite file, a
** policy, a cacheable), and the core calls underneath.
*/
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"
#include "decl.hc.h"

typedef struct fx {
    char     dir[64], path[96];
    sqlite3 *lite;
    hc_db   *db;
    hc_cache *c;
} fx;

static fx f;

static void raw(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(f.lite, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("sqlite: %s: %s", sql, msg);
}

static int setup(void **state)
{
    (void)state;
    snprintf(f.dir, sizeof f.dir, "/tmp/hc_decl.XXXXXX");
    if (!mkdtemp(f.dir)) return -1;
    snprintf(f.path, sizeof f.path, "%s/decl.db", f.dir);
    if (sqlite3_open(f.path, &f.lite) != SQLITE_OK) return -1;
    raw("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        "INSERT INTO users VALUES (1, 'alice'), (2, 'bob'), (3, 'carol');");
    if (hc_db_sqlite(&f.db, f.lite, NULL) != HC_OK) return -1;
    return hc_cache_open(&f.c, NULL) == HC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hc_cache_close(f.c);
    hc_db_free(f.db);
    sqlite3_close(f.lite);
    unlink(f.path);
    rmdir(f.dir);
    memset(&f, 0, sizeof f);
    return 0;
}

static hc_decl_stats stats_of(hc_cache *c, const char *name)
{
    hc_decl_stats s;
    int rc = hc_decl_stats_get(c, "dc", name, &s);
    if (rc != HC_OK) fail_msg("no counters for dc.%s: %s", name, hc_err_name(rc));
    return s;
}

static uint64_t bucket_total(const hc_decl_stats *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= HC_DECL_BUCKETS; i++) n += s->load_buckets[i];
    return n;
}

/* The user's function of the cacheable. */
static atomic_int square_runs;
int dc_square_load(int64_t x, int64_t *out, hc_error *err)
{
    atomic_fetch_add(&square_runs, 1);
    if (x < 0) return hc_error_set(err, HC_ELOAD, "no square of %lld", (long long)x);
    *out = x * x;
    return HC_OK;
}

/* ------------------------------------------------------------- tests */

static void test_query_hits_misses_loads(void **state)
{
    (void)state;
    dc_user u = {0};
    hc_error err;
    assert_int_equal(dc_user_by_id(f.c, f.db, 1, &u, &err), HC_OK);        /* miss, load */
    assert_string_equal(u.name, "alice");
    assert_int_equal(dc_user_by_id(f.c, f.db, 1, &u, &err), HC_OK);        /* hit */
    assert_int_equal(dc_user_by_id(f.c, f.db, 99, &u, &err), HC_MISS);     /* miss, load of an absence */
    assert_int_equal(dc_user_by_id(f.c, f.db, 99, &u, &err), HC_MISS);     /* hit of the cached absence */
    assert_int_equal(dc_user_by_id(f.c, f.db, 1, &u, &err), HC_OK);        /* hit */
    dc_user_clear(&u);

    hc_decl_stats s = stats_of(f.c, "user_by_id");
    assert_string_equal(s.module, "dc");
    assert_string_equal(s.name, "user_by_id");
    assert_int_equal(s.kind, HC_DECL_QUERY);
    assert_int_equal(s.calls, 5);
    assert_int_equal(s.hits, 3);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.loads, 2);
    assert_int_equal(s.load_failures, 0);
    assert_int_equal(s.stale_discards, 0);
    assert_int_equal(bucket_total(&s), 2);
    assert_true(s.load_ns_sum > 0);
    double p50 = hc_decl_stats_quantile(&s, 0.5);
    assert_false(isnan(p50));
    assert_true(p50 > 0 && p50 <= 10.0);

    /* The cache's own counters agree. */
    hc_stats cs;
    hc_stats_get(f.c, &cs);
    assert_int_equal(cs.hits, 3);
    assert_int_equal(cs.misses, 2);
    assert_int_equal(cs.loads, 2);
    /* Another declaration was never called here. */
    assert_int_equal(hc_decl_stats_get(f.c, "dc", "user_count", &s), HC_ENOTFOUND);
}

static void test_query_failures(void **state)
{
    (void)state;
    int64_t v = 0;
    hc_error err;
    assert_int_equal(dc_gone(f.c, f.db, 1, &v, &err), HC_EDB);
    assert_int_equal(dc_gone(f.c, f.db, 1, &v, &err), HC_EDB);
    hc_decl_stats s = stats_of(f.c, "gone");
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.loads, 0);
    assert_int_equal(s.load_failures, 2);
    assert_int_equal(bucket_total(&s), 2);
}

/* A statement that invalidates "users" while the query's load runs: the
   value is returned but not stored, counted as a stale discard. */
static int invalidate_users(unsigned what, void *ctx, void *p, void *x)
{
    (void)what;
    (void)p;
    (void)x;
    hc_invalidate_tag(ctx, "users", NULL);
    return 0;
}

static void test_query_stale_discard(void **state)
{
    (void)state;
    int64_t n = 0;
    hc_error err;
    sqlite3_trace_v2(f.lite, SQLITE_TRACE_STMT, invalidate_users, f.c);
    assert_int_equal(dc_user_count(f.c, f.db, &n, &err), HC_OK);
    assert_int_equal(n, 3);
    sqlite3_trace_v2(f.lite, 0, NULL, NULL);
    assert_int_equal(dc_user_count(f.c, f.db, &n, &err), HC_OK);       /* not stored: loads again */
    assert_int_equal(dc_user_count(f.c, f.db, &n, &err), HC_OK);       /* stored: a hit */
    hc_decl_stats s = stats_of(f.c, "user_count");
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.loads, 2);
    assert_int_equal(s.stale_discards, 1);
    assert_int_equal(s.hits, 1);
    hc_stats cs;
    hc_stats_get(f.c, &cs);
    assert_int_equal(cs.stale_load_discards, 1);
}

/* The policy's loader: invalidates its own tag once, then loads; a
   negative id fails. It also reads another declaration through the cache,
   whose own load must not be counted as this one's. */
typedef struct score_ctx {
    int invalidate_once;
    int runs;
} score_ctx;

static int score_loader(void *ctx, int64_t id, int64_t *out, hc_error *err)
{
    score_ctx *sc = ctx;
    sc->runs++;
    if (id < 0) return hc_error_set(err, HC_ELOAD, "no score for %lld", (long long)id);
    int64_t sq;
    if (dc_square(f.c, id, &sq, err) != HC_OK) return err->code;
    if (sc->invalidate_once) {
        sc->invalidate_once = 0;
        char tag[32];
        snprintf(tag, sizeof tag, "score:%lld", (long long)id);
        hc_invalidate_tag(f.c, tag, NULL);
    }
    *out = sq + 1;
    return HC_OK;
}

/*
** Bytes under a cacheable's key that do not decode: dropped and loaded
** again, which the declaration counts as the cache does, one call, a hit
** (the lookup that found them) and then a miss. The hit was lost.
*/
static void test_undecodable_value(void **state)
{
    (void)state;
    assert_int_equal(hc_put(f.c, "dc:square:3", "\x07garbage", 8, NULL), HC_OK);
    hc_stats before;
    hc_stats_get(f.c, &before);
    int64_t v = 0;
    hc_error err;
    assert_int_equal(dc_square(f.c, 3, &v, &err), HC_OK);
    assert_int_equal(v, 9);
    hc_decl_stats s = stats_of(f.c, "square");
    hc_stats after;
    hc_stats_get(f.c, &after);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.hits, after.hits - before.hits);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.loads, 1);
}

static void test_policy_and_cacheable(void **state)
{
    (void)state;
    score_ctx sc = {1, 0};
    int64_t v = 0;
    hc_error err;
    atomic_store(&square_runs, 0);
    assert_int_equal(dc_score(f.c, 4, score_loader, &sc, &v, &err), HC_OK);   /* stale */
    assert_int_equal(v, 17);
    assert_int_equal(dc_score(f.c, 4, score_loader, &sc, &v, &err), HC_OK);   /* loads again */
    assert_int_equal(dc_score(f.c, 4, score_loader, &sc, &v, &err), HC_OK);   /* hit */
    assert_int_equal(dc_score(f.c, -1, score_loader, &sc, &v, &err), HC_ELOAD);
    assert_int_equal(sc.runs, 3);
    hc_decl_stats s = stats_of(f.c, "score");
    assert_int_equal(s.kind, HC_DECL_POLICY);
    assert_int_equal(s.calls, 4);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 3);
    assert_int_equal(s.loads, 2);
    assert_int_equal(s.load_failures, 1);
    assert_int_equal(s.stale_discards, 1);
    assert_int_equal(bucket_total(&s), 3);

    /* The cacheable: called from inside the policy's loader (square(4) then
       a hit), never stale itself. */
    assert_int_equal(dc_square(f.c, -2, &v, &err), HC_ELOAD);
    s = stats_of(f.c, "square");
    assert_int_equal(s.kind, HC_DECL_CACHEABLE);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.loads, 1);
    assert_int_equal(s.load_failures, 1);
    assert_int_equal(s.stale_discards, 0);
    assert_int_equal(atomic_load(&square_runs), 2);
}

/* Iteration lists what was called on this cache, in first-use order. */
typedef struct seen {
    char names[8][32];
    int  n;
    int  stop_after;
} seen;

static int collect(void *ctx, const hc_decl_stats *s)
{
    seen *sn = ctx;
    if (sn->n < 8) snprintf(sn->names[sn->n], sizeof sn->names[0], "%s.%s", s->module, s->name);
    sn->n++;
    return sn->stop_after && sn->n == sn->stop_after ? 42 : 0;
}

static void test_each_and_per_cache(void **state)
{
    (void)state;
    hc_cache *other;
    assert_int_equal(hc_cache_open(&other, NULL), HC_OK);
    seen sn = {0};
    assert_int_equal(hc_decl_stats_each(other, collect, &sn), HC_OK);
    assert_int_equal(sn.n, 0);

    int64_t v;
    dc_user u = {0};
    assert_int_equal(dc_square(f.c, 3, &v, NULL), HC_OK);
    assert_int_equal(dc_user_by_id(f.c, f.db, 2, &u, NULL), HC_OK);
    assert_int_equal(dc_square(other, 3, &v, NULL), HC_OK);
    assert_int_equal(dc_square(other, 3, &v, NULL), HC_OK);
    dc_user_clear(&u);

    /* The process numbered user_by_id before square (earlier tests). */
    assert_int_equal(hc_decl_stats_each(f.c, collect, &sn), HC_OK);
    assert_int_equal(sn.n, 2);
    assert_string_equal(sn.names[0], "dc.user_by_id");
    assert_string_equal(sn.names[1], "dc.square");
    hc_decl_stats s = stats_of(other, "square");
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.hits, 1);
    s = stats_of(f.c, "square");
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.hits, 0);
    /* A non-zero return stops the walk and is returned. */
    seen one = {.stop_after = 1};
    assert_int_equal(hc_decl_stats_each(f.c, collect, &one), 42);
    assert_int_equal(one.n, 1);
    hc_cache_close(other);
}

/* Hand-made descriptors: one with the same names as another counts as
   it; NULLs are accepted. */
static void test_descriptors(void **state)
{
    (void)state;
    static hc_decl a = {"hand", "made", HC_DECL_CACHEABLE, 0};
    static hc_decl b = {"hand", "made", HC_DECL_CACHEABLE, 0};
    static hc_decl nameless = {NULL, NULL, HC_DECL_QUERY, 0};
    hc_decl_call(f.c, &a, true);
    hc_decl_call(f.c, &b, true);
    hc_decl_call(f.c, &b, false);
    hc_decl_call(f.c, &nameless, true);
    hc_decl_call(NULL, &a, true);
    hc_decl_call(f.c, NULL, true);
    assert_int_equal(a.id, b.id);
    assert_int_equal(nameless.id, 0);
    hc_decl_stats s;
    assert_int_equal(hc_decl_stats_get(f.c, "hand", "made", &s), HC_OK);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.hits, 2);
    assert_int_equal(hc_decl_stats_each(NULL, collect, NULL), HC_EINVAL);
    assert_int_equal(hc_decl_stats_get(NULL, "hand", "made", &s), HC_EINVAL);
    assert_string_equal(hc_decl_kind_name(HC_DECL_QUERY), "query");
    assert_string_equal(hc_decl_kind_name(HC_DECL_POLICY), "policy");
    assert_string_equal(hc_decl_kind_name(HC_DECL_CACHEABLE), "cacheable");
    assert_string_equal(hc_decl_kind_name(0), "unknown");
}

static void test_buckets_and_quantiles(void **state)
{
    (void)state;
    assert_int_equal(hc_decl_bucket_bound_ns(0), 1000);
    assert_int_equal(hc_decl_bucket_bound_ns(9), 1000000);
    assert_int_equal(hc_decl_bucket_bound_ns(HC_DECL_BUCKETS - 1), 10000000000u);
    assert_true(hc_decl_bucket_bound_ns(HC_DECL_BUCKETS) == UINT64_MAX);
    for (unsigned i = 1; i < HC_DECL_BUCKETS; i++)
        assert_true(hc_decl_bucket_bound_ns(i) > hc_decl_bucket_bound_ns(i - 1));

    hc_decl_stats s;
    memset(&s, 0, sizeof s);
    assert_true(isnan(hc_decl_stats_quantile(&s, 0.5)));
    assert_true(isnan(hc_decl_stats_quantile(NULL, 0.5)));
    /* 10 runs in (1 us, 2.5 us]: the median is halfway. */
    s.load_buckets[1] = 10;
    assert_true(fabs(hc_decl_stats_quantile(&s, 0.5) - 1.75e-6) < 1e-12);
    assert_true(fabs(hc_decl_stats_quantile(&s, 1.0) - 2.5e-6) < 1e-12);
    assert_true(fabs(hc_decl_stats_quantile(&s, 0.0) - 1e-6) < 1e-12);
    /* One more run longer than every bound: p99 lies in the open bucket,
       which answers its lower bound. */
    s.load_buckets[HC_DECL_BUCKETS] = 1;
    assert_true(fabs(hc_decl_stats_quantile(&s, 0.99) - 10.0) < 1e-9);
    assert_true(fabs(hc_decl_stats_quantile(&s, 7.0) - 10.0) < 1e-9);     /* clamped */
}

/* Hits from many threads at once, more than there are thread slots: each
   counted once, by its slot or the shared one. */
#define NTHREADS 72                 /* more than the 64 thread slots (hc_int.h) */
#define HITS     200

static test_gate gate;

static void *hitter(void *arg)
{
    (void)arg;
    int64_t v;
    test_gate_wait(&gate);
    for (int i = 0; i < HITS; i++)
        if (dc_square(f.c, 7, &v, NULL) != HC_OK || v != 49) return (void *)1;
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(dc_square(f.c, 7, &v, NULL), HC_OK);      /* stored */
    test_gate_init(&gate);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, hitter, NULL), 0);
    test_gate_await_arrivals(&gate, NTHREADS);                  /* all alive: slots all taken */
    test_gate_open(&gate);
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    test_gate_destroy(&gate);
    hc_decl_stats s = stats_of(f.c, "square");
    assert_int_equal(s.hits, (uint64_t)NTHREADS * HITS);
    assert_int_equal(s.calls, (uint64_t)NTHREADS * HITS + 1);
    hc_stats cs;
    hc_stats_get(f.c, &cs);
    assert_int_equal(cs.hits, (uint64_t)NTHREADS * HITS);
}

/* Out of memory anywhere: the generated call still answers, the counters
   may miss a count, nothing leaks. */
static void test_out_of_memory(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator al = test_allocator(&ta);
    for (long n = 1; n < 200; n++) {
        hc_config cfg;
        hc_config_init(&cfg);
        cfg.allocator = &al;
        hc_cache *c;
        test_alloc_arm(&ta, 0);
        assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
        test_alloc_arm(&ta, n);
        int64_t v = 0;
        int rc1 = dc_square(c, 5, &v, NULL);
        int rc2 = dc_square(c, 5, &v, NULL);
        assert_true(rc1 == HC_OK || rc1 == HC_ENOMEM);
        assert_true(rc2 == HC_OK || rc2 == HC_ENOMEM);
        test_alloc_arm(&ta, 0);
        hc_decl_stats s;
        int rc = hc_decl_stats_get(c, "dc", "square", &s);
        assert_true(rc == HC_OK || rc == HC_ENOTFOUND);
        if (rc == HC_OK) assert_true(s.calls <= 2);
        hc_cache_close(c);
        assert_int_equal(atomic_load(&ta.live), 0);
    }
}

/* A process counts at most HC_DECL_MAX declarations; the ones beyond are
   not counted and cost nothing else. Runs last: it fills the table. */
static void test_numbering_runs_out(void **state)
{
    (void)state;
    enum { N = HC_DECL_MAX + 10 };
    static hc_decl d[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "d%d", i);
        d[i] = (hc_decl){"many", names[i], HC_DECL_CACHEABLE, 0};
        hc_decl_call(f.c, &d[i], true);
    }
    assert_true(d[0].id > 0);
    assert_int_equal(d[N - 1].id, 0);
    hc_decl_stats s;
    assert_int_equal(hc_decl_stats_get(f.c, "many", "d0", &s), HC_OK);
    assert_int_equal(s.hits, 1);
    assert_int_equal(hc_decl_stats_get(f.c, "many", names[N - 1], &s), HC_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_hits_misses_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_stale_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undecodable_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_and_cacheable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_and_per_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_descriptors, setup, teardown),
        cmocka_unit_test(test_buckets_and_quantiles),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test_setup_teardown(test_numbering_runs_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
