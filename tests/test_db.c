/*
** test_db.c -- the database adapters (hc_db, hc_stmt) against a real SQLite
** file and a real PostgreSQL server: every bind and column type, NULLs,
** range errors, prepare-once, changes, run-time SQL errors, constraint
** violations, locked databases, a dropped connection, DEALLOCATE ALL, and
** one hc_db shared by threads. Runs under ThreadSanitizer in `make check`.
**
** PostgreSQL comes from HC_PG_CONNINFO (scripts/pg.sh run starts a
** throwaway server); without it the PostgreSQL group skips when
** HC_SKIP_PG=1 and fails otherwise. Its tables live in a schema named after
** the process, set as the connection's search_path in the conninfo so that
** a reset connection still finds them.
*/
#include <dirent.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------ statements */

/* A statement with parameters of the types listed, or (SQL0) none. */
#define SQL(var, name, lite, pg, ...)                                          \
    static const unsigned char var##_types[] = {__VA_ARGS__};                 \
    static const hc_sql var = {name, lite, pg, sizeof var##_types, var##_types}
#define SQL0(var, name, lite, pg) static const hc_sql var = {name, lite, pg, 0, NULL}

/* Columns of t, in both dialects: id, then one column per type. */
static const char lite_t[] =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a_i32 INTEGER, a_i64 INTEGER, a_u32 INTEGER,"
    " a_u64 INTEGER, a_f64 REAL, a_bool INTEGER, a_text TEXT, a_blob BLOB)";
static const char pg_t[] =
    "CREATE TABLE t (id int8 PRIMARY KEY, a_i32 int4, a_i64 int8, a_u32 int8,"
    " a_u64 numeric(20), a_f64 float8, a_bool bool, a_text text, a_blob bytea)";

SQL(ins_sql, "t_insert",
    "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    HC_SQL_I64, HC_SQL_I32, HC_SQL_I64, HC_SQL_U32, HC_SQL_U64, HC_SQL_F64, HC_SQL_BOOL,
    HC_SQL_TEXT, HC_SQL_BLOB);
SQL(sel_sql, "t_select",
    "SELECT a_i32, a_i64, a_u32, a_u64, a_f64, a_bool, a_text, a_blob FROM t WHERE id = ?1",
    "SELECT a_i32, a_i64, a_u32, a_u64, a_f64, a_bool, a_text, a_blob FROM t WHERE id = $1",
    HC_SQL_I64);
SQL0(count_sql, "t_count", "SELECT count(*) FROM t", "SELECT count(*) FROM t");
SQL(touch_sql, "t_touch",
    "UPDATE t SET a_i64 = a_i64 WHERE id < ?1", "UPDATE t SET a_i64 = a_i64 WHERE id < $1",
    HC_SQL_I64);
SQL(missing_sql, "missing_select",
    "SELECT x FROM missing WHERE x = ?1", "SELECT x FROM missing WHERE x = $1", HC_SQL_I64);
SQL(kv_put_sql, "kv_put",
    "INSERT INTO kv VALUES (?1, ?2)", "INSERT INTO kv VALUES ($1, $2)", HC_SQL_I64, HC_SQL_I64);
SQL(kv_get_sql, "kv_get",
    "SELECT v FROM kv WHERE k = ?1", "SELECT v FROM kv WHERE k = $1", HC_SQL_I64);
SQL0(begin_sql, "tx_begin", "BEGIN IMMEDIATE", "BEGIN");
SQL0(commit_sql, "tx_commit", "COMMIT", "COMMIT");
SQL0(rollback_sql, "tx_rollback", "ROLLBACK", "ROLLBACK");
SQL(bump_sql, "counter_bump",
    "UPDATE counter SET v = ?1", "UPDATE counter SET v = $1", HC_SQL_I64);
SQL0(counter_sql, "counter_get", "SELECT v FROM counter", "SELECT v FROM counter");

/* -------------------------------------------------------------- helpers */

/* Run a statement to its end, dropping rows; *changes if not NULL. */
static int run(hc_db *db, const hc_sql *sql, const int64_t *args, int64_t *changes, hc_error *err)
{
    hc_stmt *st;
    int rc = hc_db_begin(db, sql, &st, err);
    if (rc != HC_OK) return rc;
    for (unsigned i = 0; i < sql->nparams && rc == HC_OK; i++)
        rc = hc_stmt_bind_i64(st, i + 1, args[i]);
    while (rc == HC_OK) rc = hc_stmt_step(st);
    if (rc == HC_DONE) rc = HC_OK;
    if (rc == HC_OK && changes) *changes = hc_stmt_changes(st);
    hc_db_end(st);
    return rc;
}

/* The first column of the first row as an i64 (HC_DONE: no row). */
static int query_i64(hc_db *db, const hc_sql *sql, const int64_t *args, int64_t *v, hc_error *err)
{
    hc_stmt *st;
    int rc = hc_db_begin(db, sql, &st, err);
    if (rc != HC_OK) return rc;
    for (unsigned i = 0; i < sql->nparams && rc == HC_OK; i++)
        rc = hc_stmt_bind_i64(st, i + 1, args[i]);
    if (rc == HC_OK) rc = hc_stmt_step(st);
    if (rc == HC_OK) rc = hc_stmt_col_i64(st, 0, v, NULL);
    hc_db_end(st);
    return rc;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define assert_has(s, sub) do {                                                 \
        if (!strstr((s), (sub))) fail_msg("'%s' does not contain '%s'", (s), (sub)); \
    } while (0)

/* A value of every type; text and blob borrowed. */
typedef struct row {
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    double f64;
    bool b;
    const char *text;
    const void *blob;
    size_t bloblen;
} row;

/* What a read returns; text and blob owned. */
typedef struct got {
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    double f64;
    bool b;
    char *text;
    hc_bytes blob;
    bool null[8];
} got;

static void got_clear(got *g)
{
    free(g->text);
    free(g->blob.data);
    memset(g, 0, sizeof *g);
}

/* Insert row id: r's values, or NULL in every column when r is NULL. */
static int insert_row(hc_db *db, int64_t id, const row *r, hc_error *err)
{
    hc_stmt *st;
    int rc = hc_db_begin(db, &ins_sql, &st, err);
    if (rc != HC_OK) return rc;
    rc = hc_stmt_bind_i64(st, 1, id);
    if (!r) {
        for (unsigned i = 2; i <= 8 && rc == HC_OK; i++) rc = hc_stmt_bind_null(st, i);
        if (rc == HC_OK) rc = hc_stmt_bind_text(st, 9, NULL);    /* NULL text binds NULL */
    } else {
        if (rc == HC_OK) rc = hc_stmt_bind_i64(st, 2, r->i32);
        if (rc == HC_OK) rc = hc_stmt_bind_i64(st, 3, r->i64);
        if (rc == HC_OK) rc = hc_stmt_bind_u64(st, 4, r->u32);
        if (rc == HC_OK) rc = hc_stmt_bind_u64(st, 5, r->u64);
        if (rc == HC_OK) rc = hc_stmt_bind_f64(st, 6, r->f64);
        if (rc == HC_OK) rc = hc_stmt_bind_bool(st, 7, r->b);
        if (rc == HC_OK) rc = hc_stmt_bind_text(st, 8, r->text);
        if (rc == HC_OK) rc = hc_stmt_bind_blob(st, 9, r->blob, r->bloblen);
    }
    if (rc == HC_OK) rc = hc_stmt_step(st);
    if (rc == HC_OK) fail_msg("an INSERT returned a row");
    if (rc == HC_DONE) rc = HC_OK;
    if (rc == HC_OK) assert_int_equal(hc_stmt_changes(st), 1);
    hc_db_end(st);
    return rc;
}

/* Read row id into g; nullable: pass is_null flags, else NULL. */
static int read_row(hc_db *db, int64_t id, got *g, bool nullable, hc_error *err)
{
    memset(g, 0, sizeof *g);
    hc_stmt *st;
    int rc = hc_db_begin(db, &sel_sql, &st, err);
    if (rc != HC_OK) return rc;
    rc = hc_stmt_bind_i64(st, 1, id);
    if (rc == HC_OK) rc = hc_stmt_step(st);
    if (rc == HC_OK) assert_int_equal(hc_stmt_ncols(st), 8);
#define N(i) (nullable ? &g->null[i] : NULL)
    if (rc == HC_OK) rc = hc_stmt_col_i32(st, 0, &g->i32, N(0));
    if (rc == HC_OK) rc = hc_stmt_col_i64(st, 1, &g->i64, N(1));
    if (rc == HC_OK) rc = hc_stmt_col_u32(st, 2, &g->u32, N(2));
    if (rc == HC_OK) rc = hc_stmt_col_u64(st, 3, &g->u64, N(3));
    if (rc == HC_OK) rc = hc_stmt_col_f64(st, 4, &g->f64, N(4));
    if (rc == HC_OK) rc = hc_stmt_col_bool(st, 5, &g->b, N(5));
    if (rc == HC_OK) rc = hc_stmt_col_text(st, 6, &g->text, N(6));
    if (rc == HC_OK) rc = hc_stmt_col_blob(st, 7, &g->blob, N(7));
#undef N
    if (rc == HC_OK) assert_int_equal(hc_stmt_step(st), HC_DONE);   /* one row */
    hc_db_end(st);
    return rc;
}

static void check_row(const got *g, const row *r)
{
    for (int i = 0; i < 8; i++) assert_false(g->null[i]);
    assert_int_equal(g->i32, r->i32);
    assert_true(g->i64 == r->i64);
    assert_int_equal(g->u32, r->u32);
    assert_true(g->u64 == r->u64);
    if (isnan(r->f64)) assert_true(isnan(g->f64));
    else assert_true(g->f64 == r->f64);
    assert_int_equal(g->b, r->b);
    assert_non_null(g->text);
    assert_string_equal(g->text, r->text);
    assert_int_equal(g->blob.len, r->bloblen);
    if (r->bloblen) assert_memory_equal(g->blob.data, r->blob, r->bloblen);
    else assert_null(g->blob.data);                       /* an empty blob has data NULL */
}

static const uint8_t odd_bytes[] = {0x00, 0xff, '\\', 'x', '\'', 0x00, 0x01, '"'};

/* Every type, both ends of every range, NULLs nullable and not, bind
   mistakes: what both backends must agree on. */
static void types_round_trip(hc_db *db, bool pg)
{
    hc_error err;
    const row rows[] = {
        {INT32_MIN, INT64_MIN, 0, 0, -1.5e308, false, "", NULL, 0},
        {INT32_MAX, INT64_MAX, UINT32_MAX, pg ? UINT64_MAX : (uint64_t)INT64_MAX, 0.1, true,
         "h\xc3\xa9llo \xe2\x9c\x93 'q' \"d\" \\x ; DROP TABLE t; --", odd_bytes, sizeof odd_bytes},
        {-1, -1, 1, 1, INFINITY, true, "a", "\0", 1},
        {7, 1LL << 53, 1u << 31, 1ULL << 63 >> (pg ? 0 : 1), -INFINITY, false, "x", "yz", 2},
        {0, 0, 0, 0, 5e-324, false, "tiny", "", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        assert_int_equal(insert_row(db, (int64_t)i + 1, &rows[i], &err), HC_OK);
        got g;
        assert_int_equal(read_row(db, (int64_t)i + 1, &g, false, &err), HC_OK);
        check_row(&g, &rows[i]);
        got_clear(&g);
        assert_int_equal(read_row(db, (int64_t)i + 1, &g, true, &err), HC_OK);   /* nullable too */
        check_row(&g, &rows[i]);
        got_clear(&g);
    }

    /* NaN: PostgreSQL keeps it; SQLite stores NULL for it. */
    row nan_row = {1, 1, 1, 1, NAN, true, "nan", NULL, 0};
    assert_int_equal(insert_row(db, 50, &nan_row, &err), HC_OK);
    got g;
    if (pg) {
        assert_int_equal(read_row(db, 50, &g, false, &err), HC_OK);
        check_row(&g, &nan_row);
    } else {
        assert_int_equal(read_row(db, 50, &g, false, &err), HC_EDB);
        assert_has(err.message, "column 4 ('a_f64')");
        got_clear(&g);
        assert_int_equal(read_row(db, 50, &g, true, &err), HC_OK);
        assert_true(g.null[4]);
    }
    got_clear(&g);

    /* All NULL: nullable reads say so and read zeroes; others fail. */
    assert_int_equal(insert_row(db, 100, NULL, &err), HC_OK);
    assert_int_equal(read_row(db, 100, &g, true, &err), HC_OK);
    for (int i = 0; i < 8; i++) assert_true(g.null[i]);
    assert_int_equal(g.i32, 0);
    assert_true(g.i64 == 0 && g.u32 == 0 && g.u64 == 0 && g.f64 == 0 && !g.b);
    assert_null(g.text);
    assert_null(g.blob.data);
    assert_int_equal(g.blob.len, 0);
    got_clear(&g);
    assert_int_equal(read_row(db, 100, &g, false, &err), HC_EDB);
    assert_int_equal(err.code, HC_EDB);
    assert_string_equal(err.message,
                        "t_select: column 0 ('a_i32'): NULL in a column not declared nullable");
    got_clear(&g);

    /* A missing row. */
    assert_int_equal(read_row(db, 12345, &g, true, &err), HC_DONE);
    got_clear(&g);

    /* Bind mistakes: caught before anything runs, and the hc_db is fine. */
    hc_stmt *st;
    assert_int_equal(hc_db_begin(db, &ins_sql, &st, &err), HC_OK);
    assert_int_equal(hc_stmt_bind_i64(st, 0, 1), HC_EINVAL);
    assert_has(err.message, "t_insert: parameter 0 out of range");
    assert_int_equal(hc_stmt_bind_i64(st, 10, 1), HC_EINVAL);
    assert_int_equal(hc_stmt_bind_blob(st, 9, NULL, 3), HC_EINVAL);
    if (!pg) {
        assert_int_equal(hc_stmt_bind_u64(st, 5, (uint64_t)INT64_MAX + 1), HC_EDB);
        assert_string_equal(err.message,
                            "t_insert: parameter 5: 9223372036854775808 does not fit SQLite's integer");
    }
    assert_int_equal(hc_db_end(st), HC_OK);
    assert_int_equal(hc_db_end(NULL), HC_OK);
}

/* Reads that must fail: the value does not fit the C type. The statement
   reads every column of one row; a failed read leaves the row readable. */
static void expect_col(int rc, hc_error *err, const char *what)
{
    if (rc != HC_EDB) fail_msg("%s: %s, not HC_EDB", what, hc_err_name(rc));
    assert_has(err->message, what);
}

/* ---------------------------------------------------------- SQLite group */

typedef struct lite_fx {
    char dir[64], path[96];
    sqlite3 *conn;
    hc_db *db;
} lite_fx;

static void lite_exec(sqlite3 *conn, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg);
        sqlite3_free(msg);
        fail();
    }
}

static int lite_setup(void **state)
{
    lite_fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s", "/tmp/hc_test_db.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    if (sqlite3_open(f->path, &f->conn) != SQLITE_OK) return -1;
    /* The data is thrown away: no need to wait for the disk. */
    if (sqlite3_exec(f->conn, "PRAGMA synchronous = OFF", NULL, NULL, NULL) != SQLITE_OK) return -1;
    if (sqlite3_exec(f->conn, lite_t, NULL, NULL, NULL) != SQLITE_OK) return -1;
    if (hc_db_sqlite(&f->db, f->conn, NULL) != HC_OK) return -1;
    *state = f;
    return 0;
}

static int lite_teardown(void **state)
{
    lite_fx *f = *state;
    hc_db_free(f->db);
    if (sqlite3_close(f->conn) != SQLITE_OK) {
        fprintf(stderr, "sqlite3_close: %s\n", sqlite3_errmsg(f->conn));
        return -1;          /* a statement was left unfinalized */
    }
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    int rc = rmdir(f->dir);
    free(f);
    return rc;
}

/* Prepared statements on the connection: SQLite's own list. */
static int lite_nstmts(sqlite3 *conn)
{
    int n = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(conn, NULL); s; s = sqlite3_next_stmt(conn, s)) n++;
    return n;
}

