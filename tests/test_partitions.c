/*
** test_partitions.c -- the write path of a cache split into policy
** partitions (part.c), one thread at a time: how many partitions a cache
** gets, room taken from where it is, expired entries never costing a live
** one its place, tags counted once over partitions, and the bounds.
** Keys are picked by the partition their hash falls in, so every case is
** deterministic.
*/
#include <stdio.h>

#include "testutil.h"
#include "hc_int.h"             /* partitions: nparts, part_shift, the hash */

static unsigned part_of_key(const hc_cache *c, const char *key)
{
    return hc__shard_index((uint32_t)hc__hash(key, strlen(key))) >> c->part_shift;
}

/* The n-th key (from *next on) that falls in partition part. */
static void key_in(const hc_cache *c, unsigned part, unsigned *next, char *out, size_t n)
{
    for (;; ++*next) {
        snprintf(out, n, "key-%u", *next);
        if (part_of_key(c, out) == part) {
            ++*next;
            return;
        }
    }
}

static hc_cache *open_cfg(uint64_t max_entries, uint64_t max_bytes, test_clock *tc)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = max_entries;
    cfg.max_bytes = max_bytes;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    if (tc) {
        cfg.clock_ms = test_clock_ms;
        cfg.clock_ctx = tc;
    }
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static void test_partition_count(void **state)
{
    (void)state;
    static const struct { uint64_t entries, bytes; unsigned parts; } cases[] = {
        {100, 0, 1}, {2047, 0, 1}, {2048, 0, 2}, {10000, 0, 8}, {50000, 0, 32},
        {100000, 0, 64}, {1000000, 0, 64}, {0, 0, 64},
        {0, 10000, 1}, {0, (uint64_t)4 << 20, 4}, {100000, (uint64_t)2 << 20, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hc_cache *c = open_cfg(cases[i].entries, cases[i].bytes, NULL);
        assert_int_equal(c->nparts, cases[i].parts);
        hc_cache_close(c);
    }
}

/*
** A partition holding less than its share takes its room from one that
** holds more: fill partition 1 with the whole capacity, then store into
** partition 0. The bound holds, and the victim is partition 1's.
*/
static void test_light_partition_takes_room(void **state)
{
    (void)state;
    hc_cache *c = open_cfg(2048, 0, NULL);
    assert_int_equal(c->nparts, 2);
    char key[32];
    unsigned next = 0;
    for (int i = 0; i < 2048; i++) {
        key_in(c, 1, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 2048);
    assert_int_equal(d.stats.evictions, 0);
    assert_int_equal(atomic_load(&c->parts[1].count), 2048);
    char light[32];
    key_in(c, 0, &next, light, sizeof light);
    test_put_str(c, light, "v", NULL);
    d = test_diag(c);
    assert_int_equal(d.entries, 2048);
    assert_int_equal(d.stats.evictions, 1);
    assert_true(hc_contains(c, light));
    assert_int_equal(atomic_load(&c->parts[0].count), 1);
    assert_int_equal(atomic_load(&c->parts[1].count), 2047);
    /* A partition at its share evicts its own. */
    hc_cache_close(c);

    c = open_cfg(2048, 0, NULL);
    next = 0;
    for (int i = 0; i < 1024; i++) {
        key_in(c, 0, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
        key_in(c, 1, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
    }
    for (int i = 0; i < 100; i++) {
        key_in(c, 0, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
    }
    d = test_diag(c);
    assert_int_equal(d.entries, 2048);
    assert_int_equal(d.stats.evictions, 100);
    assert_int_equal(atomic_load(&c->parts[0].count), 1024);
    assert_int_equal(atomic_load(&c->parts[1].count), 1024);
    hc_cache_close(c);
}

/* Expired entries of one partition do not cost another partition's live
   entries their place: the write that needs room sweeps them first. */
static void test_expired_elsewhere_do_not_hold_capacity(void **state)
{
    (void)state;
    test_clock tc = {5};
    hc_cache *c = open_cfg(2048, 0, &tc);
    char key[32];
    unsigned next = 0;
    hc_options o = {.ttl_ms = 10, .tags = NULL, .ntags = 0};
    for (int i = 0; i < 1024; i++) {
        key_in(c, 0, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
        key_in(c, 1, &next, key, sizeof key);
        test_put_str(c, key, "v", &o);
    }
    test_clock_advance(&tc, 10);
    /* Only partition 0 is written: its wheel has nothing to expire. */
    for (int i = 0; i < 1024; i++) {
        key_in(c, 0, &next, key, sizeof key);
        test_put_str(c, key, "v", NULL);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.stats.evictions, 0);
    assert_int_equal(d.stats.expirations, 1024);
    assert_int_equal(d.entries, 2048);
    hc_cache_close(c);
}

/* Bytes: a partition's entry bigger than its share of max_bytes evicts
   elsewhere rather than itself, and the bound holds after every put. */
static void test_bytes_across_partitions(void **state)
{
    (void)state;
    uint64_t max = (uint64_t)2 << 20;               /* two partitions of 1 MiB */
    hc_cache *c = open_cfg(0, max, NULL);
    assert_int_equal(c->nparts, 2);
    static char val[600 * 1024];
    memset(val, 'v', sizeof val);
    char key[32];
    unsigned next = 0;
    for (int i = 0; i < 3000; i++) {
        key_in(c, 1, &next, key, sizeof key);
        assert_int_equal(hc_put(c, key, val, 1000, NULL), HC_OK);
        assert_true(test_diag(c).weighted_bytes <= max);
    }
    /* 1.2 MiB into partition 0, which holds nothing. */
    key_in(c, 0, &next, key, sizeof key);
    assert_int_equal(hc_put(c, key, val, sizeof val, NULL), HC_OK);
    assert_int_equal(hc_put(c, "x", val, sizeof val, NULL), HC_OK);
    hc_diagnostics d = test_diag(c);
    assert_true(d.weighted_bytes <= max);
    assert_true(d.stats.evictions > 0);
    /* An entry bigger than the whole cache is refused. */
    static char big[(2 << 20) + 1];
    assert_int_equal(hc_put(c, "big", big, sizeof big, NULL), HC_ETOOBIG);
    hc_cache_close(c);
}

/* A tag carried in several partitions is one tag, and its invalidation
   reaches every partition. */
static void test_tags_across_partitions(void **state)
{
    (void)state;
    hc_cache *c = open_cfg(8192, 0, NULL);
    assert_int_equal(c->nparts, 8);
    const char *tags[] = {"shared", NULL};
    char key[32], own[32];
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 2};
    unsigned next = 0;
    for (unsigned p = 0; p < 8; p++) {
        for (int i = 0; i < 3; i++) {
            key_in(c, p, &next, key, sizeof key);
            snprintf(own, sizeof own, "own-%u", p);
            tags[1] = own;
            test_put_str(c, key, "v", &o);
        }
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 24);
    assert_int_equal(d.tags, 9);                /* shared + own-0..own-7 */
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "own-3", &removed), HC_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(test_diag(c).tags, 8);
    assert_int_equal(hc_invalidate_tag(c, "shared", &removed), HC_OK);
    assert_int_equal(removed, 21);
    d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.tags, 0);
    assert_int_equal(d.weighted_bytes, 0);
    hc_cache_close(c);
}

/* Flush, removal and re-insertion keep the room exact: entries counted by
   the room match the partitions' counts and what can be read. */
static void test_room_stays_exact(void **state)
{
    (void)state;
    hc_cache *c = open_cfg(4096, (uint64_t)4 << 20, NULL);
    char key[32];
    hc_buf b = HC_BUF_INIT;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10000; i++) {
            snprintf(key, sizeof key, "k%d", i);
            assert_int_equal(hc_put(c, key, "value", 1 + (size_t)i % 5, NULL), HC_OK);
            if (i % 7 == 0) (void)hc_remove(c, key);
        }
        uint64_t count = 0, bytes = 0, found = 0, found_bytes = 0;
        for (unsigned p = 0; p < c->nparts; p++) {
            count += atomic_load(&c->parts[p].count);
            bytes += atomic_load(&c->parts[p].bytes);
        }
        for (int i = 0; i < 10000; i++) {
            snprintf(key, sizeof key, "k%d", i);
            if (hc_get(c, key, &b) == HC_OK) {
                found++;
                found_bytes += strlen(key) + b.len;
            }
        }
        hc_diagnostics d = test_diag(c);
        assert_int_equal(d.entries, count);
        assert_int_equal(d.weighted_bytes, bytes);
        assert_int_equal(d.entries, found);
        assert_int_equal(d.weighted_bytes, found_bytes);
        assert_true(d.entries <= 4096);
        if (round == 1) assert_int_equal(hc_flush(c), HC_OK);
    }
    assert_int_equal(hc_flush(c), HC_OK);
    assert_int_equal(atomic_load(&c->room), 4096);
    assert_int_equal(atomic_load(&c->room_bytes), 4 << 20);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* Out of memory at every allocation of puts and tag invalidations of a
   cache with partitions: HC_ENOMEM, nothing changed, nothing leaked. */
static void test_oom_across_partitions(void **state)
{
    (void)state;
    static test_alloc ta;
    memset(&ta, 0, sizeof ta);
    hc_allocator a = test_allocator(&ta);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = 2048;
    cfg.allocator = &a;
    hc_cache *c;
    for (long n = 1;; n++) {
        test_alloc_arm(&ta, n);
        int rc = hc_cache_open(&c, &cfg);
        if (rc == HC_OK) break;
        assert_int_equal(rc, HC_ENOMEM);
        assert_int_equal(atomic_load(&ta.live), 0);
    }
    assert_int_equal(c->nparts, 2);
    char key[32], tag[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(tag, sizeof tag, "t%d", i % 50);
        const char *tags[] = {tag, "all"};
        hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 2};
        test_alloc_arm(&ta, 0);
        uint64_t before = test_diag(c).entries;
        for (long n = 1;; n++) {
            test_alloc_arm(&ta, i % 97 == 0 ? n : 0);
            int rc = hc_put(c, key, "v", 1, &o);
            if (rc == HC_OK) break;
            assert_int_equal(rc, HC_ENOMEM);
            test_alloc_arm(&ta, 0);
            assert_false(hc_contains(c, key));
            assert_int_equal(test_diag(c).entries, before);
        }
    }
    test_alloc_arm(&ta, 0);
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 2048);
    assert_int_equal(d.tags, 51);
    uint64_t r7, removed;
    assert_int_equal(hc_invalidate_tag(c, "t7", &r7), HC_OK);
    assert_true(r7 > 0);
    assert_int_equal(hc_invalidate_tag(c, "all", &removed), HC_OK);
    assert_int_equal(removed, 2048 - r7);
    d = test_diag(c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.tags, 0);
    test_alloc_arm(&ta, 0);
    hc_cache_close(c);
    assert_int_equal(atomic_load(&ta.live), 0);
}

