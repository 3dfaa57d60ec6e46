/*
** test_dao.c -- the query and exec code hcachegen writes (tests/dao/dao.hcache),
** run against a real SQLite file and a real PostgreSQL server.
**
** Every test runs twice, once per backend, on freshly created tables and a
** fresh cache. PostgreSQL comes from HC_PG_CONNINFO (scripts/pg.sh starts a
** throwaway server for `make check`); without it the PostgreSQL group is
** skipped when HC_SKIP_PG=1 and fails otherwise.
*/
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "dao.hc.h"

typedef struct fx {
    hc_db_kind kind;
    sqlite3 *lite;
    PGconn *pg;
    char dir[64], path[96];
    char info[1024];                /* PostgreSQL: the conninfo of pg */
    hc_db *db;
    hc_cache *c;
} fx;

static fx lite_fx = {.kind = HC_DB_SQLITE};
static fx pg_fx = {.kind = HC_DB_POSTGRES};

static const char lite_schema[] =
    "DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS gone;"
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,"
    "  score REAL NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank INTEGER);"
    "CREATE TABLE docs (id INTEGER PRIMARY KEY, body BLOB NOT NULL, size INTEGER NOT NULL, big INTEGER);"
    "INSERT INTO users VALUES (1, 'alice', 'alice@example.com', 9.5, 1, 1, NULL),"
    "  (2, 'bob', NULL, 7.25, 0, 1, 3), (3, 'carol', 'carol@example.com', 8.0, 1, 2, 1);";

static const char pg_schema[] =
    "SET client_min_messages = warning;"
    "DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS gone;"
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,"
    "  score DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank BIGINT);"
    "CREATE TABLE docs (id BIGINT PRIMARY KEY, body BYTEA NOT NULL, size BIGINT NOT NULL, big NUMERIC(20));"
    "INSERT INTO users VALUES (1, 'alice', 'alice@example.com', 9.5, true, 1, NULL),"
    "  (2, 'bob', NULL, 7.25, false, 1, 3), (3, 'carol', 'carol@example.com', 8.0, true, 2, 1);";

