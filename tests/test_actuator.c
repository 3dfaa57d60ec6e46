/*
** test_actuator.c -- the HTTP actuator through real HTTP: every route with
** libcurl, with and without the token, bodies parsed by jansson and
** compared with the caches; clients that misbehave through raw sockets;
** and hcache-stat run as a user runs it.
*/
#include <math.h>
#include <pthread.h>

#include "obs_testutil.h"

#ifndef HCSTAT
#define HCSTAT "build/release/hcache-stat"
#endif

#define BASE "/actuator/hydracache"

typedef struct world {
    test_clock   tc;
    fake_bus     f;
    hc_bus      *bus;
    hc_cache    *busy, *slash;
    hc_registry *reg;
    hc_actuator *act;
    unsigned     port;
} world;

static world w;

static void start(const char *token, const char *base)
{
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = 0;
    o.token = token;
    if (base) o.base_path = base;
    hc_error err;
    if (hc_actuator_start(&w.act, w.reg, &o, &err) != HC_OK) fail_msg("actuator: %s", err.message);
    w.port = hc_actuator_port(w.act);
    assert_true(w.port > 0);
    http_wait_ready(w.port, base ? base : BASE, token);
}

static int setup(void **state)
{
    (void)state;
    memset(&w, 0, sizeof w);
    w.bus = fake_bus_new(&w.f);
    w.busy = busy_open("busy", w.bus, &w.tc);
    make_busy(w.busy, &w.f, &w.tc);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "a/b";
    if (hc_cache_open(&w.slash, &cfg) != HC_OK) return -1;
    if (hc_registry_new(&w.reg) != HC_OK) return -1;
    if (hc_registry_add(w.reg, w.busy) != HC_OK || hc_registry_add(w.reg, w.slash) != HC_OK) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_actuator_stop(w.act);
    hc_registry_free(w.reg);
    hc_cache_close(w.busy);
    hc_cache_close(w.slash);
    hc_bus_free(w.bus);
    return 0;
}

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) fail_msg("'%s' is not an integer", k);
    return (uint64_t)json_integer_value(v);
}

static void check_stats(json_t *o, const hc_stats *s)
{
#define XX(name, desc) assert_int_equal(jint(o, #name), s->name);
    HC_STATS_MAP(XX)
#undef XX
    assert_int_equal(jint(o, "total_requests"), hc_stats_total_requests(s));
    assert_true(fabs(json_real_value(json_object_get(o, "hit_ratio")) - hc_stats_hit_ratio(s)) < 1e-8);
}

