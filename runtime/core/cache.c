/*
** cache.c -- the cache: entries in sharded hash tables, the write path that
** keeps the capacity bounds, single-flight loading with invalidation safety,
** and the counters.
**
** See hc_int.h for the locking rules. In short: hits take no lock (an RCU
** read-side critical section); writes take the policy lock, then shard
** locks; loaders, events and frees run with no lock held, and frees wait
** for a grace period.
*/
#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hc_int.h"

/* Why an unlinked entry is waiting to be freed: decides its event. */
enum {
    DEAD_NOT = 0,
    DEAD_REPLACED,      /* overwritten by a put or a load: no event */
    DEAD_REMOVED,       /* hc_remove */
    DEAD_INVALIDATED,   /* hc_invalidate_key */
    DEAD_TAGGED,        /* hc_invalidate_tag: one event for the tag */
    DEAD_FLUSHED,       /* hc_flush: one event for the flush */
    DEAD_EXPIRED,
    DEAD_EVICTED,
    DEAD_CLOSED         /* hc_cache_close */
};

/* How many hits by one thread on one cache between two opportunistic
   expiry sweeps. */
#define MAINTAIN_EVERY 1024u

/* ------------------------------------------------------------- clock */

static uint64_t ms_of(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

static uint64_t monotonic_ms(void *ctx)
{
    HC_UNUSED(ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ms_of(&ts);
}

/*
** Hits on entries with a deadline need the time. CLOCK_MONOTONIC costs
** about 35 ns in this project's VMs, a tenth of a cached DAO read;
** CLOCK_MONOTONIC_COARSE about 7. The coarse clock is the same timeline
** read as of the last timer tick: never ahead of the precise one, behind it
** by at most about a tick. So an entry whose deadline lies more than
** coarse_slack_ms (two ticks and 2 ms) past the coarse time is surely live,
** and only an entry that close to its deadline needs the precise clock: an
** expired entry is still never returned. 0: no coarse clock here.
*/
static uint64_t coarse_slack(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec res;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0)
        return 2 * ((uint64_t)res.tv_nsec / 1000000u + 1) + 2;
#endif
    return 0;
}

static uint64_t coarse_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return ms_of(&ts);
}

static inline uint64_t now_ms(hc_cache *c)
{
    return c->clock_ms ? c->clock_ms(c->clock_ctx) : monotonic_ms(NULL);
}

/* The policy's weigh function in a cache bounded only by bytes: an entry
   weighs its key and value bytes (store() keeps them under UINT32_MAX). */
static uint32_t entry_weight(const hc__pnode *n)
{
    const hc__entry *e = (const hc__entry *)(const void *)n;
    return (uint32_t)hc__entry_bytes(e);
}

static uint64_t deadline(uint64_t now, uint64_t ttl)
{
    if (ttl == HC_TTL_NEVER || ttl > UINT64_MAX - 1 - now) return UINT64_MAX;
    return now + ttl;
}

/* ------------------------------------------------------------ config */

void hc_config_init(hc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->name = "main";
    cfg->max_entries = 10000;
    cfg->default_ttl_ms = 300000;
    cfg->max_entry_bytes = (size_t)16 << 20;
    cfg->event_buffer = 1024;
}

/*
** The one check of an hc_options, made by every call that takes one before
** it does anything else: tags present when counted, no NULL name among
** them, at most HC_MAX_ENTRY_TAGS. NULL options are the defaults.
*/
static int check_options(const hc_options *opts)
{
    if (!opts || opts->ntags == 0) return HC_OK;
    if (!opts->tags || opts->ntags > HC_MAX_ENTRY_TAGS) return HC_EINVAL;
    for (size_t i = 0; i < opts->ntags; i++)
        if (!opts->tags[i]) return HC_EINVAL;
    return HC_OK;
}

/* ------------------------------------------------------- shard table */

static inline hc__shard *shard_of(hc_cache *c, uint64_t h)
{
    return &c->shards[hc__shard_index((uint32_t)h)];
}

/*
** Chain pointers are atomic because readers follow them without a lock.
** Writers, who hold the shard lock, read them relaxed and store them with
** release, so that a reader who loads a pointer (with acquire) also sees
** everything written to the entry it points to before it was linked.
*/
#define LOAD_RELAXED(p)  atomic_load_explicit(&(p), memory_order_relaxed)
#define LOAD_ACQUIRE(p)  atomic_load_explicit(&(p), memory_order_acquire)
#define STORE_RELEASE(p, v) atomic_store_explicit(&(p), (v), memory_order_release)

/* Keys of 8 to 16 bytes, the usual generated ones, are compared as two
   overlapping words: a call to memcmp was 2 % of a cached struct read. */
static inline bool key_equal(const char *a, const char *b, size_t n)
{
    if (n < 8 || n > 16) return memcmp(a, b, n) == 0;
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&b0, b, 8);
    memcpy(&a1, a + n - 8, 8);
    memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

HC_INLINE bool entry_is(const hc__entry *e, uint32_t h32, const char *key, size_t klen)
{
    return e->node.hash == h32 && e->klen == klen && key_equal(e->data, key, klen);
}

/* Find key under the shard lock. */
static hc__entry *table_find(hc__shard *s, uint64_t h, const char *key, size_t klen)
{
    hc__table *t = LOAD_RELAXED(s->table);
    if (!t) return NULL;
    uint32_t h32 = (uint32_t)h;
    for (hc__entry *e = LOAD_RELAXED(t->bucket[h32 & t->mask]); e; e = LOAD_RELAXED(e->hnext))
        if (entry_is(e, h32, key, klen)) return e;
    return NULL;
}

/*
** Find key with no lock, inside a read-side critical section; the entry
** stays allocated until the section ends. It may be one a writer has just
** unlinked: a read that overlaps a write may see the state before it.
**
** A miss is certain (*sure) unless a resize rewrote chain links during the
** walk, which can hide a present key: s->resizes is odd while one does, and
** changes with each. The chain loads are acquire loads, so the second read
** of s->resizes comes after them; and a walk that saw a rewritten link (a
** release store made after the count went odd) sees the new count.
** Nothing else hides a present key: an unlinked entry keeps its link, new
** keys go in at the head, and a replacement takes its predecessor's place
** in one store (table_replace).
*/
HC_INLINE hc__entry *table_find_rcu(hc__shard *s, uint64_t h, const char *key,
                                    size_t klen, bool *sure)
{
    unsigned seq = atomic_load_explicit(&s->resizes, memory_order_acquire);
    hc__table *t = LOAD_ACQUIRE(s->table);
    uint32_t h32 = (uint32_t)h;
    for (hc__entry *e = t ? LOAD_ACQUIRE(t->bucket[h32 & t->mask]) : NULL; e; e = LOAD_ACQUIRE(e->hnext))
        if (entry_is(e, h32, key, klen)) return e;
    *sure = !(seq & 1u) && atomic_load_explicit(&s->resizes, memory_order_relaxed) == seq;
    return NULL;
}

