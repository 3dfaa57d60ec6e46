/*
** test_fresh.c -- serving stale on purpose: refresh-ahead (inline and on
** the cache's refresh threads), stale-if-error and TTL jitter, with an
** injected clock and real threads. Races are ordered with gates inside
** the loaders, never with sleeps; waits for a refresh thread are bounded
** polls of the counters (test_wait_until), not timings. Runs under
** ThreadSanitizer in `make check`.
*/
#include <sched.h>
#include <stdio.h>

#include "testutil.h"

/* ------------------------------------------------------------ loaders */

/* A loader that returns "<prefix><n>", n counting its calls from 1, or
   fails with fail (non-zero); it waits at gate first when there is one. */
typedef struct src {
    test_gate  *gate;
    const char *prefix;
    atomic_int  fail;
    atomic_int  calls;
    pthread_t   last_thread;         /* who ran it last (under calls' order) */
    atomic_bool ran_elsewhere;       /* a call ran off the thread that made it */
    pthread_t   owner;
} src;

static void src_init(src *s, test_gate *gate, const char *prefix)
{
    memset(s, 0, sizeof *s);
    s->gate = gate;
    s->prefix = prefix;
    s->owner = pthread_self();
}

static int src_load(void *ctx, hc_buf *out, hc_error *err)
{
    src *s = ctx;
    int n = atomic_fetch_add(&s->calls, 1) + 1;
    if (!pthread_equal(pthread_self(), s->owner)) atomic_store(&s->ran_elsewhere, true);
    if (s->gate) test_gate_wait(s->gate);
    int fail = atomic_load(&s->fail);
    if (fail) return hc_error_set(err, fail, "source down (%d)", n);
    char v[64];
    snprintf(v, sizeof v, "%s%d", s->prefix, n);
    return hc_buf_set(out, v, strlen(v));
}

/* For a context that must be copied, a box holding a src *: the copies
   and frees are counted; a copy is a new box for the same src (which
   outlives the cache here). */
static atomic_int copies, frees;

static void *src_copy(void *ctx)
{
    atomic_fetch_add(&copies, 1);
    void **box = malloc(sizeof *box);
    if (box) *box = *(void **)ctx;
    return box;
}

static void src_free(void *copy)
{
    atomic_fetch_add(&frees, 1);
    free(copy);
}

static void *copy_fails(void *ctx)
{
    (void)ctx;
    return NULL;
}

static int boxed_load(void *ctx, hc_buf *out, hc_error *err)
{
    return src_load(*(void **)ctx, out, err);
}

/* ------------------------------------------------------------- helpers */

static hc_cache *open_fresh(test_clock *tc, unsigned threads, unsigned queue)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = 1000;
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = tc;
    cfg.refresh_threads = threads;
    cfg.refresh_queue = queue;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

/* hc_get_or_load of key, which must answer HC_OK with want. */
static void expect_load(hc_cache *c, const char *key, const hc_options *o, hc_load_fn fn,
                        void *ctx, const char *want)
{
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    int rc = hc_get_or_load(c, key, o, fn, ctx, &b, &err);
    if (rc != HC_OK) fail_msg("%s: %s (%s)", key, hc_err_name(rc), err.message);
    assert_string_equal((char *)b.data, want);
    hc_buf_free(&b);
}

static hc_stats stats(hc_cache *c)
{
    hc_stats s;
    hc_stats_get(c, &s);
    return s;
}

typedef struct wait_stat {
    hc_cache *c;
    size_t    off;                   /* offsetof(hc_stats, counter) */
    uint64_t  want;
} wait_stat;

static bool stat_reached(void *arg)
{
    wait_stat *w = arg;
    hc_stats s = stats(w->c);
    uint64_t v;
    memcpy(&v, (char *)&s + w->off, sizeof v);
    return v >= w->want;
}

