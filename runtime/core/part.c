/*
** part.c -- policy partitions: where a write finds room under the bounds,
** what it evicts, how expired entries are reclaimed, and how unlinked
** entries are freed.
**
** Owns: hc__part, the free room c->room and c->room_bytes, c->timed and
** c->swept, the threads' lists of dead entries (hc__tcount). May call:
** policy.c, ttl.c, tags.c, table.h, events (after every lock is
** released), hc__synchronize (with no lock held), the allocator. Its
** callers are cache.c's entry points.
**
** Partitions. A cache's shards are grouped into nparts partitions (a power
** of two, at most HC_PARTS_MAX). Each has its own lock, eviction policy,
** timer wheel, tag index and counters, so writes to different partitions
** share no lock and no cache line. A partition holds at least
** HC_PART_MIN_ENTRIES entries (or HC_PART_MIN_BYTES bytes) of capacity: a
** cache bounded to fewer than twice that has one partition, and behaves
** exactly as one policy over the whole cache (test_hitratio's traces run
** there). An unbounded cache has HC_PARTS_MAX. Each policy is sized for
** its share of the bounds: its sketch and ghosts together are as big as
** one policy's for the whole cache, and since keys are spread over the
** partitions by hash, each sees a sample of the same workload.
**
** Room. The bounds are kept by counting what is free: c->room entries and
** c->room_bytes bytes (only for the bounds that are set). A write that adds
** weight takes it from the room; a removal (invalidation, expiry, eviction
** for another write) gives it back. When the room is short, the writer
** evicts from its own partition, under the lock it already holds, and the
** weight of its victims pays for its entry without touching the room at
** all: a full cache that keeps storing (every miss of a read-through cache)
** writes nothing shared. So at rest room = bound - sum of weights, exactly.
**
** Sometimes the writer should not evict from its own partition: when the
** partition holds clearly less than its share (less than 7/8 of the bound /
** nparts: keys are hashed, so sizes stay near their share, but
** invalidations can empty one), when it holds too little besides the new
** entry, or when another partition's wheel may hold expired entries (whose
** room must be reclaimed before anything live is evicted). It then stores
** anyway, records what it owes by taking the room below 0, unlocks, sweeps
** the partitions that need it, and evicts from partitions holding at least
** 7/8 of their share, one lock at a time, until it has paid or the room is
** back at 0. Room below 0 is the bounds exceeded; only such writers take it
** there, each by at most its own entry's weight, and none returns before
** it has paid or the room is back. Hence the bound documented in
** hydracache.h: entries and bytes exceed max_entries and max_bytes by at
** most the entries (and their bytes) that writes in progress are adding,
** one entry per write.
**
** Expiry. Each partition's wheel is advanced by the writes to it, by reads
** (every 1024th hit of a thread, if the lock is free), by diagnostics, and
** by any write that must evict: that one first sweeps every partition with
** scheduled entries whose wheel is behind the clock (c->timed and
** c->swept say which, without their locks), so expired entries never cost
** a live entry its place. A thread remembers up to which clock it found
** every partition swept, so that check costs one comparison per write
** within a millisecond.
*/
#include <string.h>

#include "part.h"
#include "table.h"

#define RELAXED memory_order_relaxed

/* ------------------------------------------------------------ partitions */

/* The policy's weigh function in a cache bounded only by bytes: an entry
   weighs its key and value bytes (store() keeps them under UINT32_MAX). */
static uint32_t entry_weight(const hc__pnode *n)
{
    const hc__entry *e = (const hc__entry *)(const void *)n;
    return (uint32_t)hc__entry_bytes(e);
}

static int64_t clamp_room(uint64_t bound)
{
    return bound > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)bound;
}

static void part_destroy(hc_cache *c, hc__part *p)
{
    hc__tags_free_all(c, p);
    hc__free(&c->alloc, p->tags);
    hc__policy_destroy(&p->policy);
    pthread_mutex_destroy(&p->lock);
}

