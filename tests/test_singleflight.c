/*
** test_singleflight.c -- hc_get_or_load across real threads: one loader per
** missing key, shared results and errors, timeouts, re-entrance, and loads
** raced by invalidations. Races are made deterministic with gates inside the
** loaders, never with sleeps. Runs under ThreadSanitizer in `make check`.
*/
#include <sched.h>
#include <stdio.h>

#include "testutil.h"

typedef struct loader {
    test_gate  *gate;         /* NULL: return at once */
    const char *value;        /* what to load, or NULL to fail */
    int         fail_code;
    atomic_int  calls;
} loader;

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    loader *l = ctx;
    atomic_fetch_add(&l->calls, 1);
    if (l->gate) test_gate_wait(l->gate);
    if (!l->value) return hc_error_set(err, l->fail_code, "backend said no (%d)", 42);
    return hc_buf_set(out, l->value, strlen(l->value));
}

typedef struct caller {
    pthread_t   thread;
    hc_cache   *c;
    const char *key;
    const hc_options *opts;
    loader     *l;
    int         rc;
    hc_buf      out;
    hc_error    err;
} caller;

static void *caller_main(void *arg)
{
    caller *k = arg;
    k->rc = hc_get_or_load(k->c, k->key, k->opts, load_fn, k->l, &k->out, &k->err);
    return NULL;
}

static void caller_start(caller *k, hc_cache *c, const char *key, const hc_options *opts, loader *l)
{
    memset(k, 0, sizeof *k);
    k->c = c;
    k->key = key;
    k->opts = opts;
    k->l = l;
    assert_int_equal(pthread_create(&k->thread, NULL, caller_main, k), 0);
}

static void caller_join(caller *k)
{
    assert_int_equal(pthread_join(k->thread, NULL), 0);
}

/* Poll (yielding) until the cache has counted n joiners. No timing involved:
   the loader is held by a gate until this returns. */
static void await_joins(hc_cache *c, uint64_t n)
{
    for (;;) {
        hc_stats s;
        hc_stats_get(c, &s);
        if (s.single_flight_joins >= n) return;
        sched_yield();
    }
}

static void test_sixteen_threads_one_loader(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    test_gate g;
    test_gate_init(&g);
    loader l = {&g, "loaded once", 0, 0};
    caller k[16];
    caller_start(&k[0], c, "hot", NULL, &l);
    test_gate_await_arrivals(&g, 1);                  /* the leader is loading */
    for (int i = 1; i < 16; i++) caller_start(&k[i], c, "hot", NULL, &l);
    await_joins(c, 15);
    test_gate_open(&g);
    for (int i = 0; i < 16; i++) {
        caller_join(&k[i]);
        assert_int_equal(k[i].rc, HC_OK);
        assert_string_equal((char *)k[i].out.data, "loaded once");
        hc_buf_free(&k[i].out);
    }
    assert_int_equal(atomic_load(&l.calls), 1);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.loads, 1);
    assert_int_equal(d.stats.single_flight_joins, 15);
    assert_int_equal(d.stats.misses, 16);
    assert_int_equal(d.entries, 1);
    assert_int_equal(d.loads_in_flight, 0);
    /* Now a hit: no loader. */
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "hot", NULL, load_fn, &l, &b, &err), HC_OK);
    assert_int_equal(atomic_load(&l.calls), 1);
    hc_buf_free(&b);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

static void test_failure_reaches_every_joiner(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    test_gate g;
    test_gate_init(&g);
    loader l = {&g, NULL, HC_EDB, 0};
    caller k[8];
    caller_start(&k[0], c, "bad", NULL, &l);
    test_gate_await_arrivals(&g, 1);
    for (int i = 1; i < 8; i++) caller_start(&k[i], c, "bad", NULL, &l);
    await_joins(c, 7);
    test_gate_open(&g);
    for (int i = 0; i < 8; i++) {
        caller_join(&k[i]);
        assert_int_equal(k[i].rc, HC_EDB);
        assert_int_equal(k[i].err.code, HC_EDB);
        assert_string_equal(k[i].err.message, "backend said no (42)");
        hc_buf_free(&k[i].out);
    }
    assert_int_equal(atomic_load(&l.calls), 1);
    assert_false(hc_contains(c, "bad"));
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.load_failures, 1);
    assert_int_equal(d.entries, 0);

    /* The next call loads again, and may succeed. */
    loader ok = {NULL, "better", 0, 0};
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "bad", NULL, load_fn, &ok, &b, &err), HC_OK);
    assert_string_equal((char *)b.data, "better");
    assert_int_equal(err.code, HC_OK);
    assert_true(hc_contains(c, "bad"));
    hc_buf_free(&b);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