/* Wait (bounded, not timed) until a counter of c reaches want. */
#define WAIT_STAT(c, field, n)                                                  \
    do {                                                                        \
        wait_stat w_ = {(c), offsetof(hc_stats, field), (n)};                   \
        if (!test_wait_until(stat_reached, &w_)) fail_msg(#field " never reached %d", (int)(n)); \
    } while (0)

/* ------------------------------------------------------ refresh-ahead */

/* No refresh thread: the caller that finds the entry due gets the value
   it found, then reloads it itself. Only once per refresh interval. */
static void test_refresh_inline(void **state)
{
    (void)state;
    test_clock tc = {1000};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 1000, .refresh_ms = 100};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 99);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* not due yet */
    assert_int_equal(atomic_load(&s.calls), 1);
    test_clock_advance(&tc, 1);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* due: served, then reloaded */
    assert_int_equal(atomic_load(&s.calls), 2);
    assert_false(atomic_load(&s.ran_elsewhere));
    expect_load(c, "k", &o, src_load, &s, "v2");      /* the refreshed value, fresh again */
    assert_int_equal(atomic_load(&s.calls), 2);
    hc_buf b = HC_BUF_INIT;
    assert_string_equal(test_get_str(c, "k", &b), "v2");
    hc_stats st = stats(c);
    assert_int_equal(st.refreshes, 1);
    assert_int_equal(st.loads, 2);
    assert_int_equal(st.refresh_failures, 0);
    /* The refreshed entry has a new refresh time and a new deadline. */
    test_clock_advance(&tc, 100);
    expect_load(c, "k", &o, src_load, &s, "v2");
    expect_load(c, "k", &o, src_load, &s, "v3");
    test_clock_advance(&tc, 999);
    expect_load(c, "k", &o, src_load, &s, "v3");      /* refreshed at +100: not expired */
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* The library's reallocs (hc_buf growing) come here (-Wl,--wrap=realloc,
   the Makefile): fail_realloc > 0 fails the next one. */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static atomic_int fail_realloc;

void *__wrap_realloc(void *p, size_t n)
{
    if (atomic_load(&fail_realloc) > 0 && atomic_fetch_sub(&fail_realloc, 1) > 0) return NULL;
    return __real_realloc(p, n);
}

/*
** A hit that claims a due refresh on the lock-free path, whose copy into
** the caller's buffer cannot grow there, finishes on the locked path. Its
** claim stands (before the fix the locked path asked again, found the
** refresh claimed, and nobody ever refreshed the entry), and a read that
** fails after claiming gives the claim back.
*/
static void test_refresh_claim_survives_a_failed_copy(void **state)
{
    (void)state;
    test_clock tc = {1000};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "value-that-is-longer-than-the-buffer-");
    hc_options o = {.ttl_ms = HC_TTL_NEVER, .refresh_ms = 100};
    expect_load(c, "k", &o, src_load, &s, "value-that-is-longer-than-the-buffer-1");
    test_clock_advance(&tc, 100);
    /* Due. The lock-free copy fails (a buffer of no room), the locked path
       copies: the value is served and the refresh runs (inline: no thread). */
    hc_buf out = HC_BUF_INIT;
    atomic_store(&fail_realloc, 1);
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &out, NULL), HC_OK);
    assert_string_equal((char *)out.data, "value-that-is-longer-than-the-buffer-1");
    assert_int_equal(atomic_load(&s.calls), 2);
    assert_int_equal(stats(c).refreshes, 1);
    /* Due again. Both copies fail: the read fails, and gives the claim
       back, so the next read refreshes. */
    test_clock_advance(&tc, 100);
    hc_buf_free(&out);
    atomic_store(&fail_realloc, 2);
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &out, NULL), HC_ENOMEM);
    atomic_store(&fail_realloc, 0);
    assert_int_equal(atomic_load(&s.calls), 2);
    expect_load(c, "k", &o, src_load, &s, "value-that-is-longer-than-the-buffer-2");
    assert_int_equal(atomic_load(&s.calls), 3);
    assert_int_equal(stats(c).refreshes, 2);
    hc_buf_free(&out);
    hc_cache_close(c);
}

/*
** Per-declaration stale_served counts the declaration whose call served
** the stale value only: an outer load whose loader calls an inner
** declaration that serves one was counted too (two for one).
*/
typedef struct nest {
    hc_cache  *c;
    hc_decl   *inner;
    hc_options io;
    int        inner_rc;
} nest;

static int fail_load(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)out;
    return hc_error_set(err, HC_ELOAD, "down");
}

static int ok_load(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)err;
    return hc_buf_set(out, "v", 1);
}

static int outer_load(void *ctx, hc_buf *out, hc_error *err)
{
    nest *n = ctx;
    hc_buf v = HC_BUF_INIT;
    hc_decl_call(n->c, n->inner, false);
    n->inner_rc = hc_decl_get_or_load(n->c, n->inner, "inner", &n->io, fail_load, NULL, &v, err);
    hc_buf_free(&v);
    return hc_buf_set(out, "o", 1);
}

