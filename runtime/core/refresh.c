/*
** refresh.c -- refresh-ahead: reloading an entry that is still being
** served, once it is older than its refresh interval, without making the
** reader that noticed wait.
**
** Owns: the cache's refresh pool (struct hc__pool): a bounded queue of
** refresh jobs and up to refresh_threads threads that run them, started
** one at a time as jobs find no idle thread. May call: the shard tables
** (table.h) and single-flight (flight.h) under the shard lock, cache.c's
** hc__store_load, hc__copy_stale and hc__refresh_release, events, decl.c,
** the loaders (with no lock held), the allocator.
**
** The claim. A hit on an entry whose refresh time has come swaps the
** entry's refresh_at to HC__REFRESH_CLAIMED (cache.c, claim_refresh): one
** reader per entry wins and calls hc__refresh; everyone else keeps reading
** the value as it is, on the lock-free path. The refresh itself then looks
** under the shard lock: if the key's entry is no longer the claimed one (a
** put, a load or an invalidation replaced or removed it), there is nothing
** to refresh; if a load of the key is in flight, that load will replace it.
** Otherwise the refresh registers a load in flight like any miss would, so
** that it is single-flight with every load of the key (misses meanwhile
** join it) and an invalidation while it runs marks it stale: its value is
** then dropped by the store, as any raced load's is. A refresh that does
** not end with a new entry (failed, dropped, skipped for a load in flight,
** its value not stored) puts the entry's refresh time back, refresh_ms
** later (hc__refresh_release), so it is tried again then.
**
** Lifetimes. A refresh on a pool thread outlives the call that claimed it:
** it owns a copy of the key and options, and of the loader's context, made
** by the caller's copy callback (generated code copies its arguments
** struct; hc_options.ctx_copy for hand-written loaders). A context that
** cannot be copied (no callback, or it ran out of memory), a cache without
** refresh threads, or a thread that cannot be started, and the refresh
** runs at once on the calling thread, after it has its value. A NULL
** context needs no copy. hc_cache_close drops what is queued (freeing the
** copies) and joins the threads, so a running refresh finishes first.
**
** After fork(), the child has none of the parent's threads: its refreshes
** run on the calling thread.
*/
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hc_int.h"
#include "flight.h"
#include "table.h"

/* One queued refresh: one allocation holding the job, its tag pointers,
   its key and its tag strings. */
typedef struct job {
    struct job *next;
    uint64_t    h;
    size_t      klen;
    char       *key;                 /* klen bytes and a 0 */
    hc_options  opts;                /* tags point into this allocation */
    hc_load_fn  load;
    void       *ctx;                 /* the copy, or NULL */
    void      (*ctx_free)(void *copy);
    hc_decl    *decl;
} job;

typedef struct hc__pool {
    pthread_mutex_t mu;
    pthread_cond_t  cv;              /* jobs queued, or closing */
    job     *head, *tail;
    unsigned queued, cap;
    unsigned started, idle;          /* threads started; waiting for a job */
    bool     closing;
    pid_t    pid;                    /* the process whose threads these are */
    pthread_t threads[];             /* refresh_threads */
} hc__pool;

#define RELAXED memory_order_relaxed

/* ------------------------------------------------------------- the run */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The claimed entry of key is due again one refresh interval from now (a
   second when the claiming call gave none). */
static void release(hc_cache *c, const char *key, size_t klen, uint64_t h, const hc_options *opts)
{
    uint64_t every = opts && opts->refresh_ms ? opts->refresh_ms : 1000;
    uint64_t now = hc__now(c);
    hc__refresh_release(c, key, klen, h, every > UINT64_MAX - now ? UINT64_MAX : now + every);
}

static void add(atomic_uint_fast64_t *n)
{
    atomic_fetch_add_explicit(n, 1, RELAXED);
}