/* GET path: status want, Content-Type type, the body parsed when JSON. */
static json_t *get_json(const char *path, const char *token, long want)
{
    http_res r = http_get(w.port, path, token);
    if (r.status != want) fail_msg("GET %s: %ld, not %ld: %s", path, r.status, want, (const char *)r.body.data);
    char ct[128];
    assert_non_null(http_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json");
    assert_non_null(http_header(&r, "Cache-Control", ct, sizeof ct));
    json_t *j = http_json(&r);
    http_free(&r);
    return j;
}

/* An error document: its status field and a message. */
static void check_error(const char *path, const char *token, long want)
{
    json_t *e = get_json(path, token, want);
    assert_int_equal(jint(e, "status"), want);
    assert_true(json_is_string(json_object_get(e, "error")));
    assert_true(json_is_string(json_object_get(e, "message")));
    json_decref(e);
}

/* ------------------------------------------------------------- routes */

static void test_every_route(void **state)
{
    (void)state;
    start(NULL, NULL);
    hc_diagnostics d;
    hc_diagnostics_get(w.busy, &d);

    json_t *j = get_json(BASE, NULL, 200);
    json_t *links = json_object_get(j, "_links");
    const char *rels[] = {"self", "health", "caches", "cache", "stats", "diagnostics", "declarations", "metrics"};
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++)
        assert_true(json_is_string(json_object_get(json_object_get(links, rels[i]), "href")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(links, "stats"), "href")),
                        BASE "/caches/{name}/stats");
    assert_string_equal(json_string_value(json_object_get(json_object_get(links, "metrics"), "href")), "/metrics");
    json_decref(j);
    json_decref(get_json(BASE "/", NULL, 200));

    j = get_json(BASE "/health", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "UP");
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);

    j = get_json(BASE "/caches", NULL, 200);
    json_t *caches = json_object_get(j, "caches");
    assert_int_equal(json_array_size(caches), 2);
    json_t *busy = json_array_get(caches, 1);          /* "a/b" < "busy" */
    assert_string_equal(json_string_value(json_object_get(busy, "name")), "busy");
    check_stats(json_object_get(busy, "stats"), &d.stats);
    assert_int_equal(jint(json_object_get(busy, "diagnostics"), "entries"), d.entries);
    json_decref(j);

    j = get_json(BASE "/caches/busy", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "busy");
    check_stats(json_object_get(j, "stats"), &d.stats);
    assert_int_equal(json_array_size(json_object_get(j, "declarations")), 2);
    json_decref(j);

    j = get_json(BASE "/caches/busy/stats", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "busy");
    check_stats(j, &d.stats);
    json_decref(j);

    j = get_json(BASE "/caches/busy/diagnostics", NULL, 200);
    check_stats(j, &d.stats);
    assert_int_equal(jint(j, "entries"), d.entries);
    assert_int_equal(jint(j, "weighted_bytes"), d.weighted_bytes);
    assert_int_equal(jint(j, "tags"), d.tags);
    assert_int_equal(jint(j, "loads_in_flight"), 0);
    assert_int_equal(jint(j, "max_entries"), 4);
    assert_int_equal(jint(j, "window_entries"), d.window_entries);
    json_decref(j);

    j = get_json(BASE "/caches/busy/declarations", NULL, 200);
    json_t *decls = json_object_get(j, "declarations");
    assert_int_equal(json_array_size(decls), 2);
    hc_decl_stats ds;
    assert_int_equal(hc_decl_stats_get(w.busy, "busy", "user_by_id", &ds), HC_OK);
    json_t *d0 = json_array_get(decls, 0);
    assert_string_equal(json_string_value(json_object_get(d0, "decl")), "busy.user_by_id");
    assert_int_equal(jint(d0, "calls"), ds.calls);
    assert_int_equal(jint(d0, "hits"), ds.hits);
    assert_int_equal(jint(d0, "loads"), ds.loads);
    assert_true(json_is_number(json_object_get(json_object_get(d0, "load_seconds"), "p99")));
    json_decref(j);

    /* A name with a '/' is one segment, percent-encoded. */
    j = get_json(BASE "/caches/a%2Fb/stats", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "a/b");
    json_decref(j);

    http_res r = http_get(w.port, "/metrics", NULL);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_string_equal(http_header(&r, "Content-Type", ct, sizeof ct), "text/plain; version=0.0.4; charset=utf-8");
    hc_buf out = HC_BUF_INIT;
    if (promtool_check((const char *)r.body.data, &out) != 0) fail_msg("promtool: %s", (const char *)out.data);
    char series[128];
    snprintf(series, sizeof series, "hydracache_hits_total{cache=\"busy\"} %llu\n", (unsigned long long)d.stats.hits);
    assert_non_null(strstr((const char *)r.body.data, series));
    assert_non_null(strstr((const char *)r.body.data, "hydracache_entries{cache=\"a/b\"} 0\n"));
    hc_buf_free(&out);
    http_free(&r);

    /* HEAD: the headers, no body. */
    r = http_call("HEAD", w.port, BASE "/caches/busy/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    http_free(&r);
}

