/*
** test_observability.c -- the registry, the JSON documents (parsed back
** with jansson and compared field by field with hc_stats_get and
** hc_diagnostics_get) and the Prometheus text (checked by promtool and
** read back line by line), without HTTP: test_actuator serves them.
*/
#include <math.h>

#include "obs_testutil.h"

typedef struct world {
    test_clock tc;
    fake_bus   f;
    hc_bus    *bus;
    hc_cache  *busy, *idle;
    hc_registry *reg;
} world;

static world w;

static int setup(void **state)
{
    (void)state;
    memset(&w, 0, sizeof w);
    w.bus = fake_bus_new(&w.f);
    w.busy = busy_open("busy", w.bus, &w.tc);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "idle";
    if (hc_cache_open(&w.idle, &cfg) != HC_OK) return -1;
    make_busy(w.busy, &w.f, &w.tc);
    if (hc_registry_new(&w.reg) != HC_OK) return -1;
    if (hc_registry_add(w.reg, w.idle) != HC_OK || hc_registry_add(w.reg, w.busy) != HC_OK) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_registry_free(w.reg);
    hc_cache_close(w.busy);
    hc_cache_close(w.idle);
    hc_bus_free(w.bus);
    return 0;
}

static json_t *parse(const hc_buf *b)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &e);
    if (!j) fail_msg("not JSON (%s): %.300s", e.text, (const char *)b->data);
    return j;
}

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) fail_msg("'%s' is not an integer", k);
    return (uint64_t)json_integer_value(v);
}

static bool jbool(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_boolean(v)) fail_msg("'%s' is not a boolean", k);
    return json_is_true(v);
}

/* Every field of the stats document o against s. */
static void check_stats(json_t *o, const hc_stats *s)
{
    int nonzero = 0;
#define XX(name, desc)                                          \
    assert_int_equal(jint(o, #name), s->name);                  \
    nonzero += s->name != 0;
    HC_STATS_MAP(XX)
#undef XX
    (void)nonzero;
    assert_int_equal(jint(o, "total_requests"), hc_stats_total_requests(s));
    json_t *hr = json_object_get(o, "hit_ratio");
    if (hc_stats_total_requests(s) == 0) {
        assert_true(json_is_null(hr));
    } else {
        assert_true(json_is_real(hr));
        assert_true(fabs(json_real_value(hr) - hc_stats_hit_ratio(s)) < 1e-8);
    }
    assert_int_equal(jbool(o, "has_single_flight_activity"), hc_stats_has_single_flight_activity(s));
    assert_int_equal(jbool(o, "has_stale_load_discards"), hc_stats_has_stale_load_discards(s));
    assert_int_equal(jbool(o, "has_subscriber_lag"), hc_stats_has_subscriber_lag(s));
    assert_int_equal(jbool(o, "has_bus_activity"), hc_stats_has_bus_activity(s));
    assert_int_equal(jbool(o, "has_bus_issues"), hc_stats_has_bus_issues(s));
}

/* ------------------------------------------------------------- tests */

static void test_busy_has_every_counter(void **state)
{
    (void)state;
    /* The fixture is only worth comparing against if it counted. */
    hc_stats s;
    hc_stats_get(w.busy, &s);
#define XX(name, desc) if (s.name == 0) fail_msg("make_busy left '%s' at 0", #name);
    HC_STATS_MAP(XX)
#undef XX
}

static void test_stats_json(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_cache_stats_json(w.busy, &b), HC_OK);
    hc_stats s;
    hc_stats_get(w.busy, &s);
    json_t *o = parse(&b);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "busy");
    check_stats(o, &s);
    assert_true(jbool(o, "has_single_flight_activity"));
    assert_true(jbool(o, "has_bus_issues"));
    json_decref(o);

    /* No requests: hit_ratio is null, every has_* false. */
    assert_int_equal(hc_cache_stats_json(w.idle, &b), HC_OK);
    o = parse(&b);
    hc_stats_get(w.idle, &s);
    check_stats(o, &s);
    assert_true(json_is_null(json_object_get(o, "hit_ratio")));
    assert_int_equal(jint(o, "total_requests"), 0);
    json_decref(o);

    assert_int_equal(hc_cache_stats_json(NULL, &b), HC_EINVAL);
    assert_int_equal(hc_cache_stats_json(w.busy, NULL), HC_EINVAL);
    hc_buf_free(&b);
}

