/*
** hc_int.h -- what the runtime's source files share and the public header
** does not show.
**
** Locking, in one paragraph: a cache's keys are split by hash into
** HC_SHARDS shards, and the shards into nparts policy partitions (1 to
** HC_PARTS_MAX, by capacity: see part.c). A shard lock guards that shard's
** hash table and its list of loads in flight. A partition lock guards what
** belongs to the keys of its shards: their eviction policy, timer wheel, tag
** index, counts and write counters. Every change to the set of entries of a
** shard takes its partition's lock first, then the shard lock; no thread
** holds two shard locks, and none holds two partition locks (but
** diagnostics, which takes a second one of lower index: part.c). Because
** every such change holds the partition lock, a writer holding it may look
** at one of its shards, unlock it, evict elsewhere in the partition and lock
** it again, and find the shard's entries as it left them (only loads in
** flight change under a shard lock alone). What the partitions share is the
** free room under the bounds, c->room and c->room_bytes: atomics that a
** write touches only when it adds or frees room (part.c, "Room"). Nothing
** else is cache-wide on the write path. Loaders, callbacks and the freeing
** of unlinked entries run with no lock held.
**
** Reads, in one more: they take no lock. hc_get, hc_contains and the hit
** path of hc_get_or_load first look the key up inside an RCU read-side
** critical section (rcu.c: entering and leaving one is a store to the
** thread's own counter, no fence and no shared write). Writers
** publish a new entry with a release store once it is complete, unlink an
** entry by pointing its predecessor at its successor, replace one in place,
** and never change an unlinked entry's hash link; unlinked entries and
** replaced bucket arrays are freed, in batches, once every read-side
** critical section that might still see them has ended. A read that
** cannot answer without the lock (a miss a table resize may have caused, a
** miss in hc_get_or_load, an expired entry, a buffer too small) takes the
** shard lock and looks again, as all reads did before. See docs/RUNTIME.md,
** "The read path".
*/
#ifndef HC_INT_H
#define HC_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hydracache/core.h"
#include "hydracache/gen.h"
#include "hydracache/bus.h"
#include "hc_mem.h"
#include "policy.h"

#define HC_SHARD_BITS 6
#define HC_SHARDS     (1u << HC_SHARD_BITS)
/* Policy partitions: at most HC_PARTS_MAX (a power of two, at most
   HC_SHARDS), each with at least HC_PART_MIN_ENTRIES entries or
   HC_PART_MIN_BYTES bytes of capacity (part.c). */
#define HC_PARTS_MAX        64u
#ifndef HC_PART_MIN_ENTRIES
#define HC_PART_MIN_ENTRIES 1024u
#endif
#ifndef HC_PART_MIN_BYTES
#define HC_PART_MIN_BYTES   ((uint64_t)1 << 20)
#endif

#define HC_UNUSED(x) ((void)(x))

/* HC_NOINLINE keeps a slow path out of a hot function's frame; HC_INLINE
   folds a step of the hit path into its caller (a call and its prologue
   cost a hit about a tenth of its instructions). HC_TLS_IE
   asks for the initial-exec TLS model: thread-locals read on every hit
   then cost one load from the thread pointer, also in the shared library,
   instead of a call to __tls_get_addr. */
#if defined(__GNUC__)
#  define HC_NOINLINE __attribute__((noinline))
#  define HC_INLINE   static inline __attribute__((always_inline))
#  define HC_TLS_IE   __attribute__((tls_model("initial-exec")))
#  define HC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define HC_NOINLINE
#  define HC_INLINE   static inline
#  define HC_TLS_IE
#  define HC_UNLIKELY(x) (x)
#endif

typedef struct hc__entry  hc__entry;

/* A link in a circular doubly-linked list with a sentinel head. */
typedef struct hc__link {
    struct hc__link *prev, *next;
} hc__link;
typedef struct hc__tag    hc__tag;
typedef struct hc__flight hc__flight;

/*
** One tag an entry carries: a link in the tag's member list. Entries keep
** their links inline, after the key and value bytes.
*/
typedef struct hc__taglink {
    hc__tag *tag;
    struct hc__taglink *prev, *next;
    hc__entry *entry;
} hc__taglink;

