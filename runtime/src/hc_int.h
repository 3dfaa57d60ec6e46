/*
** hc_int.h -- what the runtime's source files share and the public header
** does not show.
**
** Locking, in one paragraph: a cache has one policy lock (c->lock) and
** HC_SHARDS shard locks. A shard lock guards that shard's hash table and its
** list of loads in flight. The policy lock guards everything else that
** changes: the eviction policy's queues, the timer wheel, the tag index, the
** counts and the counters of writes. Readers (hc_get, hc_contains and the hit
** path of hc_get_or_load) take one shard lock and nothing else, so hits on
** different shards never wait for each other or for writers of other shards.
** Every change to the set of entries takes the policy lock first, then one
** shard lock at a time; no thread ever holds two shard locks. Because every
** such change holds the policy lock, a writer that holds it may look at a
** shard, unlock it, evict elsewhere and lock it again, and find the shard's
** entries as it left them (only hit counters and loads in flight change
** under a shard lock alone). Loaders, callbacks and free() of unlinked
** entries run with no lock held.
*/
#ifndef HC_INT_H
#define HC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hydracache.h"
#include "hc_mem.h"
#include "policy.h"

#define HC_SHARD_BITS 5
#define HC_SHARDS     (1u << HC_SHARD_BITS)

#define HC_UNUSED(x) ((void)(x))

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
** bytes and, 8-aligned after them, ntags tag links. The header is 72 bytes,
** so an entry with a 16-byte key and a 64-byte value fits a 160-byte malloc
** chunk; its shard and weight are derived, not stored.
*/
#define HC_MAX_KEY_BYTES   UINT16_MAX
#define HC_MAX_ENTRY_TAGS  UINT8_MAX
struct hc__entry {
    hc__pnode  node;                 /* first: the policy's links, hash, weight */
    hc__entry *hnext;                /* hash chain; the free list once unlinked */
    hc__link   tl;                   /* timer wheel bucket; next NULL: not scheduled */
    uint64_t   expire_at;            /* clock ms; UINT64_MAX = never */
    uint32_t   vlen;
    uint16_t   klen;                 /* at most HC_MAX_KEY_BYTES */
    uint8_t    ntags;                /* at most HC_MAX_ENTRY_TAGS */
    uint8_t    dead;                 /* unlinked, waiting to be freed: why */
    char       data[];               /* key, then value, then tag links */
};

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

/* A tag: its name, its members, and its place in the tag index. */
struct hc__tag {
    hc__tag    *hnext;               /* tag index chain */
    uint64_t    hash;
    uint64_t    count;               /* members */
    hc__taglink head;                /* circular member list */
    size_t      len;
    char        name[];
};

/*
** A load in flight. The leader runs the loader; joiners wait on cv. While
** attached it is in its shard's flight list and new callers join it; it is
** detached when it finishes, or early when an invalidation makes it stale,
** so that later callers start a fresh load. refs counts the leader and the
** joiners; the last to drop it frees it.
*/
struct hc__flight {
    hc__flight *next;                /* shard's flight list */
    uint64_t    hash;
    pthread_t   leader;
    bool        attached, stale;     /* under the shard lock */
    bool        done;                /* under mu */
    unsigned    waiters;             /* joiners, under the shard lock */
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

/* A shard: hash table and loads in flight for 1/HC_SHARDS of the keys. */
typedef struct hc__shard {
    /* Aligned (and so padded) to a cache line: no two shards share one, or
       readers of neighbouring shards would bounce it between cores. */
    _Alignas(64) pthread_mutex_t lock;
    hc__entry **buckets;             /* nbuckets chains, NULL until first insert */
    uint32_t    mask;                /* nbuckets - 1 */
    uint32_t    count;
    hc__flight *flights;
    uint64_t    hits, misses, joins; /* counters written under the lock */
    uint32_t    reads;               /* hits since the last opportunistic maintenance */
} hc__shard;

/* Hierarchical timer wheel: 6 levels of 64 buckets, level i ticks 64^i ms. */
#define HC_WHEEL_LEVELS 6
#define HC_WHEEL_BITS   6
#define HC_WHEEL_SIZE   (1u << HC_WHEEL_BITS)
typedef struct hc__wheel {
    uint64_t   now;                  /* time of the last advance */
    hc__link   bucket[HC_WHEEL_LEVELS][HC_WHEEL_SIZE];   /* sentinels */
    uint64_t   scheduled;
} hc__wheel;

struct hc_cache {
    hc_allocator    alloc;           /* always complete */
    char           *name;
    char           *node_id;
    uint64_t        max_entries, max_bytes, default_ttl_ms, load_wait_timeout_ms;
    size_t          max_entry_bytes;
    uint64_t      (*clock_ms)(void *ctx);
    void           *clock_ctx;
    unsigned        event_buffer;
    bool            access_events;
    hc_bus         *bus;
    bool            weigh_bytes;     /* the policy counts bytes, not entries */

    pthread_mutex_t lock;            /* the policy lock, see above */
    hc__policy      policy;
    hc__wheel       wheel;
    uint64_t        count, bytes;    /* live entries and their weight */
    hc__tag       **tags;            /* tag index: ntagb chains */
    uint32_t        tagmask;
    uint64_t        ntags;
    /* Counters written under the policy lock. */
    uint64_t        inserts, invalidations, evictions, expirations, stale_discards;
    /* Counters written without it. */
    atomic_uint_fast64_t loads, load_failures, in_flight;
    atomic_uint_fast64_t events_published, event_subscriber_lagged;
    atomic_uint_fast64_t bus_published, bus_received, bus_applied, bus_lagged;
    atomic_uint_fast64_t bus_publish_failures, bus_receiver_closed;

    hc__shard      *shards;          /* HC_SHARDS, cache-line aligned */
    void           *shards_mem;      /* what to free for shards */
};

/* hash.c */
uint64_t hc__hash(const void *p, size_t n);

/* ttl.c: the timer wheel, under the policy lock. */
void hc__wheel_init(hc__wheel *w, uint64_t now);
void hc__wheel_schedule(hc__wheel *w, hc__entry *e);
void hc__wheel_unschedule(hc__wheel *w, hc__entry *e);
/* Move to now; each entry whose time has come is unscheduled and passed to
   expire(ctx, e), which must not schedule or unschedule anything. */
typedef void (*hc__expire_fn)(void *ctx, hc__entry *e);
void hc__wheel_advance(hc__wheel *w, uint64_t now, hc__expire_fn expire, void *ctx);

/* tags.c: the tag index, under the policy lock. */
hc__tag *hc__tag_find(hc_cache *c, const char *name, size_t len);
/* Find or create; NULL on out of memory. A new tag has count 0 and must be
   linked to or released. */
hc__tag *hc__tag_get(hc_cache *c, const char *name, size_t len);
void hc__tag_link(hc__tag *t, hc__taglink *l, hc__entry *e);
void hc__tag_unlink(hc_cache *c, hc__taglink *l);
/* Free t if it has no members. */
void hc__tag_release(hc_cache *c, hc__tag *t);
void hc__tags_free_all(hc_cache *c);

/* events.c: the seam where the events issue plugs in. */
void hc__emit(hc_cache *c, hc_event_kind kind, hc_origin origin,
              const char *key, size_t klen);

#endif
