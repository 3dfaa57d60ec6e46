/*
** lru.h -- what a C programmer writes instead of a cache library, for
** bench_scaling.c to compare with: a chained hash table with an exact LRU
** list under one pthread mutex, and the same table split into stripes, each
** with its own mutex and an equal part of the capacity.
**
** An entry is one malloc (node, key, value), freed when it is evicted or
** replaced, so both sides pay the allocator; the bucket array is sized for
** the capacity up front and never grows. A get copies the value out under
** the lock and moves the entry to the front of the list; a put replaces or
** inserts at the front and evicts from the back when over capacity. The
** hash is XXH3, as in the cache.
*/
#ifndef HC_BENCH_LRU_H
#define HC_BENCH_LRU_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hydracache.h"

typedef struct lru_link {
    struct lru_link *prev, *next;       /* LRU list, most recent first */
} lru_link;

typedef struct lru_node {
    lru_link l;                         /* first: a node is its link */
    struct lru_node *hnext;             /* hash chain */
    uint64_t hash;
    uint32_t klen, vlen;
    char data[];                        /* key, then value */
} lru_node;

typedef struct lru_table {
    _Alignas(64) pthread_mutex_t mu;
    lru_node **bucket;
    uint64_t mask;
    size_t count, cap;
    lru_link head;                      /* list sentinel */
} lru_table;

static inline void lru_init(lru_table *t, size_t cap)
{
    size_t n = 16;
    while (n < cap) n *= 2;
    pthread_mutex_init(&t->mu, NULL);
    t->bucket = calloc(n, sizeof *t->bucket);
    if (!t->bucket) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    t->mask = n - 1;
    t->count = 0;
    t->cap = cap ? cap : 1;
    t->head.prev = t->head.next = &t->head;
}

static inline void lru_destroy(lru_table *t)
{
    for (lru_link *n = t->head.next, *next; n != &t->head; n = next) {
        next = n->next;
        free(n);
    }
    free(t->bucket);
    pthread_mutex_destroy(&t->mu);
}

static inline void lru_unlist(lru_node *n)
{
    n->l.prev->next = n->l.next;
    n->l.next->prev = n->l.prev;
}

static inline void lru_push_front(lru_table *t, lru_node *n)
{
    n->l.next = t->head.next;
    n->l.prev = &t->head;
    t->head.next->prev = &n->l;
    t->head.next = &n->l;
}

/* The link that points to the node of key (or the chain's end). */
static inline lru_node **lru_slot(lru_table *t, uint64_t h, const char *key, size_t klen)
{
    lru_node **pp = &t->bucket[h & t->mask];
    while (*pp && !((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0))
        pp = &(*pp)->hnext;
    return pp;
}

/* 0 and the value copied into out, or 1 for a miss. Under t's lock. */
static inline int lru_get_locked(lru_table *t, uint64_t h, const char *key, size_t klen, hc_buf *out)
{
    lru_node *n = *lru_slot(t, h, key, klen);
    if (!n) return 1;
    lru_unlist(n);
    lru_push_front(t, n);
    out->len = 0;
    if (out->cap <= n->vlen && hc_buf_reserve(out, n->vlen) != HC_OK) return 1;
    memcpy(out->data, n->data + klen, n->vlen);
    out->data[n->vlen] = 0;
    out->len = n->vlen;
    return 0;
}

/* Insert or replace; the victims go to *dead for the caller to free
   outside the lock. Under t's lock. */
static inline void lru_put_locked(lru_table *t, lru_node *n, lru_node **dead)
{
    lru_node **pp = lru_slot(t, n->hash, n->data, n->klen);
    lru_node *old = *pp;
    if (old) {
        n->hnext = old->hnext;
        *pp = n;
        lru_unlist(old);
        old->hnext = *dead;
        *dead = old;
    } else {
        n->hnext = NULL;
        *pp = n;
        t->count++;
    }
    lru_push_front(t, n);
    while (t->count > t->cap) {
        lru_node *v = (lru_node *)(void *)t->head.prev;
        lru_unlist(v);
        lru_node **vp = lru_slot(t, v->hash, v->data, v->klen);
        *vp = v->hnext;
        t->count--;
        v->hnext = *dead;
        *dead = v;
    }
}

static inline lru_node *lru_node_new(uint64_t h, const char *key, size_t klen,
                                     const void *val, size_t vlen)
{
    lru_node *n = malloc(sizeof *n + klen + vlen);
    if (!n) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    n->hash = h;
    n->klen = (uint32_t)klen;
    n->vlen = (uint32_t)vlen;
    memcpy(n->data, key, klen);
    memcpy(n->data + klen, val, vlen);
    return n;
}

static inline void lru_free_list(lru_node *dead)
{
    while (dead) {
        lru_node *next = dead->hnext;
        free(dead);
        dead = next;
    }
}

/* ------------------------------------------------ one lock, or stripes */

/* nstripes tables of cap / nstripes entries each; 1 stripe is the
   one-mutex LRU. A key's stripe is picked by the top bits of its hash,
   its bucket by the low ones. */
typedef struct lru_cache {
    unsigned nstripes, shift;
    lru_table *stripe;
} lru_cache;

static inline void lru_cache_init(lru_cache *c, unsigned nstripes, size_t cap)
{
    unsigned bits = 0;
    while ((1u << bits) < nstripes) bits++;
    c->nstripes = 1u << bits;
    c->shift = 64 - bits;
    c->stripe = aligned_alloc(64, c->nstripes * sizeof *c->stripe);
    if (!c->stripe) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    for (unsigned i = 0; i < c->nstripes; i++) lru_init(&c->stripe[i], cap / c->nstripes);
}

static inline void lru_cache_destroy(lru_cache *c)
{
    for (unsigned i = 0; i < c->nstripes; i++) lru_destroy(&c->stripe[i]);
    free(c->stripe);
}

static inline lru_table *lru_stripe(lru_cache *c, uint64_t h)
{
    return &c->stripe[c->shift == 64 ? 0 : h >> c->shift];
}

/* 0 (value in out) or 1 (miss). */
static inline int lru_get(lru_cache *c, const char *key, hc_buf *out)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    lru_table *t = lru_stripe(c, h);
    pthread_mutex_lock(&t->mu);
    int rc = lru_get_locked(t, h, key, klen, out);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static inline void lru_put(lru_cache *c, const char *key, const void *val, size_t vlen)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    lru_node *n = lru_node_new(h, key, klen, val, vlen), *dead = NULL;
    lru_table *t = lru_stripe(c, h);
    pthread_mutex_lock(&t->mu);
    lru_put_locked(t, n, &dead);
    pthread_mutex_unlock(&t->mu);
    lru_free_list(dead);
}

/* Read-through as it is usually written: look up; on a miss, load with
   no lock held and insert (no single-flight: racing misses all load).
   0 for a hit, 1 for a miss that loaded. */
static inline int lru_get_or_load(lru_cache *c, const char *key, hc_load_fn load,
                                  void *ctx, hc_buf *out)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    lru_table *t = lru_stripe(c, h);
    pthread_mutex_lock(&t->mu);
    int rc = lru_get_locked(t, h, key, klen, out);
    pthread_mutex_unlock(&t->mu);
    if (rc == 0) return 0;
    hc_error err;
    hc_buf_reset(out);
    if (load(ctx, out, &err) != HC_OK) return 1;
    lru_node *n = lru_node_new(h, key, klen, out->data, out->len), *dead = NULL;
    pthread_mutex_lock(&t->mu);
    lru_put_locked(t, n, &dead);
    pthread_mutex_unlock(&t->mu);
    lru_free_list(dead);
    return 1;
}

#endif