/* Run SQL on the backend's own connection, outside the generated code. */
static void raw(fx *f, const char *sql)
{
    if (f->kind == HC_DB_SQLITE) {
        char *msg = NULL;
        if (sqlite3_exec(f->lite, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("sqlite: %s: %s", sql, msg);
    } else {
        PGresult *r = PQexec(f->pg, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail_msg("pg: %s: %s", sql, PQerrorMessage(f->pg));
        PQclear(r);
    }
}

static int group_lite(void **state)
{
    snprintf(lite_fx.dir, sizeof lite_fx.dir, "/tmp/hc_dao.XXXXXX");
    if (!mkdtemp(lite_fx.dir)) return -1;
    snprintf(lite_fx.path, sizeof lite_fx.path, "%s/dao.db", lite_fx.dir);
    if (sqlite3_open(lite_fx.path, &lite_fx.lite) != SQLITE_OK) return -1;
    *state = &lite_fx;
    return 0;
}

static int group_lite_done(void **state)
{
    (void)state;
    sqlite3_close(lite_fx.lite);
    unlink(lite_fx.path);
    rmdir(lite_fx.dir);
    return 0;
}

/* The PostgreSQL group: its tables live in a schema of their own, named in
   the conninfo so that a reset connection still finds them. */
static int group_pg(void **state)
{
    *state = &pg_fx;
    const char *info = getenv("HC_PG_CONNINFO");
    if (!info || !*info) return 0;          /* each test skips or fails */
    PGconn *setup = PQconnectdb(info);
    if (PQstatus(setup) != CONNECTION_OK) {
        fprintf(stderr, "test_dao: cannot connect to '%s': %s", info, PQerrorMessage(setup));
        PQfinish(setup);
        return -1;
    }
    PQclear(PQexec(setup, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS hc_test_dao CASCADE; CREATE SCHEMA hc_test_dao"));
    PQfinish(setup);
    snprintf(pg_fx.info, sizeof pg_fx.info, "%s options='-csearch_path=hc_test_dao'", info);
    pg_fx.pg = PQconnectdb(pg_fx.info);
    if (PQstatus(pg_fx.pg) != CONNECTION_OK) {
        fprintf(stderr, "test_dao: %s", PQerrorMessage(pg_fx.pg));
        return -1;
    }
    return 0;
}

static int group_pg_done(void **state)
{
    (void)state;
    if (pg_fx.pg) {
        PQclear(PQexec(pg_fx.pg, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS hc_test_dao CASCADE"));
        PQfinish(pg_fx.pg);
    }
    return 0;
}

/* Per test: fresh tables, a fresh hc_db and a fresh cache. */
static int setup(void **state)
{
    fx *f = *state;
    if (f->kind == HC_DB_POSTGRES && !f->pg) return 0;
    raw(f, f->kind == HC_DB_SQLITE ? lite_schema : pg_schema);
    int rc = f->kind == HC_DB_SQLITE ? hc_db_sqlite(&f->db, f->lite, NULL) : hc_db_pg(&f->db, f->pg, NULL);
    if (rc != HC_OK) return -1;
    return hc_cache_open(&f->c, NULL) == HC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    fx *f = *state;
    hc_cache_close(f->c);
    hc_db_free(f->db);
    f->c = NULL;
    f->db = NULL;
    return 0;
}

/* The fixture, or skip (HC_SKIP_PG=1) / fail when there is no server. */
static fx *ready(void **state)
{
    fx *f = *state;
    if (f->kind == HC_DB_POSTGRES && !f->pg) {
        const char *s = getenv("HC_SKIP_PG");
        if (s && strcmp(s, "1") == 0) skip();
        fail_msg("no PostgreSQL: run under scripts/pg.sh (make check does) or set HC_SKIP_PG=1");
    }
    return f;
}

static uint64_t stats_of_bus(hc_cache *c)
{
    hc_stats s;
    hc_stats_get(c, &s);
    return s.bus_published;
}

static hc_stats stats(fx *f)
{
    hc_stats s;
    hc_stats_get(f->c, &s);
    return s;
}

/* ---------------------------------------------------------------- reads */

static void test_optional_row(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    hc_error err;
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, &err), HC_OK);
    assert_int_equal(u.id, 1);
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.email, "alice@example.com");
    assert_true(u.score == 9.5);
    assert_true(u.active);
    assert_int_equal(u.team, 1);
    assert_true(u.rank_is_null);
    assert_int_equal(dao_user_by_id(f->c, f->db, 2, &u, &err), HC_OK);   /* reuses u: no leak */
    assert_string_equal(u.name, "bob");
    assert_null(u.email);
    assert_false(u.active);
    assert_false(u.rank_is_null);
    assert_int_equal(u.rank, 3);
    assert_int_equal(stats(f).loads, 2);

    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, &err), HC_OK);   /* a hit */
    assert_string_equal(u.name, "alice");
    hc_stats s = stats(f);
    assert_int_equal(s.loads, 2);
    assert_int_equal(s.hits, 1);
    dao_user_clear(&u);
}

static void test_absence_is_cached(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    assert_int_equal(dao_user_by_id(f->c, f->db, 99, &u, NULL), HC_MISS);
    raw(f, "INSERT INTO users (id, name, score, active, team_id) VALUES (99, 'zed', 1, true, 3)");
    /* Written behind the cache's back: the cached absence still answers. */
    assert_int_equal(dao_user_by_id(f->c, f->db, 99, &u, NULL), HC_MISS);
    assert_int_equal(stats(f).loads, 1);
    /* The collection tag "users" drops it. */
    assert_int_equal(dao_user_invalidate_all(f->c), HC_OK);
    assert_int_equal(dao_user_by_id(f->c, f->db, 99, &u, NULL), HC_OK);
    assert_string_equal(u.name, "zed");
    dao_user_clear(&u);
}

static void test_exactly_one_row(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    hc_error err;
    assert_int_equal(dao_user_must(f->c, f->db, 3, &u, &err), HC_OK);
    assert_string_equal(u.name, "carol");
    assert_int_equal(dao_user_must(f->c, f->db, 42, &u, &err), HC_ENOTFOUND);
    assert_non_null(strstr(err.message, "dao_user_must: no row"));
    assert_false(hc_contains(f->c, "dao:must:42"));            /* nothing cached */
    assert_string_equal(u.name, "carol");                      /* out untouched */
    assert_int_equal(dao_user_must(f->c, f->db, 42, &u, &err), HC_ENOTFOUND);
    assert_int_equal(stats(f).load_failures, 2);
    dao_user_clear(&u);
}

static void test_lists(void **state)
{
    fx *f = ready(state);
    dao_user_list l = {0};
    assert_int_equal(dao_users_in_team(f->c, f->db, 1, &l, NULL), HC_OK);
    assert_int_equal(l.len, 2);
    assert_string_equal(l.items[0].name, "alice");
    assert_string_equal(l.items[1].name, "bob");
    assert_int_equal(dao_users_in_team(f->c, f->db, 7, &l, NULL), HC_OK);
    assert_int_equal(l.len, 0);
    assert_int_equal(dao_users_in_team(f->c, f->db, 7, &l, NULL), HC_OK);  /* the empty list is cached */
    assert_int_equal(l.len, 0);
    hc_stats s = stats(f);
    assert_int_equal(s.loads, 2);
    assert_int_equal(s.hits, 1);

    dao_text_list names = {0};
    assert_int_equal(dao_team_names(f->c, f->db, 1, &names, NULL), HC_OK);
    assert_int_equal(names.len, 2);
    assert_string_equal(names.items[0], "alice");
    assert_string_equal(names.items[1], "bob");
    dao_text_list_clear(&names);
    dao_user_list_clear(&l);
}

static void test_scalars(void **state)
{
    fx *f = ready(state);
    int64_t n = 0;
    double best = 0;
    char *s = NULL;
    hc_error err;
    assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(dao_best_score(f->c, f->db, 1, &best, &err), HC_OK);
    assert_true(best == 9.5);
    /* max() over no rows is one row holding NULL: "none", cached. */
    assert_int_equal(dao_best_score(f->c, f->db, 7, &best, &err), HC_MISS);
    assert_int_equal(dao_best_score(f->c, f->db, 7, &best, &err), HC_MISS);
    assert_int_equal(dao_user_name(f->c, f->db, 3, &s, &err), HC_OK);
    assert_string_equal(s, "carol");
    assert_int_equal(dao_user_name(f->c, f->db, 5, &s, &err), HC_MISS);
    assert_string_equal(s, "carol");
    /* One declaration, a statement per dialect. */
    assert_int_equal(dao_label(f->c, f->db, 2, &s, &err), HC_OK);
    assert_string_equal(s, "bob:2");
    free(s);
}

static void test_direct_bypasses_the_cache(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    int64_t n = 0;
    assert_int_equal(dao_user_by_id_direct(f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "alice");
    assert_int_equal(dao_user_by_id_direct(f->db, 99, &u, NULL), HC_MISS);
    assert_int_equal(dao_user_count_direct(f->db, &n, NULL), HC_OK);
    assert_int_equal(n, 3);
    hc_diagnostics d;
    hc_diagnostics_get(f->c, &d);
    assert_int_equal(d.entries, 0);
    assert_int_equal(hc_stats_total_requests(&d.stats), 0);
    assert_int_equal(dao_user_by_id_direct(NULL, 1, &u, NULL), HC_EINVAL);
    dao_user_clear(&u);
}

static void test_types_round_trip(void **state)
{
    fx *f = ready(state);
    static const uint8_t bytes[] = {0x00, 0xff, 0x5c, 0x78, 0x27, 0x00, 0x01};
    hc_bytes body = {(uint8_t *)bytes, sizeof bytes};
    uint64_t big = f->kind == HC_DB_POSTGRES ? UINT64_MAX : (uint64_t)INT64_MAX;
    int64_t changes = -1;
    hc_error err;
    assert_int_equal(dao_put_doc(f->c, f->db, 1, body, UINT32_MAX, &big, &changes, &err), HC_OK);
    assert_int_equal(changes, 1);
    assert_int_equal(dao_put_doc(f->c, f->db, 2, (hc_bytes){NULL, 0}, 0, NULL, NULL, &err), HC_OK);

    dao_doc d = {0};
    assert_int_equal(dao_doc_by_id(f->c, f->db, 1, &d, &err), HC_OK);
    assert_int_equal(d.body.len, sizeof bytes);
    assert_memory_equal(d.body.data, bytes, sizeof bytes);
    assert_int_equal(d.size, UINT32_MAX);
    assert_false(d.big_is_null);
    assert_true(d.big == big);
    assert_int_equal(dao_doc_by_id(f->c, f->db, 2, &d, &err), HC_OK);
    assert_int_equal(d.body.len, 0);
    assert_null(d.body.data);
    assert_true(d.big_is_null);
    dao_doc_clear(&d);

    /* A blob as a query's result (its generated code did not compile):
       loaded, then from the cache, over a value held before; a missing
       row is "none" for blob? and an error for blob. */
    hc_bytes b = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dao_doc_body(f->c, f->db, 1, &b, &err), HC_OK);
        assert_int_equal(b.len, sizeof bytes);
        assert_memory_equal(b.data, bytes, sizeof bytes);
        assert_int_equal(dao_doc_body_must(f->c, f->db, 1, &b, &err), HC_OK);
        assert_int_equal(b.len, sizeof bytes);
    }
    assert_true(hc_contains(f->c, "dao:doc-must:1"));
    assert_int_equal(dao_doc_body(f->c, f->db, 99, &b, &err), HC_MISS);
    assert_int_equal(b.len, sizeof bytes);                  /* left as it was */
    assert_int_not_equal(dao_doc_body_must(f->c, f->db, 99, &b, &err), HC_OK);
    free(b.data);

    /* Nullable parameters: a NULL pointer binds NULL. */
    int64_t rank = 12;
    assert_int_equal(dao_add_user(f->c, f->db, 10, "dora", NULL, -0.5, false, 4, &rank, NULL, &err), HC_OK);
    assert_int_equal(dao_add_user(f->c, f->db, 11, "ed", "ed@example.com", 1e300, true, 4, NULL, NULL, &err), HC_OK);
    dao_user_list l = {0};
    assert_int_equal(dao_users_in_team(f->c, f->db, 4, &l, &err), HC_OK);
    assert_int_equal(l.len, 2);
    assert_null(l.items[0].email);
    assert_false(l.items[0].rank_is_null);
    assert_int_equal(l.items[0].rank, 12);
    assert_true(l.items[0].score == -0.5);
    assert_string_equal(l.items[1].email, "ed@example.com");
    assert_true(l.items[1].rank_is_null);
    assert_true(l.items[1].score == 1e300);
    dao_user_list_clear(&l);
}

/* --------------------------------------------------------------- writes */

static void test_exec_invalidates(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    dao_user_list l = {0};
    int64_t n = 0, changes = 0;
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_int_equal(dao_users_in_team(f->c, f->db, 2, &l, NULL), HC_OK);
    assert_int_equal(dao_user_count(f->c, f->db, &n, NULL), HC_OK);

    assert_int_equal(dao_rename_user(f->c, f->db, 1, "alicia", &changes, NULL), HC_OK);
    assert_int_equal(changes, 1);
    assert_false(hc_contains(f->c, "dao:user:1"));              /* tag user:1 */
    assert_false(hc_contains(f->c, "dao:team:2:users"));        /* tag users */
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "alicia");

    /* A statement that changes nothing still succeeded, and invalidates. */
    assert_int_equal(dao_rename_user(f->c, f->db, 404, "nobody", &changes, NULL), HC_OK);
    assert_int_equal(changes, 0);

    /* invalidates nothing: the cache keeps everything. */
    assert_int_equal(dao_user_count(f->c, f->db, &n, NULL), HC_OK);
    assert_int_equal(dao_touch_all(f->c, f->db, &changes, NULL), HC_OK);
    assert_int_equal(changes, 3);
    assert_true(hc_contains(f->c, "dao:user_count"));
    dao_user_clear(&u);
    dao_user_list_clear(&l);
}

