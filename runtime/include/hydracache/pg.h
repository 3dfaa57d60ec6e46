/*
** hydracache/pg.h -- the PostgreSQL adapter and invalidation bus,
** libhydracache-pg (pkg-config hydracache-pg): an hc_db over a libpq
** connection, and a bus between processes over LISTEN/NOTIFY.
*/
#ifndef HYDRACACHE_PG_H
#define HYDRACACHE_PG_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pg_conn;                     /* libpq-fe.h: typedef struct pg_conn PGconn */

/*
** Wrap an open PostgreSQL connection the application keeps owning.
** Returns HC_OK and sets *out; HC_ECONN when the connection is not open
** (PQconnectdb failed: err has libpq's message), HC_EINVAL, HC_ENOMEM,
** HC_ESYS, with err (may be NULL) filled. Free the hc_db (hc_db_free)
** before closing the connection.
**
** A connection found broken later makes the call that meets it fail with
** HC_ECONN ("connection lost: ..."); a statement the server refused is
** HC_EDB. The next call outside hc_db_lock resets the connection
** (PQreset, which blocks while it reconnects, and loses the session's
** settings) and prepares its statements again.
*/
HC_API int hc_db_pg(hc_db **out, struct pg_conn *conn, hc_error *err);

/*
** A bus between processes over PostgreSQL: a connection of its own (opened
** here with conninfo, with TCP keepalives) LISTENs on channel (a plain
** identifier: letters, digits, '_', at most 63 bytes) and a thread of its
** own waits on its socket. Messages are published with pg_notify on the
** same connection. The payload format is in docs/RUNTIME.md ("The
** invalidation bus"); one over PostgreSQL's 8000-byte limit is sent as a
** flush of that cache. A lost connection is retried with backoff (50 ms
** doubling to 5 s); once back, it LISTENs again and every cache of the bus
** flushes, since notifications sent meanwhile are lost. Publishing while
** the connection is down fails with HC_EBUS. A payload that does not parse
** flushes every cache of the bus (counted as bus_malformed). Returns HC_OK, HC_EINVAL (bad channel),
** HC_EBUS with the server's message when it cannot connect or LISTEN,
** HC_ENOMEM, HC_ESYS.
*/
HC_API int hc_bus_pg_new(hc_bus **out, const char *conninfo,
                         const char *channel, hc_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_PG_H */
