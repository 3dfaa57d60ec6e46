/*
** test_bus.c -- the invalidation bus: in one process (the memory bus and a
** transport of the test's own) and between processes over a real
** PostgreSQL (two buses in this process, and this process with a child
** it starts).
**
** Delivery is asynchronous, so a test waits for the effect it expects
** (bounded: test_wait_until gives up after 20 s and fails); nothing is asserted
** about time. That a message was NOT delivered is shown by a later message
** on the same path that was: both go through one ordered channel.
**
** PostgreSQL comes from HC_PG_CONNINFO (scripts/pg.sh run starts a
** throwaway server for `make check`); without it the PostgreSQL tests skip
** when HC_SKIP_PG=1 and fail otherwise.
*/
#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

static hc_stats stats_of(hc_cache *c)
{
    hc_stats s;
    hc_stats_get(c, &s);
    return s;
}

static bool is_empty(void *arg)
{
    hc_diagnostics d;
    hc_diagnostics_get(arg, &d);
    return d.entries == 0;
}

static void expect_empty(hc_cache *c)
{
    if (!test_wait_until(is_empty, c)) fail_msg("the cache was never flushed");
}

typedef struct applied { hc_cache *c; uint64_t n; } applied;

static bool has_applied(void *arg)
{
    applied *a = arg;
    return stats_of(a->c).bus_applied >= a->n;
}

/* Wait until c applied n messages: an effect can be seen just before
   its message is counted. */
static void expect_applied(hc_cache *c, uint64_t n)
{
    applied a = {c, n};
    if (!test_wait_until(has_applied, &a)) fail_msg("fewer than %llu messages applied", (unsigned long long)n);
}

static hc_cache *open_on(hc_bus *bus, const char *name, const char *node)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = name;
    cfg.node_id = node;
    cfg.bus = bus;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static void put(hc_cache *c, const char *key, const char *tag)
{
    const char *tags[1] = {tag};
    hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = tag ? 1 : 0};
    assert_int_equal(hc_put(c, key, "v", 1, &o), HC_OK);
}

/* ------------------------------------------------------- memory bus */

static void test_memory_bus_carries_every_kind(void **state)
{
    (void)state;
    hc_bus *bus;
    assert_int_equal(hc_bus_memory_new(&bus, 0), HC_OK);
    assert_int_equal(hc_bus_health(bus, NULL), HC_OK);     /* it cannot be down */
    hc_cache *a = open_on(bus, "shop", "a"), *b = open_on(bus, "shop", "b"),
             *other = open_on(bus, "other", "c");
    hc_cache *all[3] = {a, b, other};
    for (int i = 0; i < 3; i++) {
        put(all[i], "k1", NULL);
        put(all[i], "k2", "t");
        put(all[i], "k3", NULL);
        put(all[i], "k4", NULL);
    }

    assert_int_equal(hc_invalidate_key(a, "k1"), HC_OK);
    assert_false(hc_contains(a, "k1"));                 /* applied locally first */
    test_expect_gone(b, "k1");
    uint64_t removed = 0;
    assert_int_equal(hc_invalidate_tag(a, "t", &removed), HC_OK);
    assert_int_equal(removed, 1);
    test_expect_gone(b, "k2");
    assert_int_equal(hc_remove(b, "k3"), HC_OK);        /* either direction */
    test_expect_gone(a, "k3");
    /* A key nobody holds is still published: a load may be running. */
    assert_int_equal(hc_invalidate_key(a, "nobody"), HC_MISS);
    assert_int_equal(hc_flush(a), HC_OK);
    expect_empty(b);
    expect_applied(b, 4);
    expect_applied(a, 1);

    /* Only caches of the sender's name apply it. */
    hc_stats sa = stats_of(a), sb = stats_of(b), so = stats_of(other);
    assert_true(hc_contains(other, "k1") && hc_contains(other, "k2") && hc_contains(other, "k4"));
    assert_int_equal(so.bus_received, 0);
    /* a published 4, b 1; each received the other's, never its own. */
    assert_int_equal(sa.bus_published, 4);
    assert_int_equal(sb.bus_published, 1);
    assert_int_equal(sb.bus_received, 4);
    assert_int_equal(sb.bus_applied, 4);
    assert_int_equal(sa.bus_received, 1);
    assert_int_equal(sa.bus_applied, 1);
    /* Applied messages are not published again. */
    hc_stats sb2 = stats_of(b);
    assert_int_equal(sb2.bus_published, 1);

    hc_cache_close(a);
    hc_cache_close(b);
    hc_cache_close(other);
    hc_bus_free(bus);
}