static void test_failed_exec_invalidates_nothing(void **state)
{
    fx *f = ready(state);
    int64_t n = 0, changes = 77;
    hc_error err;
    assert_int_equal(dao_user_count(f->c, f->db, &n, NULL), HC_OK);
    /* "bob" is taken: a UNIQUE violation. */
    assert_int_equal(dao_add_user(f->c, f->db, 20, "bob", NULL, 1, true, 1, NULL, &changes, &err), HC_EDB);
    assert_int_equal(err.code, HC_EDB);
    assert_non_null(strstr(err.message, "dao_add_user"));
    assert_true(strstr(err.message, "UNIQUE") || strstr(err.message, "unique"));
    assert_int_equal(changes, 77);
    assert_true(hc_contains(f->c, "dao:user_count"));           /* still cached */
    /* The next write works. */
    assert_int_equal(dao_add_user(f->c, f->db, 20, "bobby", NULL, 1, true, 1, NULL, &changes, &err), HC_OK);
    assert_false(hc_contains(f->c, "dao:user_count"));
    assert_int_equal(dao_user_count(f->c, f->db, &n, NULL), HC_OK);
    assert_int_equal(n, 4);
}

static hc_cache *open_on(hc_bus *bus, const char *node)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "dao";
    cfg.node_id = node;
    cfg.bus = bus;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

