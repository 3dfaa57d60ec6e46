/*
** hydracache/bus.h -- for authors of invalidation transports: the messages
** a bus carries and the calls a transport makes. libhydracache has the
** in-process transport (hc_bus_memory_new), libhydracache-pg the
** PostgreSQL one (hc_bus_pg_new); an application that only uses a bus
** needs hydracache/core.h.
*/
#ifndef HYDRACACHE_BUS_H
#define HYDRACACHE_BUS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hc_bus_op {
    HC_BUS_KEY   = 1,       /* invalidate the key value */
    HC_BUS_TAG   = 2,       /* invalidate the tag value */
    HC_BUS_FLUSH = 3        /* flush; value is NULL */
} hc_bus_op;

typedef struct hc_bus_msg {
    hc_bus_op   op;
    const char *node_id;    /* the publishing cache's hc_config.node_id */
    const char *cache;      /* its name: only caches of that name apply it */
    const char *value;      /* the key or the tag */
} hc_bus_msg;

/*
** A transport: how messages travel. hc_bus_new calls start once, and from
** then on the transport calls hc_bus_deliver for each message it receives
** (its own ones included: the bus drops them), hc_bus_lost when messages
** were lost, hc_bus_malformed for one it cannot read, from one thread of
** its own. publish may be called from any thread at once and returns HC_OK
** or a negative code with err filled. close stops the delivery (no
** hc_bus_deliver runs once it returns) and frees the transport.
**
** One operation is optional (NULL when the transport has none):
** publish_in_tx publishes m inside the transaction open on db, so that it
** travels if and only if that transaction commits (the PostgreSQL bus:
** pg_notify on db's connection). With m NULL, it only says whether it can
** for this db: HC_OK, or HC_ENOTSUP (then generated exec code invalidates
** after the write instead).
*/
typedef struct hc_bus_transport {
    int  (*publish)(void *impl, const hc_bus_msg *m, hc_error *err);
    int  (*start)(void *impl, hc_bus *bus, hc_error *err);
    void (*close)(void *impl);
    int  (*publish_in_tx)(void *impl, hc_db *db, const hc_bus_msg *m, hc_error *err);
} hc_bus_transport;

/* Make a bus over a transport (t must outlive it). On failure impl is closed
   through t->close. Returns HC_OK, HC_ENOMEM, HC_ESYS, or start's error. */
HC_API int hc_bus_new(hc_bus **out, const hc_bus_transport *t, void *impl,
                      hc_error *err);
/* For transports: apply m to every other cache of its name on the bus. */
HC_API void hc_bus_deliver(hc_bus *bus, const hc_bus_msg *m);
/* For transports: n messages (0: an unknown number) were lost; every cache
   flushes. reconnected says they were lost to a broken connection. */
HC_API void hc_bus_lost(hc_bus *bus, uint64_t n, bool reconnected);
/* For transports: a message arrived that does not parse (not ours, forged
   or damaged). Every cache flushes, the safe reading of any message, and
   counts it as bus_malformed, apart from bus_received and bus_applied, so
   that an operator can tell garbage on the channel from real flushes. */
HC_API void hc_bus_malformed(hc_bus *bus);
/* For transports: whether the transport can carry messages now, and if not
   why (a lost connection, the reconnect's last error), for hc_bus_health.
   A bus starts up; reason may be NULL. Any thread. */
HC_API void hc_bus_set_health(hc_bus *bus, bool up, const char *reason);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_BUS_H */