/*
** Make room for one more entry (load factor at most 1). A failure leaves the
** table as it was. Under the shard lock.
**
** Growing moves every entry to a new bucket array and rewrites its hash
** link (release stores, after s->resizes goes odd), then publishes the new
** table. A reader walking an old chain may follow a rewritten link into a
** new chain and so miss a key that is present; table_find_rcu tells, and
** the reader takes the locked path. It never loops: a rewritten link
** points to an entry moved earlier, so from there on it only goes back in
** the order of the moves. The old array is freed after a grace period,
** once no reader can still be in it.
*/
static int table_reserve(hc_cache *c, hc__shard *s, hc__table **retired)
{
    hc__table *old = LOAD_RELAXED(s->table);
    if (old && s->count <= old->mask) return HC_OK;
    uint32_t n = old ? (old->mask + 1) * 2 : 16;
    size_t bytes = sizeof(hc__table) + (size_t)n * sizeof(hc__entry *);
    if (n == 0 || bytes / sizeof(hc__entry *) < n) return HC_ENOMEM;   /* overflow */
    hc__table *t = hc__malloc(&c->alloc, bytes);
    if (!t) return HC_ENOMEM;
    t->next = NULL;
    t->mask = n - 1;
    for (uint32_t i = 0; i < n; i++) atomic_init(&t->bucket[i], NULL);
    unsigned seq = LOAD_RELAXED(s->resizes);
    atomic_store_explicit(&s->resizes, seq + 1, memory_order_relaxed);  /* odd */
    for (uint32_t i = 0; old && i <= old->mask; i++) {
        hc__entry *e = LOAD_RELAXED(old->bucket[i]);
        while (e) {
            hc__entry *next = LOAD_RELAXED(e->hnext);
            uint32_t b = e->node.hash & t->mask;
            STORE_RELEASE(e->hnext, LOAD_RELAXED(t->bucket[b]));
            atomic_store_explicit(&t->bucket[b], e, memory_order_relaxed);
            e = next;
        }
    }
    STORE_RELEASE(s->table, t);
    STORE_RELEASE(s->resizes, seq + 2);
    *retired = old;
    return HC_OK;
}

/* Link e, complete, at the head of its chain. Under the shard lock. */
static void table_insert(hc__shard *s, hc__entry *e)
{
    hc__table *t = LOAD_RELAXED(s->table);
    _Atomic(hc__entry *) *b = &t->bucket[e->node.hash & t->mask];
    atomic_store_explicit(&e->hnext, LOAD_RELAXED(*b), memory_order_relaxed);
    STORE_RELEASE(*b, e);
    s->count++;
}

/* The link that points to e. Under the shard lock. */
static _Atomic(hc__entry *) *table_link_to(hc__shard *s, hc__entry *e)
{
    hc__table *t = LOAD_RELAXED(s->table);
    _Atomic(hc__entry *) *pp = &t->bucket[e->node.hash & t->mask];
    while (LOAD_RELAXED(*pp) != e) pp = &LOAD_RELAXED(*pp)->hnext;
    return pp;
}

/* Unlink e. Its own link stays as it was, so that a reader standing on e
   still finds the rest of the chain. Under the shard lock. */
static void table_unlink(hc__shard *s, hc__entry *e)
{
    STORE_RELEASE(*table_link_to(s, e), LOAD_RELAXED(e->hnext));
    s->count--;
}

/* Put e, complete, in old's place in one store: a lock-free reader finds
   one or the other, never neither. Under the shard lock. */
static void table_replace(hc__shard *s, hc__entry *old, hc__entry *e)
{
    _Atomic(hc__entry *) *pp = table_link_to(s, old);
    atomic_store_explicit(&e->hnext, LOAD_RELAXED(old->hnext), memory_order_relaxed);
    STORE_RELEASE(*pp, e);
}

/* ----------------------------------------------------- entry removal */

/*
** What a write collects while it holds locks and handles after releasing
** them: unlinked entries to report and free.
*/
typedef struct op {
    hc_cache  *c;
    hc__entry *garbage;     /* hc__dead_push */
    hc__table *retired;     /* a table a resize replaced */
    hc_origin  origin;      /* of the removals it reports (0: local) */
} op;

/* Take e out of the policy (unless the policy let it go already) and out of
   the counts. Under the policy lock. */
static void uncount(hc_cache *c, hc__entry *e, bool in_policy)
{
    if (in_policy) hc__policy_remove(&c->policy, &e->node);
    c->count--;
    c->bytes -= hc__entry_bytes(e);
}

/* Take e, already unlinked from its shard table, out of the timer wheel and
   its tags, and queue it for freeing. Under the policy lock. */
static void bury(op *o, hc__entry *e, int why)
{
    hc_cache *c = o->c;
    hc__wheel_unschedule(&c->wheel, e);
    hc__taglink *tl = hc__entry_tags(e);
    for (unsigned i = 0; i < e->ntags; i++) hc__tag_unlink(c, &tl[i]);
    e->dead = (uint8_t)why;
    hc__dead_push(&o->garbage, e);
}

/* Remove e from everything. Under the policy lock, with no shard lock held:
   this takes e's. */
static void remove_entry(op *o, hc__entry *e, int why, bool in_policy)
{
    hc__shard *s = &o->c->shards[hc__shard_index(e->node.hash)];
    uncount(o->c, e, in_policy);
    pthread_mutex_lock(&s->lock);
    table_unlink(s, e);
    pthread_mutex_unlock(&s->lock);
    bury(o, e, why);
}

static void expire_cb(void *ctx, hc__entry *e)
{
    op *o = ctx;
    o->c->expirations++;
    remove_entry(o, e, DEAD_EXPIRED, true);
}

/* Reclaim every entry whose time has come. Under the policy lock. */
static void expire_due(op *o, uint64_t now)
{
    hc__wheel_advance(&o->c->wheel, now, expire_cb, o);
}

/*
** Report what a write unlinked, and free it once no reader can still see
** it. No lock held.
**
** Readers may still be looking at an entry just unlinked, so it waits in
** the cache's list until a grace period has passed. Rather than wait for
** one per write, the write that brings the list to DEFER_BATCH entries (or
** retires a table, which resizes do rarely) waits once for all of them,
** then frees them in its own thread, where malloc reuses the memory at
** once. A grace period takes microseconds unless a reader is descheduled
** inside its lookup; no lock is held meanwhile.
*/
#define DEFER_BATCH 256u

