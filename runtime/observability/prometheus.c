/*
** prometheus.c -- the Prometheus text exposition format, version 0.0.4.
**
** One family per metric, its samples together, each with HELP and TYPE:
** the counters of HC_STATS_MAP as hydracache_<name>_total, the shape of
** the cache as gauges, and per declaration the counters of
** HC_DECL_STATS_MAP as hydracache_decl_<name>_total with the loader's time
** as the histogram hydracache_decl_load_duration_seconds. Label values are
** made valid UTF-8 and escaped (\\, \", \n) as the format asks.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_int.h"

typedef struct out {
    hc_buf *b;
    int     rc;
} out;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void pf(out *o, const char *fmt, ...)
{
    if (o->rc != HC_OK) return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->rc = HC_EINVAL;
    } else if ((size_t)n < sizeof small) {
        o->rc = hc_buf_append(o->b, small, (size_t)n);
    } else if ((o->rc = hc_buf_reserve(o->b, (size_t)n)) == HC_OK) {
        va_start(ap, fmt);
        vsnprintf((char *)o->b->data + o->b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        o->b->len += (size_t)n;
    }
}

static void put(out *o, const char *s)
{
    if (o->rc == HC_OK) o->rc = hc_buf_append_str(o->b, s);
}

/* s as a label value (without the quotes), into o. */
static void label_value(out *o, const char *s)
{
    char *clean = hc__utf8_clean(s);
    if (!clean) {
        o->rc = HC_ENOMEM;
        return;
    }
    for (const char *p = clean; *p && o->rc == HC_OK; p++) {
        switch (*p) {
        case '\\': put(o, "\\\\"); break;
        case '"': put(o, "\\\""); break;
        case '\n': put(o, "\\n"); break;
        default: o->rc = hc_buf_append(o->b, p, 1);
        }
    }
    free(clean);
}

/* The labels of each cache, `cache="..."`, and of each declaration,
   `cache="...",decl="module.name"`, made once. */
typedef struct labels {
    char  *cache;
    char **decl;                     /* ndecls */
} labels;

static char *take(hc_buf *b)
{
    char *s = (char *)b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

static int make_labels(const hc__obs_snap *s, labels *l)
{
    for (size_t i = 0; i < s->n; i++) {
        const hc__obs_cache *oc = &s->v[i];
        hc_buf b = HC_BUF_INIT;
        out o = {&b, HC_OK};
        put(&o, "cache=\"");
        label_value(&o, oc->name);
        put(&o, "\"");
        if (o.rc != HC_OK) {
            hc_buf_free(&b);
            return o.rc;
        }
        l[i].cache = take(&b);
        l[i].decl = calloc(oc->ndecls ? oc->ndecls : 1, sizeof *l[i].decl);
        if (!l[i].decl) return HC_ENOMEM;
        for (size_t k = 0; k < oc->ndecls; k++) {
            put(&o, l[i].cache);
            put(&o, ",decl=\"");
            label_value(&o, oc->decls[k].module);
            put(&o, ".");
            label_value(&o, oc->decls[k].name);
            put(&o, "\"");
            if (o.rc != HC_OK) {
                hc_buf_free(&b);
                return o.rc;
            }
            l[i].decl[k] = take(&b);
        }
    }
    return HC_OK;
}

static void free_labels(const hc__obs_snap *s, labels *l)
{
    for (size_t i = 0; i < s->n; i++) {
        free(l[i].cache);
        for (size_t k = 0; l[i].decl && k < s->v[i].ndecls; k++) free(l[i].decl[k]);
        free(l[i].decl);
    }
    free(l);
}

static void family(out *o, const char *name, const char *help, const char *type)
{
    pf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The gauges of a cache's shape: offsetof into hc_diagnostics. */
static const struct gauge {
    const char *name, *help;
    size_t      off;
} gauges[] = {
    {"hydracache_entries", "live entries", offsetof(hc_diagnostics, entries)},
    {"hydracache_weighted_bytes", "key and value bytes of the entries", offsetof(hc_diagnostics, weighted_bytes)},
    {"hydracache_tags", "distinct tags carried by entries", offsetof(hc_diagnostics, tags)},
    {"hydracache_loads_in_flight", "loads running now", offsetof(hc_diagnostics, loads_in_flight)},
    {"hydracache_max_entries", "configured bound on entries (0: unbounded)", offsetof(hc_diagnostics, max_entries)},
    {"hydracache_max_bytes", "configured bound on weighted bytes (0: unbounded)", offsetof(hc_diagnostics, max_bytes)},
    {"hydracache_window_entries", "the eviction policy's adaptive window", offsetof(hc_diagnostics, window_entries)},
};

static uint64_t field(const hc_diagnostics *d, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)d + off, sizeof v);
    return v;
}