/*
** A cache entry: one allocation holding the header, the key bytes, the value
** bytes and, 8-aligned after them, ntags tag links. The header is 40 bytes,
** so an entry with a 16-byte key and a 64-byte value fits a 128-byte malloc
** chunk; its shard and weight are derived, not stored.
**
** An entry with a deadline has an hc__ttl just before its header, in the
** same allocation (HC__E_TTL in its flags says so): what expiry needs costs
** nothing to the entries that never expire. An entry stored with a refresh
** interval or a stale-if-error window has an hc__fresh before that
** (HC__E_FRESH), so those cost nothing to the entries without them either.
** hc__entry_block() is the start of the allocation, which is what gets
** freed:
**
**     [hc__fresh, 16][hc__ttl, 24][header, 40][key][value][pad][tag links]
**      if FRESH       if TTL
**
** Lock-free readers read node.hash, node.freq (through hc__policy_touch),
** the flags, hnext, the deadline, klen, vlen and the data, so those never
** change once the entry is published, except hnext, which a table resize
** rewrites. Once an entry is dead (out of its table, the policy and the
** timer wheel), its policy links, which readers never read, chain the list
** it waits in to be freed (hc__dead_push, hc__dead_next).
*/
#define HC_MAX_KEY_BYTES   UINT16_MAX
#define HC_MAX_ENTRY_TAGS  UINT8_MAX
struct hc__entry {
    hc__pnode  node;                 /* first: the policy's links and hash */
    hc__entry *_Atomic hnext;        /* hash chain */
    uint32_t   vlen;
    uint16_t   klen;                 /* at most HC_MAX_KEY_BYTES */
    uint8_t    ntags;                /* at most HC_MAX_ENTRY_TAGS */
    uint8_t    dead;                 /* unlinked, waiting to be freed: why */
    char       data[];               /* key, then value, then tag links */
};
_Static_assert(sizeof(hc__entry) == 40, "the entry header is 40 bytes");

/* The entry's flags live in the bytes the policy leaves to its owner. */
#define hc__entry_flags(e)  ((e)->node.owner[0])
#define HC__E_TTL           0x01u    /* an hc__ttl precedes the header */
#define HC__E_FRESH         0x02u    /* an hc__fresh precedes the hc__ttl, or the
                                        header when there is none */

/* What an entry with a deadline has before its header. */
typedef struct hc__ttl {
    hc__link   tl;                   /* timer wheel bucket; next NULL: not scheduled */
    uint64_t   expire_at;            /* clock ms */
} hc__ttl;
_Static_assert(sizeof(hc__ttl) % 8 == 0, "the header after it stays aligned");

/*
** What an entry with a refresh interval or a stale-if-error window has
** before the rest. refresh_at is the one field of an entry that changes
** once it is published: a reader claims the refresh by swapping it from a
** time that has come to HC__REFRESH_CLAIMED (so one reader per entry
** starts it), and a refresh that did not replace the entry puts a later
** time back under the shard lock (cache.c, hc__refresh_release).
*/
typedef struct hc__fresh {
    _Atomic uint64_t refresh_at;     /* clock ms; HC__REFRESH_NONE: never */
    uint64_t   stale_until;          /* clock ms until which, once expired, the
                                        value stands in for a failed load; 0: never */
} hc__fresh;
_Static_assert(sizeof(hc__fresh) % 8 == 0, "the header after it stays aligned");
#define HC__REFRESH_NONE    UINT64_MAX
#define HC__REFRESH_CLAIMED (UINT64_MAX - 1)

static inline bool hc__entry_has_ttl(const hc__entry *e)
{
    return hc__entry_flags(e) & HC__E_TTL;
}
static inline bool hc__entry_is_fresh(const hc__entry *e)
{
    return hc__entry_flags(e) & HC__E_FRESH;
}
static inline hc__ttl *hc__entry_ttl(const hc__entry *e)
{
    return (hc__ttl *)(void *)((char *)(uintptr_t)e - sizeof(hc__ttl));
}
static inline hc__fresh *hc__entry_fresh(const hc__entry *e)
{
    char *p = (char *)(uintptr_t)e - sizeof(hc__fresh);
    if (hc__entry_has_ttl(e)) p -= sizeof(hc__ttl);
    return (hc__fresh *)(void *)p;
}
/* The entry's deadline in clock ms; UINT64_MAX = never. */
static inline uint64_t hc__entry_expire(const hc__entry *e)
{
    return hc__entry_has_ttl(e) ? hc__entry_ttl(e)->expire_at : UINT64_MAX;
}
/* When the entry is reclaimed: its deadline, or the end of its
   stale-if-error window when it has one (the timer wheel's time). */
