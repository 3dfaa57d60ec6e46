/*
** exec.c -- what a generated exec runs around its statement, so that the
** invalidations a write causes are seen elsewhere if and only if it commits.
**
** It calls only two seams, and includes no database's header: the hc_db's
** transactions (hc__db_tx_open/close, db.c) and the bus transport's
** optional publish_in_tx (bus_int.h). When the cache's bus can publish
** inside a transaction on this db (the PostgreSQL bus with a PostgreSQL
** hc_db), the statement and one message per invalidated tag run in one
** transaction: the database delivers the messages at commit and drops them
** on rollback, so other processes hear of exactly the writes that
** happened. Our own cache is invalidated after the commit (our bus drops
** the echo, which carries our node id). When the application has a
** transaction open already, the messages join it, anonymous: our own bus
** then applies them too, at the application's commit, because a local
** invalidation made now could be undone by a load that reads the old row
** before that commit.
**
** A commit whose outcome is unknown (the connection was lost while the
** transaction ran or committed: HC_ECONN) may have gone through, and then
** our own bus would not apply the echo: the local invalidations are
** applied anyway, since an invalidation is always safe, and the error is
** returned.
**
** Otherwise the write stands alone and its tags are invalidated through
** hc_invalidate_tag once it succeeded, published on whatever bus the
** cache has.
*/
#include "hc_int.h"
#include "bus_int.h"
#include "db_int.h"

enum { TX_NONE, TX_OURS, TX_THEIRS };

int hc_exec_begin(hc_cache *c, hc_db *db, int *tx, hc_error *err)
{
    if (!c || !db || !tx) return hc_error_set(err, HC_EINVAL, "hc_exec_begin: invalid argument");
    *tx = TX_NONE;
    if (!c->bus || hc__bus_publish_in_tx(c->bus, db, NULL, NULL) != HC_OK) return HC_OK;
    bool opened;
    int rc = hc__db_tx_open(db, &opened, err);
    if (rc != HC_OK) return rc;
    *tx = opened ? TX_OURS : TX_THEIRS;
    return HC_OK;
}

/* Publish every tag (or a flush) in the open transaction. */
static int publish_in_tx(hc_cache *c, hc_db *db, int tx, const char *const *tags,
                         size_t ntags, bool flush, hc_error *err)
{
    int rc = HC_OK;
    for (size_t i = 0; rc == HC_OK && i < (flush ? 1 : ntags); i++) {
        hc_bus_msg m = {flush ? HC_BUS_FLUSH : HC_BUS_TAG,
                        tx == TX_OURS ? c->node_id : "", c->name,
                        flush ? NULL : tags[i] ? tags[i] : ""};
        rc = hc__bus_publish_in_tx(c->bus, db, &m, err);
        if (rc == HC_OK) atomic_fetch_add_explicit(&c->bus_published, 1, memory_order_relaxed);
        else atomic_fetch_add_explicit(&c->bus_publish_failures, 1, memory_order_relaxed);
    }
    return rc;
}

/* Invalidate locally without publishing: the transaction carried it. */
static void apply_local(hc_cache *c, const char *const *tags, size_t ntags, bool flush)
{
    if (flush) {
        (void)hc__apply(c, HC_BUS_FLUSH, NULL, HC_ORIGIN_LOCAL);
        return;
    }
    for (size_t i = 0; i < ntags; i++)
        (void)hc__apply(c, HC_BUS_TAG, tags[i] ? tags[i] : "", HC_ORIGIN_LOCAL);
}

static int end(hc_cache *c, hc_db *db, int tx, int rc, const char *const *tags,
               size_t ntags, bool flush, hc_error *err)
{
    if (!c || !db || (!flush && ntags && !tags)) {
        /* What hc_exec_begin opened ends all the same: our transaction is
           rolled back (nothing is known of what to invalidate), and the
           hc_db's lock is let go. */
        if (db && (tx == TX_OURS || tx == TX_THEIRS)) (void)hc__db_tx_close(db, tx == TX_OURS, false, NULL);
        return hc_error_set(err, HC_EINVAL, "hc_exec_end: invalid argument");
    }
    if (tx == TX_NONE) {
        if (rc != HC_OK) return rc;             /* a failed write invalidates nothing */
        if (hc__db_in_transaction(db)) {
            /* The application's transaction: held until it ends, then
               invalidated and published (db.c, hold.c). */
            int d = hc__db_defer(db, c, tags, ntags, flush, true);
            if (d != HC_OK)
                return hc_error_set(err, d, "the write succeeded, but its invalidation could "
                                    "not wait for the transaction's end: it was made at once");
            return HC_OK;
        }
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

    if (rc == HC_OK) rc = publish_in_tx(c, db, tx, tags, ntags, flush, err);
    if (tx == TX_THEIRS) {
        (void)hc__db_tx_close(db, false, false, NULL);
        /* Our bus applies the messages at the application's commit; until
           the transaction ends the tags are held here too, and released
           (invalidated again) once it did, committed or not. */
        if (rc == HC_OK) {
            int d = hc__db_defer(db, c, tags, ntags, flush, false);
            if (d != HC_OK)
                rc = hc_error_set(err, d, "the write succeeded, but its invalidation could "
                                  "not wait for the transaction's end: it was made at once");
        }
        return rc;
    }
    /* After a failure the rollback must not overwrite its message. */
    int done = hc__db_tx_close(db, true, rc == HC_OK, rc == HC_OK ? err : NULL);
    if (rc == HC_OK) rc = done;
    /* Committed, or perhaps committed: now our cache. */
    if (rc == HC_OK || rc == HC_ECONN) apply_local(c, tags, ntags, flush);
    return rc;
}

int hc_exec_end(hc_cache *c, hc_db *db, int tx, int rc,
                const char *const *tags, size_t ntags, hc_error *err)
{
    return end(c, db, tx, rc, tags, ntags, false, err);
}

int hc_exec_end_flush(hc_cache *c, hc_db *db, int tx, int rc, hc_error *err)
{
    return end(c, db, tx, rc, NULL, 0, true, err);
}