static void test_not_found(void **state)
{
    (void)state;
    start(NULL, NULL);
    const char *paths[] = {
        "/", "/actuator", "/actuator/hydracachex", BASE "/nope", BASE "/caches/nope",
        BASE "/caches/nope/stats", BASE "/caches/busy/nope", BASE "/caches/busy/stats/more",
        BASE "/caches/%62usy%2F", BASE "/caches/..", BASE "/caches/%2e%2e", BASE "/caches/../caches/busy",
        BASE "/caches/busy%00", BASE "/caches/%00", BASE "//caches/busy", BASE "/caches//stats",
        "/metrics/", "/metricsx",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) check_error(paths[i], NULL, 404);
    /* Percent-encoding of a real name finds it. */
    json_decref(get_json(BASE "/caches/%62usy", NULL, 200));
    /* Malformed escapes. */
    check_error(BASE "/caches/%zz", NULL, 400);
    check_error(BASE "/caches/bu%2", NULL, 400);
    /* A long name is not echoed whole. */
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/caches/", BASE);
    memset(path + n, 'x', 3000);
    path[n + 3000] = 0;
    json_t *e = get_json(path, NULL, 404);
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) < 300);
    json_decref(e);
}

static void test_methods(void **state)
{
    (void)state;
    start(NULL, NULL);
    hc_diagnostics before, after;
    hc_diagnostics_get(w.busy, &before);
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FLUSH"};
    const char *paths[] = {BASE, BASE "/health", BASE "/caches", BASE "/caches/busy",
                           BASE "/caches/busy/stats", BASE "/caches/busy/diagnostics", "/metrics"};
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            http_res r = http_call(methods[m], w.port, paths[p], NULL, NULL);
            if (r.status != 405) fail_msg("%s %s: %ld", methods[m], paths[p], r.status);
            char allow[64];
            assert_string_equal(http_header(&r, "Allow", allow, sizeof allow), "GET, HEAD");
            json_t *e = http_json(&r);
            assert_int_equal(jint(e, "status"), 405);
            json_decref(e);
            http_free(&r);
        }
    }
    /* Unknown path, any method: 404. */
    http_res r = http_call("DELETE", w.port, BASE "/caches/busy/entries", NULL, NULL);
    assert_int_equal(r.status, 404);
    http_free(&r);
    /* Nothing changed: the same entries, no invalidation, no flush. */
    hc_diagnostics_get(w.busy, &after);
    assert_int_equal(after.entries, before.entries);
    assert_int_equal(after.stats.invalidations, before.stats.invalidations);
    assert_int_equal(after.stats.inserts, before.stats.inserts);

    /* A GET with a body is refused before the body is read. */
    int fd = raw_connect(w.port);
    assert_true(fd >= 0);
    const char req[] = "GET " BASE "/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    assert_true(raw_send(fd, req, sizeof req - 1));
    shutdown(fd, SHUT_WR);
    hc_buf b = HC_BUF_INIT;
    raw_read_all(fd, &b);
    close(fd);
    assert_int_equal(raw_status(&b), 413);
    hc_buf_free(&b);
}

/* ------------------------------------------------------------- tokens */

static void test_token(void **state)
{
    (void)state;
    start("s3cret-token", NULL);
    const char *paths[] = {BASE, BASE "/health", BASE "/caches", BASE "/caches/busy", BASE "/caches/busy/stats",
                           BASE "/caches/busy/diagnostics", BASE "/caches/busy/declarations",
                           BASE "/caches/nope", BASE "/no-route", "/metrics"};
    const char *wrong[] = {"s3cret-toke", "s3cret-token2", "S3CRET-TOKEN", "", "xs3cret-token"};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        /* No header. */
        http_res r = http_get(w.port, paths[p], NULL);
        if (r.status != 401) fail_msg("GET %s without a token: %ld", paths[p], r.status);
        char h[128];
        assert_non_null(http_header(&r, "WWW-Authenticate", h, sizeof h));
        assert_true(strncmp(h, "Bearer", 6) == 0);
        json_t *e = http_json(&r);
        assert_int_equal(jint(e, "status"), 401);
        json_decref(e);
        http_free(&r);
        /* Wrong tokens. */
        for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
            r = http_get(w.port, paths[p], wrong[k]);
            if (r.status != 401) fail_msg("GET %s with '%s': %ld", paths[p], wrong[k], r.status);
            http_free(&r);
        }
        /* Another scheme. */
        r = http_call(NULL, w.port, paths[p], NULL, "Authorization: Basic czNjcmV0LXRva2Vu");
        assert_int_equal(r.status, 401);
        http_free(&r);
        /* The right one: the route's own answer. */
        r = http_get(w.port, paths[p], "s3cret-token");
        long want = strstr(paths[p], "nope") || strstr(paths[p], "no-route") ? 404 : 200;
        if (r.status != want) fail_msg("GET %s with the token: %ld", paths[p], r.status);
        http_free(&r);
    }
    /* The scheme is case-insensitive; the token is not. */
    http_res r = http_call(NULL, w.port, BASE "/health", NULL, "Authorization: bearer s3cret-token");
    assert_int_equal(r.status, 200);
    http_free(&r);
    /* Other methods: 401 first, then 405. */
    r = http_call("POST", w.port, BASE "/health", NULL, NULL);
    assert_int_equal(r.status, 401);
    http_free(&r);
    r = http_call("POST", w.port, BASE "/health", "s3cret-token", NULL);
    assert_int_equal(r.status, 405);
    http_free(&r);
}

