/*
** hc_mem.h -- allocation through the cache's hc_allocator.
**
** Every allocation the runtime makes for a cache goes through these, so that
** tests can fail the Nth one. The allocator is always complete: hc_cache_open
** fills a NULL allocator with the C library's functions.
*/
#ifndef HC_MEM_H
#define HC_MEM_H

#include <stddef.h>
#include <string.h>
#include "hydracache/core.h"

static inline void *hc__malloc(const hc_allocator *a, size_t n)
{
    return a->alloc(a->ud, n ? n : 1);
}

static inline void *hc__calloc(const hc_allocator *a, size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size) return NULL;
    size_t total = n * size;
    void *p = a->alloc(a->ud, total ? total : 1);
    if (p) memset(p, 0, total);
    return p;
}

static inline void *hc__realloc(const hc_allocator *a, void *p, size_t n)
{
    return a->realloc(a->ud, p, n ? n : 1);
}

static inline void hc__free(const hc_allocator *a, void *p)
{
    if (p) a->free(a->ud, p);
}

/* The C library's allocator, used when hc_config.allocator is NULL. */
extern const hc_allocator hc__system_allocator;

#endif
