/*
** stats.c -- what the counters say, read back: the original's helpers
** over hc_stats, and the health of a cache.
**
** The counters themselves live with what they count (cache.c, bus.c,
** events.c); the per-declaration ones in decl.c.
*/
#include "hc_int.h"

bool hc_stats_has_single_flight_activity(const hc_stats *s)
{
    return s && s->single_flight_joins > 0;
}

bool hc_stats_has_stale_load_discards(const hc_stats *s)
{
    return s && s->stale_load_discards > 0;
}

bool hc_stats_has_subscriber_lag(const hc_stats *s)
{
    return s && s->event_subscriber_lagged > 0;
}

bool hc_stats_has_bus_activity(const hc_stats *s)
{
    return s && (s->bus_published || s->bus_received || s->bus_applied);
}

bool hc_stats_has_bus_issues(const hc_stats *s)
{
    return s && (s->bus_lagged || s->bus_publish_failures || s->bus_receiver_closed ||
                 s->bus_malformed);
}

int hc_cache_health(hc_cache *c, hc_error *err)
{
    if (!c) return hc_error_set(err, HC_EINVAL, NULL);
    hc_error_clear(err);
    return c->bus ? hc_bus_health(c->bus, err) : HC_OK;
}