static void test_stale_served_counted_once_when_nested(void **state)
{
    (void)state;
    test_clock tc = {1000};
    hc_cache *c = open_fresh(&tc, 0, 0);
    hc_decl outer = {"m", "outer", HC_DECL_POLICY, 0}, inner = {"m", "inner", HC_DECL_CACHEABLE, 0};
    nest n = {c, &inner, {.ttl_ms = 10, .stale_if_error_ms = 60000}, HC_OK};
    hc_buf v = HC_BUF_INIT;
    hc_decl_call(c, &inner, false);
    assert_int_equal(hc_decl_get_or_load(c, &inner, "inner", &n.io, ok_load, NULL, &v, NULL), HC_OK);
    test_clock_advance(&tc, 20);                        /* inner expired, within its window */
    hc_decl_call(c, &outer, false);
    assert_int_equal(hc_decl_get_or_load(c, &outer, "outer", NULL, outer_load, &n, &v, NULL), HC_OK);
    assert_int_equal(n.inner_rc, HC_OK);                /* the inner call served its stale value */
    hc_decl_stats so, si;
    assert_int_equal(hc_decl_stats_get(c, "m", "outer", &so), HC_OK);
    assert_int_equal(hc_decl_stats_get(c, "m", "inner", &si), HC_OK);
    assert_int_equal(si.stale_served, 1);
    assert_int_equal(so.stale_served, 0);               /* a fresh load of its own */
    assert_int_equal(stats(c).stale_served, 1);
    hc_buf_free(&v);
    hc_cache_close(c);
}

/* hc_get and hc_try_visit have no loader: they never claim a refresh. */
static int noop_visit(void *ctx, const void *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return HC_OK;
}

static void test_reads_without_loader_do_not_claim(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.refresh_ms = 10};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 50);
    hc_buf b = HC_BUF_INIT;
    for (int i = 0; i < 3; i++) {
        assert_string_equal(test_get_str(c, "k", &b), "v1");
        assert_int_equal(hc_try_visit(c, "k", 1, noop_visit, NULL), HC_OK);
        assert_true(hc_contains(c, "k"));
    }
    assert_int_equal(atomic_load(&s.calls), 1);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* this one claims */
    assert_int_equal(atomic_load(&s.calls), 2);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/*
** 16 readers on an entry due for a refresh, on a cache with a refresh
** thread: the refresh's loader is held at a gate, and every reader still
** gets the old value, over and over, and finishes while the gate is
** closed: no reader ever waits for the refresh. The refresh starts once.
*/
typedef struct reader {
    pthread_t   thread;
    hc_cache   *c;
    void       *box;                 /* a box of the src (boxed_load) */
    const hc_options *o;
    int         reads, old;
    int         rc;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    for (int i = 0; i < r->reads; i++) {
        r->rc = hc_get_or_load(r->c, "hot", r->o, boxed_load, r->box, &b, &err);
        if (r->rc != HC_OK) break;
        if (strcmp((char *)b.data, "v1") == 0) r->old++;
        if (i % 7 == 0) sched_yield();
    }
    hc_buf_free(&b);
    return NULL;
}

static void test_refresh_once_and_readers_never_wait(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 1, 16);
    test_gate g;
    test_gate_init(&g);
    src s;
    src_init(&s, NULL, "v");
    /* A NULL-free context without a copy would refresh inline: give the
       loader one it can copy. The src itself outlives the cache. */
    hc_options o = {.ttl_ms = 60000, .refresh_ms = 100, .ctx_copy = src_copy, .ctx_free = src_free};
    atomic_store(&copies, 0);
    atomic_store(&frees, 0);
    void *s_box = &s;
    expect_load(c, "hot", &o, boxed_load, &s_box, "v1");
    s.gate = &g;                      /* from now on the loader waits */
    test_clock_advance(&tc, 150);

    reader r[16];
    for (int i = 0; i < 16; i++) {
        r[i] = (reader){.c = c, .box = &s_box, .o = &o, .reads = 200};
        assert_int_equal(pthread_create(&r[i].thread, NULL, reader_main, &r[i]), 0);
    }
    /* Every reader finishes with the gate closed: none waited. */
    for (int i = 0; i < 16; i++) {
        assert_int_equal(pthread_join(r[i].thread, NULL), 0);
        assert_int_equal(r[i].rc, HC_OK);
        assert_int_equal(r[i].old, 200);
    }
    test_gate_await_arrivals(&g, 1);  /* the refresh is in its loader */
    assert_int_equal(atomic_load(&s.calls), 2);
    assert_true(atomic_load(&s.ran_elsewhere));
    hc_stats st = stats(c);
    assert_int_equal(st.refreshes, 0);
    assert_int_equal(st.hits, 16 * 200);
    assert_int_equal(st.misses, 1);

    test_gate_open(&g);
    WAIT_STAT(c, refreshes, 1);
    hc_buf b = HC_BUF_INIT;
    assert_string_equal(test_get_str(c, "hot", &b), "v2");
    assert_int_equal(atomic_load(&s.calls), 2);
    assert_int_equal(atomic_load(&copies), 1);
    hc_cache_close(c);
    assert_int_equal(atomic_load(&frees), 1);
    hc_buf_free(&b);
    test_gate_destroy(&g);
}

