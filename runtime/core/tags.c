/*
** tags.c -- the tag index: tag name -> the entries that carry it.
**
** Owns: each partition's index (hc__part.tags) and its hc__tag records.
** May call: the allocator; hc__tags_distinct also takes partition locks.
**
** Each partition has its own index of the tags its entries carry, so that
** tagging an entry takes no lock but its partition's, and an invalidation
** of a tag visits each partition in turn (a tag carried in several has a
** record in each). An index is a chained hash table of tags, each with a
** circular list of its members' links (the links live inside the entries,
** so tagging an entry allocates nothing but, the first time a tag is seen
** in the partition, the tag itself). A tag is freed when its last member
** leaves. Everything here runs under the partition's lock.
*/
#include <string.h>

#include "hc_int.h"

hc__tag *hc__tag_find(const hc__part *p, const char *name, size_t len)
{
    if (!p->tags) return NULL;
    uint64_t h = hc__hash(name, len);
    for (hc__tag *t = p->tags[h & p->tagmask]; t; t = t->hnext)
        if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

/* Double the index when it is as full as it has buckets; a failure to grow
   leaves the old index in place, just more crowded. */
static void grow(hc_cache *c, hc__part *p)
{
    uint32_t n = p->tags ? (p->tagmask + 1) * 2 : 64;
    hc__tag **nb = hc__calloc(&c->alloc, n, sizeof *nb);
    if (!nb) return;
    if (p->tags) {
        for (uint32_t i = 0; i <= p->tagmask; i++) {
            hc__tag *t = p->tags[i];
            while (t) {
                hc__tag *next = t->hnext;
                t->hnext = nb[t->hash & (n - 1)];
                nb[t->hash & (n - 1)] = t;
                t = next;
            }
        }
        hc__free(&c->alloc, p->tags);
    }
    p->tags = nb;
    p->tagmask = n - 1;
}

hc__tag *hc__tag_get(hc_cache *c, hc__part *p, const char *name, size_t len)
{
    hc__tag *t = hc__tag_find(p, name, len);
    if (t) return t;
    if (!p->tags || p->ntags >= (uint64_t)p->tagmask + 1) grow(c, p);
    if (!p->tags) return NULL;
    t = hc__malloc(&c->alloc, sizeof *t + len + 1);
    if (!t) return NULL;
    t->hash = hc__hash(name, len);
    t->count = 0;
    t->seen = false;
    t->head.prev = t->head.next = &t->head;
    t->head.tag = t;
    t->head.entry = NULL;
    t->len = len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->hnext = p->tags[t->hash & p->tagmask];
    p->tags[t->hash & p->tagmask] = t;
    p->ntags++;
    return t;
}

void hc__tag_link(hc__tag *t, hc__taglink *l, hc__entry *e)
{
    l->tag = t;
    l->entry = e;
    l->prev = t->head.prev;
    l->next = &t->head;
    t->head.prev->next = l;
    t->head.prev = l;
    t->count++;
}

void hc__tag_unlink(hc_cache *c, hc__part *p, hc__taglink *l)
{
    hc__tag *t = l->tag;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
    t->count--;
    hc__tag_release(c, p, t);
}

void hc__tag_release(hc_cache *c, hc__part *p, hc__tag *t)
{
    if (t->count) return;
    hc__tag **pp = &p->tags[t->hash & p->tagmask];
    while (*pp != t) pp = &(*pp)->hnext;
    *pp = t->hnext;
    p->ntags--;
    hc__free(&c->alloc, t);
}

void hc__tags_free_all(hc_cache *c, hc__part *p)
{
    if (!p->tags) return;
    for (uint32_t i = 0; i <= p->tagmask; i++) {
        hc__tag *t = p->tags[i];
        while (t) {
            hc__tag *next = t->hnext;
            hc__free(&c->alloc, t);
            t = next;
        }
        p->tags[i] = NULL;
    }
    p->ntags = 0;
}

/*
** The number of distinct tags over all partitions, for diagnostics: each
** partition's tags, less those some partition of lower index also has.
** With partition q locked, it locks each r < q in turn and marks q's tags
** found there; the only place that holds two partition locks, always
** taking the second of lower index, so two of these cannot deadlock and
** every other lock holder holds one. Exact when nothing changes meanwhile,
** like every figure of hc_diagnostics.
*/
uint64_t hc__tags_distinct(hc_cache *c)
{
    uint64_t n = 0;
    for (unsigned q = 0; q < c->nparts; q++) {
        hc__part *p = &c->parts[q];
        pthread_mutex_lock(&p->lock);
        uint64_t unseen = p->ntags;
        for (unsigned r = 0; r < q && unseen; r++) {
            hc__part *pr = &c->parts[r];
            pthread_mutex_lock(&pr->lock);
            for (uint32_t i = 0; pr->ntags && i <= p->tagmask; i++)
                for (hc__tag *t = p->tags[i]; t; t = t->hnext)
                    if (!t->seen && hc__tag_find(pr, t->name, t->len)) {
                        t->seen = true;
                        unseen--;
                    }
            pthread_mutex_unlock(&pr->lock);
        }
        n += unseen;
        for (uint32_t i = 0; p->tags && i <= p->tagmask; i++)
            for (hc__tag *t = p->tags[i]; t; t = t->hnext) t->seen = false;
        pthread_mutex_unlock(&p->lock);
    }
    return n;
}