/*
** A write through generated exec code with a bus: another cache hears of
** it only if it succeeded. On PostgreSQL each cache has a PostgreSQL bus
** of its own (as two processes would), so the statement and its
** notifications commit together; on SQLite they share a memory bus.
*/
static void test_exec_on_a_bus(void **state)
{
    fx *f = ready(state);
    hc_bus *ba, *bb;
    hc_error err;
    if (f->kind == HC_DB_POSTGRES) {
        char chan[32];
        snprintf(chan, sizeof chan, "hc_dao_%ld", (long)getpid());
        assert_int_equal(hc_bus_pg_new(&ba, getenv("HC_PG_CONNINFO"), chan, &err), HC_OK);
        assert_int_equal(hc_bus_pg_new(&bb, getenv("HC_PG_CONNINFO"), chan, &err), HC_OK);
    } else {
        assert_int_equal(hc_bus_memory_new(&ba, 0), HC_OK);
        bb = ba;
    }
    hc_cache *a = open_on(ba, "a"), *b = open_on(bb, "b");
    dao_user u = {0};
    int64_t n = 0, changes = 0;
    assert_int_equal(dao_user_by_id(b, f->db, 1, &u, NULL), HC_OK);
    assert_int_equal(dao_user_count(b, f->db, &n, NULL), HC_OK);

    /* A failed write (UNIQUE) publishes nothing... */
    assert_int_equal(dao_add_user(a, f->db, 20, "bob", NULL, 1, true, 1, NULL, &changes, &err), HC_EDB);
    assert_int_equal(stats_of_bus(a), 0);
    /* ... and one that succeeds reaches b: tags "user:1" and "users". */
    assert_int_equal(dao_rename_user(a, f->db, 1, "alicia", &changes, &err), HC_OK);
    assert_int_equal(changes, 1);
    assert_int_equal(stats_of_bus(a), 2);
    test_expect_gone(b, "dao:user:1");
    test_expect_gone(b, "dao:user_count");
    assert_int_equal(dao_user_by_id(b, f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "alicia");
    if (f->kind == HC_DB_POSTGRES) {
        /* The transaction is over, and the write is there. */
        assert_int_equal(PQtransactionStatus(f->pg), PQTRANS_IDLE);
    }
    dao_user_clear(&u);
    hc_cache_close(a);
    hc_cache_close(b);
    hc_bus_free(ba);
    if (bb != ba) hc_bus_free(bb);
}

/* --------------------------------------- invalidation after commit */

/* A second connection to the fixture's database, and its hc_db. */
typedef struct conn2 {
    sqlite3 *lite;
    PGconn *pg;
    hc_db *db;
} conn2;

static void other_open(fx *f, conn2 *o)
{
    memset(o, 0, sizeof *o);
    if (f->kind == HC_DB_SQLITE) {
        assert_int_equal(sqlite3_open_v2(f->path, &o->lite, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(hc_db_sqlite(&o->db, o->lite, NULL), HC_OK);
    } else {
        o->pg = PQconnectdb(f->info);
        assert_int_equal(PQstatus(o->pg), CONNECTION_OK);
        assert_int_equal(hc_db_pg(&o->db, o->pg, NULL), HC_OK);
    }
}

static void other_close(conn2 *o)
{
    hc_db_free(o->db);
    sqlite3_close(o->lite);
    PQfinish(o->pg);
}

/* User 1's name, read through the cache on db. */
static const char *name_via(hc_cache *c, hc_db *db, dao_user *u)
{
    assert_int_equal(dao_user_by_id(c, db, 1, u, NULL), HC_OK);
    return u->name;
}

/* After a transaction ended: what the cache holds for user 1, if anything,
   is what the database holds. */
static void expect_fresh(hc_cache *c, hc_db *db, const char *name)
{
    dao_user cached = {0}, direct = {0};
    assert_int_equal(dao_user_by_id_direct(db, 1, &direct, NULL), HC_OK);
    assert_string_equal(direct.name, name);
    if (dao_user_get(c, 1, &cached) == HC_OK) assert_string_equal(cached.name, direct.name);
    dao_user_clear(&cached);
    dao_user_clear(&direct);
}

/* The application's transaction on the writing connection, under
   hc_db_lock as the header asks of a shared hc_db. */
static void tx_begin(fx *f)
{
    assert_int_equal(hc_db_lock(f->db), HC_OK);
    raw(f, "BEGIN");
}

static void tx_end(fx *f, const char *how)
{
    raw(f, how);
    assert_int_equal(hc_db_unlock(f->db), HC_OK);
}

/*
** An exec inside the application's transaction: another connection (or
** the writing one) reads before the write, between the write and the end,
** or after; the transaction commits or rolls back. Whatever the order,
** once it has ended the cache holds nothing that differs from the
** database. On SQLite and on PostgreSQL, without a bus and with one (the
** PostgreSQL bus then carries the write's notifications in the
** transaction).
*/
static void test_invalidation_after_commit(void **state)
{
    fx *f = ready(state);
    for (int with_bus = 0; with_bus < 2; with_bus++) {
        hc_bus *bus = NULL;
        hc_error err;
        if (with_bus && f->kind == HC_DB_POSTGRES) {
            char chan[32];
            snprintf(chan, sizeof chan, "hc_dao_tx_%ld", (long)getpid());
            assert_int_equal(hc_bus_pg_new(&bus, getenv("HC_PG_CONNINFO"), chan, &err), HC_OK);
        } else if (with_bus) {
            assert_int_equal(hc_bus_memory_new(&bus, 0), HC_OK);
        }
        hc_cache *c = open_on(bus, "w");
        conn2 r;
        other_open(f, &r);
        dao_user u = {0};
        const char *fresh = with_bus ? "alice" : "y0";
        raw(f, with_bus ? "UPDATE users SET name = 'alice' WHERE id = 1"
                        : "UPDATE users SET name = 'y0' WHERE id = 1");

        /* Read before the write; commit. */
        assert_string_equal(name_via(c, r.db, &u), fresh);
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n1", NULL, &err), HC_OK);
        tx_end(f, "COMMIT");
        expect_fresh(c, r.db, "n1");
        assert_string_equal(name_via(c, r.db, &u), "n1");

        /* Another connection reads between the write and the commit: the
           row as committed before, which must not outlive the commit. */
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n2", NULL, &err), HC_OK);
        assert_string_equal(name_via(c, r.db, &u), "n1");
        tx_end(f, "COMMIT");
        expect_fresh(c, r.db, "n2");
        assert_string_equal(name_via(c, r.db, &u), "n2");

        /* The writing connection reads its own uncommitted write, then
           rolls back: what it read must not stay cached. */
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n3", NULL, &err), HC_OK);
        assert_string_equal(name_via(c, f->db, &u), "n3");
        tx_end(f, "ROLLBACK");
        expect_fresh(c, r.db, "n2");
        assert_string_equal(name_via(c, r.db, &u), "n2");

        /* Another connection reads between the write and a rollback. */
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n4", NULL, &err), HC_OK);
        assert_string_equal(name_via(c, r.db, &u), "n2");
        tx_end(f, "ROLLBACK");
        expect_fresh(c, r.db, "n2");

        /* The writing connection reads its own write, then commits. */
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n4c", NULL, &err), HC_OK);
        assert_string_equal(name_via(c, f->db, &u), "n4c");
        tx_end(f, "COMMIT");
        expect_fresh(c, r.db, "n4c");
        assert_string_equal(name_via(c, r.db, &u), "n4c");

        /* Read after the commit. */
        tx_begin(f);
        assert_int_equal(dao_rename_user(c, f->db, 1, "n5", NULL, &err), HC_OK);
        tx_end(f, "COMMIT");
        assert_string_equal(name_via(c, r.db, &u), "n5");
        expect_fresh(c, r.db, "n5");

        /* A transaction run on the connection without hc_db_lock: its end
           is seen at the next call on the writing hc_db; meanwhile nothing
           stale is kept, because the tags stay held. */
        raw(f, "BEGIN");
        assert_int_equal(dao_rename_user(c, f->db, 1, "n6", NULL, &err), HC_OK);
        assert_string_equal(name_via(c, r.db, &u), "n5");
        raw(f, "COMMIT");
        expect_fresh(c, r.db, "n6");
        assert_string_equal(name_via(c, r.db, &u), "n6");
        int64_t n;
        assert_int_equal(dao_user_count(c, f->db, &n, NULL), HC_OK);   /* sees the end */
        assert_string_equal(name_via(c, r.db, &u), "n6");
        assert_int_equal(dao_user_get(c, 1, &u), HC_OK);                 /* cached again */
        assert_string_equal(u.name, "n6");

        /* On SQLite a rollback is seen at once (the adapter's rollback
           hook), even without a call on the writing hc_db. */
        raw(f, "BEGIN");
        assert_int_equal(dao_rename_user(c, f->db, 1, "n7", NULL, &err), HC_OK);
        raw(f, "ROLLBACK");
        expect_fresh(c, r.db, "n6");
        assert_string_equal(name_via(c, r.db, &u), "n6");
        if (f->kind == HC_DB_SQLITE) assert_int_equal(dao_user_get(c, 1, &u), HC_OK);
        assert_int_equal(dao_user_count(c, f->db, &n, NULL), HC_OK);

        dao_user_clear(&u);
        other_close(&r);
        hc_cache_close(c);
        hc_bus_free(bus);
    }
}

/*
** A cache closed while a transaction that wrote through it is open (the
** order examples/shop closes things in): what the hc_db later sees of the
** transaction's end no longer reaches the cache. Before the fix, the
** commit seen at the next call (and, on SQLite, a rollback through the
** adapter's hook) released the holds into the freed cache (ASan:
** heap-use-after-free in hc__cache_release).
*/
static void test_cache_closed_before_the_end(void **state)
{
    fx *f = ready(state);
    hc_error err;
    dao_user u = {0};
    for (int end = 0; end < 2; end++) {
        hc_cache *c = open_on(NULL, "closing");
        raw(f, "BEGIN");
        assert_int_equal(dao_rename_user(c, f->db, 1, end ? "closed-rb" : "closed", NULL, &err), HC_OK);
        if (end == 0) raw(f, "COMMIT");
        hc_cache_close(c);
        if (end == 1) raw(f, "ROLLBACK");
        /* The next call on the hc_db sees the end, with nothing to release. */
        assert_int_equal(dao_user_by_id_direct(f->db, 1, &u, NULL), HC_OK);
        assert_string_equal(u.name, "closed");
    }
    /* The fixture's cache, open all along, still gets its release: the
       read that sees the end is raced by it (not stored), the next one is
       cached, which a tag still held would forbid. */
    raw(f, "BEGIN");
    assert_int_equal(dao_rename_user(f->c, f->db, 1, "open", NULL, &err), HC_OK);
    raw(f, "COMMIT");
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "open");
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_int_equal(dao_user_get(f->c, 1, &u), HC_OK);
    assert_string_equal(u.name, "open");
    dao_user_clear(&u);
}

/* ----------------------------------------------------------- failures */

static void test_bad_sql_at_run_time(void **state)
{
    fx *f = ready(state);
    int64_t v = 0;
    dao_user u = {0};
    hc_error err;
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_int_equal(dao_gone(f->c, f->db, 1, &v, &err), HC_EDB);
    assert_non_null(strstr(err.message, "dao_gone"));
    assert_non_null(strstr(err.message, "gone"));
    assert_false(hc_contains(f->c, "dao:gone:1"));
    /* The cache keeps serving other keys, and the database other queries. */
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_int_equal(stats(f).hits, 1);
    int64_t n = 0;
    assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_OK);
    /* Once the table exists, the same call works. */
    raw(f, "CREATE TABLE gone (id BIGINT); INSERT INTO gone VALUES (1)");
    assert_int_equal(dao_gone(f->c, f->db, 1, &v, &err), HC_OK);
    assert_int_equal(v, 1);
    dao_user_clear(&u);
}

/* PostgreSQL: the server ends the session. SQLite: another connection
   holds the write lock. Either way the call fails with HC_EDB, stores or
   invalidates nothing, and the next call after recovery works. */
static void test_database_goes_away(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    int64_t n = 0;
    hc_error err;
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    if (f->kind == HC_DB_POSTGRES) {
        PGconn *killer = PQconnectdb(getenv("HC_PG_CONNINFO"));
        assert_int_equal(PQstatus(killer), CONNECTION_OK);
        char sql[96];
        int pid = PQbackendPID(f->pg);
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
        PGresult *r = PQexec(killer, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
        /* Wait until the backend is gone (bounded), not for a while. */
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
        for (int i = 0;; i++) {
            r = PQexec(killer, sql);
            assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
            bool gone = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
            PQclear(r);
            if (gone) break;
            if (i == 20000) fail_msg("backend %d did not exit", pid);
            test_nap_ms(1);
        }
        PQfinish(killer);
        /* A lost connection, told apart from a failed statement. */
        assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_ECONN);
        assert_non_null(strstr(err.message, "dao_user_count"));
        assert_non_null(strstr(err.message, "connection lost"));
        assert_false(hc_contains(f->c, "dao:user_count"));
    } else {
        sqlite3 *other;
        assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(dao_rename_user(f->c, f->db, 1, "alicia", NULL, &err), HC_EDB);
        assert_non_null(strstr(err.message, "locked"));
        assert_true(hc_contains(f->c, "dao:user:1"));           /* nothing invalidated */
        assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_EDB);
        assert_false(hc_contains(f->c, "dao:user_count"));
        sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(other);
    }
    /* Meanwhile the cache serves what it holds. */
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "alice");
    /* The database is back: the next call works. */
    assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(dao_rename_user(f->c, f->db, 1, "alicia", NULL, &err), HC_OK);
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, &u, NULL), HC_OK);
    assert_string_equal(u.name, "alicia");
    dao_user_clear(&u);
}

