/*
** db_sqlite.c -- the SQLite adapter: native binds and column types.
**
** Statements are prepared with SQLITE_PREPARE_PERSISTENT (they live as long
** as the hc_db) and re-prepared by SQLite itself when the schema changes.
** Column readers take SQLite's storage classes as they are, with no
** conversion SQLite would do silently: an integer reader wants an integer,
** f64 takes an integer or a real, text wants text, a blob takes a blob or
** text (bytes are bytes).
**
** It owns hc_db_sqlite and what is SQLite's in the hc__db_ops seam
** (db_int.h), and calls only the core's public API and that seam.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db_int.h"
#include "hydracache/sqlite.h"

typedef struct lite_stmt {
    hc_stmt        base;
    sqlite3_stmt  *stmt;
    sqlite3_int64  total_before;     /* total_changes64 when it started */
} lite_stmt;

static lite_stmt *lite(hc_stmt *st) { return (lite_stmt *)(void *)st; }
static sqlite3 *conn_of(hc_stmt *st) { return st->db->conn; }

static const char *storage_name(int t)
{
    switch (t) {
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a real";
    case SQLITE_TEXT: return "text";
    case SQLITE_BLOB: return "a blob";
    default: return "NULL";
    }
}

/* HC_ECONN for a failure of the database file itself (it cannot be
   opened or read, or is no database): the connection failed, not the
   statement. HC_EDB for the rest. */
static int failure_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CANTOPEN: case SQLITE_IOERR: case SQLITE_NOTADB: return HC_ECONN;
    default: return HC_EDB;
    }
}

static int lite_begin(hc_db *db, const hc_sql *sql, bool may_repair, hc_error *err)
{
    (void)db, (void)sql, (void)may_repair, (void)err;
    return HC_OK;
}

static int lite_prepare(hc_db *db, const hc_sql *sql, hc_error *err, hc_stmt **out)
{
    sqlite3 *c = db->conn;
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    int prc = sqlite3_prepare_v3(c, sql->sqlite, -1, SQLITE_PREPARE_PERSISTENT, &s, &tail);
    if (prc != SQLITE_OK) return hc__sql_error(err, sql, failure_code(prc), "%s", sqlite3_errmsg(c));
    if (!s) return hc__sql_error(err, sql, HC_EDB, "the SQL text holds no statement");
    if (tail && *tail) {
        /* Whatever follows must be blank or comments: SQLite would ignore
           a second statement, and it would never run. */
        sqlite3_stmt *more = NULL;
        int rc = sqlite3_prepare_v2(c, tail, -1, &more, NULL);
        if (rc != SQLITE_OK || more) {
            sqlite3_finalize(more);
            sqlite3_finalize(s);
            return hc__sql_error(err, sql, HC_EDB, "the SQL text holds more than one statement");
        }
    }
    lite_stmt *st = calloc(1, sizeof *st);
    if (!st) {
        sqlite3_finalize(s);
        return hc__sql_error(err, sql, HC_ENOMEM, "out of memory");
    }
    st->base.db = db;
    st->base.sql = sql;
    st->base.err = &st->base.own_err;
    st->stmt = s;
    *out = &st->base;
    return HC_OK;
}

static void lite_release(hc_stmt *st, bool deallocate)
{
    (void)deallocate;               /* finalizing is never optional */
    sqlite3_finalize(lite(st)->stmt);
    free(st);
}

static void lite_reset(hc_stmt *st)
{
    sqlite3_reset(lite(st)->stmt);
    sqlite3_clear_bindings(lite(st)->stmt);
}