static inline uint64_t hc__entry_reclaim(const hc__entry *e)
{
    uint64_t at = hc__entry_expire(e);
    if (at != UINT64_MAX && hc__entry_is_fresh(e)) {
        uint64_t until = hc__entry_fresh(e)->stale_until;
        if (until > at) return until;
    }
    return at;
}
/* The start of the entry's allocation. */
static inline void *hc__entry_block(hc__entry *e)
{
    char *p = (char *)e;
    if (hc__entry_has_ttl(e)) p -= sizeof(hc__ttl);
    if (hc__entry_is_fresh(e)) p -= sizeof(hc__fresh);
    return p;
}

/* Lists of dead entries, chained through their policy links. */
static inline void hc__dead_set_next(hc__entry *e, hc__entry *next)
{
    e->node.next = (hc__pnode *)(void *)next;
}
static inline void hc__dead_push(hc__entry **list, hc__entry *e)
{
    hc__dead_set_next(e, *list);
    *list = e;
}
static inline hc__entry *hc__dead_next(const hc__entry *e)
{
    return (hc__entry *)(void *)e->node.next;
}

/* A mutex and a condition variable whose timed waits run on
   CLOCK_MONOTONIC, so a wall-clock jump never stretches or cuts a wait.
   0, or -1 with neither initialised. */
static inline int hc__mutex_cond_init(pthread_mutex_t *mu, pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) return -1;
    if (pthread_mutex_init(mu, NULL) != 0) {
        pthread_cond_destroy(cv);
        return -1;
    }
    return 0;
}

/* The shard of a key: the top bits of the low 32 bits of its hash, which
   the entry keeps in node.hash; the bucket within the shard uses the low
   bits. */
static inline unsigned hc__shard_index(uint32_t h32)
{
    return h32 >> (32 - HC_SHARD_BITS);
}

/* An entry's weight against max_bytes: its key and value bytes. */
static inline uint64_t hc__entry_bytes(const hc__entry *e)
{
    return (uint64_t)e->klen + e->vlen;
}

static inline const char *hc__entry_key(const hc__entry *e) { return e->data; }
static inline const uint8_t *hc__entry_val(const hc__entry *e)
{
    return (const uint8_t *)e->data + e->klen;
}
static inline hc__taglink *hc__entry_tags(hc__entry *e)
{
    size_t off = ((size_t)e->klen + e->vlen + 7u) & ~(size_t)7u;
    return (hc__taglink *)(void *)(e->data + off);
}
static inline hc__entry *hc__entry_of(hc__pnode *n) { return (hc__entry *)(void *)n; }

/* A tag: its name, its members, and its place in its partition's tag
   index (a tag carried in several partitions has one of these in each). */
struct hc__tag {
    hc__tag    *hnext;               /* tag index chain */
    uint64_t    hash;
    uint64_t    count;               /* members */
    bool        seen;                /* diagnostics: found in a partition before */
    hc__taglink head;                /* circular member list */
    size_t      len;
    char        name[];
};

/*
** A load in flight. The leader runs the loader; joiners wait on cv. While
** attached it is in its shard's flight list and new callers join it; it is
** detached when it finishes, or early when an invalidation makes it stale,
** so that later callers start a fresh load. While its loader runs it is
** also on the leader thread's own chain (hc__thread.leading, through
** outer), attached or not: that is how a loader asking for its own key is
** told HC_EBUSY. refs counts the leader and the joiners; the last to drop
** it frees it.
*/
struct hc__flight {
    hc__flight *next;                /* shard's flight list */
    uint64_t    hash;
    hc_cache   *cache;
    hc__flight *outer;               /* the load this thread led before this one */
    bool        attached, stale;     /* under the shard lock */
    bool        done;                /* under mu */
    bool        waitable;            /* mu and cv set up (by the first joiner,
                                        under the shard lock) */
    bool        served_stale;        /* under mu once done: the value handed to
                                        joiners is an expired one standing in
                                        for the load's failure */
    unsigned    waiters;             /* joiners, under the shard lock */
    bool        settled;             /* leader only: detached by its store */
    unsigned    settled_waiters;     /* leader only: waiters then */
    atomic_uint refs;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int         rc;                  /* the result, under mu once done */
    hc_error    err;
    uint8_t    *val;
    size_t      vlen;
    size_t      klen, ntags;
    char      **tags;                /* ntags tag names, for staleness */
    char       *key;                 /* klen bytes, NUL-terminated */
};

