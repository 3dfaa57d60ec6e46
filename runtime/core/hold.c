/*
** hold.c -- tags held while a write's transaction is open.
**
** An exec that runs inside a transaction the application opened cannot
** invalidate for good before that transaction ends: until it commits, any
** connection reads the old row (or, on the writing connection, the new
** one that may yet be rolled back), and a load that stored either would
** leave the cache differing from the database once the transaction ended.
** So the exec holds its tags in the cache: it invalidates them at once,
** and until the hold is released no load whose entry carries a held tag
** (or any load, for a held flush) is stored. Such a load still returns
** its value to its callers; it is counted as a stale load discard, like a
** load an invalidation raced. When the transaction is over (db.c decides
** when), the hold is released and the tags are invalidated again.
**
** It owns the cache's hold set and calls only the cache's invalidation
** entry points. The set is a short list under its own mutex; nheld lets
** the store path skip it with one relaxed load while nothing is held.
*/
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

typedef struct held {
    char    *tag;                    /* NULL: a held flush */
    unsigned n;                      /* holds of it */
} held;

struct hc__holds {
    pthread_mutex_t mu;
    held  *v;
    size_t len, cap;
};

/* Allocated with malloc, not the cache's allocator: it may outlive the
   cache, until the last deferred release that refers to it is done. */
struct hc__anchor {
    pthread_mutex_t mu;
    hc_cache *c;                     /* NULL once the cache is closing */
    unsigned  refs;                  /* the cache's, and one per release */
};

static void anchor_unref(struct hc__anchor *a)
{
    pthread_mutex_lock(&a->mu);
    bool last = --a->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last) {
        pthread_mutex_destroy(&a->mu);
        free(a);
    }
}

int hc__holds_open(hc_cache *c)
{
    struct hc__holds *h = hc__malloc(&c->alloc, sizeof *h);
    struct hc__anchor *a = malloc(sizeof *a);
    if (!h || !a) {
        hc__free(&c->alloc, h);
        free(a);
        return HC_ENOMEM;
    }
    memset(h, 0, sizeof *h);
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        hc__free(&c->alloc, h);
        free(a);
        return HC_ESYS;
    }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        hc__free(&c->alloc, h);
        free(a);
        return HC_ESYS;
    }
    a->c = c;
    a->refs = 1;
    c->holds = h;
    c->anchor = a;
    return HC_OK;
}

void hc__holds_disarm(hc_cache *c)
{
    struct hc__anchor *a = c->anchor;
    if (!a) return;
    pthread_mutex_lock(&a->mu);     /* after a release that runs */
    a->c = NULL;
    pthread_mutex_unlock(&a->mu);
    c->anchor = NULL;
    anchor_unref(a);
}

struct hc__anchor *hc__anchor_get(hc_cache *c)
{
    struct hc__anchor *a = c->anchor;
    pthread_mutex_lock(&a->mu);
    a->refs++;
    pthread_mutex_unlock(&a->mu);
    return a;
}

void hc__anchor_release(struct hc__anchor *a, const char *const *tags, size_t n, bool all, bool publish)
{
    /* Under the anchor's lock, so the cache cannot close meanwhile. What
       the release calls runs no callback of the application's but the
       allocator and the bus transport's publish, which must not close
       the cache. */
    pthread_mutex_lock(&a->mu);
    if (a->c) hc__cache_release(a->c, tags, n, all, publish);
    pthread_mutex_unlock(&a->mu);
    anchor_unref(a);
}

void hc__holds_close(hc_cache *c)
{
    struct hc__holds *h = c->holds;
    if (!h) return;
    for (size_t i = 0; i < h->len; i++) hc__free(&c->alloc, h->v[i].tag);
    hc__free(&c->alloc, h->v);
    pthread_mutex_destroy(&h->mu);
    hc__free(&c->alloc, h);
    c->holds = NULL;
}

/* The slot of tag (NULL: the flush), or h->len. Under h->mu. */
static size_t find(const struct hc__holds *h, const char *tag)
{
    for (size_t i = 0; i < h->len; i++) {
        const char *t = h->v[i].tag;
        if (tag ? t && strcmp(t, tag) == 0 : !t) return i;
    }
    return h->len;
}

/* One more hold of tag; HC_ENOMEM leaves the set as it was. Under h->mu. */
static int add(hc_cache *c, struct hc__holds *h, const char *tag)
{
    size_t i = find(h, tag);
    if (i < h->len) {
        h->v[i].n++;
        return HC_OK;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        held *v = hc__realloc(&c->alloc, h->v, cap * sizeof *v);
        if (!v) return HC_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    char *copy = NULL;
    if (tag) {
        size_t n = strlen(tag) + 1;
        copy = hc__malloc(&c->alloc, n);
        if (!copy) return HC_ENOMEM;
        memcpy(copy, tag, n);
    }
    h->v[h->len++] = (held){copy, 1};
    atomic_fetch_add_explicit(&c->nheld, 1, memory_order_release);
    return HC_OK;
}

/* One hold of tag fewer. Under h->mu. */
static void drop(hc_cache *c, struct hc__holds *h, const char *tag)
{
    size_t i = find(h, tag);
    if (i == h->len || --h->v[i].n > 0) return;
    hc__free(&c->alloc, h->v[i].tag);
    h->v[i] = h->v[--h->len];
    atomic_fetch_sub_explicit(&c->nheld, 1, memory_order_release);
}

/* Invalidate every tag (or flush), locally only, or published too. */
static void invalidate(hc_cache *c, const char *const *tags, size_t n, bool all, bool publish)
{
    if (all) {
        if (publish) (void)hc_flush(c);
        else (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_LOCAL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = tags[i] ? tags[i] : "";
        if (publish) (void)hc_invalidate_tag(c, t, NULL);
        else (void)hc__apply(c, HC_BUS_TAG, t, HC_ORIGIN_LOCAL);
    }
}

int hc__cache_hold(hc_cache *c, const char *const *tags, size_t n, bool all)
{
    struct hc__holds *h = c->holds;
    int rc = HC_OK;
    size_t done = 0;
    pthread_mutex_lock(&h->mu);
    if (all) {
        rc = add(c, h, NULL);
    } else {
        for (; rc == HC_OK && done < n; done++) {
            rc = add(c, h, tags[done] ? tags[done] : "");
            if (rc != HC_OK) break;
        }
        if (rc != HC_OK)
            while (done-- > 0) drop(c, h, tags[done] ? tags[done] : "");
    }
    pthread_mutex_unlock(&h->mu);
    /* Held first, then invalidated: a load that reads the old row after
       this point finds its tag held, and one that read it before is made
       stale by the invalidation. */
    if (rc == HC_OK) invalidate(c, tags, n, all, false);
    return rc;
}

void hc__cache_release(hc_cache *c, const char *const *tags, size_t n, bool all, bool publish)
{
    struct hc__holds *h = c->holds;
    pthread_mutex_lock(&h->mu);
    if (all) {
        drop(c, h, NULL);
    } else {
        for (size_t i = 0; i < n; i++) drop(c, h, tags[i] ? tags[i] : "");
    }
    pthread_mutex_unlock(&h->mu);
    invalidate(c, tags, n, all, publish);
}

bool hc__cache_held_slow(hc_cache *c, char *const *tags, size_t n)
{
    struct hc__holds *h = c->holds;
    bool found = false;
    pthread_mutex_lock(&h->mu);
    if (find(h, NULL) < h->len) found = true;
    for (size_t i = 0; !found && i < n; i++) found = find(h, tags[i]) < h->len;
    pthread_mutex_unlock(&h->mu);
    return found;
}
