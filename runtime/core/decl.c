/*
** decl.c -- per-declaration counters: for each cached declaration that
** generated code calls on a cache, its calls, hits, misses, loader runs,
** failures, stale discards, refreshes, stale values served and the
** loader's time.
**
** Numbering. A declaration is a static hc_decl of a generated file. The
** first time the runtime sees one it gives it a number (1..HC_DECL_MAX)
** from a process-wide table that keeps a copy of its names, and stores the
** number in the descriptor. The table is filled under a mutex and only
** grows; its entries never change once published, so readers take no lock.
**
** Counting. Each cache gets, on first use, an hc__decls: per declaration
** number a block of atomic counters for what happens off the hit path
** (calls that were not hits, misses, loads, failures, stale discards, the
** histogram), and per thread slot (rcu.c: the slot of hc_stats' hits) a
** chunk of hit counters for 64 declarations. A hit finds its counter with
** a few loads and adds one with a load and a store, as count() does for
** hc_stats' hits in cache.c: only the slot's thread writes it, so there is
** no read-modify-write and no line shared with another thread's hits
** (chunks are cache-line aligned). The shared slot, where threads beyond
** HC_THREAD_SLOTS count, adds atomically. Blocks and chunks are made on
** first use and freed with the cache, so a reader walks them without a
** lock.
**
** Stale discards. Whether a load's value was stored is decided in cache.c's
** store(), on the thread that ran the loader, right after it returns.
** store() adds one to the thread-local hc__stale_seen when it discards a
** value; hc_decl_get_or_load notes the count when its loader returns and
** compares after hc_get_or_load: what changed in between is this load's.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hc_int.h"

_Thread_local uint64_t hc__stale_seen HC_TLS_IE;
_Thread_local uint64_t hc__stale_served HC_TLS_IE;

#define CHUNK   64u                              /* declarations per hit chunk */
#define NCHUNKS ((HC_DECL_MAX + 1u) / CHUNK)
_Static_assert((HC_DECL_MAX + 1u) % CHUNK == 0, "whole chunks");

/* ------------------------------------------------------ numbering */

typedef struct reg_entry {
    char *module, *name;
    int   kind;
} reg_entry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static reg_entry       reg[HC_DECL_MAX + 1];    /* [0] unused: 0 is "no number" */
static _Atomic unsigned reg_count;              /* entries 1..reg_count are set */