static int lite_bind(hc_stmt *st, unsigned i, const hc__value *v)
{
    sqlite3_stmt *s = lite(st)->stmt;
    int k = (int)i, rc;
    switch (v->type) {
    case HC_SQL_I64: rc = sqlite3_bind_int64(s, k, v->v.i); break;
    case HC_SQL_U64:
        if (v->v.u > INT64_MAX)
            return hc__stmt_error(st, HC_EDB, "parameter %u: %" PRIu64
                                  " does not fit SQLite's integer", i, v->v.u);
        rc = sqlite3_bind_int64(s, k, (sqlite3_int64)v->v.u);
        break;
    case HC_SQL_F64: rc = sqlite3_bind_double(s, k, v->v.f); break;
    case HC_SQL_BOOL: rc = sqlite3_bind_int(s, k, v->v.b ? 1 : 0); break;
    case HC_SQL_TEXT:
        rc = sqlite3_bind_text64(s, k, v->v.s.p, v->v.s.n, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case HC_SQL_BLOB:
        /* A NULL pointer would bind NULL: an empty blob is a zeroblob. */
        rc = v->v.s.n == 0 ? sqlite3_bind_zeroblob(s, k, 0)
                           : sqlite3_bind_blob64(s, k, v->v.s.p, v->v.s.n, SQLITE_TRANSIENT);
        break;
    default: rc = sqlite3_bind_null(s, k); break;
    }
    if (rc != SQLITE_OK)
        return hc__stmt_error(st, HC_EDB, "parameter %u: %s", i, sqlite3_errmsg(conn_of(st)));
    return HC_OK;
}

static int lite_step(hc_stmt *st)
{
    lite_stmt *ls = lite(st);
    if (st->state == HC__STMT_READY) ls->total_before = sqlite3_total_changes64(conn_of(st));
    int rc = sqlite3_step(ls->stmt);
    if (rc == SQLITE_ROW) return HC_OK;
    if (rc == SQLITE_DONE) return HC_DONE;
    return hc__stmt_error(st, failure_code(rc), "%s", sqlite3_errmsg(conn_of(st)));
}

static unsigned lite_ncols(hc_stmt *st)
{
    return (unsigned)sqlite3_column_count(lite(st)->stmt);
}

static bool lite_is_null(hc_stmt *st, unsigned col)
{
    return sqlite3_column_type(lite(st)->stmt, (int)col) == SQLITE_NULL;
}

static const char *lite_col_name(hc_stmt *st, unsigned col)
{
    return sqlite3_column_name(lite(st)->stmt, (int)col);
}

/* Copy n bytes into memory from malloc; text gets a terminating 0. */
static int copy_out(hc_stmt *st, const void *p, size_t n, bool text, hc__cell *out)
{
    if (n == 0 && !text) {
        out->bytes = (hc_bytes){NULL, 0};
        return HC_OK;
    }
    uint8_t *d = malloc(n + 1);
    if (!d) return hc__stmt_error(st, HC_ENOMEM, "out of memory");
    if (n) memcpy(d, p, n);
    d[n] = 0;
    out->bytes = (hc_bytes){d, n};
    return HC_OK;
}

static int lite_read(hc_stmt *st, unsigned col, int type, hc__cell *out)
{
    sqlite3_stmt *s = lite(st)->stmt;
    int k = (int)col;
    int t = sqlite3_column_type(s, k);
    switch (type) {
    case HC_SQL_I32:
    case HC_SQL_I64:
    case HC_SQL_U32:
    case HC_SQL_U64:
    case HC_SQL_BOOL: {
        if (t != SQLITE_INTEGER)
            return hc__col_error(st, col, "holds %s, not an integer", storage_name(t));
        sqlite3_int64 i = sqlite3_column_int64(s, k);
        if (type == HC_SQL_I64 || type == HC_SQL_I32) {
            out->i = i;
        } else if (type == HC_SQL_U64 || type == HC_SQL_U32) {
            if (i < 0)
                return hc__col_error(st, col, "%lld does not fit %s", (long long)i,
                                     hc__sql_type_name(type));
            out->u = (uint64_t)i;
        } else {
            if (i != 0 && i != 1)
                return hc__col_error(st, col, "%lld is not a bool (0 or 1)", (long long)i);
            out->b = i == 1;
        }
        return HC_OK;
    }
    case HC_SQL_F64:
        if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
            return hc__col_error(st, col, "holds %s, not a number", storage_name(t));
        out->f = sqlite3_column_double(s, k);
        return HC_OK;
    case HC_SQL_TEXT: {
        if (t != SQLITE_TEXT) return hc__col_error(st, col, "holds %s, not text", storage_name(t));
        const unsigned char *p = sqlite3_column_text(s, k);
        size_t n = (size_t)sqlite3_column_bytes(s, k);
        if (!p && sqlite3_errcode(conn_of(st)) == SQLITE_NOMEM)
            return hc__stmt_error(st, HC_ENOMEM, "out of memory");
        if (n && memchr(p, 0, n))
            return hc__col_error(st, col, "text holds a NUL byte");
        return copy_out(st, p, n, true, out);
    }
    case HC_SQL_BLOB: {
        if (t != SQLITE_BLOB && t != SQLITE_TEXT)
            return hc__col_error(st, col, "holds %s, not a blob", storage_name(t));
        const void *p = sqlite3_column_blob(s, k);
        size_t n = (size_t)sqlite3_column_bytes(s, k);
        if (!p && n) return hc__stmt_error(st, HC_ENOMEM, "out of memory");
        return copy_out(st, p, n, false, out);
    }
    default:
        return hc__col_error(st, col, "cannot read %s", hc__sql_type_name(type));
    }
}

/*
** sqlite3_changes64 keeps the count of the last INSERT, UPDATE or DELETE
** that completed, whatever ran since: after a SELECT or CREATE TABLE it
** still tells the previous write's. A statement that changed nothing leaves
** total_changes64 where it was, so that tells the two apart.
*/
static int64_t lite_changes(hc_stmt *st)
{
    sqlite3 *c = conn_of(st);
    if (sqlite3_total_changes64(c) == lite(st)->total_before) return 0;
    return sqlite3_changes64(c);
}

static bool lite_in_transaction(hc_db *db)
{
    return !sqlite3_get_autocommit(db->conn);
}

/* A rollback ends the transaction that invalidations made in it wait for
   (db.c, "deferred invalidation"): release them now. A commit is seen
   later, once the connection is outside the transaction: SQLite's commit
   hook runs before the commit is durable. */
static void on_rollback(void *db)
{
    hc__db_settle(db, true);
}

static void lite_detach(hc_db *db)
{
    sqlite3_rollback_hook(db->conn, NULL, NULL);
}

static const hc__db_ops lite_ops = {
    .begin = lite_begin,
    .prepare = lite_prepare,
    .release = lite_release,
    .reset = lite_reset,
    .bind = lite_bind,
    .step = lite_step,
    .ncols = lite_ncols,
    .is_null = lite_is_null,
    .read = lite_read,
    .col_name = lite_col_name,
    .changes = lite_changes,
    .in_transaction = lite_in_transaction,
    .detach = lite_detach,
};

int hc_db_sqlite(hc_db **out, struct sqlite3 *conn, hc_error *err)
{
    hc_error_clear(err);
    int rc = hc__db_new(out, HC_DB_SQLITE, &lite_ops, conn);
    if (rc != HC_OK)
        return hc_error_set(err, rc, "hc_db_sqlite: %s", conn ? hc_strerror(rc) : "the connection is NULL");
    sqlite3_rollback_hook(conn, on_rollback, *out);
    return HC_OK;
}