/*
** A load raced by an invalidation: the leader (and a joiner that came before
** the invalidation) still get the loaded value, it is not stored, and a call
** after the invalidation runs a fresh load instead of joining.
*/
enum race { RACE_KEY, RACE_TAG, RACE_FLUSH, RACE_PUT, RACE_REMOVE };

static void race_once(enum race how)
{
    hc_cache *c = test_open(100, NULL);
    test_gate g;
    test_gate_init(&g);
    const char *tags[] = {"user:1", "users"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 2};
    loader slow = {&g, "stale", 0, 0};
    caller leader, joiner;
    caller_start(&leader, c, "user:1", &o, &slow);
    test_gate_await_arrivals(&g, 1);
    caller_start(&joiner, c, "user:1", &o, &slow);
    await_joins(c, 1);

    uint64_t removed = 0;
    switch (how) {
    case RACE_KEY: assert_int_equal(hc_invalidate_key(c, "user:1"), HC_MISS); break;
    case RACE_REMOVE: assert_int_equal(hc_remove(c, "user:1"), HC_MISS); break;
    case RACE_TAG: assert_int_equal(hc_invalidate_tag(c, "users", &removed), HC_OK); break;
    case RACE_FLUSH: assert_int_equal(hc_flush(c), HC_OK); break;
    case RACE_PUT: test_put_str(c, "user:1", "put", NULL); break;
    }

    /* A caller after the invalidation does not join the stale load. */
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    loader fresh = {NULL, "fresh", 0, 0};
    assert_int_equal(hc_get_or_load(c, "user:1", &o, load_fn, &fresh, &b, &err), HC_OK);
    const char *expect = how == RACE_PUT ? "put" : "fresh";
    assert_string_equal((char *)b.data, expect);
    assert_int_equal(atomic_load(&fresh.calls), how == RACE_PUT ? 0 : 1);

    test_gate_open(&g);
    caller_join(&leader);
    caller_join(&joiner);
    assert_int_equal(leader.rc, HC_OK);
    assert_string_equal((char *)leader.out.data, "stale");
    assert_int_equal(joiner.rc, HC_OK);
    assert_string_equal((char *)joiner.out.data, "stale");
    assert_int_equal(atomic_load(&slow.calls), 1);

    /* The stale value was not stored over the fresh one. */
    assert_string_equal(test_get_str(c, "user:1", &b), expect);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.stale_load_discards, 1);
    assert_int_equal(d.entries, 1);
    hc_buf_free(&b);
    hc_buf_free(&leader.out);
    hc_buf_free(&joiner.out);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

static void test_race_invalidate_key(void **state) { (void)state; race_once(RACE_KEY); }
static void test_race_remove(void **state) { (void)state; race_once(RACE_REMOVE); }
static void test_race_invalidate_tag(void **state) { (void)state; race_once(RACE_TAG); }
static void test_race_flush(void **state) { (void)state; race_once(RACE_FLUSH); }
static void test_race_put(void **state) { (void)state; race_once(RACE_PUT); }

/* An invalidation of something else does not make the load stale. */
static void test_unrelated_invalidation_keeps_load(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    test_gate g;
    test_gate_init(&g);
    const char *tags[] = {"user:1"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 1};
    loader slow = {&g, "value", 0, 0};
    caller leader;
    caller_start(&leader, c, "user:1", &o, &slow);
    test_gate_await_arrivals(&g, 1);
    assert_int_equal(hc_invalidate_key(c, "user:2"), HC_MISS);
    assert_int_equal(hc_invalidate_tag(c, "user:2", NULL), HC_OK);
    test_put_str(c, "user:3", "x", NULL);
    test_gate_open(&g);
    caller_join(&leader);
    assert_int_equal(leader.rc, HC_OK);
    assert_true(hc_contains(c, "user:1"));
    assert_int_equal(test_diag(c).stats.stale_load_discards, 0);
    hc_buf_free(&leader.out);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

static void test_joiner_timeout(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.load_wait_timeout_ms = 20;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    test_gate g;
    test_gate_init(&g);
    loader slow = {&g, "late", 0, 0};
    caller leader;
    caller_start(&leader, c, "k", NULL, &slow);
    test_gate_await_arrivals(&g, 1);
    /* The gate stays shut until the joiner gave up, whatever the timing. */
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "k", NULL, load_fn, &slow, &b, &err), HC_ETIMEDOUT);
    assert_int_equal(err.code, HC_ETIMEDOUT);
    assert_non_null(strstr(err.message, "'k'"));
    test_gate_open(&g);
    caller_join(&leader);
    assert_int_equal(leader.rc, HC_OK);
    assert_true(hc_contains(c, "k"));
    assert_int_equal(atomic_load(&slow.calls), 1);
    hc_buf_free(&b);
    hc_buf_free(&leader.out);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

