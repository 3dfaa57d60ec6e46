/*
** db_int.h -- the seam between libhydracache's database layer (db.c, in the
** core) and the adapters, which are libraries of their own
** (runtime/sqlite/db_sqlite.c in libhydracache-sqlite, runtime/pg/db_pg.c
** in libhydracache-pg): the hc_db and the common head of every hc_stmt,
** and the table of operations each adapter fills in. db.c does the rest:
** the lock, the table of prepared statements, argument and state checks,
** NULL handling, range checks, transactions for exec, and error messages.
**
** The functions declared HC_API here are exported by libhydracache for the
** adapter libraries only (the Makefile's symbols-check lists them); they
** are not part of the public interface.
*/
#ifndef HC_DB_INT_H
#define HC_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hydracache/core.h"
#include "hydracache/gen.h"

/* Where a statement is between hc_db_begin and hc_db_end. */
typedef enum hc__stmt_state {
    HC__STMT_READY,     /* binding; not run yet */
    HC__STMT_ROW,       /* a row is current */
    HC__STMT_DONE,      /* ran; no (more) rows */
    HC__STMT_FAILED     /* ran and failed: step repeats fail_rc */
} hc__stmt_state;

/*
** The head of an adapter's statement, which embeds it first. A statement
** stays in its hc_db's table from a successful prepare until hc_db_free (or,
** on PostgreSQL, until a connection reset forgets it).
*/
struct hc_stmt {
    hc_db        *db;
    const hc_sql *sql;               /* its identity in the table */
    hc_error     *err;               /* the caller's, or own_err */
    hc_error      own_err;           /* for callers that passed NULL */
    hc__stmt_state state;
    int           fail_rc;           /* what step returns once FAILED */
    const char   *row_entity;        /* hc_stmt_name_fields', until hc_db_end */
    const char *const *row_fields;
    unsigned      nrow_fields;
};

/*
** A value to bind: type 0 is NULL. Text and blob point at the caller's
** bytes, which the adapter copies.
*/
typedef struct hc__value {
    int type;                        /* 0 or an hc_sql_type */
    union {
        int64_t  i;                  /* HC_SQL_I64 */
        uint64_t u;                  /* HC_SQL_U64 */
        double   f;                  /* HC_SQL_F64 */
        bool     b;                  /* HC_SQL_BOOL */
        struct { const void *p; size_t n; } s;   /* HC_SQL_TEXT, HC_SQL_BLOB */
    } v;
} hc__value;

/*
** A column value read by an adapter: i for HC_SQL_I64 and HC_SQL_I32 (which
** db.c narrows), u for HC_SQL_U64 and HC_SQL_U32 (likewise), f, b, and
** bytes for HC_SQL_TEXT (data NUL-terminated, never NULL) and HC_SQL_BLOB
** (data NULL when empty). Text and blob bytes come from malloc.
*/
typedef union hc__cell {
    int64_t  i;
    uint64_t u;
    double   f;
    bool     b;
    hc_bytes bytes;
} hc__cell;

/*
** An adapter. Every function runs with the hc_db's lock held. Failures are
** reported through hc__stmt_error or hc__col_error (or hc__sql_error where
** there is no statement yet) and return an HC_E* code.
*/
typedef struct hc__db_ops {
    /* Before a statement is looked up: check the connection, and repair it
       if may_repair (PostgreSQL: PQreset, then hc__db_forget). */
    int  (*begin)(hc_db *db, const hc_sql *sql, bool may_repair, hc_error *err);
    /* Prepare sql and allocate the statement with its head filled in. On
       failure nothing is left allocated or prepared. */
    int  (*prepare)(hc_db *db, const hc_sql *sql, hc_error *err, hc_stmt **out);
    /* Finalize or deallocate (if the connection allows) and free. */
    void (*release)(hc_stmt *st, bool deallocate);
    /* Back to READY with no parameters bound (hc_db_end). */
    void (*reset)(hc_stmt *st);
    int  (*bind)(hc_stmt *st, unsigned i, const hc__value *v);
    /* HC_OK with a row, HC_DONE when there is none left, or an error. */
    int  (*step)(hc_stmt *st);
    unsigned (*ncols)(hc_stmt *st);
    /* The current row's column col (< ncols). */
    bool (*is_null)(hc_stmt *st, unsigned col);
    int  (*read)(hc_stmt *st, unsigned col, int type, hc__cell *out);
    const char *(*col_name)(hc_stmt *st, unsigned col);   /* may be NULL */
    int64_t (*changes)(hc_stmt *st);
    /* True while the connection is inside a transaction (BEGIN without its
       COMMIT or ROLLBACK yet). */
    bool (*in_transaction)(hc_db *db);
    /* Optional: hc_db_free is letting the connection go (undo hooks). */
    void (*detach)(hc_db *db);
} hc__db_ops;

