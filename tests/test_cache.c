/*
** test_cache.c -- the cache's single-threaded contract: put/get, removal,
** tags, flush, TTL with an injected clock, capacity bounds, stats.
*/
#include <math.h>
#include <stdio.h>

#include "testutil.h"

static void test_put_get_replace(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_buf b = HC_BUF_INIT;
    assert_null(test_get_str(c, "k", &b));
    test_put_str(c, "k", "one", NULL);
    assert_string_equal(test_get_str(c, "k", &b), "one");
    assert_int_equal(b.len, 3);
    test_put_str(c, "k", "two, longer", NULL);
    assert_string_equal(test_get_str(c, "k", &b), "two, longer");
    assert_true(hc_contains(c, "k"));
    assert_false(hc_contains(c, "nope"));

    /* Binary values with NULs and an empty value. */
    const uint8_t bin[5] = {0, 1, 0, 2, 0};
    assert_int_equal(hc_put(c, "bin", bin, sizeof bin, NULL), HC_OK);
    assert_int_equal(hc_get(c, "bin", &b), HC_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, bin, 5);
    assert_int_equal(hc_put(c, "empty", NULL, 0, NULL), HC_OK);
    assert_int_equal(hc_get(c, "empty", &b), HC_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.data[0], 0);

    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 3);
    assert_int_equal(d.weighted_bytes, 1 + 11 + 3 + 5 + 5 + 0);
    assert_int_equal(d.stats.inserts, 4);
    assert_int_equal(d.stats.hits, 4);
    assert_int_equal(d.stats.misses, 1);
    assert_int_equal(hc_stats_total_requests(&d.stats), 5);
    assert_true(fabs(hc_stats_hit_ratio(&d.stats) - 0.8) < 1e-9);
    hc_buf_free(&b);
    hc_cache_close(c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    hc_cache *c = test_open(10, NULL);
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_put(NULL, "k", "v", 1, NULL), HC_EINVAL);
    assert_int_equal(hc_put(c, NULL, "v", 1, NULL), HC_EINVAL);
    assert_int_equal(hc_put(c, "k", NULL, 1, NULL), HC_EINVAL);
    assert_int_equal(hc_get(c, NULL, &b), HC_EINVAL);
    assert_int_equal(hc_get(c, "k", NULL), HC_EINVAL);
    assert_int_equal(hc_remove(c, NULL), HC_EINVAL);
    assert_int_equal(hc_invalidate_tag(c, NULL, NULL), HC_EINVAL);
    hc_options o = {.ttl_ms = 0, .tags = NULL, .ntags = 2};
    assert_int_equal(hc_put(c, "k", "v", 1, &o), HC_EINVAL);
    const char *nulltag[1] = {NULL};
    o.tags = nulltag;
    o.ntags = 1;
    assert_int_equal(hc_put(c, "k", "v", 1, &o), HC_EINVAL);
    assert_int_equal(test_diag(c).entries, 0);
    assert_int_equal(hc_cache_open(NULL, NULL), HC_EINVAL);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entry_bytes = 0;
    hc_cache *c2 = (hc_cache *)&cfg;
    assert_int_equal(hc_cache_open(&c2, &cfg), HC_EINVAL);
    assert_null(c2);
    hc_allocator half = {test_alloc_fn, NULL, test_free_fn, NULL};
    hc_config_init(&cfg);
    cfg.allocator = &half;
    assert_int_equal(hc_cache_open(&c2, &cfg), HC_EINVAL);
    assert_int_equal(hc_cache_close(NULL), HC_OK);
    assert_int_equal(test_diag(c).entries, 0);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Every call that takes options checks them the same way, before it does
   anything: hc_get_or_load used to take a NULL tag name to its loader and
   strlen(). */
static int load_never(void *ctx, hc_buf *out, hc_error *err)
{
    (void)out; (void)err;
    ++*(int *)ctx;
    return hc_buf_set(out, "v", 1);
}