static void test_bus_events_have_origin_bus(void **state)
{
    (void)state;
    hc_bus *bus;
    assert_int_equal(hc_bus_memory_new(&bus, 16), HC_OK);
    hc_cache *a = open_on(bus, "shop", "a"), *b = open_on(bus, "shop", "b");
    put(b, "user:1", "users");
    hc_subscription *sub;
    hc_event_filter f = {0, HC_ORIGIN_BIT(HC_ORIGIN_BUS), NULL, NULL};
    assert_int_equal(hc_subscribe(b, &f, &sub), HC_OK);
    assert_int_equal(hc_invalidate_key(a, "user:1"), HC_MISS);   /* a had none */
    assert_int_equal(hc_invalidate_tag(a, "users", NULL), HC_OK);
    assert_int_equal(hc_flush(a), HC_OK);

    hc_event ev;
    assert_int_equal(hc_subscription_recv(sub, &ev, 20000), HC_OK);
    assert_int_equal(ev.kind, HC_EVENT_KEY_INVALIDATED);
    assert_int_equal(ev.origin, HC_ORIGIN_BUS);
    assert_string_equal(ev.key, "user:1");
    assert_int_equal(hc_subscription_recv(sub, &ev, 20000), HC_OK);
    assert_int_equal(ev.kind, HC_EVENT_TAG_INVALIDATED);
    assert_string_equal(ev.key, "users");
    assert_int_equal(hc_subscription_recv(sub, &ev, 20000), HC_OK);
    assert_int_equal(ev.kind, HC_EVENT_FLUSHED);
    assert_int_equal(ev.origin, HC_ORIGIN_BUS);
    hc_subscription_close(sub);
    hc_cache_close(a);
    hc_cache_close(b);
    hc_bus_free(bus);
}

/*
** A clock that blocks its caller while armed: cache b's delivery thread
** reads b's clock while it applies a message, so arming it holds the
** delivery there, and the ring fills behind it.
*/
typedef struct gate_clock {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    bool armed, waiting;
} gate_clock;

static uint64_t gate_clock_ms(void *ctx)
{
    gate_clock *g = ctx;
    pthread_mutex_lock(&g->mu);
    while (g->armed) {
        g->waiting = true;
        pthread_cond_broadcast(&g->cv);
        pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return 1000;
}

static void test_memory_bus_overflow_flushes(void **state)
{
    (void)state;
    enum { CAP = 4, SENT = 10 };
    hc_bus *bus;
    assert_int_equal(hc_bus_memory_new(&bus, CAP), HC_OK);
    gate_clock g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "shop";
    cfg.node_id = "b";
    cfg.bus = bus;
    cfg.clock_ms = gate_clock_ms;
    cfg.clock_ctx = &g;
    hc_cache *a = open_on(bus, "shop", "a"), *b;
    assert_int_equal(hc_cache_open(&b, &cfg), HC_OK);
    put(b, "keep", NULL);

    pthread_mutex_lock(&g.mu);
    g.armed = true;
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(hc_invalidate_key(a, "m0"), HC_MISS);
    /* Wait until the delivery of m0 is stuck in b's clock. */
    pthread_mutex_lock(&g.mu);
    while (!g.waiting) pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    char key[16];
    for (int i = 1; i < SENT; i++) {
        snprintf(key, sizeof key, "m%d", i);
        assert_int_equal(hc_invalidate_key(a, key), HC_MISS);
    }
    pthread_mutex_lock(&g.mu);
    g.armed = false;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);

    /* m0 was being applied, CAP waited in the ring, the rest were dropped:
       b flushes for them, then applies the CAP it has. */
    test_expect_gone(b, "keep");
    expect_applied(b, 1 + CAP);
    hc_stats sb = stats_of(b);
    assert_int_equal(sb.bus_lagged, SENT - 1 - CAP);
    assert_int_equal(sb.bus_received, 1 + CAP);
    assert_int_equal(sb.bus_applied, 1 + CAP);
    assert_int_equal(stats_of(a).bus_published, SENT);
    hc_cache_close(a);
    hc_cache_close(b);
    hc_bus_free(bus);
}

/* ------------------------------------------- a transport of our own */

typedef struct fake {
    int fail;                   /* publish fails while set */
    int published;
    hc_bus_msg last;
    char value[64];
    hc_bus *bus;
    bool closed;
} fake;

static int fake_publish(void *impl, const hc_bus_msg *m, hc_error *err)
{
    fake *f = impl;
    if (f->fail) return hc_error_set(err, HC_EBUS, "fake: down");
    f->published++;
    f->last = *m;
    snprintf(f->value, sizeof f->value, "%s", m->value ? m->value : "");
    return HC_OK;
}

static int fake_start(void *impl, hc_bus *bus, hc_error *err)
{
    (void)err;
    ((fake *)impl)->bus = bus;
    return HC_OK;
}

