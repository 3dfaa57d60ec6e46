/*
** policy.h -- the eviction policy: which entry to drop when the cache is full.
**
** The policy is a single-threaded data structure. A cache has one per
** partition of its keys (part.c) and calls every function here with that
** partition's lock held, except hc__policy_touch(), which
** a reader calls on a hit with no lock at all, possibly from several threads
** at once and possibly on a node the policy has just let go: it must only
** update the node's own small atomic counter. That keeps the hit path free
** of any shared write.
**
** Nodes are embedded in cache entries. The cache sets hash before
** hc__policy_add, reads hash to find entries, and otherwise touches the
** node only through these functions. The policy never changes hash:
** readers compare it without a lock.
**
** Sizes are counted in "weight": 1 per entry when the cache is bounded by
** entries, or the entry's bytes when it is bounded only by bytes. The node
** does not store its weight (that would cost every entry 4 bytes): the
** policy asks the weigh function given to hc__policy_init, which must give
** a node the same weight for as long as it is in the policy. The cache
** decides how many victims it needs (it may also have a second bound); the
** policy decides which.
**
** The policy is W-TinyLFU with a ghost-steered window, in CLOCK form: hits
** never move a node; a node's hit counter is read (and folded into the
** frequency sketch) when the node reaches the end of its queue. See
** docs/POLICY.md.
*/
#ifndef HC_POLICY_H
#define HC_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "hydracache.h"

typedef struct hc__pnode {
    struct hc__pnode *prev, *next;  /* links in the policy's queue */
    uint32_t hash;                  /* the key's hash (low bits of a 64-bit hash) */
    uint8_t  queue;                 /* which queue the node is in (policy's own) */
    _Atomic uint8_t freq;           /* 1: hit since the policy last looked */
    uint8_t  owner[2];              /* the embedding structure's: never touched here */
} hc__pnode;

/* A node's weight (see above); NULL in hc__policy_init: every node weighs 1. */
typedef uint32_t (*hc__weigh_fn)(const hc__pnode *n);

typedef struct hc__policy hc__policy;

/* The policy's queues (index into hc__policy.q). */
enum {
    HC__Q_WINDOW,       /* admission window: every new entry starts here */
    HC__Q_PROBATION,    /* main space, seen once in main: first to go */
    HC__Q_PROTECTED,    /* main space, hit while in main */
    HC__Q_CANDIDATE,    /* pushed out of the window, awaiting admission */
    HC__Q_COUNT
};

/*
** The policy's state. Embedded in the cache; fields are private to policy.c.
*/
struct hc__policy {
    /* Written by adds and evictions: together, after the queues. */
    struct hc__pqueue { hc__pnode head; uint64_t weight, count; } q[HC__Q_COUNT];
    uint64_t additions;             /* sketch increments since the last halving */
    uint64_t window_exits;          /* entries that left the window so far */
    uint64_t main_evictions;        /* entries evicted from main so far */
    uint64_t window_max;            /* weight the window may hold */
    uint64_t strict;                /* ghost pull beyond a 0 window: while > 0,
                                       a candidate must beat its victim by 2 */
    uint64_t rng;                   /* fixed-seed PRNG state (admission jitter) */

    /* Set at init (and when the sketch grows). */
    const hc_allocator *alloc;
    hc__weigh_fn weigh;             /* NULL: every node weighs 1 */
    uint64_t max_weight;
    void    *impl;                  /* the frequency sketch's table (uint64_t[]) */
    /* Frequency sketch: 4-bit counters, 16 to a word, table_words words. */
    uint64_t table_words;
    uint64_t reset_at;              /* halve after this many additions */
    /* Ghosts of evicted entries steer window_max (see policy.c). */
    uint32_t *ghost;                /* ghost_slots slots, after the sketch in impl */
    uint64_t ghost_slots;
    unsigned ghost_shift;           /* stamps are these clocks >> ghost_shift */
};

/* Prepare p for a cache of max_weight (0: unbounded, the policy never picks
   victims), its nodes weighed by weigh (NULL: 1 each). Allocates through
   alloc; HC_ENOMEM on failure. */
int  hc__policy_init(hc__policy *p, uint64_t max_weight, hc__weigh_fn weigh,
                     const hc_allocator *alloc);
/* Free what init allocated. The nodes are the cache's and are not touched. */
void hc__policy_destroy(hc__policy *p);

/* A new entry enters the cache. */
void hc__policy_add(hc__policy *p, hc__pnode *n);
/* An entry leaves the cache for another reason than eviction (invalidation,
   expiry). */
void hc__policy_remove(hc__policy *p, hc__pnode *n);
/* A put over an existing key: n takes old's place in its queue, marked as
   hit (the put is one more access), and old leaves the policy. */
void hc__policy_replace(hc__policy *p, hc__pnode *old, hc__pnode *n);
/* Choose the entry to evict, unlink it and return it; NULL when empty. */
hc__pnode *hc__policy_evict(hc__policy *p);
/* Forget everything adaptive (a flush): queues must already be empty. */
void hc__policy_clear(hc__policy *p);
/* The current window size, for diagnostics. */
uint64_t hc__policy_window(const hc__policy *p);

/* A hit on n: lock-free, any thread. The policy reads and zeroes freq
   (under its lock) when it examines the node, and asks only whether it
   was hit since (see fold in policy.c), so a hit marks it 1 and a hit on
   a node already marked writes nothing: the entry's cache line stays
   clean and is not bounced between the cores that read it. */
static inline void hc__policy_touch(hc__pnode *n)
{
    if (!atomic_load_explicit(&n->freq, memory_order_relaxed))
        atomic_store_explicit(&n->freq, 1, memory_order_relaxed);
}

#endif