static void check_decl(json_t *d, const hc_decl_stats *s)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", s->module, s->name);
    assert_string_equal(json_string_value(json_object_get(d, "decl")), full);
    assert_string_equal(json_string_value(json_object_get(d, "module")), s->module);
    assert_string_equal(json_string_value(json_object_get(d, "name")), s->name);
    assert_string_equal(json_string_value(json_object_get(d, "kind")), hc_decl_kind_name((int)s->kind));
#define XX(name, desc) assert_int_equal(jint(d, #name), s->name);
    HC_DECL_STATS_MAP(XX)
#undef XX
    json_t *t = json_object_get(d, "load_seconds");
    assert_true(json_is_object(t));
    assert_int_equal(jint(t, "count"), s->loads + s->load_failures);
    assert_true(fabs(json_number_value(json_object_get(t, "sum")) - (double)s->load_ns_sum / 1e9) < 1e-6);
    const char *q[] = {"p50", "p90", "p99"};
    double qv[] = {0.5, 0.9, 0.99};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(t, q[i]);
        double want = hc_decl_stats_quantile(s, qv[i]);
        if (isnan(want)) assert_true(json_is_null(v));
        else assert_true(fabs(json_number_value(v) - want) <= 1e-6 * want + 1e-12);
    }
}

typedef struct decl_list {
    hc_decl_stats v[8];
    int n;
} decl_list;

static int gather(void *ctx, const hc_decl_stats *s)
{
    decl_list *l = ctx;
    if (l->n < 8) l->v[l->n++] = *s;
    return 0;
}

static void test_diagnostics_json(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_cache_diagnostics_json(w.busy, &b), HC_OK);
    /* Read what the document was made from right after: the fixture is
       quiet, but diagnostics reclaim expired entries, so read twice. */
    hc_diagnostics d;
    hc_diagnostics_get(w.busy, &d);
    decl_list dl = {0};
    hc_decl_stats_each(w.busy, gather, &dl);
    json_t *o = parse(&b);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "busy");
    check_stats(o, &d.stats);
    assert_int_equal(jint(o, "entries"), d.entries);
    assert_int_equal(jint(o, "weighted_bytes"), d.weighted_bytes);
    assert_int_equal(jint(o, "tags"), d.tags);
    assert_int_equal(jint(o, "loads_in_flight"), d.loads_in_flight);
    assert_int_equal(jint(o, "max_entries"), 4);
    assert_int_equal(jint(o, "max_bytes"), d.max_bytes);
    assert_int_equal(jint(o, "window_entries"), d.window_entries);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "UP");
    assert_null(json_object_get(o, "reason"));
    json_t *decls = json_object_get(o, "declarations");
    assert_true(json_is_array(decls));
    assert_int_equal(json_array_size(decls), 2);
    assert_int_equal(dl.n, 2);
    for (int i = 0; i < 2; i++) check_decl(json_array_get(decls, (size_t)i), &dl.v[i]);
    /* What make_busy did to them. */
    assert_int_equal(dl.v[0].calls, 3);
    assert_int_equal(dl.v[0].hits, 2);
    assert_int_equal(dl.v[0].loads, 1);
    assert_int_equal(dl.v[1].load_failures, 1);
    json_t *hr = json_object_get(json_array_get(decls, 0), "hit_ratio");
    assert_true(fabs(json_real_value(hr) - 2.0 / 3.0) < 1e-8);
    json_decref(o);
    hc_buf_free(&b);
}

