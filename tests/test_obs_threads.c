/*
** test_obs_threads.c -- scrapes while other threads write, invalidate and
** count per declaration, and the registry's add and remove racing them;
** run under ThreadSanitizer by `make check`. Work is counted in
** iterations, never in time.
*/
#include <pthread.h>

#include "obs_testutil.h"

#define WRITES    20000
#define SCRAPES   400
#define HTTPS     200
#define CHURNS    300

typedef struct world {
    hc_bus      *bus;
    hc_cache    *alpha, *alpha_peer, *beta;
    hc_registry *reg;
    hc_actuator *act;
    unsigned     port;
    pthread_mutex_t churn_lock;     /* guards churn: only the churner closes it */
    hc_cache    *churn;
} world;

static world w;
static hc_decl decl_get = {"threads", "get", HC_DECL_QUERY, 0};
static hc_decl decl_load = {"threads", "load", HC_DECL_CACHEABLE, 0};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static hc_cache *open_named(const char *name, hc_bus *bus, const char *node)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = name;
    cfg.max_entries = 256;
    cfg.bus = bus;
    cfg.node_id = node;
    cfg.event_buffer = 8;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static int load_num(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    char v[32];
    int n = snprintf(v, sizeof v, "%lu", (unsigned long)(uintptr_t)ctx);
    return hc_buf_set(out, v, (size_t)n);
}

static void *writer(void *arg)
{
    hc_cache *c = arg;
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    hc_subscription *sub = NULL;
    (void)hc_subscribe(c, NULL, &sub);               /* events, and some lag */
    uint64_t seed = (uintptr_t)arg;
    for (int i = 0; i < WRITES; i++) {
        char key[32], tag[16];
        unsigned k = (unsigned)(splitmix(&seed) % 500);
        snprintf(key, sizeof key, "k%u", k);
        snprintf(tag, sizeof tag, "t%u", k % 7);
        const char *tags[] = {tag};
        hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 1};
        switch (i % 10) {
        case 0: case 1: case 2:
            (void)hc_put(c, key, "value", 5, &o);
            break;
        case 3:
            (void)hc_invalidate_tag(c, tag, NULL);
            break;
        case 4:
            if (i % 500 == 4) (void)hc_flush(c);
            else (void)hc_remove(c, key);
            break;
        default: {
            int rc = hc_decl_get_or_load(c, &decl_load, key, &o, load_num, (void *)(uintptr_t)k, &v, &err);
            hc_decl_call(c, &decl_load, false);
            hc_decl_call(c, &decl_get, hc_get(c, key, &v) == HC_OK);
            if (rc != HC_OK) return (void *)1;
        }
        }
        if (sub && i % 64 == 0) {
            hc_event ev;
            while (hc_subscription_recv(sub, &ev, 0) != HC_ETIMEDOUT) {}
        }
    }
    hc_subscription_close(sub);
    hc_buf_free(&v);
    return NULL;
}

static void *scraper(void *arg)
{
    (void)arg;
    hc_buf b = HC_BUF_INIT;
    for (int i = 0; i < SCRAPES; i++) {
        if (hc_registry_json(w.reg, &b) != HC_OK) return (void *)1;
        if (hc_registry_prometheus(w.reg, &b) != HC_OK) return (void *)1;
        if (hc_cache_diagnostics_json(w.alpha, &b) != HC_OK) return (void *)1;
        if (hc_cache_stats_json(w.beta, &b) != HC_OK) return (void *)1;
    }
    hc_buf_free(&b);
    return NULL;
}

static void *http_scraper(void *arg)
{
    (void)arg;
    const char *paths[] = {"/metrics", "/actuator/hydracache/caches", "/actuator/hydracache/health",
                           "/actuator/hydracache/caches/churn/diagnostics"};
    for (int i = 0; i < HTTPS; i++) {
        const char *p = paths[i % 4];
        http_res r = http_get(w.port, p, NULL);
        long st = r.status;
        http_free(&r);
        /* churn may be between its removal and its return: 404 then. */
        if (st != 200 && !(st == 404 && strstr(p, "churn"))) return (void *)1;
    }
    return NULL;
}

