/*
** db_pg.c -- the PostgreSQL adapter (libpq).
**
** Each statement is prepared once per session under a name of its own
** ("hc_1", "hc_2", ...: one counter for the process, so two hc_db on one
** connection cannot collide), with parameter types from its hc_sql.
** Parameters travel in text format, blobs in binary; results come back in
** text format and the column readers parse them strictly: the whole string
** must be the value.
**
** A session can lose its prepared statements in two ways, and both are
** repaired without the caller noticing more than one failed call:
**   - the connection breaks: the call that meets it fails; the next
**     hc_db_begin resets the connection and forgets every statement, which
**     are then prepared again as they are used;
**   - the application runs DEALLOCATE ALL or DISCARD ALL: the execution
**     fails with "prepared statement ... does not exist" (SQLSTATE 26000);
**     it is prepared again and run once more.
**
** A lost connection is HC_ECONN, a failed statement HC_EDB, so that a
** caller's retry logic can tell them apart. It owns hc_db_pg and what is
** PostgreSQL's in the hc__db_ops seam (db_int.h), and calls only the
** core's public API and that seam.
*/
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg_int.h"

/* Type OIDs from the server's catalog (pg_type.dat); they never change. */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT4 = 23, OID_TEXT = 25,
    OID_FLOAT8 = 701, OID_NUMERIC = 1700
};

/* Parameter buffers bigger than this are freed at hc_db_end instead of
   being kept for the next call. */
#define KEEP_PARAM_BYTES 4096

typedef struct pg_param {
    char  *buf;
    size_t cap;
} pg_param;

typedef struct pg_stmt {
    hc_stmt      base;
    char         name[32];           /* "hc_<n>" */
    Oid         *types;              /* nparams */
    const char **vals;               /* nparams: NULL = SQL NULL */
    int         *lens, *fmts;        /* nparams */
    pg_param    *params;             /* nparams: what vals point into */
    PGresult    *res;                /* once run, until hc_db_end */
    int          row, nrows;         /* current row, rows in res */
} pg_stmt;

static pg_stmt *pgs(hc_stmt *st) { return (pg_stmt *)(void *)st; }
static PGconn *conn_of(hc_db *db) { return db->conn; }

/* ---------------------------------------------------- C numeric locale */

/*
** printf and strtod follow the locale's decimal point, and a program may
** have called setlocale(); PostgreSQL always writes and wants '.'. So
** floating-point conversions run under a "C" locale of their own
** (uselocale is per thread). If it cannot be made, the process's locale
** is used, which is "C" unless the program changed it.
*/
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_locale_enter(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}

static void c_locale_leave(locale_t old)
{
    if (old) uselocale(old);
}

/* ------------------------------------------------------------ messages */

/* Copy a libpq message into out as one line: runs of white space become
   one space, none at either end. */
void hc__one_line(char *out, size_t size, const char *msg)
{
    size_t w = 0;
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && w + 1 < size; p++) {
        if (isspace((unsigned char)*p)) {
            space = w > 0;
            continue;
        }
        if (space && w + 2 < size) out[w++] = ' ';
        space = false;
        out[w++] = *p;
    }
    out[w] = '\0';
}

/*
** Describe a failed result. The server's primary message (and its detail,
** which says which key a constraint violation was about) reads like
** SQLite's; libpq's own errors (a lost connection) have only the full text.
*/
static int result_error(hc_error *err, const hc_sql *sql, PGconn *c, const PGresult *r)
{
    char msg[sizeof err->message];
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        hc__one_line(msg, sizeof msg, primary);
        const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        if (detail && *detail) {
            size_t w = strlen(msg);
            if (w + 3 < sizeof msg) {
                memcpy(msg + w, " (", 2);
                hc__one_line(msg + w + 2, sizeof msg - w - 3, detail);
                strcat(msg, ")");
            }
        }
    } else {
        const char *m = r ? PQresultErrorMessage(r) : "";
        if (!*m) m = PQerrorMessage(c);
        hc__one_line(msg, sizeof msg, m);
        if (!msg[0] && r) snprintf(msg, sizeof msg, "unexpected result %s", PQresStatus(PQresultStatus(r)));
        if (!msg[0]) snprintf(msg, sizeof msg, "no result");
    }
    bool lost = PQstatus(c) == CONNECTION_BAD;
    return hc__sql_error(err, sql, lost ? HC_ECONN : HC_EDB, "%s%s", lost ? "connection lost: " : "", msg);
}