static void test_registry(void **state)
{
    (void)state;
    hc_registry *r;
    assert_int_equal(hc_registry_new(&r), HC_OK);
    assert_int_equal(hc_registry_add(r, w.busy), HC_OK);
    assert_int_equal(hc_registry_add(r, w.busy), HC_EEXIST);
    assert_string_equal(hc_strerror(HC_EEXIST), "already exists");
    assert_string_equal(hc_err_name(HC_EEXIST), "HC_EEXIST");
    assert_int_equal(hc_registry_remove(r, "nope"), HC_ENOTFOUND);
    assert_int_equal(hc_registry_remove(r, "busy"), HC_OK);
    assert_int_equal(hc_registry_remove(r, "busy"), HC_ENOTFOUND);
    assert_int_equal(hc_registry_add(r, w.busy), HC_OK);           /* back again */
    assert_int_equal(hc_registry_add(NULL, w.busy), HC_EINVAL);
    assert_int_equal(hc_registry_add(r, NULL), HC_EINVAL);
    assert_int_equal(hc_registry_remove(r, NULL), HC_EINVAL);
    assert_int_equal(hc_registry_new(NULL), HC_EINVAL);
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_registry_json(NULL, &b), HC_EINVAL);
    assert_int_equal(hc_registry_prometheus(r, NULL), HC_EINVAL);
    hc_registry_free(r);
    hc_registry_free(NULL);

    /* Empty: an empty list, and metrics text promtool accepts. */
    assert_int_equal(hc_registry_new(&r), HC_OK);
    assert_int_equal(hc_registry_json(r, &b), HC_OK);
    json_t *o = parse(&b);
    assert_int_equal(json_array_size(json_object_get(o, "caches")), 0);
    json_decref(o);
    assert_int_equal(hc_registry_prometheus(r, &b), HC_OK);
    hc_buf out = HC_BUF_INIT;
    if (promtool_check((const char *)b.data, &out) != 0) fail_msg("promtool: %s", (const char *)out.data);
    hc_buf_free(&out);
    hc_registry_free(r);
    hc_buf_free(&b);
}

static void test_registry_json(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_registry_json(w.reg, &b), HC_OK);
    json_t *o = parse(&b);
    json_t *caches = json_object_get(o, "caches");
    assert_int_equal(json_array_size(caches), 2);
    /* Sorted by name. */
    json_t *busy = json_array_get(caches, 0), *idle = json_array_get(caches, 1);
    assert_string_equal(json_string_value(json_object_get(busy, "name")), "busy");
    assert_string_equal(json_string_value(json_object_get(idle, "name")), "idle");
    hc_diagnostics d;
    hc_diagnostics_get(w.busy, &d);
    check_stats(json_object_get(busy, "stats"), &d.stats);
    assert_null(json_object_get(json_object_get(busy, "stats"), "name"));
    json_t *dg = json_object_get(busy, "diagnostics");
    assert_int_equal(jint(dg, "entries"), d.entries);
    assert_int_equal(jint(dg, "max_entries"), d.max_entries);
    assert_int_equal(jint(dg, "window_entries"), d.window_entries);
    assert_string_equal(json_string_value(json_object_get(busy, "status")), "UP");
    assert_int_equal(json_array_size(json_object_get(busy, "declarations")), 2);
    assert_int_equal(json_array_size(json_object_get(idle, "declarations")), 0);
    json_decref(o);
    hc_buf_free(&b);
}

/* ------------------------------------------------------------ metrics */

