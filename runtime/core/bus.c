/*
** bus.c -- the invalidation bus: which caches a bus delivers to, echo
** suppression and counting (here), and the in-process transport.
**
** A bus is a transport (hc_bus_transport: publish, start, close) and the
** caches opened on it. A cache publishes through hc__bus_publish after it
** applied an invalidation; the transport hands every message it receives to
** hc_bus_deliver from its own thread, which applies it to each cache of the
** message's name except the one that sent it. The list of caches is guarded
** by the bus's mutex, held while a message is applied, so hc__bus_detach
** (in hc_cache_close) waits for a delivery to its cache to finish. Lock
** order: bus, then the cache's own locks; nothing here calls a transport
** with the bus's mutex held.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

struct hc_bus {
    const hc_bus_transport *t;
    void            *impl;
    pthread_mutex_t  lock;           /* guards caches and n */
    hc_cache       **caches;
    size_t           n, cap;
    /* What the transport last said of itself (hc_bus_set_health). */
    pthread_mutex_t  health_lock;    /* guards down and reason */
    bool             down;
    char             reason[200];
};

int hc_bus_new(hc_bus **out, const hc_bus_transport *t, void *impl,
               hc_error *err)
{
    if (!out || !t || !t->publish || !t->start || !t->close) {
        if (t && t->close) t->close(impl);
        return hc_error_set(err, HC_EINVAL, "incomplete transport");
    }
    *out = NULL;
    hc_bus *bus = calloc(1, sizeof *bus);
    if (!bus) {
        t->close(impl);
        return hc_error_set(err, HC_ENOMEM, NULL);
    }
    bus->t = t;
    bus->impl = impl;
    if (pthread_mutex_init(&bus->lock, NULL) != 0) {
        free(bus);
        t->close(impl);
        return hc_error_set(err, HC_ESYS, "pthread_mutex_init failed");
    }
    if (pthread_mutex_init(&bus->health_lock, NULL) != 0) {
        pthread_mutex_destroy(&bus->lock);
        free(bus);
        t->close(impl);
        return hc_error_set(err, HC_ESYS, "pthread_mutex_init failed");
    }
    int rc = t->start(impl, bus, err);
    if (rc != HC_OK) {
        pthread_mutex_destroy(&bus->health_lock);
        pthread_mutex_destroy(&bus->lock);
        free(bus);
        t->close(impl);
        return rc;
    }
    *out = bus;
    return HC_OK;
}

void hc_bus_free(hc_bus *bus)
{
    if (!bus) return;
    bus->t->close(bus->impl);        /* no delivery runs after this */
    pthread_mutex_destroy(&bus->health_lock);
    pthread_mutex_destroy(&bus->lock);
    free(bus->caches);
    free(bus);
}

const hc_bus_transport *hc__bus_transport(const hc_bus *bus, void **impl)
{
    *impl = bus->impl;
    return bus->t;
}

int hc__bus_attach(hc_bus *bus, hc_cache *c)
{
    int rc = HC_OK;
    pthread_mutex_lock(&bus->lock);
    if (bus->n == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 4;
        hc_cache **v = realloc(bus->caches, cap * sizeof *v);
        if (v) {
            bus->caches = v;
            bus->cap = cap;
        } else {
            rc = HC_ENOMEM;
        }
    }
    if (rc == HC_OK) bus->caches[bus->n++] = c;
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

void hc__bus_detach(hc_bus *bus, hc_cache *c)
{
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        if (bus->caches[i] == c) {
            bus->caches[i] = bus->caches[--bus->n];
            break;
        }
    }
    pthread_mutex_unlock(&bus->lock);
}

/* ------------------------------------------------------------ health */

void hc_bus_set_health(hc_bus *bus, bool up, const char *reason)
{
    if (!bus) return;
    pthread_mutex_lock(&bus->health_lock);
    bus->down = !up;
    snprintf(bus->reason, sizeof bus->reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&bus->health_lock);
}

int hc_bus_healthy(hc_bus *bus, hc_error *err)
{
    if (!bus) return HC_OK;
    pthread_mutex_lock(&bus->health_lock);
    int rc = bus->down ? hc_error_set(err, HC_EBUS, "%s", bus->reason[0] ? bus->reason : "bus down")
                       : HC_OK;
    pthread_mutex_unlock(&bus->health_lock);
    return rc;
}

/* ------------------------------------------------------------ messages */

#define COUNT(c, field, n) \
    atomic_fetch_add_explicit(&(c)->field, (n), memory_order_relaxed)

int hc__bus_publish(hc_cache *c, hc_bus_op op, const char *value)
{
    hc_bus *bus = c->bus;
    hc_bus_msg m = {op, c->node_id, c->name, value};
    hc_error err;
    hc_error_clear(&err);
    if (bus->t->publish(bus->impl, &m, &err) != HC_OK) {
        COUNT(c, bus_publish_failures, 1);
        return HC_EBUS;
    }
    COUNT(c, bus_published, 1);
    return HC_OK;
}

/*
** A message for the caches named m->cache (all of them when it is NULL,
** which a transport uses for what it cannot attribute), except the sender.
*/
void hc_bus_deliver(hc_bus *bus, const hc_bus_msg *m)
{
    if (!bus || !m) return;
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        hc_cache *c = bus->caches[i];
        if (m->cache && strcmp(m->cache, c->name) != 0) continue;
        if (m->node_id && strcmp(m->node_id, c->node_id) == 0) continue;
        COUNT(c, bus_received, 1);
        if (m->op != HC_BUS_FLUSH && !m->value) continue;    /* nothing to apply */
        /* Counted first: whoever sees the event sees the count. */
        COUNT(c, bus_applied, 1);
        (void)hc__apply(c, m->op, m->value, HC_ORIGIN_BUS);
    }
    pthread_mutex_unlock(&bus->lock);
}