static void fake_close(void *impl)
{
    ((fake *)impl)->closed = true;
}

static const hc_bus_transport fake_transport = {
    .publish = fake_publish, .start = fake_start, .close = fake_close,
};

static void test_custom_transport(void **state)
{
    (void)state;
    fake f = {0};
    hc_bus *bus;
    assert_int_equal(hc_bus_new(&bus, &fake_transport, &f, NULL), HC_OK);
    assert_ptr_equal(f.bus, bus);
    hc_cache *a = open_on(bus, "shop", "a"), *b = open_on(bus, "shop", "b");

    put(a, "k", "t");
    assert_int_equal(hc_invalidate_tag(a, "t", NULL), HC_OK);
    assert_int_equal(f.published, 1);
    assert_int_equal(f.last.op, HC_BUS_TAG);
    assert_string_equal(f.value, "t");
    assert_string_equal(f.last.node_id, "a");
    assert_string_equal(f.last.cache, "shop");

    /* A failed publish: applied here all the same, counted, returned. */
    put(a, "k", NULL);
    f.fail = 1;
    assert_int_equal(hc_invalidate_key(a, "k"), HC_EBUS);
    assert_false(hc_contains(a, "k"));
    assert_int_equal(hc_flush(a), HC_EBUS);
    assert_int_equal(stats_of(a).bus_publish_failures, 2);
    assert_int_equal(stats_of(a).bus_published, 1);
    f.fail = 0;

    /* Delivered by the transport: to b, not back to a. */
    put(a, "x", NULL);
    put(b, "x", NULL);
    hc_bus_deliver(bus, &(hc_bus_msg){HC_BUS_KEY, "a", "shop", "x"});
    assert_true(hc_contains(a, "x"));
    assert_false(hc_contains(b, "x"));
    /* No name: every cache but the sender. No node: every cache. */
    put(a, "y", NULL);
    put(b, "y", NULL);
    hc_bus_deliver(bus, &(hc_bus_msg){HC_BUS_FLUSH, NULL, NULL, NULL});
    assert_false(hc_contains(a, "y"));
    assert_false(hc_contains(b, "y"));
    /* A key message without a key is received but not applied. */
    hc_bus_deliver(bus, &(hc_bus_msg){HC_BUS_KEY, "z", "shop", NULL});
    assert_int_equal(stats_of(b).bus_received, 3);
    assert_int_equal(stats_of(b).bus_applied, 2);

    /* Losses: every cache flushes and counts them. */
    put(a, "z", NULL);
    put(b, "z", NULL);
    hc_bus_lost(bus, 3, false);
    assert_false(hc_contains(a, "z") || hc_contains(b, "z"));
    assert_int_equal(stats_of(b).bus_lagged, 3);
    put(b, "z", NULL);
    hc_bus_lost(bus, 0, true);
    assert_false(hc_contains(b, "z"));
    assert_int_equal(stats_of(b).bus_receiver_closed, 1);
    assert_int_equal(stats_of(a).bus_receiver_closed, 1);
    /* A message that does not parse: a flush, counted apart. */
    put(b, "z", NULL);
    hc_bus_malformed(bus);
    assert_false(hc_contains(b, "z"));
    assert_int_equal(stats_of(b).bus_malformed, 1);
    assert_int_equal(stats_of(b).bus_received, 3);

    /* Health is what the transport last said, with its reason. */
    hc_error err;
    assert_int_equal(hc_bus_health(bus, &err), HC_OK);
    hc_bus_set_health(bus, false, "fake: down");
    assert_int_equal(hc_bus_health(bus, &err), HC_EBUS);
    assert_string_equal(err.message, "fake: down");
    hc_bus_set_health(bus, true, NULL);
    assert_int_equal(hc_bus_health(bus, &err), HC_OK);
    assert_int_equal(hc_bus_health(NULL, &err), HC_EINVAL);

    hc_cache_close(a);
    hc_cache_close(b);
    hc_bus_free(bus);
    assert_true(f.closed);
}

static int bad_start(void *impl, hc_bus *bus, hc_error *err)
{
    (void)impl;
    (void)bus;
    return hc_error_set(err, HC_EBUS, "cannot start");
}

static const hc_bus_transport bad_transport = {.publish = fake_publish, .start = bad_start,
                                               .close = fake_close};

