/*
** events.c -- event names, subscriptions and listeners.
**
** A cache's hub holds its open subscriptions in a list under one mutex,
** which also orders publishing: hc__emit_event numbers an event and pushes
** it into every matching subscription's ring while holding it, so all
** subscribers see one order. The event is copied once, into a refcounted
** allocation the rings share, and only when some filter wants it.
**
** Each subscription has a bounded ring under a mutex of its own, with a
** condition variable its reader waits on. The cache never waits for a
** reader: a full ring drops its oldest event and counts it, and the reader
** learns how many it lost (HC_ELAGGED) before it gets the ones kept.
**
** Locks, in order: detach_lock (process-wide, only to close a cache or a
** subscription), a hub's mutex, a subscription's mutex. Publishing takes
** the hub's mutex, then each matching subscription's briefly. Events are
** freed, and callbacks called, with no lock held.
**
** A subscription can outlive its cache: hc__events_close marks it closed
** and detaches it, and from then on it touches only what it owns, freeing
** events with its own copy of the allocator.
*/
#include <errno.h>
#include <string.h>
#include <time.h>

#include "hc_int.h"

const char *hc_event_kind_name(hc_event_kind k)
{
    static const char *const names[HC_EVENT_KIND_COUNT] = {
        "hit", "miss", "single_flight_joined", "load_started",
        "load_completed", "load_failed", "stored", "removed",
        "key_invalidated", "tag_invalidated", "flushed",
        "stale_load_discarded", "expired", "evicted", "refreshed",
        "refresh_failed", "stale_served",
    };
    return (unsigned)k < HC_EVENT_KIND_COUNT ? names[k] : "unknown";
}

const char *hc_origin_name(hc_origin o)
{
    static const char *const names[HC_ORIGIN_COUNT] = {
        "local", "loader", "single_flight", "backend", "bus",
    };
    return (unsigned)o < HC_ORIGIN_COUNT ? names[o] : "unknown";
}

/* ------------------------------------------------------------ types */

/*
** One published event, shared by the rings it went into: one allocation
** holding the header, ntags tag pointers, the key (NUL-terminated) and the
** tag strings. Immutable once pushed; the last reference frees it.
*/
typedef struct shared_event {
    atomic_uint refs;
    struct shared_event *next;       /* a list of events to free, once unreferenced */
    hc_event ev;                     /* its pointers point into this allocation */
    const char *tags[];
} shared_event;

struct hc_subscription {
    hc_subscription *prev, *next;    /* the hub's list, under its mutex */
    hc_cache     *cache;             /* NULL once detached; under detach_lock */
    hc_allocator  alloc;             /* the cache's, kept to free after it is gone */
    /* The filter, with its strings copied (NULL: not set). */
    unsigned      kinds, origins;
    const char   *prefix, *tag;
    size_t        prefix_len, tag_len;

    pthread_mutex_t mu;              /* guards what follows, but current */
    pthread_cond_t  cv;              /* signalled when something arrives */
    shared_event  **ring;            /* cap slots; len events from head */
    unsigned      cap, head, len;
    uint64_t      skipped;           /* dropped since the last HC_ELAGGED */
    bool          closed;            /* the cache was closed */
    bool          stopped;           /* its listener is stopping: recv ends */

    shared_event *current;           /* the event last received; reader's only */
};

struct hc__events {
    pthread_mutex_t  mu;             /* guards subs and seq */
    hc_subscription *subs;
    uint64_t         seq;            /* the last event number given */
};

/*
** Detaching a subscription from its cache (hc_subscription_close) may run
** at the same time as the cache's close on another thread: a listener that
** closes itself from its callback finishes on its own thread, at a moment
** its owner cannot know. This lock makes the two take turns, so a closing
** subscription never reaches into a cache being freed. Only those two take
** it, never publishing.
*/
static pthread_mutex_t detach_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------- shared events */

/* A copy of ev numbered seq, with one reference; NULL when out of memory. */
static shared_event *event_copy(const hc_allocator *a, const hc_event *ev, uint64_t seq)
{
    size_t size = sizeof(shared_event) + ev->ntags * sizeof(char *);
    if (ev->key) size += ev->key_len + 1;
    for (size_t i = 0; i < ev->ntags; i++) size += strlen(ev->tags[i]) + 1;
    shared_event *e = hc__malloc(a, size);
    if (!e) return NULL;
    atomic_init(&e->refs, 1);
    e->next = NULL;
    e->ev = *ev;
    e->ev.seq = seq;
    e->ev.skipped = 0;
    char *p = (char *)(e->tags + ev->ntags);
    if (ev->key) {
        memcpy(p, ev->key, ev->key_len);
        p[ev->key_len] = '\0';
        e->ev.key = p;
        p += ev->key_len + 1;
    }
    for (size_t i = 0; i < ev->ntags; i++) {
        size_t n = strlen(ev->tags[i]) + 1;
        memcpy(p, ev->tags[i], n);
        e->tags[i] = p;
        p += n;
    }
    e->ev.tags = ev->ntags ? e->tags : NULL;
    return e;
}