void hc_bus_malformed(hc_bus *bus)
{
    if (!bus) return;
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        hc_cache *c = bus->caches[i];
        /* Flush first: whoever sees the count sees the cache flushed. */
        (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_BUS);
        COUNT(c, bus_malformed, 1);
    }
    pthread_mutex_unlock(&bus->lock);
}

void hc_bus_lost(hc_bus *bus, uint64_t n, bool reconnected)
{
    if (!bus) return;
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        hc_cache *c = bus->caches[i];
        /* Flush first: whoever sees the count sees the cache flushed. */
        (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_BUS);
        if (reconnected) COUNT(c, bus_receiver_closed, 1);
        else COUNT(c, bus_lagged, n ? n : 1);
    }
    pthread_mutex_unlock(&bus->lock);
}

/* ---------------------------------------------------- in-process bus */

/*
** A ring of copied messages and a thread that delivers them. A message is
** one allocation: the struct, then its strings.
*/
typedef struct memmsg {
    hc_bus_msg m;
    char       text[];
} memmsg;

typedef struct membus {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    memmsg        **ring;
    unsigned        cap, head, count;
    uint64_t        lost;            /* dropped since the thread last looked */
    bool            stop, started;
    pthread_t       thread;
    hc_bus         *bus;
} membus;

static char *put_str(char **p, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *at = memcpy(*p, s, n);
    *p += n;
    return at;
}

static int mem_publish(void *impl, const hc_bus_msg *m, hc_error *err)
{
    membus *mb = impl;
    size_t n = (m->node_id ? strlen(m->node_id) + 1 : 0)
             + (m->cache ? strlen(m->cache) + 1 : 0)
             + (m->value ? strlen(m->value) + 1 : 0);
    memmsg *msg = malloc(sizeof *msg + n);
    if (!msg) return hc_error_set(err, HC_ENOMEM, NULL);
    char *p = msg->text;
    msg->m.op = m->op;
    msg->m.node_id = put_str(&p, m->node_id);
    msg->m.cache = put_str(&p, m->cache);
    msg->m.value = put_str(&p, m->value);

    memmsg *dropped = NULL;
    pthread_mutex_lock(&mb->mu);
    if (mb->count == mb->cap) {
        /* Never wait for the receiver: the oldest message goes, and the
           caches will flush for it. */
        dropped = mb->ring[mb->head];
        mb->head = (mb->head + 1) % mb->cap;
        mb->count--;
        mb->lost++;
    }
    mb->ring[(mb->head + mb->count) % mb->cap] = msg;
    mb->count++;
    pthread_cond_signal(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
    free(dropped);
    return HC_OK;
}

static void *mem_thread(void *arg)
{
    membus *mb = arg;
    pthread_mutex_lock(&mb->mu);
    for (;;) {
        while (!mb->stop && mb->count == 0 && mb->lost == 0)
            pthread_cond_wait(&mb->cv, &mb->mu);
        if (mb->stop) break;
        uint64_t lost = mb->lost;
        mb->lost = 0;
        memmsg *msg = NULL;
        if (mb->count) {
            msg = mb->ring[mb->head];
            mb->head = (mb->head + 1) % mb->cap;
            mb->count--;
        }
        pthread_mutex_unlock(&mb->mu);
        if (lost) hc_bus_lost(mb->bus, lost, false);
        if (msg) hc_bus_deliver(mb->bus, &msg->m);
        free(msg);
        pthread_mutex_lock(&mb->mu);
    }
    pthread_mutex_unlock(&mb->mu);
    return NULL;
}

static int mem_start(void *impl, hc_bus *bus, hc_error *err)
{
    membus *mb = impl;
    mb->bus = bus;
    if (pthread_create(&mb->thread, NULL, mem_thread, mb) != 0)
        return hc_error_set(err, HC_ESYS, "pthread_create failed");
    mb->started = true;
    return HC_OK;
}

static void mem_close(void *impl)
{
    membus *mb = impl;
    if (mb->started) {
        pthread_mutex_lock(&mb->mu);
        mb->stop = true;
        pthread_cond_signal(&mb->cv);
        pthread_mutex_unlock(&mb->mu);
        pthread_join(mb->thread, NULL);
    }
    for (unsigned i = 0; i < mb->count; i++)
        free(mb->ring[(mb->head + i) % mb->cap]);
    pthread_cond_destroy(&mb->cv);
    pthread_mutex_destroy(&mb->mu);
    free(mb->ring);
    free(mb);
}

static const hc_bus_transport mem_transport = {mem_publish, mem_start, mem_close};

int hc_bus_memory_new(hc_bus **out, unsigned capacity)
{
    if (!out) return HC_EINVAL;
    *out = NULL;
    membus *mb = calloc(1, sizeof *mb);
    if (!mb) return HC_ENOMEM;
    mb->cap = capacity ? capacity : 1024;
    mb->ring = calloc(mb->cap, sizeof *mb->ring);
    if (!mb->ring) {
        free(mb);
        return HC_ENOMEM;
    }
    if (pthread_mutex_init(&mb->mu, NULL) != 0) {
        free(mb->ring);
        free(mb);
        return HC_ESYS;
    }
    if (pthread_cond_init(&mb->cv, NULL) != 0) {
        pthread_mutex_destroy(&mb->mu);
        free(mb->ring);
        free(mb);
        return HC_ESYS;
    }
    return hc_bus_new(out, &mem_transport, mb, NULL);
}
