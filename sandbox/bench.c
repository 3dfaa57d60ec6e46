/*
** bench.c -- the manual benchmark and the comparison of two runs.
**
** A benchmark runs on a cache of its own (so it neither fills nor skews
** the lab's), through hc_get_or_load with a loader that may wait: the
** read-through path an application's cached calls take. Keys are drawn
** uniformly or from a Zipf distribution, by a seeded generator per thread,
** so two runs with the same settings ask for the same keys.
*/
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

/* Loading per thread (max_loading_ms, at most this): keys x delay / threads
   above it is refused before the run; a run whose loads go past it anyway
   (a capacity below the keys or a short TTL loads keys again) is stopped
   and refused. */
#define MAX_LOADER_WORK_MS 30000

typedef struct bench {
    hc_cache *c;
    size_t    keys;
    double   *cdf;                  /* Zipf; NULL: uniform */
    int64_t   delay_ms;
    uint64_t  ttl_ms;
    uint64_t  budget_ms;            /* max_loading_ms x threads of delays */
    atomic_uint_fast64_t loader_calls;
    atomic_uint_fast64_t delayed_ms;
    atomic_bool over;               /* the delays passed budget_ms: stop */
} bench;

typedef struct worker {
    bench   *b;
    size_t   ops;
    uint64_t seed;
    double  *lat;                   /* ops latencies, ms */
    int      errors;
} worker;

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64: small, and good enough to draw keys. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t draw(const bench *b, uint64_t *s)
{
    uint64_t r = next_rand(s);
    if (!b->cdf) return (size_t)(r % b->keys);
    double u = (double)(r >> 11) / 9007199254740992.0;     /* [0, 1) */
    size_t lo = 0, hi = b->keys - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int bench_loader(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    bench *b = ctx;
    atomic_fetch_add(&b->loader_calls, 1);
    if (b->delay_ms > 0) {
        uint64_t d = (uint64_t)b->delay_ms;
        if (atomic_fetch_add(&b->delayed_ms, d) + d > b->budget_ms) atomic_store(&b->over, true);
        else sb_sleep_ms(d);
    }
    return hc_buf_set(out, "a value worth caching", 21);
}

static void *bench_thread(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    hc_buf v = HC_BUF_INIT;
    hc_options o = {.ttl_ms = b->ttl_ms, .tags = NULL, .ntags = 0};
    char key[32];
    for (size_t i = 0; i < w->ops && !atomic_load_explicit(&b->over, memory_order_relaxed); i++) {
        snprintf(key, sizeof key, "bench:%zu", draw(b, &w->seed));
        double t0 = sb_now_ms_f();
        if (hc_get_or_load(b->c, key, &o, bench_loader, b, &v, NULL) != HC_OK) w->errors++;
        w->lat[i] = sb_now_ms_f() - t0;
    }
    hc_buf_free(&v);
    return NULL;
}

json_t *sb_bench_run(sb_flow *f, const json_t *args, sb_err *e)
{
    size_t requests = (size_t)sb_arg_int(args, "requests", 10000);
    unsigned threads = (unsigned)sb_arg_int(args, "concurrency", 4);
    size_t keys = (size_t)sb_arg_int(args, "keys", 1000);
    const char *dist = sb_arg_str(args, "distribution", "uniform");
    double zipf_s = json_is_number(json_object_get(args, "zipf_s")) ? json_number_value(json_object_get(args, "zipf_s")) : 1.0;
    int64_t delay = sb_arg_int(args, "loader_delay_ms", 0);
    uint64_t ttl = (uint64_t)sb_arg_int(args, "ttl_ms", 60000);
    uint64_t capacity = (uint64_t)sb_arg_int(args, "capacity", (int64_t)keys);
    uint64_t seed = (uint64_t)sb_arg_int(args, "seed", 42);
    int64_t max_loading = sb_arg_int(args, "max_loading_ms", MAX_LOADER_WORK_MS);
    if (threads > requests) threads = (unsigned)requests;
    /* Every key loads at least once: bound the time that takes. */
    size_t loads = keys < requests ? keys : requests;
    if (delay > 0 && (double)loads * (double)delay / threads > (double)max_loading)
        return sb_fail(e, 400, "too_much", "%zu keys x %lld ms / %u threads is more than %lld ms of loading: "
                       "fewer keys, a shorter delay or more concurrency", loads, (long long)delay, threads,
                       (long long)max_loading),
               NULL;
    bench b = {.keys = keys, .delay_ms = delay, .ttl_ms = ttl, .budget_ms = (uint64_t)max_loading * threads};
    atomic_init(&b.loader_calls, 0);
    atomic_init(&b.delayed_ms, 0);
    atomic_init(&b.over, false);
    if (strcmp(dist, "zipf") == 0) {
        b.cdf = malloc(keys * sizeof *b.cdf);
        if (!b.cdf) return sb_fail(e, 500, "internal", "out of memory"), NULL;
        double sum = 0;
        for (size_t i = 0; i < keys; i++) sum += 1.0 / pow((double)(i + 1), zipf_s);
        double acc = 0;
        for (size_t i = 0; i < keys; i++) b.cdf[i] = (acc += 1.0 / pow((double)(i + 1), zipf_s) / sum);
        b.cdf[keys - 1] = 1.0;
    }
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "benchmark";
    cfg.max_entries = capacity;
    if (hc_cache_open(&b.c, &cfg) != HC_OK) {
        free(b.cdf);
        return sb_fail(e, 500, "internal", "cannot open a cache"), NULL;
    }
    worker *w = calloc(threads, sizeof *w);
    pthread_t *th = calloc(threads, sizeof *th);
    double *lat = malloc(requests * sizeof *lat);
    unsigned started = 0;
    double t0 = sb_now_ms_f();
    for (size_t off = 0; w && th && lat && started < threads; started++) {
        worker *x = &w[started];
        x->b = &b;
        x->ops = requests / threads + (started < requests % threads);
        x->seed = seed * 1000003u + started;
        x->lat = lat + off;
        off += x->ops;
        if (pthread_create(&th[started], NULL, bench_thread, x) != 0) break;
    }
    for (unsigned i = 0; i < started; i++) pthread_join(th[i], NULL);
    double elapsed = sb_now_ms_f() - t0;
    hc_stats s;
    hc_stats_get(b.c, &s);
    hc_cache_close(b.c);
    free(b.cdf);
    if (started < threads) {
        free(w);
        free(th);
        free(lat);
        return sb_fail(e, 500, "internal", "cannot start %u threads", threads), NULL;
    }
    int errors = 0;
    for (unsigned i = 0; i < threads; i++) errors += w[i].errors;
    free(w);
    free(th);
    uint64_t calls = atomic_load(&b.loader_calls);
    if (atomic_load(&b.over)) {
        free(lat);
        return sb_fail(e, 400, "too_much", "stopped after %llu loader calls of %lld ms on %u threads: more than "
                       "%lld ms of loading (a capacity below the keys or a short ttl_ms loads keys again): "
                       "fewer requests, a shorter delay or more concurrency", (unsigned long long)calls,
                       (long long)delay, threads, (long long)max_loading),
               NULL;
    }
    double ratio = hc_stats_hit_ratio(&s);
    json_t *out = json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:I, s:I, s:f, s:I, s:I, s:i, s:o}",
                            "requests", (json_int_t)requests, "concurrency", (json_int_t)threads, "keys",
                            (json_int_t)keys, "distribution", dist, "loader_delay_ms", (json_int_t)delay, "capacity",
                            (json_int_t)capacity, "seed", (json_int_t)seed, "elapsed_ms", elapsed, "throughput_rps",
                            elapsed > 0 ? (double)requests / (elapsed / 1000.0) : 0.0, "loader_calls",
                            (json_int_t)calls, "loader_call_ratio", (double)calls / (double)requests, "hits",
                            (json_int_t)s.hits, "misses", (json_int_t)s.misses, "hit_ratio", ratio == ratio ? ratio : 0.0,
                            "single_flight_joins", (json_int_t)s.single_flight_joins, "evictions",
                            (json_int_t)s.evictions, "errors", errors, "latency", sb_summarize(lat, lat ? requests : 0));
    if (strcmp(dist, "zipf") == 0) json_object_set_new(out, "zipf_s", json_real(zipf_s));
    free(lat);
    sb_latency_add("benchmark_request_mean", json_number_value(json_object_get(json_object_get(out, "latency"), "mean_ms")));
    sb_flow_note(f, "benchmark-run", json_pack("{s:I, s:I, s:s, s:f, s:f, s:I}", "requests", (json_int_t)requests,
                                               "concurrency", (json_int_t)threads, "distribution", dist,
                                               "throughput_rps", json_number_value(json_object_get(out, "throughput_rps")),
                                               "hit_ratio", ratio == ratio ? ratio : 0.0, "loader_calls", (json_int_t)calls));
    return out;
}

