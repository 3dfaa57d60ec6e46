/*
** test_events.c -- subscriptions and listeners: every event kind with its
** origin, filters, numbering, lag, timeouts, the cache's close, listener
** threads, out of memory, and many publishers at once. Events are published
** by the call that causes them, before it returns, so a single-threaded test
** receives with a timeout of 0; threads are ordered with gates and with the
** events themselves, never with sleeps that a result depends on. Runs under
** ThreadSanitizer in `make check`.
*/
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "testutil.h"
#include "hc_int.h"          /* hc__listener_stopping */

/* ---------------------------------------------------------- helpers */

typedef struct opener {
    uint64_t max_entries;
    bool access_events;
    unsigned event_buffer;          /* 0: the default */
    test_clock *clock;
    const hc_allocator *alloc;
} opener;

static hc_cache *open_with(opener o)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = o.max_entries;
    cfg.access_events = o.access_events;
    if (o.event_buffer) cfg.event_buffer = o.event_buffer;
    if (o.clock) {
        cfg.clock_ms = test_clock_ms;
        cfg.clock_ctx = o.clock;
    }
    cfg.allocator = o.alloc;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static hc_subscription *subscribe(hc_cache *c, const hc_event_filter *f)
{
    hc_subscription *s = NULL;
    assert_int_equal(hc_subscribe(c, f, &s), HC_OK);
    assert_non_null(s);
    return s;
}

/* Receive the next event at once and check its kind, origin and key (NULL:
   an event without a key). */
static hc_event expect(hc_subscription *s, hc_event_kind kind, hc_origin origin,
                       const char *key)
{
    hc_event ev;
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_OK);
    assert_string_equal(hc_event_kind_name(ev.kind), hc_event_kind_name(kind));
    assert_string_equal(hc_origin_name(ev.origin), hc_origin_name(origin));
    if (key) {
        assert_non_null(ev.key);
        assert_string_equal(ev.key, key);
        assert_int_equal(ev.key_len, strlen(key));
    } else {
        assert_null(ev.key);
        assert_int_equal(ev.key_len, 0);
    }
    assert_int_equal(ev.skipped, 0);
    return ev;
}

static void expect_none(hc_subscription *s)
{
    hc_event ev;
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ETIMEDOUT);
}

/* A visitor for hc_try_visit: copy the value into the hc_buf ctx. */
static int copy_value(void *ctx, const void *data, size_t len)
{
    return hc_buf_set(ctx, data, len);
}

static hc_stats stats(hc_cache *c)
{
    hc_stats st;
    hc_stats_get(c, &st);
    return st;
}

typedef struct loader {
    test_gate  *gate;           /* NULL: return at once */
    const char *value;          /* NULL: fail */
    hc_cache   *invalidate;     /* not NULL: invalidate key there while loading */
    const char *key;
} loader;

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    loader *l = ctx;
    if (l->gate) test_gate_wait(l->gate);
    if (l->invalidate) assert_int_equal(hc_invalidate_key(l->invalidate, l->key), HC_MISS);
    if (!l->value) return hc_error_set(err, HC_EDB, "backend said no");
    return hc_buf_set(out, l->value, strlen(l->value));
}

/* ------------------------------------------------------------ names */

static void test_names_and_arguments(void **state)
{
    (void)state;
    assert_string_equal(hc_event_kind_name(HC_EVENT_HIT), "hit");
    assert_string_equal(hc_event_kind_name(HC_EVENT_STALE_LOAD_DISCARDED), "stale_load_discarded");
    assert_string_equal(hc_event_kind_name(HC_EVENT_EVICTED), "evicted");
    assert_string_equal(hc_event_kind_name((hc_event_kind)HC_EVENT_KIND_COUNT), "unknown");
    assert_string_equal(hc_origin_name(HC_ORIGIN_SINGLE_FLIGHT), "single_flight");
    assert_string_equal(hc_origin_name(HC_ORIGIN_BUS), "bus");
    assert_string_equal(hc_origin_name((hc_origin)HC_ORIGIN_COUNT), "unknown");
    assert_int_equal(HC_EVENTS_ACCESS | HC_EVENTS_CHANGES, (1u << HC_EVENT_KIND_COUNT) - 1);

    hc_cache *c = test_open(10, NULL);
    hc_subscription *s = (hc_subscription *)c;
    hc_listener *l = (hc_listener *)c;
    hc_event ev;
    assert_int_equal(hc_subscribe(NULL, NULL, &s), HC_EINVAL);
    assert_null(s);
    assert_int_equal(hc_subscribe(c, NULL, NULL), HC_EINVAL);
    assert_int_equal(hc_subscription_recv(NULL, &ev, 0), HC_EINVAL);
    s = subscribe(c, NULL);
    assert_int_equal(hc_subscription_recv(s, NULL, 0), HC_EINVAL);
    assert_int_equal(hc_listen(NULL, NULL, (hc_event_fn)NULL, NULL, &l), HC_EINVAL);
    assert_null(l);
    assert_int_equal(hc_listen(c, NULL, (hc_event_fn)NULL, NULL, &l), HC_EINVAL);
    assert_int_equal(hc_listen(c, NULL, (hc_event_fn)NULL, NULL, NULL), HC_EINVAL);
    hc_subscription_close(NULL);
    hc_listener_close(NULL);
    hc_subscription_close(s);
    hc_cache_close(c);

    /* A ring size no subscriber could get is refused at open, not met by a
       32 GiB allocation at the first hc_subscribe. */
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.event_buffer = 0xffffffffu;
    c = (hc_cache *)&cfg;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_EINVAL);
    assert_null(c);
    cfg.event_buffer = HC_EVENT_BUFFER_MAX + 1;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_EINVAL);
    cfg.event_buffer = HC_EVENT_BUFFER_MAX;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    s = subscribe(c, NULL);
    hc_subscription_close(s);
    hc_cache_close(c);
}