/*
** Refresh key: if its entry is still the claimed one and no load of it is
** in flight, load it under single-flight and store the result (unless an
** invalidation raced it). Joiners (misses while it runs) get its value, or
** its error, or, when it failed, the entry's value if that may stand in
** for a failure (stale-if-error), as hc_get_or_load's would.
*/
static void run(hc_cache *c, const char *key, size_t klen, uint64_t h, const hc_options *opts,
                hc_load_fn load, void *ctx, hc_decl *decl)
{
    hc__shard *s = hc__shard_of(c, h);
    hc__flight *f = NULL;
    pthread_mutex_lock(&s->lock);
    hc__entry *e = hc__table_find(hc__view(c, s), h, key, klen);
    bool claimed = e && hc__entry_is_fresh(e) &&
                   atomic_load_explicit(&hc__entry_fresh(e)->refresh_at, RELAXED) == HC__REFRESH_CLAIMED;
    if (claimed && !hc__flight_find(s, h, key, klen)) {
        f = hc__flight_new(c, key, klen, h, opts);
        if (f) {
            f->next = s->flights;
            s->flights = f;
            f->attached = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!f) {
        if (claimed) release(c, key, klen, h, opts);    /* a load in flight, or no memory */
        return;
    }

    hc__tcount *tc = &c->tcounts[hc__thread_get()->slot];
    add(&tc->loads_started);
    hc_buf out = HC_BUF_INIT;
    hc_error err;
    hc_error_clear(&err);
    uint64_t t0 = now_ns();
    hc__flight_enter(f);
    int rc = load(ctx, &out, &err);
    hc__flight_leave(f);
    uint64_t ns = now_ns() - t0;
    if (rc > 0) {
        if (err.code == HC_OK) hc_error_set(&err, HC_ELOAD, "loader returned %d", rc);
        rc = HC_ELOAD;
    }
    bool discarded = false, stale = false;
    if (rc == HC_OK) {
        hc_error_clear(&err);
        add(&tc->loads);
        uint64_t seen = hc__stale_seen;
        (void)hc__store_load(c, key, klen, h, out.data, out.len, opts, f);
        discarded = hc__stale_seen != seen;
    } else {
        if (err.code == HC_OK) hc_error_set(&err, rc, NULL);
        else err.code = rc;
        add(&tc->load_failures);
        /* For the joiners, if any came: what hc_get_or_load would serve. */
        hc_buf_reset(&out);
        if (hc__copy_stale(c, key, klen, h, &out) == HC_OK) {
            char why[sizeof err.message];
            memcpy(why, err.message, sizeof why);
            hc_error_set(&err, HC_OK, "stale value served: %s", why);
            stale = true;
        }
    }
    /* Nothing when the store replaced the entry; else it is due again. */
    release(c, key, klen, h, opts);
    add(&tc->loads_ended);
    hc__flight_finish(c, s, f, stale ? HC_OK : rc, &out, &err, stale);
    /* Counted once everything it did is done, so that whoever sees the
       count sees the refreshed entry (or the refresh time put back). */
    if (decl) hc__decl_refreshed(c, decl, rc, ns, discarded);
    add(rc == HC_OK ? &c->refreshes : &c->refresh_failures);
    hc__emit(c, rc == HC_OK ? HC_EVENT_REFRESHED : HC_EVENT_REFRESH_FAILED, HC_ORIGIN_LOADER, key, klen);
    hc_buf_free(&out);
}

/* ------------------------------------------------------------ the pool */

static void job_free(hc_cache *c, job *j)
{
    if (j->ctx && j->ctx_free) j->ctx_free(j->ctx);
    hc__free(&c->alloc, j);
}

static void *worker(void *arg)
{
    hc_cache *c = arg;
    hc__pool *p = c->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->closing) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (p->closing) break;          /* what is left is hc__pool_close's */
        job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        run(c, j->key, j->klen, j->h, &j->opts, j->load, j->ctx, j->decl);
        job_free(c, j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int hc__pool_open(hc_cache *c)
{
    if (!c->refresh_threads) return HC_OK;
    hc__pool *p = hc__malloc(&c->alloc, sizeof *p + c->refresh_threads * sizeof(pthread_t));
    if (!p) return HC_ENOMEM;
    memset(p, 0, sizeof *p);
    if (hc__mutex_cond_init(&p->mu, &p->cv) != 0) {
        hc__free(&c->alloc, p);
        return HC_ESYS;
    }
    p->cap = c->refresh_queue;
    p->pid = getpid();
    c->pool = p;
    return HC_OK;
}

void hc__pool_close(hc_cache *c)
{
    hc__pool *p = c->pool;
    if (!p) return;
    bool ours = getpid() == p->pid;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    job *left = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; ours && i < p->started; i++) pthread_join(p->threads[i], NULL);
    while (left) {
        job *next = left->next;
        job_free(c, left);
        left = next;
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    hc__free(&c->alloc, p);
    c->pool = NULL;
}

/*
** Queue j: HC_OK; HC_EBUSY when the queue is full; HC_ESYS when no thread
** runs or could be started (the caller runs it itself). A thread is
** started when no started one is idle and fewer than refresh_threads are.
*/
static int push(hc_cache *c, job *j)
{
    hc__pool *p = c->pool;
    int rc = HC_OK;
    pthread_mutex_lock(&p->mu);
    if (p->queued >= p->cap) {
        rc = HC_EBUSY;
    } else {
        if (!p->idle && p->started < c->refresh_threads &&
            pthread_create(&p->threads[p->started], NULL, worker, c) == 0)
            p->started++;
        if (!p->started) {
            rc = HC_ESYS;
        } else {
            j->next = NULL;
            if (p->tail) p->tail->next = j;
            else p->head = j;
            p->tail = j;
            p->queued++;
            pthread_cond_signal(&p->cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* A job for key with copies of opts (tags included) and nothing else;
   NULL when out of memory. */
static job *job_new(hc_cache *c, const char *key, size_t klen, uint64_t h, const hc_options *opts,
                    hc_load_fn load, hc_decl *decl)
{
    size_t ntags = opts ? opts->ntags : 0;
    job *j = hc__malloc(&c->alloc, sizeof(job) + hc__key_tags_size(klen, opts));
    if (!j) return NULL;
    memset(j, 0, sizeof *j);
    char **tags = (char **)(void *)(j + 1);
    j->key = hc__key_tags_copy(tags, key, klen, opts);
    if (opts) j->opts = *opts;
    j->opts.tags = (const char *const *)tags;
    j->opts.ntags = ntags;
    j->opts.ctx_copy = NULL;
    j->opts.ctx_free = NULL;
    j->klen = klen;
    j->h = h;
    j->load = load;
    j->decl = decl;
    return j;
}

void hc__refresh(hc_cache *c, const char *key, size_t klen, uint64_t h, const hc_options *opts,
                 hc_load_fn load, void *ctx, void *(*copy)(void *ctx), void (*free_fn)(void *copy),
                 hc_decl *decl)
{
    hc__pool *p = c->pool;
    if (p && (copy || !ctx) && getpid() == p->pid) {
        job *j = job_new(c, key, klen, h, opts, load, decl);
        if (j && ctx) {
            j->ctx = copy(ctx);
            j->ctx_free = free_fn;
            if (!j->ctx) {                  /* no copy: this thread refreshes */
                hc__free(&c->alloc, j);
                j = NULL;
            }
        }
        if (j) {
            int rc = push(c, j);
            if (rc == HC_OK) return;
            job_free(c, j);
            if (rc == HC_EBUSY) {           /* queue full: dropped, tried again later */
                add(&c->refresh_drops);
                release(c, key, klen, h, opts);
                return;
            }
        }
    }
    run(c, key, klen, h, opts, load, ctx, decl);
}