/* One side of a comparison: an earlier result as it is, or settings to run. */
static json_t *side(sb_flow *f, const json_t *v, const char *which, sb_err *e)
{
    if (json_object_get(v, "throughput_rps")) {
        if (!json_is_number(json_object_get(v, "throughput_rps")) ||
            !json_is_number(json_object_get(json_object_get(v, "latency"), "p95_ms")) ||
            !json_is_number(json_object_get(v, "loader_call_ratio")))
            return sb_fail(e, 400, "invalid", "body.%s: a result needs throughput_rps, latency.p95_ms and "
                           "loader_call_ratio", which), NULL;
        return json_deep_copy(v);
    }
    char where[32];
    snprintf(where, sizeof where, "body.%s", which);
    json_t *schema = sb_schema_parse(SB_BENCH_REQUEST, true, e);
    int rc = schema ? sb_schema_check(schema, v, where, e) : -1;
    json_decref(schema);
    return rc == 0 ? sb_bench_run(f, v, e) : NULL;
}

/* Within 5% counts as the same: runs on a busy machine vary that much. */
static int judge(double base, double cand, bool higher_is_better)
{
    if (base == 0 && cand == 0) return 0;
    double rel = base != 0 ? (cand - base) / fabs(base) : (cand > 0 ? 1 : -1);
    if (fabs(rel) <= 0.05) return 0;
    return (rel > 0) == higher_is_better ? 1 : -1;
}