/* ------------------------------------------------------------- kinds */

static void test_change_kinds(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_subscription *s = subscribe(c, NULL);

    const char *tags[] = {"red", "blue"};
    hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 2};
    test_put_str(c, "a", "1", &o);
    hc_event ev = expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    assert_int_equal(ev.ntags, 2);
    assert_string_equal(ev.tags[0], "red");
    assert_string_equal(ev.tags[1], "blue");
    test_put_str(c, "b", "2", &o);
    test_put_str(c, "c", "3", NULL);
    ev = expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "b");
    assert_int_equal(ev.ntags, 2);
    ev = expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "c");
    assert_int_equal(ev.ntags, 0);
    assert_null(ev.tags);

    assert_int_equal(hc_remove(c, "c"), HC_OK);
    expect(s, HC_EVENT_REMOVED, HC_ORIGIN_LOCAL, "c");
    assert_int_equal(hc_remove(c, "c"), HC_MISS);       /* nothing removed: no event */
    expect_none(s);

    test_put_str(c, "d", "4", NULL);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "d");
    assert_int_equal(hc_invalidate_key(c, "d"), HC_OK);
    expect(s, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "d");
    /* An invalidation is reported even when nothing was cached. */
    assert_int_equal(hc_invalidate_key(c, "nothing"), HC_MISS);
    expect(s, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "nothing");

    uint64_t n = 0;
    assert_int_equal(hc_invalidate_tag(c, "red", &n), HC_OK);
    assert_int_equal(n, 2);
    ev = expect(s, HC_EVENT_TAG_INVALIDATED, HC_ORIGIN_LOCAL, "red");
    assert_int_equal(ev.count, 2);
    assert_int_equal(ev.ntags, 0);
    expect_none(s);                     /* one event for the tag, none per entry */

    test_put_str(c, "e", "5", NULL);
    test_put_str(c, "f", "6", NULL);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "e");
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "f");
    assert_int_equal(hc_flush(c), HC_OK);
    ev = expect(s, HC_EVENT_FLUSHED, HC_ORIGIN_LOCAL, NULL);
    assert_int_equal(ev.count, 2);
    expect_none(s);

    /* With access events off, reads and loads publish nothing of their own;
       a load's store is still a change. */
    hc_buf b = HC_BUF_INIT;
    test_put_str(c, "g", "7", NULL);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "g");
    assert_non_null(test_get_str(c, "g", &b));
    assert_null(test_get_str(c, "nope", &b));
    assert_int_equal(hc_try_visit(c, "g", 1, copy_value, &b), HC_OK);
    loader l = {NULL, "loaded", NULL, NULL};
    assert_int_equal(hc_get_or_load(c, "h", NULL, load_fn, &l, &b, NULL), HC_OK);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOADER, "h");
    assert_int_equal(hc_get_or_load(c, "h", NULL, load_fn, &l, &b, NULL), HC_OK);
    loader fail = {NULL, NULL, NULL, NULL};
    assert_int_equal(hc_get_or_load(c, "i", NULL, load_fn, &fail, &b, NULL), HC_EDB);
    expect_none(s);

    hc_buf_free(&b);
    hc_subscription_close(s);
    hc_cache_close(c);
}

static void test_access_kinds(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .access_events = true});
    hc_subscription *s = subscribe(c, NULL);
    hc_buf b = HC_BUF_INIT;

    test_put_str(c, "a", "1", NULL);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    assert_non_null(test_get_str(c, "a", &b));
    expect(s, HC_EVENT_HIT, HC_ORIGIN_LOCAL, "a");
    assert_null(test_get_str(c, "b", &b));
    expect(s, HC_EVENT_MISS, HC_ORIGIN_LOCAL, "b");
    /* hc_try_visit reports its hits; its misses are left to the load after. */
    assert_int_equal(hc_try_visit(c, "a", 1, copy_value, &b), HC_OK);
    expect(s, HC_EVENT_HIT, HC_ORIGIN_LOCAL, "a");
    assert_int_equal(hc_try_visit(c, "b", 1, copy_value, &b), HC_MISS);
    expect_none(s);
    assert_false(hc_contains(c, "b"));   /* not an access */
    expect_none(s);

    loader l = {NULL, "loaded", NULL, NULL};
    assert_int_equal(hc_get_or_load(c, "k", NULL, load_fn, &l, &b, NULL), HC_OK);
    expect(s, HC_EVENT_MISS, HC_ORIGIN_LOCAL, "k");
    expect(s, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, "k");
    expect(s, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, "k");
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOADER, "k");
    expect_none(s);
    assert_int_equal(hc_get_or_load(c, "k", NULL, load_fn, &l, &b, NULL), HC_OK);
    expect(s, HC_EVENT_HIT, HC_ORIGIN_LOCAL, "k");
    expect_none(s);

    loader fail = {NULL, NULL, NULL, NULL};
    assert_int_equal(hc_get_or_load(c, "f", NULL, load_fn, &fail, &b, NULL), HC_EDB);
    expect(s, HC_EVENT_MISS, HC_ORIGIN_LOCAL, "f");
    expect(s, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, "f");
    expect(s, HC_EVENT_LOAD_FAILED, HC_ORIGIN_LOADER, "f");
    expect_none(s);

    hc_buf_free(&b);
    hc_subscription_close(s);
    hc_cache_close(c);
}

typedef struct caller {
    pthread_t thread;
    hc_cache *c;
    loader   *l;
    int       rc;
    hc_buf    out;
} caller;

static void *caller_main(void *arg)
{
    caller *k = arg;
    k->rc = hc_get_or_load(k->c, "k", NULL, load_fn, k->l, &k->out, NULL);
    return NULL;
}