/* ------------------------------------------------------------- health */

static void test_health_down(void **state)
{
    (void)state;
    start(NULL, NULL);
    hc_bus_set_health(w.bus, false, "bus: connection to PostgreSQL lost; reconnecting");
    json_t *j = get_json(BASE "/health", NULL, 503);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "DOWN");
    json_t *reasons = json_object_get(j, "reasons");
    assert_int_equal(json_array_size(reasons), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reasons, 0), "cache")), "busy");
    assert_string_equal(json_string_value(json_object_get(json_array_get(reasons, 0), "reason")),
                        "bus: connection to PostgreSQL lost; reconnecting");
    json_decref(j);
    j = get_json(BASE "/caches/busy/diagnostics", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "DOWN");
    json_decref(j);
    http_res r = http_get(w.port, "/metrics", NULL);
    assert_non_null(strstr((const char *)r.body.data, "hydracache_up{cache=\"busy\"} 0\n"));
    http_free(&r);
    hc_bus_set_health(w.bus, true, NULL);
    json_decref(get_json(BASE "/health", NULL, 200));
}

/* ------------------------------------------------------ options, start */

static void test_options(void **state)
{
    (void)state;
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    assert_string_equal(o.bind, "127.0.0.1");
    assert_int_equal(o.port, 8080);
    assert_null(o.token);
    assert_string_equal(o.base_path, "/actuator/hydracache");
    hc_actuator_options_init(NULL);

    hc_error err;
    hc_actuator *a = NULL;
    o.port = 0;
    o.bind = "localhost";                               /* not numeric */
    assert_int_equal(hc_actuator_start(&a, w.reg, &o, &err), HC_EINVAL);
    assert_null(a);
    o.bind = "127.0.0.1";
    o.base_path = "actuator";
    assert_int_equal(hc_actuator_start(&a, w.reg, &o, &err), HC_EINVAL);
    o.base_path = "/ops/";                              /* trailing '/' dropped */
    assert_int_equal(hc_actuator_start(NULL, w.reg, &o, &err), HC_EINVAL);
    assert_int_equal(hc_actuator_start(&a, NULL, &o, &err), HC_EINVAL);
    assert_int_equal(hc_actuator_start(&a, w.reg, &o, &err), HC_OK);
    unsigned port = hc_actuator_port(a);
    http_wait_ready(port, "/ops", NULL);
    http_res r = http_get(port, "/ops/caches/busy/stats", NULL);
    assert_int_equal(r.status, 200);
    http_free(&r);
    r = http_get(port, BASE "/health", NULL);
    assert_int_equal(r.status, 404);
    http_free(&r);

    /* The port is taken: a clear error. */
    hc_actuator *b = NULL;
    o.port = port;
    assert_int_equal(hc_actuator_start(&b, w.reg, &o, &err), HC_ESYS);
    assert_null(b);
    assert_non_null(strstr(err.message, "cannot listen"));
    hc_actuator_stop(a);
    hc_actuator_stop(NULL);
    assert_int_equal(hc_actuator_port(NULL), 0);

    /* IPv6 loopback, where the machine has it. */
    o.bind = "::1";
    o.port = 0;
    if (hc_actuator_start(&a, w.reg, &o, &err) == HC_OK) {
        assert_true(hc_actuator_port(a) > 0);
        hc_actuator_stop(a);
    } else {
        assert_int_equal(err.code, HC_ESYS);            /* no IPv6 here */
    }
}

