/*
** json.c -- the JSON documents, built with jansson from snapshots.
**
** Every hc_stats counter is written under its C name, from HC_STATS_MAP,
** and every per-declaration counter from HC_DECL_STATS_MAP: a counter added
** to the core appears here without an edit. docs/OBSERVABILITY.md shows
** each document.
**
** Out of memory: each builder returns NULL when any part could not be made
** (jansson's setters drop a NULL value and report it), and frees what it
** made.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "obs_int.h"

/* ------------------------------------------------------------- strings */

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    size_t len;
    uint32_t min, cp;
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) { len = 2; min = 0x80; cp = b & 0x1fu; }
    else if (b >= 0xe0 && b <= 0xef) { len = 3; min = 0x800; cp = b & 0x0fu; }
    else if (b >= 0xf0 && b <= 0xf4) { len = 4; min = 0x10000; cp = b & 0x07u; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

char *hc__utf8_clean(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);     /* each bad byte becomes 3 */
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            memcpy(out + w, p + i, k);
            w += k;
            i += k;
        } else {
            memcpy(out + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        }
    }
    out[w] = 0;
    return out;
}

json_t *hc__json_str(const char *s)
{
    json_t *j = json_string(s);        /* NULL for bad UTF-8, or out of memory */
    if (j) return j;
    char *clean = hc__utf8_clean(s);
    if (!clean) return NULL;
    j = json_string(clean);
    free(clean);
    return j;
}

/* ------------------------------------------------------------- helpers */

/* Set o[k] = v (stealing v); false when v is NULL or o cannot hold it. */
static bool set(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v) == 0;
}

static json_t *count(uint64_t v)
{
    return json_integer((json_int_t)(v > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : v));
}

/* A number, or null for NAN (no requests, nothing loaded). */
static json_t *real_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* o, or NULL (o freed) when a part was missing. */
static json_t *done(json_t *o, bool ok)
{
    if (ok) return o;
    json_decref(o);
    return NULL;
}

/* ----------------------------------------------------------- documents */

static bool put_stats(json_t *o, const hc_stats *s)
{
    bool ok = true;
#define XX(name, desc) ok &= set(o, #name, count(s->name));
    HC_STATS_MAP(XX)
#undef XX
    ok &= set(o, "total_requests", count(hc_stats_total_requests(s)));
    ok &= set(o, "hit_ratio", real_or_null(hc_stats_hit_ratio(s)));
    ok &= set(o, "has_single_flight_activity", json_boolean(hc_stats_has_single_flight_activity(s)));
    ok &= set(o, "has_stale_load_discards", json_boolean(hc_stats_has_stale_load_discards(s)));
    ok &= set(o, "has_subscriber_lag", json_boolean(hc_stats_has_subscriber_lag(s)));
    ok &= set(o, "has_bus_activity", json_boolean(hc_stats_has_bus_activity(s)));
    ok &= set(o, "has_bus_issues", json_boolean(hc_stats_has_bus_issues(s)));
    return ok;
}

/* What hc_diagnostics adds to the stats. */
static bool put_shape(json_t *o, const hc_diagnostics *d)
{
    bool ok = true;
    ok &= set(o, "entries", count(d->entries));
    ok &= set(o, "weighted_bytes", count(d->weighted_bytes));
    ok &= set(o, "tags", count(d->tags));
    ok &= set(o, "loads_in_flight", count(d->loads_in_flight));
    ok &= set(o, "max_entries", count(d->max_entries));
    ok &= set(o, "max_bytes", count(d->max_bytes));
    ok &= set(o, "window_entries", count(d->window_entries));
    return ok;
}

static bool put_status(json_t *o, const hc__obs_cache *oc)
{
    bool ok = set(o, "status", json_string(oc->up ? "UP" : "DOWN"));
    if (!oc->up) ok &= set(o, "reason", hc__json_str(oc->reason));
    return ok;
}

json_t *hc__json_stats(const hc__obs_cache *oc, bool named)
{
    json_t *o = json_object();
    if (!o) return NULL;
    bool ok = !named || set(o, "name", hc__json_str(oc->name));
    ok &= put_stats(o, &oc->d.stats);
    return done(o, ok);
}