static void test_single_flight_joined(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .access_events = true});
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_LOAD_STARTED) |
                         HC_EVENT_BIT(HC_EVENT_SINGLE_FLIGHT_JOINED), 0, NULL, NULL};
    hc_subscription *s = subscribe(c, &f);
    test_gate g;
    test_gate_init(&g);
    loader l = {&g, "shared", NULL, NULL};
    caller leader = {.c = c, .l = &l}, joiner = {.c = c, .l = &l};
    hc_event ev;

    assert_int_equal(pthread_create(&leader.thread, NULL, caller_main, &leader), 0);
    /* The load is registered before it is reported: the joiner will join. */
    assert_int_equal(hc_subscription_recv(s, &ev, UINT64_MAX), HC_OK);
    assert_int_equal(ev.kind, HC_EVENT_LOAD_STARTED);
    assert_int_equal(ev.origin, HC_ORIGIN_LOADER);
    assert_int_equal(pthread_create(&joiner.thread, NULL, caller_main, &joiner), 0);
    assert_int_equal(hc_subscription_recv(s, &ev, UINT64_MAX), HC_OK);
    assert_int_equal(ev.kind, HC_EVENT_SINGLE_FLIGHT_JOINED);
    assert_int_equal(ev.origin, HC_ORIGIN_SINGLE_FLIGHT);
    assert_string_equal(ev.key, "k");
    test_gate_open(&g);
    assert_int_equal(pthread_join(leader.thread, NULL), 0);
    assert_int_equal(pthread_join(joiner.thread, NULL), 0);
    assert_int_equal(leader.rc, HC_OK);
    assert_int_equal(joiner.rc, HC_OK);
    assert_string_equal((char *)joiner.out.data, "shared");
    assert_int_equal(stats(c).single_flight_joins, 1);
    expect_none(s);

    hc_buf_free(&leader.out);
    hc_buf_free(&joiner.out);
    test_gate_destroy(&g);
    hc_subscription_close(s);
    hc_cache_close(c);
}

static void test_expired(void **state)
{
    (void)state;
    test_clock tc = {1000};
    hc_cache *c = open_with((opener){.max_entries = 100, .clock = &tc});
    hc_subscription *s = subscribe(c, NULL);
    hc_options o = {.ttl_ms = 10, .tags = NULL, .ntags = 0};
    test_put_str(c, "a", "1", &o);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    test_clock_advance(&tc, 20);
    /* The next write reclaims what is due, and reports it after its own
       change. */
    test_put_str(c, "b", "2", NULL);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "b");
    expect(s, HC_EVENT_EXPIRED, HC_ORIGIN_BACKEND, "a");
    /* A read that finds an entry expired removes it too. */
    test_put_str(c, "c", "3", &o);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "c");
    test_clock_advance(&tc, 20);
    hc_buf b = HC_BUF_INIT;
    assert_null(test_get_str(c, "c", &b));
    expect(s, HC_EVENT_EXPIRED, HC_ORIGIN_BACKEND, "c");
    expect_none(s);
    assert_int_equal(stats(c).expirations, 2);
    hc_buf_free(&b);
    hc_subscription_close(s);
    hc_cache_close(c);
}

static void test_evicted(void **state)
{
    (void)state;
    hc_cache *c = test_open(2, NULL);
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_EVICTED), 0, NULL, NULL};
    hc_subscription *s = subscribe(c, &f);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", NULL);
    }
    /* Which ones go is the policy's choice; that 8 go is the bound's. */
    uint64_t evicted = 0;
    hc_event ev;
    while (hc_subscription_recv(s, &ev, 0) == HC_OK) {
        assert_int_equal(ev.kind, HC_EVENT_EVICTED);
        assert_int_equal(ev.origin, HC_ORIGIN_BACKEND);
        assert_non_null(ev.key);
        assert_int_equal(ev.key[0], 'k');
        evicted++;
    }
    assert_int_equal(evicted, 8);
    assert_int_equal(stats(c).evictions, 8);
    hc_subscription_close(s);
    hc_cache_close(c);
}

static void test_stale_load_discarded(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .access_events = true});
    hc_subscription *s = subscribe(c, NULL);
    hc_buf b = HC_BUF_INIT;
    loader l = {NULL, "stale", c, "k"};
    assert_int_equal(hc_get_or_load(c, "k", NULL, load_fn, &l, &b, NULL), HC_OK);
    assert_string_equal((char *)b.data, "stale");
    expect(s, HC_EVENT_MISS, HC_ORIGIN_LOCAL, "k");
    expect(s, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, "k");
    expect(s, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "k");
    expect(s, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, "k");
    expect(s, HC_EVENT_STALE_LOAD_DISCARDED, HC_ORIGIN_LOADER, "k");
    expect_none(s);
    assert_false(hc_contains(c, "k"));
    assert_int_equal(stats(c).stale_load_discards, 1);
    hc_buf_free(&b);
    hc_subscription_close(s);
    hc_cache_close(c);
}

/* ----------------------------------------------------------- filters */