/* A loader may use the cache for other keys, but not for its own. */
typedef struct reenter {
    hc_cache *c;
    int inner_same, inner_other;
} reenter;

static int inner_fn(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)err;
    return hc_buf_set(out, "inner", 5);
}

static int reenter_fn(void *ctx, hc_buf *out, hc_error *err)
{
    reenter *r = ctx;
    hc_buf b = HC_BUF_INIT;
    hc_error e;
    r->inner_same = hc_get_or_load(r->c, "outer", NULL, inner_fn, NULL, &b, &e);
    r->inner_other = hc_get_or_load(r->c, "other", NULL, inner_fn, NULL, &b, &e);
    hc_buf_free(&b);
    (void)err;
    return hc_buf_set(out, "outer", 5);
}

static void test_reentrant_load(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    reenter r = {c, 0, 0};
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "outer", NULL, reenter_fn, &r, &b, &err), HC_OK);
    assert_int_equal(r.inner_same, HC_EBUSY);
    assert_int_equal(r.inner_other, HC_OK);
    assert_true(hc_contains(c, "outer"));
    assert_true(hc_contains(c, "other"));
    hc_buf_free(&b);
    hc_cache_close(c);
}

/*
** Re-entry stays HC_EBUSY when the key's load is detached while it runs:
** the loader first invalidates (or puts, flushes...) its own key, which
** makes the load stale and takes it out of the shard's list, then asks for
** the key again. That used to start a second load on the same thread, whose
** loader did the same, and so on: a loader holding a lock of its own would
** deadlock on the first nested call.
*/
enum detach { DETACH_KEY, DETACH_REMOVE, DETACH_TAG, DETACH_FLUSH, DETACH_PUT };

typedef struct recurse {
    hc_cache   *c;
    enum detach how;
    int         depth, max_depth, nested_rc;
    pthread_mutex_t lock;       /* a non-recursive lock held by the loader */
} recurse;

static int recurse_fn(void *ctx, hc_buf *out, hc_error *err)
{
    recurse *r = ctx;
    (void)err;
    /* A second entry on this thread would deadlock here, so test first. */
    if (++r->depth > r->max_depth) r->max_depth = r->depth;
    if (r->depth > 1) {
        r->depth--;
        return hc_buf_set(out, "nested", 6);
    }
    pthread_mutex_lock(&r->lock);
    switch (r->how) {
    case DETACH_KEY: (void)hc_invalidate_key(r->c, "self"); break;
    case DETACH_REMOVE: (void)hc_remove(r->c, "self"); break;
    case DETACH_TAG: (void)hc_invalidate_tag(r->c, "mine", NULL); break;
    case DETACH_FLUSH: (void)hc_flush(r->c); break;
    case DETACH_PUT: (void)hc_put(r->c, "self", "put", 3, NULL); hc_remove(r->c, "self"); break;
    }
    hc_buf b = HC_BUF_INIT;
    hc_error e;
    const char *tags[] = {"mine"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 1};
    r->nested_rc = hc_get_or_load(r->c, "self", &o, recurse_fn, r, &b, &e);
    hc_buf_free(&b);
    pthread_mutex_unlock(&r->lock);
    r->depth--;
    return hc_buf_set(out, "outer", 5);
}

static void test_reentry_after_detach(void **state)
{
    (void)state;
    for (int how = DETACH_KEY; how <= DETACH_PUT; how++) {
        hc_cache *c = test_open(100, NULL);
        recurse r = {c, (enum detach)how, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
        hc_buf b = HC_BUF_INIT;
        hc_error err;
        const char *tags[] = {"mine"};
        hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 1};
        assert_int_equal(hc_get_or_load(c, "self", &o, recurse_fn, &r, &b, &err), HC_OK);
        assert_string_equal((char *)b.data, "outer");
        assert_int_equal(r.nested_rc, HC_EBUSY);
        assert_int_equal(r.max_depth, 1);
        /* The outer load was made stale: nothing stored, nothing left. */
        assert_false(hc_contains(c, "self"));
        hc_diagnostics d = test_diag(c);
        assert_int_equal(d.loads_in_flight, 0);
        assert_int_equal(d.stats.stale_load_discards, 1);
        /* The thread leads nothing any more: a new call loads. */
        r.how = DETACH_KEY;
        r.depth = 1;            /* the nested branch: no recursion */
        assert_int_equal(hc_get_or_load(c, "self", NULL, recurse_fn, &r, &b, &err), HC_OK);
        assert_string_equal((char *)b.data, "nested");
        hc_buf_free(&b);
        pthread_mutex_destroy(&r.lock);
        hc_cache_close(c);
    }
}