static void test_bad_options(void **state)
{
    (void)state;
    hc_cache *c = test_open(10, NULL);
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    int calls = 0;
    const char *nulltag[2] = {"ok", NULL};
    char names[256][16];
    const char *many[256];
    for (int i = 0; i < 256; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        many[i] = names[i];
    }
    const hc_options bad[] = {
        {.ntags = 1},                           /* tags missing */
        {.tags = nulltag, .ntags = 2},          /* a tag name missing */
        {.tags = many, .ntags = 256},           /* more than 255 tags */
        {.ttl_jitter_percent = 100},            /* a TTL that could be 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hc_put(c, "k", "v", 1, &bad[i]), HC_EINVAL);
        assert_int_equal(hc_get_or_load(c, "k", &bad[i], load_never, &calls, &b, &err),
                         HC_EINVAL);
        assert_int_equal(err.code, HC_EINVAL);
        /* Also when the key is cached: the options are wrong all the same. */
        test_put_str(c, "cached", "v", NULL);
        assert_int_equal(hc_get_or_load(c, "cached", &bad[i], load_never, &calls, &b, &err),
                         HC_EINVAL);
    }
    assert_int_equal(calls, 0);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 1);
    assert_int_equal(d.loads_in_flight, 0);
    assert_int_equal(d.tags, 0);
    /* No tags with a NULL array is fine. */
    hc_options none = {.ttl_ms = 0, .tags = NULL, .ntags = 0};
    assert_int_equal(hc_get_or_load(c, "k", &none, load_never, &calls, &b, &err), HC_OK);
    assert_int_equal(calls, 1);
    hc_buf_free(&b);
    hc_cache_close(c);
}

static void test_config_defaults(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    assert_string_equal(cfg.name, "main");
    assert_int_equal(cfg.max_entries, 10000);
    assert_int_equal(cfg.max_bytes, 0);
    assert_int_equal(cfg.default_ttl_ms, 300000);
    assert_int_equal(cfg.max_entry_bytes, 16u << 20);
    assert_int_equal(cfg.load_wait_timeout_ms, 0);
    assert_null(cfg.clock_ms);
    assert_null(cfg.allocator);
    assert_int_equal(cfg.event_buffer, 1024);
    assert_false(cfg.access_events);
    assert_null(cfg.bus);
    assert_null(cfg.node_id);
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, NULL), HC_OK);
    assert_string_equal(hc_cache_name(c), "main");
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.max_entries, 10000);
    hc_cache_close(c);
    cfg.name = "orders";
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    assert_string_equal(hc_cache_name(c), "orders");
    hc_cache_close(c);
}

static void test_remove_and_invalidate_key(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_buf b = HC_BUF_INIT;
    test_put_str(c, "a", "1", NULL);
    test_put_str(c, "b", "2", NULL);
    assert_int_equal(hc_remove(c, "a"), HC_OK);
    assert_int_equal(hc_remove(c, "a"), HC_MISS);
    assert_int_equal(hc_invalidate_key(c, "b"), HC_OK);
    assert_int_equal(hc_invalidate_key(c, "b"), HC_MISS);
    assert_null(test_get_str(c, "a", &b));
    assert_null(test_get_str(c, "b", &b));
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.weighted_bytes, 0);
    assert_int_equal(d.stats.invalidations, 2);
    hc_buf_free(&b);
    hc_cache_close(c);
}

static void test_tags(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_buf b = HC_BUF_INIT;
    const char *t_user1[] = {"user:1", "users"};
    const char *t_user2[] = {"user:2", "users", "users"};   /* duplicate tag */
    const char *t_team[] = {"team:7"};
    hc_options o1 = {.tags = t_user1, .ntags = 2}, o2 = {.tags = t_user2, .ntags = 3},
               o3 = {.tags = t_team, .ntags = 1};
    test_put_str(c, "u1", "alice", &o1);
    test_put_str(c, "u2", "bob", &o2);
    test_put_str(c, "team", "seven", &o3);
    test_put_str(c, "plain", "x", NULL);
    assert_int_equal(test_diag(c).tags, 4);

    uint64_t removed = 99;
    assert_int_equal(hc_invalidate_tag(c, "user:1", &removed), HC_OK);
    assert_int_equal(removed, 1);
    assert_null(test_get_str(c, "u1", &b));
    assert_string_equal(test_get_str(c, "u2", &b), "bob");
    assert_int_equal(test_diag(c).tags, 3);     /* user:1 has no members left */

    test_put_str(c, "u1", "alice2", &o1);
    assert_int_equal(hc_invalidate_tag(c, "users", &removed), HC_OK);
    assert_int_equal(removed, 2);
    assert_null(test_get_str(c, "u1", &b));
    assert_null(test_get_str(c, "u2", &b));
    assert_string_equal(test_get_str(c, "team", &b), "seven");
    assert_int_equal(hc_invalidate_tag(c, "nobody", &removed), HC_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(hc_invalidate_tag(c, "users", NULL), HC_OK);

    /* Replacing an entry replaces its tags. */
    test_put_str(c, "team", "seven again", &o1);
    assert_int_equal(hc_invalidate_tag(c, "team:7", &removed), HC_OK);
    assert_int_equal(removed, 0);
    assert_string_equal(test_get_str(c, "team", &b), "seven again");
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.tags, 2);
    assert_int_equal(d.entries, 2);
    assert_int_equal(d.stats.invalidations, 3);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Regression: evicting a tag's last member while storing a newcomer with the
   same tag must not free the tag under the newcomer (found by test_stress
   under ASan). Capacity 1 makes every put evict the previous entry. */
static void test_eviction_of_last_tag_member(void **state)
{
    (void)state;
    hc_cache *c = test_open(1, NULL);
    const char *tags[] = {"shared", "other"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 2};
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", &o);
        hc_diagnostics d = test_diag(c);
        assert_int_equal(d.entries, 1);
        assert_int_equal(d.tags, 2);
    }
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "shared", &removed), HC_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(test_diag(c).tags, 0);
    hc_cache_close(c);
}