/* The database let a NULL into a column whose entity field is not
   nullable (the schema drifted from the .hcache): the error names the
   field and says how to accept NULL, and nothing is cached. */
static void test_null_in_a_field_not_nullable(void **state)
{
    fx *f = ready(state);
    if (f->kind == HC_DB_SQLITE)
        raw(f, "DROP TABLE users;"
               "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT,"
               "  score REAL NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER, rank INTEGER);"
               "INSERT INTO users VALUES (7, NULL, NULL, 1.0, 1, 1, NULL), (8, 'h', NULL, 1.0, 1, NULL, NULL)");
    else
        raw(f, "ALTER TABLE users ALTER COLUMN name DROP NOT NULL, ALTER COLUMN team_id DROP NOT NULL;"
               "INSERT INTO users VALUES (7, NULL, NULL, 1.0, true, 1, NULL), (8, 'h', NULL, 1.0, true, NULL, NULL)");
    dao_user u = {0};
    hc_error err;
    assert_int_equal(dao_user_by_id(f->c, f->db, 7, &u, &err), HC_EDB);
    assert_string_equal(err.message, "dao_user_by_id: column 1 ('name'): NULL in 'user.name', which is not "
                                     "declared nullable (declare it 'name: text?' to accept NULL)");
    assert_false(hc_contains(f->c, "dao:user:7"));
    assert_int_equal(dao_user_by_id_direct(f->db, 8, &u, &err), HC_EDB);
    assert_string_equal(err.message, "dao_user_by_id: column 5 ('team_id'): NULL in 'user.team', which is not "
                                     "declared nullable (declare it 'team: i32?' to accept NULL)");
    /* In a list too, and the statement forgets the names when it ends. */
    dao_user_list l = {0};
    raw(f, "UPDATE users SET team_id = 9 WHERE id = 7");
    assert_int_equal(dao_users_in_team(f->c, f->db, 9, &l, &err), HC_EDB);
    assert_non_null(strstr(err.message, "NULL in 'user.name'"));
    int64_t n = 0;
    assert_int_equal(dao_user_count(f->c, f->db, &n, &err), HC_OK);
    assert_int_equal(n, f->kind == HC_DB_SQLITE ? 2 : 5);
    dao_user_clear(&u);
}

