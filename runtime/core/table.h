/*
** table.h -- a shard's hash table: chained buckets that readers walk with
** no lock (inside an RCU read-side section) while a writer holding the
** shard lock links, unlinks, replaces and resizes.
**
** Owns: the chains of hc__table (hc_int.h) and the rules that make the
** lock-free walk safe. Its helpers are inline (HC_INLINE) because the hit
** path is made of them; table.c holds the resize, which is not.
** May call: nothing but the allocator (table.c) and string compares. The
** caller holds the shard lock for everything but hc__table_find_rcu, and
** decides what an entry is and when it is freed.
**
** Chain pointers are atomic because readers follow them without a lock.
** Writers, who hold the shard lock, read them relaxed and store them with
** release, so that a reader who loads a pointer (with acquire) also sees
** everything written to the entry it points to before it was linked.
*/
#ifndef HC_TABLE_H
#define HC_TABLE_H

#include <string.h>

#include "hc_int.h"

#define HC__LOAD_RELAXED(p)  atomic_load_explicit(&(p), memory_order_relaxed)
#define HC__LOAD_ACQUIRE(p)  atomic_load_explicit(&(p), memory_order_acquire)
#define HC__STORE_RELEASE(p, v) atomic_store_explicit(&(p), (v), memory_order_release)

/* Keys of 8 to 16 bytes, the usual generated ones, are compared as two
   overlapping words: a call to memcmp was 2 % of a cached struct read. */
HC_INLINE bool hc__key_equal(const char *a, const char *b, size_t n)
{
    if (n < 8 || n > 16) return memcmp(a, b, n) == 0;
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&b0, b, 8);
    memcpy(&a1, a + n - 8, 8);
    memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

HC_INLINE bool hc__entry_is(const hc__entry *e, uint32_t h32, const char *key, size_t klen)
{
    return e->node.hash == h32 && e->klen == klen && hc__key_equal(e->data, key, klen);
}

/* Find key in the table of view v, under its shard's lock. */
static inline hc__entry *hc__table_find(hc__shard_view *v, uint64_t h, const char *key, size_t klen)
{
    hc__table *t = HC__LOAD_RELAXED(v->table);
    if (!t) return NULL;
    uint32_t h32 = (uint32_t)h;
    for (hc__entry *e = HC__LOAD_RELAXED(t->bucket[h32 & t->mask]); e; e = HC__LOAD_RELAXED(e->hnext))
        if (hc__entry_is(e, h32, key, klen)) return e;
    return NULL;
}

/*
** Find key with no lock, inside a read-side critical section; the entry
** stays allocated until the section ends. It may be one a writer has just
** unlinked: a read that overlaps a write may see the state before it.
**
** A miss is certain (*sure) unless a resize rewrote chain links during the
** walk, which can hide a present key: v->resizes is odd while one does, and
** changes with each. The chain loads are acquire loads, so the second read
** of v->resizes comes after them; and a walk that saw a rewritten link (a
** release store made after the count went odd) sees the new count.
** Nothing else hides a present key: an unlinked entry keeps its link, new
** keys go in at the head, and a replacement takes its predecessor's place
** in one store (hc__table_replace).
*/
HC_INLINE hc__entry *hc__table_find_rcu(hc__shard_view *v, uint64_t h, const char *key,
                                        size_t klen, bool *sure)
{
    unsigned seq = atomic_load_explicit(&v->resizes, memory_order_acquire);
    /* The mask before the table: a resize publishes the bigger table first
       and its mask after, so a mask read here never indexes past the table
       read after it (an old mask on a new table only finds the wrong chain,
       which the resize count tells). */
    uint32_t mask = atomic_load_explicit(&v->mask, memory_order_acquire);
    hc__table *t = HC__LOAD_ACQUIRE(v->table);
    uint32_t h32 = (uint32_t)h;
    for (hc__entry *e = t ? HC__LOAD_ACQUIRE(t->bucket[h32 & mask]) : NULL; e;
         e = HC__LOAD_ACQUIRE(e->hnext))
        if (hc__entry_is(e, h32, key, klen)) return e;
    *sure = !(seq & 1u) && atomic_load_explicit(&v->resizes, memory_order_relaxed) == seq;
    return NULL;
}

/* Make room for one more entry (load factor at most 1) in shard s (view
   v): table.c. HC_OK, or HC_ENOMEM with the table as it was. A replaced
   bucket array goes to *retired, to be freed after a grace period. Under
   the shard lock. */
int hc__table_reserve(const hc_allocator *a, hc__shard_view *v, const hc__shard *s,
                      hc__table **retired);

/* Link e, complete, at the head of its chain. Under the shard lock. */
static inline void hc__table_insert(hc__shard_view *v, hc__shard *s, hc__entry *e)
{
    hc__table *t = HC__LOAD_RELAXED(v->table);
    _Atomic(hc__entry *) *b = &t->bucket[e->node.hash & t->mask];
    atomic_store_explicit(&e->hnext, HC__LOAD_RELAXED(*b), memory_order_relaxed);
    HC__STORE_RELEASE(*b, e);
    s->count++;
}

/* The link that points to e. Under the shard lock. */
static inline _Atomic(hc__entry *) *hc__table_link_to(hc__shard_view *v, hc__entry *e)
{
    hc__table *t = HC__LOAD_RELAXED(v->table);
    _Atomic(hc__entry *) *pp = &t->bucket[e->node.hash & t->mask];
    while (HC__LOAD_RELAXED(*pp) != e) pp = &HC__LOAD_RELAXED(*pp)->hnext;
    return pp;
}

/* Unlink e. Its own link stays as it was, so that a reader standing on e
   still finds the rest of the chain. Under the shard lock. */
static inline void hc__table_unlink(hc__shard_view *v, hc__shard *s, hc__entry *e)
{
    HC__STORE_RELEASE(*hc__table_link_to(v, e), HC__LOAD_RELAXED(e->hnext));
    s->count--;
}

/* Put e, complete, in old's place in one store: a lock-free reader finds
   one or the other, never neither. Under the shard lock. */
static inline void hc__table_replace(hc__shard_view *v, hc__entry *old, hc__entry *e)
{
    _Atomic(hc__entry *) *pp = hc__table_link_to(v, old);
    atomic_store_explicit(&e->hnext, HC__LOAD_RELAXED(old->hnext), memory_order_relaxed);
    HC__STORE_RELEASE(*pp, e);
}

#endif