/* The value of the sample line that starts with "name{labels} ", or -1. */
static double sample_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static void test_prometheus(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT, out = HC_BUF_INIT;
    assert_int_equal(hc_registry_prometheus(w.reg, &b), HC_OK);
    const char *text = (const char *)b.data;
    if (promtool_check(text, &out) != 0) fail_msg("promtool: %s", (const char *)out.data);

    hc_diagnostics d;
    hc_diagnostics_get(w.busy, &d);
    char series[256];
#define XX(name, desc)                                                                  \
    snprintf(series, sizeof series, "hydracache_%s_total{cache=\"busy\"}", #name);      \
    assert_true(sample_of(text, series) == (double)d.stats.name);                       \
    snprintf(series, sizeof series, "# TYPE hydracache_%s_total counter\n", #name);     \
    assert_non_null(strstr(text, series));                                              \
    snprintf(series, sizeof series, "# HELP hydracache_%s_total %s\n", #name, desc);    \
    assert_non_null(strstr(text, series));
    HC_STATS_MAP(XX)
#undef XX
    assert_true(sample_of(text, "hydracache_entries{cache=\"busy\"}") == (double)d.entries);
    assert_true(sample_of(text, "hydracache_max_entries{cache=\"busy\"}") == 4);
    assert_true(sample_of(text, "hydracache_up{cache=\"busy\"}") == 1);
    assert_true(sample_of(text, "hydracache_entries{cache=\"idle\"}") == 0);
    assert_non_null(strstr(text, "# TYPE hydracache_entries gauge\n"));

    decl_list dl = {0};
    hc_decl_stats_each(w.busy, gather, &dl);
#define XX(name, desc)                                                                          \
    snprintf(series, sizeof series, "hydracache_decl_%s_total{cache=\"busy\",decl=\"busy.user_by_id\"}", #name); \
    assert_true(sample_of(text, series) == (double)dl.v[0].name);
    HC_DECL_STATS_MAP(XX)
#undef XX
    /* The histogram: cumulative, +Inf equals _count equals runs. */
    const char *h = "hydracache_decl_load_duration_seconds";
    double prev = 0;
    for (unsigned i = 0; i < HC_DECL_BUCKETS; i++) {
        snprintf(series, sizeof series, "%s_bucket{cache=\"busy\",decl=\"busy.score\",le=\"%g\"}", h,
                 (double)hc_decl_bucket_bound_ns(i) / 1e9);
        double v = sample_of(text, series);
        assert_true(v >= prev);
        prev = v;
    }
    snprintf(series, sizeof series, "%s_bucket{cache=\"busy\",decl=\"busy.score\",le=\"+Inf\"}", h);
    assert_true(sample_of(text, series) == 1);
    snprintf(series, sizeof series, "%s_count{cache=\"busy\",decl=\"busy.score\"}", h);
    assert_true(sample_of(text, series) == 1);
    assert_non_null(strstr(text, "# TYPE hydracache_decl_load_duration_seconds histogram\n"));
    hc_buf_free(&b);
    hc_buf_free(&out);
}

/* The allocations of the libraries (and of this file) come here
   (-Wl,--wrap=malloc,calloc,realloc: observability.mk): with countdown at
   k > 0, the k-th from then on fails. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
static atomic_long countdown;

static bool fail_now(void)
{
    return atomic_load(&countdown) > 0 && atomic_fetch_sub(&countdown, 1) == 1;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }

/*
** Every allocation of a document's making fails in turn: each answer is
** HC_OK or HC_ENOMEM with an empty buffer, never a crash. (The Prometheus
** writer read the labels it had failed to make: a NULL dereference.)
*/
static void test_documents_out_of_memory(void **state)
{
    (void)state;
    int (*docs[])(hc_registry *, hc_buf *) = {hc_registry_prometheus, hc_registry_json};
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        long k = 1;
        for (;; k++) {
            hc_buf b = HC_BUF_INIT;
            atomic_store(&countdown, k);
            int rc = docs[d](w.reg, &b);
            bool hit = atomic_load(&countdown) <= 0;        /* the k-th came */
            atomic_store(&countdown, 0);
            if (!hit) {
                assert_int_equal(rc, HC_OK);
                hc_buf_free(&b);
                break;
            }
            if (rc != HC_OK) {
                assert_int_equal(rc, HC_ENOMEM);
                assert_int_equal(b.len, 0);
            }
            hc_buf_free(&b);
        }
        assert_true(k > 5);                                 /* it did allocate */
    }
}

/* Names that need escaping, or are not UTF-8 at all. */
static void test_awkward_names(void **state)
{
    (void)state;
    const char *names[] = {"quo\"te", "back\\slash", "new\nline", "bad\xff\xfe utf8", "caf\xc3\xa9", "a/b"};
    enum { N = sizeof names / sizeof names[0] };
    hc_cache *c[N];
    hc_registry *r;
    assert_int_equal(hc_registry_new(&r), HC_OK);
    for (int i = 0; i < N; i++) {
        hc_config cfg;
        hc_config_init(&cfg);
        cfg.name = names[i];
        assert_int_equal(hc_cache_open(&c[i], &cfg), HC_OK);
        hc_decl_call(c[i], &busy_decl_a, true);
        assert_int_equal(hc_registry_add(r, c[i]), HC_OK);
    }
    hc_buf b = HC_BUF_INIT, out = HC_BUF_INIT;
    assert_int_equal(hc_registry_json(r, &b), HC_OK);
    json_t *o = parse(&b);
    json_t *caches = json_object_get(o, "caches");
    assert_int_equal(json_array_size(caches), N);
    int found = 0;
    for (size_t i = 0; i < N; i++) {
        const char *n = json_string_value(json_object_get(json_array_get(caches, i), "name"));
        if (strcmp(n, "quo\"te") == 0 || strcmp(n, "new\nline") == 0 || strcmp(n, "caf\xc3\xa9") == 0 ||
            strcmp(n, "bad\xef\xbf\xbd\xef\xbf\xbd utf8") == 0)
            found++;
    }
    assert_int_equal(found, 4);
    json_decref(o);

    assert_int_equal(hc_registry_prometheus(r, &b), HC_OK);
    if (promtool_check((const char *)b.data, &out) != 0) fail_msg("promtool: %s", (const char *)out.data);
    const char *text = (const char *)b.data;
    assert_non_null(strstr(text, "{cache=\"quo\\\"te\"}"));
    assert_non_null(strstr(text, "{cache=\"back\\\\slash\"}"));
    assert_non_null(strstr(text, "{cache=\"new\\nline\"}"));
    assert_non_null(strstr(text, "{cache=\"bad\xef\xbf\xbd\xef\xbf\xbd utf8\"}"));
    hc_buf_free(&b);
    hc_buf_free(&out);
    /* A name shown as another is (its bad bytes elsewhere): refused, so
       that no two caches share a series. */
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bad\xfe\xff utf8";
    hc_cache *twin;
    assert_int_equal(hc_cache_open(&twin, &cfg), HC_OK);
    assert_int_equal(hc_registry_add(r, twin), HC_EEXIST);
    assert_int_equal(hc_registry_remove(r, "bad\xff\xfe utf8"), HC_OK);
    assert_int_equal(hc_registry_add(r, twin), HC_OK);          /* its place is free now */
    assert_int_equal(hc_registry_remove(r, "bad\xfe\xff utf8"), HC_OK);
    hc_cache_close(twin);
    hc_registry_free(r);
    for (int i = 0; i < N; i++) hc_cache_close(c[i]);
}

/* ------------------------------------------------------------- health */

static void test_helpers_and_health(void **state)
{
    (void)state;
    hc_stats s;
    memset(&s, 0, sizeof s);
    assert_false(hc_stats_has_single_flight_activity(&s) || hc_stats_has_stale_load_discards(&s) ||
                 hc_stats_has_subscriber_lag(&s) || hc_stats_has_bus_activity(&s) ||
                 hc_stats_has_bus_issues(&s));
    s.single_flight_joins = 1;
    assert_true(hc_stats_has_single_flight_activity(&s));
    s.stale_load_discards = 1;
    assert_true(hc_stats_has_stale_load_discards(&s));
    s.event_subscriber_lagged = 1;
    assert_true(hc_stats_has_subscriber_lag(&s));
    s.bus_applied = 1;
    assert_true(hc_stats_has_bus_activity(&s));
    assert_false(hc_stats_has_bus_issues(&s));
    s.bus_malformed = 1;
    assert_true(hc_stats_has_bus_issues(&s));
    assert_false(hc_stats_has_bus_issues(NULL));

    hc_error err;
    assert_int_equal(hc_cache_health(w.busy, &err), HC_OK);
    assert_int_equal(hc_cache_health(w.idle, &err), HC_OK);     /* no bus */
    assert_int_equal(hc_cache_health(NULL, &err), HC_EINVAL);
    assert_int_equal(hc_bus_health(NULL, &err), HC_EINVAL);
    hc_bus_set_health(w.bus, false, "fake: connection lost");
    assert_int_equal(hc_bus_health(w.bus, &err), HC_EBUS);
    assert_string_equal(err.message, "fake: connection lost");
    assert_int_equal(hc_cache_health(w.busy, &err), HC_EBUS);

    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_cache_diagnostics_json(w.busy, &b), HC_OK);
    json_t *o = parse(&b);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "DOWN");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "fake: connection lost");
    json_decref(o);
    assert_int_equal(hc_registry_prometheus(w.reg, &b), HC_OK);
    assert_true(sample_of((const char *)b.data, "hydracache_up{cache=\"busy\"}") == 0);
    assert_true(sample_of((const char *)b.data, "hydracache_up{cache=\"idle\"}") == 1);

    hc_bus_set_health(w.bus, false, NULL);
    assert_int_equal(hc_bus_health(w.bus, &err), HC_EBUS);
    assert_string_equal(err.message, "bus down");
    hc_bus_set_health(w.bus, true, NULL);
    assert_int_equal(hc_cache_health(w.busy, &err), HC_OK);
    hc_buf_free(&b);
}