/* ------------------------------------------------------------- prepare */

static int pg_begin(hc_db *db, const hc_sql *sql, bool may_repair, hc_error *err)
{
    PGconn *c = conn_of(db);
    if (PQstatus(c) != CONNECTION_BAD) return HC_OK;
    char msg[sizeof err->message];
    if (!may_repair) {
        hc__one_line(msg, sizeof msg, PQerrorMessage(c));
        return hc__sql_error(err, sql, HC_ECONN, "connection lost (not reset while the hc_db is locked)%s%s",
                             msg[0] ? ": " : "", msg);
    }
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK) {
        hc__one_line(msg, sizeof msg, PQerrorMessage(c));
        return hc__sql_error(err, sql, HC_ECONN, "connection lost: %s", msg[0] ? msg : "reset failed");
    }
    /* A new session: the statements died with the old one. */
    hc__db_forget(db);
    return HC_OK;
}

static Oid type_oid(int t)
{
    switch (t) {
    case HC_SQL_I32: return OID_INT4;
    case HC_SQL_I64: return OID_INT8;
    case HC_SQL_U32: return OID_INT8;      /* int4 cannot hold 2^31 and more */
    case HC_SQL_U64: return OID_NUMERIC;   /* nor int8 2^63 and more */
    case HC_SQL_F64: return OID_FLOAT8;
    case HC_SQL_BOOL: return OID_BOOL;
    case HC_SQL_TEXT: return OID_TEXT;
    case HC_SQL_BLOB: return OID_BYTEA;
    default: return 0;
    }
}

static int prepare_named(pg_stmt *st, hc_error *err)
{
    const hc_sql *sql = st->base.sql;
    PGconn *c = conn_of(st->base.db);
    PGresult *r = PQprepare(c, st->name, sql->postgres, (int)sql->nparams, st->types);
    int rc = HC_OK;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) rc = result_error(err, sql, c, r);
    PQclear(r);
    return rc;
}

static void free_stmt(pg_stmt *st)
{
    if (st->params)
        for (unsigned i = 0; i < st->base.sql->nparams; i++) free(st->params[i].buf);
    free(st->params);
    free(st->types);
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    PQclear(st->res);
    free(st);
}

static int pg_prepare(hc_db *db, const hc_sql *sql, hc_error *err, hc_stmt **out)
{
    static atomic_ulong next_name;
    unsigned n = sql->nparams;
    if (n > INT_MAX) return hc__sql_error(err, sql, HC_EINVAL, "too many parameters");
    for (unsigned i = 0; i < n; i++)
        if (!type_oid(sql->param_types[i]))
            return hc__sql_error(err, sql, HC_EINVAL, "parameter %u has no type (%d)",
                                 i + 1, sql->param_types[i]);
    pg_stmt *st = calloc(1, sizeof *st);
    if (!st) return hc__sql_error(err, sql, HC_ENOMEM, "out of memory");
    st->base.db = db;
    st->base.sql = sql;
    st->base.err = &st->base.own_err;
    if (n > 0) {
        st->types = calloc(n, sizeof *st->types);
        st->vals = calloc(n, sizeof *st->vals);
        st->lens = calloc(n, sizeof *st->lens);
        st->fmts = calloc(n, sizeof *st->fmts);
        st->params = calloc(n, sizeof *st->params);
        if (!st->types || !st->vals || !st->lens || !st->fmts || !st->params) {
            free_stmt(st);
            return hc__sql_error(err, sql, HC_ENOMEM, "out of memory");
        }
        for (unsigned i = 0; i < n; i++) st->types[i] = type_oid(sql->param_types[i]);
    }
    snprintf(st->name, sizeof st->name, "hc_%lu", atomic_fetch_add(&next_name, 1) + 1);
    int rc = prepare_named(st, err);
    if (rc != HC_OK) {
        free_stmt(st);
        return rc;
    }
    *out = &st->base;
    return HC_OK;
}