static void test_bus_new_errors(void **state)
{
    (void)state;
    fake f = {0};
    hc_bus *bus = (hc_bus *)&f;
    hc_error err;
    assert_int_equal(hc_bus_new(&bus, &bad_transport, &f, &err), HC_EBUS);
    assert_null(bus);
    assert_true(f.closed);                      /* the transport was closed */
    assert_string_equal(err.message, "cannot start");
    assert_int_equal(hc_bus_memory_new(NULL, 1), HC_EINVAL);
    hc_bus_free(NULL);
    assert_int_equal(hc_bus_pg_new(&bus, "dbname=x", "bad channel", &err), HC_EINVAL);
    assert_non_null(strstr(err.message, "channel"));
    assert_int_equal(hc_bus_pg_new(&bus, "dbname=x", "", &err), HC_EINVAL);
    char longname[80];
    memset(longname, 'a', 70);
    longname[70] = 0;
    assert_int_equal(hc_bus_pg_new(&bus, "dbname=x", longname, &err), HC_EINVAL);
    /* No server there: a clear error, nothing left behind. */
    assert_int_equal(hc_bus_pg_new(&bus, "host=/nonexistent port=1", "ch", &err), HC_EBUS);
    assert_non_null(strstr(err.message, "cannot connect"));
    assert_null(bus);
}

/* --------------------------------------------------------- PostgreSQL */

static const char *pg_info(void)
{
    const char *info = getenv("HC_PG_CONNINFO");
    if (info && *info) return info;
    const char *s = getenv("HC_SKIP_PG");
    if (s && strcmp(s, "1") == 0) skip();
    fail_msg("no PostgreSQL: run under scripts/pg.sh (make check does) or set HC_SKIP_PG=1");
    return NULL;
}

static char channel[32];

/* conninfo with an application_name, to find the bus's backend by. */
static hc_bus *pg_bus(const char *info, const char *app)
{
    char full[1024];
    snprintf(full, sizeof full, "%s application_name=%s", info, app);
    hc_bus *bus = NULL;
    hc_error err;
    int rc = hc_bus_pg_new(&bus, full, channel, &err);
    if (rc != HC_OK) fail_msg("hc_bus_pg_new: %s", err.message);
    return bus;
}

static void pg_run(const char *info, const char *sql)
{
    PGconn *c = PQconnectdb(info);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Two processes, in effect: two buses, each with its own connection. */
typedef struct pair {
    hc_bus *bx, *by;
    hc_cache *x, *y;
} pair;

static void pair_open(pair *p, const char *info)
{
    p->bx = pg_bus(info, "hc_bus_x");
    p->by = pg_bus(info, "hc_bus_y");
    p->x = open_on(p->bx, "shop", "x");
    p->y = open_on(p->by, "shop", "y");
}

static void pair_close(pair *p)
{
    hc_cache_close(p->x);
    hc_cache_close(p->y);
    hc_bus_free(p->bx);
    hc_bus_free(p->by);
}

static void test_pg_bus_carries_every_kind(void **state)
{
    (void)state;
    const char *info = pg_info();
    pair p;
    pair_open(&p, info);
    put(p.y, "user:1", "users");
    put(p.y, "user:2", NULL);
    put(p.y, "odd key: é %", NULL);
    put(p.y, "k", NULL);

    assert_int_equal(hc_invalidate_key(p.x, "user:2"), HC_MISS);
    test_expect_gone(p.y, "user:2");
    assert_int_equal(hc_invalidate_tag(p.x, "users", NULL), HC_OK);
    test_expect_gone(p.y, "user:1");
    assert_int_equal(hc_invalidate_key(p.x, "odd key: é %"), HC_MISS);
    test_expect_gone(p.y, "odd key: é %");
    assert_true(hc_contains(p.y, "k"));
    assert_int_equal(hc_flush(p.x), HC_OK);
    expect_empty(p.y);

    /* x hears its own notifications and drops them. Wait for a message
       from y to reach x: x's own four were delivered to it before. */
    put(p.x, "back", NULL);
    assert_int_equal(hc_invalidate_key(p.y, "back"), HC_MISS);
    test_expect_gone(p.x, "back");
    expect_applied(p.y, 4);
    expect_applied(p.x, 1);
    hc_stats sx = stats_of(p.x), sy = stats_of(p.y);
    assert_int_equal(sx.bus_published, 4);
    assert_int_equal(sx.bus_received, 1);
    assert_int_equal(sy.bus_received, 4);
    assert_int_equal(sy.bus_applied, 4);
    assert_int_equal(sy.bus_published, 1);
    pair_close(&p);
}

/* The backend whose application_name is app, ended by the server. */
static void pg_terminate(const char *info, const char *app)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = '%s'", app);
    pg_run(info, sql);
}

static bool reconnected(void *arg)
{
    return stats_of(arg).bus_receiver_closed >= 1;
}