/* The same key in another cache is another load: no HC_EBUSY. */
typedef struct two_caches {
    hc_cache *other;
    int nested_rc;
} two_caches;

static int other_cache_fn(void *ctx, hc_buf *out, hc_error *err)
{
    two_caches *t = ctx;
    hc_buf b = HC_BUF_INIT;
    hc_error e;
    (void)err;
    t->nested_rc = hc_get_or_load(t->other, "k", NULL, inner_fn, NULL, &b, &e);
    hc_buf_free(&b);
    return hc_buf_set(out, "outer", 5);
}

static void test_reentry_other_cache(void **state)
{
    (void)state;
    hc_cache *a = test_open(100, NULL), *b2 = test_open(100, NULL);
    two_caches t = {b2, 0};
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(a, "k", NULL, other_cache_fn, &t, &b, &err), HC_OK);
    assert_int_equal(t.nested_rc, HC_OK);
    assert_true(hc_contains(a, "k"));
    assert_true(hc_contains(b2, "k"));
    hc_buf_free(&b);
    hc_cache_close(a);
    hc_cache_close(b2);
}

static int positive_fn(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)out; (void)err;
    return 7;
}

static int silent_fail_fn(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)out; (void)err;
    return HC_ENOTFOUND;
}

static void test_loader_return_codes(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "p", NULL, positive_fn, NULL, &b, &err), HC_ELOAD);
    assert_int_equal(err.code, HC_ELOAD);
    assert_string_equal(err.message, "loader returned 7");
    assert_int_equal(hc_get_or_load(c, "s", NULL, silent_fail_fn, NULL, &b, &err), HC_ENOTFOUND);
    assert_int_equal(err.code, HC_ENOTFOUND);
    assert_string_equal(err.message, hc_strerror(HC_ENOTFOUND));
    assert_int_equal(hc_get_or_load(c, "s", NULL, silent_fail_fn, NULL, &b, NULL), HC_ENOTFOUND);
    assert_int_equal(hc_get_or_load(c, "s", NULL, NULL, NULL, &b, &err), HC_EINVAL);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.stats.load_failures, 3);
    /* TTL and tags of a load apply to what it stores. */
    test_clock tc = {0};
    hc_cache *c2 = test_open(10, &tc);
    const char *tags[] = {"t"};
    hc_options o = {.ttl_ms = 5, .tags = tags, .ntags = 1};
    loader l = {NULL, "v", 0, 0};
    assert_int_equal(hc_get_or_load(c2, "k", &o, load_fn, &l, &b, &err), HC_OK);
    assert_true(hc_contains(c2, "k"));
    test_clock_advance(&tc, 5);
    assert_false(hc_contains(c2, "k"));
    assert_int_equal(hc_get_or_load(c2, "k", &o, load_fn, &l, &b, &err), HC_OK);
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c2, "t", &removed), HC_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(atomic_load(&l.calls), 2);
    hc_buf_free(&b);
    hc_cache_close(c2);
    hc_cache_close(c);
}

/* A value too big to cache is still returned to the caller. */
static void test_too_big_load_is_returned(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entry_bytes = 8;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    loader l = {NULL, "much too long", 0, 0};
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "k", NULL, load_fn, &l, &b, &err), HC_OK);
    assert_string_equal((char *)b.data, "much too long");
    assert_false(hc_contains(c, "k"));
    hc_buf_free(&b);
    hc_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixteen_threads_one_loader),
        cmocka_unit_test(test_failure_reaches_every_joiner),
        cmocka_unit_test(test_race_invalidate_key),
        cmocka_unit_test(test_race_remove),
        cmocka_unit_test(test_race_invalidate_tag),
        cmocka_unit_test(test_race_flush),
        cmocka_unit_test(test_race_put),
        cmocka_unit_test(test_unrelated_invalidation_keeps_load),
        cmocka_unit_test(test_joiner_timeout),
        cmocka_unit_test(test_reentrant_load),
        cmocka_unit_test(test_reentry_after_detach),
        cmocka_unit_test(test_reentry_other_cache),
        cmocka_unit_test(test_loader_return_codes),
        cmocka_unit_test(test_too_big_load_is_returned),
    };
    return cmocka_run_group_tests_name("singleflight", tests, NULL, NULL);
}