/* A loader whose ctx cannot be copied refreshes on the calling thread,
   even with refresh threads; a NULL ctx needs no copy. */
static int global_calls_load(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    static atomic_int n;
    char v[32];
    snprintf(v, sizeof v, "g%d%s", atomic_fetch_add(&n, 1) + 1, ctx ? "!" : "");
    return hc_buf_set(out, v, strlen(v));
}

static void test_refresh_where_it_runs(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 2, 16);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.refresh_ms = 10};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 20);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* no ctx_copy: inline */
    assert_int_equal(atomic_load(&s.calls), 2);
    assert_false(atomic_load(&s.ran_elsewhere));
    expect_load(c, "k", &o, src_load, &s, "v2");

    /* A NULL context: on a refresh thread. */
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "g", &o, global_calls_load, NULL, &b, &err), HC_OK);
    char first[32];
    snprintf(first, sizeof first, "%s", (char *)b.data);
    test_clock_advance(&tc, 20);
    assert_int_equal(hc_get_or_load(c, "g", &o, global_calls_load, NULL, &b, &err), HC_OK);
    assert_string_equal((char *)b.data, first);
    WAIT_STAT(c, refreshes, 2);
    assert_int_equal(hc_get_or_load(c, "g", &o, global_calls_load, NULL, &b, &err), HC_OK);
    assert_string_not_equal((char *)b.data, first);

    /* A copy that fails (NULL, out of memory): inline again. */
    hc_options nocopy = o;
    nocopy.ctx_copy = copy_fails;
    nocopy.ctx_free = src_free;
    test_clock_advance(&tc, 20);
    src_init(&s, NULL, "w");
    expect_load(c, "k", &nocopy, src_load, &s, "v2");
    assert_int_equal(atomic_load(&s.calls), 1);
    assert_false(atomic_load(&s.ran_elsewhere));
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* A failed refresh leaves the entry as it was, served; it is counted, and
   tried again one refresh interval later. The entry still expires. */
static void test_refresh_failure(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 1000, .refresh_ms = 100};
    expect_load(c, "k", &o, src_load, &s, "v1");
    atomic_store(&s.fail, HC_EDB);
    test_clock_advance(&tc, 100);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* refresh fails, inline */
    assert_int_equal(atomic_load(&s.calls), 2);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* not again at once */
    test_clock_advance(&tc, 99);
    expect_load(c, "k", &o, src_load, &s, "v1");
    assert_int_equal(atomic_load(&s.calls), 2);
    hc_stats st = stats(c);
    assert_int_equal(st.refresh_failures, 1);
    assert_int_equal(st.load_failures, 1);
    assert_int_equal(st.refreshes, 0);
    test_clock_advance(&tc, 1);                       /* +200: due again */
    atomic_store(&s.fail, 0);
    expect_load(c, "k", &o, src_load, &s, "v1");
    expect_load(c, "k", &o, src_load, &s, "v3");
    assert_int_equal(stats(c).refreshes, 1);
    hc_cache_close(c);
}

/*
** An invalidation while a refresh runs: the refresh's value is discarded,
** as any raced load's is, and the key stays invalidated. A miss while the
** refresh runs joins it (single-flight) before the invalidation.
*/
enum race { RACE_KEY, RACE_TAG, RACE_FLUSH, RACE_PUT };

static void refresh_race(enum race how)
{
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 1, 16);
    test_gate g;
    test_gate_init(&g);
    src s;
    src_init(&s, NULL, "v");
    const char *tags[] = {"users"};
    hc_options o = {.ttl_ms = 1000, .tags = tags, .ntags = 1, .refresh_ms = 100,
                    .ctx_copy = src_copy, .ctx_free = src_free};
    void *s_box = &s;
    expect_load(c, "u", &o, boxed_load, &s_box, "v1");
    s.gate = &g;
    test_clock_advance(&tc, 100);
    expect_load(c, "u", &o, boxed_load, &s_box, "v1");    /* claims; refresh waits at g */
    test_gate_await_arrivals(&g, 1);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.loads_in_flight, 1);

    switch (how) {
    case RACE_KEY: assert_int_equal(hc_invalidate_key(c, "u"), HC_OK); break;
    case RACE_TAG: assert_int_equal(hc_invalidate_tag(c, "users", NULL), HC_OK); break;
    case RACE_FLUSH: assert_int_equal(hc_flush(c), HC_OK); break;
    case RACE_PUT: test_put_str(c, "u", "put", NULL); break;
    }
    test_gate_open(&g);
    WAIT_STAT(c, refreshes, 1);
    WAIT_STAT(c, stale_load_discards, 1);
    d = test_diag(c);
    assert_int_equal(d.loads_in_flight, 0);
    hc_buf b = HC_BUF_INIT;
    if (how == RACE_PUT) assert_string_equal(test_get_str(c, "u", &b), "put");
    else assert_null(test_get_str(c, "u", &b));
    /* The next load is a fresh one. */
    s.gate = NULL;
    expect_load(c, "u", &o, boxed_load, &s_box, how == RACE_PUT ? "put" : "v3");
    hc_buf_free(&b);
    hc_cache_close(c);
    test_gate_destroy(&g);
}