/* hc_db_begin on another thread: proves the hc_db's lock was released
   (the lock is recursive, so the same thread would get it anyway). */
typedef struct other_call {
    hc_db *db;
    const hc_sql *sql;
    int64_t arg, v;
    int rc;
} other_call;

static void *other_call_main(void *arg)
{
    other_call *o = arg;
    o->rc = query_i64(o->db, o->sql, &o->arg, &o->v, NULL);
    return NULL;
}

static int on_other_thread(hc_db *db, const hc_sql *sql, int64_t arg, int64_t *v)
{
    other_call o = {db, sql, arg, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_call_main, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (v) *v = o.v;
    return o.rc;
}

static void test_lite_types(void **state)
{
    lite_fx *f = *state;
    assert_int_equal(hc_db_get_kind(f->db), HC_DB_SQLITE);
    types_round_trip(f->db, false);
}

static void test_lite_range_errors(void **state)
{
    lite_fx *f = *state;
    lite_exec(f->conn, "INSERT INTO t VALUES (200, 2147483648, 1.5, 4294967296, -1, 'abc', 2,"
                       " X'00', 'txt')");
    lite_exec(f->conn, "INSERT INTO t VALUES (201, -2147483649, '12', -1, 0, 3, -1, 7, 4.5)");
    hc_error err;
    hc_stmt *st;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    double f64;
    bool b, isnull;
    char *s = NULL;
    hc_bytes blob;

    assert_int_equal(hc_db_begin(f->db, &sel_sql, &st, &err), HC_OK);
    assert_int_equal(hc_stmt_col_i64(st, 0, &i64, NULL), HC_EINVAL);   /* no row yet */
    assert_has(err.message, "no current row");
    assert_int_equal(hc_stmt_bind_i64(st, 1, 200), HC_OK);
    assert_int_equal(hc_stmt_step(st), HC_OK);
    assert_int_equal(hc_stmt_bind_i64(st, 1, 200), HC_EINVAL);         /* after it ran */
    expect_col(hc_stmt_col_i32(st, 0, &i32, NULL), &err,
               "t_select: column 0 ('a_i32'): 2147483648 does not fit i32");
    expect_col(hc_stmt_col_i64(st, 1, &i64, &isnull), &err, "column 1 ('a_i64'): holds a real, not an integer");
    expect_col(hc_stmt_col_u32(st, 2, &u32, NULL), &err, "4294967296 does not fit u32");
    expect_col(hc_stmt_col_u64(st, 3, &u64, NULL), &err, "-1 does not fit u64");
    expect_col(hc_stmt_col_u32(st, 3, &u32, NULL), &err, "-1 does not fit u32");
    expect_col(hc_stmt_col_f64(st, 4, &f64, NULL), &err, "holds text, not a number");
    expect_col(hc_stmt_col_bool(st, 5, &b, NULL), &err, "2 is not a bool (0 or 1)");
    expect_col(hc_stmt_col_text(st, 6, &s, NULL), &err, "holds a blob, not text");
    expect_col(hc_stmt_col_i64(st, 8, &i64, NULL), &err, "column 8 out of range: the result has 8 columns");
    assert_null(s);
    /* What fits still reads, after the failures. */
    assert_int_equal(hc_stmt_col_i64(st, 0, &i64, NULL), HC_OK);
    assert_true(i64 == 2147483648LL);
    assert_int_equal(hc_stmt_col_f64(st, 1, &f64, NULL), HC_OK);
    assert_true(f64 == 1.5);
    assert_int_equal(hc_stmt_col_f64(st, 0, &f64, NULL), HC_OK);      /* f64 from an integer */
    assert_true(f64 == 2147483648.0);
    assert_int_equal(hc_stmt_col_blob(st, 7, &blob, NULL), HC_OK);    /* bytes of text */
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.data, "txt", 3);
    free(blob.data);
    assert_int_equal(hc_stmt_col_blob(st, 6, &blob, NULL), HC_OK);
    assert_int_equal(blob.len, 1);
    free(blob.data);
    assert_int_equal(hc_stmt_step(st), HC_DONE);
    assert_int_equal(hc_stmt_step(st), HC_DONE);                       /* stays done */
    assert_int_equal(hc_stmt_col_i64(st, 0, &i64, NULL), HC_EINVAL);
    assert_int_equal(hc_db_end(st), HC_OK);

    assert_int_equal(hc_db_begin(f->db, &sel_sql, &st, &err), HC_OK);
    assert_int_equal(hc_stmt_bind_i64(st, 1, 201), HC_OK);
    assert_int_equal(hc_stmt_step(st), HC_OK);
    expect_col(hc_stmt_col_i32(st, 0, &i32, NULL), &err, "-2147483649 does not fit i32");
    /* a_i64 is an INTEGER column: SQLite made '12' an integer. */
    assert_int_equal(hc_stmt_col_i64(st, 1, &i64, NULL), HC_OK);
    assert_true(i64 == 12);
    expect_col(hc_stmt_col_u32(st, 2, &u32, NULL), &err, "-1 does not fit u32");
    assert_int_equal(hc_stmt_col_bool(st, 3, &b, NULL), HC_OK);
    assert_false(b);
    assert_int_equal(hc_stmt_col_f64(st, 4, &f64, NULL), HC_OK);      /* REAL column: 3.0 */
    assert_true(f64 == 3.0);
    expect_col(hc_stmt_col_bool(st, 5, &b, NULL), &err, "-1 is not a bool");
    /* a_text is a TEXT column: SQLite made 7 the text '7'. */
    assert_int_equal(hc_stmt_col_text(st, 6, &s, NULL), HC_OK);
    assert_string_equal(s, "7");
    free(s);
    expect_col(hc_stmt_col_text(st, 7, &s, NULL), &err, "holds a real, not text");
    expect_col(hc_stmt_col_blob(st, 7, &blob, NULL), &err, "holds a real, not a blob");
    assert_int_equal(hc_db_end(st), HC_OK);
}

