/*
** registry.c -- the registry of named caches, and snapshots of them.
**
** The registry is a sorted array of (name, cache) under one mutex. A
** snapshot reads the caches it needs with the mutex held: reading a cache
** is short (hc_stats_get, hc_diagnostics_get, the declarations), and
** holding the mutex is what lets hc_registry_remove promise that no reader
** is left on the removed cache when it returns. Formatting happens after,
** without it.
*/
#include <stdlib.h>
#include <string.h>

#include "obs_int.h"

typedef struct item {
    char     *name;
    char     *shown;                 /* as the documents show it (hc__utf8_clean) */
    hc_cache *cache;
} item;

struct hc_registry {
    pthread_mutex_t lock;            /* guards v and n */
    item           *v;               /* sorted by name (strcmp) */
    size_t          n, cap;
};

int hc_registry_new(hc_registry **out)
{
    if (!out) return HC_EINVAL;
    *out = NULL;
    hc_registry *r = calloc(1, sizeof *r);
    if (!r) return HC_ENOMEM;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return HC_ESYS;
    }
    *out = r;
    return HC_OK;
}

void hc_registry_free(hc_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].shown);
    }
    free(r->v);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Where name is, or would go: *found says which. Under the lock. */
static size_t find(const hc_registry *r, const char *name, bool *found)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(r->v[mid].name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

int hc_registry_add(hc_registry *r, hc_cache *c)
{
    const char *name = c ? hc_cache_name(c) : NULL;
    if (!r || !name) return HC_EINVAL;
    char *copy = strdup(name), *shown = hc__utf8_clean(name);
    if (!copy || !shown) {
        free(copy);
        free(shown);
        return HC_ENOMEM;
    }
    int rc = HC_OK;
    pthread_mutex_lock(&r->lock);
    bool found;
    size_t at = find(r, name, &found);
    /* Names the documents would show alike ("a\xff" and "a\xfe" both as
       "a\uFFFD") would be one series, and one cache to a reader. */
    for (size_t i = 0; !found && i < r->n; i++) found = strcmp(r->v[i].shown, shown) == 0;
    if (found) {
        rc = HC_EEXIST;
    } else if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        item *v = realloc(r->v, cap * sizeof *v);
        if (v) {
            r->v = v;
            r->cap = cap;
        } else {
            rc = HC_ENOMEM;
        }
    }
    if (rc == HC_OK) {
        memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof *r->v);
        r->v[at] = (item){copy, shown, c};
        r->n++;
        copy = shown = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    free(copy);
    free(shown);
    return rc;
}

int hc_registry_remove(hc_registry *r, const char *name)
{
    if (!r || !name) return HC_EINVAL;
    char *gone = NULL, *gone_shown = NULL;
    pthread_mutex_lock(&r->lock);
    bool found;
    size_t at = find(r, name, &found);
    if (found) {
        gone = r->v[at].name;
        gone_shown = r->v[at].shown;
        memmove(&r->v[at], &r->v[at + 1], (r->n - at - 1) * sizeof *r->v);
        r->n--;
    }
    pthread_mutex_unlock(&r->lock);
    free(gone);
    free(gone_shown);
    return found ? HC_OK : HC_ENOTFOUND;
}

/* ------------------------------------------------------------ snapshots */

void hc__obs_cache_free(hc__obs_cache *oc)
{
    if (!oc) return;
    free(oc->name);
    free(oc->decls);
    memset(oc, 0, sizeof *oc);
}

static int add_decl(void *ctx, const hc_decl_stats *s)
{
    hc__obs_cache *oc = ctx;
    if (oc->ndecls == oc->cap) {
        size_t cap = oc->cap ? oc->cap * 2 : 8;
        hc_decl_stats *v = realloc(oc->decls, cap * sizeof *v);
        if (!v) return HC_ENOMEM;
        oc->decls = v;
        oc->cap = cap;
    }
    oc->decls[oc->ndecls++] = *s;
    return 0;
}

int hc__obs_read(hc_cache *c, hc__obs_cache *out)
{
    memset(out, 0, sizeof *out);
    out->name = strdup(hc_cache_name(c));
    if (!out->name) return HC_ENOMEM;
    hc_diagnostics_get(c, &out->d);
    hc_error err;
    out->up = hc_cache_health(c, &err) == HC_OK;
    if (!out->up) memcpy(out->reason, err.message, sizeof out->reason);
    if (hc_decl_stats_each(c, add_decl, out) != HC_OK) {
        hc__obs_cache_free(out);
        return HC_ENOMEM;
    }
    return HC_OK;
}

void hc__obs_snap_free(hc__obs_snap *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) hc__obs_cache_free(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int hc__obs_snap_take(hc_registry *r, const char *only, hc__obs_snap *out)
{
    out->v = NULL;
    out->n = 0;
    int rc = HC_OK;
    pthread_mutex_lock(&r->lock);
    size_t first = 0, n = r->n;
    if (only) {
        bool found;
        first = find(r, only, &found);
        n = found ? 1 : 0;
        if (!found) rc = HC_ENOTFOUND;
    }
    if (n) {
        out->v = calloc(n, sizeof *out->v);
        if (!out->v) rc = HC_ENOMEM;
    }
    for (size_t i = 0; rc == HC_OK && i < n; i++) {
        rc = hc__obs_read(r->v[first + i].cache, &out->v[i]);
        if (rc == HC_OK) out->n++;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc != HC_OK) hc__obs_snap_free(out);
    return rc;
}

/* ----------------------------------------------------------- documents */

int hc_cache_stats_json(hc_cache *c, hc_buf *out)
{
    if (!c || !out) return HC_EINVAL;
    hc__obs_cache oc;
    int rc = hc__obs_read(c, &oc);
    if (rc != HC_OK) return rc;
    rc = hc__json_dump(hc__json_stats(&oc, true), out);
    hc__obs_cache_free(&oc);
    return rc;
}

int hc_cache_diagnostics_json(hc_cache *c, hc_buf *out)
{
    if (!c || !out) return HC_EINVAL;
    hc__obs_cache oc;
    int rc = hc__obs_read(c, &oc);
    if (rc != HC_OK) return rc;
    rc = hc__json_dump(hc__json_diagnostics(&oc), out);
    hc__obs_cache_free(&oc);
    return rc;
}

int hc_registry_json(hc_registry *r, hc_buf *out)
{
    if (!r || !out) return HC_EINVAL;
    hc__obs_snap s;
    int rc = hc__obs_snap_take(r, NULL, &s);
    if (rc != HC_OK) return rc;
    rc = hc__json_dump(hc__json_registry(&s), out);
    hc__obs_snap_free(&s);
    return rc;
}

int hc_registry_prometheus(hc_registry *r, hc_buf *out)
{
    if (!r || !out) return HC_EINVAL;
    hc__obs_snap s;
    int rc = hc__obs_snap_take(r, NULL, &s);
    if (rc != HC_OK) return rc;
    rc = hc__prometheus(&s, out);
    hc__obs_snap_free(&s);
    return rc;
}
