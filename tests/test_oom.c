/*
** test_oom.c -- allocation failure at every point: fail the Nth allocation
** for N = 1, 2, ... until the call succeeds. Each failure must return
** HC_ENOMEM, leave the cache as it was before the call (or, for a load,
** return the value without caching it), keep it usable, and leak nothing.
*/
#include <stdio.h>

#include "testutil.h"

static test_alloc ta;
static hc_allocator alloc;

static hc_cache *open_counted(uint64_t max_entries)
{
    memset(&ta, 0, sizeof ta);
    alloc = test_allocator(&ta);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = max_entries;
    cfg.allocator = &alloc;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static void close_counted(hc_cache *c)
{
    test_alloc_arm(&ta, 0);
    hc_cache_close(c);
    assert_int_equal(atomic_load(&ta.live), 0);
}

/* The cache holds exactly keys "k0".."k<n-1>" with values "v<i>". */
static void check_holds(hc_cache *c, int n)
{
    test_alloc_arm(&ta, 0);
    hc_buf b = HC_BUF_INIT;
    char key[32], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(hc_get(c, key, &b), HC_OK);
        assert_string_equal((char *)b.data, val);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, (uint64_t)n);
    hc_buf_free(&b);
}

static void test_open_oom(void **state)
{
    (void)state;
    memset(&ta, 0, sizeof ta);
    alloc = test_allocator(&ta);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.allocator = &alloc;
    for (long n = 1;; n++) {
        test_alloc_arm(&ta, n);
        hc_cache *c = NULL;
        int rc = hc_cache_open(&c, &cfg);
        if (rc == HC_OK) {
            assert_true(atomic_load(&ta.calls) < n);
            close_counted(c);
            break;
        }
        assert_int_equal(rc, HC_ENOMEM);
        assert_null(c);
        assert_int_equal(atomic_load(&ta.live), 0);
    }
}

static void test_put_oom(void **state)
{
    (void)state;
    const char *tags[] = {"new-tag-a", "new-tag-b", "old-tag"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 3};
    char key[32], val[32];
    /* Grow the cache through table resizes and tag index growth, failing
       every allocation of every put along the way. */
    hc_cache *c = open_counted(40);
    const char *old[] = {"old-tag"};
    hc_options oo = {.ttl_ms = 0, .tags = old, .ntags = 1};
    int held = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "v%d", i);
        long failures = 0;
        for (long n = 1;; n++) {
            test_alloc_arm(&ta, n);
            int rc = hc_put(c, key, val, strlen(val), i % 3 ? &o : &oo);
            long calls = atomic_load(&ta.calls);
            if (rc == HC_OK) {
                assert_true(calls < n);
                break;
            }
            assert_int_equal(rc, HC_ENOMEM);
            failures++;
            /* Nothing changed: the older entries are all there, the new
               key is not. */
            test_alloc_arm(&ta, 0);
            assert_false(hc_contains(c, key));
            if (i < 40) check_holds(c, held);
            else assert_int_equal(test_diag(c).entries, 40);
        }
        assert_true(failures >= 1);
        held = held < 40 ? held + 1 : 40;
        if (i < 40) check_holds(c, held);
    }
    hc_diagnostics d = test_diag(c);
    assert_int_equal(d.entries, 40);
    close_counted(c);
}

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    return hc_buf_set(out, ctx, strlen(ctx));
}

static void test_get_or_load_oom(void **state)
{
    (void)state;
    const char *tags[] = {"t1", "t2"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 2};
    hc_cache *c = open_counted(100);
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "load%d", i);
        for (long n = 1;; n++) {
            test_alloc_arm(&ta, n);
            hc_buf b = HC_BUF_INIT;
            hc_error err;
            int rc = hc_get_or_load(c, key, &o, load_fn, "loaded", &b, &err);
            long calls = atomic_load(&ta.calls);
            test_alloc_arm(&ta, 0);
            if (rc == HC_ENOMEM) {
                /* Failed before the loader ran: nothing cached. */
                assert_int_equal(err.code, HC_ENOMEM);
                assert_false(hc_contains(c, key));
            } else {
                /* The load succeeded; caching it may have failed. */
                assert_int_equal(rc, HC_OK);
                assert_string_equal((char *)b.data, "loaded");
            }
            hc_buf_free(&b);
            hc_diagnostics d = test_diag(c);
            assert_int_equal(d.loads_in_flight, 0);
            if (calls < n) {
                assert_int_equal(rc, HC_OK);
                assert_true(hc_contains(c, key));
                break;
            }
            /* Usable: a plain put and get of another key work. */
            assert_int_equal(hc_put(c, "probe", "p", 1, NULL), HC_OK);
            assert_true(hc_contains(c, "probe"));
            assert_int_equal(hc_remove(c, "probe"), HC_OK);
            if (hc_contains(c, key)) assert_int_equal(hc_remove(c, key), HC_OK);
        }
    }
    uint64_t removed;
    assert_int_equal(hc_invalidate_tag(c, "t1", &removed), HC_OK);
    assert_int_equal(removed, 20);
    close_counted(c);
}

static void test_invalidate_tag_oom(void **state)
{
    (void)state;
    hc_cache *c = open_counted(100);
    const char *tags[] = {"t"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 1};
    char key[32];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", &o);
    }
    for (long n = 1;; n++) {
        test_alloc_arm(&ta, n);
        uint64_t removed = 0;
        int rc = hc_invalidate_tag(c, "t", &removed);
        long calls = atomic_load(&ta.calls);
        if (rc == HC_OK && calls < n) {
            assert_int_equal(removed, 30);
            break;
        }
        assert_int_equal(rc, HC_ENOMEM);
    }
    test_alloc_arm(&ta, 0);
    assert_int_equal(test_diag(c).entries, 0);
    assert_int_equal(test_diag(c).tags, 0);
    test_put_str(c, "after", "v", &o);
    assert_true(hc_contains(c, "after"));
    close_counted(c);
}

/* Every allocation failing at once, for a while, then recovery. */
static void test_sticky_oom(void **state)
{
    (void)state;
    hc_cache *c = open_counted(50);
    test_put_str(c, "keep", "v", NULL);
    ta.sticky = 1;
    test_alloc_arm(&ta, 1);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "x%d", i);
        assert_int_equal(hc_put(c, key, "v", 1, NULL), HC_ENOMEM);
    }
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    assert_int_equal(hc_get_or_load(c, "y", NULL, load_fn, "v", &b, &err), HC_ENOMEM);
    assert_int_equal(hc_flush(c), HC_OK);
    ta.sticky = 0;
    test_alloc_arm(&ta, 0);
    assert_int_equal(test_diag(c).entries, 0);
    test_put_str(c, "keep", "v", NULL);
    assert_true(hc_contains(c, "keep"));
    hc_buf_free(&b);
    close_counted(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_oom),
        cmocka_unit_test(test_put_oom),
        cmocka_unit_test(test_get_or_load_oom),
        cmocka_unit_test(test_invalidate_tag_oom),
        cmocka_unit_test(test_sticky_oom),
    };
    return cmocka_run_group_tests_name("oom", tests, NULL, NULL);
}