static void test_lite_text_with_nul(void **state)
{
    lite_fx *f = *state;
    /* SQLite can store text with a NUL inside; a C string cannot hold it. */
    lite_exec(f->conn, "INSERT INTO t (id, a_text) VALUES (300, CAST(X'610062' AS TEXT))");
    hc_error err;
    got g;
    assert_int_equal(read_row(f->db, 300, &g, true, &err), HC_EDB);
    assert_has(err.message, "column 6 ('a_text'): text holds a NUL byte");
    got_clear(&g);
}

static void test_lite_prepare_once(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    hc_stmt *st1, *st2;
    assert_int_equal(lite_nstmts(f->conn), 0);
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st1, &err), HC_OK);
    assert_int_equal(hc_db_end(st1), HC_OK);
    assert_int_equal(lite_nstmts(f->conn), 1);
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st2, &err), HC_OK);
    assert_ptr_equal(st1, st2);
    assert_int_equal(hc_db_end(st2), HC_OK);
    assert_int_equal(lite_nstmts(f->conn), 1);
    /* Many more statements than the table's first size: all found again. */
    static hc_sql many[40];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            many[i] = count_sql;
            int64_t n = -1;
            assert_int_equal(query_i64(f->db, &many[i], NULL, &n, &err), HC_OK);
            assert_true(n == 0);
        }
        assert_int_equal(lite_nstmts(f->conn), 41);
    }
    /* hc_db_free finalizes them all (the teardown's sqlite3_close checks
       that none is left). */
    hc_db_free(f->db);
    assert_int_equal(lite_nstmts(f->conn), 0);
    assert_int_equal(hc_db_sqlite(&f->db, f->conn, NULL), HC_OK);
}

