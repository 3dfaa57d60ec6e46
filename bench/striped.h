/*
** striped.h -- the least a concurrent table must do for gets and puts, for
** bench_scaling.c: how far the machine itself lets writes scale.
**
** 64 stripes picked by the key's hash, each a chained table with its own
** mutex. A get walks its chain with no lock and copies the value; a put
** locks the stripe and overwrites the value in place, or links a new node.
** Nodes are never freed and values are eight atomic words, so lock-free
** readers need no reclamation and see no torn word (they may see a value
** half old, half new, which a cache could not accept). No eviction, no
** TTL, no policy: whatever a cache adds to this costs it on top.
*/
#ifndef HC_BENCH_STRIPED_H
#define HC_BENCH_STRIPED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hydracache.h"

#define ST_STRIPES 64u
#define ST_WORDS   8u               /* 64-byte values */

typedef struct st_node {
    struct st_node *_Atomic next;
    uint64_t hash;
    _Atomic uint64_t val[ST_WORDS];
    uint32_t klen;
    char key[];
} st_node;

typedef struct st_stripe {
    _Alignas(64) pthread_mutex_t mu;
    st_node *_Atomic *bucket;
    uint64_t mask;
} st_stripe;

typedef struct st_table {
    st_stripe stripe[ST_STRIPES];
} st_table;

/* Room for about n keys at load <= 1. */
static inline void st_init(st_table *t, size_t n)
{
    size_t per = 16;
    while (per * ST_STRIPES < n) per *= 2;
    for (unsigned i = 0; i < ST_STRIPES; i++) {
        pthread_mutex_init(&t->stripe[i].mu, NULL);
        t->stripe[i].bucket = calloc(per, sizeof *t->stripe[i].bucket);
        if (!t->stripe[i].bucket) {
            fputs("bench: out of memory\n", stderr);
            exit(1);
        }
        t->stripe[i].mask = per - 1;
    }
}

static inline void st_destroy(st_table *t)
{
    for (unsigned i = 0; i < ST_STRIPES; i++) {
        st_stripe *s = &t->stripe[i];
        for (uint64_t b = 0; b <= s->mask; b++) {
            st_node *n = atomic_load_explicit(&s->bucket[b], memory_order_relaxed);
            while (n) {
                st_node *next = atomic_load_explicit(&n->next, memory_order_relaxed);
                free(n);
                n = next;
            }
        }
        free(s->bucket);
        pthread_mutex_destroy(&s->mu);
    }
}

static inline st_stripe *st_stripe_of(st_table *t, uint64_t h)
{
    return &t->stripe[h >> 58];
}

/* 0 and the value in out, or 1 for a miss. */
static inline int st_get(st_table *t, const char *key, hc_buf *out)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    st_stripe *s = st_stripe_of(t, h);
    for (st_node *n = atomic_load_explicit(&s->bucket[h & s->mask], memory_order_acquire); n;
         n = atomic_load_explicit(&n->next, memory_order_acquire)) {
        if (n->hash != h || n->klen != klen || memcmp(n->key, key, klen) != 0) continue;
        uint64_t w[ST_WORDS];
        for (unsigned i = 0; i < ST_WORDS; i++)
            w[i] = atomic_load_explicit(&n->val[i], memory_order_relaxed);
        out->len = 0;
        if (out->cap <= sizeof w && hc_buf_reserve(out, sizeof w) != HC_OK) return 1;
        memcpy(out->data, w, sizeof w);
        out->data[sizeof w] = 0;
        out->len = sizeof w;
        return 0;
    }
    return 1;
}

/* Store 64 bytes of val under key. */
static inline void st_put(st_table *t, const char *key, const void *val)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    uint64_t w[ST_WORDS];
    memcpy(w, val, sizeof w);
    st_stripe *s = st_stripe_of(t, h);
    pthread_mutex_lock(&s->mu);
    st_node *_Atomic *head = &s->bucket[h & s->mask];
    for (st_node *n = atomic_load_explicit(head, memory_order_relaxed); n;
         n = atomic_load_explicit(&n->next, memory_order_relaxed)) {
        if (n->hash != h || n->klen != klen || memcmp(n->key, key, klen) != 0) continue;
        for (unsigned i = 0; i < ST_WORDS; i++)
            atomic_store_explicit(&n->val[i], w[i], memory_order_relaxed);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    st_node *n = malloc(sizeof *n + klen);
    if (!n) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    n->hash = h;
    n->klen = (uint32_t)klen;
    memcpy(n->key, key, klen);
    for (unsigned i = 0; i < ST_WORDS; i++) atomic_init(&n->val[i], w[i]);
    atomic_init(&n->next, atomic_load_explicit(head, memory_order_relaxed));
    atomic_store_explicit(head, n, memory_order_release);
    pthread_mutex_unlock(&s->mu);
}

#endif
