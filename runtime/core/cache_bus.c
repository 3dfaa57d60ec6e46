/*
** cache_bus.c -- a cache's membership of its invalidation bus.
**
** The cache attaches itself to its bus as a member (bus_int.h): the bus
** calls back here for each message meant for this cache and for each
** loss, and this file counts and applies them through hc__apply (cache.c).
** It also publishes what the cache invalidated locally. The bus never
** reaches into the cache: this file is the only place where the two meet.
*/
#include "hc_int.h"
#include "bus_int.h"

#define COUNT(c, field, n) \
    atomic_fetch_add_explicit(&(c)->field, (n), memory_order_relaxed)

static void deliver(void *ctx, const hc_bus_msg *m)
{
    hc_cache *c = ctx;
    COUNT(c, bus_received, 1);
    if (m->op != HC_BUS_FLUSH && !m->value) return;     /* nothing to apply */
    /* Counted first: whoever sees the event sees the count. */
    COUNT(c, bus_applied, 1);
    (void)hc__apply(c, m->op, m->value, HC_ORIGIN_BUS);
}

static void lost(void *ctx, hc__bus_loss why, uint64_t n)
{
    hc_cache *c = ctx;
    /* Flush first: whoever sees the count sees the cache flushed. */
    (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_BUS);
    switch (why) {
    case HC__BUS_LAGGED: COUNT(c, bus_lagged, n ? n : 1); break;
    case HC__BUS_RECONNECTED: COUNT(c, bus_receiver_closed, 1); break;
    case HC__BUS_MALFORMED: COUNT(c, bus_malformed, 1); break;
    }
}

int hc__cache_bus_attach(hc_cache *c)
{
    hc__bus_member m = {c->name, c->node_id, deliver, lost, c};
    return hc__bus_attach(c->bus, &m);
}

void hc__cache_bus_detach(hc_cache *c)
{
    hc__bus_detach(c->bus, c);
}

int hc__cache_publish(hc_cache *c, int rc, hc_bus_op op, const char *value)
{
    if (!c->bus) return rc;
    hc_bus_msg m = {op, c->node_id, c->name, value};
    hc_error err;
    hc_error_clear(&err);
    if (hc__bus_publish(c->bus, &m, &err) != HC_OK) {
        COUNT(c, bus_publish_failures, 1);
        return HC_EBUS;
    }
    COUNT(c, bus_published, 1);
    return rc;
}