static void test_invalidate_key_during_refresh(void **state) { (void)state; refresh_race(RACE_KEY); }
static void test_invalidate_tag_during_refresh(void **state) { (void)state; refresh_race(RACE_TAG); }
static void test_flush_during_refresh(void **state) { (void)state; refresh_race(RACE_FLUSH); }
static void test_put_during_refresh(void **state) { (void)state; refresh_race(RACE_PUT); }

/* A miss that arrives while a refresh of the key runs (the entry expired
   meanwhile) joins the refresh instead of loading a second time. */
typedef struct getter {
    pthread_t thread;
    hc_cache *c;
    const hc_options *o;
    void *box;                       /* a box of the src (boxed_load) */
    int rc;
    char value[64];
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    g->rc = hc_get_or_load(g->c, "k", g->o, boxed_load, g->box, &b, &err);
    if (g->rc == HC_OK) snprintf(g->value, sizeof g->value, "%s", (char *)b.data);
    hc_buf_free(&b);
    return NULL;
}

static void test_miss_joins_refresh(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 1, 16);
    test_gate g;
    test_gate_init(&g);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 200, .refresh_ms = 100, .ctx_copy = src_copy, .ctx_free = src_free};
    void *s_box = &s;
    expect_load(c, "k", &o, boxed_load, &s_box, "v1");
    s.gate = &g;
    test_clock_advance(&tc, 150);
    expect_load(c, "k", &o, boxed_load, &s_box, "v1");    /* claims */
    test_gate_await_arrivals(&g, 1);
    test_clock_advance(&tc, 100);                     /* expired: a miss now */
    getter gt = {.c = c, .o = &o, .box = &s_box};
    assert_int_equal(pthread_create(&gt.thread, NULL, getter_main, &gt), 0);
    WAIT_STAT(c, single_flight_joins, 1);
    test_gate_open(&g);
    assert_int_equal(pthread_join(gt.thread, NULL), 0);
    assert_int_equal(gt.rc, HC_OK);
    assert_string_equal(gt.value, "v2");
    assert_int_equal(atomic_load(&s.calls), 2);
    hc_cache_close(c);
    test_gate_destroy(&g);
}

/* A full refresh queue drops the refresh (counted); the entry is due again
   one refresh interval later. hc_cache_close drops what is queued and
   frees its copies. */
static void test_queue_full_and_close(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 1, 1);
    test_gate g;
    test_gate_init(&g);
    src a, b, d;
    src_init(&a, NULL, "a");
    src_init(&b, NULL, "b");
    src_init(&d, NULL, "d");
    void *a_box = &a, *b_box = &b, *d_box = &d;
    atomic_store(&copies, 0);
    atomic_store(&frees, 0);
    hc_options o = {.refresh_ms = 100, .ctx_copy = src_copy, .ctx_free = src_free};
    expect_load(c, "a", &o, boxed_load, &a_box, "a1");
    expect_load(c, "b", &o, boxed_load, &b_box, "b1");
    expect_load(c, "d", &o, boxed_load, &d_box, "d1");
    a.gate = &g;
    test_clock_advance(&tc, 100);
    expect_load(c, "a", &o, boxed_load, &a_box, "a1");    /* runs, held at g */
    test_gate_await_arrivals(&g, 1);
    expect_load(c, "b", &o, boxed_load, &b_box, "b1");    /* queued */
    expect_load(c, "d", &o, boxed_load, &d_box, "d1");    /* dropped */
    hc_stats st = stats(c);
    assert_int_equal(st.refresh_drops, 1);
    assert_int_equal(atomic_load(&d.calls), 1);
    expect_load(c, "d", &o, boxed_load, &d_box, "d1");    /* not due again yet */
    assert_int_equal(stats(c).refresh_drops, 1);
    test_gate_open(&g);
    WAIT_STAT(c, refreshes, 2);
    test_clock_advance(&tc, 100);
    expect_load(c, "d", &o, boxed_load, &d_box, "d1");    /* due again: queued now */
    WAIT_STAT(c, refreshes, 3);
    expect_load(c, "d", &o, boxed_load, &d_box, "d2");

    /* Close with one running and one queued: the running one finishes, the
       queued one is dropped; every copy is freed once. */
    a.gate = &g;
    test_gate_init(&g);
    test_clock_advance(&tc, 100);
    expect_load(c, "a", &o, boxed_load, &a_box, "a2");
    test_gate_await_arrivals(&g, 1);
    expect_load(c, "b", &o, boxed_load, &b_box, "b2");
    test_gate_open(&g);
    hc_cache_close(c);
    assert_int_equal(atomic_load(&frees), atomic_load(&copies));
    test_gate_destroy(&g);
}

