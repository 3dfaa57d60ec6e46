/*
** testutil.h -- what the cmocka suites share: an injectable clock, an
** allocator that fails on demand, and a gate to order threads.
*/
#ifndef HC_TESTUTIL_H
#define HC_TESTUTIL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "hydracache.h"

/* ------------------------------------------------------------ clock */

typedef struct test_clock {
    atomic_uint_fast64_t now;
} test_clock;

static inline uint64_t test_clock_ms(void *ctx)
{
    return atomic_load(&((test_clock *)ctx)->now);
}

static inline void test_clock_advance(test_clock *tc, uint64_t ms)
{
    atomic_fetch_add(&tc->now, ms);
}

/* ------------------------------------------------------- allocator */

/*
** Fails allocation number fail_at (1-based, counting from the last reset)
** and, if sticky, every one after it; 0 = never. Counts what is live.
*/
typedef struct test_alloc {
    atomic_long calls;
    long fail_at;
    int sticky;
    atomic_long live;
} test_alloc;

static inline int test_alloc_should_fail(test_alloc *ta)
{
    long n = atomic_fetch_add(&ta->calls, 1) + 1;
    return ta->fail_at && (n == ta->fail_at || (ta->sticky && n > ta->fail_at));
}

static inline void *test_alloc_fn(void *ud, size_t n)
{
    test_alloc *ta = ud;
    if (test_alloc_should_fail(ta)) return NULL;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&ta->live, 1);
    return p;
}

static inline void *test_realloc_fn(void *ud, void *p, size_t n)
{
    test_alloc *ta = ud;
    if (test_alloc_should_fail(ta)) return NULL;
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&ta->live, 1);
    return q;
}

static inline void test_free_fn(void *ud, void *p)
{
    test_alloc *ta = ud;
    if (p) atomic_fetch_sub(&ta->live, 1);
    free(p);
}

static inline hc_allocator test_allocator(test_alloc *ta)
{
    hc_allocator a = {test_alloc_fn, test_realloc_fn, test_free_fn, ta};
    return a;
}

static inline void test_alloc_arm(test_alloc *ta, long fail_at)
{
    atomic_store(&ta->calls, 0);
    ta->fail_at = fail_at;
}

/* -------------------------------------------------------------- gate */

typedef struct test_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int arrived;
} test_gate;

static inline void test_gate_init(test_gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = 0;
    g->arrived = 0;
}

static inline void test_gate_destroy(test_gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

/* Record arrival and block until the gate opens. */
static inline void test_gate_wait(test_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Block until n threads have arrived at the gate. */
static inline void test_gate_await_arrivals(test_gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static inline void test_gate_open(test_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------ helpers */

static inline hc_cache *test_open(uint64_t max_entries, test_clock *tc)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = max_entries;
    if (tc) {
        cfg.clock_ms = test_clock_ms;
        cfg.clock_ctx = tc;
    }
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static inline void test_put_str(hc_cache *c, const char *key, const char *val,
                                const hc_options *opts)
{
    assert_int_equal(hc_put(c, key, val, strlen(val), opts), HC_OK);
}

/* The value under key as a string, or NULL on a miss (into buf). */
static inline const char *test_get_str(hc_cache *c, const char *key, hc_buf *buf)
{
    int rc = hc_get(c, key, buf);
    assert_true(rc == HC_OK || rc == HC_MISS);
    return rc == HC_OK ? (const char *)buf->data : NULL;
}

static inline hc_diagnostics test_diag(hc_cache *c)
{
    hc_diagnostics d;
    assert_int_equal(hc_diagnostics_get(c, &d), HC_OK);
    return d;
}

/* ----------------------------------------------------- bounded waits */

static inline void test_nap_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* Poll pred(arg) every millisecond for up to 20 s, for an effect that
   arrives from another thread or process (the bus). Not a timing test:
   only a bound on a wait that should end. */
static inline bool test_wait_until(bool (*pred)(void *), void *arg)
{
    for (int i = 0; i < 20000; i++) {
        if (pred(arg)) return true;
        test_nap_ms(1);
    }
    return pred(arg);
}

typedef struct test_key_gone { hc_cache *c; const char *key; } test_key_gone;

static inline bool test_is_gone(void *arg)
{
    test_key_gone *k = arg;
    return !hc_contains(k->c, k->key);
}

/* Wait until c no longer holds key; fail the test if it never happens. */
static inline void test_expect_gone(hc_cache *c, const char *key)
{
    test_key_gone k = {c, key};
    if (!test_wait_until(test_is_gone, &k)) fail_msg("'%s' was never invalidated", key);
}

#endif