static void test_pg_bus_reconnects(void **state)
{
    (void)state;
    const char *info = pg_info();
    pair p;
    pair_open(&p, info);
    assert_int_equal(hc_bus_health(p.by, NULL), HC_OK);
    put(p.y, "a", NULL);
    put(p.y, "b", NULL);
    hc_error herr;
    assert_int_equal(hc_cache_health(p.y, &herr), HC_OK);
    pg_terminate(info, "hc_bus_y");
    /* y notices, reconnects, listens again, and flushes: what was sent
       while it was away is lost. */
    if (!test_wait_until(reconnected, p.y)) fail_msg("the bus never reconnected");
    /* Healthy again once it listens (it reported itself down meanwhile). */
    assert_int_equal(hc_cache_health(p.y, &herr), HC_OK);
    assert_false(hc_contains(p.y, "a"));
    assert_false(hc_contains(p.y, "b"));
    /* And it hears again. */
    put(p.y, "c", NULL);
    assert_int_equal(hc_invalidate_key(p.x, "c"), HC_MISS);
    test_expect_gone(p.y, "c");
    /* The publishing side recovers as well: publishes fail (HC_EBUS,
       counted) while its connection is down, then go through again. */
    pg_terminate(info, "hc_bus_x");
    put(p.y, "d", NULL);
    int rc = HC_EBUS;
    for (int i = 0; i < 20000 && rc != HC_MISS; i++) {
        rc = hc_invalidate_key(p.x, "d");
        if (rc == HC_EBUS) test_nap_ms(1);
        else assert_int_equal(rc, HC_MISS);
    }
    assert_int_equal(rc, HC_MISS);
    test_expect_gone(p.y, "d");
    assert_int_equal(hc_bus_health(p.bx, NULL), HC_OK);
    assert_int_equal(hc_bus_health(p.by, NULL), HC_OK);
    pair_close(&p);
}

static bool bus_down(void *arg) { return hc_bus_health(arg, NULL) != HC_OK; }
static bool bus_up(void *arg) { return hc_bus_health(arg, NULL) == HC_OK; }

/* The bus reports itself down while it cannot reconnect (its role may not
   log in), with the reason, and up once it listens again. */
static void test_pg_bus_reports_its_health(void **state)
{
    (void)state;
    const char *info = pg_info();
    pg_run(info, "SET client_min_messages = warning; DROP ROLE IF EXISTS hc_bus_health;"
                 "CREATE ROLE hc_bus_health LOGIN");
    char full[1024];
    snprintf(full, sizeof full, "%s user=hc_bus_health", info);
    hc_bus *bus = pg_bus(full, "hc_bus_h");
    hc_cache *c = open_on(bus, "shop", "h");
    hc_error err;
    assert_int_equal(hc_cache_health(c, &err), HC_OK);
    pg_run(info, "ALTER ROLE hc_bus_health NOLOGIN");
    pg_terminate(info, "hc_bus_h");
    if (!test_wait_until(bus_down, bus)) fail_msg("the bus never reported itself down");
    assert_int_equal(hc_cache_health(c, &err), HC_EBUS);
    assert_true(strlen(err.message) > 0);
    pg_run(info, "ALTER ROLE hc_bus_health LOGIN");
    if (!test_wait_until(bus_up, bus)) fail_msg("the bus never reported itself up again");
    assert_int_equal(hc_cache_health(c, &err), HC_OK);
    hc_cache_close(c);
    hc_bus_free(bus);
    pg_run(info, "DROP ROLE hc_bus_health");
}

static void test_pg_bus_oversized_payload_flushes(void **state)
{
    (void)state;
    const char *info = pg_info();
    pair p;
    pair_open(&p, info);
    char *big = malloc(9001);
    memset(big, 'k', 9000);
    big[9000] = 0;
    put(p.y, big, NULL);
    put(p.y, "bystander", NULL);
    assert_int_equal(hc_invalidate_key(p.x, big), HC_MISS);
    test_expect_gone(p.y, big);
    assert_false(hc_contains(p.y, "bystander"));     /* sent as a flush */
    expect_applied(p.y, 1);
    assert_int_equal(stats_of(p.y).bus_applied, 1);
    free(big);
    pair_close(&p);
}

typedef struct malformed_count { hc_cache *c; uint64_t n; } malformed_count;

static bool malformed_reached(void *arg)
{
    malformed_count *m = arg;
    return stats_of(m->c).bus_malformed >= m->n;
}

