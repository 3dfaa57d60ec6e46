/*
** exec.c -- what a generated exec runs around its statement, so that the
** invalidations a write causes are seen elsewhere if and only if it commits.
**
** With a PostgreSQL database and a PostgreSQL bus, the statement and one
** pg_notify per invalidated tag run in one transaction on the database's
** connection: PostgreSQL delivers notifications at commit, and drops them
** on rollback, so other processes hear of exactly the writes that
** happened. Our own caches are invalidated after the commit (the bus
** thread of this process ignores the notifications, which carry our node
** id). When the application has a transaction open already, the
** notifications join it, anonymous: our own bus thread then applies them
** too, at the application's commit, because a local invalidation made now
** could be undone by a load that reads the old row before that commit.
**
** Otherwise the write stands alone and its tags are invalidated through
** hc_invalidate_tag once it succeeded, published on whatever bus the
** cache has.
*/
#include "hc_int.h"
#include "db_int.h"

#include <libpq-fe.h>

enum { TX_NONE, TX_OURS, TX_THEIRS };

static const hc_sql sql_begin = {"hc_exec_begin", NULL, "BEGIN", 0, NULL};
static const hc_sql sql_commit = {"hc_exec_commit", NULL, "COMMIT", 0, NULL};
static const hc_sql sql_rollback = {"hc_exec_rollback", NULL, "ROLLBACK", 0, NULL};
static const unsigned char notify_types[] = {HC_SQL_TEXT, HC_SQL_TEXT};
static const hc_sql sql_notify = {"hc_exec_notify", NULL, "SELECT pg_notify($1, $2)",
                                  2, notify_types};

/* Run one statement of ours on db, up to its end. */
static int run(hc_db *db, const hc_sql *sql, const char *a, const char *b,
               hc_error *err)
{
    hc_stmt *st;
    int rc = hc_db_begin(db, sql, &st, err);
    if (rc != HC_OK) return rc;
    if (sql->nparams == 2) {
        rc = hc_stmt_bind_text(st, 1, a);
        if (rc == HC_OK) rc = hc_stmt_bind_text(st, 2, b);
    }
    while (rc == HC_OK) rc = hc_stmt_step(st);
    hc_db_end(st);
    return rc == HC_MISS ? HC_OK : rc;
}

int hc_exec_begin(hc_cache *c, hc_db *db, int *tx, hc_error *err)
{
    if (!c || !db || !tx) return hc_error_set(err, HC_EINVAL, NULL);
    *tx = TX_NONE;
    if (db->kind != HC_DB_POSTGRES || !hc__bus_is_pg(c->bus, NULL)) return HC_OK;
    int rc = hc_db_lock(db);
    if (rc != HC_OK) return hc_error_set(err, rc, "hc_db_lock failed");
    /* Statements under a hold never reset a broken connection (db.c), so
       when ours is the only hold, repair it here, as hc_db_begin would
       outside one: a process that only writes must recover too. */
    if (db->holds == 1 && !db->active) {
        rc = db->ops->begin(db, &sql_begin, true, err);
        if (rc != HC_OK) {
            hc_db_unlock(db);
            return rc;
        }
    }
    if (PQtransactionStatus(db->conn) == PQTRANS_INTRANS) {
        *tx = TX_THEIRS;
        return HC_OK;
    }
    rc = run(db, &sql_begin, NULL, NULL, err);
    if (rc != HC_OK) {
        hc_db_unlock(db);
        return rc;
    }
    *tx = TX_OURS;
    return HC_OK;
}

/* Notify every tag (or a flush) in the transaction. */
static int notify(hc_cache *c, hc_db *db, int tx, const char *const *tags,
                  size_t ntags, hc_error *err)
{
    const char *channel;
    (void)hc__bus_is_pg(c->bus, &channel);
    hc_buf payload = HC_BUF_INIT;
    int rc = HC_OK;
    bool flush = ntags == HC_EXEC_FLUSH;
    for (size_t i = 0; rc == HC_OK && i < (flush ? 1 : ntags); i++) {
        hc_bus_msg m = {flush ? HC_BUS_FLUSH : HC_BUS_TAG,
                        tx == TX_OURS ? c->node_id : "", c->name,
                        flush ? NULL : tags[i] ? tags[i] : ""};
        rc = hc__bus_pg_payload(&m, &payload);
        if (rc != HC_OK) {
            rc = hc_error_set(err, rc, "cannot make the invalidation's payload");
            break;
        }
        rc = run(db, &sql_notify, channel, (const char *)payload.data, err);
        if (rc == HC_OK) atomic_fetch_add_explicit(&c->bus_published, 1, memory_order_relaxed);
        else atomic_fetch_add_explicit(&c->bus_publish_failures, 1, memory_order_relaxed);
    }
    hc_buf_free(&payload);
    return rc;
}

int hc_exec_end(hc_cache *c, hc_db *db, int tx, int rc,
                const char *const *tags, size_t ntags, hc_error *err)
{
    if (!c || !db) return hc_error_set(err, HC_EINVAL, NULL);
    bool flush = ntags == HC_EXEC_FLUSH;
    if (tx == TX_NONE) {
        if (rc != HC_OK) return rc;             /* a failed write invalidates nothing */
        int b = HC_OK;
        if (flush) {
            b = hc_flush(c);
        } else {
            for (size_t i = 0; i < ntags; i++) {
                int r = hc_invalidate_tag(c, tags[i] ? tags[i] : "", NULL);
                if (r != HC_OK && b == HC_OK) b = r;
            }
        }
        if (b == HC_EBUS)
            return hc_error_set(err, HC_EBUS, "the write succeeded, but its invalidation "
                                "could not be published on the bus");
        return b;
    }

    if (rc == HC_OK) rc = notify(c, db, tx, tags, ntags, err);
    if (tx == TX_OURS) {
        if (rc == HC_OK) {
            rc = run(db, &sql_commit, NULL, NULL, err);
        } else {
            hc_error keep = err ? *err : (hc_error){0};
            (void)run(db, &sql_rollback, NULL, NULL, NULL);
            if (err) *err = keep;
        }
    }
    hc_db_unlock(db);
    if (rc != HC_OK) return rc;
    /* Committed (or left to the application's commit): now our caches. */
    if (flush) {
        (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_LOCAL);
    } else {
        for (size_t i = 0; i < ntags; i++)
            (void)hc__apply(c, HC_BUS_TAG, tags[i] ? tags[i] : "", HC_ORIGIN_LOCAL);
    }
    return HC_OK;
}
