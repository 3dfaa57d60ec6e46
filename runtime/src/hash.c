/*
** hash.c -- the one hash function the runtime uses for keys and tags.
**
** XXH3 from Debian's libxxhash: fast on short keys and well distributed in
** every bit, which the shard, bucket and policy-sketch indexes all rely on.
** Inlined from the header so the hit path makes no library call for it.
*/
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hc_int.h"

uint64_t hc__hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
