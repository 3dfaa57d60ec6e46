/*
** bus_int.h -- the bus as the rest of the core sees it.
**
** A bus knows nothing of caches: whoever wants its messages attaches a
** member (a name, a node id and two callbacks), and the bus calls back for
** each message meant for that member and for each loss. The cache is one
** such member (cache_bus.c); a test or another component could be another.
*/
#ifndef HC_BUS_INT_H
#define HC_BUS_INT_H

#include <stdint.h>

#include "hydracache/core.h"
#include "hydracache/bus.h"

/* Why a member must assume it missed messages. */
typedef enum hc__bus_loss {
    HC__BUS_LAGGED,         /* n messages dropped on the way (0: unknown) */
    HC__BUS_RECONNECTED,    /* the connection broke: unknown messages lost */
    HC__BUS_MALFORMED       /* a message arrived that does not parse */
} hc__bus_loss;

typedef struct hc__bus_member {
    const char *name;       /* receives messages for this name, and for all */
    const char *node_id;    /* messages from this node are its own: dropped */
    /* A message for this member, on the transport's thread. */
    void (*deliver)(void *ctx, const hc_bus_msg *m);
    void (*lost)(void *ctx, hc__bus_loss why, uint64_t n);
    void *ctx;              /* identifies the member for hc__bus_detach */
} hc__bus_member;

/*
** Attach a member (copied; its strings must outlive the membership).
** hc__bus_detach removes the member whose ctx it is and waits for a
** callback to it that is running, so ctx may be freed afterwards. No
** callback runs with a lock of the caller's held. HC_OK or HC_ENOMEM.
*/
int  hc__bus_attach(hc_bus *bus, const hc__bus_member *m);
void hc__bus_detach(hc_bus *bus, void *ctx);

/* Publish m through the transport: HC_OK or its error, with err filled. */
int  hc__bus_publish(hc_bus *bus, const hc_bus_msg *m, hc_error *err);
/* Publish m inside db's open transaction (m NULL: only ask whether the
   transport can): HC_OK, HC_ENOTSUP when it cannot, or its error. */
int  hc__bus_publish_in_tx(hc_bus *bus, hc_db *db, const hc_bus_msg *m, hc_error *err);

#endif
