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
        hc_options o = {.ttl_ms = (r >> 40) % 4 == 0 ? 1 + (r >> 44) % 3 : HC_TTL_DEFAULT,
                        .tags = tags, .ntags = 2};
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

/*
** Sixteen writers at once on caches split into partitions, every one of
** them storing new keys (so nearly every store evicts), some with tags and
** TTLs, racing invalidations of keys, tags and the whole cache, while a
** monitor reads the diagnostics: entries and bytes may exceed the bounds
** only by what the writers in progress add, one entry each (part.c,
** "Room"), and not at all once they are done.
*/
#define WRITERS     16
#define WRITER_OPS  4000
#define BIG_VAL     1000

typedef struct bounds_run {
    hc_cache *c;
    uint64_t max_entries, max_bytes;
    atomic_int stop;
    atomic_long over, bad;
    uint64_t worst_entries, worst_bytes;    /* the monitor's */
} bounds_run;

typedef struct writer {
    pthread_t thread;
    bounds_run *run;
    uint64_t seed;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    bounds_run *br = w->run;
    static const char fill[BIG_VAL] = {0};
    char key[32], tag[16];
    for (int i = 0; i < WRITER_OPS; i++) {
        uint64_t r = next_rand(&w->seed);
        snprintf(key, sizeof key, "w%llu", (unsigned long long)(r % 200000));
        snprintf(tag, sizeof tag, "t%u", (unsigned)(r >> 40) % 32);
        const char *tags[] = {tag};
        hc_options o = {.ttl_ms = (r >> 20) % 8 == 0 ? 1 + (r >> 24) % 3 : HC_TTL_DEFAULT,
                        .tags = tags, .ntags = (r >> 30) & 1};
        unsigned op = (unsigned)(r >> 44) % 40000;
        int rc;
        if (op < 200) {
            rc = hc_invalidate_tag(br->c, tag, NULL);
        } else if (op < 1000) {
            rc = (r & 1) ? hc_remove(br->c, key) : hc_invalidate_key(br->c, key);
            if (rc == HC_MISS) rc = HC_OK;
        } else if (op < 1001) {
            rc = hc_flush(br->c);
        } else {
            size_t len = 10 + (size_t)(r >> 8) % (BIG_VAL - 10);
            rc = hc_put(br->c, key, fill, len, &o);
        }
        if (rc != HC_OK) atomic_fetch_add(&br->bad, 1);
        if (i % 16 == 0) test_clock_advance(&tclock, 1);
    }
    return NULL;
}

static void *monitor_main(void *arg)
{
    bounds_run *br = arg;
    while (!atomic_load(&br->stop)) {
        hc_diagnostics d;
        if (hc_diagnostics_get(br->c, &d) != HC_OK) atomic_fetch_add(&br->bad, 1);
        if (d.entries > br->worst_entries) br->worst_entries = d.entries;
        if (d.weighted_bytes > br->worst_bytes) br->worst_bytes = d.weighted_bytes;
        if (br->max_entries && d.entries > br->max_entries + WRITERS) atomic_fetch_add(&br->over, 1);
        if (br->max_bytes && d.weighted_bytes > br->max_bytes + WRITERS * (BIG_VAL + 32))
            atomic_fetch_add(&br->over, 1);
    }
    return NULL;
}

static void bounds_once(uint64_t max_entries, uint64_t max_bytes)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = max_entries;
    cfg.max_bytes = max_bytes;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tclock;
    bounds_run br;
    memset(&br, 0, sizeof br);
    br.max_entries = max_entries;
    br.max_bytes = max_bytes;
    assert_int_equal(hc_cache_open(&br.c, &cfg), HC_OK);
    pthread_t mon;
    assert_int_equal(pthread_create(&mon, NULL, monitor_main, &br), 0);
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i].run = &br;
        w[i].seed = 0x2545F4914F6CDD1Dull * (uint64_t)(i + 1) + max_entries + max_bytes;
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) assert_int_equal(pthread_join(w[i].thread, NULL), 0);
    atomic_store(&br.stop, 1);
    assert_int_equal(pthread_join(mon, NULL), 0);
    hc_diagnostics d = test_diag(br.c);
    printf("  bounds %llu entries, %llu bytes: worst seen %llu entries, %llu bytes; "
           "at the end %llu, %llu\n", (unsigned long long)max_entries,
           (unsigned long long)max_bytes, (unsigned long long)br.worst_entries,
           (unsigned long long)br.worst_bytes, (unsigned long long)d.entries,
           (unsigned long long)d.weighted_bytes);
    assert_int_equal(atomic_load(&br.bad), 0);
    assert_int_equal(atomic_load(&br.over), 0);
    if (max_entries) assert_true(d.entries <= max_entries);
    if (max_bytes) assert_true(d.weighted_bytes <= max_bytes);
    assert_true(d.stats.evictions > 0);
    /* Nothing owed is left: the room matches what is there. */
    assert_int_equal(hc_flush(br.c), HC_OK);
    d = test_diag(br.c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.weighted_bytes, 0);
    hc_cache_close(br.c);
}

static void test_sixteen_writers_bounds(void **state)
{
    (void)state;
    bounds_once(4096, 0);                       /* 4 partitions by entries */
    bounds_once(0, (uint64_t)4 << 20);          /* 4 by bytes */
    bounds_once(3000, (uint64_t)2 << 20);       /* both bounds, 2 partitions */
    bounds_once(500, 100000);                   /* one partition */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_operations),
        cmocka_unit_test(test_readers_and_writer),
        cmocka_unit_test(test_sixteen_writers_bounds),
    };
    return cmocka_run_group_tests_name("stress", tests, NULL, NULL);
}