/*
** A shard's hash table: nbuckets = mask + 1 chains. Readers load the shard's
** table pointer once and use that table's mask with its buckets, so a
** resize publishes a whole new table; the old one is freed after a grace
** period, like an entry. table.h and table.c hold its code.
*/
typedef struct hc__table {
    struct hc__table *next;          /* once replaced: the list of tables to free */
    uint32_t    mask;
    hc__entry *_Atomic bucket[];
} hc__table;

/*
** A shard: hash table and loads in flight for 1/HC_SHARDS of the keys. What
** readers read of it (its view) lives apart from what writers and misses
** write, in an array of its own, four views to a cache line: only a resize
** writes a view, and a hit then touches 16 lines of views for all shards
** rather than one line per shard (64 lines cost hits about 4 % against
** the 32 of 32 shards).
*/
typedef struct hc__shard_view {
    hc__table *_Atomic table;        /* NULL until first insert */
    atomic_uint resizes;             /* odd while a resize rewrites chains */
    _Atomic uint32_t mask;           /* a copy of table->mask for readers, so
                                        that a hit need not load the table's
                                        header line (table.h) */
} hc__shard_view;
_Static_assert(sizeof(hc__shard_view) == 16, "four views to a cache line");

typedef struct hc__shard {
    _Alignas(64) pthread_mutex_t lock;
    uint32_t    count;
    hc__flight *flights;
    uint64_t    joins;               /* written under the lock */
} hc__shard;

/* Hierarchical timer wheel: 6 levels of 64 buckets, level i ticks 64^i ms. */
#define HC_WHEEL_LEVELS 6
#define HC_WHEEL_BITS   6
#define HC_WHEEL_SIZE   (1u << HC_WHEEL_BITS)
typedef struct hc__wheel {
    uint64_t   now;                  /* time of the last advance */
    uint64_t   scheduled;            /* beside now: a write reads both */
    hc__link   bucket[HC_WHEEL_LEVELS][HC_WHEEL_SIZE];   /* sentinels */
} hc__wheel;

/*
** A policy partition: the write-side state of the keys of HC_SHARDS /
** nparts consecutive shards (part.c). Everything but the atomics is
** written under lock. count and bytes are atomics only so that writers
** of other partitions may read them (relaxed) to pick where to evict.
*/
typedef struct hc__part {
    /* What every write to the partition writes, on as few cache lines as
       may be: another core's write to it moves them all. */
    _Alignas(64) pthread_mutex_t lock;
    atomic_uint_fast64_t count, bytes;   /* live entries and their weight */
    uint64_t        inserts, evictions;
    unsigned        index;
    bool            timed;           /* its wheel is non-empty: its bit in c->timed */
    hc__policy      policy;
    hc__wheel       wheel;
    /* Less often. */
    uint64_t        invalidations, expirations, stale_discards;
    hc__tag       **tags;            /* tag index of this partition's entries */
    uint32_t        tagmask;
    uint64_t        ntags;
} hc__part;

/*
** Per-thread counters. A thread that uses a cache gets one of
** HC_THREAD_SLOTS slots (see rcu.c) and counts its hits and misses on each
** cache in that cache's slot: only that thread writes it, with a relaxed
** load and store, so a read makes no atomic read-modify-write and shares no
** line with other threads' reads. hc_stats_get sums the slots. Threads
** beyond HC_THREAD_SLOTS at once share the last slot and add to it
** atomically.
*/
#define HC_THREAD_SLOTS 64
typedef struct hc__tcount {
    _Alignas(64) atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses;
    atomic_uint_fast64_t loads, load_failures;
    atomic_uint_fast64_t loads_started, loads_ended;   /* in flight: the difference */
    /* What this thread's writes unlinked, waiting for a grace period to be
       freed (part.c, hc__release); the shared slot's under c->defer_lock. */
    hc__entry *dead;                 /* hc__dead_push */
    struct hc__table *dead_tables;   /* chained through next */
    unsigned   ndead;                /* entries in dead */
} hc__tcount;