/* Remove the churn cache, close it (a scrape must not be reading it any
   more), open a new one and add it, again and again. */
static void *churner(void *arg)
{
    (void)arg;
    for (int i = 0; i < CHURNS; i++) {
        if (hc_registry_remove(w.reg, "churn") != HC_OK) return (void *)1;
        pthread_mutex_lock(&w.churn_lock);
        hc_cache_close(w.churn);
        w.churn = open_named("churn", NULL, NULL);
        hc_decl_call(w.churn, &decl_get, true);
        pthread_mutex_unlock(&w.churn_lock);
        if (hc_registry_add(w.reg, w.churn) != HC_OK) return (void *)1;
        if (hc_registry_add(w.reg, w.churn) != HC_EEXIST) return (void *)1;
    }
    return NULL;
}

static void test_scrapes_race_writers_and_churn(void **state)
{
    (void)state;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.churn_lock, NULL);
    assert_int_equal(hc_bus_memory_new(&w.bus, 64), HC_OK);
    w.alpha = open_named("alpha", w.bus, "n1");
    w.alpha_peer = open_named("alpha", w.bus, "n2");
    w.beta = open_named("beta", NULL, NULL);
    w.churn = open_named("churn", NULL, NULL);
    assert_int_equal(hc_registry_new(&w.reg), HC_OK);
    assert_int_equal(hc_registry_add(w.reg, w.alpha), HC_OK);
    assert_int_equal(hc_registry_add(w.reg, w.beta), HC_OK);
    assert_int_equal(hc_registry_add(w.reg, w.churn), HC_OK);
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = 0;
    hc_error err;
    assert_int_equal(hc_actuator_start(&w.act, w.reg, &o, &err), HC_OK);
    w.port = hc_actuator_port(w.act);
    http_wait_ready(w.port, "/actuator/hydracache", NULL);

    pthread_t t[7];
    assert_int_equal(pthread_create(&t[0], NULL, writer, w.alpha), 0);
    assert_int_equal(pthread_create(&t[1], NULL, writer, w.alpha_peer), 0);
    assert_int_equal(pthread_create(&t[2], NULL, writer, w.beta), 0);
    assert_int_equal(pthread_create(&t[3], NULL, scraper, NULL), 0);
    assert_int_equal(pthread_create(&t[4], NULL, scraper, NULL), 0);
    assert_int_equal(pthread_create(&t[5], NULL, http_scraper, NULL), 0);
    assert_int_equal(pthread_create(&t[6], NULL, churner, NULL), 0);
    for (int i = 0; i < 7; i++) {
        void *r;
        pthread_join(t[i], &r);
        if (r) fail_msg("thread %d failed", i);
    }

    /* Quiet now: the documents agree with the counters. */
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_cache_stats_json(w.alpha, &b), HC_OK);
    json_error_t e;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &e);
    assert_non_null(j);
    hc_stats s;
    hc_stats_get(w.alpha, &s);
#define XX(name, desc) assert_int_equal(json_integer_value(json_object_get(j, #name)), s.name);
    HC_STATS_MAP(XX)
#undef XX
    json_decref(j);
    hc_decl_stats ds;
    assert_int_equal(hc_decl_stats_get(w.alpha, "threads", "get", &ds), HC_OK);
    assert_int_equal(ds.calls, WRITES / 10 * 5);
    assert_int_equal(hc_decl_stats_get(w.alpha, "threads", "load", &ds), HC_OK);
    assert_int_equal(ds.misses, WRITES / 10 * 5);
    assert_int_equal(ds.calls, WRITES / 10 * 5);
    hc_buf_free(&b);

    hc_actuator_stop(w.act);
    hc_registry_free(w.reg);
    hc_cache_close(w.alpha);
    hc_cache_close(w.alpha_peer);
    hc_cache_close(w.beta);
    hc_cache_close(w.churn);
    hc_bus_free(w.bus);
    pthread_mutex_destroy(&w.churn_lock);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrapes_race_writers_and_churn),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
