/*
** table.c -- the part of a shard's hash table that is not on the hit path:
** growing it.
**
** Owns: bucket arrays (allocation and the move of entries into a new one).
** May call: the allocator. The caller holds the shard lock and frees the
** retired array after a grace period (part.c, hc__release).
*/
#include "table.h"

/*
** Growing moves every entry to a new bucket array and rewrites its hash
** link (release stores, after v->resizes goes odd), then publishes the new
** table. A reader walking an old chain may follow a rewritten link into a
** new chain and so miss a key that is present; hc__table_find_rcu tells,
** and the reader takes the locked path. It never loops: a rewritten link
** points to an entry moved earlier, so from there on it only goes back in
** the order of the moves. The old array is freed after a grace period,
** once no reader can still be in it.
*/
int hc__table_reserve(const hc_allocator *a, hc__shard_view *v, const hc__shard *s,
                      hc__table **retired)
{
    hc__table *old = HC__LOAD_RELAXED(v->table);
    if (old && s->count <= old->mask) return HC_OK;
    uint32_t n = old ? (old->mask + 1) * 2 : 16;
    size_t bytes = sizeof(hc__table) + (size_t)n * sizeof(hc__entry *);
    if (n == 0 || bytes / sizeof(hc__entry *) < n) return HC_ENOMEM;   /* overflow */
    hc__table *t = hc__malloc(a, bytes);
    if (!t) return HC_ENOMEM;
    t->next = NULL;
    t->mask = n - 1;
    for (uint32_t i = 0; i < n; i++) atomic_init(&t->bucket[i], NULL);
    unsigned seq = HC__LOAD_RELAXED(v->resizes);
    atomic_store_explicit(&v->resizes, seq + 1, memory_order_relaxed);  /* odd */
    for (uint32_t i = 0; old && i <= old->mask; i++) {
        hc__entry *e = HC__LOAD_RELAXED(old->bucket[i]);
        while (e) {
            hc__entry *next = HC__LOAD_RELAXED(e->hnext);
            uint32_t b = e->node.hash & t->mask;
            HC__STORE_RELEASE(e->hnext, HC__LOAD_RELAXED(t->bucket[b]));
            atomic_store_explicit(&t->bucket[b], e, memory_order_relaxed);
            e = next;
        }
    }
    HC__STORE_RELEASE(v->table, t);
    HC__STORE_RELEASE(v->mask, t->mask);        /* after the table: table.h */
    HC__STORE_RELEASE(v->resizes, seq + 2);
    *retired = old;
    return HC_OK;
}