static void test_lite_changes(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    row r = {1, 1, 1, 1, 1, true, "x", NULL, 0};
    for (int i = 1; i <= 3; i++) assert_int_equal(insert_row(f->db, i, &r, &err), HC_OK);
    int64_t changes = -1, lim = 3;
    assert_int_equal(run(f->db, &touch_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 2);
    /* Statements that write nothing report 0, not the last write's count. */
    assert_int_equal(run(f->db, &count_sql, NULL, &changes, &err), HC_OK);
    assert_true(changes == 0);
    lim = 0;
    assert_int_equal(run(f->db, &touch_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 0);
    lim = 100;
    assert_int_equal(run(f->db, &touch_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 3);
    SQL0(ddl_sql, "ddl", "CREATE TABLE IF NOT EXISTS other (x)", "CREATE TABLE IF NOT EXISTS other (x int)");
    assert_int_equal(run(f->db, &ddl_sql, NULL, &changes, &err), HC_OK);
    assert_true(changes == 0);

    /* Before it runs: 0. A statement runs once, however often it is stepped. */
    hc_stmt *st;
    assert_int_equal(hc_db_begin(f->db, &ins_sql, &st, &err), HC_OK);
    assert_true(hc_stmt_changes(st) == 0);
    assert_int_equal(hc_stmt_bind_i64(st, 1, 9), HC_OK);
    assert_int_equal(hc_stmt_step(st), HC_DONE);
    assert_int_equal(hc_stmt_step(st), HC_DONE);
    assert_true(hc_stmt_changes(st) == 1);
    assert_int_equal(hc_db_end(st), HC_OK);
    int64_t n = 0;
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);
    assert_true(n == 4);
}

static void test_lite_bad_sql(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    hc_stmt *st = (hc_stmt *)&err;
    assert_int_equal(hc_db_begin(f->db, &missing_sql, &st, &err), HC_EDB);
    assert_null(st);
    assert_int_equal(err.code, HC_EDB);
    assert_string_equal(err.message, "missing_select: no such table: missing");
    assert_int_equal(lite_nstmts(f->conn), 0);                 /* nothing cached */
    assert_int_equal(hc_db_begin(f->db, &missing_sql, &st, NULL), HC_EDB);   /* err NULL */
    /* Nothing held: another thread gets the hc_db. */
    int64_t n = -1;
    assert_int_equal(on_other_thread(f->db, &count_sql, 0, &n), HC_OK);
    assert_true(n == 0);
    /* Once the table exists, the same statement prepares and runs. */
    lite_exec(f->conn, "CREATE TABLE missing (x INTEGER); INSERT INTO missing VALUES (5)");
    int64_t arg = 5;
    assert_int_equal(query_i64(f->db, &missing_sql, &arg, &n, &err), HC_OK);
    assert_true(n == 5);

    /* Text that is not one statement. */
    SQL0(two_sql, "two", "SELECT 1; SELECT 2", "SELECT 1; SELECT 2");
    SQL0(none_sql, "none", " -- nothing", " -- nothing");
    SQL0(trail_sql, "trail", "SELECT 1; -- fine\n", "SELECT 1; -- fine\n");
    assert_int_equal(run(f->db, &two_sql, NULL, NULL, &err), HC_EDB);
    assert_string_equal(err.message, "two: the SQL text holds more than one statement");
    assert_int_equal(run(f->db, &none_sql, NULL, NULL, &err), HC_EDB);
    assert_string_equal(err.message, "none: the SQL text holds no statement");
    assert_int_equal(run(f->db, &trail_sql, NULL, NULL, &err), HC_OK);
    SQL0(pgonly_sql, "pg_only", NULL, "SELECT 1");
    assert_int_equal(run(f->db, &pgonly_sql, NULL, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "pg_only: no SQL text for SQLite");
}

static void test_lite_constraint(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    row r = {1, 2, 3, 4, 5, false, "x", NULL, 0};
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_OK);
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_EDB);
    assert_string_equal(err.message, "t_insert: UNIQUE constraint failed: t.id");
    int64_t n = 0;
    assert_int_equal(on_other_thread(f->db, &count_sql, 0, &n), HC_OK);
    assert_true(n == 1);
    assert_int_equal(insert_row(f->db, 2, &r, &err), HC_OK);
    assert_int_equal(err.code, HC_OK);                          /* cleared by begin */
    assert_string_equal(err.message, "");
}

static void test_lite_table_dropped(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    lite_exec(f->conn, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO kv VALUES (1, 10)");
    int64_t k = 1, v = 0;
    assert_int_equal(query_i64(f->db, &kv_get_sql, &k, &v, &err), HC_OK);
    assert_true(v == 10);
    lite_exec(f->conn, "DROP TABLE kv");
    assert_int_equal(query_i64(f->db, &kv_get_sql, &k, &v, &err), HC_EDB);
    assert_string_equal(err.message, "kv_get: no such table: kv");
    lite_exec(f->conn, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER); INSERT INTO kv VALUES (1, 11)");
    assert_int_equal(query_i64(f->db, &kv_get_sql, &k, &v, &err), HC_OK);
    assert_true(v == 11);
    assert_int_equal(lite_nstmts(f->conn), 1);
}

static void test_lite_busy(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    row r = {1, 2, 3, 4, 5, false, "x", NULL, 0};
    sqlite3 *other;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    lite_exec(other, "BEGIN EXCLUSIVE");
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_EDB);
    assert_string_equal(err.message, "t_insert: database is locked");
    int64_t n = -1;
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_EDB);
    assert_string_equal(err.message, "t_count: database is locked");
    lite_exec(other, "COMMIT");
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_OK);
    assert_int_equal(on_other_thread(f->db, &count_sql, 0, &n), HC_OK);
    assert_true(n == 1);
}

/* A file that is no database: the connection failed, not the statement
   (HC_ECONN, not HC_EDB), so retry logic can tell the two apart. */
