/*
** bus_memory.c -- the in-process invalidation transport: a ring of copied
** messages and a thread of its own that delivers them.
**
** It owns hc_bus_memory_new and calls only the transport side of the bus
** (hydracache/bus.h). A publisher never waits for the delivery thread: when
** the ring is full the oldest message is dropped, and the bus is told of
** the loss so that every cache on it flushes.
*/
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

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

static const hc_bus_transport mem_transport = {mem_publish, mem_start, mem_close, NULL};

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