/*
** The application's clock (hc_config.clock_ms) is a callback: it runs with
** no lock of the cache held, on every path that reads it. This one checks
** that every partition lock is free when it is called (a clock that calls
** into the cache would otherwise deadlock); hc_remove and
** hc_invalidate_key called it under their partition's lock.
*/
typedef struct probe_clock {
    hc_cache *c;
    uint64_t  now;
    int       calls, locked;
} probe_clock;

static uint64_t probe_clock_ms(void *ctx)
{
    probe_clock *pc = ctx;
    pc->calls++;
    for (unsigned i = 0; pc->c && i < pc->c->nparts; i++) {
        if (pthread_mutex_trylock(&pc->c->parts[i].lock) != 0) pc->locked++;
        else pthread_mutex_unlock(&pc->c->parts[i].lock);
    }
    return pc->now;
}

static void test_clock_runs_without_locks(void **state)
{
    (void)state;
    probe_clock pc = {NULL, 1000, 0, 0};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = 100;
    cfg.clock_ms = probe_clock_ms;
    cfg.clock_ctx = &pc;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    pc.c = c;
    hc_options o = {.ttl_ms = 10, .tags = (const char *[]){"t"}, .ntags = 1};
    hc_buf b = HC_BUF_INIT;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(hc_put(c, "a", "1", 1, &o), HC_OK);
        assert_int_equal(hc_put(c, "b", "2", 1, &o), HC_OK);
        assert_int_equal(hc_put(c, "c", "3", 1, &o), HC_OK);
        assert_int_equal(hc_get(c, "a", &b), HC_OK);
        assert_int_equal(hc_remove(c, "a"), HC_OK);
        assert_int_equal(hc_invalidate_key(c, "b"), HC_OK);
        assert_int_equal(hc_invalidate_tag(c, "t", NULL), HC_OK);
        hc_diagnostics d;
        assert_int_equal(hc_diagnostics_get(c, &d), HC_OK);
        assert_int_equal(hc_flush(c), HC_OK);
        pc.now += 100;                  /* the second round past the deadlines */
    }
    assert_true(pc.calls > 0);
    assert_int_equal(pc.locked, 0);
    hc_buf_free(&b);
    hc_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_count),
        cmocka_unit_test(test_light_partition_takes_room),
        cmocka_unit_test(test_expired_elsewhere_do_not_hold_capacity),
        cmocka_unit_test(test_bytes_across_partitions),
        cmocka_unit_test(test_tags_across_partitions),
        cmocka_unit_test(test_room_stays_exact),
        cmocka_unit_test(test_oom_across_partitions),
        cmocka_unit_test(test_clock_runs_without_locks),
    };
    return cmocka_run_group_tests_name("partitions", tests, NULL, NULL);
}