static void test_filter_kinds_and_origins(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .access_events = true});
    hc_event_filter fk = {HC_EVENT_BIT(HC_EVENT_REMOVED) | HC_EVENT_BIT(HC_EVENT_FLUSHED), 0, NULL, NULL};
    hc_event_filter fa = {HC_EVENTS_ACCESS, 0, NULL, NULL};
    hc_event_filter fo = {0, HC_ORIGIN_BIT(HC_ORIGIN_LOADER), NULL, NULL};
    hc_event_filter fko = {HC_EVENT_BIT(HC_EVENT_STORED), HC_ORIGIN_BIT(HC_ORIGIN_LOCAL), NULL, NULL};
    hc_subscription *sk = subscribe(c, &fk), *sa = subscribe(c, &fa);
    hc_subscription *so = subscribe(c, &fo), *sko = subscribe(c, &fko);
    hc_buf b = HC_BUF_INIT;

    test_put_str(c, "a", "1", NULL);
    assert_non_null(test_get_str(c, "a", &b));
    assert_int_equal(hc_remove(c, "a"), HC_OK);
    loader l = {NULL, "x", NULL, NULL};
    assert_int_equal(hc_get_or_load(c, "b", NULL, load_fn, &l, &b, NULL), HC_OK);
    assert_int_equal(hc_flush(c), HC_OK);

    expect(sk, HC_EVENT_REMOVED, HC_ORIGIN_LOCAL, "a");
    expect(sk, HC_EVENT_FLUSHED, HC_ORIGIN_LOCAL, NULL);
    expect_none(sk);

    expect(sa, HC_EVENT_HIT, HC_ORIGIN_LOCAL, "a");
    expect(sa, HC_EVENT_MISS, HC_ORIGIN_LOCAL, "b");
    expect(sa, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, "b");
    expect(sa, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, "b");
    expect_none(sa);

    expect(so, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, "b");
    expect(so, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, "b");
    expect(so, HC_EVENT_STORED, HC_ORIGIN_LOADER, "b");
    expect_none(so);

    /* Both must hold: a stored from a load is not local. */
    expect(sko, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    expect_none(sko);

    hc_buf_free(&b);
    hc_subscription_close(sk);
    hc_subscription_close(sa);
    hc_subscription_close(so);
    hc_subscription_close(sko);
    hc_cache_close(c);
}

static void test_filter_key_prefix(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    char prefix[16] = "user:";
    hc_event_filter f = {0, 0, prefix, NULL};
    hc_subscription *s = subscribe(c, &f);
    strcpy(prefix, "zzz");              /* the filter holds its own copy */
    hc_event_filter fe = {0, 0, "", NULL};
    hc_subscription *se = subscribe(c, &fe);
    hc_event_filter fk = {HC_EVENT_BIT(HC_EVENT_KEY_INVALIDATED), 0, "user:", NULL};
    hc_subscription *sk = subscribe(c, &fk);

    test_put_str(c, "user:1", "a", NULL);
    test_put_str(c, "user", "b", NULL);          /* shorter than the prefix */
    test_put_str(c, "order:1", "c", NULL);
    test_put_str(c, "user:", "d", NULL);         /* the prefix itself */
    assert_int_equal(hc_invalidate_key(c, "user:1"), HC_OK);
    assert_int_equal(hc_invalidate_tag(c, "user:tag", NULL), HC_OK);
    assert_int_equal(hc_flush(c), HC_OK);        /* no key: never matches */

    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "user:1");
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "user:");
    expect(s, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "user:1");
    hc_event ev = expect(s, HC_EVENT_TAG_INVALIDATED, HC_ORIGIN_LOCAL, "user:tag");
    assert_int_equal(ev.count, 0);
    expect_none(s);

    /* The empty prefix: every event with a key. */
    expect(se, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "user:1");
    expect(se, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "user");
    expect(se, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "order:1");
    expect(se, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "user:");
    expect(se, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "user:1");
    expect(se, HC_EVENT_TAG_INVALIDATED, HC_ORIGIN_LOCAL, "user:tag");
    expect_none(se);

    expect(sk, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "user:1");
    expect_none(sk);

    hc_subscription_close(s);
    hc_subscription_close(se);
    hc_subscription_close(sk);
    hc_cache_close(c);
}

static void test_filter_tag(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_event_filter f = {0, 0, NULL, "red"};
    hc_subscription *s = subscribe(c, &f);
    hc_event_filter fp = {HC_EVENT_BIT(HC_EVENT_STORED), 0, "b", "red"};
    hc_subscription *sp = subscribe(c, &fp);

    const char *red[] = {"blue", "red"}, *blue[] = {"blue"}, *reddish[] = {"redd", "re"};
    hc_options o_red = {.tags = red, .ntags = 2}, o_blue = {.tags = blue, .ntags = 1},
               o_reddish = {.tags = reddish, .ntags = 2};
    test_put_str(c, "a", "1", &o_red);
    test_put_str(c, "b", "2", &o_red);
    test_put_str(c, "c", "3", &o_blue);
    test_put_str(c, "d", "4", &o_reddish);
    test_put_str(c, "e", "5", NULL);
    assert_int_equal(hc_invalidate_tag(c, "blue", NULL), HC_OK);
    assert_int_equal(hc_invalidate_tag(c, "red", NULL), HC_OK);    /* nothing left */
    assert_int_equal(hc_remove(c, "e"), HC_OK);                     /* not a tag event */

    hc_event ev = expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    assert_int_equal(ev.ntags, 2);
    assert_string_equal(ev.tags[1], "red");
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "b");
    ev = expect(s, HC_EVENT_TAG_INVALIDATED, HC_ORIGIN_LOCAL, "red");
    assert_int_equal(ev.count, 0);
    expect_none(s);

    expect(sp, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "b");
    expect_none(sp);

    hc_subscription_close(s);
    hc_subscription_close(sp);
    hc_cache_close(c);
}

/* ----------------------------------------------------- numbering, lag */

static void test_seq(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_subscription *all = subscribe(c, NULL);
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_REMOVED), 0, NULL, NULL};
    hc_subscription *removed = subscribe(c, &f);
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", NULL);
        assert_int_equal(hc_remove(c, key), HC_OK);
    }
    /* Numbered from 1 in publishing order, whoever receives them. */
    hc_event ev;
    for (uint64_t n = 1; n <= 10; n++) {
        assert_int_equal(hc_subscription_recv(all, &ev, 0), HC_OK);
        assert_int_equal(ev.seq, n);
    }
    for (uint64_t n = 2; n <= 10; n += 2) {
        assert_int_equal(hc_subscription_recv(removed, &ev, 0), HC_OK);
        assert_int_equal(ev.kind, HC_EVENT_REMOVED);
        assert_int_equal(ev.seq, n);
    }
    expect_none(all);
    expect_none(removed);
    hc_subscription_close(all);
    hc_subscription_close(removed);
    hc_cache_close(c);
}