static void release(op *o)
{
    hc_cache *c = o->c;
    hc__entry *first = o->garbage, *last = NULL;
    unsigned n = 0;
    for (hc__entry *e = first; e; e = hc__dead_next(e)) {
        switch (e->dead) {
        case DEAD_REMOVED:
            hc__emit(c, HC_EVENT_REMOVED, o->origin, e->data, e->klen);
            break;
        case DEAD_INVALIDATED:
            hc__emit(c, HC_EVENT_KEY_INVALIDATED, o->origin, e->data, e->klen);
            break;
        case DEAD_EXPIRED:
            hc__emit(c, HC_EVENT_EXPIRED, HC_ORIGIN_BACKEND, e->data, e->klen);
            break;
        case DEAD_EVICTED:
            hc__emit(c, HC_EVENT_EVICTED, HC_ORIGIN_BACKEND, e->data, e->klen);
            break;
        default:
            break;
        }
        last = e;
        n++;
    }
    if (!first && !o->retired) return;

    hc__entry *entries = NULL;
    hc__table *tables = NULL;
    pthread_mutex_lock(&c->defer_lock);
    if (first) {
        hc__dead_set_next(last, c->defer_entries);
        c->defer_entries = first;
        c->ndefer += n;
    }
    if (o->retired) {
        o->retired->next = c->defer_tables;
        c->defer_tables = o->retired;
    }
    if (c->ndefer >= DEFER_BATCH || c->defer_tables) {
        entries = c->defer_entries;
        tables = c->defer_tables;
        c->defer_entries = NULL;
        c->defer_tables = NULL;
        c->ndefer = 0;
    }
    pthread_mutex_unlock(&c->defer_lock);
    o->garbage = NULL;
    o->retired = NULL;
    if (!entries && !tables) return;

    hc__synchronize();
    while (entries) {
        hc__entry *next = hc__dead_next(entries);
        hc__free(&c->alloc, hc__entry_block(entries));
        entries = next;
    }
    while (tables) {
        hc__table *next = tables->next;
        hc__free(&c->alloc, tables);
        tables = next;
    }
}

/* ----------------------------------------------------------- flights */

static hc__flight *flight_find(hc__shard *s, uint64_t h, const char *key, size_t klen)
{
    for (hc__flight *f = s->flights; f; f = f->next)
        if (f->hash == h && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return f;
    return NULL;
}

static void flight_detach(hc__shard *s, hc__flight *f)
{
    if (!f->attached) return;
    hc__flight **pp = &s->flights;
    while (*pp != f) pp = &(*pp)->next;
    *pp = f->next;
    f->next = NULL;
    f->attached = false;
}

/* Mark a load stale: its result will not be stored, and callers from now on
   start their own load instead of joining it. Under its shard lock. */
static void flight_stale(hc__shard *s, hc__flight *f)
{
    f->stale = true;
    flight_detach(s, f);
}

static bool flight_has_tag(const hc__flight *f, const char *tag, size_t len)
{
    for (size_t i = 0; i < f->ntags; i++)
        if (strlen(f->tags[i]) == len && memcmp(f->tags[i], tag, len) == 0)
            return true;
    return false;
}

/* One allocation: the flight, its tag pointers, its key and tag strings. */
static hc__flight *flight_new(hc_cache *c, const char *key, size_t klen,
                              uint64_t h, const hc_options *opts)
{
    size_t ntags = opts ? opts->ntags : 0;
    size_t size = sizeof(hc__flight) + ntags * sizeof(char *) + klen + 1;
    for (size_t i = 0; i < ntags; i++) size += strlen(opts->tags[i]) + 1;
    hc__flight *f = hc__malloc(&c->alloc, size);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    if (hc__mutex_cond_init(&f->mu, &f->cv) != 0) goto fail;
    f->tags = (char **)(void *)(f + 1);
    f->key = (char *)(f->tags + ntags);
    memcpy(f->key, key, klen);
    f->key[klen] = '\0';
    char *p = f->key + klen + 1;
    for (size_t i = 0; i < ntags; i++) {
        size_t n = strlen(opts->tags[i]);
        memcpy(p, opts->tags[i], n + 1);
        f->tags[i] = p;
        p += n + 1;
    }
    f->ntags = ntags;
    f->klen = klen;
    f->hash = h;
    f->cache = c;
    atomic_init(&f->refs, 1);
    return f;
fail:
    hc__free(&c->alloc, f);
    return NULL;
}

/*
** Whether this thread is running the loader of key in c, at any depth: it
** follows the thread's own chain of the loads it leads (hc__thread.leading),
** so it finds a load that an invalidation detached from its shard as well.
*/
static HC_NOINLINE bool flight_leads(hc_cache *c, uint64_t h, const char *key, size_t klen)
{
    for (const hc__flight *f = hc__self_ptr()->leading; f; f = f->outer)
        if (f->cache == c && f->hash == h && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return true;
    return false;
}

static void flight_unref(hc_cache *c, hc__flight *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    hc__free(&c->alloc, f->val);
    hc__free(&c->alloc, f);
}

/* ------------------------------------------------------------- open */

static void make_node_id(char *buf, size_t n, const void *salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed[4] = {(uint64_t)getpid(), (uint64_t)ts.tv_sec,
                        (uint64_t)ts.tv_nsec, (uint64_t)(uintptr_t)salt};
    snprintf(buf, n, "node-%016" PRIx64, hc__hash(seed, sizeof seed));
}

static char *dup_str(const hc_allocator *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = hc__malloc(a, n);
    if (p) memcpy(p, s, n);
    return p;
}

int hc_cache_open(hc_cache **out, const hc_config *cfg)
{
    hc_config defaults;
    if (!out) return HC_EINVAL;
    *out = NULL;
    if (!cfg) {
        hc_config_init(&defaults);
        cfg = &defaults;
    }
    if (cfg->max_entry_bytes == 0) return HC_EINVAL;
    const hc_allocator *a = cfg->allocator ? cfg->allocator : &hc__system_allocator;
    if (!a->alloc || !a->realloc || !a->free) return HC_EINVAL;

    hc_cache *c = a->alloc(a->ud, sizeof *c);
    if (!c) return HC_ENOMEM;
    memset(c, 0, sizeof *c);
    c->alloc = *a;
    c->max_entries = cfg->max_entries;
    c->max_bytes = cfg->max_bytes;
    c->default_ttl_ms = cfg->default_ttl_ms ? cfg->default_ttl_ms : HC_TTL_NEVER;
    c->max_entry_bytes = cfg->max_entry_bytes;
    c->load_wait_timeout_ms = cfg->load_wait_timeout_ms;
    c->clock_ms = cfg->clock_ms;
    c->clock_ctx = cfg->clock_ctx;
    c->coarse_slack_ms = coarse_slack();
    c->event_buffer = cfg->event_buffer ? cfg->event_buffer : 1024;
    c->access_events = cfg->access_events;
    c->bus = cfg->bus;
    c->weigh_bytes = cfg->max_entries == 0 && cfg->max_bytes != 0;

    char idbuf[32];
    if (!cfg->node_id) make_node_id(idbuf, sizeof idbuf, c);
    c->name = dup_str(&c->alloc, cfg->name ? cfg->name : "main");
    c->node_id = dup_str(&c->alloc, cfg->node_id ? cfg->node_id : idbuf);
    /* Shards and per-thread counters are cache-line aligned so that what
       one thread writes never shares a line with what another reads. */
    size_t shards_size = HC_SHARDS * sizeof(hc__shard);
    size_t tcounts_size = (HC_THREAD_SLOTS + 1) * sizeof(hc__tcount);
    c->shards_mem = hc__malloc(&c->alloc, shards_size + tcounts_size + 63);
    if (!c->name || !c->node_id || !c->shards_mem) goto nomem;
    c->shards = (hc__shard *)(((uintptr_t)c->shards_mem + 63) & ~(uintptr_t)63);
    memset(c->shards, 0, shards_size + tcounts_size);
    c->tcounts = (hc__tcount *)(void *)((char *)c->shards + shards_size);

    uint64_t max_weight = c->max_entries ? c->max_entries : c->max_bytes;
    if (hc__policy_init(&c->policy, max_weight, c->weigh_bytes ? entry_weight : NULL,
                        &c->alloc) != HC_OK)
        goto nomem;

    unsigned i = 0;
    if (pthread_mutex_init(&c->defer_lock, NULL) != 0) goto sysfail_policy;
    if (pthread_mutex_init(&c->lock, NULL) != 0) goto sysfail_defer;
    for (; i < HC_SHARDS; i++)
        if (pthread_mutex_init(&c->shards[i].lock, NULL) != 0) goto sysfail;
    hc__wheel_init(&c->wheel, now_ms(c));
    int rc = hc__events_open(c);
    if (rc == HC_OK && c->bus) rc = hc__bus_attach(c->bus, c);
    if (rc != HC_OK) {
        c->bus = NULL;                  /* not attached */
        hc_cache_close(c);              /* events_close accepts a failed open */
        return rc;
    }
    *out = c;
    return HC_OK;

sysfail:
    while (i-- > 0) pthread_mutex_destroy(&c->shards[i].lock);
    pthread_mutex_destroy(&c->lock);
sysfail_defer:
    pthread_mutex_destroy(&c->defer_lock);
sysfail_policy:
    hc__policy_destroy(&c->policy);
    hc__free(&c->alloc, c->shards_mem);
    hc__free(&c->alloc, c->name);
    hc__free(&c->alloc, c->node_id);
    hc__free(&c->alloc, c);
    return HC_ESYS;
nomem:
    hc__free(&c->alloc, c->shards_mem);
    hc__free(&c->alloc, c->name);
    hc__free(&c->alloc, c->node_id);
    hc__free(&c->alloc, c);
    return HC_ENOMEM;
}

int hc_cache_close(hc_cache *c)
{
    if (!c) return HC_OK;
    /* First stop what arrives from outside: the bus's deliveries (waiting
       for one that runs), then the subscriptions. */
    if (c->bus) hc__bus_detach(c->bus, c);
    hc__events_close(c);
    /* No reader can be left (no call on c may run), so what waits for a
       grace period can go at once. */
    for (hc__entry *e = c->defer_entries, *next; e; e = next) {
        next = hc__dead_next(e);
        hc__free(&c->alloc, hc__entry_block(e));
    }
    for (hc__table *t = c->defer_tables, *next; t; t = next) {
        next = t->next;
        hc__free(&c->alloc, t);
    }
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        hc__table *t = LOAD_RELAXED(s->table);
        for (uint32_t b = 0; t && b <= t->mask; b++) {
            hc__entry *e = LOAD_RELAXED(t->bucket[b]);
            while (e) {
                hc__entry *next = LOAD_RELAXED(e->hnext);
                hc__free(&c->alloc, hc__entry_block(e));
                e = next;
            }
        }
        hc__free(&c->alloc, t);
        pthread_mutex_destroy(&s->lock);
    }
    hc__tags_free_all(c);
    hc__free(&c->alloc, c->tags);
    hc__policy_destroy(&c->policy);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->defer_lock);
    hc__free(&c->alloc, c->shards_mem);
    hc__free(&c->alloc, c->name);
    hc__free(&c->alloc, c->node_id);
    hc__free(&c->alloc, c);
    return HC_OK;
}