/*
** hc_actuator_stop wakes every worker thread. Without an inter-thread
** channel (MHD_USE_ITC) libmicrohttpd woke them only through the listening
** socket, which a worker at its share of connections does not watch: with
** max_connections 1, one of the two workers has a share of 0, slept in
** epoll_wait for good, and the stop never returned (the wait below is a
** bound on a stop that should end, not a timing).
*/
typedef struct stopper {
    hc_actuator *a;
    atomic_bool  done;
} stopper;

static void *stop_main(void *arg)
{
    stopper *s = arg;
    hc_actuator_stop(s->a);
    atomic_store(&s->done, true);
    return NULL;
}

static bool stopped(void *arg)
{
    return atomic_load(&((stopper *)arg)->done);
}

static void test_stop_wakes_every_worker(void **state)
{
    (void)state;
    for (unsigned max = 1; max <= 2; max++) {
        hc_actuator_options o;
        hc_actuator_options_init(&o);
        o.port = 0;
        o.max_connections = max;
        stopper s = {NULL, false};
        assert_int_equal(hc_actuator_start(&s.a, w.reg, &o, NULL), HC_OK);
        http_wait_ready(hc_actuator_port(s.a), BASE, NULL);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, stop_main, &s), 0);
        if (!test_wait_until(stopped, &s)) fail_msg("hc_actuator_stop (max_connections %u) did not return", max);
        assert_int_equal(pthread_join(t, NULL), 0);
    }
}

/* ----------------------------------------------------- hostile clients */

static bool cache_works(void)
{
    hc_buf v = HC_BUF_INIT;
    bool ok = hc_put(w.busy, "probe", "p", 1, NULL) == HC_OK && hc_get(w.busy, "probe", &v) == HC_OK;
    hc_buf_free(&v);
    return ok;
}