static void pg_release(hc_stmt *base, bool deallocate)
{
    pg_stmt *st = pgs(base);
    PGconn *c = conn_of(base->db);
    PGTransactionStatusType ts = PQtransactionStatus(c);
    /* Only where DEALLOCATE can run: a live connection, no command in
       progress, no failed transaction waiting for its ROLLBACK. The name
       is ours ("hc_" and digits): nothing of the caller's is spliced. */
    if (deallocate && PQstatus(c) == CONNECTION_OK && (ts == PQTRANS_IDLE || ts == PQTRANS_INTRANS)) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "DEALLOCATE %s", st->name);
        PQclear(PQexec(c, cmd));
    }
    free_stmt(st);
}

/* ------------------------------------------------------------- binding */

static void pg_reset(hc_stmt *base)
{
    pg_stmt *st = pgs(base);
    PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    for (unsigned i = 0; i < base->sql->nparams; i++) {
        st->vals[i] = NULL;
        st->lens[i] = st->fmts[i] = 0;
        if (st->params[i].cap > KEEP_PARAM_BYTES) {
            free(st->params[i].buf);
            st->params[i] = (pg_param){NULL, 0};
        }
    }
}

/* Parameter i (from 1) becomes a copy of n bytes of p, NUL-terminated, in
   format fmt (0 text, 1 binary). */
static int set_param(pg_stmt *st, unsigned i, const void *p, size_t n, int fmt)
{
    pg_param *pp = &st->params[i - 1];
    if (n > INT_MAX - 1)
        return hc__stmt_error(&st->base, HC_EDB, "parameter %u: %zu bytes is too long", i, n);
    if (pp->cap < n + 1) {
        size_t cap = n + 1 < 32 ? 32 : n + 1;
        char *b = realloc(pp->buf, cap);
        if (!b) return hc__stmt_error(&st->base, HC_ENOMEM, "out of memory");
        pp->buf = b;
        pp->cap = cap;
    }
    if (n) memcpy(pp->buf, p, n);
    pp->buf[n] = '\0';
    st->vals[i - 1] = pp->buf;
    st->lens[i - 1] = (int)n;
    st->fmts[i - 1] = fmt;
    return HC_OK;
}

static int pg_bind(hc_stmt *base, unsigned i, const hc__value *v)
{
    pg_stmt *st = pgs(base);
    char tmp[64];
    int n;
    switch (v->type) {
    case HC_SQL_I64:
        n = snprintf(tmp, sizeof tmp, "%" PRId64, v->v.i);
        return set_param(st, i, tmp, (size_t)n, 0);
    case HC_SQL_U64:
        n = snprintf(tmp, sizeof tmp, "%" PRIu64, v->v.u);
        return set_param(st, i, tmp, (size_t)n, 0);
    case HC_SQL_F64:
        if (isnan(v->v.f)) {
            n = snprintf(tmp, sizeof tmp, "NaN");
        } else if (isinf(v->v.f)) {
            n = snprintf(tmp, sizeof tmp, "%s", v->v.f > 0 ? "Infinity" : "-Infinity");
        } else {
            locale_t old = c_locale_enter();
            n = snprintf(tmp, sizeof tmp, "%.17g", v->v.f);
            c_locale_leave(old);
        }
        return set_param(st, i, tmp, (size_t)n, 0);
    case HC_SQL_BOOL:
        return set_param(st, i, v->v.b ? "t" : "f", 1, 0);
    case HC_SQL_TEXT:
        return set_param(st, i, v->v.s.p, v->v.s.n, 0);
    case HC_SQL_BLOB:
        return set_param(st, i, v->v.s.p, v->v.s.n, 1);
    default:
        st->vals[i - 1] = NULL;
        st->lens[i - 1] = st->fmts[i - 1] = 0;
        return HC_OK;
    }
}

/* ------------------------------------------------------------- running */

/* A COPY statement leaves the connection copying: end it, so that the
   connection stays usable. */
static void abandon_copy(PGconn *c, ExecStatusType s)
{
    if (s == PGRES_COPY_OUT) {
        char *buf;
        while (PQgetCopyData(c, &buf, 0) > 0) PQfreemem(buf);
    } else {
        PQputCopyEnd(c, "COPY is not supported by hc_db");
    }
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) PQclear(r);
}

static bool is_sqlstate(const PGresult *r, const char *code)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, code) == 0;
}