static void test_lag(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .event_buffer = 4});
    hc_subscription *s = subscribe(c, NULL);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", NULL);
    }
    hc_event ev;
    memset(&ev, 0xff, sizeof ev);
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ELAGGED);
    assert_int_equal(ev.skipped, 6);
    assert_null(ev.key);
    assert_int_equal(ev.seq, 0);
    /* The four newest remain, oldest first. */
    for (int i = 6; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ev = expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, key);
        assert_int_equal(ev.seq, (uint64_t)i + 1);
    }
    expect_none(s);
    hc_stats st = stats(c);
    assert_int_equal(st.event_subscriber_lagged, 6);
    assert_int_equal(st.events_published, 10);

    /* Lagging again is reported again, from zero. */
    test_put_str(c, "x", "1", NULL);
    test_put_str(c, "y", "1", NULL);
    test_put_str(c, "z", "1", NULL);
    test_put_str(c, "w", "1", NULL);
    test_put_str(c, "v", "1", NULL);
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ELAGGED);
    assert_int_equal(ev.skipped, 1);
    expect(s, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "y");
    assert_int_equal(stats(c).event_subscriber_lagged, 7);
    hc_subscription_close(s);
    hc_cache_close(c);
}

static void test_timeout(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    hc_subscription *s = subscribe(c, NULL);
    hc_event ev;
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ETIMEDOUT);
    assert_int_equal(hc_subscription_recv(s, &ev, 20), HC_ETIMEDOUT);
    test_put_str(c, "a", "1", NULL);
    assert_int_equal(hc_subscription_recv(s, &ev, 20), HC_OK);
    assert_string_equal(ev.key, "a");
    assert_int_equal(hc_subscription_recv(s, &ev, 1), HC_ETIMEDOUT);
    hc_subscription_close(s);
    hc_cache_close(c);
}

/* ------------------------------------------------------ cache close */

static void test_closed_after_cache_close(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator a = test_allocator(&ta);
    hc_cache *c = open_with((opener){.max_entries = 100, .alloc = &a});
    hc_subscription *s = subscribe(c, NULL);
    hc_subscription *dropped = subscribe(c, NULL);
    hc_subscription *early = subscribe(c, NULL);
    const char *tags[] = {"t"};
    hc_options o = {.ttl_ms = 0, .tags = tags, .ntags = 1};
    test_put_str(c, "a", "1", &o);
    test_put_str(c, "b", "2", NULL);
    hc_subscription_close(early);       /* before the close: detached from the cache */
    hc_cache_close(c);

    /* What was queued is still received, then HC_ECLOSED, every time. */
    hc_event ev;
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_OK);
    assert_string_equal(ev.key, "a");
    assert_string_equal(ev.tags[0], "t");
    assert_int_equal(hc_subscription_recv(s, &ev, UINT64_MAX), HC_OK);
    assert_string_equal(ev.key, "b");
    assert_int_equal(hc_subscription_recv(s, &ev, UINT64_MAX), HC_ECLOSED);
    assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ECLOSED);
    hc_subscription_close(s);
    hc_subscription_close(dropped);     /* with its events still queued */
    assert_int_equal(atomic_load(&ta.live), 0);
}

typedef struct blocked {
    pthread_t thread;
    hc_subscription *s;
    test_gate *started;
    int rc;
} blocked;

static void *blocked_main(void *arg)
{
    blocked *b = arg;
    hc_event ev;
    test_gate_wait(b->started);
    b->rc = hc_subscription_recv(b->s, &ev, UINT64_MAX);
    return NULL;
}

static void test_close_wakes_blocked_recv(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    test_gate g;
    test_gate_init(&g);
    blocked b = {.s = subscribe(c, NULL), .started = &g, .rc = 99};
    assert_int_equal(pthread_create(&b.thread, NULL, blocked_main, &b), 0);
    test_gate_await_arrivals(&g, 1);
    test_gate_open(&g);
    /* Whether it is already waiting or not yet, the close ends its wait. */
    hc_cache_close(c);
    assert_int_equal(pthread_join(b.thread, NULL), 0);
    assert_int_equal(b.rc, HC_ECLOSED);
    hc_subscription_close(b.s);
    test_gate_destroy(&g);
}

/* -------------------------------------------------------- listeners */

#define MAX_SEEN 64

/* What a listener saw: kinds, keys, numbers and threads, under mu. */
typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    hc_event_kind kind[MAX_SEEN];
    char key[MAX_SEEN][16];
    uint64_t seq[MAX_SEEN], skipped[MAX_SEEN];
    pthread_t thread[MAX_SEEN];
    /* Optional behaviour. */
    test_gate *gate;            /* the first callback waits here */
    atomic_int finished;        /* callbacks that returned */
    hc_listener *self;          /* closes itself on the first event */
    hc_cache *cache;            /* reads the key back */
    int get_rc[MAX_SEEN];
} seen;