static void test_pg_bus_malformed_payloads(void **state)
{
    (void)state;
    const char *info = pg_info();
    pair p;
    pair_open(&p, info);
    static const char *const bad[] = {
        "garbage", "", "hc1", "hc1 ", "hc1 k", "hc1 k x", "hc1 q x shop k", "hc1 kx shop k",
        "hc1 k x shop k extra", "hc1 f x shop extra", "hc1 k x shop %zz", "hc1 k x shop %0",
        "hc1 k x shop %00", "hc2 k x shop k",
    };
    char sql[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(p.y, "victim", NULL);
        snprintf(sql, sizeof sql, "SELECT pg_notify('%s', '%s')", channel, bad[i]);
        pg_run(info, sql);
        /* At worst a flush of every cache on the bus, counted apart from
           the messages that parse (and after the flush). */
        malformed_count mc = {p.y, i + 1};
        if (!test_wait_until(malformed_reached, &mc)) fail_msg("'%s' was not counted", bad[i]);
        assert_false(hc_contains(p.y, "victim"));
        hc_stats st = stats_of(p.y);
        assert_int_equal(st.bus_malformed, i + 1);
        assert_int_equal(st.bus_received, 0);
        assert_int_equal(st.bus_applied, 0);
    }
    /* Forged but well formed: an invalidation like any other. */
    put(p.y, "v2", NULL);
    put(p.y, "v3", NULL);
    snprintf(sql, sizeof sql, "SELECT pg_notify('%s', 'hc1 k mallory shop v%%32')", channel);
    pg_run(info, sql);
    test_expect_gone(p.y, "v2");
    assert_true(hc_contains(p.y, "v3"));
    pair_close(&p);
}

/* Transactional invalidation through hc_exec_begin/hc_exec_end, as the
   generated exec code runs it (test_dao runs the generated code). */
static const char bus_t_sql[] =
    "SET client_min_messages = warning; DROP TABLE IF EXISTS hc_bus_t;"
    "CREATE TABLE hc_bus_t (id int PRIMARY KEY, v int NOT NULL CHECK (v > 0));"
    "INSERT INTO hc_bus_t VALUES (1, 1)";
static const unsigned char set_v_types[] = {HC_SQL_I32, HC_SQL_I32};
static const hc_sql set_v = {"set_v", "UPDATE hc_bus_t SET v = ?2 WHERE id = ?1",
                             "UPDATE hc_bus_t SET v = $2 WHERE id = $1", 2, set_v_types};

static int write_v(hc_cache *c, hc_db *db, int v, hc_error *err)
{
    int tx, rc = hc_exec_begin(c, db, &tx, err);
    if (rc != HC_OK) return rc;
    hc_stmt *st;
    rc = hc_db_begin(db, &set_v, &st, err);
    if (rc == HC_OK) rc = hc_stmt_bind_i64(st, 1, 1);
    if (rc == HC_OK) rc = hc_stmt_bind_i64(st, 2, v);
    while (rc == HC_OK) rc = hc_stmt_step(st);
    if (rc == HC_DONE) rc = HC_OK;
    hc_db_end(st);
    const char *tags[1] = {"row:1"};
    return hc_exec_end(c, db, tx, rc, tags, 1, err);
}

