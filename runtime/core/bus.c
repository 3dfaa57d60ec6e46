/*
** bus.c -- the invalidation bus: a transport and the members it delivers
** to, with echo suppression and the routing of messages by name.
**
** It owns struct hc_bus and the calls transports make (hydracache/bus.h),
** and calls only the transport's operations and its members' callbacks:
** it knows nothing of caches (cache_bus.c attaches a cache as a member).
** The in-process transport is bus_memory.c; the PostgreSQL one lives in
** libhydracache-pg.
**
** The members are guarded by the bus's mutex, held while a callback runs,
** so hc__bus_detach waits for a delivery to its member to finish. Lock
** order: the bus, then whatever the callbacks take; nothing here calls a
** transport with the bus's mutex held.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"
#include "bus_int.h"

struct hc_bus {
    const hc_bus_transport *t;
    void            *impl;
    pthread_mutex_t  lock;           /* guards members and n */
    hc__bus_member  *members;
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
    free(bus->members);
    free(bus);
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

int hc_bus_health(hc_bus *bus, hc_error *err)
{
    hc_error_clear(err);
    if (!bus) return hc_error_set(err, HC_EINVAL, "hc_bus_health: the bus is NULL");
    pthread_mutex_lock(&bus->health_lock);
    int rc = bus->down ? hc_error_set(err, HC_EBUS, "%s", bus->reason[0] ? bus->reason : "bus down")
                       : HC_OK;
    pthread_mutex_unlock(&bus->health_lock);
    return rc;
}

int hc__bus_attach(hc_bus *bus, const hc__bus_member *m)
{
    int rc = HC_OK;
    pthread_mutex_lock(&bus->lock);
    if (bus->n == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 4;
        hc__bus_member *v = realloc(bus->members, cap * sizeof *v);
        if (v) {
            bus->members = v;
            bus->cap = cap;
        } else {
            rc = HC_ENOMEM;
        }
    }
    if (rc == HC_OK) bus->members[bus->n++] = *m;
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

void hc__bus_detach(hc_bus *bus, void *ctx)
{
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        if (bus->members[i].ctx == ctx) {
            bus->members[i] = bus->members[--bus->n];
            break;
        }
    }
    pthread_mutex_unlock(&bus->lock);
}

int hc__bus_publish(hc_bus *bus, const hc_bus_msg *m, hc_error *err)
{
    return bus->t->publish(bus->impl, m, err);
}

int hc__bus_publish_in_tx(hc_bus *bus, hc_db *db, const hc_bus_msg *m, hc_error *err)
{
    if (!bus->t->publish_in_tx) return HC_ENOTSUP;
    return bus->t->publish_in_tx(bus->impl, db, m, err);
}

/*
** A message for the members named m->cache (all of them when it is NULL,
** which a transport uses for what it cannot attribute), except the sender.
*/
void hc_bus_deliver(hc_bus *bus, const hc_bus_msg *m)
{
    if (!bus || !m) return;
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) {
        const hc__bus_member *to = &bus->members[i];
        if (m->cache && strcmp(m->cache, to->name) != 0) continue;
        if (m->node_id && strcmp(m->node_id, to->node_id) == 0) continue;
        to->deliver(to->ctx, m);
    }
    pthread_mutex_unlock(&bus->lock);
}

static void lost(hc_bus *bus, hc__bus_loss why, uint64_t n)
{
    if (!bus) return;
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n; i++) bus->members[i].lost(bus->members[i].ctx, why, n);
    pthread_mutex_unlock(&bus->lock);
}

void hc_bus_lost(hc_bus *bus, uint64_t n, bool reconnected)
{
    lost(bus, reconnected ? HC__BUS_RECONNECTED : HC__BUS_LAGGED, n);
}

void hc_bus_malformed(hc_bus *bus)
{
    lost(bus, HC__BUS_MALFORMED, 1);
}