static void test_flush(void **state)
{
    (void)state;
    hc_cache *c = test_open(1000, NULL);
    hc_buf b = HC_BUF_INIT;
    const char *t[] = {"t"};
    hc_options o = {.ttl_ms = 0, .tags = t, .ntags = 1};
    char key[32];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", i % 2 ? &o : NULL);
    }
    assert_int_equal(hc_flush(c), HC_OK);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.weighted_bytes, 0);
    assert_int_equal(d.tags, 0);
    assert_int_equal(d.stats.invalidations, 500);
    assert_null(test_get_str(c, "k3", &b));
    /* Usable after a flush. */
    for (int i = 0; i < 1500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", &o);
    }
    d = test_diag(c);
    assert_int_equal(d.entries, 1000);
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "t", &removed), HC_OK);
    assert_int_equal(removed, 1000);
    hc_buf_free(&b);
    hc_cache_close(c);
}

static void test_ttl(void **state)
{
    (void)state;
    test_clock tc = {1000000};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    cfg.default_ttl_ms = 1000;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    hc_buf b = HC_BUF_INIT;

    hc_options short_ttl = {.ttl_ms = 50}, never = {.ttl_ms = HC_TTL_NEVER};
    test_put_str(c, "default", "d", NULL);
    test_put_str(c, "short", "s", &short_ttl);
    test_put_str(c, "never", "n", &never);

    test_clock_advance(&tc, 49);
    assert_string_equal(test_get_str(c, "short", &b), "s");
    test_clock_advance(&tc, 1);                          /* t = 50: expired */
    assert_false(hc_contains(c, "short"));
    assert_null(test_get_str(c, "short", &b));
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.expirations, 1);
    assert_int_equal(d.stats.misses, 1);
    assert_int_equal(d.entries, 2);

    test_clock_advance(&tc, 949);                        /* t = 999 */
    assert_string_equal(test_get_str(c, "default", &b), "d");
    test_clock_advance(&tc, 1);                          /* t = 1000 */
    /* Reclaimed without being read: diagnostics sweeps first. */
    d = test_diag(c);
    assert_int_equal(d.entries, 1);
    assert_int_equal(d.stats.expirations, 2);

    test_clock_advance(&tc, 400ull * 24 * 3600 * 1000);  /* 400 days */
    assert_string_equal(test_get_str(c, "never", &b), "n");

    /* Long TTLs in every level of the wheel, and past its range. */
    static const uint64_t ttls[] = {1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144,
                                    16777216, 1073741824ull, 68719476736ull,
                                    68719476737ull * 3};
    char key[32];
    for (size_t i = 0; i < sizeof ttls / sizeof *ttls; i++) {
        hc_options o = {.ttl_ms = ttls[i], .tags = NULL, .ntags = 0};
        snprintf(key, sizeof key, "ttl%zu", i);
        test_put_str(c, key, "x", &o);
    }
    uint64_t start = atomic_load(&tc.now);
    for (size_t i = 0; i < sizeof ttls / sizeof *ttls; i++) {
        snprintf(key, sizeof key, "ttl%zu", i);
        atomic_store(&tc.now, start + ttls[i] - 1);
        assert_true(hc_contains(c, key));
        /* Sweep at one ms before the deadline: the entry must survive. */
        d = test_diag(c);
        assert_int_equal(d.entries, 1 + sizeof ttls / sizeof *ttls - i);
        atomic_store(&tc.now, start + ttls[i]);
        d = test_diag(c);
        assert_int_equal(d.entries, sizeof ttls / sizeof *ttls - i);
        assert_false(hc_contains(c, key));
    }
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Entries with a deadline carry their expiry state in front of the header
   and those without carry none: mixed in one cache, replaced by each other,
   tagged, evicted, removed, flushed and expired, each kind keeps its value
   and is freed whole (AddressSanitizer checks the frees). */