/* The actuator's routes answered without its server (hc_actuator_respond),
   as a program serving HTTP itself mounts them. */
static void test_respond_without_a_server(void **state)
{
    (void)state;
    unsigned status = 0;
    const char *type = NULL;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_actuator_respond(w.reg, "/ops/", "GET", "/ops/caches/busy/stats", false,
                                         &status, &type, &b), HC_OK);
    assert_int_equal(status, 200);
    assert_string_equal(type, "application/json");
    json_t *o = parse(&b);
    hc_stats st;
    hc_stats_get(w.busy, &st);
    assert_int_equal(json_integer_value(json_object_get(o, "hits")), st.hits);
    json_decref(o);

    assert_int_equal(hc_actuator_respond(w.reg, NULL, "GET", "/metrics", false, &status, &type, &b), HC_OK);
    assert_int_equal(status, 200);
    assert_non_null(strstr(type, "version=0.0.4"));
    assert_true(sample_of((const char *)b.data, "hydracache_up{cache=\"idle\"}") == 1);

    static const struct { const char *method, *path; bool body; unsigned status; } cases[] = {
        {"GET", "/ops", false, 200},                      /* the index */
        {"GET", "/ops/health", false, 200},
        {"GET", "/ops/caches/nope", false, 404},
        {"GET", "/ops/caches/bu%zzsy", false, 400},
        {"GET", "/elsewhere", false, 404},
        {"POST", "/ops/caches", false, 405},
        {"GET", "/ops/caches", true, 413},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(hc_actuator_respond(w.reg, "/ops", cases[i].method, cases[i].path, cases[i].body,
                                             &status, &type, &b), HC_OK);
        if (status != cases[i].status) fail_msg("%s %s: %u", cases[i].method, cases[i].path, status);
        assert_string_equal(type, "application/json");
        json_decref(parse(&b));
    }
    assert_int_equal(hc_actuator_respond(NULL, NULL, "GET", "/metrics", false, &status, &type, &b), HC_EINVAL);
    assert_int_equal(hc_actuator_respond(w.reg, "no-slash", "GET", "/metrics", false, &status, &type, &b),
                     HC_EINVAL);
    hc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_has_every_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diagnostics_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documents_out_of_memory, setup, teardown),
        cmocka_unit_test(test_awkward_names),
        cmocka_unit_test_setup_teardown(test_helpers_and_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_respond_without_a_server, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