json_t *sb_bench_compare(sb_flow *f, const json_t *args, sb_err *e)
{
    json_t *base = side(f, json_object_get(args, "baseline"), "baseline", e);
    if (!base) return NULL;
    json_t *cand = side(f, json_object_get(args, "candidate"), "candidate", e);
    if (!cand) {
        json_decref(base);
        return NULL;
    }
    struct { const char *name; double b, c; bool higher; } m[] = {
        {"throughput_rps", json_number_value(json_object_get(base, "throughput_rps")),
         json_number_value(json_object_get(cand, "throughput_rps")), true},
        {"p95_ms", json_number_value(json_object_get(json_object_get(base, "latency"), "p95_ms")),
         json_number_value(json_object_get(json_object_get(cand, "latency"), "p95_ms")), false},
        {"loader_call_ratio", json_number_value(json_object_get(base, "loader_call_ratio")),
         json_number_value(json_object_get(cand, "loader_call_ratio")), false},
    };
    json_t *deltas = json_object();
    int better = 0, worse = 0;
    for (size_t i = 0; i < 3; i++) {
        int j = judge(m[i].b, m[i].c, m[i].higher);
        better += j > 0;
        worse += j < 0;
        json_object_set_new(deltas, m[i].name,
                            json_pack("{s:f, s:f, s:f, s:o, s:s}", "baseline", m[i].b, "candidate", m[i].c, "delta",
                                      m[i].c - m[i].b, "ratio", m[i].b != 0 ? json_real(m[i].c / m[i].b) : json_null(),
                                      "judged", j > 0 ? "better" : j < 0 ? "worse" : "same"));
    }
    const char *verdict = better && !worse ? "candidate-better" : worse && !better ? "candidate-worse" : "mixed";
    sb_flow_note(f, "benchmark-compare", json_pack("{s:s}", "verdict", verdict));
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:s}", "verdict", verdict, "flow_id", f->id, "baseline", base,
                     "candidate", cand, "deltas", deltas, "rule",
                     "throughput (higher), p95 latency and loader calls per request (lower): a change within 5% "
                     "is the same; better when none is worse, worse when none is better, else mixed");
}