static void test_deadline_and_never_mixed(void **state)
{
    (void)state;
    test_clock tc = {100};
    hc_cache *c = test_open(64, &tc);
    hc_buf b = HC_BUF_INIT;
    const char *t[] = {"even"};
    char key[32], val[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 200; i++) {
            /* Round 0: odd keys expire; round 1 swaps, replacing entries of
               one kind by the other. */
            hc_options o = {.ttl_ms = (i + round) % 2 ? 50 : HC_TTL_NEVER,
                            .tags = i % 2 ? NULL : t, .ntags = i % 2 ? 0 : 1};
            snprintf(key, sizeof key, "k%d", i % 100);
            snprintf(val, sizeof val, "v%d.%d", i, round);
            test_put_str(c, key, val, &o);
            const char *got = test_get_str(c, key, &b);   /* NULL: not admitted */
            if (got) assert_string_equal(got, val);
        }
    }
    /* Now even keys have a deadline and the tag, odd keys neither. */
    hc_diagnostics d = test_diag(c);
    assert_true(d.entries <= 64);
    assert_true(d.stats.evictions > 0);
    uint64_t even = 0, odd = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if (hc_contains(c, key)) *(i % 2 ? &odd : &even) += 1;
    }
    assert_int_equal(even + odd, d.entries);
    assert_true(even > 0 && odd > 1);
    uint64_t k1 = hc_contains(c, "k1");
    assert_int_equal(hc_remove(c, "k1"), HC_OK);
    test_clock_advance(&tc, 50);
    hc_diagnostics d2 = test_diag(c);
    assert_int_equal(d2.stats.expirations - d.stats.expirations, even);
    assert_int_equal(d2.entries, odd - k1);
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "even", &removed), HC_OK);
    assert_int_equal(removed, 0);                /* they all expired */
    for (int i = 1; i < 100; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        if (i > 1 && hc_contains(c, key)) {
            snprintf(val, sizeof val, "v%d.1", i + 100);
            assert_string_equal(test_get_str(c, key, &b), val);
        }
    }

    /* A flush resets the wheel; entries with deadlines put after it still
       expire, and those without stay. */
    for (int i = 0; i < 20; i++) {
        hc_options o = {.ttl_ms = i % 2 ? 10 : HC_TTL_NEVER, .tags = NULL, .ntags = 0};
        snprintf(key, sizeof key, "f%d", i);
        test_put_str(c, key, "x", &o);
    }
    assert_int_equal(hc_flush(c), HC_OK);
    for (int i = 0; i < 20; i++) {
        hc_options o = {.ttl_ms = i % 2 ? 10 : HC_TTL_NEVER, .tags = NULL, .ntags = 0};
        snprintf(key, sizeof key, "g%d", i);
        test_put_str(c, key, "y", &o);
    }
    test_clock_advance(&tc, 10);
    d = test_diag(c);
    assert_int_equal(d.entries, 10);
    assert_string_equal(test_get_str(c, "g0", &b), "y");
    assert_null(test_get_str(c, "g1", &b));
    hc_buf_free(&b);
    hc_cache_close(c);
}

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* With the built-in clock, hits on entries far from their deadline read a
   coarse clock (cache.c): an entry must still never be returned once the
   precise clock has reached its deadline. The test reads the clock before
   each call, so it can miss a late expiry but never invent one. */
static void test_real_clock_never_returns_expired(void **state)
{
    (void)state;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, NULL), HC_OK);
    hc_buf b = HC_BUF_INIT;
    for (uint64_t ttl = 1; ttl <= 41; ttl += 8) {
        hc_options o = {.ttl_ms = ttl, .tags = NULL, .ntags = 0};
        test_put_str(c, "k", "v", &o);
        uint64_t deadline = real_ms() + ttl;    /* at or after the entry's */
        for (;;) {
            uint64_t before = real_ms();
            bool hit = test_get_str(c, "k", &b) != NULL;
            if (hit) {
                assert_true(before < deadline);
            } else {
                break;
            }
        }
        assert_false(hc_contains(c, "k"));
    }
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Expired entries do not hold capacity: inserting after they expire evicts
   nothing, even though nobody read them. */