static int pg_exec(pg_stmt *st)
{
    const hc_sql *sql = st->base.sql;
    PGconn *c = conn_of(st->base.db);
    for (bool retried = false;; retried = true) {
        PGresult *r = PQexecPrepared(c, st->name, (int)sql->nparams, st->vals, st->lens,
                                     st->fmts, 0);
        ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            st->res = r;
            return HC_OK;
        }
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
            PQclear(r);
            abandon_copy(c, s);
            return hc__stmt_error(&st->base, HC_EDB, "COPY is not supported");
        }
        /* 26000, invalid_sql_statement_name: the session lost the statement
           (DEALLOCATE ALL, DISCARD ALL). Outside a transaction, prepare it
           again and run it once more; inside one, the failure has aborted
           the transaction and the caller must roll back first. */
        if (!retried && is_sqlstate(r, "26000") && PQstatus(c) == CONNECTION_OK &&
            PQtransactionStatus(c) == PQTRANS_IDLE) {
            PQclear(r);
            int rc = prepare_named(st, st->base.err);
            if (rc != HC_OK) return rc;
            continue;
        }
        int rc = result_error(st->base.err, sql, c, r);
        PQclear(r);
        return rc;
    }
}

static int pg_step(hc_stmt *base)
{
    pg_stmt *st = pgs(base);
    if (!st->res) {
        int rc = pg_exec(st);
        if (rc != HC_OK) return rc;
        st->row = -1;
        st->nrows = PQresultStatus(st->res) == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
    }
    if (st->row + 1 >= st->nrows) return HC_DONE;
    st->row++;
    return HC_OK;
}

static unsigned pg_ncols(hc_stmt *base)
{
    pg_stmt *st = pgs(base);
    return st->res ? (unsigned)PQnfields(st->res) : 0;
}

static bool pg_is_null(hc_stmt *base, unsigned col)
{
    pg_stmt *st = pgs(base);
    return PQgetisnull(st->res, st->row, (int)col) != 0;
}

static const char *pg_col_name(hc_stmt *base, unsigned col)
{
    pg_stmt *st = pgs(base);
    return st->res ? PQfname(st->res, (int)col) : NULL;
}

/* PQcmdTuples also counts the rows a SELECT returned or a FETCH moved:
   only writes count, as with SQLite. */
static int64_t pg_changes(hc_stmt *base)
{
    pg_stmt *st = pgs(base);
    if (!st->res) return 0;
    static const char *const writes[] = {"INSERT ", "UPDATE ", "DELETE ", "MERGE "};
    const char *tag = PQcmdStatus(st->res);
    for (size_t i = 0; i < sizeof writes / sizeof *writes; i++)
        if (strncmp(tag, writes[i], strlen(writes[i])) == 0) {
            const char *s = PQcmdTuples(st->res);
            return *s ? strtoll(s, NULL, 10) : 0;
        }
    return 0;
}

/* -------------------------------------------------------------- columns */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A bytea in text format: hex ("\x0102", bytea_output's default), or the
   old escape format, which libpq decodes. */
static int read_bytea(hc_stmt *base, unsigned col, const char *s, size_t len, hc__cell *out)
{
    uint8_t *d = NULL;
    size_t n;
    if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((len - 2) % 2) return hc__col_error(base, col, "malformed bytea");
        n = (len - 2) / 2;
        if (n && !(d = malloc(n))) return hc__stmt_error(base, HC_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                free(d);
                return hc__col_error(base, col, "malformed bytea");
            }
            d[i] = (uint8_t)(hi << 4 | lo);
        }
    } else {
        unsigned char *u = PQunescapeBytea((const unsigned char *)s, &n);
        if (!u) return hc__stmt_error(base, HC_ENOMEM, "out of memory");
        /* Callers free() what they get; libpq's memory goes to PQfreemem. */
        if (n && (d = malloc(n))) memcpy(d, u, n);
        PQfreemem(u);
        if (n && !d) return hc__stmt_error(base, HC_ENOMEM, "out of memory");
    }
    out->bytes = (hc_bytes){n ? d : NULL, n};
    return HC_OK;
}