/* Argument errors name the function and the argument. */
static void test_bad_arguments(void **state)
{
    fx *f = ready(state);
    dao_user u = {0};
    hc_error err;
    assert_int_equal(dao_user_by_id(NULL, f->db, 1, &u, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_user_by_id: argument 'c' is NULL");
    assert_int_equal(dao_user_by_id(f->c, NULL, 1, &u, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_user_by_id: argument 'db' is NULL");
    assert_int_equal(dao_user_by_id(f->c, f->db, 1, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_user_by_id: argument 'out' is NULL");
    assert_int_equal(dao_user_by_id(f->c, NULL, 1, &u, NULL), HC_EINVAL);
    assert_int_equal(dao_user_by_id_direct(NULL, 1, &u, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_user_by_id_direct: argument 'db' is NULL");
    assert_int_equal(dao_rename_user(f->c, f->db, 1, NULL, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_rename_user: argument 'name' is NULL");
    assert_int_equal(dao_rename_user(NULL, f->db, 1, "x", NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_rename_user: argument 'c' is NULL");
    assert_int_equal(dao_rename_user(f->c, NULL, 1, "x", NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_rename_user: argument 'db' is NULL");
    assert_int_equal(dao_put_doc(f->c, f->db, 1, (hc_bytes){NULL, 3}, 0, NULL, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_put_doc: argument 'body' has a length and no data");
    assert_int_equal(dao_label(f->c, f->db, 1, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "dao_label: argument 'out' is NULL");
}

/* ------------------------------------------------------------ freshness */

static bool refreshed(void *arg)
{
    hc_stats s;
    hc_stats_get(arg, &s);
    return s.refreshes >= 1;
}

/*
** A query with refresh and stale if error on a cache with an injected
** clock: a write behind the cache's back shows once the refresh, run on
** the refresh thread with the same hc_db, has replaced the entry; the
** caller that started it got the old value at once. Past the TTL, with
** the statement failing (its column renamed), the last value stands in.
*/
static void test_refresh_and_stale(void **state)
{
    fx *f = ready(state);
    hc_cache_close(f->c);
    test_clock tc = {0};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    assert_int_equal(hc_cache_open(&f->c, &cfg), HC_OK);
    double v = 0;
    hc_error err;
    assert_int_equal(dao_user_score(f->c, f->db, 1, &v, &err), HC_OK);
    assert_true(v == 9.5);
    raw(f, "UPDATE users SET score = 1.25 WHERE id = 1");
    test_clock_advance(&tc, 60000);
    assert_int_equal(dao_user_score(f->c, f->db, 1, &v, &err), HC_OK);
    assert_true(v == 9.5);
    /* raw() shares the connection: wait for the refresh before using it. */
    if (!test_wait_until(refreshed, f->c)) fail_msg("the refresh never ran");
    assert_int_equal(dao_user_score(f->c, f->db, 1, &v, &err), HC_OK);
    assert_true(v == 1.25);
    hc_decl_stats ds;
    assert_int_equal(hc_decl_stats_get(f->c, "dao", "user_score", &ds), HC_OK);
    assert_int_equal(ds.refreshes, 1);
    assert_int_equal(ds.loads, 2);

    raw(f, "ALTER TABLE users RENAME COLUMN score TO points");
    test_clock_advance(&tc, 11 * 60000);                /* past the TTL, in the window */
    assert_int_equal(dao_user_score(f->c, f->db, 1, &v, &err), HC_OK);
    assert_true(v == 1.25);
    assert_int_equal(err.code, HC_OK);
    assert_non_null(strstr(err.message, "stale value served: dao_user_score"));
    assert_int_equal(stats(f).stale_served, 1);
    raw(f, "ALTER TABLE users RENAME COLUMN points TO score");
    assert_int_equal(dao_user_score(f->c, f->db, 1, &v, &err), HC_OK);
    assert_true(v == 1.25);
    assert_int_equal(err.message[0], 0);                /* a real load this time */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_optional_row),
        T(test_absence_is_cached),
        T(test_exactly_one_row),
        T(test_lists),
        T(test_scalars),
        T(test_direct_bypasses_the_cache),
        T(test_types_round_trip),
        T(test_exec_invalidates),
        T(test_failed_exec_invalidates_nothing),
        T(test_exec_on_a_bus),
        T(test_invalidation_after_commit),
        T(test_cache_closed_before_the_end),
        T(test_bad_sql_at_run_time),
        T(test_database_goes_away),
        T(test_null_in_a_field_not_nullable),
        T(test_bad_arguments),
        T(test_refresh_and_stale),
    };
    int failed = cmocka_run_group_tests_name("dao_sqlite", tests, group_lite, group_lite_done);
    failed += cmocka_run_group_tests_name("dao_postgres", tests, group_pg, group_pg_done);
    return failed ? 1 : 0;
}