static void test_lite_not_a_database(void **state)
{
    lite_fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    FILE *g = fopen(path, "w");
    assert_non_null(g);
    for (int i = 0; i < 256; i++) fputs("this is not an SQLite database file. ", g);
    fclose(g);
    sqlite3 *conn;
    assert_int_equal(sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    hc_db *db;
    hc_error err;
    assert_int_equal(hc_db_sqlite(&db, conn, &err), HC_OK);
    int64_t n;
    assert_int_equal(query_i64(db, &count_sql, NULL, &n, &err), HC_ECONN);
    assert_int_equal(err.code, HC_ECONN);
    assert_non_null(strstr(err.message, "not a database"));
    /* A statement the database refuses is still HC_EDB. */
    assert_int_equal(query_i64(f->db, &missing_sql, NULL, &n, &err), HC_EDB);
    hc_db_free(db);
    sqlite3_close(conn);
    unlink(path);
}

static void test_lite_misuse(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    hc_stmt *st, *st2 = NULL;
    hc_db *db2 = (hc_db *)&err;
    assert_int_equal(hc_db_sqlite(&db2, NULL, NULL), HC_EINVAL);
    assert_null(db2);
    assert_int_equal(hc_db_sqlite(NULL, f->conn, NULL), HC_EINVAL);
    assert_int_equal(hc_db_begin(NULL, &count_sql, &st, &err), HC_EINVAL);
    assert_int_equal(hc_db_begin(f->db, NULL, &st, &err), HC_EINVAL);
    assert_int_equal(hc_db_begin(f->db, &count_sql, NULL, &err), HC_EINVAL);
    hc_sql notypes = {"notypes", "SELECT ?1", "SELECT $1", 1, NULL};
    assert_int_equal(hc_db_begin(f->db, &notypes, &st, &err), HC_EINVAL);
    hc_db_free(NULL);
    assert_int_equal((int)hc_db_get_kind(NULL), 0);
    assert_int_equal(hc_stmt_step(NULL), HC_EINVAL);
    assert_int_equal(hc_stmt_bind_i64(NULL, 1, 1), HC_EINVAL);
    assert_int_equal(hc_stmt_col_i64(NULL, 0, &(int64_t){0}, NULL), HC_EINVAL);
    assert_int_equal(hc_stmt_ncols(NULL), 0);
    assert_true(hc_stmt_changes(NULL) == 0);

    /* A second statement on the same thread before the first ended. */
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st, &err), HC_OK);
    assert_int_equal(hc_db_begin(f->db, &sel_sql, &st2, NULL), HC_EBUSY);
    hc_error err2;
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st2, &err2), HC_EBUSY);
    assert_string_equal(err2.message, "t_count: the hc_db is in use by this thread: 't_count' has not ended");
    assert_null(st2);
    assert_int_equal(hc_stmt_step(st), HC_OK);
    assert_int_equal(hc_stmt_col_i64(st, 0, NULL, NULL), HC_EINVAL);
    assert_int_equal(hc_db_end(st), HC_OK);
    assert_int_equal(hc_db_end(st), HC_EINVAL);                 /* ended already */
    assert_int_equal(hc_db_unlock(f->db), HC_EINVAL);           /* not locked */
    assert_int_equal(hc_db_lock(NULL), HC_EINVAL);
    assert_int_equal(hc_db_unlock(NULL), HC_EINVAL);
}

/* Four threads share one hc_db: each writes its rows and reads them back. */
#define THREADS 4
#define PER_THREAD 500

typedef struct worker {
    pthread_t thread;
    hc_db *db;
    int id;
    test_gate *gate;
    int failures;
    char first_error[400];
} worker;

static void worker_fail(worker *w, const char *what, int rc, const hc_error *err)
{
    if (w->failures++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "%s: %s: %s", what, hc_err_name(rc),
                 err->message);
}

static void *kv_worker(void *arg)
{
    worker *w = arg;
    hc_error err = {0};
    test_gate_wait(w->gate);
    for (int i = 0; i < PER_THREAD; i++) {
        int64_t kv[2] = {w->id * 100000 + i, (int64_t)(w->id * 100000 + i) * 3};
        int rc = run(w->db, &kv_put_sql, kv, NULL, &err);
        if (rc != HC_OK) worker_fail(w, "put", rc, &err);
        int64_t v = -1;
        rc = query_i64(w->db, &kv_get_sql, kv, &v, &err);
        if (rc != HC_OK) worker_fail(w, "get", rc, &err);
        else if (v != kv[1]) worker_fail(w, "wrong value", rc, &err);
    }
    return NULL;
}

/* Read-modify-write across statements, made atomic by hc_db_lock. */
#define TX_PER_THREAD 100
static void *counter_worker(void *arg)
{
    worker *w = arg;
    hc_error err = {0};
    test_gate_wait(w->gate);
    for (int i = 0; i < TX_PER_THREAD; i++) {
        if (hc_db_lock(w->db) != HC_OK) worker_fail(w, "lock", HC_ESYS, &err);
        int64_t v = -1;
        int rc = run(w->db, &begin_sql, NULL, NULL, &err);
        if (rc == HC_OK) rc = query_i64(w->db, &counter_sql, NULL, &v, &err);
        if (rc == HC_OK) {
            int64_t next = v + 1;
            sched_yield();               /* invite the others in: they must wait */
            rc = run(w->db, &bump_sql, &next, NULL, &err);
        }
        if (rc == HC_OK) rc = run(w->db, &commit_sql, NULL, NULL, &err);
        else run(w->db, &rollback_sql, NULL, NULL, NULL);
        if (rc != HC_OK) worker_fail(w, "transaction", rc, &err);
        if (hc_db_unlock(w->db) != HC_OK) worker_fail(w, "unlock", HC_EINVAL, &err);
    }
    return NULL;
}

static void run_workers(hc_db *db, void *(*fn)(void *))
{
    worker w[THREADS];
    test_gate gate;
    test_gate_init(&gate);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.db = db, .id = i + 1, .gate = &gate};
        assert_int_equal(pthread_create(&w[i].thread, NULL, fn, &w[i]), 0);
    }
    test_gate_await_arrivals(&gate, THREADS);
    test_gate_open(&gate);
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        if (w[i].failures) fprintf(stderr, "thread %d: %d failures, first: %s\n", i, w[i].failures, w[i].first_error);
        failures += w[i].failures;
    }
    test_gate_destroy(&gate);
    assert_int_equal(failures, 0);
}

static void test_lite_threads(void **state)
{
    lite_fx *f = *state;
    lite_exec(f->conn, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER)");
    run_workers(f->db, kv_worker);
    SQL0(kv_count_sql, "kv_count", "SELECT count(*), sum(v) FROM kv", "SELECT count(*), sum(v) FROM kv");
    int64_t n = 0;
    assert_int_equal(query_i64(f->db, &kv_count_sql, NULL, &n, NULL), HC_OK);
    assert_true(n == THREADS * PER_THREAD);
}

typedef struct unlocker {
    hc_db *db;
    int rc;
} unlocker;

static void *unlock_main(void *arg)
{
    unlocker *u = arg;
    u->rc = hc_db_unlock(u->db);
    return NULL;
}