struct hc_cache {
    hc_allocator    alloc;           /* always complete */
    char           *name;
    char           *node_id;
    uint64_t        max_entries, max_bytes, default_ttl_ms, load_wait_timeout_ms;
    size_t          max_entry_bytes;
    uint64_t      (*clock_ms)(void *ctx);
    void           *clock_ctx;
    uint64_t        coarse_slack_ms; /* 0: no coarse clock; cache.c, coarse_slack() */
    unsigned        event_buffer;
    bool            access_events;
    hc_bus         *bus;
    struct hc__events *events;       /* subscriptions: events.c */
    struct hc__holds *holds;         /* tags held by open transactions: hold.c */
    struct hc__anchor *anchor;       /* what deferred releases refer to: hold.c */
    atomic_uint     nheld;           /* tags (and flushes) held; 0: store skips them */
    atomic_uint     nsubs;           /* open subscriptions; 0: hc__emit returns */
    bool            weigh_bytes;     /* the policy counts bytes, not entries */

    uint64_t        id;              /* unique in the process, never 0 */
    /* Policy partitions (see above and part.c). */
    unsigned        nparts;          /* a power of two */
    unsigned        part_shift;      /* a shard's partition: shard >> part_shift */
    uint64_t        share_entries, share_bytes;  /* each partition's part of the bounds */
    hc__part       *parts;
    _Atomic uint64_t *swept;         /* per partition: the clock its wheel last reached */
    /* Counters written without a lock. */
    atomic_uint_fast64_t events_published, event_subscriber_lagged;
    atomic_uint_fast64_t bus_published, bus_received, bus_applied, bus_lagged;
    atomic_uint_fast64_t bus_publish_failures, bus_receiver_closed, bus_malformed;
    atomic_uint_fast64_t refreshes, refresh_failures, refresh_drops, stale_served;
    /* Refresh-ahead (refresh.c): the threads and their queue, NULL when
       refresh_threads is 0. */
    unsigned        refresh_threads, refresh_queue;
    struct hc__pool *pool;
    /* Free room under max_entries and max_bytes; below 0 while writers
       that could not evict at once owe it (part.c). Apart, on a line of
       their own. */
    _Alignas(64) _Atomic int64_t room, room_bytes;
    atomic_uint_fast64_t timed;      /* bit i: partition i has entries with deadlines */

    hc__shard_view *views;           /* HC_SHARDS, what readers read of shards */
    hc__shard      *shards;          /* HC_SHARDS, cache-line aligned */
    hc__tcount     *tcounts;         /* HC_THREAD_SLOTS + 1, after the shards */
    pthread_mutex_t defer_lock;      /* the shared slot's dead lists */
    void           *shards_mem;      /* what to free for shards and counters */
    void           *parts_mem;       /* what to free for parts and swept */

    struct hc__decls *_Atomic decls; /* decl.c: per-declaration counters, made on first use */
};

/* The shard, its view and the partition of a key hash. */
static inline hc__shard *hc__shard_of(hc_cache *c, uint64_t h)
{
    return &c->shards[hc__shard_index((uint32_t)h)];
}
static inline hc__shard_view *hc__view(hc_cache *c, const hc__shard *s)
{
    return &c->views[s - c->shards];
}
static inline hc__part *hc__part_of(hc_cache *c, uint64_t h)
{
    return &c->parts[hc__shard_index((uint32_t)h) >> c->part_shift];
}

