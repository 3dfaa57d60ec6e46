/*
** flight.c -- single-flight: one loader per missing key, the others wait.
**
** Owns: hc__flight records (their mutex, condition variable and result),
** each shard's list of loads in flight, each thread's chain of the loads
** whose loaders it runs. May call: the allocator, the flight's own mutex
** and condition variable, hc_buf/hc_error helpers. The shard and partition
** locks are the caller's (flight.h says which each function needs); no
** loader or callback runs here.
**
** A flight is attached (in its shard's list, found by new callers) from
** the miss that registers it until its leader finishes, or until an
** invalidation of its key, one of its tags or the whole cache makes it
** stale: then it is detached early, so that later callers start a fresh
** load instead of joining one that will not be stored. The leader and the
** joiners that came before still get its result.
*/
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "flight.h"

hc__flight *hc__flight_find(hc__shard *s, uint64_t h, const char *key, size_t klen)
{
    for (hc__flight *f = s->flights; f; f = f->next)
        if (f->hash == h && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return f;
    return NULL;
}

void hc__flight_detach(hc__shard *s, hc__flight *f)
{
    if (!f->attached) return;
    hc__flight **pp = &s->flights;
    while (*pp != f) pp = &(*pp)->next;
    *pp = f->next;
    f->next = NULL;
    f->attached = false;
}

void hc__flight_stale(hc__shard *s, hc__flight *f)
{
    f->stale = true;
    hc__flight_detach(s, f);
}

static bool has_tag(const hc__flight *f, const char *tag, size_t len)
{
    for (size_t i = 0; i < f->ntags; i++)
        if (strlen(f->tags[i]) == len && memcmp(f->tags[i], tag, len) == 0)
            return true;
    return false;
}

void hc__flight_stale_matching(hc__shard *s, const char *tag, size_t len)
{
    for (hc__flight *f = s->flights, *next; f; f = next) {
        next = f->next;
        if (!tag || has_tag(f, tag, len)) hc__flight_stale(s, f);
    }
}

size_t hc__key_tags_size(size_t klen, const hc_options *opts)
{
    size_t ntags = opts ? opts->ntags : 0;
    size_t size = ntags * sizeof(char *) + klen + 1;
    for (size_t i = 0; i < ntags; i++) size += strlen(opts->tags[i]) + 1;
    return size;
}

char *hc__key_tags_copy(void *mem, const char *key, size_t klen, const hc_options *opts)
{
    size_t ntags = opts ? opts->ntags : 0;
    char **tags = mem;
    char *k = (char *)(tags + ntags);
    memcpy(k, key, klen);
    k[klen] = '\0';
    char *p = k + klen + 1;
    for (size_t i = 0; i < ntags; i++) {
        size_t n = strlen(opts->tags[i]) + 1;
        memcpy(p, opts->tags[i], n);
        tags[i] = p;
        p += n;
    }
    return k;
}

/* One allocation: the flight, its tag pointers, its key and tag strings.
   opts was checked (check_options in cache.c): no NULL names. */
hc__flight *hc__flight_new(hc_cache *c, const char *key, size_t klen, uint64_t h,
                           const hc_options *opts)
{
    size_t ntags = opts ? opts->ntags : 0;
    hc__flight *f = hc__malloc(&c->alloc, sizeof(hc__flight) + hc__key_tags_size(klen, opts));
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->tags = (char **)(void *)(f + 1);
    f->key = hc__key_tags_copy(f->tags, key, klen, opts);
    f->ntags = ntags;
    f->klen = klen;
    f->hash = h;
    f->cache = c;
    atomic_init(&f->refs, 1);
    return f;
}

void hc__flight_unref(hc_cache *c, hc__flight *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    if (f->waitable) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
    }
    hc__free(&c->alloc, f->val);
    hc__free(&c->alloc, f);
}