static void test_lite_lock(void **state)
{
    lite_fx *f = *state;
    hc_error err;
    lite_exec(f->conn, "CREATE TABLE counter (v INTEGER); INSERT INTO counter VALUES (0)");
    run_workers(f->db, counter_worker);
    int64_t v = 0;
    assert_int_equal(query_i64(f->db, &counter_sql, NULL, &v, &err), HC_OK);
    assert_true(v == THREADS * TX_PER_THREAD);

    /* Holds nest; another thread cannot release them. */
    assert_int_equal(hc_db_lock(f->db), HC_OK);
    assert_int_equal(hc_db_lock(f->db), HC_OK);
    unlocker u = {f->db, HC_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, unlock_main, &u), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(u.rc, HC_EINVAL);
    assert_int_equal(hc_db_unlock(f->db), HC_OK);
    assert_int_equal(hc_db_unlock(f->db), HC_OK);
    assert_int_equal(hc_db_unlock(f->db), HC_EINVAL);
    assert_int_equal(on_other_thread(f->db, &counter_sql, 0, &v), HC_OK);
}

/* ------------------------------------------------------ PostgreSQL group */

typedef struct pg_fx {
    PGconn *conn;          /* the application's connection, under test */
    PGconn *admin;         /* a second one: schema, killing the first */
    char schema[64];
    hc_db *db;
} pg_fx;

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    PQclear(r);
}

/* One integer from a query on c. */
static long pg_value(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "pg: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int pg_setup(void **state)
{
    pg_fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    const char *info = getenv("HC_PG_CONNINFO");
    if (!info || !*info) return 0;       /* the test skips or fails */
    f->admin = PQconnectdb(info);
    if (PQstatus(f->admin) != CONNECTION_OK) {
        fprintf(stderr, "test_db: cannot connect to '%s': %s", info, PQerrorMessage(f->admin));
        return -1;
    }
    snprintf(f->schema, sizeof f->schema, "hc_test_db_%ld", (long)getpid());
    char sql[256], opts[128];
    snprintf(sql, sizeof sql, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE;"
             " CREATE SCHEMA %s", f->schema, f->schema);
    PGresult *r = PQexec(f->admin, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) return -1;
    /* The conninfo may be key=value or a URI: expand it as dbname and add
       the options after it. */
    snprintf(opts, sizeof opts, "-c search_path=%s -c client_min_messages=warning", f->schema);
    const char *keys[] = {"dbname", "options", NULL};
    const char *vals[] = {info, opts, NULL};
    f->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(f->conn) != CONNECTION_OK) {
        fprintf(stderr, "test_db: %s", PQerrorMessage(f->conn));
        return -1;
    }
    r = PQexec(f->conn, pg_t);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) return -1;
    return hc_db_pg(&f->db, f->conn, NULL) == HC_OK ? 0 : -1;
}

static int pg_teardown(void **state)
{
    pg_fx *f = *state;
    hc_db_free(f->db);
    PQfinish(f->conn);
    if (f->admin) {
        char sql[160];
        snprintf(sql, sizeof sql, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE",
                 f->schema);
        PQclear(PQexec(f->admin, sql));
        PQfinish(f->admin);
    }
    free(f);
    return 0;
}

/* The fixture, or skip (HC_SKIP_PG=1) / fail when there is no server. */
static pg_fx *pg_ready(void **state)
{
    pg_fx *f = *state;
    if (!f->conn) {
        const char *s = getenv("HC_SKIP_PG");
        if (s && strcmp(s, "1") == 0) skip();
        fail_msg("no PostgreSQL: set HC_PG_CONNINFO (run under scripts/pg.sh run, as make check "
                 "does) or set HC_SKIP_PG=1 to skip these tests");
    }
    return f;
}

/* Our statements prepared in the session, from the session itself. */
static long pg_nstmts(PGconn *c)
{
    return pg_value(c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'hc\\_%'");
}

/* End the application connection's backend from the admin connection, and
   wait until it is gone (bounded; the wait is not what is tested). */
static void pg_kill(pg_fx *f)
{
    char sql[128];
    int pid = PQbackendPID(f->conn);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)::int", pid);
    assert_int_equal(pg_value(f->admin, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
    for (int i = 0; pg_value(f->admin, sql) != 0; i++) {
        if (i == 6000) fail_msg("backend %d did not exit", pid);
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
}

static void test_pg_types(void **state)
{
    pg_fx *f = pg_ready(state);
    assert_int_equal(hc_db_get_kind(f->db), HC_DB_POSTGRES);
    types_round_trip(f->db, true);
}

static void test_pg_range_errors(void **state)
{
    pg_fx *f = pg_ready(state);
    pg_exec(f->conn, "INSERT INTO t VALUES (200, 5, 5000000000, -1, -5, 'NaN', true, 'abc',"
                     " '\\x00ff')");
    SQL(odd_sql, "odd", NULL,
        "SELECT a_i64, a_u32, a_u64, a_text, a_f64, a_bool, 1.5::numeric,"
        " 18446744073709551616::numeric, ' 1'::text, '1e400'::numeric, '+1'::text,"
        " '\\x'::bytea, a_blob, 'x'::text, ''::text, -0.0::float8 FROM t WHERE id = $1",
        HC_SQL_I64);
    hc_error err;
    hc_stmt *st;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    double f64;
    bool b;
    char *s;
    hc_bytes blob;
    assert_int_equal(hc_db_begin(f->db, &odd_sql, &st, &err), HC_OK);
    assert_int_equal(hc_stmt_bind_i64(st, 1, 200), HC_OK);
    assert_int_equal(hc_stmt_step(st), HC_OK);
    assert_int_equal(hc_stmt_ncols(st), 16);
    expect_col(hc_stmt_col_i32(st, 0, &i32, NULL), &err, "odd: column 0 ('a_i64'): 5000000000 does not fit i32");
    expect_col(hc_stmt_col_u32(st, 1, &u32, NULL), &err, "column 1 ('a_u32'): -1 does not fit u32");
    expect_col(hc_stmt_col_u64(st, 2, &u64, NULL), &err, "-5 does not fit u64");
    expect_col(hc_stmt_col_i64(st, 3, &i64, NULL), &err, "column 3 ('a_text'): 'abc' is not an integer");
    expect_col(hc_stmt_col_f64(st, 3, &f64, NULL), &err, "'abc' is not a number");
    expect_col(hc_stmt_col_bool(st, 4, &b, NULL), &err, "'NaN' is not a bool");
    expect_col(hc_stmt_col_i64(st, 5, &i64, NULL), &err, "'t' is not an integer");
    expect_col(hc_stmt_col_i64(st, 6, &i64, NULL), &err, "'1.5' is not an integer");
    expect_col(hc_stmt_col_u64(st, 7, &u64, NULL), &err, "18446744073709551616 does not fit u64");
    expect_col(hc_stmt_col_i64(st, 7, &i64, NULL), &err, "18446744073709551616 does not fit i64");
    expect_col(hc_stmt_col_i64(st, 8, &i64, NULL), &err, "' 1' is not an integer");
    expect_col(hc_stmt_col_f64(st, 8, &f64, NULL), &err, "' 1' is not a number");
    expect_col(hc_stmt_col_f64(st, 9, &f64, NULL), &err, "does not fit f64");
    expect_col(hc_stmt_col_i64(st, 10, &i64, NULL), &err, "'+1' is not an integer");
    expect_col(hc_stmt_col_u64(st, 10, &u64, NULL), &err, "'+1' is not an integer");
    expect_col(hc_stmt_col_f64(st, 14, &f64, NULL), &err, "'' is not a number");
    expect_col(hc_stmt_col_i64(st, 16, &i64, NULL), &err, "column 16 out of range: the result has 16 columns");
    /* What fits reads: text of any column, numbers from numeric, bytea. */
    assert_int_equal(hc_stmt_col_text(st, 0, &s, NULL), HC_OK);
    assert_string_equal(s, "5000000000");
    free(s);
    assert_int_equal(hc_stmt_col_f64(st, 4, &f64, NULL), HC_OK);
    assert_true(isnan(f64));
    assert_int_equal(hc_stmt_col_f64(st, 6, &f64, NULL), HC_OK);
    assert_true(f64 == 1.5);
    assert_int_equal(hc_stmt_col_f64(st, 7, &f64, NULL), HC_OK);
    assert_true(f64 == 18446744073709551616.0);
    assert_int_equal(hc_stmt_col_f64(st, 15, &f64, NULL), HC_OK);
    assert_true(f64 == 0 && signbit(f64));
    assert_int_equal(hc_stmt_col_blob(st, 11, &blob, NULL), HC_OK);   /* empty bytea */
    assert_null(blob.data);
    assert_int_equal(blob.len, 0);
    assert_int_equal(hc_stmt_col_blob(st, 12, &blob, NULL), HC_OK);
    assert_int_equal(blob.len, 2);
    assert_memory_equal(blob.data, "\x00\xff", 2);
    free(blob.data);
    assert_int_equal(hc_stmt_col_blob(st, 13, &blob, NULL), HC_OK);   /* text as bytes */
    assert_int_equal(blob.len, 1);
    assert_memory_equal(blob.data, "x", 1);
    free(blob.data);
    assert_int_equal(hc_stmt_col_blob(st, 14, &blob, NULL), HC_OK);
    assert_null(blob.data);
    assert_int_equal(hc_stmt_col_text(st, 14, &s, NULL), HC_OK);      /* empty text is not NULL */
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(hc_stmt_step(st), HC_DONE);
    assert_int_equal(hc_db_end(st), HC_OK);

    /* The escape format of bytea, should a server be set to it. */
    pg_exec(f->conn, "SET bytea_output = 'escape'");
    SQL(blob_sql, "blob", NULL, "SELECT a_blob FROM t WHERE id = $1", HC_SQL_I64);
    assert_int_equal(hc_db_begin(f->db, &blob_sql, &st, &err), HC_OK);
    assert_int_equal(hc_stmt_bind_i64(st, 1, 200), HC_OK);
    assert_int_equal(hc_stmt_step(st), HC_OK);
    assert_int_equal(hc_stmt_col_blob(st, 0, &blob, NULL), HC_OK);
    assert_int_equal(blob.len, 2);
    assert_memory_equal(blob.data, "\x00\xff", 2);
    free(blob.data);
    assert_int_equal(hc_db_end(st), HC_OK);
    pg_exec(f->conn, "RESET bytea_output");
}

static void test_pg_prepare_once(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    hc_stmt *st1, *st2;
    assert_int_equal(pg_nstmts(f->conn), 0);
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st1, &err), HC_OK);
    assert_int_equal(hc_db_end(st1), HC_OK);
    assert_int_equal(hc_db_begin(f->db, &count_sql, &st2, &err), HC_OK);
    assert_ptr_equal(st1, st2);
    assert_int_equal(hc_db_end(st2), HC_OK);
    assert_int_equal(pg_nstmts(f->conn), 1);
    int64_t n = -1;
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);
    assert_int_equal(pg_nstmts(f->conn), 1);
    /* hc_db_free deallocates them. */
    hc_db_free(f->db);
    assert_int_equal(pg_nstmts(f->conn), 0);
    assert_int_equal(hc_db_pg(&f->db, f->conn, NULL), HC_OK);
}