/* ------------------------------------------------------ stale-if-error */

static void test_stale_if_error_bound(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 100, .stale_if_error_ms = 1000};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 100);                     /* expired */
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_null(test_get_str(c, "k", &b));            /* a miss for reads */
    assert_false(hc_contains(c, "k"));
    assert_int_equal(test_diag(c).entries, 1);        /* but kept */

    atomic_store(&s.fail, HC_EDB);
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &b, &err), HC_OK);
    assert_string_equal((char *)b.data, "v1");
    assert_int_equal(err.code, HC_OK);
    assert_string_equal(err.message, "stale value served: source down (2)");
    hc_stats st = stats(c);
    assert_int_equal(st.stale_served, 1);
    assert_int_equal(st.load_failures, 1);
    /* NULL err works too. */
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &b, NULL), HC_OK);
    assert_string_equal((char *)b.data, "v1");

    /* The last millisecond of the window, then past it: the error. */
    test_clock_advance(&tc, 999);
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &b, &err), HC_OK);
    assert_string_equal((char *)b.data, "v1");
    test_clock_advance(&tc, 1);
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &b, &err), HC_EDB);
    assert_int_equal(err.code, HC_EDB);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.stats.expirations, 1);
    assert_int_equal(d.stats.stale_served, 3);

    /* A load that succeeds replaces the kept value. */
    atomic_store(&s.fail, 0);
    expect_load(c, "k", &o, src_load, &s, "v6");
    test_clock_advance(&tc, 150);
    expect_load(c, "k", &o, src_load, &s, "v7");
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* The timer wheel reclaims a kept entry at the end of its window, not at
   its deadline; until then it counts against the bounds. */
static void test_stale_kept_counts_until_reclaimed(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    hc_options o = {.ttl_ms = 10, .stale_if_error_ms = 50}, plain = {.ttl_ms = 10};
    test_put_str(c, "kept", "k", &o);
    test_put_str(c, "plain", "p", &plain);
    test_clock_advance(&tc, 10);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 1);
    assert_int_equal(d.weighted_bytes, 5);
    test_clock_advance(&tc, 49);
    assert_int_equal(test_diag(c).entries, 1);
    test_clock_advance(&tc, 1);
    d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.stats.expirations, 2);
    hc_cache_close(c);
}

/* An invalidation, removal, flush or put removes the kept value for good:
   it never stands in for a failure afterwards. */
static void never_after(int how)
{
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    src s;
    src_init(&s, NULL, "v");
    const char *tags[] = {"t"};
    hc_options o = {.ttl_ms = 100, .tags = tags, .ntags = 1, .stale_if_error_ms = 1000};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 200);
    switch (how) {
    case 0: assert_int_equal(hc_invalidate_key(c, "k"), HC_OK); break;
    case 1: assert_int_equal(hc_remove(c, "k"), HC_OK); break;
    case 2: assert_int_equal(hc_invalidate_tag(c, "t", NULL), HC_OK); break;
    case 3: assert_int_equal(hc_flush(c), HC_OK); break;
    case 4: {
        hc_options short_ttl = {.ttl_ms = 10};        /* a new value, no window */
        test_put_str(c, "k", "put", &short_ttl);
        test_clock_advance(&tc, 20);
        break;
    }
    }
    atomic_store(&s.fail, HC_EDB);
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "k", &o, src_load, &s, &b, &err), HC_EDB);
    assert_int_equal(stats(c).stale_served, 0);
    hc_buf_free(&b);
    hc_cache_close(c);
}

static void test_stale_never_after_invalidation(void **state)
{
    (void)state;
    for (int how = 0; how < 5; how++) never_after(how);
}

