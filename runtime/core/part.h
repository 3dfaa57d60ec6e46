/*
** part.h -- policy partitions and the write path's shared machinery: how a
** write finds room under the bounds, evicts, reclaims expired entries,
** takes entries out, and frees them once no reader can see them.
**
** Owns: hc__part (hc_int.h), the cache's free room (c->room, c->room_bytes),
** the timed-partition mask and sweep clocks, the threads' lists of dead
** entries (hc__tcount.dead).
** May call: the policy (policy.c), the timer wheel (ttl.c), the tag index
** (tags.c), the shard tables (table.h), events (hc__emit, after every lock
** is released), hc__synchronize (rcu.c, with no lock held), the allocator.
** cache.c calls it from the public entry points; see part.c for the design.
*/
#ifndef HC_PART_H
#define HC_PART_H

#include "hc_int.h"

/* Why an unlinked entry is waiting to be freed: decides its event. */
enum {
    HC__DEAD_NOT = 0,
    HC__DEAD_REPLACED,      /* overwritten by a put or a load: no event */
    HC__DEAD_REMOVED,       /* hc_remove */
    HC__DEAD_INVALIDATED,   /* hc_invalidate_key */
    HC__DEAD_TAGGED,        /* hc_invalidate_tag: one event for the tag */
    HC__DEAD_FLUSHED,       /* hc_flush: one event for the flush */
    HC__DEAD_EXPIRED,
    HC__DEAD_EVICTED
};

/*
** What a write collects while it holds locks and handles after releasing
** them: unlinked entries to report and free, a retired bucket array.
*/
typedef struct hc__op {
    hc_cache  *c;
    hc__entry *garbage;     /* hc__dead_push */
    hc__table *retired;     /* a table a resize replaced */
    hc_origin  origin;      /* of the removals it reports (0: local) */
} hc__op;

static inline hc__op hc__op_start(hc_cache *c, hc_origin origin)
{
    hc__op o = {c, NULL, NULL, origin};
    return o;
}

/* Room a write still owes after it stored: what it could not evict at once
   (see part.c, "Room"). */
typedef struct hc__debt {
    int64_t entries, bytes;
} hc__debt;

/* Open and close the partitions of c (hc_cache_open and _close): sizes
   them for c's bounds. HC_OK, HC_ENOMEM or HC_ESYS, with nothing left. */
int  hc__parts_open(hc_cache *c, uint64_t now);
void hc__parts_close(hc_cache *c);

/* Lock and unlock a partition. Unlocking also publishes whether its wheel
   holds entries (c->timed). */
static inline void hc__part_lock(hc__part *p) { pthread_mutex_lock(&p->lock); }
void hc__part_unlock(hc_cache *c, hc__part *p);

/* e enters or leaves p's counts (not the policy, not the room). Under p's
   lock. */
void hc__part_add(hc__part *p, const hc__entry *e);
void hc__part_sub(hc__part *p, const hc__entry *e);

/* Give n entries and b bytes of room back to the bounds: what an
   invalidation, an expiry or an eviction for another write freed. */
void hc__room_give(hc_cache *c, uint64_t n, uint64_t b);

/* What the room says is in use under the entries bound (bytes false) or
   the bytes bound: the bound less the room, in one atomic load. */
uint64_t hc__room_used(hc_cache *c, bool bytes);

/* Take e out of p's policy (unless the policy let it go already) and
   counts. Under p's lock. */
void hc__uncount(hc__part *p, hc__entry *e, bool in_policy);
/* Take e, already unlinked from its shard table, out of p's timer wheel
   and tags, and queue it on o for freeing. Under p's lock. */
void hc__bury(hc__op *o, hc__part *p, hc__entry *e, int why);
/* Remove e from everything: counts, its shard table, wheel, tags. The
   room is the caller's. Under p's lock and, if held is not NULL, the lock
   of that shard of p: e's shard lock is taken unless it is that one (held
   is then let go meanwhile, and locked again before returning). */
void hc__remove_entry(hc__op *o, hc__part *p, hc__entry *e, int why, bool in_policy,
                      hc__shard *held);

/* Reclaim p's entries whose time has come (their room goes back). Under
   p's lock. */
void hc__expire_due(hc__op *o, hc__part *p, uint64_t now);

/*
** Room for e, just added to p's policy and counts in place of old (NULL if
** none): takes free room, evicts from p what it must and may, and returns
** in *debt what it could neither take nor evict here (to pay with
** hc__pay_debt once p is unlocked). *self_evicted when the policy chose e
** itself (e then is out of the policy and the counts, to be buried). Under
** p's lock and held, the lock of e's shard (e not yet in it).
*/
void hc__make_room(hc__op *o, hc__part *p, hc__entry *e, const hc__entry *old,
                   uint64_t now, hc__shard *held, hc__debt *debt, bool *self_evicted);
/* Pay a debt: sweep partitions whose expired entries hold room, then evict
   where the room is, until the debt is paid or the bounds hold. No lock
   held. */
void hc__pay_debt(hc__op *o, hc__part *p, uint64_t now, hc__debt debt);

/* Every 1024th hit of a thread: reclaim expired entries of partitions
   whose lock is free. No lock held. */
void hc__maintain(hc_cache *c, uint64_t now);

/* Report what o unlinked, and free it once no reader can still see it.
   No lock held. */
void hc__release(hc__op *o);

#endif