/* Drop a reference. True if it was the last: the caller frees e. */
static bool event_unref(shared_event *e)
{
    return atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1;
}

static void event_release(const hc_allocator *a, shared_event *e)
{
    if (e && event_unref(e)) hc__free(a, e);
}

static void events_free(const hc_allocator *a, shared_event *list)
{
    while (list) {
        shared_event *next = list->next;
        hc__free(a, list);
        list = next;
    }
}

/* ------------------------------------------------------- publishing */

static bool has_tag(const hc_event *ev, const char *tag)
{
    for (size_t i = 0; i < ev->ntags; i++)
        if (strcmp(ev->tags[i], tag) == 0) return true;
    return false;
}

/* Does sub's filter want ev? */
static bool wants(const hc_subscription *sub, const hc_event *ev)
{
    if (sub->kinds && !(sub->kinds & HC_EVENT_BIT(ev->kind))) return false;
    if (sub->origins && !(sub->origins & HC_ORIGIN_BIT(ev->origin))) return false;
    if (sub->prefix && (!ev->key || ev->key_len < sub->prefix_len ||
                        memcmp(ev->key, sub->prefix, sub->prefix_len) != 0))
        return false;
    if (sub->tag) {
        if (ev->kind == HC_EVENT_TAG_INVALIDATED)
            return ev->key && ev->key_len == sub->tag_len &&
                   memcmp(ev->key, sub->tag, sub->tag_len) == 0;
        return ev->kind == HC_EVENT_STORED && has_tag(ev, sub->tag);
    }
    return true;
}

/*
** Queue e (NULL: an event lost to out of memory) in sub's ring. A full ring
** drops its oldest event; one whose last reference that was goes on
** *garbage, to be freed once no lock is held. Under the hub's mutex.
*/
static void push(hc_cache *c, hc_subscription *sub, shared_event *e,
                 shared_event **garbage)
{
    unsigned lost = 0;
    pthread_mutex_lock(&sub->mu);
    if (!e) {
        lost = 1;
    } else {
        if (sub->len == sub->cap) {
            shared_event *old = sub->ring[sub->head];
            sub->head = (sub->head + 1) % sub->cap;
            sub->len--;
            lost = 1;
            if (event_unref(old)) {
                old->next = *garbage;
                *garbage = old;
            }
        }
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        sub->ring[(sub->head + sub->len) % sub->cap] = e;
        sub->len++;
    }
    sub->skipped += lost;
    pthread_cond_signal(&sub->cv);
    pthread_mutex_unlock(&sub->mu);
    if (lost) atomic_fetch_add_explicit(&c->event_subscriber_lagged, 1, memory_order_relaxed);
}

void hc__emit_event(hc_cache *c, const hc_event *ev)
{
    if (atomic_load_explicit(&c->nsubs, memory_order_relaxed) == 0) return;
    struct hc__events *hub = c->events;
    shared_event *e = NULL, *garbage = NULL;
    bool copied = false;
    pthread_mutex_lock(&hub->mu);
    if (hub->subs) {
        uint64_t seq = ++hub->seq;
        atomic_fetch_add_explicit(&c->events_published, 1, memory_order_relaxed);
        for (hc_subscription *sub = hub->subs; sub; sub = sub->next) {
            if (!wants(sub, ev)) continue;
            if (!copied) {
                e = event_copy(&c->alloc, ev, seq);
                copied = true;
            }
            push(c, sub, e, &garbage);
        }
    }
    pthread_mutex_unlock(&hub->mu);
    event_release(&c->alloc, e);        /* the reference event_copy gave us */
    events_free(&c->alloc, garbage);
}

/* -------------------------------------------------------------- hub */

int hc__events_open(hc_cache *c)
{
    struct hc__events *hub = hc__malloc(&c->alloc, sizeof *hub);
    if (!hub) return HC_ENOMEM;
    if (pthread_mutex_init(&hub->mu, NULL) != 0) {
        hc__free(&c->alloc, hub);
        return HC_ESYS;
    }
    hub->subs = NULL;
    hub->seq = 0;
    c->events = hub;
    return HC_OK;
}