static void test_hostile_clients(void **state)
{
    (void)state;
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = 0;
    o.max_connections = 16;
    o.timeout_s = 2;
    hc_error err;
    assert_int_equal(hc_actuator_start(&w.act, w.reg, &o, &err), HC_OK);
    w.port = hc_actuator_port(w.act);
    http_wait_ready(w.port, BASE, NULL);

    /* Clients that connect and send nothing: the actuator keeps answering
       others, and the caches keep working. */
    int idle[4];
    for (int i = 0; i < 4; i++) assert_true((idle[i] = raw_connect(w.port)) >= 0);
    json_decref(get_json(BASE "/health", NULL, 200));
    assert_true(cache_works());

    /* A request line far past the limit, and a header far past it: refused
       with an error status or a close, never served. */
    hc_buf big = HC_BUF_INIT, resp = HC_BUF_INIT;
    hc_buf_append_str(&big, "GET " BASE "/caches/");
    for (int i = 0; i < 100000; i++) hc_buf_append(&big, "x", 1);
    hc_buf_append_str(&big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    int fd = raw_connect(w.port);
    assert_true(fd >= 0);
    (void)raw_send(fd, big.data, big.len);
    raw_read_all(fd, &resp);
    close(fd);
    int st = raw_status(&resp);
    assert_true(st == 0 || st == 414 || st == 431 || st == 413 || st == 400);

    hc_buf_reset(&big);
    hc_buf_append_str(&big, "GET " BASE "/health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 100000; i++) hc_buf_append(&big, "y", 1);
    hc_buf_append_str(&big, "\r\n\r\n");
    fd = raw_connect(w.port);
    assert_true(fd >= 0);
    (void)raw_send(fd, big.data, big.len);
    raw_read_all(fd, &resp);
    close(fd);
    st = raw_status(&resp);
    assert_true(st == 0 || st == 431 || st == 413 || st == 400);

    /* Garbage instead of HTTP. */
    fd = raw_connect(w.port);
    assert_true(fd >= 0);
    static const char garbage[] = "\x16\x03\x01\x02\x00hello\r\n\r\n";
    (void)raw_send(fd, garbage, sizeof garbage - 1);
    raw_read_all(fd, &resp);
    close(fd);
    st = raw_status(&resp);
    assert_true(st == 0 || st == 400 || st == 505);

    /* Many connections at once, more than allowed: the extra ones are
       closed, nothing crashes. */
    enum { MANY = 64 };
    int fds[MANY];
    for (int i = 0; i < MANY; i++) fds[i] = raw_connect(w.port);
    int answered = 0;
    const char req[] = "GET " BASE "/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < MANY; i++) {
        if (fds[i] < 0) continue;
        if (raw_send(fds[i], req, sizeof req - 1)) {
            raw_read_all(fds[i], &resp);
            if (raw_status(&resp) == 200) answered++;
        }
        close(fds[i]);
    }
    assert_true(answered > 0);
    assert_true(answered < MANY);                       /* some were refused */
    for (int i = 0; i < 4; i++) close(idle[i]);
    assert_true(cache_works());

    /* And afterwards it serves as before. */
    json_decref(get_json(BASE "/health", NULL, 200));
    hc_buf_free(&big);
    hc_buf_free(&resp);
}

/* An idle connection is closed after timeout_s: read until it is. */
static void test_idle_timeout(void **state)
{
    (void)state;
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = 0;
    o.timeout_s = 1;
    hc_error err;
    assert_int_equal(hc_actuator_start(&w.act, w.reg, &o, &err), HC_OK);
    w.port = hc_actuator_port(w.act);
    http_wait_ready(w.port, BASE, NULL);
    int fd = raw_connect(w.port);
    assert_true(fd >= 0);
    (void)raw_send(fd, "GET ", 4);                      /* and never the rest */
    hc_buf b = HC_BUF_INIT;
    raw_read_all(fd, &b);                               /* returns once MHD closes it */
    close(fd);
    assert_int_equal(raw_status(&b), 0);
    hc_buf_free(&b);
}

/* ---------------------------------------------------------- hcache-stat */

/* Run hcache-stat with args; its exit status, its stdout and stderr in out. */
static int run_stat(const char *args, hc_buf *out)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "HCACHE_STAT_TOKEN= %s %s 2>&1", HCSTAT, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    hc_buf_reset(out);
    char buf[1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) hc_buf_append(out, buf, n);
    if (!out->data) hc_buf_reserve(out, 0);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A server that answers every request with a page that is not ours. */
typedef struct fake_server {
    int fd;
    unsigned port;
    pthread_t t;
} fake_server;

static void *fake_serve(void *arg)
{
    fake_server *fs = arg;
    for (;;) {
        int c = accept(fs->fd, NULL, NULL);
        if (c < 0) return NULL;
        char buf[4096];
        (void)recv(c, buf, sizeof buf, 0);
        const char page[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
                            "Connection: close\r\n\r\n<html></html>";
        (void)raw_send(c, page, sizeof page - 1);
        close(c);
    }
}

static void test_hcache_stat(void **state)
{
    (void)state;
    start(NULL, NULL);
    hc_buf out = HC_BUF_INIT;
    char args[512];
    snprintf(args, sizeof args, "--once --interval 0.1 http://127.0.0.1:%u", w.port);
    int st = run_stat(args, &out);
    if (st != 0) fail_msg("hcache-stat: %d: %s", st, (const char *)out.data);
    const char *text = (const char *)out.data;
    assert_non_null(strstr(text, "req/s"));
    assert_non_null(strstr(text, "\nbusy "));
    assert_non_null(strstr(text, "\na/b "));
    assert_null(strstr(text, "busy.user_by_id"));

    snprintf(args, sizeof args, "--once --decl --interval 0.1 http://127.0.0.1:%u/", w.port);
    assert_int_equal(run_stat(args, &out), 0);
    assert_non_null(strstr((const char *)out.data, "busy.user_by_id"));
    assert_non_null(strstr((const char *)out.data, "busy.score"));

    /* A name holding control characters is printed with '?' for them: no
       escape sequence reaches the terminal, no newline forges a row. */
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "evil\x1b[31m\nrow";
    hc_cache *evil;
    assert_int_equal(hc_cache_open(&evil, &cfg), HC_OK);
    assert_int_equal(hc_registry_add(w.reg, evil), HC_OK);
    snprintf(args, sizeof args, "--once --interval 0.1 http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 0);
    assert_non_null(strstr((const char *)out.data, "\nevil?[31m?row "));
    assert_null(strchr((const char *)out.data, '\x1b'));
    assert_int_equal(hc_registry_remove(w.reg, cfg.name), HC_OK);
    hc_cache_close(evil);

    /* --json: one object, the counters of the interval and the gauges. */
    snprintf(args, sizeof args, "--once --json --decl --interval 0.1 http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 0);
    json_error_t e;
    json_t *j = json_loads((const char *)out.data, 0, &e);
    if (!j) fail_msg("hcache-stat --json: %s: %s", e.text, (const char *)out.data);
    json_t *caches = json_object_get(j, "caches");
    assert_int_equal(json_array_size(caches), 2);
    json_t *busy = json_array_get(caches, 1);
    assert_string_equal(json_string_value(json_object_get(busy, "name")), "busy");
    hc_diagnostics d;
    hc_diagnostics_get(w.busy, &d);
    assert_int_equal(json_integer_value(json_object_get(busy, "entries")), d.entries);
    assert_true(json_is_null(json_object_get(busy, "hit_ratio")));     /* no requests in the interval */
    assert_true(json_is_real(json_object_get(busy, "hit_ratio_total")));
    assert_int_equal(json_array_size(json_object_get(busy, "declarations")), 2);
    json_decref(j);

    /* Unreachable: a port nobody listens on. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(probe, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(probe, (struct sockaddr *)&a, &al);
    unsigned dead = ntohs(a.sin_port);
    close(probe);
    snprintf(args, sizeof args, "--once http://127.0.0.1:%u", dead);
    assert_int_equal(run_stat(args, &out), 1);
    assert_non_null(strstr((const char *)out.data, "cannot read"));

    /* A wrong base path. */
    snprintf(args, sizeof args, "--once --base-path /nope http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 1);
    assert_non_null(strstr((const char *)out.data, "404"));

    /* A token, missing and wrong, then right. */
    hc_actuator_stop(w.act);
    w.act = NULL;
    start("tok", NULL);
    snprintf(args, sizeof args, "--once http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 1);
    assert_non_null(strstr((const char *)out.data, "401"));
    assert_non_null(strstr((const char *)out.data, "--token"));
    snprintf(args, sizeof args, "--once --token bad http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 1);
    assert_non_null(strstr((const char *)out.data, "refused the token"));
    snprintf(args, sizeof args, "--once --interval 0.1 --token tok http://127.0.0.1:%u", w.port);
    assert_int_equal(run_stat(args, &out), 0);

    /* Something else answers. */
    fake_server fs = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0, 0};
    struct sockaddr_in fa = {0};
    fa.sin_family = AF_INET;
    fa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t fl = sizeof fa;
    assert_int_equal(bind(fs.fd, (struct sockaddr *)&fa, sizeof fa), 0);
    assert_int_equal(listen(fs.fd, 8), 0);
    getsockname(fs.fd, (struct sockaddr *)&fa, &fl);
    fs.port = ntohs(fa.sin_port);
    assert_int_equal(pthread_create(&fs.t, NULL, fake_serve, &fs), 0);
    snprintf(args, sizeof args, "--once http://127.0.0.1:%u", fs.port);
    assert_int_equal(run_stat(args, &out), 1);
    assert_non_null(strstr((const char *)out.data, "not a HydraCache actuator"));
    shutdown(fs.fd, SHUT_RDWR);
    close(fs.fd);
    pthread_join(fs.t, NULL);

    /* Bad arguments. */
    assert_int_equal(run_stat("", &out), 2);
    assert_int_equal(run_stat("--interval 0 http://x", &out), 2);
    assert_int_equal(run_stat("--frobnicate http://x", &out), 2);
    assert_int_equal(run_stat("--help", &out), 0);
    assert_non_null(strstr((const char *)out.data, "usage:"));
    hc_buf_free(&out);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_wakes_every_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hcache_stat, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