static int pg_read(hc_stmt *base, unsigned col, int type, hc__cell *out)
{
    pg_stmt *st = pgs(base);
    const char *s = PQgetvalue(st->res, st->row, (int)col);
    size_t len = (size_t)PQgetlength(st->res, st->row, (int)col);
    char *end;
    switch (type) {
    case HC_SQL_I32:
    case HC_SQL_I64:
        /* strtoll would skip blanks and take a '+': the text must be the
           number exactly as PostgreSQL writes it. */
        if (s[0] == '-' ? isdigit((unsigned char)s[1]) : isdigit((unsigned char)s[0])) {
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (!*end && errno == 0) {
                out->i = v;
                return HC_OK;
            }
            if (!*end)
                return hc__col_error(base, col, "%.40s does not fit %s", s, hc__sql_type_name(type));
        }
        return hc__col_error(base, col, "'%.40s' is not an integer", s);
    case HC_SQL_U32:
    case HC_SQL_U64:
        if (s[0] == '-' && isdigit((unsigned char)s[1]))
            return hc__col_error(base, col, "%.40s does not fit %s", s, hc__sql_type_name(type));
        if (isdigit((unsigned char)s[0])) {
            errno = 0;
            unsigned long long v = strtoull(s, &end, 10);
            if (!*end && errno == 0) {
                out->u = v;
                return HC_OK;
            }
            if (!*end)
                return hc__col_error(base, col, "%.40s does not fit %s", s, hc__sql_type_name(type));
        }
        return hc__col_error(base, col, "'%.40s' is not an integer", s);
    case HC_SQL_F64: {
        if (!s[0] || isspace((unsigned char)s[0]))
            return hc__col_error(base, col, "'%.40s' is not a number", s);
        locale_t old = c_locale_enter();
        errno = 0;
        double v = strtod(s, &end);
        int e = errno;
        c_locale_leave(old);
        if (*end) return hc__col_error(base, col, "'%.40s' is not a number", s);
        /* ERANGE also flags tiny values rounded to subnormals or 0: fine. */
        if (e == ERANGE && isinf(v)) return hc__col_error(base, col, "%.40s does not fit f64", s);
        out->f = v;
        return HC_OK;
    }
    case HC_SQL_BOOL:
        if (strcmp(s, "t") == 0 || strcmp(s, "f") == 0) {
            out->b = s[0] == 't';
            return HC_OK;
        }
        return hc__col_error(base, col, "'%.40s' is not a bool", s);
    case HC_SQL_TEXT: {
        uint8_t *d = malloc(len + 1);
        if (!d) return hc__stmt_error(base, HC_ENOMEM, "out of memory");
        memcpy(d, s, len + 1);
        out->bytes = (hc_bytes){d, len};
        return HC_OK;
    }
    case HC_SQL_BLOB:
        if (PQftype(st->res, (int)col) == OID_BYTEA) return read_bytea(base, col, s, len, out);
        if (len == 0) {
            out->bytes = (hc_bytes){NULL, 0};
            return HC_OK;
        }
        {
            uint8_t *d = malloc(len);
            if (!d) return hc__stmt_error(base, HC_ENOMEM, "out of memory");
            memcpy(d, s, len);
            out->bytes = (hc_bytes){d, len};
        }
        return HC_OK;
    default:
        return hc__col_error(base, col, "cannot read %s", hc__sql_type_name(type));
    }
}

static bool pg_in_transaction(hc_db *db)
{
    PGTransactionStatusType ts = PQtransactionStatus(conn_of(db));
    return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

static const hc__db_ops pg_ops = {
    .begin = pg_begin,
    .prepare = pg_prepare,
    .release = pg_release,
    .reset = pg_reset,
    .bind = pg_bind,
    .step = pg_step,
    .ncols = pg_ncols,
    .is_null = pg_is_null,
    .read = pg_read,
    .col_name = pg_col_name,
    .changes = pg_changes,
    .in_transaction = pg_in_transaction,
};

/* A connection that never connected is refused here, with libpq's own
   words for why, instead of failing later as a lost one. */
int hc_db_pg(hc_db **out, struct pg_conn *conn, hc_error *err)
{
    hc_error_clear(err);
    if (out) *out = NULL;
    if (!out || !conn) return hc_error_set(err, HC_EINVAL, "hc_db_pg: %s",
                                           out ? "the connection is NULL" : "out is NULL");
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[sizeof err->message];
        hc__one_line(msg, sizeof msg, PQerrorMessage(conn));
        return hc_error_set(err, HC_ECONN, "hc_db_pg: the connection is not open%s%s",
                            msg[0] ? ": " : "", msg);
    }
    int rc = hc__db_new(out, HC_DB_POSTGRES, &pg_ops, conn);
    return rc == HC_OK ? rc : hc_error_set(err, rc, "hc_db_pg: %s", hc_strerror(rc));
}