static void test_expired_do_not_hold_capacity(void **state)
{
    (void)state;
    test_clock tc = {5};
    hc_cache *c = test_open(100, &tc);
    hc_options o = {.ttl_ms = 10, .tags = NULL, .ntags = 0};
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "old%d", i);
        test_put_str(c, key, "v", &o);
    }
    test_clock_advance(&tc, 10);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "new%d", i);
        test_put_str(c, key, "v", NULL);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.evictions, 0);
    assert_int_equal(d.stats.expirations, 100);
    assert_int_equal(d.entries, 100);
    hc_cache_close(c);
}

/* Entries stay within max_entries after every insert, at 20x the capacity. */
static void test_capacity_entries(void **state)
{
    (void)state;
    hc_cache *c = test_open(500, NULL);
    hc_buf b = HC_BUF_INIT;
    char key[32];
    uint64_t reachable;
    for (int i = 0; i < 500 * 20; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        test_put_str(c, key, "value", NULL);
        if (i % 97 == 0) {
            hc_diagnostics d = test_diag(c);
            assert_true(d.entries <= 500);
        }
        /* Re-read a hot set so the policy has something to prefer. */
        if (i % 3 == 0) (void)hc_get(c, "key-0", &b);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 500);
    assert_int_equal(d.stats.inserts, 10000);
    assert_int_equal(d.stats.evictions, 9500);
    reachable = 0;
    for (int i = 0; i < 500 * 20; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        reachable += hc_contains(c, key);
    }
    assert_int_equal(reachable, 500);
    assert_true(hc_contains(c, "key-0"));           /* frequently used: kept */
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Bytes stay within max_bytes after every insert, with mixed sizes. */
static void test_capacity_bytes(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        hc_config cfg;
        hc_config_init(&cfg);
        cfg.max_entries = mode ? 300 : 0;   /* bytes only, then both bounds */
        cfg.max_bytes = 10000;
        hc_cache *c;
        assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
        char key[32];
        char val[700];
        memset(val, 'v', sizeof val);
        uint64_t inserted_bytes = 0;
        for (int i = 0; inserted_bytes < 20 * 10000; i++) {
            int klen = snprintf(key, sizeof key, "key-%d", i);
            size_t vlen = (size_t)(i * 37 % 600);
            assert_int_equal(hc_put(c, key, val, vlen, NULL), HC_OK);
            inserted_bytes += (uint64_t)klen + vlen;
            hc_diagnostics d = test_diag(c);
            assert_true(d.weighted_bytes <= 10000);
            assert_true(d.entries <= 300);
        }
        /* An entry bigger than the whole cache is refused, not stored. */
        char big[10001];
        memset(big, 'b', sizeof big);
        assert_int_equal(hc_put(c, "big", big, sizeof big, NULL), HC_ETOOBIG);
        assert_false(hc_contains(c, "big"));
        hc_cache_close(c);
    }
}

static void test_max_entry_bytes(void **state)
{
    (void)state;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entry_bytes = 100;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    char v[100] = {0};
    assert_int_equal(hc_put(c, "k", v, 99, NULL), HC_OK);       /* 1 + 99 */
    assert_int_equal(hc_put(c, "kk", v, 99, NULL), HC_ETOOBIG);  /* 2 + 99 */
    assert_int_equal(hc_put(c, "k", v, 100, NULL), HC_ETOOBIG);
    assert_int_equal(hc_put(c, "k", v, SIZE_MAX, NULL), HC_ETOOBIG);
    assert_true(hc_contains(c, "k"));
    hc_cache_close(c);

    /* Keys are at most 65535 bytes and entries carry at most 255 tags. */
    hc_config_init(&cfg);
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    char *key = malloc(65537);
    assert_non_null(key);
    memset(key, 'k', 65536);
    key[65536] = 0;
    assert_int_equal(hc_put(c, key, "v", 1, NULL), HC_ETOOBIG);
    key[65535] = 0;
    assert_int_equal(hc_put(c, key, "v", 1, NULL), HC_OK);
    assert_true(hc_contains(c, key));
    free(key);
    const char *tags[256];
    char names[256][16];
    for (int i = 0; i < 256; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        tags[i] = names[i];
    }
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 256};
    assert_int_equal(hc_put(c, "tagged", "v", 1, &o), HC_EINVAL);
    o.ntags = 255;
    assert_int_equal(hc_put(c, "tagged", "v", 1, &o), HC_OK);
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "t254", &removed), HC_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(test_diag(c).tags, 0);
    hc_cache_close(c);
}