static void seen_init(seen *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void seen_destroy(seen *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static void on_event(void *ctx, const hc_event *ev)
{
    seen *s = ctx;
    pthread_mutex_lock(&s->mu);
    int i = s->n;
    hc_listener *self = s->self;
    test_gate *gate = i == 0 ? s->gate : NULL;
    hc_cache *c = s->cache;
    pthread_mutex_unlock(&s->mu);
    if (i >= MAX_SEEN) return;

    if (gate) test_gate_wait(gate);
    int get_rc = HC_OK;
    if (c) {
        hc_buf b = HC_BUF_INIT;
        get_rc = hc_get(c, ev->key, &b);
        hc_buf_free(&b);
    }
    if (self) hc_listener_close(self);

    pthread_mutex_lock(&s->mu);
    s->kind[i] = ev->kind;
    snprintf(s->key[i], sizeof s->key[i], "%s", ev->key ? ev->key : "");
    s->seq[i] = ev->seq;
    s->skipped[i] = ev->skipped;
    s->thread[i] = pthread_self();
    s->get_rc[i] = get_rc;
    s->n++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->finished, 1);
}

static void seen_await(seen *s, int n)
{
    pthread_mutex_lock(&s->mu);
    while (s->n < n) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static hc_listener *listen_to(hc_cache *c, const hc_event_filter *f, seen *s)
{
    hc_listener *l = NULL;
    assert_int_equal(hc_listen(c, f, on_event, s, &l), HC_OK);
    assert_non_null(l);
    return l;
}

static void test_listener_order(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    seen s;
    seen_init(&s);
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_STORED) | HC_EVENT_BIT(HC_EVENT_REMOVED), 0, NULL, NULL};
    hc_listener *l = listen_to(c, &f, &s);
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", NULL);
        assert_int_equal(hc_invalidate_key(c, key), HC_OK);   /* filtered out */
        if (i % 2) assert_int_equal(hc_remove(c, key), HC_MISS);
    }
    assert_int_equal(hc_remove(c, "k3"), HC_MISS);
    test_put_str(c, "last", "v", NULL);
    assert_int_equal(hc_remove(c, "last"), HC_OK);
    seen_await(&s, 22);
    hc_listener_close(l);

    assert_int_equal(s.n, 22);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(s.kind[i], HC_EVENT_STORED);
        assert_string_equal(s.key[i], key);
        assert_int_equal(s.skipped[i], 0);
        assert_false(pthread_equal(s.thread[i], pthread_self()));
        assert_true(pthread_equal(s.thread[i], s.thread[0]));
        if (i) assert_true(s.seq[i] > s.seq[i - 1]);
    }
    assert_int_equal(s.kind[20], HC_EVENT_STORED);
    assert_string_equal(s.key[20], "last");
    assert_int_equal(s.kind[21], HC_EVENT_REMOVED);
    assert_string_equal(s.key[21], "last");
    seen_destroy(&s);
    hc_cache_close(c);
}

typedef struct closer {
    pthread_t thread;
    hc_listener *l;
    seen *s;
    int finished_at_return;     /* callbacks finished when close returned */
} closer;

static void *closer_main(void *arg)
{
    closer *k = arg;
    hc_listener_close(k->l);
    k->finished_at_return = atomic_load(&k->s->finished);
    return NULL;
}

static bool listener_stopping(void *l)
{
    return hc__listener_stopping(l);
}

static void test_listener_close_waits_for_callback(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    seen s;
    seen_init(&s);
    test_gate g;
    test_gate_init(&g);
    s.gate = &g;
    hc_listener *l = listen_to(c, NULL, &s);
    test_put_str(c, "a", "1", NULL);
    test_put_str(c, "b", "1", NULL);    /* never delivered: the close drops it */
    test_gate_await_arrivals(&g, 1);    /* the callback runs, held by the gate */

    closer k = {.l = l, .s = &s, .finished_at_return = -1};
    assert_int_equal(pthread_create(&k.thread, NULL, closer_main, &k), 0);
    /* Open the gate only once the close has begun: from then on the
       listener starts no callback, so "b" is never delivered, and a close
       that did not wait for the running callback would return first. */
    if (!test_wait_until(listener_stopping, l)) fail_msg("the close never began");
    test_gate_open(&g);
    assert_int_equal(pthread_join(k.thread, NULL), 0);
    assert_int_equal(k.finished_at_return, 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.key[0], "a");
    test_gate_destroy(&g);
    seen_destroy(&s);
    hc_cache_close(c);
}

static void test_listener_closes_itself(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator a = test_allocator(&ta);
    hc_cache *c = open_with((opener){.max_entries = 100, .alloc = &a});
    seen s;
    seen_init(&s);
    hc_listener *l = listen_to(c, NULL, &s);
    pthread_mutex_lock(&s.mu);
    s.self = l;
    pthread_mutex_unlock(&s.mu);
    test_put_str(c, "a", "1", NULL);
    seen_await(&s, 1);
    test_put_str(c, "b", "1", NULL);
    /* The listener's thread frees it after the callback returns, at a time
       of its own, maybe while the cache closes: wait until all is freed. */
    hc_cache_close(c);
    while (atomic_load(&ta.live) != 0) sched_yield();
    assert_int_equal(s.n, 1);
    assert_string_equal(s.key[0], "a");
    seen_destroy(&s);
}

static void test_listener_calls_cache(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    seen s;
    seen_init(&s);
    s.cache = c;
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_STORED) | HC_EVENT_BIT(HC_EVENT_REMOVED), 0, NULL, NULL};
    hc_listener *l = listen_to(c, &f, &s);
    test_put_str(c, "a", "1", NULL);
    seen_await(&s, 1);
    assert_int_equal(hc_remove(c, "a"), HC_OK);
    seen_await(&s, 2);
    hc_listener_close(l);
    assert_int_equal(s.get_rc[0], HC_OK);       /* the stored entry, read back */
    assert_int_equal(s.get_rc[1], HC_MISS);
    assert_int_equal(stats(c).hits, 1);
    seen_destroy(&s);
    hc_cache_close(c);
}

