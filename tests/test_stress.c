/*
** test_stress.c -- every operation from several threads at once on a small
** cache, so that evictions, expirations, invalidations and loads interleave.
** Runs under ThreadSanitizer in `make check`, which reports any data race;
** the test itself checks that every value read belongs to its key, that the
** bounds hold, and that nothing is left in flight.
*/
#include <stdio.h>

#include "testutil.h"

#define THREADS 4
#define OPS     20000
#define KEYS    200
#define CAP     64

/* Time moves with the work, so that expiry interleaves with everything else
   but stands still once the workers stop and the final checks run. */
static test_clock tclock;

typedef struct worker {
    pthread_t thread;
    hc_cache *c;
    uint64_t  seed;
    int       bad;          /* values that did not match their key */
    int       over;         /* diagnostics over the bounds */
} worker;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    const char *key = ctx;
    if (key[1] == '7') return hc_error_set(err, HC_EDB, "keys with a 7 fail");
    char val[64];
    int n = snprintf(val, sizeof val, "val:%s", key);
    return hc_buf_set(out, val, (size_t)n);
}

static int matches(const char *key, const hc_buf *b)
{
    char val[64];
    int n = snprintf(val, sizeof val, "val:%s", key);
    return b->len == (size_t)n && memcmp(b->data, val, (size_t)n) == 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    char key[32], val[64], tag[32];
    for (int i = 0; i < OPS; i++) {
        uint64_t r = next_rand(&w->seed);
        if (i % 8 == 0) test_clock_advance(&tclock, 1);
        unsigned k = (unsigned)(r >> 8) % KEYS;
        snprintf(key, sizeof key, "k%u", k);
        snprintf(tag, sizeof tag, "group:%u", k % 10);
        const char *tags[] = {tag, "all"};
        hc_options o = {(r >> 40) % 4 == 0 ? 1 + (r >> 44) % 3 : HC_TTL_DEFAULT, tags, 2};
        int rc;
        switch ((r >> 24) % 100) {
        case 0:
            hc_flush(w->c);
            break;
        case 1: case 2: case 3:
            hc_invalidate_tag(w->c, tag, NULL);
            break;
        case 4: case 5: case 6: case 7: case 8:
            hc_remove(w->c, key);
            break;
        case 9: {
            hc_diagnostics d;
            hc_diagnostics_get(w->c, &d);
            if (d.entries > CAP) w->over++;
            break;
        }
        default:
            if ((r >> 24) % 100 < 40) {
                int n = snprintf(val, sizeof val, "val:%s", key);
                rc = hc_put(w->c, key, val, (size_t)n, &o);
                if (rc != HC_OK) w->bad++;
            } else if ((r >> 24) % 100 < 60) {
                rc = hc_get(w->c, key, &b);
                if (rc == HC_OK && !matches(key, &b)) w->bad++;
                if (rc != HC_OK && rc != HC_MISS) w->bad++;
            } else if ((r >> 24) % 100 < 65) {
                (void)hc_contains(w->c, key);
            } else {
                rc = hc_get_or_load(w->c, key, &o, load_fn, key, &b, &err);
                if (rc == HC_OK && !matches(key, &b)) w->bad++;
                if (rc != HC_OK && rc != HC_EDB) w->bad++;
                if (rc == HC_EDB && strcmp(err.message, "keys with a 7 fail") != 0) w->bad++;
            }
        }
    }
    hc_buf_free(&b);
    return NULL;
}

static void test_mixed_operations(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = CAP;
    cfg.default_ttl_ms = 50;
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tclock;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        assert_int_equal(w[i].bad, 0);
        assert_int_equal(w[i].over, 0);
    }
    hc_diagnostics d = test_diag(c);
    assert_true(d.entries <= CAP);
    assert_int_equal(d.loads_in_flight, 0);
    assert_true(d.stats.hits + d.stats.misses > 0);
    assert_true(d.stats.expirations > 0);
    assert_true(d.stats.evictions > 0);
    /* Every entry counted is reachable, and its bytes add up. */
    hc_buf b = HC_BUF_INIT;
    char key[32];
    uint64_t found = 0, bytes = 0;
    for (unsigned k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "k%u", k);
        if (hc_get(c, key, &b) == HC_OK) {
            found++;
            bytes += strlen(key) + b.len;
        }
    }
    d = test_diag(c);
    assert_int_equal(found, d.entries);
    assert_int_equal(bytes, d.weighted_bytes);
    assert_int_equal(hc_invalidate_tag(c, "all", NULL), HC_OK);
    assert_int_equal(test_diag(c).entries, 0);
    assert_int_equal(test_diag(c).tags, 0);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Readers on a full cache while a writer churns it: hits never see torn
   values, and readers of different shards run at once. */
typedef struct reader {
    pthread_t thread;
    hc_cache *c;
    atomic_int *stop;
    int bad;
    long reads;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    hc_buf b = HC_BUF_INIT;
    char key[32];
    unsigned k = 0;
    while (!atomic_load(r->stop)) {
        snprintf(key, sizeof key, "k%u", k++ % KEYS);
        int rc = hc_get(r->c, key, &b);
        if (rc == HC_OK && !matches(key, &b)) r->bad++;
        r->reads++;
    }
    hc_buf_free(&b);
    return NULL;
}

static void test_readers_and_writer(void **state)
{
    (void)state;
    hc_cache *c = test_open(CAP, NULL);
    atomic_int stop = 0;
    reader r[3];
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].c = c;
        r[i].stop = &stop;
        assert_int_equal(pthread_create(&r[i].thread, NULL, reader_main, &r[i]), 0);
    }
    char key[32], val[64];
    for (int i = 0; i < OPS; i++) {
        snprintf(key, sizeof key, "k%u", (unsigned)(i * 7) % KEYS);
        int n = snprintf(val, sizeof val, "val:%s", key);
        assert_int_equal(hc_put(c, key, val, (size_t)n, NULL), HC_OK);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(r[i].thread, NULL), 0);
        assert_int_equal(r[i].bad, 0);
    }
    assert_true(test_diag(c).entries <= CAP);
    hc_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_operations),
        cmocka_unit_test(test_readers_and_writer),
    };
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