const char *hc_cache_name(const hc_cache *c)
{
    return c ? c->name : NULL;
}

/* ------------------------------------------------------------ store */

static bool over_bounds(const hc_cache *c)
{
    return (c->max_entries && c->count > c->max_entries) ||
           (c->max_bytes && c->bytes > c->max_bytes);
}

static bool tag_seen(const hc__taglink *tl, size_t n, const hc__tag *t)
{
    for (size_t i = 0; i < n; i++)
        if (tl[i].tag == t) return true;
    return false;
}

/*
** Store a copy of key/val: the write path of hc_put and of a finished load
** (f not NULL). Allocates the entry before taking any lock; then, under the
** policy lock, resolves the tags and reserves table room (the only steps
** that can fail, so a failure changes nothing), replaces any old entry,
** evicts until both bounds hold with the new entry counted, and only then
** makes the new entry visible. A load's value is dropped if f went stale;
** *stored tells whether the entry went in.
*/
static int store(hc_cache *c, const char *key, size_t klen, uint64_t h,
                 const void *val, size_t vlen, const hc_options *opts,
                 hc__flight *f, bool *stored)
{
    *stored = false;
    size_t ntags = opts ? opts->ntags : 0;      /* checked: check_options */
    if (vlen > c->max_entry_bytes || klen > c->max_entry_bytes - vlen ||
        klen > HC_MAX_KEY_BYTES ||
        klen + vlen >= UINT32_MAX || (c->max_bytes && klen + vlen > c->max_bytes))
        return HC_ETOOBIG;

    uint64_t now = now_ms(c);
    uint64_t ttl = opts && opts->ttl_ms != HC_TTL_DEFAULT ? opts->ttl_ms : c->default_ttl_ms;
    uint64_t expire_at = deadline(now, ttl);
    size_t pre = expire_at == UINT64_MAX ? 0 : sizeof(hc__ttl);
    size_t off = (klen + vlen + 7u) & ~(size_t)7u;
    char *block = hc__malloc(&c->alloc, pre + offsetof(hc__entry, data) + off +
                                        ntags * sizeof(hc__taglink));
    if (!block) return HC_ENOMEM;
    hc__entry *e = (hc__entry *)(void *)(block + pre);
    memset(e, 0, sizeof *e);
    if (pre) {
        hc__entry_flags(e) = HC__E_TTL;
        hc__ttl *x = hc__entry_ttl(e);
        x->tl.prev = x->tl.next = NULL;
        x->expire_at = expire_at;
    }
    memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    e->klen = (uint16_t)klen;
    e->vlen = (uint32_t)vlen;
    e->node.hash = (uint32_t)h;

    hc__shard *s = shard_of(c, h);
    hc__taglink *tl = hc__entry_tags(e);
    op o = {c, NULL, NULL, HC_ORIGIN_LOCAL};
    int rc = HC_OK;

    /*
    ** Every change to the set of entries holds the policy lock, so while we
    ** hold it the shard's entries stay as we see them: look, evict (which
    ** locks the victims' shards one at a time), then lock the shard again
    ** to swap the new entry in. No two shard locks are ever held at once.
    */
    pthread_mutex_lock(&c->lock);
    expire_due(&o, now);
    for (size_t i = 0; i < ntags; i++) {
        hc__tag *t = hc__tag_get(c, opts->tags[i], strlen(opts->tags[i]));
        if (!t) {
            rc = HC_ENOMEM;
            break;
        }
        if (!tag_seen(tl, e->ntags, t)) tl[e->ntags++].tag = t;
    }
    if (rc == HC_OK && f && f->stale) {
        c->stale_discards++;
        rc = HC_MISS;                   /* not an error: just not stored */
    }
    pthread_mutex_lock(&s->lock);
    if (rc == HC_OK) rc = table_reserve(c, s, &o.retired);
    hc__entry *old = rc == HC_OK ? table_find(s, h, key, klen) : NULL;
    if (rc != HC_OK && f) flight_detach(s, f);
    pthread_mutex_unlock(&s->lock);
    if (rc != HC_OK) {
        /* Nothing changed but maybe new tags, which have no members. */
        for (unsigned i = 0; i < e->ntags; i++) hc__tag_release(c, tl[i].tag);
        pthread_mutex_unlock(&c->lock);
        hc__free(&c->alloc, block);     /* never published: no reader saw it */
        release(&o);
        if (rc == HC_MISS) {
            hc__emit(c, HC_EVENT_STALE_LOAD_DISCARDED, HC_ORIGIN_LOADER, key, klen);
            rc = HC_OK;
        }
        return rc;
    }

    /* The old entry stays visible until the swap but no longer counts, and
       the new one counts before it is visible: readers never see more
       entries than the bounds allow. */
    if (old) uncount(c, old, true);
    /* Join the tags before evicting: a victim may be a tag's last member,
       and our membership is what keeps the tag alive. */
    for (unsigned i = 0; i < e->ntags; i++) hc__tag_link(tl[i].tag, &tl[i], e);
    hc__policy_add(&c->policy, &e->node);
    c->count++;
    c->bytes += hc__entry_bytes(e);
    c->inserts++;
    bool evicted_self = false;
    while (over_bounds(c)) {
        hc__pnode *n = hc__policy_evict(&c->policy);
        if (!n) break;
        hc__entry *v = hc__entry_of(n);
        c->evictions++;
        if (v == e) {
            /* The policy judged the newcomer least worth keeping. */
            evicted_self = true;
            uncount(c, e, false);
        } else {
            remove_entry(&o, v, DEAD_EVICTED, false);
        }
    }
    if (evicted_self) {
        bury(&o, e, DEAD_EVICTED);
    } else {
        hc__wheel_schedule(&c->wheel, e);
        *stored = true;
    }
    pthread_mutex_lock(&s->lock);
    if (old && *stored) table_replace(s, old, e);
    else if (old) table_unlink(s, old);
    else if (*stored) table_insert(s, e);
    if (f) {
        flight_detach(s, f);
    } else {
        hc__flight *racing = flight_find(s, h, key, klen);
        if (racing) flight_stale(s, racing);
    }
    pthread_mutex_unlock(&s->lock);
    if (old) bury(&o, old, DEAD_REPLACED);
    pthread_mutex_unlock(&c->lock);
    if (*stored)
        hc__emit_with(c, HC_EVENT_STORED, f ? HC_ORIGIN_LOADER : HC_ORIGIN_LOCAL, key, klen,
                      opts ? opts->tags : NULL, opts ? opts->ntags : 0, 0);
    release(&o);
    return HC_OK;
}

