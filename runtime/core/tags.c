/*
** tags.c -- the tag index: tag name -> the entries that carry it.
**
** A chained hash table of tags, each with a circular list of its members'
** links (the links live inside the entries, so tagging an entry allocates
** nothing but, the first time a tag is seen, the tag itself). A tag is freed
** when its last member leaves. Everything here runs under the policy lock.
*/
#include <string.h>

#include "hc_int.h"

hc__tag *hc__tag_find(hc_cache *c, const char *name, size_t len)
{
    if (!c->tags) return NULL;
    uint64_t h = hc__hash(name, len);
    for (hc__tag *t = c->tags[h & c->tagmask]; t; t = t->hnext)
        if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

/* Double the index when it is as full as it has buckets; a failure to grow
   leaves the old index in place, just more crowded. */
static void grow(hc_cache *c)
{
    uint32_t n = c->tags ? (c->tagmask + 1) * 2 : 64;
    hc__tag **nb = hc__calloc(&c->alloc, n, sizeof *nb);
    if (!nb) return;
    if (c->tags) {
        for (uint32_t i = 0; i <= c->tagmask; i++) {
            hc__tag *t = c->tags[i];
            while (t) {
                hc__tag *next = t->hnext;
                t->hnext = nb[t->hash & (n - 1)];
                nb[t->hash & (n - 1)] = t;
                t = next;
            }
        }
        hc__free(&c->alloc, c->tags);
    }
    c->tags = nb;
    c->tagmask = n - 1;
}

hc__tag *hc__tag_get(hc_cache *c, const char *name, size_t len)
{
    hc__tag *t = hc__tag_find(c, name, len);
    if (t) return t;
    if (!c->tags || c->ntags >= (uint64_t)c->tagmask + 1) grow(c);
    if (!c->tags) return NULL;
    t = hc__malloc(&c->alloc, sizeof *t + len + 1);
    if (!t) return NULL;
    t->hash = hc__hash(name, len);
    t->count = 0;
    t->head.prev = t->head.next = &t->head;
    t->head.tag = t;
    t->head.entry = NULL;
    t->len = len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->hnext = c->tags[t->hash & c->tagmask];
    c->tags[t->hash & c->tagmask] = t;
    c->ntags++;
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

void hc__tag_unlink(hc_cache *c, hc__taglink *l)
{
    hc__tag *t = l->tag;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
    t->count--;
    hc__tag_release(c, t);
}

void hc__tag_release(hc_cache *c, hc__tag *t)
{
    if (t->count) return;
    hc__tag **pp = &c->tags[t->hash & c->tagmask];
    while (*pp != t) pp = &(*pp)->hnext;
    *pp = t->hnext;
    c->ntags--;
    hc__free(&c->alloc, t);
}

void hc__tags_free_all(hc_cache *c)
{
    if (!c->tags) return;
    for (uint32_t i = 0; i <= c->tagmask; i++) {
        hc__tag *t = c->tags[i];
        while (t) {
            hc__tag *next = t->hnext;
            hc__free(&c->alloc, t);
            t = next;
        }
        c->tags[i] = NULL;
    }
    c->ntags = 0;
}
