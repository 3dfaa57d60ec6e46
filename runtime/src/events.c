/*
** events.c -- event names and the seam where subscriptions plug in.
**
** The cache reports every event through hc__emit() already. Delivery to
** subscribers and listeners comes with the events issue; until then nothing
** subscribes, so publishing is a single predictable branch.
*/
#include "hc_int.h"

const char *hc_event_kind_name(hc_event_kind k)
{
    static const char *const names[HC_EVENT_KIND_COUNT] = {
        "hit", "miss", "single_flight_joined", "load_started",
        "load_completed", "load_failed", "stored", "removed",
        "key_invalidated", "tag_invalidated", "flushed",
        "stale_load_discarded", "expired", "evicted",
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

void hc__emit(hc_cache *c, hc_event_kind kind, hc_origin origin,
              const char *key, size_t klen)
{
    /* No subscribers exist yet: nothing to deliver. */
    HC_UNUSED(c); HC_UNUSED(kind); HC_UNUSED(origin); HC_UNUSED(key); HC_UNUSED(klen);
}