static long pg_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void pg_exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void test_pg_exec_notifies_iff_committed(void **state)
{
    (void)state;
    const char *info = pg_info();
    pg_run(info, bus_t_sql);
    pair p;
    pair_open(&p, info);
    PGconn *conn = PQconnectdb(info);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    hc_db *db;
    assert_int_equal(hc_db_pg(&db, conn, NULL), HC_OK);
    hc_error err;

    /* A write that commits: y hears of it, x invalidated itself. */
    put(p.x, "r1", "row:1");
    put(p.y, "r1", "row:1");
    assert_int_equal(write_v(p.x, db, 5, &err), HC_OK);
    assert_false(hc_contains(p.x, "r1"));
    test_expect_gone(p.y, "r1");
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(stats_of(p.x).bus_published, 1);

    /* A write that fails (CHECK): rolled back, nothing invalidated or
       published anywhere. The sentinel that follows on the same channel
       arrives, so the failed write's notification would have too. */
    put(p.x, "r1", "row:1");
    put(p.y, "r1", "row:1");
    put(p.y, "sentinel", NULL);
    assert_int_equal(write_v(p.x, db, -1, &err), HC_EDB);
    assert_non_null(strstr(err.message, "check"));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_true(hc_contains(p.x, "r1"));
    assert_int_equal(hc_invalidate_key(p.x, "sentinel"), HC_MISS);
    test_expect_gone(p.y, "sentinel");
    assert_true(hc_contains(p.y, "r1"));
    assert_int_equal(pg_long(conn, "SELECT v FROM hc_bus_t WHERE id = 1"), 5);

    /* Inside the application's transaction, rolled back: nothing. */
    put(p.y, "sentinel", NULL);
    pg_exec_ok(conn, "BEGIN");
    assert_int_equal(write_v(p.x, db, 7, &err), HC_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);   /* left open */
    pg_exec_ok(conn, "ROLLBACK");
    assert_int_equal(hc_invalidate_key(p.x, "sentinel"), HC_MISS);
    test_expect_gone(p.y, "sentinel");
    assert_true(hc_contains(p.y, "r1"));

    /* ... and committed: y hears it, and so does x's own bus, at the
       commit (x's entry is cached again after the write, before it). */
    pg_exec_ok(conn, "BEGIN");
    assert_int_equal(write_v(p.x, db, 8, &err), HC_OK);
    put(p.x, "r1", "row:1");
    pg_exec_ok(conn, "COMMIT");
    test_expect_gone(p.y, "r1");
    test_expect_gone(p.x, "r1");
    assert_int_equal(pg_long(conn, "SELECT v FROM hc_bus_t WHERE id = 1"), 8);

    /* The server drops the connection: the write that meets it fails, the
       next one resets it (hc_exec_begin repairs before its BEGIN) and is
       heard. */
    char sql[160];
    int pid = PQbackendPID(conn);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    pg_run(info, sql);
    PGconn *admin = PQconnectdb(info);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
    for (int i = 0; pg_long(admin, sql) != 0; i++) {
        if (i == 20000) fail_msg("backend %d did not exit", pid);
        test_nap_ms(1);
    }
    PQfinish(admin);
    put(p.y, "r1", "row:1");
    assert_int_equal(write_v(p.x, db, 9, &err), HC_ECONN);
    assert_true(hc_contains(p.y, "r1"));
    assert_int_equal(write_v(p.x, db, 9, &err), HC_OK);
    test_expect_gone(p.y, "r1");

    /* The connection is lost during the COMMIT itself (a deferred trigger
       ends the backend at commit time): x cannot know whether the write
       committed, and if it did, its own bus would drop the echo (it
       carries x's node id). So x invalidates locally all the same, and
       says HC_ECONN. */
    pg_run(info, "CREATE FUNCTION hc_bus_t_die() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;"
                 "CREATE CONSTRAINT TRIGGER hc_bus_t_die AFTER UPDATE ON hc_bus_t "
                 "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.v = 13) "
                 "EXECUTE FUNCTION hc_bus_t_die()");
    put(p.x, "r1", "row:1");
    assert_int_equal(write_v(p.x, db, 13, &err), HC_ECONN);
    assert_non_null(strstr(err.message, "hc_exec_commit"));
    assert_false(hc_contains(p.x, "r1"));
    /* And the next write reconnects and works. */
    put(p.x, "r1", "row:1");
    assert_int_equal(write_v(p.x, db, 14, &err), HC_OK);
    assert_false(hc_contains(p.x, "r1"));

    /* hc_exec_end refusing its arguments still ends what hc_exec_begin
       opened: our transaction rolled back, the hc_db's lock let go (it
       was left held, the BEGIN open). The same for the application's
       transaction, which stays open. */
    int tx;
    assert_int_equal(hc_exec_begin(p.x, db, &tx, &err), HC_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    assert_int_equal(hc_exec_end(p.x, db, tx, HC_OK, NULL, 1, &err), HC_EINVAL);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(hc_db_unlock(db), HC_EINVAL);        /* no lock left held */
    pg_exec_ok(conn, "BEGIN");
    assert_int_equal(hc_exec_begin(p.x, db, &tx, &err), HC_OK);
    assert_int_equal(hc_exec_end(p.x, db, tx, HC_OK, NULL, 1, &err), HC_EINVAL);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    assert_int_equal(hc_db_unlock(db), HC_EINVAL);
    pg_exec_ok(conn, "ROLLBACK");

    hc_db_free(db);
    PQfinish(conn);
    pair_close(&p);
    pg_run(info, "DROP TABLE hc_bus_t; DROP FUNCTION hc_bus_t_die()");
}

/* --------------------------------------------- two real processes */

/*
** The child: a cache "shared" on its own PostgreSQL bus. It puts k1 (tag
** t1), k2 and k3, says "ready", then answers the parent's lines:
**   gone KEY  -> "gone" once KEY is invalidated ("still" after 20 s)
**   empty     -> "empty" once the cache was flushed
**   stats N   -> "<bus_received> <bus_applied> <bus_published>", once N
**                were applied
**   inv KEY   -> invalidates KEY (published), "ok"
**   quit
*/
static int child_main(const char *info, const char *chan)
{
    hc_bus *bus;
    hc_error err;
    if (hc_bus_pg_new(&bus, info, chan, &err) != HC_OK) {
        printf("error %s\n", err.message);
        return 1;
    }
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "shared";
    cfg.node_id = "child";
    cfg.bus = bus;
    hc_cache *c;
    if (hc_cache_open(&c, &cfg) != HC_OK) return 1;
    const char *t1[] = {"t1"};
    hc_options o = {.ttl_ms = HC_TTL_NEVER, .tags = t1, .ntags = 1};
    hc_put(c, "k1", "1", 1, &o);
    hc_put(c, "k2", "2", 1, NULL);
    hc_put(c, "k3", "3", 1, NULL);
    printf("ready\n");
    fflush(stdout);
    char line[256], arg[200];
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "gone %199s", arg) == 1) {
            test_key_gone k = {c, arg};
            printf("%s\n", test_wait_until(test_is_gone, &k) ? "gone" : "still");
        } else if (strncmp(line, "empty", 5) == 0) {
            printf("%s\n", test_wait_until(is_empty, c) ? "empty" : "still");
        } else if (sscanf(line, "stats %199s", arg) == 1) {
            applied a = {c, strtoull(arg, NULL, 10)};
            (void)test_wait_until(has_applied, &a);
            hc_stats s = stats_of(c);
            printf("%llu %llu %llu\n", (unsigned long long)s.bus_received,
                   (unsigned long long)s.bus_applied, (unsigned long long)s.bus_published);
        } else if (sscanf(line, "inv %199s", arg) == 1) {
            printf("%s\n", hc_invalidate_key(c, arg) == HC_EBUS ? "ebus" : "ok");
        } else {
            break;
        }
        fflush(stdout);
    }
    hc_cache_close(c);
    hc_bus_free(bus);
    return 0;
}