/* An unbounded cache never evicts. */
static void test_unbounded(void **state)
{
    (void)state;
    hc_cache *c = test_open(0, NULL);
    char key[32];
    for (int i = 0; i < 30000; i++) {
        snprintf(key, sizeof key, "%d", i);
        test_put_str(c, key, "v", NULL);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 30000);
    assert_int_equal(d.stats.evictions, 0);
    hc_cache_close(c);
}

/* A scan does not flush a frequently used working set (scan resistance). */
static void test_scan_resistance(void **state)
{
    (void)state;
    hc_cache *c = test_open(1000, NULL);
    hc_buf b = HC_BUF_INIT;
    char key[32];
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof key, "hot%d", i);
            if (hc_get(c, key, &b) == HC_MISS) test_put_str(c, key, "v", NULL);
        }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "scan%d", i);
        if (hc_get(c, key, &b) == HC_MISS) test_put_str(c, key, "v", NULL);
    }
    int kept = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "hot%d", i);
        kept += hc_contains(c, key);
    }
    assert_true(kept >= 450);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* hc_try_visit reads the value in place and returns what the visitor
   returns; it counts a hit like hc_get, but leaves the miss to the
   hc_get_or_load that follows. */
static int visit_copy(void *ctx, const void *data, size_t len)
{
    hc_buf *b = ctx;
    return hc_buf_set(b, data, len) == HC_OK ? HC_ECODEC : HC_ENOMEM;   /* any code passes through */
}

static void test_try_visit(void **state)
{
    (void)state;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, NULL), HC_OK);
    hc_buf seen = HC_BUF_INIT;
    assert_int_equal(hc_try_visit(c, "k", 1, visit_copy, &seen), HC_MISS);
    assert_null(seen.data);
    assert_int_equal(hc_put(c, "k", "value", 5, NULL), HC_OK);
    assert_int_equal(hc_try_visit(c, "k", 1, visit_copy, &seen), HC_ECODEC);
    assert_int_equal(seen.len, 5);
    assert_memory_equal(seen.data, "value", 5);
    hc_stats s;
    hc_stats_get(c, &s);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 0);
    assert_int_equal(hc_try_visit(NULL, "k", 1, visit_copy, &seen), HC_EINVAL);
    assert_int_equal(hc_try_visit(c, NULL, 0, visit_copy, &seen), HC_EINVAL);
    assert_int_equal(hc_try_visit(c, "k", 1, NULL, &seen), HC_EINVAL);
    /* A length that is not the key's: key[klen] is not its 0. */
    assert_int_equal(hc_try_visit(c, "kk", 1, visit_copy, &seen), HC_EINVAL);
    /* A shorter prefix of a longer buffer, cut with a 0, is a key. */
    char buf[] = "k\0junk";
    assert_int_equal(hc_try_visit(c, buf, 1, visit_copy, &seen), HC_ECODEC);
    hc_buf_free(&seen);
    hc_cache_close(c);
}

static void test_stats_names(void **state)
{
    (void)state;
    hc_stats s;
    memset(&s, 0, sizeof s);
    assert_true(isnan(hc_stats_hit_ratio(&s)));
    assert_int_equal(hc_stats_total_requests(&s), 0);
    assert_string_equal(hc_event_kind_name(HC_EVENT_EVICTED), "evicted");
    assert_string_equal(hc_event_kind_name(HC_EVENT_HIT), "hit");
    assert_string_equal(hc_origin_name(HC_ORIGIN_BUS), "bus");
    assert_string_equal(hc_event_kind_name((hc_event_kind)99), "unknown");
    assert_int_equal(hc_version_number(), HC_VERSION_NUMBER);
    assert_string_equal(hc_version_string(), HC_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_remove_and_invalidate_key),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_eviction_of_last_tag_member),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_deadline_and_never_mixed),
        cmocka_unit_test(test_real_clock_never_returns_expired),
        cmocka_unit_test(test_expired_do_not_hold_capacity),
        cmocka_unit_test(test_capacity_entries),
        cmocka_unit_test(test_capacity_bytes),
        cmocka_unit_test(test_max_entry_bytes),
        cmocka_unit_test(test_unbounded),
        cmocka_unit_test(test_scan_resistance),
        cmocka_unit_test(test_try_visit),
        cmocka_unit_test(test_stats_names),
    };
    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