void hc__events_close(hc_cache *c)
{
    struct hc__events *hub = c->events;
    if (!hub) return;
    pthread_mutex_lock(&detach_lock);
    pthread_mutex_lock(&hub->mu);
    for (hc_subscription *sub = hub->subs, *next; sub; sub = next) {
        next = sub->next;
        pthread_mutex_lock(&sub->mu);
        sub->closed = true;
        pthread_cond_broadcast(&sub->cv);
        pthread_mutex_unlock(&sub->mu);
        sub->prev = sub->next = NULL;
        sub->cache = NULL;
    }
    hub->subs = NULL;
    pthread_mutex_unlock(&hub->mu);
    c->events = NULL;
    atomic_store_explicit(&c->nsubs, 0, memory_order_relaxed);
    pthread_mutex_unlock(&detach_lock);
    pthread_mutex_destroy(&hub->mu);
    hc__free(&c->alloc, hub);
}

/* ---------------------------------------------------- subscriptions */

int hc_subscribe(hc_cache *c, const hc_event_filter *filter, hc_subscription **out)
{
    if (!out) return HC_EINVAL;
    *out = NULL;
    if (!c) return HC_EINVAL;
    hc_event_filter all = {0, 0, NULL, NULL};
    if (!filter) filter = &all;

    /* One allocation: the subscription, its ring and the filter's strings. */
    unsigned cap = c->event_buffer;
    size_t ring = (size_t)cap * sizeof(shared_event *);
    if (ring / sizeof(shared_event *) != cap) return HC_ENOMEM;    /* 32-bit */
    size_t prefix_len = filter->key_prefix ? strlen(filter->key_prefix) : 0;
    size_t tag_len = filter->tag ? strlen(filter->tag) : 0;
    size_t size = sizeof(hc_subscription) + ring;
    if (filter->key_prefix) size += prefix_len + 1;
    if (filter->tag) size += tag_len + 1;
    hc_subscription *sub = hc__malloc(&c->alloc, size);
    if (!sub) return HC_ENOMEM;
    memset(sub, 0, sizeof *sub);
    sub->alloc = c->alloc;
    sub->kinds = filter->kinds;
    sub->origins = filter->origins;
    sub->ring = (shared_event **)(void *)(sub + 1);
    sub->cap = cap;
    char *p = (char *)(sub->ring + cap);
    if (filter->key_prefix) {
        memcpy(p, filter->key_prefix, prefix_len + 1);
        sub->prefix = p;
        sub->prefix_len = prefix_len;
        p += prefix_len + 1;
    }
    if (filter->tag) {
        memcpy(p, filter->tag, tag_len + 1);
        sub->tag = p;
        sub->tag_len = tag_len;
    }

    if (hc__mutex_cond_init(&sub->mu, &sub->cv) != 0) goto fail;

    struct hc__events *hub = c->events;
    sub->cache = c;
    pthread_mutex_lock(&hub->mu);
    sub->next = hub->subs;
    if (hub->subs) hub->subs->prev = sub;
    hub->subs = sub;
    atomic_fetch_add_explicit(&c->nsubs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&hub->mu);
    *out = sub;
    return HC_OK;
fail:
    hc__free(&c->alloc, sub);
    return HC_ESYS;
}

/* The absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec deadline_after(uint64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (timeout_ms % 1000u) * 1000000u;
    ts.tv_sec += (time_t)(timeout_ms / 1000u + ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* Longer than this (about 35 years) is waiting as long as it takes: the
   deadline would not fit a time_t comfortably. */
#define FOREVER_MS ((uint64_t)1 << 40)

int hc_subscription_recv(hc_subscription *sub, hc_event *ev, uint64_t timeout_ms)
{
    if (!sub || !ev) return HC_EINVAL;
    /* The last event received may go: its pointers were good until now. */
    shared_event *prev = sub->current;
    sub->current = NULL;
    event_release(&sub->alloc, prev);

    bool forever = timeout_ms >= FOREVER_MS, timed_out = false, have_deadline = false;
    struct timespec until;
    int rc;
    pthread_mutex_lock(&sub->mu);
    for (;;) {
        if (sub->stopped) {
            rc = HC_ECLOSED;
            break;
        }
        if (sub->skipped) {
            memset(ev, 0, sizeof *ev);
            ev->skipped = sub->skipped;
            sub->skipped = 0;
            rc = HC_ELAGGED;
            break;
        }
        if (sub->len) {
            shared_event *e = sub->ring[sub->head];
            sub->head = (sub->head + 1) % sub->cap;
            sub->len--;
            sub->current = e;               /* keeps the ring's reference */
            *ev = e->ev;
            rc = HC_OK;
            break;
        }
        if (sub->closed) {
            rc = HC_ECLOSED;
            break;
        }
        if (timeout_ms == 0 || timed_out) {
            rc = HC_ETIMEDOUT;
            break;
        }
        if (forever) {
            pthread_cond_wait(&sub->cv, &sub->mu);
        } else {
            if (!have_deadline) {
                until = deadline_after(timeout_ms);
                have_deadline = true;
            }
            /* Timed out: look once more, then give up. */
            if (pthread_cond_timedwait(&sub->cv, &sub->mu, &until) == ETIMEDOUT)
                timed_out = true;
        }
    }
    pthread_mutex_unlock(&sub->mu);
    return rc;
}

