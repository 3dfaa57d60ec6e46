/*
** baseline.h -- the bare open-addressing table the benchmarks compare the
** cache with: single-threaded, linear probing, a power-of-two size at load
** <= 0.5, XXH3 of the key, records (klen, vlen, key, value) in one arena.
** Its lookup is an out-of-line call, as hc_get is, so ratios measure the
** work and not inlining. Read-only lookups need no lock, so its 1->2 thread
** scaling is what the machine itself allows for an access pattern.
*/
#ifndef HC_BENCH_BASELINE_H
#define HC_BENCH_BASELINE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hydracache.h"

/* The lookup stays out of line (and may go unused by a benchmark). */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline, unused))
#else
#define NOINLINE
#endif

/*
** Open addressing, linear probing. A slot holds 32 bits of the hash (to skip
** most key compares) and where the record starts in the arena, in 8-byte
** units plus one (0 = empty slot). A record is klen, vlen, key, value,
** padded to 8 bytes. Both arrays double when they fill: no tuning at all.
*/
typedef struct oa_slot {
    uint32_t tag;
    uint32_t rec;
} oa_slot;

typedef struct oa_table {
    oa_slot *slots;
    uint32_t mask, count;
    unsigned char *arena;
    size_t arena_len, arena_cap;
} oa_table;

typedef struct oa_rec {
    uint32_t klen, vlen;
    unsigned char data[];
} oa_rec;

static inline void *xalloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fputs("bench: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static inline oa_rec *oa_record(const oa_table *t, uint32_t rec)
{
    return (oa_rec *)(void *)(t->arena + (size_t)(rec - 1) * 8u);
}

static inline void oa_grow(oa_table *t)
{
    uint32_t n = t->slots ? (t->mask + 1) * 2 : 1024;
    oa_slot *s = xalloc(NULL, (size_t)n * sizeof *s);
    memset(s, 0, (size_t)n * sizeof *s);
    for (uint32_t i = 0; t->slots && i <= t->mask; i++) {
        if (!t->slots[i].rec) continue;
        const oa_rec *r = oa_record(t, t->slots[i].rec);
        uint32_t j = (uint32_t)XXH3_64bits(r->data, r->klen) & (n - 1);
        while (s[j].rec) j = (j + 1) & (n - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->mask = n - 1;
}

/* Insert (keys are distinct here, so no replace case). */
static inline void oa_put(oa_table *t, const char *key, const void *val, size_t vlen)
{
    size_t klen = strlen(key);
    if (!t->slots || (t->count + 1) * 2 > t->mask + 1) oa_grow(t);
    size_t need = (sizeof(oa_rec) + klen + vlen + 7u) & ~(size_t)7u;
    while (t->arena_cap - t->arena_len < need) {
        t->arena_cap = t->arena_cap ? t->arena_cap * 2 : 4096;
        t->arena = xalloc(t->arena, t->arena_cap);
    }
    oa_rec *r = (oa_rec *)(void *)(t->arena + t->arena_len);
    r->klen = (uint32_t)klen;
    r->vlen = (uint32_t)vlen;
    memcpy(r->data, key, klen);
    memcpy(r->data + klen, val, vlen);

    uint64_t h = XXH3_64bits(key, klen);
    uint32_t i = (uint32_t)h & t->mask;
    while (t->slots[i].rec) i = (i + 1) & t->mask;
    t->slots[i].tag = (uint32_t)(h >> 32);
    t->slots[i].rec = (uint32_t)(t->arena_len / 8u + 1u);
    t->arena_len += need;
    t->count++;
}

/* The lookup under test: 0 and the value in out, or 1 for a miss. */
static NOINLINE int oa_get(const oa_table *t, const char *key, hc_buf *out)
{
    size_t klen = strlen(key);
    uint64_t h = XXH3_64bits(key, klen);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & t->mask; t->slots[i].rec; i = (i + 1) & t->mask) {
        if (t->slots[i].tag != tag) continue;
        const oa_rec *r = oa_record(t, t->slots[i].rec);
        if (r->klen != klen || memcmp(r->data, key, klen) != 0) continue;
        if (out->cap <= r->vlen) {
            out->data = xalloc(out->data, r->vlen + 1u);
            out->cap = r->vlen + 1u;
        }
        memcpy(out->data, r->data + klen, r->vlen);
        out->data[r->vlen] = 0;
        out->len = r->vlen;
        return 0;
    }
    return 1;
}

static inline void oa_free(oa_table *t)
{
    free(t->slots);
    free(t->arena);
}

#endif