/* Joiners of a failed load get the kept value too, each counted. */
typedef struct caller {
    pthread_t thread;
    hc_cache *c;
    const hc_options *o;
    src *s;
    int rc;
    hc_error err;
    char value[64];
} caller;

static void *caller_main(void *arg)
{
    caller *k = arg;
    hc_buf b = HC_BUF_INIT;
    k->rc = hc_get_or_load(k->c, "k", k->o, src_load, k->s, &b, &k->err);
    if (k->rc == HC_OK) snprintf(k->value, sizeof k->value, "%s", (char *)b.data);
    hc_buf_free(&b);
    return NULL;
}

static void test_stale_reaches_joiners(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    test_gate g;
    test_gate_init(&g);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 100, .stale_if_error_ms = 1000};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 150);
    s.gate = &g;
    atomic_store(&s.fail, HC_ECONN);
    caller k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = (caller){.c = c, .o = &o, .s = &s};
        assert_int_equal(pthread_create(&k[i].thread, NULL, caller_main, &k[i]), 0);
        if (i == 0) test_gate_await_arrivals(&g, 1);
    }
    WAIT_STAT(c, single_flight_joins, 3);
    test_gate_open(&g);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(k[i].thread, NULL), 0);
        assert_int_equal(k[i].rc, HC_OK);
        assert_string_equal(k[i].value, "v1");
        assert_int_equal(k[i].err.code, HC_OK);
        assert_string_equal(k[i].err.message, "stale value served: source down (2)");
    }
    hc_stats st = stats(c);
    assert_int_equal(st.stale_served, 4);
    assert_int_equal(st.load_failures, 1);
    assert_int_equal(atomic_load(&s.calls), 2);
    hc_cache_close(c);
    test_gate_destroy(&g);
}

/* An invalidation while the failing load runs: no stale value either. */
static void test_stale_not_served_when_invalidated_during_load(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    test_gate g;
    test_gate_init(&g);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 100, .stale_if_error_ms = 1000};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 200);
    s.gate = &g;
    atomic_store(&s.fail, HC_EDB);
    caller k = {.c = c, .o = &o, .s = &s};
    assert_int_equal(pthread_create(&k.thread, NULL, caller_main, &k), 0);
    test_gate_await_arrivals(&g, 1);
    assert_int_equal(hc_invalidate_key(c, "k"), HC_OK);     /* the kept entry goes */
    test_gate_open(&g);
    assert_int_equal(pthread_join(k.thread, NULL), 0);
    assert_int_equal(k.rc, HC_EDB);
    assert_int_equal(k.err.code, HC_EDB);
    assert_int_equal(stats(c).stale_served, 0);
    hc_cache_close(c);
    test_gate_destroy(&g);
}

/* The events of each: refreshed, refresh_failed, stale_served. */
static void test_events(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    cfg.refresh_threads = 0;
    cfg.access_events = true;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_REFRESHED) | HC_EVENT_BIT(HC_EVENT_REFRESH_FAILED) |
                         HC_EVENT_BIT(HC_EVENT_STALE_SERVED), 0, NULL, NULL};
    hc_subscription *sub;
    assert_int_equal(hc_subscribe(c, &f, &sub), HC_OK);
    src s;
    src_init(&s, NULL, "v");
    hc_options o = {.ttl_ms = 100, .refresh_ms = 50, .stale_if_error_ms = 100};
    expect_load(c, "k", &o, src_load, &s, "v1");
    test_clock_advance(&tc, 50);
    expect_load(c, "k", &o, src_load, &s, "v1");      /* refreshed */
    test_clock_advance(&tc, 50);
    atomic_store(&s.fail, HC_EDB);
    expect_load(c, "k", &o, src_load, &s, "v2");      /* refresh fails */
    test_clock_advance(&tc, 60);
    expect_load(c, "k", &o, src_load, &s, "v2");      /* expired: stale served */
    hc_event ev;
    const hc_event_kind want[] = {HC_EVENT_REFRESHED, HC_EVENT_REFRESH_FAILED, HC_EVENT_STALE_SERVED};
    const hc_origin origin[] = {HC_ORIGIN_LOADER, HC_ORIGIN_LOADER, HC_ORIGIN_LOCAL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hc_subscription_recv(sub, &ev, 0), HC_OK);
        assert_int_equal(ev.kind, want[i]);
        assert_int_equal(ev.origin, origin[i]);
        assert_string_equal(ev.key, "k");
    }
    assert_int_equal(hc_subscription_recv(sub, &ev, 0), HC_ETIMEDOUT);
    assert_string_equal(hc_event_kind_name(HC_EVENT_REFRESHED), "refreshed");
    assert_string_equal(hc_event_kind_name(HC_EVENT_REFRESH_FAILED), "refresh_failed");
    assert_string_equal(hc_event_kind_name(HC_EVENT_STALE_SERVED), "stale_served");
    assert_true(HC_EVENTS_ACCESS & HC_EVENT_BIT(HC_EVENT_STALE_SERVED));
    assert_true(HC_EVENTS_CHANGES & HC_EVENT_BIT(HC_EVENT_REFRESHED));
    hc_subscription_close(sub);
    hc_cache_close(c);
}