static void test_pg_deallocate_all(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    row r = {1, 2, 3, 4, 5, true, "x", "b", 1};
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_OK);
    got g;
    assert_int_equal(read_row(f->db, 1, &g, false, &err), HC_OK);
    got_clear(&g);
    assert_int_equal(pg_nstmts(f->conn), 2);
    pg_exec(f->conn, "DEALLOCATE ALL");
    assert_int_equal(pg_nstmts(f->conn), 0);
    /* Prepared again and run, without an error. */
    assert_int_equal(read_row(f->db, 1, &g, false, &err), HC_OK);
    check_row(&g, &r);
    got_clear(&g);
    assert_int_equal(insert_row(f->db, 2, &r, &err), HC_OK);
    assert_int_equal(pg_nstmts(f->conn), 2);
    pg_exec(f->conn, "DISCARD ALL");
    assert_int_equal(read_row(f->db, 2, &g, false, &err), HC_OK);
    check_row(&g, &r);
    got_clear(&g);
    assert_int_equal(pg_nstmts(f->conn), 1);

    /* Inside the application's transaction the failure aborted it: the
       call fails (the caller must roll back), and works after. */
    pg_exec(f->conn, "BEGIN");
    pg_exec(f->conn, "DEALLOCATE ALL");
    assert_int_equal(read_row(f->db, 2, &g, false, &err), HC_EDB);
    assert_has(err.message, "does not exist");
    got_clear(&g);
    pg_exec(f->conn, "ROLLBACK");
    assert_int_equal(read_row(f->db, 2, &g, false, &err), HC_OK);
    got_clear(&g);
}