/*
** The thread's own chain, not the shard's list: an invalidation, put or
** flush of the key detaches its load from the shard while the loader runs,
** and a check of the shard alone let the loader start a second load of its
** own key, and so on (a loader holding a lock of its own deadlocked).
*/
bool hc__flight_leads(hc_cache *c, uint64_t h, const char *key, size_t klen)
{
    for (const hc__flight *f = hc__self_ptr()->leading; f; f = f->outer)
        if (f->cache == c && f->hash == h && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return true;
    return false;
}

void hc__flight_enter(hc__flight *f)
{
    hc__thread *self = hc__self_ptr();
    f->outer = self->leading;
    self->leading = f;
}

void hc__flight_leave(hc__flight *f)
{
    hc__self_ptr()->leading = f->outer;
}

/*
** Most loads have no joiner, so the mutex and condition variable joiners
** wait on are set up by the first one, under the shard lock, and the
** leader uses them only if it saw a joiner there (settled or detached).
*/
int hc__flight_add_joiner(hc__flight *f)
{
    if (!f->waitable) {
        if (hc__mutex_cond_init(&f->mu, &f->cv) != 0) return HC_ESYS;
        f->waitable = true;
    }
    f->waiters++;
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return HC_OK;
}

int hc__flight_join(hc_cache *c, hc__flight *f, hc_buf *out, hc_error *err, bool *stale)
{
    int rc;
    pthread_mutex_lock(&f->mu);
    if (c->load_wait_timeout_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (c->load_wait_timeout_ms % 1000u) * 1000000u;
        ts.tv_sec += (time_t)(c->load_wait_timeout_ms / 1000u + ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!f->done)
            if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0 && !f->done) break;
    } else {
        while (!f->done) pthread_cond_wait(&f->cv, &f->mu);
    }
    if (!f->done) {
        rc = hc_error_set(err, HC_ETIMEDOUT, "timed out after %" PRIu64 " ms waiting for the load of '%s'",
                          c->load_wait_timeout_ms, f->key);
    } else if (f->rc == HC_OK) {
        rc = hc_buf_set(out, f->val, f->vlen);
        if (rc != HC_OK) hc_error_set(err, rc, NULL);
        else if (f->served_stale) {
            *err = f->err;              /* code HC_OK, and what it stands in for */
            *stale = true;
        }
    } else {
        rc = f->rc;
        *err = f->err;
    }
    pthread_mutex_unlock(&f->mu);
    hc__flight_unref(c, f);
    return rc;
}

void hc__flight_settle(hc__shard *s, hc__flight *f)
{
    hc__flight_detach(s, f);
    f->settled = true;
    f->settled_waiters = f->waiters;
}

void hc__flight_finish(hc_cache *c, hc__shard *s, hc__flight *f, int rc,
                       const hc_buf *out, const hc_error *err, bool stale)
{
    /* Detach (if the store did not) so no one else joins, then hand the
       result to the joiners that did. Once detached, nobody else writes
       waiters: settled_waiters, written by this thread, is final. */
    unsigned waiters;
    if (f->settled) {
        waiters = f->settled_waiters;
    } else {
        pthread_mutex_lock(&s->lock);
        hc__flight_detach(s, f);
        waiters = f->waiters;
        pthread_mutex_unlock(&s->lock);
    }

    if (!waiters) {
        hc__flight_unref(c, f);
        return;
    }
    uint8_t *copy = NULL;
    int shared_rc = rc;
    if (rc == HC_OK && out->len) {
        copy = hc__malloc(&c->alloc, out->len);
        if (copy) memcpy(copy, out->data, out->len);
        else shared_rc = HC_ENOMEM;
    }
    pthread_mutex_lock(&f->mu);
    f->rc = shared_rc;
    f->err = *err;
    if (shared_rc == HC_ENOMEM && rc == HC_OK)
        hc_error_set(&f->err, HC_ENOMEM, "out of memory sharing the loaded value");
    f->val = copy;
    f->vlen = copy ? out->len : 0;
    f->served_stale = stale && shared_rc == HC_OK;
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    hc__flight_unref(c, f);
}