/* Take sub out of its cache's list, unless the cache's close did. */
static void detach(hc_subscription *sub)
{
    pthread_mutex_lock(&detach_lock);
    hc_cache *c = sub->cache;
    if (c) {
        struct hc__events *hub = c->events;
        pthread_mutex_lock(&hub->mu);
        if (sub->prev) sub->prev->next = sub->next;
        else hub->subs = sub->next;
        if (sub->next) sub->next->prev = sub->prev;
        atomic_fetch_sub_explicit(&c->nsubs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&hub->mu);
        sub->cache = NULL;
    }
    pthread_mutex_unlock(&detach_lock);
}

void hc_subscription_close(hc_subscription *sub)
{
    if (!sub) return;
    detach(sub);
    /* Nothing can reach sub any more. */
    for (unsigned i = 0; i < sub->len; i++)
        event_release(&sub->alloc, sub->ring[(sub->head + i) % sub->cap]);
    event_release(&sub->alloc, sub->current);
    pthread_mutex_destroy(&sub->mu);
    pthread_cond_destroy(&sub->cv);
    hc_allocator a = sub->alloc;
    hc__free(&a, sub);
}

/* Make sub's reader return HC_ECLOSED from now on, waking it if it waits. */
static void stop(hc_subscription *sub)
{
    pthread_mutex_lock(&sub->mu);
    sub->stopped = true;
    pthread_cond_broadcast(&sub->cv);
    pthread_mutex_unlock(&sub->mu);
}

/* -------------------------------------------------------- listeners */

struct hc_listener {
    hc_subscription *sub;
    hc_event_fn   fn;
    void         *ctx;
    hc_allocator  alloc;
    pthread_t     thread;
    atomic_bool   stopping;          /* hc_listener_close was called */
    bool          self_closed;       /* ...from the callback: the thread frees l */
};

/* The listener whose callback this thread is running, if any. */
static _Thread_local hc_listener *running;

static void listener_free(hc_listener *l)
{
    hc_subscription_close(l->sub);
    hc_allocator a = l->alloc;
    hc__free(&a, l);
}

static void *listen_loop(void *arg)
{
    hc_listener *l = arg;
    uint64_t skipped = 0;
    hc_event ev;
    for (;;) {
        int rc = hc_subscription_recv(l->sub, &ev, UINT64_MAX);
        if (atomic_load(&l->stopping)) break;
        if (rc == HC_ELAGGED) {
            skipped += ev.skipped;      /* told with the next event */
            continue;
        }
        if (rc != HC_OK) break;         /* HC_ECLOSED: the cache was closed */
        ev.skipped = skipped;
        skipped = 0;
        running = l;
        l->fn(l->ctx, &ev);
        running = NULL;
        if (atomic_load(&l->stopping)) break;
    }
    if (l->self_closed) {
        /* Nobody will join this thread: it cleans up after itself. */
        pthread_detach(pthread_self());
        listener_free(l);
    }
    return NULL;
}

int hc_listen(hc_cache *c, const hc_event_filter *filter, hc_event_fn fn,
              void *ctx, hc_listener **out)
{
    if (!out) return HC_EINVAL;
    *out = NULL;
    if (!c || !fn) return HC_EINVAL;
    hc_listener *l = hc__malloc(&c->alloc, sizeof *l);
    if (!l) return HC_ENOMEM;
    memset(l, 0, sizeof *l);
    l->fn = fn;
    l->ctx = ctx;
    l->alloc = c->alloc;
    atomic_init(&l->stopping, false);
    int rc = hc_subscribe(c, filter, &l->sub);
    if (rc != HC_OK) {
        hc__free(&c->alloc, l);
        return rc;
    }
    if (pthread_create(&l->thread, NULL, listen_loop, l) != 0) {
        listener_free(l);
        return HC_ESYS;
    }
    *out = l;
    return HC_OK;
}

bool hc__listener_stopping(const hc_listener *l)
{
    return atomic_load(&l->stopping);
}

void hc_listener_close(hc_listener *l)
{
    if (!l) return;
    atomic_store(&l->stopping, true);
    if (running == l) {
        /* From inside its own callback: joining would wait for ourselves.
           The loop ends when the callback returns and frees l. */
        l->self_closed = true;
        return;
    }
    stop(l->sub);
    pthread_join(l->thread, NULL);
    listener_free(l);
}