int hc_put(hc_cache *c, const char *key, const void *val, size_t len,
           const hc_options *opts)
{
    if (!c || !key || (!val && len) || check_options(opts) != HC_OK) return HC_EINVAL;
    size_t klen = strlen(key);
    bool stored;
    return store(c, key, klen, hc__hash(key, klen), val, len, opts, NULL, &stored);
}

/* ------------------------------------------------------------- read */

/* A read found key expired: remove it (if still there and still expired)
   and sweep whatever else is due. */
static void expire_key(hc_cache *c, const char *key, size_t klen, uint64_t h, uint64_t now)
{
    hc__shard *s = shard_of(c, h);
    op o = {c, NULL, NULL, HC_ORIGIN_LOCAL};
    pthread_mutex_lock(&c->lock);
    expire_due(&o, now);
    pthread_mutex_lock(&s->lock);
    hc__entry *e = table_find(s, h, key, klen);
    bool expired = e && hc__entry_expire(e) <= now;
    if (expired) table_unlink(s, e);
    pthread_mutex_unlock(&s->lock);
    if (expired) {
        c->expirations++;
        uncount(c, e, true);
        bury(&o, e, DEAD_EXPIRED);
    }
    pthread_mutex_unlock(&c->lock);
    release(&o);
}

/* Every MAINTAIN_EVERY hits of a thread, reclaim expired entries if the
   policy lock is free, so an idle-for-writes cache still lets go of them. */
static HC_NOINLINE void maintain(hc_cache *c)
{
    if (pthread_mutex_trylock(&c->lock) != 0) return;
    op o = {c, NULL, NULL, HC_ORIGIN_LOCAL};
    expire_due(&o, now_ms(c));
    pthread_mutex_unlock(&c->lock);
    release(&o);
}

/* Add one to a counter in this thread's slot (hits or misses of c) and
   return its new value. */
HC_INLINE uint64_t count(const hc__thread *t, atomic_uint_fast64_t *n)
{
    if (t->slot == HC_THREAD_SLOTS)     /* the shared slot */
        return atomic_fetch_add_explicit(n, 1, memory_order_relaxed) + 1;
    /* Only this thread writes the slot: no read-modify-write needed. */
    uint64_t v = atomic_load_explicit(n, memory_order_relaxed) + 1;
    atomic_store_explicit(n, v, memory_order_relaxed);
    return v;
}

static void count_miss(hc_cache *c)
{
    const hc__thread *t = hc__thread_get();
    count(t, &c->tcounts[t->slot].misses);
}

/*
** Expiry on the lock-free path. An injected clock is user code, and no user
** code runs inside a read-side critical section, so it is read before the
** section starts (clock_early). The built-in clock is read only when the
** entry found has a deadline, after the lookup: clock_gettime waits for the
** instructions before it, so reading it first would stop consecutive hits
** from overlapping their cache misses.
*/
HC_INLINE uint64_t clock_early(hc_cache *c)
{
    return c->clock_ms ? c->clock_ms(c->clock_ctx) : 0;
}