typedef struct child {
    pid_t pid;
    FILE *to, *from;
} child;

static void child_start(child *ch, const char *info)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = 0;
    char *argv[] = {self, "--child", (char *)info, channel, NULL};
    assert_int_equal(posix_spawn(&ch->pid, self, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    ch->to = fdopen(in[1], "w");
    ch->from = fdopen(out[0], "r");
    assert_non_null(ch->to);
    assert_non_null(ch->from);
}

/* Send a line, return the answer (without its newline). */
static const char *child_ask(child *ch, const char *line)
{
    static char answer[256];
    if (line) {
        fprintf(ch->to, "%s\n", line);
        fflush(ch->to);
    }
    if (!fgets(answer, sizeof answer, ch->from)) fail_msg("the child died");
    answer[strcspn(answer, "\n")] = 0;
    return answer;
}

static void test_pg_bus_between_processes(void **state)
{
    (void)state;
    const char *info = pg_info();
    child ch;
    child_start(&ch, info);
    assert_string_equal(child_ask(&ch, NULL), "ready");

    hc_bus *bus = pg_bus(info, "hc_bus_parent");
    hc_cache *c = open_on(bus, "shared", "parent");
    assert_int_equal(hc_invalidate_key(c, "k2"), HC_MISS);
    assert_string_equal(child_ask(&ch, "gone k2"), "gone");
    assert_int_equal(hc_invalidate_tag(c, "t1", NULL), HC_OK);
    assert_string_equal(child_ask(&ch, "gone k1"), "gone");
    assert_int_equal(hc_flush(c), HC_OK);
    assert_string_equal(child_ask(&ch, "empty"), "empty");
    assert_string_equal(child_ask(&ch, "stats 3"), "3 3 0");

    /* And back: the child's invalidation reaches this process. */
    put(c, "from-child", NULL);
    assert_string_equal(child_ask(&ch, "inv from-child"), "ok");
    test_expect_gone(c, "from-child");
    expect_applied(c, 1);
    assert_int_equal(stats_of(c).bus_received, 1);   /* not its own three */

    fprintf(ch.to, "quit\n");
    fflush(ch.to);
    int status;
    assert_int_equal(waitpid(ch.pid, &status, 0), ch.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fclose(ch.to);
    fclose(ch.from);
    hc_cache_close(c);
    hc_bus_free(bus);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_main(argv[2], argv[3]);
    snprintf(channel, sizeof channel, "hc_test_%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_bus_carries_every_kind),
        cmocka_unit_test(test_bus_events_have_origin_bus),
        cmocka_unit_test(test_memory_bus_overflow_flushes),
        cmocka_unit_test(test_custom_transport),
        cmocka_unit_test(test_bus_new_errors),
        cmocka_unit_test(test_pg_bus_carries_every_kind),
        cmocka_unit_test(test_pg_bus_reconnects),
        cmocka_unit_test(test_pg_bus_reports_its_health),
        cmocka_unit_test(test_pg_bus_oversized_payload_flushes),
        cmocka_unit_test(test_pg_bus_malformed_payloads),
        cmocka_unit_test(test_pg_exec_notifies_iff_committed),
        cmocka_unit_test(test_pg_bus_between_processes),
    };
    return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