/*
** Statements live in an open-addressing table keyed by their hc_sql's
** address. The lock is recursive so that hc_db_lock can hold it across
** several statements; active marks a statement between hc_db_begin and
** hc_db_end, so that a nested hc_db_begin is HC_EBUSY, not a deadlock.
*/
struct hc_db {
    hc_db_kind        kind;
    const hc__db_ops *ops;
    void             *conn;          /* sqlite3 * or PGconn * */
    pthread_mutex_t   mu;            /* recursive */
    unsigned          holds;         /* hc_db_lock depth, under mu */
    hc_stmt          *active;        /* under mu */
    hc_stmt         **slots;         /* nslots (a power of 2, or 0) */
    size_t            nslots, count;
    struct hc__deferred *deferred;   /* under mu: invalidations held until
                                        the application's transaction ends */
    atomic_uint       ndeferred;     /* their number, read without mu */
};

/* Make an hc_db over conn for an adapter (hc_db_sqlite, hc_db_pg). Returns
   HC_OK, HC_EINVAL (out or conn NULL), HC_ENOMEM, HC_ESYS. */
HC_API int hc__db_new(hc_db **out, hc_db_kind kind, const hc__db_ops *ops, void *conn);

/* Free every statement without deallocating it on the server: the
   connection was reset and they died with its session. */
HC_API void hc__db_forget(hc_db *db);

/*
** exec.c's transactions (the seam that keeps it free of any database's
** header). hc__db_tx_open takes hc_db_lock and, unless the connection is in
** a transaction already (the application's), runs BEGIN: *opened tells
** which. A broken connection is repaired first when this hold is the only
** one, as hc_db_begin does outside a hold. On failure nothing is held.
** hc__db_tx_close, with the same opened, runs COMMIT (commit true) or
** ROLLBACK if it opened the transaction, then drops the hold; a failed
** COMMIT is rolled back. Both return HC_OK or the statement's error
** (HC_ECONN when the connection was lost, so the outcome of a COMMIT is
** unknown).
*/
int hc__db_tx_open(hc_db *db, bool *opened, hc_error *err);
int hc__db_tx_close(hc_db *db, bool opened, bool commit, hc_error *err);

/*
** An exec inside a transaction the application opened on db: hold tags
** (all: a flush) in c until that transaction ends (hold.c), then release
** them, invalidating them again and, if publish, publishing them on c's
** bus. Whether it has ended is looked at on this hc_db: by hc_db_begin,
** by hc_db_unlock, and by hc_db_free (which releases whatever is left),
** each time the connection is found outside a transaction; a rollback
** seen by the adapter ends it too (hc__db_settle). HC_OK, or HC_ENOMEM
** with the tags invalidated at once instead, as if the transaction had
** ended.
*/
int  hc__db_defer(hc_db *db, hc_cache *c, const char *const *tags, size_t n, bool all,
                  bool publish);
/* Release what db holds if its connection is outside a transaction (or
   always, when force); called with db's lock held or not at all. */
HC_API void hc__db_settle(hc_db *db, bool force);
/* Whether db has holds waiting for its transaction to end. */
bool hc__db_deferring(hc_db *db);
/* Whether db's connection is inside a transaction now (takes db's lock). */
bool hc__db_in_transaction(hc_db *db);

/* Set err (may be NULL) to code and "<sql name>: <message>"; returns code. */
HC_API int hc__sql_error(hc_error *err, const hc_sql *sql, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* The same, for st's statement, into the err given to hc_db_begin. */
HC_API int hc__stmt_error(hc_stmt *st, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* HC_EDB with "<sql name>: column N ('name'): <message>". */
HC_API int hc__col_error(hc_stmt *st, unsigned col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "i64", "text", ...: for messages. */
HC_API const char *hc__sql_type_name(int type);

#endif