HC_INLINE bool live_rcu(hc_cache *c, const hc__entry *e, uint64_t early)
{
    uint64_t at = hc__entry_expire(e);
    if (at == UINT64_MAX) return true;
    if (c->clock_ms) return at > early;
    if (c->coarse_slack_ms && at > coarse_ms() + c->coarse_slack_ms) return true;
    return at > monotonic_ms(NULL);
}

/*
** The lock-free path: find key inside a read-side critical section and, if
** its entry is live, run fn on the value where it lies (*rc gets what fn
** returns). FOUND on a hit; ABSENT when the key is certainly not there;
** UNSURE when only the locked path can tell: a resize may have hidden the
** key, or the entry has expired (it must be removed). fn runs inside the
** section: the entry cannot be freed before hc__read_end, and a reader may
** block.
*/
enum { FOUND, ABSENT, UNSURE };

HC_INLINE int visit_rcu(hc_cache *c, hc__shard *s, const char *key, size_t klen,
                        uint64_t h, hc_visit_fn fn, void *ctx, int *rc)
{
    uint64_t early = clock_early(c);
    bool sure = false;
    int found = UNSURE;
    hc__read_begin();
    hc__entry *e = table_find_rcu(s, h, key, klen, &sure);
    if (!e) {
        if (sure) found = ABSENT;
    } else if (live_rcu(c, e, early)) {
        hc__policy_touch(&e->node);
        *rc = fn(ctx, hc__entry_val(e), e->vlen);
        found = FOUND;
    }
    hc__read_end();
    return found;
}

/* The visitor of hc_get: copy the value into the hc_buf ctx, growing it if
   need be. HC_OK or HC_ENOMEM (out emptied). */
static inline int copy_out(void *ctx, const void *data, size_t len)
{
    hc_buf *out = ctx;
    if (len >= out->cap) {
        out->len = 0;
        if (hc_buf_reserve(out, len) != HC_OK) return HC_ENOMEM;
    }
    memcpy(out->data, data, len);
    out->len = len;
    out->data[len] = 0;
    return HC_OK;
}

/* visit_rcu copying into out; a value out cannot grow for is left to the
   locked path (UNSURE). out changes only on a hit. */
HC_INLINE int lookup_rcu(hc_cache *c, hc__shard *s, const char *key, size_t klen,
                         uint64_t h, hc_buf *out)
{
    int rc = HC_OK;
    int found = visit_rcu(c, s, key, klen, h, copy_out, out, &rc);
    return found == FOUND && rc != HC_OK ? UNSURE : found;
}

/*
** The locked path, for what the lock-free one could not answer. Returns
** HC_OK with the value copied into out; HC_MISS with the shard still locked
** (so the caller can look for a load in flight); or HC_ENOMEM.
*/
static HC_NOINLINE int lookup_locked(hc_cache *c, hc__shard *s, const char *key,
                                     size_t klen, uint64_t h, hc_buf *out)
{
    for (;;) {
        uint64_t now = now_ms(c);
        pthread_mutex_lock(&s->lock);
        hc__entry *e = table_find(s, h, key, klen);
        if (!e) return HC_MISS;
        if (hc__entry_expire(e) <= now) {
            pthread_mutex_unlock(&s->lock);
            expire_key(c, key, klen, h, now);
            continue;
        }
        if (out->cap <= e->vlen) {
            /* Grow outside the lock, then look again. */
            size_t need = e->vlen;
            pthread_mutex_unlock(&s->lock);
            hc_buf_reset(out);
            if (hc_buf_reserve(out, need) != HC_OK) return HC_ENOMEM;
            continue;
        }
        (void)copy_out(out, hc__entry_val(e), e->vlen);    /* fits: cannot fail */
        hc__policy_touch(&e->node);
        pthread_mutex_unlock(&s->lock);
        return HC_OK;
    }
}

/* Count a hit (a thread's own counter), report it, and now and then do
   the maintenance hits owe. */
HC_INLINE void count_hit(hc_cache *c, const hc__thread *t, const char *key, size_t klen)
{
    uint64_t hits = count(t, &c->tcounts[t->slot].hits);
    if (c->access_events) hc__emit(c, HC_EVENT_HIT, HC_ORIGIN_LOCAL, key, klen);
    if (hits % MAINTAIN_EVERY == 0) maintain(c);
}

/*
** The read path shared by hc_get and hc_get_or_load: lock-free first, then
** locked if need be. Returns HC_OK with the value copied into out (a hit,
** counted); HC_MISS, not yet counted, with the shard locked if keep_locked
** (so the caller can look for a load in flight); or HC_ENOMEM.
*/
HC_INLINE int lookup(hc_cache *c, hc__shard *s, const char *key, size_t klen,
                     uint64_t h, hc_buf *out, bool keep_locked)
{
    const hc__thread *t = hc__thread_get();
    int found = t->rcu ? lookup_rcu(c, s, key, klen, h, out) : UNSURE;
    if (found == ABSENT && !keep_locked) return HC_MISS;
    if (found != FOUND) {
        int rc = lookup_locked(c, s, key, klen, h, out);
        if (rc == HC_MISS && !keep_locked) pthread_mutex_unlock(&s->lock);
        if (rc != HC_OK) return rc;
    }
    count_hit(c, t, key, klen);
    return HC_OK;
}

int hc_get(hc_cache *c, const char *key, hc_buf *out)
{
    if (!c || !key || !out) return HC_EINVAL;
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    int rc = lookup(c, shard_of(c, h), key, klen, h, out, false);
    if (rc != HC_MISS) return rc;
    count_miss(c);
    if (c->access_events) hc__emit(c, HC_EVENT_MISS, HC_ORIGIN_LOCAL, key, klen);
    return HC_MISS;
}

int hc_try_get(hc_cache *c, const char *key, hc_buf *out)
{
    if (!c || !key || !out) return HC_EINVAL;
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    return lookup(c, shard_of(c, h), key, klen, h, out, false);
}

/* The caller passes klen: a strlen here was 3 % of a cached struct read. */
int hc_try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx)
{
    if (!c || !key || !fn || key[klen] != 0) return HC_EINVAL;
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = shard_of(c, h);
    const hc__thread *t = hc__thread_get();
    if (t->rcu) {
        int rc = HC_OK;
        int found = visit_rcu(c, s, key, klen, h, fn, ctx, &rc);
        if (found == ABSENT) return HC_MISS;
        if (found == FOUND) {
            count_hit(c, t, key, klen);
            return rc;
        }
    }
    /* What the lock-free path could not tell: copy the value under the
       lock, and read it once the lock is released. */
    hc_buf tmp = HC_BUF_INIT;
    int rc = lookup(c, s, key, klen, h, &tmp, false);
    if (rc == HC_OK) rc = fn(ctx, tmp.data, tmp.len);
    hc_buf_free(&tmp);
    return rc;
}