/* Free a list of dead entries and one of bucket arrays. */
static void free_dead(hc_cache *c, hc__entry *entries, hc__table *tables)
{
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

int hc__parts_open(hc_cache *c, uint64_t now)
{
    /* An id, not the address, names the cache in threads' memory of their
       sweeps: a cache opened where a closed one was is another cache. */
    static atomic_uint_fast64_t ids;
    c->id = atomic_fetch_add_explicit(&ids, 1, RELAXED) + 1;
    uint64_t n = HC_PARTS_MAX;
    if (c->max_entries && c->max_entries / HC_PART_MIN_ENTRIES < n)
        n = c->max_entries / HC_PART_MIN_ENTRIES;
    if (c->max_bytes && c->max_bytes / HC_PART_MIN_BYTES < n)
        n = c->max_bytes / HC_PART_MIN_BYTES;
    unsigned np = 1, bits = 0;
    while ((uint64_t)np * 2 <= n) {
        np *= 2;
        bits++;
    }
    _Static_assert(HC_PARTS_MAX <= HC_SHARDS, "a partition has whole shards");
    _Static_assert(HC_PARTS_MAX <= 64, "c->timed has a bit per partition");
    c->nparts = np;
    c->part_shift = HC_SHARD_BITS - bits;
    c->share_entries = c->max_entries / np;
    c->share_bytes = c->max_bytes / np;
    atomic_init(&c->room, clamp_room(c->max_entries));
    atomic_init(&c->room_bytes, clamp_room(c->max_bytes));
    atomic_init(&c->timed, 0);

    size_t parts_size = np * sizeof(hc__part);
    c->parts_mem = hc__malloc(&c->alloc, parts_size + np * sizeof(uint64_t) + 63);
    if (!c->parts_mem) return HC_ENOMEM;
    c->parts = (hc__part *)(((uintptr_t)c->parts_mem + 63) & ~(uintptr_t)63);
    memset(c->parts, 0, parts_size);
    c->swept = (_Atomic uint64_t *)(void *)((char *)c->parts + parts_size);

    uint64_t bound = c->max_entries ? c->max_entries : c->max_bytes;
    uint64_t share = bound / np;
    if (bound && !share) share = 1;
    int rc = HC_OK;
    unsigned i = 0;
    for (; i < np; i++) {
        hc__part *p = &c->parts[i];
        p->index = i;
        atomic_init(&p->count, 0);
        atomic_init(&p->bytes, 0);
        atomic_init(&c->swept[i], now);
        hc__wheel_init(&p->wheel, now);
        if (hc__policy_init(&p->policy, share, c->weigh_bytes ? entry_weight : NULL,
                            &c->alloc) != HC_OK) {
            rc = HC_ENOMEM;
            break;
        }
        if (pthread_mutex_init(&p->lock, NULL) != 0) {
            hc__policy_destroy(&p->policy);
            rc = HC_ESYS;
            break;
        }
    }
    if (rc == HC_OK) return HC_OK;
    while (i-- > 0) part_destroy(c, &c->parts[i]);
    hc__free(&c->alloc, c->parts_mem);
    c->parts_mem = NULL;
    c->parts = NULL;
    return rc;
}

/* No reader can be left (no call on c may run), so what waits for a grace
   period goes at once. */
void hc__parts_close(hc_cache *c)
{
    for (unsigned i = 0; c->tcounts && i <= HC_THREAD_SLOTS; i++) {
        hc__tcount *tc = &c->tcounts[i];
        free_dead(c, tc->dead, tc->dead_tables);
        tc->dead = NULL;
        tc->dead_tables = NULL;
        tc->ndead = 0;
    }
    if (!c->parts) return;
    for (unsigned i = 0; i < c->nparts; i++) part_destroy(c, &c->parts[i]);
    hc__free(&c->alloc, c->parts_mem);
    c->parts = NULL;
}

void hc__part_unlock(hc_cache *c, hc__part *p)
{
    bool timed = p->wheel.scheduled != 0;
    if (timed != p->timed) {
        p->timed = timed;
        uint64_t bit = (uint64_t)1 << p->index;
        if (timed) atomic_fetch_or_explicit(&c->timed, bit, RELAXED);
        else atomic_fetch_and_explicit(&c->timed, ~bit, RELAXED);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Only the lock holder writes count and bytes: a load and a store. */
void hc__part_add(hc__part *p, const hc__entry *e)
{
    atomic_store_explicit(&p->count, atomic_load_explicit(&p->count, RELAXED) + 1, RELAXED);
    atomic_store_explicit(&p->bytes, atomic_load_explicit(&p->bytes, RELAXED) + hc__entry_bytes(e),
                          RELAXED);
}

void hc__part_sub(hc__part *p, const hc__entry *e)
{
    atomic_store_explicit(&p->count, atomic_load_explicit(&p->count, RELAXED) - 1, RELAXED);
    atomic_store_explicit(&p->bytes, atomic_load_explicit(&p->bytes, RELAXED) - hc__entry_bytes(e),
                          RELAXED);
}

void hc__room_give(hc_cache *c, uint64_t n, uint64_t b)
{
    if (c->max_entries && n) atomic_fetch_add_explicit(&c->room, (int64_t)n, RELAXED);
    if (c->max_bytes && b) atomic_fetch_add_explicit(&c->room_bytes, (int64_t)b, RELAXED);
}

uint64_t hc__room_used(hc_cache *c, bool bytes)
{
    int64_t room = atomic_load_explicit(bytes ? &c->room_bytes : &c->room, RELAXED);
    return (uint64_t)(clamp_room(bytes ? c->max_bytes : c->max_entries) - room);
}

/* ------------------------------------------------------------ removal */

void hc__uncount(hc__part *p, hc__entry *e, bool in_policy)
{
    if (in_policy) hc__policy_remove(&p->policy, &e->node);
    hc__part_sub(p, e);
}

void hc__bury(hc__op *o, hc__part *p, hc__entry *e, int why)
{
    hc__wheel_unschedule(&p->wheel, e);
    hc__taglink *tl = hc__entry_tags(e);
    for (unsigned i = 0; i < e->ntags; i++) hc__tag_unlink(o->c, p, &tl[i]);
    e->dead = (uint8_t)why;
    hc__dead_push(&o->garbage, e);
}

void hc__remove_entry(hc__op *o, hc__part *p, hc__entry *e, int why, bool in_policy,
                      hc__shard *held)
{
    hc__shard *s = &o->c->shards[hc__shard_index(e->node.hash)];
    hc__uncount(p, e, in_policy);
    if (s == held) {
        hc__table_unlink(hc__view(o->c, s), s, e);
    } else {
        /* Never two shard locks: let go of the held one meanwhile. Its
           entries cannot change (p's lock is held), only its loads in
           flight. */
        if (held) pthread_mutex_unlock(&held->lock);
        pthread_mutex_lock(&s->lock);
        hc__table_unlink(hc__view(o->c, s), s, e);
        pthread_mutex_unlock(&s->lock);
        if (held) pthread_mutex_lock(&held->lock);
    }
    hc__bury(o, p, e, why);
}

/* ------------------------------------------------------------ expiry */

typedef struct expiry {
    hc__op   *o;
    hc__part *p;
    uint64_t  n, bytes;
} expiry;

static void expire_cb(void *ctx, hc__entry *e)
{
    expiry *x = ctx;
    x->p->expirations++;
    x->n++;
    x->bytes += hc__entry_bytes(e);
    hc__remove_entry(x->o, x->p, e, HC__DEAD_EXPIRED, true, NULL);
}

void hc__expire_due(hc__op *o, hc__part *p, uint64_t now)
{
    if (now <= p->wheel.now) return;
    expiry x = {o, p, 0, 0};
    hc__wheel_advance(&p->wheel, now, expire_cb, &x);
    hc__room_give(o->c, x.n, x.bytes);
    /* Eight partitions share a line of c->swept: written once a tick, not
       on every write. */
    atomic_store_explicit(&o->c->swept[p->index], p->wheel.now, RELAXED);
}

/* Whether a partition other than skip may hold entries expired by now. */
static bool sweep_due(hc_cache *c, unsigned skip, uint64_t now)
{
    hc__thread *t = hc__self_ptr();
    if (t->swept_cache == c->id && t->swept_ms >= now) return false;
    uint64_t mask = atomic_load_explicit(&c->timed, RELAXED) & ~((uint64_t)1 << skip);
    for (; mask; mask &= mask - 1) {
        unsigned q = (unsigned)__builtin_ctzll(mask);
        if (atomic_load_explicit(&c->swept[q], RELAXED) < now) return true;
    }
    t->swept_cache = c->id;
    t->swept_ms = now;
    return false;
}

/* Advance every wheel behind now (that has entries), each under its lock;
   try: only partitions whose lock is free. No lock held. */
static void sweep(hc__op *o, uint64_t now, bool try)
{
    hc_cache *c = o->c;
    uint64_t mask = atomic_load_explicit(&c->timed, RELAXED);
    for (; mask; mask &= mask - 1) {
        unsigned q = (unsigned)__builtin_ctzll(mask);
        if (atomic_load_explicit(&c->swept[q], RELAXED) >= now) continue;
        hc__part *p = &c->parts[q];
        if (try) {
            if (pthread_mutex_trylock(&p->lock) != 0) continue;
        } else {
            hc__part_lock(p);
        }
        hc__expire_due(o, p, now);
        hc__part_unlock(c, p);
    }
}

void hc__maintain(hc_cache *c, uint64_t now)
{
    hc__op o = hc__op_start(c, HC_ORIGIN_LOCAL);
    if (c->nparts == 1) {
        /* One wheel: sweep it even when c->timed says nothing is due, as
           the cache always did (cheap: a trylock and a compare). */
        hc__part *p = &c->parts[0];
        if (pthread_mutex_trylock(&p->lock) != 0) return;
        hc__expire_due(&o, p, now);
        hc__part_unlock(c, p);
    } else {
        sweep(&o, now, true);
    }
    hc__release(&o);
}

/* ------------------------------------------------------------ room */

/* Take up to need from *room (give -need back when negative). Returns
   what is still to find. */
static int64_t take(_Atomic int64_t *room, int64_t need)
{
    if (need <= 0) {
        if (need < 0) atomic_fetch_add_explicit(room, -need, RELAXED);
        return 0;
    }
    int64_t r = atomic_load_explicit(room, RELAXED);
    while (r > 0) {
        int64_t t = r < need ? r : need;
        if (atomic_compare_exchange_weak_explicit(room, &r, r - t, RELAXED, RELAXED))
            return need - t;
    }
    return need;
}

/* Settle what is left after evicting: a surplus goes back to the room, a
   shortfall is taken from it (below 0) and owed. */
static int64_t settle(_Atomic int64_t *room, int64_t left)
{
    if (left < 0) atomic_fetch_add_explicit(room, -left, RELAXED);
    else if (left > 0) atomic_fetch_sub_explicit(room, left, RELAXED);
    return left > 0 ? left : 0;
}

/* Whether p holds at least 7/8 of its share of each bound asked about. */
static bool heavy(const hc_cache *c, const hc__part *p, bool entries, bool bytes)
{
    if (entries && atomic_load_explicit(&p->count, RELAXED) + c->share_entries / 8 < c->share_entries)
        return false;
    if (bytes && atomic_load_explicit(&p->bytes, RELAXED) + c->share_bytes / 8 < c->share_bytes)
        return false;
    return true;
}

void hc__make_room(hc__op *o, hc__part *p, hc__entry *e, const hc__entry *old,
                   uint64_t now, hc__shard *held, hc__debt *debt, bool *self_evicted)
{
    hc_cache *c = o->c;
    int64_t ne = 0, nb = 0;                     /* still to find */
    *self_evicted = false;
    debt->entries = debt->bytes = 0;
    if (c->max_entries) ne = take(&c->room, old ? 0 : 1);
    if (c->max_bytes)
        nb = take(&c->room_bytes,
                  (int64_t)hc__entry_bytes(e) - (old ? (int64_t)hc__entry_bytes(old) : 0));
    if (ne <= 0 && nb <= 0) return;

    bool here = c->nparts == 1;
    if (!here) {
        uint64_t count = atomic_load_explicit(&p->count, RELAXED);
        uint64_t bytes = atomic_load_explicit(&p->bytes, RELAXED);
        here = heavy(c, p, ne > 0, nb > 0) &&
               (ne <= 0 || count - 1 >= (uint64_t)ne) &&
               (nb <= 0 || bytes - hc__entry_bytes(e) >= (uint64_t)nb) &&
               !sweep_due(c, p->index, now);
    }
    while (here && (ne > 0 || nb > 0)) {
        hc__pnode *n = hc__policy_evict(&p->policy);
        if (!n) break;
        hc__entry *v = hc__entry_of(n);
        p->evictions++;
        ne -= 1;
        nb -= (int64_t)hc__entry_bytes(v);
        if (v == e) {
            /* The policy judged the newcomer least worth keeping. */
            *self_evicted = true;
            hc__uncount(p, e, false);
        } else {
            hc__remove_entry(o, p, v, HC__DEAD_EVICTED, false, held);
        }
    }
    if (c->max_entries) debt->entries = settle(&c->room, ne);
    if (c->max_bytes) debt->bytes = settle(&c->room_bytes, nb);
}

static bool owed(hc_cache *c, const hc__debt *d)
{
    return (d->entries > 0 && atomic_load_explicit(&c->room, RELAXED) < 0) ||
           (d->bytes > 0 && atomic_load_explicit(&c->room_bytes, RELAXED) < 0);
}

/* Where to evict for a debt: p if it holds its share, else the next
   partition (from a point that moves on each time) that does, else the
   one holding the most. */
static hc__part *victim_part(hc_cache *c, hc__part *p, const hc__debt *d)
{
    bool de = d->entries > 0, db = d->bytes > 0;
    if (heavy(c, p, de, db) && atomic_load_explicit(&p->count, RELAXED) > 0) return p;
    unsigned start = hc__self_ptr()->victim_next++;
    hc__part *most = p;
    uint64_t most_w = 0;
    for (unsigned i = 0; i < c->nparts; i++) {
        hc__part *q = &c->parts[(start + i) & (c->nparts - 1)];
        uint64_t n = atomic_load_explicit(&q->count, RELAXED);
        if (!n) continue;
        if (heavy(c, q, de, db)) return q;
        uint64_t w = db ? atomic_load_explicit(&q->bytes, RELAXED) : n;
        if (w > most_w) {
            most_w = w;
            most = q;
        }
    }
    return most;
}

void hc__pay_debt(hc__op *o, hc__part *p, uint64_t now, hc__debt debt)
{
    hc_cache *c = o->c;
    if (debt.entries <= 0 && debt.bytes <= 0) return;
    /* Expired entries first: their room is free for the taking. */
    sweep(o, now, false);
    unsigned misses = 0;
    while (owed(c, &debt)) {
        hc__part *q = victim_part(c, p, &debt);
        hc__part_lock(q);
        hc__pnode *n = hc__policy_evict(&q->policy);
        if (n) {
            hc__entry *v = hc__entry_of(n);
            q->evictions++;
            hc__remove_entry(o, q, v, HC__DEAD_EVICTED, false, NULL);
            hc__room_give(c, 1, hc__entry_bytes(v));
            debt.entries--;
            debt.bytes -= (int64_t)hc__entry_bytes(v);
        }
        hc__part_unlock(c, q);
        /* Partitions emptied under us by other threads: the room they
           freed is back, or another writer is paying. */
        if (!n && ++misses > 2 * c->nparts) break;
    }
}

/* ------------------------------------------------------------ release */

/*
** Readers may still be looking at an entry just unlinked, so it waits in a
** list until a grace period has passed. Rather than wait for one per
** write, the write that brings its thread's list to DEFER_BATCH entries
** (or retires a table, which resizes do rarely) waits once for all of
** them, then frees them. The list is the thread's own (its counter slot's,
** hc__tcount), so no lock is taken, and the memory goes back to malloc in
** the thread that will allocate next: lists per partition, shared by the
** threads writing there, left it to cool for as long as it took all of
** them to fill up, and puts ran about three times slower. A grace period
** takes microseconds unless a reader is descheduled inside its lookup; no
** lock is held meanwhile. Threads beyond HC_THREAD_SLOTS share the last
** slot's list, under c->defer_lock.
*/
#define DEFER_BATCH 256u

void hc__release(hc__op *o)
{
    hc_cache *c = o->c;
    hc__entry *first = o->garbage, *last = NULL;
    unsigned n = 0;
    for (hc__entry *e = first; e; e = hc__dead_next(e)) {
        switch (e->dead) {
        case HC__DEAD_REMOVED:
            hc__emit(c, HC_EVENT_REMOVED, o->origin, e->data, e->klen);
            break;
        case HC__DEAD_INVALIDATED:
            hc__emit(c, HC_EVENT_KEY_INVALIDATED, o->origin, e->data, e->klen);
            break;
        case HC__DEAD_EXPIRED:
            hc__emit(c, HC_EVENT_EXPIRED, HC_ORIGIN_BACKEND, e->data, e->klen);
            break;
        case HC__DEAD_EVICTED:
            hc__emit(c, HC_EVENT_EVICTED, HC_ORIGIN_BACKEND, e->data, e->klen);
            break;
        default:
            break;
        }
        last = e;
        n++;
    }
    if (!first && !o->retired) return;

    const hc__thread *t = hc__thread_get();
    hc__tcount *tc = &c->tcounts[t->slot];
    bool shared = t->slot == HC_THREAD_SLOTS;
    hc__entry *entries = NULL;
    hc__table *tables = NULL;
    if (shared) pthread_mutex_lock(&c->defer_lock);
    if (first) {
        hc__dead_set_next(last, tc->dead);
        tc->dead = first;
        tc->ndead += n;
    }
    if (o->retired) {
        o->retired->next = tc->dead_tables;
        tc->dead_tables = o->retired;
    }
    if (tc->ndead >= DEFER_BATCH || tc->dead_tables) {
        entries = tc->dead;
        tables = tc->dead_tables;
        tc->dead = NULL;
        tc->dead_tables = NULL;
        tc->ndead = 0;
    }
    if (shared) pthread_mutex_unlock(&c->defer_lock);
    o->garbage = NULL;
    o->retired = NULL;
    if (!entries && !tables) return;
    hc__synchronize();
    free_dead(c, entries, tables);
}
