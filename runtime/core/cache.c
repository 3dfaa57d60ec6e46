/*
** cache.c -- the cache's entry points: open and close, hc_put and the
** store of a load, the reads, hc_get_or_load, the invalidations, stats.
**
** Owns: hc_cache itself, the clock, the order of steps of each call.
** May call: table.h (the shard tables), flight.h (single-flight), part.h
** (partitions: room, eviction, expiry, removal, deferred frees), tags.c,
** events and the bus, loaders (with no lock held).
**
** See hc_int.h for the locking rules. In short: hits take no lock (an RCU
** read-side critical section); writes take their partition's lock, then a
** shard lock; loaders, events and frees run with no lock held, and frees
** wait for a grace period.
*/
#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hc_int.h"
#include "flight.h"
#include "part.h"
#include "table.h"

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

uint64_t hc__now(hc_cache *c)
{
    return now_ms(c);
}

static uint64_t deadline(uint64_t now, uint64_t ttl)
{
    if (ttl == HC_TTL_NEVER || ttl > UINT64_MAX - 1 - now) return UINT64_MAX;
    return now + ttl;
}

/*
** TTL jitter: a TTL drawn uniformly from [ttl - ttl * p / 100, ttl], never
** longer than the one asked for (a TTL is often a promise about how old a
** value may get). The generator is splitmix64 on the thread's own state,
** seeded on first use from the thread's address and the clock: no shared
** state, a few instructions per store.
*/
static uint64_t jittered(uint64_t ttl, unsigned percent)
{
    uint64_t span = ttl / 100 * percent + ttl % 100 * percent / 100;
    if (!span) return ttl;
    hc__thread *t = hc__self_ptr();
    if (!t->rng) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t seed[3] = {(uint64_t)(uintptr_t)t, (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec};
        t->rng = hc__hash(seed, sizeof seed) | 1;
    }
    uint64_t z = (t->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return ttl - z % (span + 1);
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
    cfg->refresh_threads = 1;
    cfg->refresh_queue = 1024;
}

/*
** The one check of an hc_options, made by every call that takes one before
** it does anything else: a jitter below 100 %, tags present when counted,
** no NULL name among them, at most HC_MAX_ENTRY_TAGS. NULL options are the
** defaults.
*/
static int check_options(const hc_options *opts)
{
    if (opts && opts->ttl_jitter_percent > 99) return HC_EINVAL;
    if (!opts || opts->ntags == 0) return HC_OK;
    if (!opts->tags || opts->ntags > HC_MAX_ENTRY_TAGS) return HC_EINVAL;
    for (size_t i = 0; i < opts->ntags; i++)
        if (!opts->tags[i]) return HC_EINVAL;
    return HC_OK;
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
    if (cfg->max_entry_bytes == 0 || cfg->event_buffer > HC_EVENT_BUFFER_MAX ||
        cfg->refresh_threads > HC_REFRESH_THREADS_MAX || cfg->refresh_queue > HC_REFRESH_QUEUE_MAX)
        return HC_EINVAL;
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
    c->refresh_threads = cfg->refresh_threads;
    c->refresh_queue = cfg->refresh_queue ? cfg->refresh_queue : 1024;

    char idbuf[32];
    if (!cfg->node_id) make_node_id(idbuf, sizeof idbuf, c);
    c->name = dup_str(&c->alloc, cfg->name ? cfg->name : "main");
    c->node_id = dup_str(&c->alloc, cfg->node_id ? cfg->node_id : idbuf);
    /* Shards and per-thread counters are cache-line aligned so that what
       one thread writes never shares a line with what another reads. */
    size_t views_size = HC_SHARDS * sizeof(hc__shard_view);
    size_t shards_size = HC_SHARDS * sizeof(hc__shard);
    size_t tcounts_size = (HC_THREAD_SLOTS + 1) * sizeof(hc__tcount);
    _Static_assert(HC_SHARDS * sizeof(hc__shard_view) % 64 == 0, "views fill lines");
    c->shards_mem = hc__malloc(&c->alloc, views_size + shards_size + tcounts_size + 63);
    if (!c->name || !c->node_id || !c->shards_mem) goto nomem;
    c->views = (hc__shard_view *)(((uintptr_t)c->shards_mem + 63) & ~(uintptr_t)63);
    memset(c->views, 0, views_size + shards_size + tcounts_size);
    c->shards = (hc__shard *)(void *)((char *)c->views + views_size);
    c->tcounts = (hc__tcount *)(void *)((char *)c->shards + shards_size);

    int rc = hc__parts_open(c, now_ms(c));
    if (rc != HC_OK) goto fail;
    unsigned i = 0;
    for (; i < HC_SHARDS; i++)
        if (pthread_mutex_init(&c->shards[i].lock, NULL) != 0) break;
    if (i < HC_SHARDS || pthread_mutex_init(&c->defer_lock, NULL) != 0) {
        while (i-- > 0) pthread_mutex_destroy(&c->shards[i].lock);
        hc__parts_close(c);
        rc = HC_ESYS;
        goto fail;
    }
    rc = hc__holds_open(c);
    if (rc == HC_OK) rc = hc__pool_open(c);
    if (rc == HC_OK) rc = hc__events_open(c);
    if (rc == HC_OK && c->bus) rc = hc__cache_bus_attach(c);
    if (rc != HC_OK) {
        c->bus = NULL;                  /* not attached */
        hc_cache_close(c);              /* events_close accepts a failed open */
        return rc;
    }
    *out = c;
    return HC_OK;

nomem:
    rc = HC_ENOMEM;
fail:
    hc__free(&c->alloc, c->shards_mem);
    hc__free(&c->alloc, c->name);
    hc__free(&c->alloc, c->node_id);
    hc__free(&c->alloc, c);
    return rc;
}

int hc_cache_close(hc_cache *c)
{
    if (!c) return HC_OK;
    /* Deferred releases of transactions still open no longer reach c. */
    hc__holds_disarm(c);
    /* First the refreshes (the running one finishes, the queued ones are
       dropped), which use the cache; then what arrives from outside: the
       bus's deliveries (waiting for one that runs), then the
       subscriptions. */
    hc__pool_close(c);
    if (c->bus) hc__cache_bus_detach(c);
    hc__events_close(c);
    hc__holds_close(c);
    hc__decls_free(c);                  /* decl.c */
    /* No reader can be left (no call on c may run): what waits for a grace
       period goes at once, with the partitions. */
    hc__parts_close(c);
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        hc__table *t = HC__LOAD_RELAXED(c->views[i].table);
        for (uint32_t b = 0; t && b <= t->mask; b++) {
            hc__entry *e = HC__LOAD_RELAXED(t->bucket[b]);
            while (e) {
                hc__entry *next = HC__LOAD_RELAXED(e->hnext);
                hc__free(&c->alloc, hc__entry_block(e));
                e = next;
            }
        }
        hc__free(&c->alloc, t);
        pthread_mutex_destroy(&s->lock);
    }
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

static bool tag_seen(const hc__taglink *tl, size_t n, const hc__tag *t)
{
    for (size_t i = 0; i < n; i++)
        if (tl[i].tag == t) return true;
    return false;
}

/*
** Store a copy of key/val: the write path of hc_put and of a finished load
** (f not NULL). Allocates the entry before taking any lock; then, under the
** key's partition lock, resolves the tags and reserves table room (the only
** steps that can fail, so a failure changes nothing), replaces any old
** entry, finds room for the new one under the bounds (part.c: evicting
** from the partition if need be), and only then makes it visible. What it
** could not evict at once it evicts elsewhere after unlocking (the
** transient overshoot of the bounds, part.c). A load's value is dropped if
** f went stale; *stored tells whether the entry went in. opts was checked.
*/
static int store(hc_cache *c, const char *key, size_t klen, uint64_t h,
                 const void *val, size_t vlen, const hc_options *opts,
                 hc__flight *f, bool *stored)
{
    *stored = false;
    size_t ntags = opts ? opts->ntags : 0;
    if (vlen > c->max_entry_bytes || klen > c->max_entry_bytes - vlen ||
        klen > HC_MAX_KEY_BYTES ||
        klen + vlen >= UINT32_MAX || (c->max_bytes && klen + vlen > c->max_bytes))
        return HC_ETOOBIG;

    /* The clock is needed for a deadline or a refresh time, or to sweep
       expired entries if any partition holds some; a cache without TTLs
       never reads it. (0 is never ahead of a wheel: the sweeps then do
       nothing.) */
    uint64_t ttl = opts && opts->ttl_ms != HC_TTL_DEFAULT ? opts->ttl_ms : c->default_ttl_ms;
    if (opts && opts->ttl_jitter_percent && ttl != HC_TTL_NEVER)
        ttl = jittered(ttl, opts->ttl_jitter_percent);
    bool freshness = opts && (opts->refresh_ms || opts->stale_if_error_ms);
    uint64_t now = ttl != HC_TTL_NEVER || freshness ||
                   atomic_load_explicit(&c->timed, memory_order_relaxed) ? now_ms(c) : 0;
    uint64_t expire_at = deadline(now, ttl);
    /* Refresh and stale-if-error only where they can happen: a refresh due
       before the deadline, a window after a deadline there is. */
    uint64_t refresh_at = HC__REFRESH_NONE, stale_until = 0;
    if (freshness && opts->refresh_ms) {
        uint64_t at = deadline(now, opts->refresh_ms);
        if (at < expire_at && at < HC__REFRESH_CLAIMED) refresh_at = at;
    }
    if (freshness && opts->stale_if_error_ms && expire_at != UINT64_MAX)
        stale_until = deadline(expire_at, opts->stale_if_error_ms);
    bool fresh = refresh_at != HC__REFRESH_NONE || stale_until != 0;
    size_t pre = (expire_at == UINT64_MAX ? 0 : sizeof(hc__ttl)) + (fresh ? sizeof(hc__fresh) : 0);
    size_t off = (klen + vlen + 7u) & ~(size_t)7u;
    char *block = hc__malloc(&c->alloc, pre + offsetof(hc__entry, data) + off +
                                        ntags * sizeof(hc__taglink));
    if (!block) return HC_ENOMEM;
    hc__entry *e = (hc__entry *)(void *)(block + pre);
    memset(e, 0, sizeof *e);
    if (expire_at != UINT64_MAX) {
        hc__entry_flags(e) = HC__E_TTL;
        hc__ttl *x = hc__entry_ttl(e);
        x->tl.prev = x->tl.next = NULL;
        x->expire_at = expire_at;
    }
    if (fresh) {
        hc__entry_flags(e) |= HC__E_FRESH;   /* first: it places the hc__fresh */
        hc__fresh *fr = hc__entry_fresh(e);
        atomic_init(&fr->refresh_at, refresh_at);
        fr->stale_until = stale_until;
    }
    memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    e->klen = (uint16_t)klen;
    e->vlen = (uint32_t)vlen;
    e->node.hash = (uint32_t)h;

    hc__shard *s = hc__shard_of(c, h);
    hc__shard_view *v = hc__view(c, s);
    hc__part *p = hc__part_of(c, h);
    hc__taglink *tl = hc__entry_tags(e);
    hc__op o = hc__op_start(c, HC_ORIGIN_LOCAL);
    int rc = HC_OK;

    /*
    ** Every change to the entries of the partition's shards holds its lock,
    ** so while we hold it they stay as we see them. The shard lock is held
    ** from the look for the old entry to the swap: evictions on the way
    ** unlink victims of this shard under it, and let go of it to lock
    ** another shard of the partition (no thread holds two shard locks).
    ** Only loads in flight may change meanwhile.
    */
    hc__part_lock(p);
    hc__expire_due(&o, p, now);
    for (size_t i = 0; i < ntags; i++) {
        hc__tag *t = hc__tag_get(c, p, opts->tags[i], strlen(opts->tags[i]));
        if (!t) {
            rc = HC_ENOMEM;
            break;
        }
        if (!tag_seen(tl, e->ntags, t)) tl[e->ntags++].tag = t;
    }
    /* A load is not stored once an invalidation raced it, nor while a tag
       of its entry is held by a transaction that is still open. */
    if (rc == HC_OK && f && (f->stale || hc__cache_held(c, f->tags, f->ntags))) {
        p->stale_discards++;
        hc__stale_seen++;               /* decl.c: this thread's load was discarded */
        rc = HC_MISS;                   /* not an error: just not stored */
    }
    pthread_mutex_lock(&s->lock);
    if (rc == HC_OK) rc = hc__table_reserve(&c->alloc, v, s, &o.retired);
    if (rc != HC_OK) {
        if (f) hc__flight_settle(s, f);
        pthread_mutex_unlock(&s->lock);
        /* Nothing changed but maybe new tags, which have no members. */
        for (unsigned i = 0; i < e->ntags; i++) hc__tag_release(c, p, tl[i].tag);
        hc__part_unlock(c, p);
        hc__free(&c->alloc, block);     /* never published: no reader saw it */
        hc__release(&o);
        if (rc == HC_MISS) {
            hc__emit(c, HC_EVENT_STALE_LOAD_DISCARDED, HC_ORIGIN_LOADER, key, klen);
            rc = HC_OK;
        }
        return rc;
    }
    hc__entry *old = hc__table_find(v, h, key, klen);

    /* The old entry stays visible until the swap but no longer counts, and
       the new one counts before it is visible; a new value of a key takes
       its old one's place in the policy. */
    if (old) {
        hc__policy_replace(&p->policy, &old->node, &e->node);
        hc__part_sub(p, old);
    } else {
        hc__policy_add(&p->policy, &e->node);
    }
    /* Join the tags before evicting: a victim may be a tag's last member,
       and our membership is what keeps the tag alive. */
    for (unsigned i = 0; i < e->ntags; i++) hc__tag_link(tl[i].tag, &tl[i], e);
    hc__part_add(p, e);
    p->inserts++;
    hc__debt debt;
    bool evicted_self;
    hc__make_room(&o, p, e, old, now, s, &debt, &evicted_self);
    if (evicted_self) {
        hc__bury(&o, p, e, HC__DEAD_EVICTED);
    } else {
        hc__wheel_schedule(&p->wheel, e);
        *stored = true;
    }
    if (old && *stored) hc__table_replace(v, old, e);
    else if (old) hc__table_unlink(v, s, old);
    else if (*stored) hc__table_insert(v, s, e);
    if (f) {
        hc__flight_settle(s, f);
    } else {
        hc__flight *racing = hc__flight_find(s, h, key, klen);
        if (racing) hc__flight_stale(s, racing);
    }
    pthread_mutex_unlock(&s->lock);
    if (old) hc__bury(&o, p, old, HC__DEAD_REPLACED);
    hc__part_unlock(c, p);
    if (*stored)
        hc__emit_with(c, HC_EVENT_STORED, f ? HC_ORIGIN_LOADER : HC_ORIGIN_LOCAL, key, klen,
                      opts ? opts->tags : NULL, opts ? opts->ntags : 0, 0);
    hc__pay_debt(&o, p, now, debt);
    hc__release(&o);
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

/* A read found key expired: remove it (if still there and due to be
   reclaimed: not kept for stale-if-error) and sweep whatever else of its
   partition is due. */
static void expire_key(hc_cache *c, const char *key, size_t klen, uint64_t h, uint64_t now)
{
    hc__shard *s = hc__shard_of(c, h);
    hc__part *p = hc__part_of(c, h);
    hc__op o = hc__op_start(c, HC_ORIGIN_LOCAL);
    hc__part_lock(p);
    hc__expire_due(&o, p, now);
    pthread_mutex_lock(&s->lock);
    hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
    bool expired = e && hc__entry_reclaim(e) <= now;
    if (expired) hc__table_unlink(hc__view(c, s), s, e);
    pthread_mutex_unlock(&s->lock);
    if (expired) {
        p->expirations++;
        hc__uncount(p, e, true);
        hc__bury(&o, p, e, HC__DEAD_EXPIRED);
        hc__room_give(c, 1, hc__entry_bytes(e));
    }
    hc__part_unlock(c, p);
    hc__release(&o);
}

/* Every MAINTAIN_EVERY hits of a thread, reclaim expired entries of the
   partitions whose lock is free, so an idle-for-writes cache still lets go
   of them. */
static HC_NOINLINE void maintain(hc_cache *c)
{
    hc__maintain(c, now_ms(c));
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
** Refresh-ahead: whether this read claims the refresh of e, a live entry
** with an hc__fresh, at now. One reader per entry wins the swap to
** HC__REFRESH_CLAIMED; the others, and every read after, go on serving the
** value as it is. Safe on an entry a writer has just unlinked (it stays
** allocated while the reader looks): its refresh then finds the key's
** entry is another one, and does nothing (refresh.c).
*/
static HC_NOINLINE bool claim_refresh(hc__entry *e, uint64_t now)
{
    hc__fresh *fr = hc__entry_fresh(e);
    uint64_t at = atomic_load_explicit(&fr->refresh_at, memory_order_relaxed);
    if (at > now) return false;         /* not yet, none, or claimed already */
    return atomic_compare_exchange_strong_explicit(&fr->refresh_at, &at, HC__REFRESH_CLAIMED,
                                                   memory_order_relaxed, memory_order_relaxed);
}

/* claim_refresh on the lock-free path, at the time it may read there (see
   clock_early): out of line, so that a hit on any other entry carries
   none of it. */
static HC_NOINLINE bool claim_refresh_rcu(hc_cache *c, hc__entry *e, uint64_t early)
{
    return claim_refresh(e, c->clock_ms ? early : coarse_ms());
}

/*
** The lock-free path: find key inside a read-side critical section and, if
** its entry is live, run fn on the value where it lies (*rc gets what fn
** returns). FOUND on a hit; ABSENT when the key is certainly not there;
** UNSURE when only the locked path can tell: a resize may have hidden the
** key, or the entry has expired (it must be removed). fn runs inside the
** section: the entry cannot be freed before hc__read_end, and a reader may
** block. refresh, where the caller can start a refresh (NULL otherwise),
** is set when this hit claimed the entry's; only entries with an hc__fresh
** are asked, and the time is then the coarse clock's (never ahead: a
** refresh starts at most a tick late).
*/
enum { FOUND, ABSENT, UNSURE };

HC_INLINE int visit_rcu(hc_cache *c, hc__shard *s, const char *key, size_t klen,
                        uint64_t h, hc_visit_fn fn, void *ctx, int *rc, bool *refresh)
{
    uint64_t early = clock_early(c);
    bool sure = false;
    int found = UNSURE;
    hc__read_begin();
    hc__entry *e = hc__table_find_rcu(hc__view(c, s), h, key, klen, &sure);
    if (!e) {
        if (sure) found = ABSENT;
    } else if (live_rcu(c, e, early)) {
        hc__policy_touch(&e->node);
        if (refresh && HC_UNLIKELY(hc__entry_is_fresh(e)))
            *refresh = claim_refresh_rcu(c, e, early);
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
                         uint64_t h, hc_buf *out, bool *refresh)
{
    int rc = HC_OK;
    int found = visit_rcu(c, s, key, klen, h, copy_out, out, &rc, refresh);
    return found == FOUND && rc != HC_OK ? UNSURE : found;
}

/*
** The locked path, for what the lock-free one could not answer. Returns
** HC_OK with the value copied into out; HC_MISS with the shard still locked
** (so the caller can look for a load in flight); or HC_ENOMEM. An expired
** entry kept for stale-if-error is a miss, and stays where it is. refresh
** as for visit_rcu.
*/
static HC_NOINLINE int lookup_locked(hc_cache *c, hc__shard *s, const char *key,
                                     size_t klen, uint64_t h, hc_buf *out, bool *refresh)
{
    for (;;) {
        uint64_t now = now_ms(c);
        pthread_mutex_lock(&s->lock);
        hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
        if (!e) return HC_MISS;
        if (hc__entry_expire(e) <= now) {
            if (hc__entry_reclaim(e) > now) return HC_MISS;
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
        /* A claim the lock-free path made before it fell back here (its copy
           could not grow) stands: this read owes that refresh. */
        if (refresh && !*refresh && hc__entry_is_fresh(e)) *refresh = claim_refresh(e, now);
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
                     uint64_t h, hc_buf *out, bool keep_locked, bool *refresh)
{
    const hc__thread *t = hc__thread_get();
    int found = t->rcu ? lookup_rcu(c, s, key, klen, h, out, refresh) : UNSURE;
    if (found == ABSENT && !keep_locked) return HC_MISS;
    if (found != FOUND) {
        int rc = lookup_locked(c, s, key, klen, h, out, refresh);
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
    int rc = lookup(c, hc__shard_of(c, h), key, klen, h, out, false, NULL);
    if (rc != HC_MISS) return rc;
    count_miss(c);
    if (c->access_events) hc__emit(c, HC_EVENT_MISS, HC_ORIGIN_LOCAL, key, klen);
    return HC_MISS;
}

/* The caller passes klen: a strlen here was 3 % of a cached struct read.
   refresh: see visit_rcu; NULL for hc_try_visit, which has no loader to
   refresh with, so that the code asking disappears from it. */
HC_INLINE int try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx,
                        bool *refresh)
{
    if (!c || !key || !fn || key[klen] != 0) return HC_EINVAL;
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = hc__shard_of(c, h);
    const hc__thread *t = hc__thread_get();
    if (t->rcu) {
        int rc = HC_OK;
        int found = visit_rcu(c, s, key, klen, h, fn, ctx, &rc, refresh);
        if (found == ABSENT) return HC_MISS;
        if (found == FOUND) {
            count_hit(c, t, key, klen);
            return rc;
        }
    }
    /* What the lock-free path could not tell: copy the value under the
       lock, and read it once the lock is released. */
    hc_buf tmp = HC_BUF_INIT;
    int rc = lookup(c, s, key, klen, h, &tmp, false, refresh);
    if (rc == HC_OK) rc = fn(ctx, tmp.data, tmp.len);
    hc_buf_free(&tmp);
    return rc;
}

int hc_try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx)
{
    return try_visit(c, key, klen, fn, ctx, NULL);
}

int hc__try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx,
                  bool *refresh)
{
    return try_visit(c, key, klen, fn, ctx, refresh);
}

bool hc_contains(hc_cache *c, const char *key)
{
    if (!c || !key) return false;
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = hc__shard_of(c, h);
    if (hc__thread_get()->rcu) {
        uint64_t early = clock_early(c);
        bool sure = false;
        hc__read_begin();
        hc__entry *e = hc__table_find_rcu(hc__view(c, s), h, key, klen, &sure);
        bool found = e != NULL, live = e && live_rcu(c, e, early);
        hc__read_end();
        if (found || sure) return live;
    }
    uint64_t now = now_ms(c);
    pthread_mutex_lock(&s->lock);
    hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
    bool live = e && hc__entry_expire(e) > now;
    pthread_mutex_unlock(&s->lock);
    return live;
}

/* ------------------------------------------------------ single-flight */

/* This thread's counters on c (loads and their outcomes). */
static hc__tcount *my_counts(hc_cache *c, const hc__thread **t)
{
    *t = hc__thread_get();
    return &c->tcounts[(*t)->slot];
}

/* ------------------------------------------------------ stale-if-error */

int hc__copy_stale(hc_cache *c, const char *key, size_t klen, uint64_t h, hc_buf *out)
{
    hc__shard *s = hc__shard_of(c, h);
    for (;;) {
        uint64_t now = now_ms(c);
        pthread_mutex_lock(&s->lock);
        hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
        if (!e || !hc__entry_is_fresh(e) || hc__entry_fresh(e)->stale_until <= now) {
            pthread_mutex_unlock(&s->lock);
            return HC_MISS;
        }
        if (out->cap <= e->vlen) {
            size_t need = e->vlen;
            pthread_mutex_unlock(&s->lock);
            hc_buf_reset(out);
            if (hc_buf_reserve(out, need) != HC_OK) return HC_ENOMEM;
            continue;
        }
        (void)copy_out(out, hc__entry_val(e), e->vlen);    /* fits: cannot fail */
        pthread_mutex_unlock(&s->lock);
        return HC_OK;
    }
}

/*
** A load failed: if key's entry may stand in for it (expired, inside its
** stale-if-error window, and still there: an invalidation, removal, flush
** or put would have taken it out), its value goes into out and err says
** what it stands in for, with code HC_OK. True when it did.
*/
static bool serve_stale(hc_cache *c, const char *key, size_t klen, uint64_t h, hc_buf *out,
                        hc_error *err)
{
    hc_buf_reset(out);
    if (hc__copy_stale(c, key, klen, h, out) != HC_OK) return false;
    char why[sizeof err->message];
    memcpy(why, err->message, sizeof why);
    hc_error_set(err, HC_OK, "stale value served: %s", why[0] ? why : hc_strerror(err->code));
    return true;
}

/* Count and report a call answered with a stale value. */
static void count_stale(hc_cache *c, const char *key, size_t klen, hc_origin origin)
{
    atomic_fetch_add_explicit(&c->stale_served, 1, memory_order_relaxed);
    hc__stale_served++;                 /* decl.c: this thread's call */
    if (c->access_events) hc__emit(c, HC_EVENT_STALE_SERVED, origin, key, klen);
}

/* The time a failed or dropped refresh is due again, under the shard
   lock; nothing when the key's entry is not the one whose refresh was
   claimed (a store replaced it, which is due in its own time). */
void hc__refresh_release(hc_cache *c, const char *key, size_t klen, uint64_t h,
                         uint64_t again_at)
{
    hc__shard *s = hc__shard_of(c, h);
    if (again_at >= HC__REFRESH_CLAIMED) again_at = HC__REFRESH_NONE;
    pthread_mutex_lock(&s->lock);
    hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
    if (e && hc__entry_is_fresh(e)) {
        hc__fresh *fr = hc__entry_fresh(e);
        if (atomic_load_explicit(&fr->refresh_at, memory_order_relaxed) == HC__REFRESH_CLAIMED)
            atomic_store_explicit(&fr->refresh_at, again_at, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
}

int hc__store_load(hc_cache *c, const char *key, size_t klen, uint64_t h, const void *val,
                   size_t vlen, const hc_options *opts, hc__flight *f)
{
    bool stored;
    return store(c, key, klen, h, val, vlen, opts, f, &stored);
}

/* ------------------------------------------------------ get or load */

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
    if (hc__self_ptr()->leading && hc__flight_leads(c, h, key, klen))
        return hc_error_set(err, HC_EBUSY, "'%s' is being loaded by this thread", key);
    hc__shard *s = hc__shard_of(c, h);
    bool refresh = false;
    int rc = lookup(c, s, key, klen, h, out, true, &refresh);
    if (rc != HC_MISS) {
        if (rc != HC_OK) {
            /* A claim made before the read failed: give it back, due now,
               or nobody would refresh the entry again. */
            if (refresh) hc__refresh_release(c, key, klen, h, 0);
            return hc_error_set(err, rc, NULL);
        }
        /* A hit that claimed the entry's refresh: out holds the value
           returned, whatever the refresh does. */
        if (refresh)
            hc__refresh(c, key, klen, h, opts, load, ctx, opts ? opts->ctx_copy : NULL,
                        opts ? opts->ctx_free : NULL, NULL);
        return HC_OK;
    }

    /* A miss, with the shard locked: join the load in flight or lead one. */
    count_miss(c);
    hc__flight *f = hc__flight_find(s, h, key, klen);
    if (f) {
        rc = hc__flight_add_joiner(f);
        if (rc != HC_OK) {
            pthread_mutex_unlock(&s->lock);
            return hc_error_set(err, rc, NULL);
        }
        s->joins++;
        pthread_mutex_unlock(&s->lock);
        if (c->access_events) hc__emit(c, HC_EVENT_SINGLE_FLIGHT_JOINED, HC_ORIGIN_SINGLE_FLIGHT, key, klen);
        bool stale = false;
        rc = hc__flight_join(c, f, out, err, &stale);
        if (stale) count_stale(c, key, klen, HC_ORIGIN_SINGLE_FLIGHT);
        return rc;
    }
    f = hc__flight_new(c, key, klen, h, opts);
    if (!f) {
        pthread_mutex_unlock(&s->lock);
        return hc_error_set(err, HC_ENOMEM, NULL);
    }
    f->next = s->flights;
    s->flights = f;
    f->attached = true;
    pthread_mutex_unlock(&s->lock);
    const hc__thread *t;
    hc__tcount *tc = my_counts(c, &t);
    count(t, &tc->loads_started);
    if (c->access_events) {
        hc__emit(c, HC_EVENT_MISS, HC_ORIGIN_LOCAL, key, klen);
        hc__emit(c, HC_EVENT_LOAD_STARTED, HC_ORIGIN_LOADER, key, klen);
    }

    hc_buf_reset(out);
    hc__flight_enter(f);
    rc = load(ctx, out, err);
    hc__flight_leave(f);
    if (rc > 0) {
        if (err->code == HC_OK) hc_error_set(err, HC_ELOAD, "loader returned %d", rc);
        rc = HC_ELOAD;
    }
    if (rc == HC_OK) {
        count(t, &tc->loads);
        hc_error_clear(err);
        if (c->access_events) hc__emit(c, HC_EVENT_LOAD_COMPLETED, HC_ORIGIN_LOADER, key, klen);
        bool stored;
        /* A value the cache cannot keep (too big, out of memory) is still
           the caller's: the load succeeded, only caching it failed. */
        (void)store(c, key, klen, h, out->data, out->len, opts, f, &stored);
    } else {
        count(t, &tc->load_failures);
        if (err->code == HC_OK) hc_error_set(err, rc, NULL);
        else err->code = rc;
        if (c->access_events) hc__emit(c, HC_EVENT_LOAD_FAILED, HC_ORIGIN_LOADER, key, klen);
    }
    bool stale = rc != HC_OK && serve_stale(c, key, klen, h, out, err);
    if (stale) rc = HC_OK;
    count(t, &tc->loads_ended);
    hc__flight_finish(c, s, f, rc, out, err, stale);
    if (stale) count_stale(c, key, klen, HC_ORIGIN_LOCAL);
    return rc;
}

/* ------------------------------------------------------ invalidation */

static int remove_key(hc_cache *c, const char *key, int why, hc_origin origin)
{
    size_t klen = strlen(key);
    uint64_t h = hc__hash(key, klen);
    hc__shard *s = hc__shard_of(c, h);
    hc__part *p = hc__part_of(c, h);
    hc__op o = hc__op_start(c, origin);
    uint64_t now = now_ms(c);           /* the application's clock: no lock held */
    hc__part_lock(p);
    hc__expire_due(&o, p, now);
    pthread_mutex_lock(&s->lock);
    hc__flight *f = hc__flight_find(s, h, key, klen);
    if (f) hc__flight_stale(s, f);
    hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
    if (e) hc__table_unlink(hc__view(c, s), s, e);
    pthread_mutex_unlock(&s->lock);
    if (e) {
        hc__uncount(p, e, true);
        hc__bury(&o, p, e, why);
        hc__room_give(c, 1, hc__entry_bytes(e));
        p->invalidations++;
    }
    hc__part_unlock(c, p);
    if (!e) {
        /* Report the invalidation even when nothing was cached: a load may
           have been made stale by it. */
        if (why == HC__DEAD_INVALIDATED)
            hc__emit(c, HC_EVENT_KEY_INVALIDATED, origin, key, klen);
    }
    hc__release(&o);
    return e ? HC_OK : HC_MISS;
}

int hc_remove(hc_cache *c, const char *key)
{
    if (!c || !key) return HC_EINVAL;
    return hc__cache_publish(c, remove_key(c, key, HC__DEAD_REMOVED, HC_ORIGIN_LOCAL), HC_BUS_KEY, key);
}

int hc_invalidate_key(hc_cache *c, const char *key)
{
    if (!c || !key) return HC_EINVAL;
    return hc__cache_publish(c, remove_key(c, key, HC__DEAD_INVALIDATED, HC_ORIGIN_LOCAL), HC_BUS_KEY, key);
}

/* The shards of partition p. */
static hc__shard *first_shard(hc_cache *c, const hc__part *p, unsigned *n)
{
    *n = 1u << c->part_shift;
    return &c->shards[(size_t)p->index << c->part_shift];
}

/*
** A tag's entries may be in every partition: each one in turn, under its
** lock, loses its members of the tag, and the loads of its shards that
** would store the tag are marked stale. An entry stored with the tag in a
** partition already visited, by a write that raced this call, stays: that
** write is ordered after the invalidation.
*/
static uint64_t invalidate_tag(hc_cache *c, const char *tag, hc_origin origin)
{
    size_t len = strlen(tag);
    hc__op o = hc__op_start(c, origin);
    uint64_t now = now_ms(c), total = 0;
    for (unsigned q = 0; q < c->nparts; q++) {
        hc__part *p = &c->parts[q];
        uint64_t n = 0, bytes = 0;
        hc__part_lock(p);
        hc__expire_due(&o, p, now);
        hc__tag *t = hc__tag_find(p, tag, len);
        if (t) {
            /* Removing the last member frees t: count down, do not test t. */
            for (uint64_t left = t->count; left > 0; left--) {
                hc__entry *e = t->head.next->entry;
                bytes += hc__entry_bytes(e);
                hc__remove_entry(&o, p, e, HC__DEAD_TAGGED, true, NULL);
                n++;
            }
        }
        unsigned ns;
        hc__shard *s = first_shard(c, p, &ns);
        for (unsigned i = 0; i < ns; i++) {
            pthread_mutex_lock(&s[i].lock);
            hc__flight_stale_matching(&s[i], tag, len);
            pthread_mutex_unlock(&s[i].lock);
        }
        p->invalidations += n;
        hc__room_give(c, n, bytes);
        hc__part_unlock(c, p);
        total += n;
    }
    hc__emit_with(c, HC_EVENT_TAG_INVALIDATED, origin, tag, len, NULL, 0, total);
    hc__release(&o);
    return total;
}

int hc_invalidate_tag(hc_cache *c, const char *tag, uint64_t *removed)
{
    if (removed) *removed = 0;
    if (!c || !tag) return HC_EINVAL;
    uint64_t n = invalidate_tag(c, tag, HC_ORIGIN_LOCAL);
    if (removed) *removed = n;
    return hc__cache_publish(c, HC_OK, HC_BUS_TAG, tag);
}

/* Each partition in turn: its entries, tags, policy and wheel emptied, the
   loads of its shards marked stale. */
static void flush(hc_cache *c, hc_origin origin)
{
    hc__op o = hc__op_start(c, origin);
    uint64_t total = 0;
    for (unsigned q = 0; q < c->nparts; q++) {
        hc__part *p = &c->parts[q];
        uint64_t n = 0;
        hc__part_lock(p);
        unsigned ns;
        hc__shard *s = first_shard(c, p, &ns);
        for (unsigned i = 0; i < ns; i++) {
            pthread_mutex_lock(&s[i].lock);
            hc__table *t = HC__LOAD_RELAXED(hc__view(c, &s[i])->table);
            for (uint32_t b = 0; t && b <= t->mask; b++) {
                hc__entry *e = HC__LOAD_RELAXED(t->bucket[b]);
                HC__STORE_RELEASE(t->bucket[b], NULL);
                while (e) {
                    hc__entry *next = HC__LOAD_RELAXED(e->hnext);
                    hc__policy_remove(&p->policy, &e->node);
                    e->dead = HC__DEAD_FLUSHED;
                    hc__dead_push(&o.garbage, e);
                    n++;
                    e = next;
                }
            }
            s[i].count = 0;
            hc__flight_stale_matching(&s[i], NULL, 0);
            pthread_mutex_unlock(&s[i].lock);
        }
        hc__tags_free_all(c, p);
        hc__policy_clear(&p->policy);
        hc__wheel_init(&p->wheel, p->wheel.now);
        hc__room_give(c, atomic_load_explicit(&p->count, memory_order_relaxed),
                      atomic_load_explicit(&p->bytes, memory_order_relaxed));
        atomic_store_explicit(&p->count, 0, memory_order_relaxed);
        atomic_store_explicit(&p->bytes, 0, memory_order_relaxed);
        p->invalidations += n;
        hc__part_unlock(c, p);
        total += n;
    }
    hc__emit_with(c, HC_EVENT_FLUSHED, origin, NULL, 0, NULL, 0, total);
    hc__release(&o);
}

int hc_flush(hc_cache *c)
{
    if (!c) return HC_EINVAL;
    flush(c, HC_ORIGIN_LOCAL);
    return hc__cache_publish(c, HC_OK, HC_BUS_FLUSH, NULL);
}

/* An invalidation applied like the call but never published: a message
   from the bus (origin bus), or a transactional exec's own (exec.c). */
int hc__apply(hc_cache *c, hc_bus_op what, const char *value, hc_origin origin)
{
    switch (what) {
    case HC_BUS_KEY:
        if (!value) return HC_EINVAL;
        (void)remove_key(c, value, HC__DEAD_INVALIDATED, origin);
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
    for (unsigned i = 0; i < c->nparts; i++) {
        hc__part *p = &c->parts[i];
        hc__part_lock(p);
        out->inserts += p->inserts;
        out->invalidations += p->invalidations;
        out->evictions += p->evictions;
        out->expirations += p->expirations;
        out->stale_load_discards += p->stale_discards;
        hc__part_unlock(c, p);
    }
    for (unsigned i = 0; i < HC_SHARDS; i++) {
        hc__shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->single_flight_joins += s->joins;
        pthread_mutex_unlock(&s->lock);
    }
#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
#define SLOT(f) atomic_load_explicit(&c->tcounts[i].f, memory_order_relaxed)
    for (unsigned i = 0; i <= HC_THREAD_SLOTS; i++) {
        out->hits += SLOT(hits);
        out->misses += SLOT(misses);
        out->loads += SLOT(loads);
        out->load_failures += SLOT(load_failures);
    }
    out->events_published = LOAD(events_published);
    out->event_subscriber_lagged = LOAD(event_subscriber_lagged);
    out->bus_published = LOAD(bus_published);
    out->bus_received = LOAD(bus_received);
    out->bus_applied = LOAD(bus_applied);
    out->bus_lagged = LOAD(bus_lagged);
    out->bus_publish_failures = LOAD(bus_publish_failures);
    out->bus_receiver_closed = LOAD(bus_receiver_closed);
    out->bus_malformed = LOAD(bus_malformed);
    out->refreshes = LOAD(refreshes);
    out->refresh_failures = LOAD(refresh_failures);
    out->refresh_drops = LOAD(refresh_drops);
    out->stale_served = LOAD(stale_served);
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

/*
** With the bounds set, entries and bytes are read from the room in one
** load each, so they are a snapshot even while writes run (and show an
** overshoot in progress as such); otherwise they are the partitions'
** counts added up. Each partition's expired entries are reclaimed first.
*/
int hc_diagnostics_get(hc_cache *c, hc_diagnostics *out)
{
    if (!c || !out) return HC_EINVAL;
    memset(out, 0, sizeof *out);
    hc_stats_get(c, &out->stats);
    hc__op o = hc__op_start(c, HC_ORIGIN_LOCAL);
    uint64_t now = now_ms(c), expirations = 0;
    for (unsigned i = 0; i < c->nparts; i++) {
        hc__part *p = &c->parts[i];
        hc__part_lock(p);
        hc__expire_due(&o, p, now);
        out->entries += atomic_load_explicit(&p->count, memory_order_relaxed);
        out->weighted_bytes += atomic_load_explicit(&p->bytes, memory_order_relaxed);
        out->window_entries += hc__policy_window(&p->policy);
        expirations += p->expirations;
        hc__part_unlock(c, p);
    }
    if (c->max_entries) out->entries = hc__room_used(c, false);
    if (c->max_bytes) out->weighted_bytes = hc__room_used(c, true);
    out->tags = hc__tags_distinct(c);
    out->max_entries = c->max_entries;
    out->max_bytes = c->max_bytes;
    out->stats.expirations = expirations;
    for (unsigned i = 0; i <= HC_THREAD_SLOTS; i++)
        out->loads_in_flight += SLOT(loads_started) - SLOT(loads_ended);
#undef SLOT
    hc__release(&o);
    return HC_OK;
}