/* ---------------------------------------------------------- TTL jitter */

/*
** Every entry's TTL lies in [ttl - ttl * p / 100, ttl], and they spread
** over the band: with the clock stepped through it, none expires before
** it, all are gone at its end, and every tenth of it sees some go.
*/
static void jitter_band(unsigned percent, bool by_default)
{
    test_clock tc = {5000};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = 0;
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    cfg.default_ttl_ms = 1000;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    enum { N = 2000 };
    hc_options o = {.ttl_ms = by_default ? HC_TTL_DEFAULT : 1000, .ttl_jitter_percent = percent};
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", &o);
    }
    uint64_t low = 1000 - 1000 * percent / 100, width = 1000 - low;
    test_clock_advance(&tc, low - 1);
    assert_int_equal(test_diag(c).entries, N);
    unsigned gone_in[10] = {0};
    uint64_t left = N;
    for (uint64_t t = low; t <= 1000; t++) {
        test_clock_advance(&tc, 1);
        uint64_t now = test_diag(c).entries;
        unsigned tenth = (unsigned)((t - low) * 10 / (width + 1));
        gone_in[tenth] += (unsigned)(left - now);
        left = now;
    }
    assert_int_equal(left, 0);
    for (int i = 0; i < 10; i++)
        if (gone_in[i] == 0) fail_msg("jitter %u%%: no entry expired in tenth %d of the band", percent, i);
    hc_cache_close(c);
}

static void test_jitter_band(void **state)
{
    (void)state;
    jitter_band(10, false);
    jitter_band(50, false);
    jitter_band(99, true);
}

/* Without jitter, entries put together expire together. */
static void test_no_jitter_expires_together(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_cache *c = open_fresh(&tc, 0, 0);
    hc_options o = {.ttl_ms = 1000};
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", &o);
    }
    test_clock_advance(&tc, 999);
    assert_int_equal(test_diag(c).entries, 100);
    test_clock_advance(&tc, 1);
    assert_int_equal(test_diag(c).entries, 0);
    hc_cache_close(c);
}

/* --------------------------------------------------------------- config */

static void test_config(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    assert_int_equal(cfg.refresh_threads, 1);
    assert_int_equal(cfg.refresh_queue, 1024);
    hc_cache *c;
    cfg.refresh_threads = HC_REFRESH_THREADS_MAX + 1;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_EINVAL);
    cfg.refresh_threads = 1;
    cfg.refresh_queue = HC_REFRESH_QUEUE_MAX + 1;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_EINVAL);
    cfg.refresh_queue = 0;                            /* the default */
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    hc_options bad = {.ttl_jitter_percent = 100};
    assert_int_equal(hc_put(c, "k", "v", 1, &bad), HC_EINVAL);
    hc_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_inline),
        cmocka_unit_test(test_refresh_claim_survives_a_failed_copy),
        cmocka_unit_test(test_stale_served_counted_once_when_nested),
        cmocka_unit_test(test_reads_without_loader_do_not_claim),
        cmocka_unit_test(test_refresh_once_and_readers_never_wait),
        cmocka_unit_test(test_refresh_where_it_runs),
        cmocka_unit_test(test_refresh_failure),
        cmocka_unit_test(test_invalidate_key_during_refresh),
        cmocka_unit_test(test_invalidate_tag_during_refresh),
        cmocka_unit_test(test_flush_during_refresh),
        cmocka_unit_test(test_put_during_refresh),
        cmocka_unit_test(test_miss_joins_refresh),
        cmocka_unit_test(test_queue_full_and_close),
        cmocka_unit_test(test_stale_if_error_bound),
        cmocka_unit_test(test_stale_kept_counts_until_reclaimed),
        cmocka_unit_test(test_stale_never_after_invalidation),
        cmocka_unit_test(test_stale_not_served_when_invalidated_during_load),
        cmocka_unit_test(test_stale_reaches_joiners),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_jitter_band),
        cmocka_unit_test(test_no_jitter_expires_together),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests_name("fresh", tests, NULL, NULL);
}