bool hc_contains(hc_cache *c, const char *key)
{
    if (!c || !key) return false;
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = shard_of(c, h);
    if (hc__thread_get()->rcu) {
        uint64_t early = clock_early(c);
        bool sure = false;
        hc__read_begin();
        hc__entry *e = table_find_rcu(s, h, key, klen, &sure);
        bool found = e != NULL, live = e && live_rcu(c, e, early);
        hc__read_end();
        if (found || sure) return live;
    }
    uint64_t now = now_ms(c);
    pthread_mutex_lock(&s->lock);
    hc__entry *e = table_find(s, h, key, klen);
    bool live = e && hc__entry_expire(e) > now;
    pthread_mutex_unlock(&s->lock);
    return live;
}

/* ------------------------------------------------------ single-flight */

/* Wait for f's result as a joiner. Drops the joiner's reference. */
static int join(hc_cache *c, hc__flight *f, hc_buf *out, hc_error *err)
{
    int rc;
    pthread_mutex_lock(&f->mu);
    if (c->load_wait_timeout_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (c->load_wait_timeout_ms % 1000u) * 1000000u;
        ts.tv_sec += (time_t)(c->load_wait_timeout_ms / 1000u + ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!f->done)
            if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0 && !f->done) break;
    } else {
        while (!f->done) pthread_cond_wait(&f->cv, &f->mu);
    }
    if (!f->done) {
        rc = hc_error_set(err, HC_ETIMEDOUT, "timed out after %" PRIu64 " ms waiting for the load of '%s'",
                          c->load_wait_timeout_ms, f->key);
    } else if (f->rc == HC_OK) {
        rc = hc_buf_set(out, f->val, f->vlen);
        if (rc != HC_OK) hc_error_set(err, rc, NULL);
    } else {
        rc = f->rc;
        *err = f->err;
    }
    pthread_mutex_unlock(&f->mu);
    flight_unref(c, f);
    return rc;
}

int hc_get_or_load(hc_cache *c, const char *key, const hc_options *opts,
                   hc_load_fn load, void *ctx, hc_buf *out, hc_error *err)
{
    hc_error local;
    if (!err) err = &local;
    hc_error_clear(err);
    if (!c || !key || !load || !out || check_options(opts) != HC_OK)
        return hc_error_set(err, HC_EINVAL, NULL);
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    if (hc__self_ptr()->leading && flight_leads(c, h, key, klen))
        return hc_error_set(err, HC_EBUSY, "'%s' is being loaded by this thread", key);
    hc__shard *s = shard_of(c, h);
    int rc = lookup(c, s, key, klen, h, out, true);
    if (rc != HC_MISS) return rc == HC_OK ? HC_OK : hc_error_set(err, rc, NULL);

    /* A miss, with the shard locked: join the load in flight or lead one. */
    count_miss(c);
    hc__flight *f = flight_find(s, h, key, klen);
    if (f) {
        f->waiters++;
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
        s->joins++;
        pthread_mutex_unlock(&s->lock);
        if (c->access_events) hc__emit(c, HC_EVENT_SINGLE_FLIGHT_JOINED, HC_ORIGIN_SINGLE_FLIGHT, key, klen);
        return join(c, f, out, err);
    }
    f = flight_new(c, key, klen, h, opts);
    if (!f) {
        pthread_mutex_unlock(&s->lock);
        return hc_error_set(err, HC_ENOMEM, NULL);
    }
    f->next = s->flights;
    s->flights = f;
    f->attached = true;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add_explicit(&c->in_flight, 1, memory_order_relaxed);
    if (c->access_events) {
        hc__emit(c, HC_EVENT_MISS, HC_ORIGIN_LOCAL, key, klen);
        hc__emit(c, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, key, klen);
    }

    hc_buf_reset(out);
    hc__thread *self = hc__self_ptr();
    f->outer = self->leading;
    self->leading = f;
    rc = load(ctx, out, err);
    self->leading = f->outer;
    if (rc > 0) {
        if (err->code == HC_OK) hc_error_set(err, HC_ELOAD, "loader returned %d", rc);
        rc = HC_ELOAD;
    }
    if (rc == HC_OK) {
        atomic_fetch_add_explicit(&c->loads, 1, memory_order_relaxed);
        hc_error_clear(err);
        if (c->access_events) hc__emit(c, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, key, klen);
        bool stored;
        /* A value the cache cannot keep (too big, out of memory) is still
           the caller's: the load succeeded, only caching it failed. */
        (void)store(c, key, klen, h, out->data, out->len, opts, f, &stored);
    } else {
        atomic_fetch_add_explicit(&c->load_failures, 1, memory_order_relaxed);
        if (err->code == HC_OK) hc_error_set(err, rc, NULL);
        else err->code = rc;
        if (c->access_events) hc__emit(c, HC_EVENT_LOAD_FAILED, HC_ORIGIN_LOADER, key, klen);
    }

    /* Detach (if the store did not) so no one else joins, then hand the
       result to the joiners that did. */
    pthread_mutex_lock(&s->lock);
    flight_detach(s, f);
    unsigned waiters = f->waiters;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_sub_explicit(&c->in_flight, 1, memory_order_relaxed);

    uint8_t *copy = NULL;
    int shared_rc = rc;
    if (rc == HC_OK && waiters && out->len) {
        copy = hc__malloc(&c->alloc, out->len);
        if (copy) memcpy(copy, out->data, out->len);
        else shared_rc = HC_ENOMEM;
    }
    pthread_mutex_lock(&f->mu);
    f->rc = shared_rc;
    f->err = *err;
    if (shared_rc == HC_ENOMEM && rc == HC_OK)
        hc_error_set(&f->err, HC_ENOMEM, "out of memory sharing the loaded value");
    f->val = copy;
    f->vlen = copy ? out->len : 0;
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    flight_unref(c, f);
    return rc;
}

/* ------------------------------------------------------ invalidation */

static int remove_key(hc_cache *c, const char *key, int why, hc_origin origin)
{
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = shard_of(c, h);
    op o = {c, NULL, NULL, origin};
    pthread_mutex_lock(&c->lock);
    expire_due(&o, now_ms(c));
    pthread_mutex_lock(&s->lock);
    hc__flight *f = flight_find(s, h, key, klen);
    if (f) flight_stale(s, f);
    hc__entry *e = table_find(s, h, key, klen);
    if (e) table_unlink(s, e);
    pthread_mutex_unlock(&s->lock);
    if (e) {
        uncount(c, e, true);
        bury(&o, e, why);
        c->invalidations++;
    }
    pthread_mutex_unlock(&c->lock);
    if (!e) {
        /* Report the invalidation even when nothing was cached: a load may
           have been made stale by it. */
        if (why == DEAD_INVALIDATED)
            hc__emit(c, HC_EVENT_KEY_INVALIDATED, origin, key, klen);
    }
    release(&o);
    return e ? HC_OK : HC_MISS;
}