static void test_pg_changes(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    row r = {1, 1, 1, 1, 1, true, "x", NULL, 0};
    for (int i = 1; i <= 3; i++) assert_int_equal(insert_row(f->db, i, &r, &err), HC_OK);
    int64_t changes = -1, lim = 3;
    assert_int_equal(run(f->db, &touch_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 2);
    assert_int_equal(run(f->db, &count_sql, NULL, &changes, &err), HC_OK);   /* a SELECT: 0 */
    assert_true(changes == 0);
    lim = 0;
    assert_int_equal(run(f->db, &touch_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 0);
    SQL(del_sql, "t_delete", NULL, "DELETE FROM t WHERE id >= $1", HC_SQL_I64);
    lim = 2;
    assert_int_equal(run(f->db, &del_sql, &lim, &changes, &err), HC_OK);
    assert_true(changes == 2);
}

static void test_pg_bad_sql(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    hc_stmt *st = (hc_stmt *)&err;
    assert_int_equal(hc_db_begin(f->db, &missing_sql, &st, &err), HC_EDB);
    assert_null(st);
    assert_string_equal(err.message, "missing_select: relation \"missing\" does not exist");
    assert_int_equal(pg_nstmts(f->conn), 0);
    assert_int_equal(hc_db_begin(f->db, &missing_sql, &st, NULL), HC_EDB);
    int64_t n = -1;
    assert_int_equal(on_other_thread(f->db, &count_sql, 0, &n), HC_OK);
    assert_true(n == 0);
    pg_exec(f->conn, "CREATE TABLE missing (x int8); INSERT INTO missing VALUES (5)");
    int64_t arg = 5;
    assert_int_equal(query_i64(f->db, &missing_sql, &arg, &n, &err), HC_OK);
    assert_true(n == 5);

    /* Errors at run time, not at prepare time. */
    SQL(div_sql, "div", NULL, "SELECT 1 / $1", HC_SQL_I64);
    arg = 0;
    assert_int_equal(query_i64(f->db, &div_sql, &arg, &n, &err), HC_EDB);
    assert_string_equal(err.message, "div: division by zero");
    arg = 1;
    assert_int_equal(query_i64(f->db, &div_sql, &arg, &n, &err), HC_OK);
    assert_true(n == 1);
    SQL0(two_sql, "two", NULL, "SELECT 1; SELECT 2");
    assert_int_equal(run(f->db, &two_sql, NULL, NULL, &err), HC_EDB);
    assert_has(err.message, "two: cannot insert multiple commands into a prepared statement");
    SQL0(copy_sql, "copy", NULL, "COPY t TO STDOUT");
    assert_int_equal(run(f->db, &copy_sql, NULL, NULL, &err), HC_EDB);
    assert_string_equal(err.message, "copy: COPY is not supported");
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);   /* still usable */
    SQL0(liteonly_sql, "lite_only", "SELECT 1", NULL);
    assert_int_equal(run(f->db, &liteonly_sql, NULL, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "lite_only: no SQL text for PostgreSQL");
    static const unsigned char bad_types[] = {42};
    hc_sql badtype = {"bad_type", NULL, "SELECT $1", 1, bad_types};
    assert_int_equal(run(f->db, &badtype, &arg, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "bad_type: parameter 1 has no type (42)");
}

static void test_pg_constraint(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    row r = {1, 2, 3, 4, 5, false, "x", NULL, 0};
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_OK);
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_EDB);
    assert_string_equal(err.message, "t_insert: duplicate key value violates unique constraint"
                                     " \"t_pkey\" (Key (id)=(1) already exists.)");
    int64_t n = 0;
    assert_int_equal(on_other_thread(f->db, &count_sql, 0, &n), HC_OK);
    assert_true(n == 1);
    assert_int_equal(insert_row(f->db, 2, &r, &err), HC_OK);
}

static void test_pg_connection_dropped(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    row r = {1, 2, 3, 4, 5, false, "x", NULL, 0};
    assert_int_equal(insert_row(f->db, 1, &r, &err), HC_OK);
    int64_t n = 0;
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);
    int pid = PQbackendPID(f->conn);

    pg_kill(f);
    /* The call that meets the dead session fails, and crashes nothing. */
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_ECONN);
    assert_true(starts_with(err.message, "t_count: connection lost: "));
    assert_int_equal(PQstatus(f->conn), CONNECTION_BAD);
    /* The next resets the connection and prepares again. */
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);
    assert_true(n == 1);
    assert_int_not_equal(PQbackendPID(f->conn), pid);
    got g;
    assert_int_equal(read_row(f->db, 1, &g, false, &err), HC_OK);
    check_row(&g, &r);
    got_clear(&g);
    assert_int_equal(pg_nstmts(f->conn), 2);

    /* Killed between calls that both prepare: a fresh statement fails too,
       and then works. */
    pg_kill(f);
    assert_int_equal(insert_row(f->db, 2, &r, &err), HC_ECONN);
    assert_true(starts_with(err.message, "t_insert: connection lost: "));
    assert_int_equal(insert_row(f->db, 2, &r, &err), HC_OK);

    /* Under hc_db_lock the connection is not reset: a transaction must not
       carry on in a new session. After the unlock it is. */
    assert_int_equal(hc_db_lock(f->db), HC_OK);
    assert_int_equal(run(f->db, &begin_sql, NULL, NULL, &err), HC_OK);
    assert_int_equal(insert_row(f->db, 3, &r, &err), HC_OK);
    pg_kill(f);
    assert_int_equal(insert_row(f->db, 4, &r, &err), HC_ECONN);
    assert_int_equal(run(f->db, &commit_sql, NULL, NULL, &err), HC_ECONN);
    assert_true(starts_with(err.message, "tx_commit: connection lost (not reset while the hc_db is locked)"));
    assert_int_equal(hc_db_unlock(f->db), HC_OK);
    assert_int_equal(query_i64(f->db, &count_sql, NULL, &n, &err), HC_OK);
    assert_true(n == 2);                                    /* 3 was never committed */
}

static void test_pg_connection_gone_for_good(void **state)
{
    (void)pg_ready(state);
    /* A connection that never worked and never will: every call fails. */
    PGconn *dead = PQconnectdb("host=/nonexistent/hc_test_db port=1 connect_timeout=1");
    assert_int_equal(PQstatus(dead), CONNECTION_BAD);
    hc_db *db;
    hc_error err;
    /* Refused when it is wrapped, with libpq's own words for why. */
    db = (hc_db *)&err;
    assert_int_equal(hc_db_pg(&db, dead, &err), HC_ECONN);
    assert_null(db);
    assert_int_equal(err.code, HC_ECONN);
    assert_true(starts_with(err.message, "hc_db_pg: the connection is not open: "));
    assert_non_null(strstr(err.message, "nonexistent"));
    assert_int_equal(hc_db_pg(&db, dead, NULL), HC_ECONN);
    PQfinish(dead);
}

static void test_pg_threads(void **state)
{
    pg_fx *f = pg_ready(state);
    pg_exec(f->conn, "CREATE TABLE kv (k int8 PRIMARY KEY, v int8)");
    run_workers(f->db, kv_worker);
    assert_int_equal(pg_value(f->conn, "SELECT count(*) FROM kv"), THREADS * PER_THREAD);
}

static void test_pg_lock(void **state)
{
    pg_fx *f = pg_ready(state);
    hc_error err;
    pg_exec(f->conn, "CREATE TABLE counter (v int8); INSERT INTO counter VALUES (0)");
    run_workers(f->db, counter_worker);
    int64_t v = 0;
    assert_int_equal(query_i64(f->db, &counter_sql, NULL, &v, &err), HC_OK);
    assert_true(v == THREADS * TX_PER_THREAD);
    /* A rolled-back transaction leaves nothing. */
    assert_int_equal(hc_db_lock(f->db), HC_OK);
    int64_t next = 1000;
    assert_int_equal(run(f->db, &begin_sql, NULL, NULL, &err), HC_OK);
    assert_int_equal(run(f->db, &bump_sql, &next, NULL, &err), HC_OK);
    assert_int_equal(run(f->db, &rollback_sql, NULL, NULL, &err), HC_OK);
    assert_int_equal(hc_db_unlock(f->db), HC_OK);
    assert_int_equal(query_i64(f->db, &counter_sql, NULL, &v, &err), HC_OK);
    assert_true(v == THREADS * TX_PER_THREAD);
}

#define LT(fn) cmocka_unit_test_setup_teardown(fn, lite_setup, lite_teardown)
#define PT(fn) cmocka_unit_test_setup_teardown(fn, pg_setup, pg_teardown)

int main(void)
{
    const struct CMUnitTest lite[] = {
        LT(test_lite_types),
        LT(test_lite_range_errors),
        LT(test_lite_text_with_nul),
        LT(test_lite_prepare_once),
        LT(test_lite_changes),
        LT(test_lite_bad_sql),
        LT(test_lite_constraint),
        LT(test_lite_table_dropped),
        LT(test_lite_busy),
        LT(test_lite_not_a_database),
        LT(test_lite_misuse),
        LT(test_lite_threads),
        LT(test_lite_lock),
    };
    const struct CMUnitTest pg[] = {
        PT(test_pg_types),
        PT(test_pg_range_errors),
        PT(test_pg_prepare_once),
        PT(test_pg_deallocate_all),
        PT(test_pg_changes),
        PT(test_pg_bad_sql),
        PT(test_pg_constraint),
        PT(test_pg_connection_dropped),
        PT(test_pg_connection_gone_for_good),
        PT(test_pg_threads),
        PT(test_pg_lock),
    };
    int failed = cmocka_run_group_tests_name("db_sqlite", lite, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_postgres", pg, NULL, NULL);
    return failed ? 1 : 0;
}