/*
** rcu.c: the calling thread's state. hc__thread_get() sets it up on first
** use: registers the thread as a reader (and arranges for it to unregister
** when the thread exits) and claims a counter slot. A thread that cannot
** be set up (no thread-specific key left) has rcu false: its reads take the
** locked path.
*/
typedef struct hc__thread {
    _Atomic uint64_t rcu_ctr;        /* 0: outside a read-side section; else
                                        hc__rcu_gp as it was on entering */
    unsigned rcu_nest;               /* sections entered and not left */
    bool     ready, rcu;
    unsigned slot;                   /* index into hc_cache.tcounts */
    struct hc__flight *leading;      /* the innermost load this thread runs
                                        the loader of (flight.c), or NULL */
    uint64_t swept_cache;            /* part.c: every partition of the cache of
                                        this id (hc_cache.id) */
    uint64_t swept_ms;               /* was swept up to this clock */
    unsigned victim_next;            /* part.c: where to look for room next */
    uint64_t rng;                    /* cache.c: TTL jitter's generator, 0 until seeded */
    struct hc__thread *rcu_prev, *rcu_next;   /* rcu.c's list of readers */
} hc__thread;
extern _Thread_local hc__thread hc__self HC_TLS_IE;
void hc__thread_setup(void);
/*
** &hc__self, for reading through. gcc 12 at -O2 with -fsanitize=undefined
** miscompiles the null check of a thread-local's address in some inlined
** contexts (its "je" tests the flags of an earlier comparison) and reports
** a null member access that cannot happen; sanitizer builds (HC_SANITIZE,
** set by the Makefile) therefore hide the address from the optimizer.
*/
static inline hc__thread *hc__self_ptr(void)
{
    hc__thread *t = &hc__self;
#if defined(HC_SANITIZE) && defined(__GNUC__)
    __asm__("" : "+r"(t));
#endif
    return t;
}

static inline const hc__thread *hc__thread_get(void)
{
    if (!hc__self.ready) hc__thread_setup();
    return hc__self_ptr();
}

/*
** ThreadSanitizer does not understand membarrier(2) or fences, so it would
** report each deferred free as a race with the reads before it. In TSan
** builds only, every read-side critical section ends with a release of
** hc__rcu_sync, and hc__synchronize acquires it once the grace period is
** over: the ordering a grace period provides, told to TSan. Elsewhere
** these are no-ops.
*/
#if defined(__SANITIZE_THREAD__)
#  define HC_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define HC_TSAN 1
#  endif
#endif
#ifdef HC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char hc__rcu_sync;
#  define HC_TSAN_ACQUIRE() __tsan_acquire(&hc__rcu_sync)
#  define HC_TSAN_RELEASE() __tsan_release(&hc__rcu_sync)
#else
#  define HC_TSAN_ACQUIRE() ((void)0)
#  define HC_TSAN_RELEASE() ((void)0)
#endif

/*
** The read side of rcu.c (see there for why it is correct). hc__rcu_gp is
** the grace-period counter; hc__rcu_fences is set when the kernel offers
** no membarrier(2), and then readers order their entry with a fence of
** their own.
*/
extern _Atomic uint64_t hc__rcu_gp;
extern atomic_bool hc__rcu_fences;
void hc__rcu_full_fence(void);

/* A read-side critical section: what it reads stays allocated until it
   ends. Nests; only for a thread whose hc__thread has rcu set. */