static void test_listener_lag(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .event_buffer = 4});
    seen s;
    seen_init(&s);
    test_gate g;
    test_gate_init(&g);
    s.gate = &g;
    hc_listener *l = listen_to(c, NULL, &s);
    test_put_str(c, "first", "1", NULL);
    test_gate_await_arrivals(&g, 1);    /* taken from the ring, callback held */
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        test_put_str(c, key, "v", NULL);
    }
    test_gate_open(&g);
    seen_await(&s, 5);
    hc_listener_close(l);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.key[0], "first");
    assert_int_equal(s.skipped[0], 0);
    assert_string_equal(s.key[1], "k6");
    assert_int_equal(s.skipped[1], 6);
    for (int i = 2; i < 5; i++) assert_int_equal(s.skipped[i], 0);
    assert_string_equal(s.key[4], "k9");
    assert_int_equal(stats(c).event_subscriber_lagged, 6);
    test_gate_destroy(&g);
    seen_destroy(&s);
    hc_cache_close(c);
}

static void test_listener_after_cache_close(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator a = test_allocator(&ta);
    hc_cache *c = open_with((opener){.max_entries = 100, .alloc = &a});
    seen s;
    seen_init(&s);
    hc_listener *l = listen_to(c, NULL, &s);
    test_put_str(c, "a", "1", NULL);
    seen_await(&s, 1);
    hc_cache_close(c);
    hc_listener_close(l);
    assert_int_equal(atomic_load(&ta.live), 0);
    seen_destroy(&s);
}

/* ---------------------------------------------------------- counting */

static void test_published_counts(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 100, .access_events = true});
    hc_buf b = HC_BUF_INIT;
    /* Nobody subscribed: nothing is published or counted. */
    test_put_str(c, "a", "1", NULL);
    assert_non_null(test_get_str(c, "a", &b));
    assert_int_equal(hc_remove(c, "a"), HC_OK);
    assert_int_equal(stats(c).events_published, 0);

    /* Once for each event, whether or not a filter wants it. */
    hc_event_filter none = {0, 0, "no such prefix", NULL};
    hc_subscription *s1 = subscribe(c, &none), *s2 = subscribe(c, NULL);
    test_put_str(c, "a", "1", NULL);
    assert_non_null(test_get_str(c, "a", &b));
    assert_int_equal(hc_remove(c, "a"), HC_OK);
    assert_int_equal(stats(c).events_published, 3);
    expect_none(s1);
    hc_subscription_close(s1);
    hc_subscription_close(s2);

    /* Everyone gone: back to nothing. */
    test_put_str(c, "a", "1", NULL);
    assert_int_equal(hc_flush(c), HC_OK);
    hc_stats st = stats(c);
    assert_int_equal(st.events_published, 3);
    assert_int_equal(st.event_subscriber_lagged, 0);
    hc_buf_free(&b);
    hc_cache_close(c);
}

/* ------------------------------------------------------ out of memory */

static void test_emit_out_of_memory(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator a = test_allocator(&ta);
    hc_cache *c = open_with((opener){.max_entries = 100, .alloc = &a});
    hc_subscription *s1 = subscribe(c, NULL), *s2 = subscribe(c, NULL);
    hc_event_filter none = {HC_EVENT_BIT(HC_EVENT_EVICTED), 0, NULL, NULL};
    hc_subscription *s3 = subscribe(c, &none);
    long live = atomic_load(&ta.live);

    /* An invalidation of an absent key allocates nothing but the event. */
    ta.sticky = 1;
    test_alloc_arm(&ta, 1);
    for (int i = 0; i < 3; i++) assert_int_equal(hc_invalidate_key(c, "k"), HC_MISS);
    ta.sticky = 0;
    test_alloc_arm(&ta, 0);
    assert_int_equal(atomic_load(&ta.live), live);
    hc_stats st = stats(c);
    assert_int_equal(st.events_published, 3);
    assert_int_equal(st.event_subscriber_lagged, 6);    /* 3 lost by each of two */

    assert_int_equal(hc_invalidate_key(c, "k"), HC_MISS);
    hc_event ev;
    for (int i = 0; i < 2; i++) {
        hc_subscription *s = i ? s2 : s1;
        assert_int_equal(hc_subscription_recv(s, &ev, 0), HC_ELAGGED);
        assert_int_equal(ev.skipped, 3);
        ev = expect(s, HC_EVENT_KEY_INVALIDATED, HC_ORIGIN_LOCAL, "k");
        assert_int_equal(ev.seq, 4);
        expect_none(s);
    }
    expect_none(s3);                    /* it wanted none of them */

    /* A loss is reported first, even one after events still queued. */
    test_put_str(c, "a", "1", NULL);
    test_alloc_arm(&ta, 1);
    assert_int_equal(hc_invalidate_key(c, "b"), HC_MISS);
    test_alloc_arm(&ta, 0);
    assert_int_equal(hc_subscription_recv(s1, &ev, 0), HC_ELAGGED);
    assert_int_equal(ev.skipped, 1);
    expect(s1, HC_EVENT_STORED, HC_ORIGIN_LOCAL, "a");
    expect_none(s1);

    hc_subscription_close(s1);
    hc_subscription_close(s3);
    hc_cache_close(c);
    hc_subscription_close(s2);          /* its "a" still queued */
    assert_int_equal(atomic_load(&ta.live), 0);
}

static void test_subscribe_out_of_memory(void **state)
{
    (void)state;
    test_alloc ta = {0};
    hc_allocator a = test_allocator(&ta);
    hc_cache *c = open_with((opener){.max_entries = 100, .alloc = &a});
    long live = atomic_load(&ta.live);
    hc_event_filter f = {0, 0, "k", "t"};

    /* Fail the Nth allocation for every N until the call succeeds. */
    hc_subscription *s = NULL;
    int rc;
    for (long n = 1;; n++) {
        test_alloc_arm(&ta, n);
        rc = hc_subscribe(c, &f, &s);
        test_alloc_arm(&ta, 0);
        if (rc == HC_OK) break;
        assert_int_equal(rc, HC_ENOMEM);
        assert_null(s);
        assert_int_equal(atomic_load(&ta.live), live);
        assert_int_equal(stats(c).events_published, 0);
        test_put_str(c, "k", "v", NULL);        /* nobody listening */
        assert_int_equal(stats(c).events_published, 0);
        live = atomic_load(&ta.live);
    }
    hc_subscription_close(s);

    seen sn;
    seen_init(&sn);
    hc_listener *l = NULL;
    for (long n = 1;; n++) {
        test_alloc_arm(&ta, n);
        rc = hc_listen(c, &f, on_event, &sn, &l);
        test_alloc_arm(&ta, 0);
        if (rc == HC_OK) break;
        assert_int_equal(rc, HC_ENOMEM);
        assert_null(l);
        assert_int_equal(atomic_load(&ta.live), live);
    }
    hc_listener_close(l);
    assert_int_equal(atomic_load(&ta.live), live);
    seen_destroy(&sn);
    hc_cache_close(c);
    assert_int_equal(atomic_load(&ta.live), 0);
}