static void cache_metrics(out *o, const hc__obs_snap *s, const labels *l)
{
#define XX(name, desc)                                                              \
    family(o, "hydracache_" #name "_total", desc, "counter");                       \
    for (size_t i = 0; i < s->n; i++)                                               \
        pf(o, "hydracache_" #name "_total{%s} %llu\n", l[i].cache,                  \
           (unsigned long long)s->v[i].d.stats.name);
    HC_STATS_MAP(XX)
#undef XX
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        family(o, gauges[g].name, gauges[g].help, "gauge");
        for (size_t i = 0; i < s->n; i++)
            pf(o, "%s{%s} %llu\n", gauges[g].name, l[i].cache,
               (unsigned long long)field(&s->v[i].d, gauges[g].off));
    }
    family(o, "hydracache_up", "1 when the cache is healthy, 0 when not (a bus that lost its connection)",
           "gauge");
    for (size_t i = 0; i < s->n; i++) pf(o, "hydracache_up{%s} %d\n", l[i].cache, s->v[i].up ? 1 : 0);
}

static void decl_metrics(out *o, const hc__obs_snap *s, const labels *l)
{
    bool any = false;
    for (size_t i = 0; i < s->n; i++) any |= s->v[i].ndecls > 0;
    if (!any) return;
#define XX(name, desc)                                                              \
    family(o, "hydracache_decl_" #name "_total", desc, "counter");                  \
    for (size_t i = 0; i < s->n; i++)                                               \
        for (size_t k = 0; k < s->v[i].ndecls; k++)                                 \
            pf(o, "hydracache_decl_" #name "_total{%s} %llu\n", l[i].decl[k],       \
               (unsigned long long)s->v[i].decls[k].name);
    HC_DECL_STATS_MAP(XX)
#undef XX
    const char *h = "hydracache_decl_load_duration_seconds";
    family(o, h, "time the declaration's loader took", "histogram");
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->v[i].ndecls; k++) {
            const hc_decl_stats *ds = &s->v[i].decls[k];
            uint64_t cum = 0;
            for (unsigned b = 0; b < HC_DECL_BUCKETS; b++) {
                cum += ds->load_buckets[b];
                pf(o, "%s_bucket{%s,le=\"%g\"} %llu\n", h, l[i].decl[k],
                   (double)hc_decl_bucket_bound_ns(b) / 1e9, (unsigned long long)cum);
            }
            cum += ds->load_buckets[HC_DECL_BUCKETS];
            pf(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", h, l[i].decl[k], (unsigned long long)cum);
            pf(o, "%s_sum{%s} %.9g\n", h, l[i].decl[k], (double)ds->load_ns_sum / 1e9);
            pf(o, "%s_count{%s} %llu\n", h, l[i].decl[k], (unsigned long long)cum);
        }
    }
}

int hc__prometheus(const hc__obs_snap *s, hc_buf *b)
{
    hc_buf_reset(b);
    labels *l = calloc(s->n ? s->n : 1, sizeof *l);
    if (!l) return HC_ENOMEM;
    out o = {b, make_labels(s, l)};
    /* Labels that could not all be made leave NULLs the writers would read. */
    if (o.rc == HC_OK) {
        cache_metrics(&o, s, l);
        decl_metrics(&o, s, l);
    }
    if (o.rc == HC_OK) o.rc = hc_buf_reserve(b, 0);     /* data, even when empty */
    free_labels(s, l);
    if (o.rc != HC_OK) hc_buf_reset(b);
    return o.rc;
}