/* Apply locally, then publish on the bus if there is one: a failed
   publish is the result, since the other caches did not hear of it. */
static int published(hc_cache *c, int rc, hc_bus_op what, const char *value)
{
    if (!c->bus) return rc;
    int b = hc__bus_publish(c, what, value);
    return b == HC_OK ? rc : b;
}

int hc_remove(hc_cache *c, const char *key)
{
    if (!c || !key) return HC_EINVAL;
    return published(c, remove_key(c, key, DEAD_REMOVED, HC_ORIGIN_LOCAL), HC_BUS_KEY, key);
}

int hc_invalidate_key(hc_cache *c, const char *key)
{
    if (!c || !key) return HC_EINVAL;
    return published(c, remove_key(c, key, DEAD_INVALIDATED, HC_ORIGIN_LOCAL), HC_BUS_KEY, key);
}

static uint64_t invalidate_tag(hc_cache *c, const char *tag, hc_origin origin)
{
    size_t len = strlen(tag);
    op o = {c, NULL, NULL, origin};
    uint64_t n = 0;
    pthread_mutex_lock(&c->lock);
    expire_due(&o, now_ms(c));
    hc__tag *t = hc__tag_find(c, tag, len);
    if (t) {
        /* Removing the last member frees t: count down, do not test t. */
        for (uint64_t left = t->count; left > 0; left--) {
            remove_entry(&o, t->head.next->entry, DEAD_TAGGED, true);
            n++;
        }
    }
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        for (hc__flight *f = s->flights, *next; f; f = next) {
            next = f->next;
            if (flight_has_tag(f, tag, len)) flight_stale(s, f);
        }
        pthread_mutex_unlock(&s->lock);
    }
    c->invalidations += n;
    pthread_mutex_unlock(&c->lock);
    hc__emit_with(c, HC_EVENT_TAG_INVALIDATED, origin, tag, len, NULL, 0, n);
    release(&o);
    return n;
}

int hc_invalidate_tag(hc_cache *c, const char *tag, uint64_t *removed)
{
    if (removed) *removed = 0;
    if (!c || !tag) return HC_EINVAL;
    uint64_t n = invalidate_tag(c, tag, HC_ORIGIN_LOCAL);
    if (removed) *removed = n;
    return published(c, HC_OK, HC_BUS_TAG, tag);
}

static void flush(hc_cache *c, hc_origin origin)
{
    op o = {c, NULL, NULL, origin};
    uint64_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        hc__table *t = LOAD_RELAXED(s->table);
        for (uint32_t b = 0; t && b <= t->mask; b++) {
            hc__entry *e = LOAD_RELAXED(t->bucket[b]);
            STORE_RELEASE(t->bucket[b], NULL);
            while (e) {
                hc__entry *next = LOAD_RELAXED(e->hnext);
                hc__policy_remove(&c->policy, &e->node);
                e->dead = DEAD_FLUSHED;
                hc__dead_push(&o.garbage, e);
                n++;
                e = next;
            }
        }
        s->count = 0;
        while (s->flights) flight_stale(s, s->flights);
        pthread_mutex_unlock(&s->lock);
    }
    hc__tags_free_all(c);
    hc__policy_clear(&c->policy);
    hc__wheel_init(&c->wheel, c->wheel.now);
    c->count = c->bytes = 0;
    c->invalidations += n;
    pthread_mutex_unlock(&c->lock);
    hc__emit_with(c, HC_EVENT_FLUSHED, origin, NULL, 0, NULL, 0, n);
    release(&o);
}

int hc_flush(hc_cache *c)
{
    if (!c) return HC_EINVAL;
    flush(c, HC_ORIGIN_LOCAL);
    return published(c, HC_OK, HC_BUS_FLUSH, NULL);
}

/* An invalidation applied like the call but never published: a message
   from the bus (origin bus), or a transactional exec's own (exec.c). */
int hc__apply(hc_cache *c, hc_bus_op what, const char *value, hc_origin origin)
{
    switch (what) {
    case HC_BUS_KEY:
        if (!value) return HC_EINVAL;
        (void)remove_key(c, value, DEAD_INVALIDATED, origin);
        return HC_OK;
    case HC_BUS_TAG:
        if (!value) return HC_EINVAL;
        (void)invalidate_tag(c, value, origin);
        return HC_OK;
    case HC_BUS_FLUSH:
        flush(c, origin);
        return HC_OK;
    }
    return HC_EINVAL;
}

/* ------------------------------------------------------------ stats */

void hc_stats_get(hc_cache *c, hc_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    out->inserts = c->inserts;
    out->invalidations = c->invalidations;
    out->evictions = c->evictions;
    out->expirations = c->expirations;
    out->stale_load_discards = c->stale_discards;
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->single_flight_joins += s->joins;
        pthread_mutex_unlock(&s->lock);
    }
    for (unsigned i = 0; i <= HC_THREAD_SLOTS; i++) {
        out->hits += atomic_load_explicit(&c->tcounts[i].hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&c->tcounts[i].misses, memory_order_relaxed);
    }
#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
    out->loads = LOAD(loads);
    out->load_failures = LOAD(load_failures);
    out->events_published = LOAD(events_published);
    out->event_subscriber_lagged = LOAD(event_subscriber_lagged);
    out->bus_published = LOAD(bus_published);
    out->bus_received = LOAD(bus_received);
    out->bus_applied = LOAD(bus_applied);
    out->bus_lagged = LOAD(bus_lagged);
    out->bus_publish_failures = LOAD(bus_publish_failures);
    out->bus_receiver_closed = LOAD(bus_receiver_closed);
    out->bus_malformed = LOAD(bus_malformed);
#undef LOAD
}

double hc_stats_hit_ratio(const hc_stats *s)
{
    uint64_t total = hc_stats_total_requests(s);
    return total ? (double)s->hits / (double)total : (double)NAN;
}

uint64_t hc_stats_total_requests(const hc_stats *s)
{
    return s->hits + s->misses;
}

int hc_diagnostics_get(hc_cache *c, hc_diagnostics *out)
{
    if (!c || !out) return HC_EINVAL;
    memset(out, 0, sizeof *out);
    hc_stats_get(c, &out->stats);
    op o = {c, NULL, NULL, HC_ORIGIN_LOCAL};
    pthread_mutex_lock(&c->lock);
    expire_due(&o, now_ms(c));
    out->entries = c->count;
    out->weighted_bytes = c->bytes;
    out->tags = c->ntags;
    out->max_entries = c->max_entries;
    out->max_bytes = c->max_bytes;
    out->window_entries = hc__policy_window(&c->policy);
    out->stats.expirations = c->expirations;
    pthread_mutex_unlock(&c->lock);
    out->loads_in_flight = atomic_load_explicit(&c->in_flight, memory_order_relaxed);
    release(&o);
    return HC_OK;
}