/* ---------------------------------------------------------- threads */

#define PUBLISHERS 4
#define PUTS       2000

typedef struct publisher {
    pthread_t thread;
    hc_cache *c;
    int id;
} publisher;

static void *publisher_main(void *arg)
{
    publisher *p = arg;
    char key[32];
    for (int i = 0; i < PUTS; i++) {
        snprintf(key, sizeof key, "p%d:%d", p->id, i);
        if (hc_put(p->c, key, "v", 1, NULL) != HC_OK) abort();
        if (i % 16 == 0) (void)hc_invalidate_key(p->c, key);
    }
    return NULL;
}

typedef struct drainer {
    pthread_t thread;
    hc_subscription *s;
    uint64_t received, skipped;
    bool ordered;
} drainer;

/* Receive until the sentinel "end", checking that numbers only grow. */
static void *drainer_main(void *arg)
{
    drainer *d = arg;
    uint64_t last = 0;
    hc_event ev;
    d->ordered = true;
    for (;;) {
        int rc = hc_subscription_recv(d->s, &ev, UINT64_MAX);
        if (rc == HC_ELAGGED) {
            d->skipped += ev.skipped;
            continue;
        }
        if (rc != HC_OK) break;
        if (ev.seq <= last) d->ordered = false;
        last = ev.seq;
        d->received++;
        if (strcmp(ev.key, "end") == 0) break;
    }
    return NULL;
}

/* Subscribes and unsubscribes while the others publish. */
static void *churn_main(void *arg)
{
    hc_cache *c = arg;
    hc_event ev;
    for (int i = 0; i < 200; i++) {
        hc_subscription *s = NULL;
        if (hc_subscribe(c, NULL, &s) != HC_OK) abort();
        (void)hc_subscription_recv(s, &ev, 0);
        hc_subscription_close(s);
    }
    return NULL;
}

static void test_many_publishers(void **state)
{
    (void)state;
    hc_cache *c = open_with((opener){.max_entries = 0, .event_buffer = 64});
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_STORED), 0, NULL, NULL};
    drainer d = {.s = subscribe(c, &f)};
    drainer dall = {.s = subscribe(c, NULL)};
    assert_int_equal(pthread_create(&d.thread, NULL, drainer_main, &d), 0);
    assert_int_equal(pthread_create(&dall.thread, NULL, drainer_main, &dall), 0);
    pthread_t churn;
    assert_int_equal(pthread_create(&churn, NULL, churn_main, c), 0);
    publisher p[PUBLISHERS];
    for (int i = 0; i < PUBLISHERS; i++) {
        p[i] = (publisher){.c = c, .id = i};
        assert_int_equal(pthread_create(&p[i].thread, NULL, publisher_main, &p[i]), 0);
    }
    for (int i = 0; i < PUBLISHERS; i++) assert_int_equal(pthread_join(p[i].thread, NULL), 0);
    assert_int_equal(pthread_join(churn, NULL), 0);
    /* The newest event is never dropped: the sentinel always arrives. */
    test_put_str(c, "end", "v", NULL);
    assert_int_equal(pthread_join(d.thread, NULL), 0);
    assert_int_equal(pthread_join(dall.thread, NULL), 0);

    uint64_t stored = PUBLISHERS * PUTS + 1;
    uint64_t invalidated = PUBLISHERS * ((PUTS + 15) / 16);
    assert_true(d.ordered);
    assert_true(dall.ordered);
    assert_int_equal(d.received + d.skipped, stored);
    assert_int_equal(dall.received + dall.skipped, stored + invalidated);
    hc_stats st = stats(c);
    assert_int_equal(st.events_published, stored + invalidated);
    /* The churning subscriptions may have lagged too. */
    assert_true(st.event_subscriber_lagged >= d.skipped + dall.skipped);
    hc_subscription_close(d.s);
    hc_subscription_close(dall.s);
    hc_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_arguments),
        cmocka_unit_test(test_change_kinds),
        cmocka_unit_test(test_access_kinds),
        cmocka_unit_test(test_single_flight_joined),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_evicted),
        cmocka_unit_test(test_stale_load_discarded),
        cmocka_unit_test(test_filter_kinds_and_origins),
        cmocka_unit_test(test_filter_key_prefix),
        cmocka_unit_test(test_filter_tag),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_lag),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_closed_after_cache_close),
        cmocka_unit_test(test_close_wakes_blocked_recv),
        cmocka_unit_test(test_listener_order),
        cmocka_unit_test(test_listener_close_waits_for_callback),
        cmocka_unit_test(test_listener_closes_itself),
        cmocka_unit_test(test_listener_calls_cache),
        cmocka_unit_test(test_listener_lag),
        cmocka_unit_test(test_listener_after_cache_close),
        cmocka_unit_test(test_published_counts),
        cmocka_unit_test(test_emit_out_of_memory),
        cmocka_unit_test(test_subscribe_out_of_memory),
        cmocka_unit_test(test_many_publishers),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