static inline void hc__read_begin(void)
{
    hc__thread *t = hc__self_ptr();
    if (t->rcu_nest++) return;
    atomic_store_explicit(&t->rcu_ctr, atomic_load_explicit(&hc__rcu_gp, memory_order_acquire),
                          memory_order_relaxed);
    /* The loads of the section must not pass the store above: the writer's
       membarrier(2) sees to that, or else this fence. */
    if (atomic_load_explicit(&hc__rcu_fences, memory_order_relaxed)) hc__rcu_full_fence();
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void hc__read_end(void)
{
    hc__thread *t = hc__self_ptr();
    HC_TSAN_RELEASE();
    if (--t->rcu_nest) return;
    atomic_store_explicit(&t->rcu_ctr, 0, memory_order_release);
}

/* Wait until every read-side critical section that began before this call
   has ended (a grace period). Not inside one; no lock may be held. */
void hc__synchronize(void);
/* For tests: readers fence instead of relying on membarrier (see rcu.c). */
void hc__rcu_use_fences(bool on);

/*
** The one hash function for keys and tags: XXH3 from Debian's libxxhash,
** fast on short keys and well distributed in every bit, which the shard,
** bucket and policy-sketch indexes all rely on. Inlined from the header
** (XXH_INLINE_ALL), so a hit makes no call for it.
*/
static inline uint64_t hc__hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

/* ttl.c: a partition's timer wheel, under the partition's lock. */
void hc__wheel_init(hc__wheel *w, uint64_t now);
void hc__wheel_schedule(hc__wheel *w, hc__entry *e);
void hc__wheel_unschedule(hc__wheel *w, hc__entry *e);
/* Move to now; each entry whose time has come is unscheduled and passed to
   expire(ctx, e), which must not schedule or unschedule anything. */
typedef void (*hc__expire_fn)(void *ctx, hc__entry *e);
void hc__wheel_advance(hc__wheel *w, uint64_t now, hc__expire_fn expire, void *ctx);

/* tags.c: a partition's tag index, under the partition's lock. */
hc__tag *hc__tag_find(const hc__part *p, const char *name, size_t len);
/* Find or create; NULL on out of memory. A new tag has count 0 and must be
   linked to or released. */
hc__tag *hc__tag_get(hc_cache *c, hc__part *p, const char *name, size_t len);
void hc__tag_link(hc__tag *t, hc__taglink *l, hc__entry *e);
void hc__tag_unlink(hc_cache *c, hc__part *p, hc__taglink *l);
/* Free t if it has no members. */
void hc__tag_release(hc_cache *c, hc__part *p, hc__tag *t);
void hc__tags_free_all(hc_cache *c, hc__part *p);
/* Distinct tags over every partition (diagnostics); takes their locks. */
uint64_t hc__tags_distinct(hc_cache *c);

/*
** events.c: subscriptions. hc__events_open/close are called by
** hc_cache_open/close (close ends every subscription still open: its recv
** returns HC_ECLOSED once drained, and it no longer refers to the cache).
** hc__emit_event copies what it keeps; no lock of the cache may be held
** when it is called. hc__emit_with is the cheap front: a relaxed load and
** a branch while nobody subscribes; hc__emit is it for events that carry
** no tags and no count.
*/
int  hc__events_open(hc_cache *c);
void hc__events_close(hc_cache *c);
void hc__emit_event(hc_cache *c, const hc_event *ev);
/* For tests: whether hc_listener_close has begun on l (from then on no
   further callback starts). */
bool hc__listener_stopping(const hc_listener *l);
static inline void hc__emit_with(hc_cache *c, hc_event_kind kind, hc_origin origin,
                                 const char *key, size_t klen, const char *const *tags,
                                 size_t ntags, uint64_t count)
{
    if (atomic_load_explicit(&c->nsubs, memory_order_relaxed) == 0) return;
    hc_event ev = {kind, origin, 0, key, klen, tags, ntags, count, 0};
    hc__emit_event(c, &ev);
}
static inline void hc__emit(hc_cache *c, hc_event_kind kind, hc_origin origin,
                            const char *key, size_t klen)
{
    hc__emit_with(c, kind, origin, key, klen, NULL, 0, 0);
}

/*
** cache_bus.c: a cache's membership of its bus. hc__cache_bus_attach (in
** hc_cache_open) makes c a member of c->bus, hc__cache_bus_detach (in
** hc_cache_close) ends it, waiting for a delivery to c that is running.
** hc__cache_publish publishes an invalidation c applied locally (when c
** has a bus) and counts it; it returns rc, or HC_EBUS when the publish
** failed.
*/
int  hc__cache_bus_attach(hc_cache *c);
void hc__cache_bus_detach(hc_cache *c);
int  hc__cache_publish(hc_cache *c, int rc, hc_bus_op op, const char *value);
/*
** hold.c: tags held while the transaction of a write that invalidates them
** is open (see there). hc__cache_hold holds tags (all: every entry) and
** invalidates them locally; hc__cache_release drops the holds and
** invalidates again, published on the bus if publish. hc__cache_held says
** whether an entry with these tags may not be stored now; call it under
** the lock of the entry's partition, which orders it after a hold's
** invalidation of that partition.
*/
int  hc__holds_open(hc_cache *c);
void hc__holds_close(hc_cache *c);
int  hc__cache_hold(hc_cache *c, const char *const *tags, size_t n, bool all);
void hc__cache_release(hc_cache *c, const char *const *tags, size_t n, bool all, bool publish);
/*
** A release waits for the end of a transaction, and the cache may be
** closed before it: a deferred release (db.c) refers to the cache's anchor,
** not to the cache. hc__anchor_get takes a reference for one;
** hc__anchor_release releases the holds through it, unless the cache has
** closed meanwhile (then nothing is left to invalidate), and drops the
** reference. hc__holds_disarm, first thing in hc_cache_close, cuts the
** anchor from the cache, after a release that runs.
*/
struct hc__anchor *hc__anchor_get(hc_cache *c);
void hc__anchor_release(struct hc__anchor *a, const char *const *tags, size_t n, bool all, bool publish);
void hc__holds_disarm(hc_cache *c);
bool hc__cache_held_slow(hc_cache *c, char *const *tags, size_t n);
static inline bool hc__cache_held(hc_cache *c, char *const *tags, size_t n)
{
    if (atomic_load_explicit(&c->nheld, memory_order_acquire) == 0) return false;
    return hc__cache_held_slow(c, tags, n);
}

/* cache.c: apply an invalidation to c without publishing it (a message
   from the bus, or a transactional exec's own). */
int  hc__apply(hc_cache *c, hc_bus_op op, const char *value, hc_origin origin);

/*
** decl.c: per-declaration counters. hc__decls_free (in hc_cache_close)
** frees a cache's. store() in cache.c adds one to hc__stale_seen, on the
** thread that ran the loader, each time it discards a loaded value as
** stale: hc_decl_get_or_load tells from it whether its load was discarded.
*/
typedef struct hc__decls hc__decls;
void hc__decls_free(hc_cache *c);
extern _Thread_local uint64_t hc__stale_seen HC_TLS_IE;
/* hc_get_or_load adds one to hc__stale_served, on the caller's thread, each
   time it answers with an expired value in place of a failed load (decl.c
   counts stale_served from it as it counts stale_discards). A refresh
   counts itself: hc__decl_refreshed, with its loader's result, time, and
   whether its value was discarded. */
extern _Thread_local uint64_t hc__stale_served HC_TLS_IE;
void hc__decl_refreshed(hc_cache *c, hc_decl *d, int rc, uint64_t ns, bool discarded);

/*
** cache.c, for refresh.c and cached.c. hc__now: c's clock. hc__store_load:
** store a value f loaded (dropped if f went stale; the caller finishes f),
** HC_OK whether stored or not, else why it could not be. hc__copy_stale:
** the value of key's entry into out if that entry may stand in for a failed
** load now (HC_OK), else HC_MISS (or HC_ENOMEM). hc__refresh_release: key's
** entry, if its refresh is still claimed, is due again at again_at.
** hc__try_visit: hc_try_visit that claims the refresh of an entry that is
** due (*refresh set), for a caller that will start it.
*/
uint64_t hc__now(hc_cache *c);
int  hc__store_load(hc_cache *c, const char *key, size_t klen, uint64_t h, const void *val,
                    size_t vlen, const hc_options *opts, hc__flight *f);
int  hc__copy_stale(hc_cache *c, const char *key, size_t klen, uint64_t h, hc_buf *out);
void hc__refresh_release(hc_cache *c, const char *key, size_t klen, uint64_t h,
                         uint64_t again_at);
int  hc__try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx,
                   bool *refresh);

/*
** refresh.c: refresh-ahead. hc__pool_open and _close (hc_cache_open and
** _close; close drops what is queued and joins the threads). hc__refresh
** runs the refresh a hit claimed: on a refresh thread, with a copy of ctx
** made by copy (freed with free_fn), when the cache has threads and the
** context can be copied (or is NULL); otherwise here and now. opts was
** checked; load(ctx) must stay callable meanwhile. decl (may be NULL) gets
** the refresh counted.
*/
int  hc__pool_open(hc_cache *c);
void hc__pool_close(hc_cache *c);
void hc__refresh(hc_cache *c, const char *key, size_t klen, uint64_t h, const hc_options *opts,
                 hc_load_fn load, void *ctx, void *(*copy)(void *ctx), void (*free_fn)(void *copy),
                 hc_decl *decl);

#endif
