/*
** db.c -- the part of the database adapters that does not depend on the
** database: hc_db (its lock and its table of prepared statements), argument
** and state checks, NULL and range handling for column readers, and error
** messages. db_sqlite.c and db_pg.c do the rest through an hc__db_ops.
**
** Locking: every hc_stmt call runs between hc_db_begin and hc_db_end, which
** hold the hc_db's mutex, so the statements, the table and the connection
** are only touched by the thread that holds it. The mutex is recursive so
** that hc_db_lock can hold it across several statements (a transaction);
** db->active catches an hc_db_begin nested inside another statement on the
** same thread, which would otherwise reuse or corrupt the running one.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"
#include "hc_int.h"

/* ------------------------------------------------------------ messages */

int hc__sql_error(hc_error *err, const hc_sql *sql, int code, const char *fmt, ...)
{
    if (!err) return code;
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = sql && sql->name ? sql->name : "hc_db";
    /* "%.*s" bounds what the compiler sees: the result is truncated anyway. */
    return hc_error_set(err, code, "%s: %.*s", name, (int)sizeof msg, msg);
}

int hc__stmt_error(hc_stmt *st, int code, const char *fmt, ...)
{
    char msg[sizeof st->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hc__sql_error(st->err, st->sql, code, "%s", msg);
}

int hc__col_error(hc_stmt *st, unsigned col, const char *fmt, ...)
{
    char msg[sizeof st->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = st->db->ops->col_name(st, col);
    if (name)
        return hc__stmt_error(st, HC_EDB, "column %u ('%s'): %s", col, name, msg);
    return hc__stmt_error(st, HC_EDB, "column %u: %s", col, msg);
}

const char *hc__sql_type_name(int type)
{
    switch (type) {
    case HC_SQL_I32: return "i32";
    case HC_SQL_I64: return "i64";
    case HC_SQL_U32: return "u32";
    case HC_SQL_U64: return "u64";
    case HC_SQL_F64: return "f64";
    case HC_SQL_BOOL: return "bool";
    case HC_SQL_TEXT: return "text";
    case HC_SQL_BLOB: return "blob";
    default: return "unknown";
    }
}

/* ----------------------------------------------------- statement table */

/* The table is keyed by the hc_sql's address: a static constant of the
   generated file, so the address is the statement's identity. Linear
   probing, at most half full; statements are only ever all removed. */
static size_t slot_of(const hc_db *db, const hc_sql *sql)
{
    uint64_t h = (uint64_t)(uintptr_t)sql * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (db->nslots - 1);
}

static hc_stmt *table_find(const hc_db *db, const hc_sql *sql)
{
    if (db->nslots == 0) return NULL;
    for (size_t i = slot_of(db, sql);; i = (i + 1) & (db->nslots - 1)) {
        hc_stmt *st = db->slots[i];
        if (!st || st->sql == sql) return st;
    }
}

static void table_put(hc_db *db, hc_stmt *st)
{
    size_t i = slot_of(db, st->sql);
    while (db->slots[i]) i = (i + 1) & (db->nslots - 1);
    db->slots[i] = st;
    db->count++;
}

/* Make room for one more statement, so that inserting a freshly prepared
   one cannot fail. */
static int table_reserve(hc_db *db)
{
    if ((db->count + 1) * 2 <= db->nslots) return HC_OK;
    size_t n = db->nslots ? db->nslots * 2 : 16;
    if (n > SIZE_MAX / sizeof *db->slots) return HC_ENOMEM;
    hc_stmt **old = db->slots;
    size_t oldn = db->nslots;
    db->slots = calloc(n, sizeof *db->slots);
    if (!db->slots) {
        db->slots = old;
        return HC_ENOMEM;
    }
    db->nslots = n;
    db->count = 0;
    for (size_t i = 0; i < oldn; i++)
        if (old[i]) table_put(db, old[i]);
    free(old);
    return HC_OK;
}

static void release_all(hc_db *db, bool deallocate)
{
    for (size_t i = 0; i < db->nslots; i++) {
        if (db->slots[i]) db->ops->release(db->slots[i], deallocate);
        db->slots[i] = NULL;
    }
    db->count = 0;
}

void hc__db_forget(hc_db *db)
{
    release_all(db, false);
}

/* ------------------------------------------------------------- handles */

int hc__db_new(hc_db **out, hc_db_kind kind, const hc__db_ops *ops, void *conn)
{
    if (!out) return HC_EINVAL;
    *out = NULL;
    if (!conn) return HC_EINVAL;
    hc_db *db = calloc(1, sizeof *db);
    if (!db) return HC_ENOMEM;
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) {
        free(db);
        return HC_ENOMEM;
    }
    int e = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (e == 0) e = pthread_mutex_init(&db->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    if (e != 0) {
        free(db);
        return e == ENOMEM ? HC_ENOMEM : HC_ESYS;
    }
    db->kind = kind;
    db->ops = ops;
    db->conn = conn;
    *out = db;
    return HC_OK;
}

void hc_db_free(hc_db *db)
{
    if (!db) return;
    hc__db_settle(db, true);
    if (db->ops->detach) db->ops->detach(db);
    release_all(db, true);
    free(db->slots);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

hc_db_kind hc_db_get_kind(const hc_db *db)
{
    return db ? db->kind : (hc_db_kind)0;
}

int hc_db_lock(hc_db *db)
{
    if (!db) return HC_EINVAL;
    if (pthread_mutex_lock(&db->mu) != 0) return HC_ESYS;
    db->holds++;
    return HC_OK;
}

int hc_db_unlock(hc_db *db)
{
    if (!db) return HC_EINVAL;
    /* Only the owner can take a recursive mutex that is held; a thread that
       gets it here and finds no hold of its own did not lock db. */
    if (pthread_mutex_trylock(&db->mu) != 0) return HC_EINVAL;
    int rc = HC_OK;
    if (db->holds > 0) {
        db->holds--;
        pthread_mutex_unlock(&db->mu);
    } else {
        rc = HC_EINVAL;
    }
    pthread_mutex_unlock(&db->mu);
    /* The usual end of a transaction on a shared hc_db: COMMIT under
       hc_db_lock, then the unlock. */
    if (rc == HC_OK) hc__db_settle(db, false);
    return rc;
}

/* ------------------------------------------------- deferred invalidation */

/*
** Invalidations that wait for the end of the application's transaction
** (hc__db_defer): the tags are held in their cache meanwhile (hold.c).
** Why not SQLite's commit hook: it runs before the commit is durable, and
** a reader on another connection could still load and cache the old row
** in between; the end is therefore looked for where the connection is
** seen outside a transaction, and on a rollback (the adapter's hook).
*/
typedef struct hc__deferred {
    struct hc__deferred *next;
    struct hc__anchor *anchor;       /* the cache's: it may close first */
    bool      all, publish;
    size_t    n;
    char     *tags[];                /* n copies, after them their bytes */
} hc__deferred;

static void release_list(hc__deferred *d)
{
    while (d) {
        hc__deferred *next = d->next;
        hc__anchor_release(d->anchor, (const char *const *)d->tags, d->n, d->all, d->publish);
        free(d);
        d = next;
    }
}

int hc__db_defer(hc_db *db, hc_cache *c, const char *const *tags, size_t n, bool all,
                 bool publish)
{
    size_t size = sizeof(hc__deferred) + n * sizeof(char *);
    for (size_t i = 0; i < n; i++) size += strlen(tags[i] ? tags[i] : "") + 1;
    hc__deferred *d = malloc(size);
    int rc = d ? hc__cache_hold(c, tags, n, all) : HC_ENOMEM;
    if (rc != HC_OK) {
        /* Cannot wait (nothing is held): invalidate now, as an exec
           outside a transaction does. */
        free(d);
        for (size_t i = 0; !all && i < n; i++) (void)hc_invalidate_tag(c, tags[i] ? tags[i] : "", NULL);
        if (all) (void)hc_flush(c);
        return rc;
    }
    d->anchor = hc__anchor_get(c);
    d->all = all;
    d->publish = publish;
    d->n = n;
    char *p = (char *)(d->tags + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(tags[i] ? tags[i] : "") + 1;
        memcpy(p, tags[i] ? tags[i] : "", len);
        d->tags[i] = p;
        p += len;
    }
    pthread_mutex_lock(&db->mu);
    d->next = db->deferred;
    db->deferred = d;
    atomic_fetch_add_explicit(&db->ndeferred, 1, memory_order_relaxed);
    pthread_mutex_unlock(&db->mu);
    return HC_OK;
}

void hc__db_settle(hc_db *db, bool force)
{
    if (!db || atomic_load_explicit(&db->ndeferred, memory_order_relaxed) == 0) return;
    hc__deferred *d = NULL;
    pthread_mutex_lock(&db->mu);
    if (force || !db->ops->in_transaction(db)) {
        d = db->deferred;
        db->deferred = NULL;
        atomic_store_explicit(&db->ndeferred, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&db->mu);
    release_list(d);
}

bool hc__db_in_transaction(hc_db *db)
{
    pthread_mutex_lock(&db->mu);
    bool in = db->ops->in_transaction(db);
    pthread_mutex_unlock(&db->mu);
    return in;
}

bool hc__db_deferring(hc_db *db)
{
    return atomic_load_explicit(&db->ndeferred, memory_order_relaxed) != 0;
}

/* ---------------------------------------------------------- statements */

int hc_db_begin(hc_db *db, const hc_sql *sql, hc_stmt **out, hc_error *err)
{
    hc_error_clear(err);
    if (out) *out = NULL;
    if (!db || !sql || !out || !sql->name)
        return hc_error_set(err, HC_EINVAL, "hc_db_begin: invalid argument");
    hc__db_settle(db, false);       /* a transaction that ended since */
    const char *text = db->kind == HC_DB_SQLITE ? sql->sqlite : sql->postgres;
    if (!text)
        return hc__sql_error(err, sql, HC_EINVAL, "no SQL text for %s",
                             db->kind == HC_DB_SQLITE ? "SQLite" : "PostgreSQL");
    if (sql->nparams > 0 && !sql->param_types)
        return hc__sql_error(err, sql, HC_EINVAL, "no parameter types");

    if (pthread_mutex_lock(&db->mu) != 0)
        return hc__sql_error(err, sql, HC_ESYS, "cannot lock the hc_db");
    int rc;
    if (db->active) {
        rc = hc__sql_error(err, sql, HC_EBUSY,
                           "the hc_db is in use by this thread: '%s' has not ended",
                           db->active->sql->name);
        goto fail;
    }
    /* A broken connection is repaired only outside hc_db_lock: inside, the
       caller may be in a transaction, whose later statements must not run
       on a fresh session as if nothing happened. */
    rc = db->ops->begin(db, sql, db->holds == 0, err);
    if (rc != HC_OK) goto fail;
    hc_stmt *st = table_find(db, sql);
    if (!st) {
        if (table_reserve(db) != HC_OK) {
            rc = hc__sql_error(err, sql, HC_ENOMEM, "out of memory");
            goto fail;
        }
        rc = db->ops->prepare(db, sql, err, &st);
        if (rc != HC_OK) goto fail;
        table_put(db, st);
    }
    st->err = err ? err : &st->own_err;
    hc_error_clear(st->err);
    st->state = HC__STMT_READY;
    db->active = st;
    *out = st;
    return HC_OK;
fail:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int hc_db_end(hc_stmt *st)
{
    if (!st) return HC_OK;
    hc_db *db = st->db;
    if (db->active != st) return HC_EINVAL;
    db->ops->reset(st);
    st->state = HC__STMT_READY;
    st->row_entity = NULL;
    st->row_fields = NULL;
    st->nrow_fields = 0;
    st->err = &st->own_err;         /* the caller's may not outlive the call */
    db->active = NULL;
    return pthread_mutex_unlock(&db->mu) == 0 ? HC_OK : HC_ESYS;
}

/* -------------------------------------------------------- transactions */

static const hc_sql sql_begin = {"hc_exec_begin", "BEGIN", "BEGIN", 0, NULL};
static const hc_sql sql_commit = {"hc_exec_commit", "COMMIT", "COMMIT", 0, NULL};
static const hc_sql sql_rollback = {"hc_exec_rollback", "ROLLBACK", "ROLLBACK", 0, NULL};

/* Run one statement without parameters or rows, up to its end. */
static int run_simple(hc_db *db, const hc_sql *sql, hc_error *err)
{
    hc_stmt *st;
    int rc = hc_db_begin(db, sql, &st, err);
    while (rc == HC_OK) rc = hc_stmt_step(st);
    hc_db_end(st);
    return rc == HC_DONE ? HC_OK : rc;
}

int hc__db_tx_open(hc_db *db, bool *opened, hc_error *err)
{
    *opened = false;
    int rc = hc_db_lock(db);
    if (rc != HC_OK) return hc_error_set(err, rc, "hc_db_lock failed");
    /* Statements under a hold never repair a broken connection, so when
       ours is the only hold, repair it here, as hc_db_begin would outside
       one: a process that only writes must recover too. */
    if (db->holds == 1 && !db->active) {
        rc = db->ops->begin(db, &sql_begin, true, err);
        if (rc != HC_OK) {
            hc_db_unlock(db);
            return rc;
        }
    }
    if (db->ops->in_transaction(db)) return HC_OK;      /* the application's */
    rc = run_simple(db, &sql_begin, err);
    if (rc != HC_OK) {
        hc_db_unlock(db);
        return rc;
    }
    *opened = true;
    return HC_OK;
}

int hc__db_tx_close(hc_db *db, bool opened, bool commit, hc_error *err)
{
    int rc = HC_OK;
    if (opened && commit) {
        rc = run_simple(db, &sql_commit, err);
        /* A COMMIT that failed on a live connection may leave the
           transaction open (SQLite when it is busy): end it. */
        if (rc != HC_OK && db->ops->in_transaction(db))
            (void)run_simple(db, &sql_rollback, NULL);
    } else if (opened) {
        rc = run_simple(db, &sql_rollback, err);
    }
    hc_db_unlock(db);
    return rc;
}

/* ------------------------------------------------------------- binding */

static int bind(hc_stmt *st, unsigned i, const hc__value *v)
{
    if (!st) return HC_EINVAL;
    if (st->state != HC__STMT_READY)
        return hc__stmt_error(st, HC_EINVAL, "parameter %u bound after the statement ran", i);
    if (i == 0 || i > st->sql->nparams)
        return hc__stmt_error(st, HC_EINVAL, "parameter %u out of range: the statement has %u",
                              i, st->sql->nparams);
    return st->db->ops->bind(st, i, v);
}

int hc_stmt_bind_null(hc_stmt *st, unsigned i)
{
    hc__value v = {.type = 0};
    return bind(st, i, &v);
}

int hc_stmt_bind_i64(hc_stmt *st, unsigned i, int64_t x)
{
    hc__value v = {.type = HC_SQL_I64, .v.i = x};
    return bind(st, i, &v);
}

int hc_stmt_bind_u64(hc_stmt *st, unsigned i, uint64_t x)
{
    hc__value v = {.type = HC_SQL_U64, .v.u = x};
    return bind(st, i, &v);
}

int hc_stmt_bind_f64(hc_stmt *st, unsigned i, double x)
{
    hc__value v = {.type = HC_SQL_F64, .v.f = x};
    return bind(st, i, &v);
}

int hc_stmt_bind_bool(hc_stmt *st, unsigned i, bool x)
{
    hc__value v = {.type = HC_SQL_BOOL, .v.b = x};
    return bind(st, i, &v);
}

int hc_stmt_bind_text(hc_stmt *st, unsigned i, const char *s)
{
    if (!s) return hc_stmt_bind_null(st, i);
    hc__value v = {.type = HC_SQL_TEXT, .v.s = {s, strlen(s)}};
    return bind(st, i, &v);
}

int hc_stmt_bind_blob(hc_stmt *st, unsigned i, const void *p, size_t n)
{
    if (!p && n > 0) {
        if (!st) return HC_EINVAL;
        return hc__stmt_error(st, HC_EINVAL, "parameter %u: NULL blob of %zu bytes", i, n);
    }
    hc__value v = {.type = HC_SQL_BLOB, .v.s = {p, n}};
    return bind(st, i, &v);
}

/* ------------------------------------------------------------- running */

int hc_stmt_step(hc_stmt *st)
{
    if (!st) return HC_EINVAL;
    switch (st->state) {
    case HC__STMT_DONE: return HC_DONE;     /* never runs a statement twice */
    case HC__STMT_FAILED: return st->fail_rc;
    default: break;
    }
    int rc = st->db->ops->step(st);
    if (rc == HC_OK) {
        st->state = HC__STMT_ROW;
    } else if (rc == HC_DONE) {
        st->state = HC__STMT_DONE;
    } else {
        st->state = HC__STMT_FAILED;
        st->fail_rc = rc;
    }
    return rc;
}

unsigned hc_stmt_ncols(hc_stmt *st)
{
    return st ? st->db->ops->ncols(st) : 0;
}

void hc_stmt_name_fields(hc_stmt *st, const char *entity, const char *const *fields, unsigned n)
{
    if (!st) return;
    st->row_entity = entity;
    st->row_fields = fields;
    st->nrow_fields = fields ? n : 0;
}

int64_t hc_stmt_changes(hc_stmt *st)
{
    if (!st || st->state == HC__STMT_READY) return 0;
    return st->db->ops->changes(st);
}

/* -------------------------------------------------------------- columns */

/*
** Read column col of the current row as type. Returns HC_OK with the value
** in *out, HC_MISS for a NULL the caller accepts (is_null not NULL), or an
** error. *is_null is set only on success.
*/
static int col_get(hc_stmt *st, unsigned col, int type, hc__cell *out, bool *is_null)
{
    if (st->state != HC__STMT_ROW)
        return hc__stmt_error(st, HC_EINVAL, "column %u read with no current row", col);
    unsigned n = st->db->ops->ncols(st);
    if (col >= n)
        return hc__stmt_error(st, HC_EDB, "column %u out of range: the result has %u column%s",
                              col, n, n == 1 ? "" : "s");
    if (st->db->ops->is_null(st, col)) {
        if (!is_null && st->row_entity && col < st->nrow_fields)
            return hc__col_error(st, col, "NULL in '%s.%s', which is not declared nullable "
                                 "(declare it '%s: %s?' to accept NULL)", st->row_entity,
                                 st->row_fields[col], st->row_fields[col], hc__sql_type_name(type));
        if (!is_null) return hc__col_error(st, col, "NULL in a column not declared nullable");
        *is_null = true;
        return HC_MISS;
    }
    int rc = st->db->ops->read(st, col, type, out);
    if (rc == HC_OK && is_null) *is_null = false;
    return rc;
}

int hc_stmt_col_i64(hc_stmt *st, unsigned col, int64_t *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_I64, &c, is_null);
    if (rc == HC_MISS) c.i = 0;
    else if (rc != HC_OK) return rc;
    *v = c.i;
    return HC_OK;
}

int hc_stmt_col_i32(hc_stmt *st, unsigned col, int32_t *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_I32, &c, is_null);
    if (rc == HC_MISS) c.i = 0;
    else if (rc != HC_OK) return rc;
    if (c.i < INT32_MIN || c.i > INT32_MAX)
        return hc__col_error(st, col, "%" PRId64 " does not fit i32", c.i);
    *v = (int32_t)c.i;
    return HC_OK;
}

int hc_stmt_col_u64(hc_stmt *st, unsigned col, uint64_t *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_U64, &c, is_null);
    if (rc == HC_MISS) c.u = 0;
    else if (rc != HC_OK) return rc;
    *v = c.u;
    return HC_OK;
}

int hc_stmt_col_u32(hc_stmt *st, unsigned col, uint32_t *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_U32, &c, is_null);
    if (rc == HC_MISS) c.u = 0;
    else if (rc != HC_OK) return rc;
    if (c.u > UINT32_MAX) return hc__col_error(st, col, "%" PRIu64 " does not fit u32", c.u);
    *v = (uint32_t)c.u;
    return HC_OK;
}

int hc_stmt_col_f64(hc_stmt *st, unsigned col, double *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_F64, &c, is_null);
    if (rc == HC_MISS) c.f = 0;
    else if (rc != HC_OK) return rc;
    *v = c.f;
    return HC_OK;
}

int hc_stmt_col_bool(hc_stmt *st, unsigned col, bool *v, bool *is_null)
{
    if (!st || !v) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_BOOL, &c, is_null);
    if (rc == HC_MISS) c.b = false;
    else if (rc != HC_OK) return rc;
    *v = c.b;
    return HC_OK;
}

int hc_stmt_col_text(hc_stmt *st, unsigned col, char **s, bool *is_null)
{
    if (!st || !s) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_TEXT, &c, is_null);
    if (rc == HC_MISS) c.bytes.data = NULL;
    else if (rc != HC_OK) return rc;
    *s = (char *)c.bytes.data;
    return HC_OK;
}

int hc_stmt_col_blob(hc_stmt *st, unsigned col, hc_bytes *b, bool *is_null)
{
    if (!st || !b) return HC_EINVAL;
    hc__cell c;
    int rc = col_get(st, col, HC_SQL_BLOB, &c, is_null);
    if (rc == HC_MISS) c.bytes = (hc_bytes){NULL, 0};
    else if (rc != HC_OK) return rc;
    *b = c.bytes;
    return HC_OK;
}