/*
** d's number, given on first use; 0 when it cannot have one (no names,
** out of memory, or HC_DECL_MAX reached). The descriptor's id is a plain
** unsigned, so that the public header stays valid C++; it is read and
** written with the compiler's atomic builtins.
*/
static unsigned decl_id(hc_decl *d)
{
    unsigned id = __atomic_load_n(&d->id, __ATOMIC_ACQUIRE);
    if (id || !d->module || !d->name) return id;
    pthread_mutex_lock(&reg_lock);
    id = __atomic_load_n(&d->id, __ATOMIC_RELAXED);
    if (!id) {
        unsigned n = atomic_load_explicit(&reg_count, memory_order_relaxed);
        for (unsigned i = 1; i <= n && !id; i++)
            if (reg[i].kind == d->kind && strcmp(reg[i].module, d->module) == 0 &&
                strcmp(reg[i].name, d->name) == 0)
                id = i;
        if (!id && n < HC_DECL_MAX) {
            char *m = strdup(d->module), *nm = strdup(d->name);
            if (m && nm) {
                reg[n + 1] = (reg_entry){m, nm, d->kind};
                atomic_store_explicit(&reg_count, n + 1, memory_order_release);
                id = n + 1;
            } else {
                free(m);
                free(nm);
            }
        }
        if (id) __atomic_store_n(&d->id, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&reg_lock);
    return id;
}

const char *hc_decl_kind_name(int kind)
{
    switch (kind) {
    case HC_DECL_QUERY: return "query";
    case HC_DECL_POLICY: return "policy";
    case HC_DECL_CACHEABLE: return "cacheable";
    default: return "unknown";
    }
}

/* ------------------------------------------------------ per cache */

/* What one declaration does on one cache, off the hit path. */
typedef struct dstat {
    atomic_uint_fast64_t calls;          /* calls that were not hits */
    atomic_uint_fast64_t misses, loads, load_failures, stale_discards;
    atomic_uint_fast64_t refreshes, refresh_failures, stale_served;
    atomic_uint_fast64_t load_ns_sum;
    atomic_uint_fast64_t buckets[HC_DECL_BUCKETS + 1];
} dstat;

/* One thread slot's hits for CHUNK declarations, on lines of its own. */
typedef struct hchunk {
    _Alignas(64) atomic_uint_fast64_t hits[CHUNK];
    void *mem;                           /* the allocation it lies in */
} hchunk;

struct hc__decls {
    pthread_mutex_t lock;                /* serializes making dstats */
    dstat *_Atomic  stat[HC_DECL_MAX + 1];
    hchunk *_Atomic hits[HC_THREAD_SLOTS + 1][NCHUNKS];
};

/* c's hc__decls, made on first use; NULL when out of memory. */
static hc__decls *decls_of(hc_cache *c)
{
    hc__decls *ds = atomic_load_explicit(&c->decls, memory_order_acquire);
    if (ds) return ds;
    ds = hc__calloc(&c->alloc, 1, sizeof *ds);
    if (!ds) return NULL;
    if (pthread_mutex_init(&ds->lock, NULL) != 0) {
        hc__free(&c->alloc, ds);
        return NULL;
    }
    hc__decls *seen = NULL;
    if (!atomic_compare_exchange_strong_explicit(&c->decls, &seen, ds, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        pthread_mutex_destroy(&ds->lock);
        hc__free(&c->alloc, ds);
        ds = seen;
    }
    return ds;
}

/* The block of declaration id on c, made on first use; NULL when out of
   memory. */
static dstat *stat_of(hc_cache *c, hc__decls *ds, unsigned id)
{
    dstat *s = atomic_load_explicit(&ds->stat[id], memory_order_acquire);
    if (s) return s;
    pthread_mutex_lock(&ds->lock);
    s = atomic_load_explicit(&ds->stat[id], memory_order_relaxed);
    if (!s) {
        s = hc__calloc(&c->alloc, 1, sizeof *s);
        if (s) atomic_store_explicit(&ds->stat[id], s, memory_order_release);
    }
    pthread_mutex_unlock(&ds->lock);
    return s;
}

static dstat *stat_for(hc_cache *c, hc_decl *d)
{
    unsigned id = decl_id(d);
    hc__decls *ds = id ? decls_of(c) : NULL;
    return ds ? stat_of(c, ds, id) : NULL;
}

static hchunk *chunk_new(hc_cache *c)
{
    void *mem = hc__malloc(&c->alloc, sizeof(hchunk) + 63);
    if (!mem) return NULL;
    hchunk *k = (hchunk *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    memset(k, 0, sizeof *k);
    k->mem = mem;
    return k;
}

void hc__decls_free(hc_cache *c)
{
    hc__decls *ds = atomic_load_explicit(&c->decls, memory_order_relaxed);
    if (!ds) return;
    for (unsigned i = 0; i <= HC_DECL_MAX; i++)
        hc__free(&c->alloc, atomic_load_explicit(&ds->stat[i], memory_order_relaxed));
    for (unsigned s = 0; s <= HC_THREAD_SLOTS; s++) {
        for (unsigned i = 0; i < NCHUNKS; i++) {
            hchunk *k = atomic_load_explicit(&ds->hits[s][i], memory_order_relaxed);
            if (k) hc__free(&c->alloc, k->mem);
        }
    }
    pthread_mutex_destroy(&ds->lock);
    hc__free(&c->alloc, ds);
    atomic_store_explicit(&c->decls, NULL, memory_order_relaxed);
}

#define ADD(s, field, n) atomic_fetch_add_explicit(&(s)->field, (n), memory_order_relaxed)

/* ---------------------------------------------------------- counting */

/* A hit whose counter is not there yet: number d, make its block (which
   lists it) and this slot's chunk, then count. */
static void hit_slow(hc_cache *c, hc_decl *d)
{
    const hc__thread *t = hc__thread_get();
    unsigned id = decl_id(d);
    hc__decls *ds = id ? decls_of(c) : NULL;
    if (!ds || !stat_of(c, ds, id)) return;
    hchunk *_Atomic *at = &ds->hits[t->slot][id / CHUNK];
    hchunk *k = atomic_load_explicit(at, memory_order_acquire);
    if (!k) {
        hchunk *fresh = chunk_new(c), *seen = NULL;
        if (!fresh) return;
        if (atomic_compare_exchange_strong_explicit(at, &seen, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            k = fresh;
        } else {
            hc__free(&c->alloc, fresh->mem);
            k = seen;
        }
    }
    atomic_fetch_add_explicit(&k->hits[id % CHUNK], 1, memory_order_relaxed);
}

/* Everything but a hit whose counter is there. */
static HC_NOINLINE void call_slow(hc_cache *c, hc_decl *d, bool hit)
{
    if (!c || !d) return;
    if (hit) {
        hit_slow(c, d);
        return;
    }
    dstat *s = stat_for(c, d);
    if (s) ADD(s, calls, 1);
}

/*
** The hit path makes no call but the one to the slow path, so that it
** needs no frame: the number, the thread, the cache's table, this slot's
** chunk, and a load and a store.
*/
void hc_decl_call(hc_cache *c, hc_decl *d, bool hit)
{
    if (hit && c && d) {
        unsigned id = __atomic_load_n(&d->id, __ATOMIC_RELAXED);
        const hc__thread *t = hc__self_ptr();
        hc__decls *ds = atomic_load_explicit(&c->decls, memory_order_acquire);
        if (id && ds && t->ready && t->slot < HC_THREAD_SLOTS) {
            hchunk *k = atomic_load_explicit(&ds->hits[t->slot][id / CHUNK], memory_order_acquire);
            if (k) {
                /* Only this thread writes the slot: no read-modify-write. */
                atomic_uint_fast64_t *n = &k->hits[id % CHUNK];
                atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                                      memory_order_relaxed);
                return;
            }
        }
    }
    call_slow(c, d, hit);
}

static const uint64_t bounds_ns[HC_DECL_BUCKETS] = {
    1000u, 2500u, 5000u, 10000u, 25000u, 50000u, 100000u, 250000u, 500000u,
    1000000u, 2500000u, 5000000u, 10000000u, 25000000u, 50000000u,
    100000000u, 250000000u, 500000000u, 1000000000u, 2500000000u,
    5000000000u, 10000000000u,
};

uint64_t hc_decl_bucket_bound_ns(unsigned i)
{
    return i < HC_DECL_BUCKETS ? bounds_ns[i] : UINT64_MAX;
}

static unsigned bucket_of(uint64_t ns)
{
    unsigned i = 0;
    while (i < HC_DECL_BUCKETS && ns > bounds_ns[i]) i++;
    return i;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loader as hc_get_or_load sees it: the caller's, timed. */
typedef struct timed {
    hc_load_fn load;
    void      *ctx;
    bool       ran;
    int        rc;
    uint64_t   ns;
    uint64_t   stale_mark;               /* hc__stale_seen when it returned */
    uint64_t   inner_served;             /* stale values the loader's own calls served */
} timed;

static int timed_load(void *ctx, hc_buf *out, hc_error *err)
{
    timed *tl = ctx;
    uint64_t t0 = now_ns();
    uint64_t served = hc__stale_served;
    int rc = tl->load(tl->ctx, out, err);
    tl->inner_served += hc__stale_served - served;
    tl->ns = now_ns() - t0;
    tl->ran = true;
    tl->rc = rc;
    tl->stale_mark = hc__stale_seen;     /* after any load the loader made itself */
    return rc;
}

int hc_decl_get_or_load(hc_cache *c, hc_decl *d, const char *key, const hc_options *opts,
                        hc_load_fn load, void *ctx, hc_buf *out, hc_error *err)
{
    if (!c || !d || !load) return hc_get_or_load(c, key, opts, load, ctx, out, err);
    dstat *s = stat_for(c, d);
    if (s) ADD(s, misses, 1);
    timed tl = {load, ctx, false, HC_OK, 0, 0, 0};
    uint64_t served = hc__stale_served;
    int rc = hc_get_or_load(c, key, opts, timed_load, &tl, out, err);
    if (s && tl.ran) {
        if (tl.rc == HC_OK) ADD(s, loads, 1);
        else ADD(s, load_failures, 1);
        ADD(s, load_ns_sum, tl.ns);
        ADD(s, buckets[bucket_of(tl.ns)], 1);
        if (hc__stale_seen != tl.stale_mark) ADD(s, stale_discards, 1);
    }
    /* A stale value served by a call the loader made is that call's. */
    if (s && hc__stale_served - served != tl.inner_served) ADD(s, stale_served, 1);
    return rc;
}

/* A refresh of d's ran its loader (rc, ns); its value was discarded as
   stale, or not. Counted as a load too. */
void hc__decl_refreshed(hc_cache *c, hc_decl *d, int rc, uint64_t ns, bool discarded)
{
    dstat *s = stat_for(c, d);
    if (!s) return;
    if (rc == HC_OK) {
        ADD(s, loads, 1);
        ADD(s, refreshes, 1);
    } else {
        ADD(s, load_failures, 1);
        ADD(s, refresh_failures, 1);
    }
    ADD(s, load_ns_sum, ns);
    ADD(s, buckets[bucket_of(ns)], 1);
    if (discarded) ADD(s, stale_discards, 1);
}

/* --------------------------------------------------------- reading */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* The counters of declaration id on c, or false when it was never called
   on c. */
static bool snapshot(hc__decls *ds, unsigned id, hc_decl_stats *out)
{
    uint64_t hits = 0;
    for (unsigned slot = 0; slot <= HC_THREAD_SLOTS; slot++) {
        hchunk *k = atomic_load_explicit(&ds->hits[slot][id / CHUNK], memory_order_acquire);
        if (k) hits += LOAD(k->hits[id % CHUNK]);
    }
    dstat *s = atomic_load_explicit(&ds->stat[id], memory_order_acquire);
    if (!s && !hits) return false;
    memset(out, 0, sizeof *out);
    out->module = reg[id].module;
    out->name = reg[id].name;
    out->kind = (hc_decl_kind)reg[id].kind;
    out->hits = hits;
    out->calls = hits;
    if (s) {
        out->calls += LOAD(s->calls);
        out->misses = LOAD(s->misses);
        out->loads = LOAD(s->loads);
        out->load_failures = LOAD(s->load_failures);
        out->stale_discards = LOAD(s->stale_discards);
        out->refreshes = LOAD(s->refreshes);
        out->refresh_failures = LOAD(s->refresh_failures);
        out->stale_served = LOAD(s->stale_served);
        out->load_ns_sum = LOAD(s->load_ns_sum);
        for (unsigned i = 0; i <= HC_DECL_BUCKETS; i++) out->load_buckets[i] = LOAD(s->buckets[i]);
    }
    return true;
}

int hc_decl_stats_each(hc_cache *c, hc_decl_stats_fn fn, void *ctx)
{
    if (!c || !fn) return HC_EINVAL;
    hc__decls *ds = atomic_load_explicit(&c->decls, memory_order_acquire);
    if (!ds) return HC_OK;
    unsigned n = atomic_load_explicit(&reg_count, memory_order_acquire);
    for (unsigned id = 1; id <= n; id++) {
        hc_decl_stats st;
        if (!snapshot(ds, id, &st)) continue;
        int rc = fn(ctx, &st);
        if (rc) return rc;
    }
    return HC_OK;
}

int hc_decl_stats_get(hc_cache *c, const char *module, const char *name, hc_decl_stats *out)
{
    if (!c || !module || !name || !out) return HC_EINVAL;
    hc__decls *ds = atomic_load_explicit(&c->decls, memory_order_acquire);
    unsigned n = atomic_load_explicit(&reg_count, memory_order_acquire);
    for (unsigned id = 1; ds && id <= n; id++)
        if (strcmp(reg[id].module, module) == 0 && strcmp(reg[id].name, name) == 0 &&
            snapshot(ds, id, out))
            return HC_OK;
    return HC_ENOTFOUND;
}

double hc_decl_stats_quantile(const hc_decl_stats *s, double q)
{
    if (!s || isnan(q)) return (double)NAN;
    uint64_t total = 0;
    for (unsigned i = 0; i <= HC_DECL_BUCKETS; i++) total += s->load_buckets[i];
    if (!total) return (double)NAN;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    double rank = q * (double)total, below = 0;
    for (unsigned i = 0; i <= HC_DECL_BUCKETS; i++) {
        double n = (double)s->load_buckets[i];
        if (n > 0 && below + n >= rank) {
            double lo = i ? (double)bounds_ns[i - 1] : 0;
            if (i == HC_DECL_BUCKETS) return lo / 1e9;
            double hi = (double)bounds_ns[i];
            return (lo + (hi - lo) * ((rank - below) / n)) / 1e9;
        }
        below += n;
    }
    return (double)bounds_ns[HC_DECL_BUCKETS - 1] / 1e9;  /* not reached */
}