static json_t *decl(const hc_decl_stats *s)
{
    json_t *o = json_object(), *t = json_object();
    if (!o || !t) {
        json_decref(o);
        json_decref(t);
        return NULL;
    }
    size_t n = strlen(s->module) + strlen(s->name) + 2;
    char *full = malloc(n);
    bool ok = full != NULL;
    if (full) {
        memcpy(full, s->module, strlen(s->module));
        full[strlen(s->module)] = '.';
        memcpy(full + strlen(s->module) + 1, s->name, strlen(s->name) + 1);
        ok &= set(o, "decl", hc__json_str(full));
        free(full);
    }
    ok &= set(o, "module", hc__json_str(s->module));
    ok &= set(o, "name", hc__json_str(s->name));
    ok &= set(o, "kind", json_string(hc_decl_kind_name((int)s->kind)));
#define XX(name, desc) ok &= set(o, #name, count(s->name));
    HC_DECL_STATS_MAP(XX)
#undef XX
    uint64_t lookups = s->hits + s->misses;
    ok &= set(o, "hit_ratio", lookups ? json_real((double)s->hits / (double)lookups) : json_null());
    ok &= set(t, "count", count(s->loads + s->load_failures));
    ok &= set(t, "sum", json_real((double)s->load_ns_sum / 1e9));
    ok &= set(t, "p50", real_or_null(hc_decl_stats_quantile(s, 0.50)));
    ok &= set(t, "p90", real_or_null(hc_decl_stats_quantile(s, 0.90)));
    ok &= set(t, "p99", real_or_null(hc_decl_stats_quantile(s, 0.99)));
    ok &= set(o, "load_seconds", t);
    return done(o, ok);
}

static json_t *decl_array(const hc__obs_cache *oc)
{
    json_t *a = json_array();
    if (!a) return NULL;
    bool ok = true;
    for (size_t i = 0; ok && i < oc->ndecls; i++) ok = json_array_append_new(a, decl(&oc->decls[i])) == 0;
    return done(a, ok);
}

json_t *hc__json_diagnostics(const hc__obs_cache *oc)
{
    json_t *o = json_object();
    if (!o) return NULL;
    bool ok = set(o, "name", hc__json_str(oc->name));
    ok &= put_stats(o, &oc->d.stats);
    ok &= put_shape(o, &oc->d);
    ok &= put_status(o, oc);
    ok &= set(o, "declarations", decl_array(oc));
    return done(o, ok);
}

json_t *hc__json_declarations(const hc__obs_cache *oc)
{
    json_t *o = json_object();
    if (!o) return NULL;
    bool ok = set(o, "name", hc__json_str(oc->name));
    ok &= set(o, "declarations", decl_array(oc));
    return done(o, ok);
}

json_t *hc__json_cache(const hc__obs_cache *oc)
{
    json_t *o = json_object(), *shape = json_object();
    if (!o || !shape) {
        json_decref(o);
        json_decref(shape);
        return NULL;
    }
    bool ok = set(o, "name", hc__json_str(oc->name));
    ok &= put_status(o, oc);
    ok &= set(o, "stats", hc__json_stats(oc, false));
    ok &= put_shape(shape, &oc->d);
    ok &= set(o, "diagnostics", shape);
    ok &= set(o, "declarations", decl_array(oc));
    return done(o, ok);
}

json_t *hc__json_registry(const hc__obs_snap *s)
{
    json_t *o = json_object(), *a = json_array();
    if (!o || !a) {
        json_decref(o);
        json_decref(a);
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < s->n; i++) ok = json_array_append_new(a, hc__json_cache(&s->v[i])) == 0;
    ok &= set(o, "caches", a);
    return done(o, ok);
}

static int sink(const char *buf, size_t n, void *ctx)
{
    return hc_buf_append(ctx, buf, n) == HC_OK ? 0 : -1;
}

int hc__json_dump(json_t *j, hc_buf *out)
{
    if (!j) return HC_ENOMEM;
    hc_buf_reset(out);
    int rc = json_dump_callback(j, sink, out, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) == 0 &&
                     hc_buf_reserve(out, 0) == HC_OK
                 ? HC_OK
                 : HC_ENOMEM;
    if (rc != HC_OK) hc_buf_reset(out);
    json_decref(j);
    return rc;
}
