/*
** backend.c -- where each profile keeps the demo's rows.
**
**   memory         an in-process store under a mutex, filled from the
**                  SQLite seeds (run on a scratch in-memory database, so
**                  every profile starts from the same rows)
**   sqlite-memory  one in-memory SQLite connection
**   sqlite-file    one SQLite file
**   postgres       one PostgreSQL connection whose search_path is the
**                  sandbox's schema (passed as a connection option, so it
**                  survives the reset hc_db does after a lost connection)
**
** A database backend has one connection and one hc_db over it, shared by
** every thread: the generated code serializes its statements on the
** hc_db's mutex, and the sandbox's own statements (migrations, seeds, row
** counts) run under hc_db_lock. Migrations and seeds are the .sql files of
** data_dir/migrations/<dialect> and data_dir/seeds/<dialect>, in file-name
** order; sandbox_migrations records the migrations applied.
*/
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sandbox.h"
#include "sandbox.hc.h"

typedef struct mem_user { int64_t id; char *name, *email, *team; } mem_user;
typedef struct mem_product { int64_t id; char *name, *category; double price; int32_t stock; } mem_product;
typedef struct mem_order { int64_t id, user_id; char *status; } mem_order;
typedef struct mem_item { int64_t order_id, product_id; int64_t quantity; } mem_item;

typedef struct mem_store {
    pthread_mutex_t mu;
    mem_user    *users;    size_t nusers;
    mem_product *products; size_t nproducts;
    mem_order   *orders;   size_t norders;
    mem_item    *items;    size_t nitems;
} mem_store;

struct sb_backend {
    char       kind[16];            /* memory, sqlite, postgres */
    char       profile[32];
    char       data_dir[1024];
    char       sqlite_path[1024];
    char       schema[64];
    char      *conninfo;
    sqlite3   *lite;
    PGconn    *pg;
    hc_db     *db;
    mem_store *mem;
};

static const char *dialect(const sb_backend *b)
{
    return strcmp(b->kind, "postgres") == 0 ? "postgres" : "sqlite";
}

/* ------------------------------------------------------------ .sql files */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .sql files of dir, sorted, as a NULL-terminated array (malloc'd, as
   are its strings). NULL when the directory cannot be read. */
static char **sql_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = calloc(1, sizeof *v);
    size_t n = 0;
    for (struct dirent *de; v && (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0 || de->d_name[0] == '.') continue;
        char **p = realloc(v, (n + 2) * sizeof *v);
        if (!p) break;
        v = p;
        v[n++] = strdup(de->d_name);
        v[n] = NULL;
    }
    closedir(d);
    if (v && n) qsort(v, n, sizeof *v, cmp_str);
    return v;
}

static void free_files(char **v)
{
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static char *read_sql(const sb_backend *b, const char *kind, const char *file, sb_err *e)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/%s/%s/%s", b->data_dir, kind, dialect(b), file);
    char *sql = sb_slurp(path, 1 << 20, NULL);
    if (!sql) sb_fail(e, 500, "data_missing", "cannot read '%s': %s", path, strerror(errno));
    return sql;
}

/* ---------------------------------------------------- running statements */

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = 0;
}

/* Run sql (several statements) on the backend's connection; the caller
   holds hc_db_lock. */
static int run_sql(sb_backend *b, const char *sql, const char *what, sb_err *e)
{
    if (b->lite) {
        char *msg = NULL;
        if (sqlite3_exec(b->lite, sql, NULL, NULL, &msg) != SQLITE_OK) {
            sb_fail(e, 503, "db_error", "%s: %s", what, msg ? msg : sqlite3_errmsg(b->lite));
            sqlite3_free(msg);
            return -1;
        }
        return 0;
    }
    if (PQstatus(b->pg) == CONNECTION_BAD) PQreset(b->pg);
    PGresult *r = PQexec(b->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(b->pg));
        chomp(msg);
        PQclear(r);
        if (PQtransactionStatus(b->pg) == PQTRANS_INERROR) PQclear(PQexec(b->pg, "ROLLBACK"));
        return sb_fail(e, 503, "db_error", "%s: %s", what, msg);
    }
    PQclear(r);
    return 0;
}

/* One integer from a query; the caller holds hc_db_lock. */
static int query_int(sb_backend *b, const char *sql, int64_t *out, sb_err *e)
{
    if (b->lite) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(b->lite, sql, -1, &st, NULL) != SQLITE_OK)
            return sb_fail(e, 503, "db_error", "%s", sqlite3_errmsg(b->lite));
        int rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                     : sb_fail(e, 503, "db_error", "%s", sqlite3_errmsg(b->lite));
    }
    if (PQstatus(b->pg) == CONNECTION_BAD) PQreset(b->pg);
    PGresult *r = PQexec(b->pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(b->pg));
        chomp(msg);
        PQclear(r);
        return sb_fail(e, 503, "db_error", "%s", msg);
    }
    *out = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* ------------------------------------------------------------- migrations */

static int migrate(sb_backend *b, sb_err *e)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/migrations/%s", b->data_dir, dialect(b));
    char **files = sql_files(dir);
    if (!files) return sb_fail(e, 500, "data_missing", "cannot read '%s': %s", dir, strerror(errno));
    int rc = run_sql(b, "CREATE TABLE IF NOT EXISTS sandbox_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
                     "sandbox_migrations", e);
    for (size_t i = 0; rc == 0 && files[i]; i++) {
        char *sql = read_sql(b, "migrations", files[i], e);
        if (!sql) {
            rc = -1;
            break;
        }
        /* A version is a file name: letters, digits, '.', '_' and '-' only,
           so it can be written into the statement as it is. */
        for (const char *p = files[i]; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
                free(sql);
                free_files(files);
                return sb_fail(e, 500, "data_invalid", "migration file name '%s'", files[i]);
            }
        char check[512], record[512];
        snprintf(check, sizeof check, "SELECT count(*) FROM sandbox_migrations WHERE version = '%s'", files[i]);
        snprintf(record, sizeof record,
                 "INSERT INTO sandbox_migrations (version, applied_at) VALUES ('%s', %s)", files[i],
                 b->lite ? "datetime('now')" : "now()::text");
        rc = run_sql(b, "BEGIN", files[i], e);
        /* Two servers on one PostgreSQL schema migrate one at a time. */
        if (rc == 0 && b->pg) rc = run_sql(b, "SELECT pg_advisory_xact_lock(hashtext(current_schema()))", files[i], e);
        int64_t done = 0;
        if (rc == 0) rc = query_int(b, check, &done, e);
        if (rc == 0 && !done) rc = run_sql(b, sql, files[i], e);
        if (rc == 0 && !done) rc = run_sql(b, record, files[i], e);
        if (rc == 0) rc = run_sql(b, "COMMIT", files[i], e);
        else {
            sb_err ignored;
            run_sql(b, "ROLLBACK", files[i], &ignored);
        }
        free(sql);
    }
    free_files(files);
    return rc;
}

/* Delete every row and run the seeds, in one transaction. */
static int seed(sb_backend *b, sb_err *e)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/seeds/%s", b->data_dir, dialect(b));
    char **files = sql_files(dir);
    if (!files) return sb_fail(e, 500, "data_missing", "cannot read '%s': %s", dir, strerror(errno));
    int rc = run_sql(b, "BEGIN", "seeds", e);
    if (rc == 0)
        rc = run_sql(b, "DELETE FROM order_items; DELETE FROM orders; DELETE FROM products; DELETE FROM users",
                     "seeds", e);
    for (size_t i = 0; rc == 0 && files[i]; i++) {
        char *sql = read_sql(b, "seeds", files[i], e);
        rc = sql ? run_sql(b, sql, files[i], e) : -1;
        free(sql);
    }
    if (rc == 0) rc = run_sql(b, "COMMIT", "seeds", e);
    else {
        sb_err ignored;
        run_sql(b, "ROLLBACK", "seeds", &ignored);
    }
    free_files(files);
    return rc;
}

/* ---------------------------------------------------------- memory store */

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

static void mem_clear(mem_store *m)
{
    for (size_t i = 0; i < m->nusers; i++) {
        free(m->users[i].name);
        free(m->users[i].email);
        free(m->users[i].team);
    }
    for (size_t i = 0; i < m->nproducts; i++) {
        free(m->products[i].name);
        free(m->products[i].category);
    }
    for (size_t i = 0; i < m->norders; i++) free(m->orders[i].status);
    free(m->users);
    free(m->products);
    free(m->orders);
    free(m->items);
    m->users = NULL;
    m->products = NULL;
    m->orders = NULL;
    m->items = NULL;
    m->nusers = m->nproducts = m->norders = m->nitems = 0;
}

/* Rows of one table, through the scratch database. */
static int mem_read(sqlite3 *db, const char *sql, void **arr, size_t *n, size_t size,
                    void (*row)(sqlite3_stmt *, void *), sb_err *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sb_fail(e, 500, "seed", "%s", sqlite3_errmsg(db));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        void *p = realloc(*arr, (*n + 1) * size);
        if (!p) {
            sqlite3_finalize(st);
            return sb_fail(e, 500, "internal", "out of memory");
        }
        *arr = p;
        memset((char *)p + *n * size, 0, size);
        row(st, (char *)p + *n * size);
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sb_fail(e, 500, "seed", "%s", sqlite3_errmsg(db));
}

static void row_user(sqlite3_stmt *st, void *p)
{
    mem_user *u = p;
    u->id = sqlite3_column_int64(st, 0);
    u->name = dup_col(st, 1);
    u->email = dup_col(st, 2);
    u->team = dup_col(st, 3);
}

static void row_product(sqlite3_stmt *st, void *p)
{
    mem_product *r = p;
    r->id = sqlite3_column_int64(st, 0);
    r->name = dup_col(st, 1);
    r->category = dup_col(st, 2);
    r->price = sqlite3_column_double(st, 3);
    r->stock = sqlite3_column_int(st, 4);
}

static void row_order(sqlite3_stmt *st, void *p)
{
    mem_order *r = p;
    r->id = sqlite3_column_int64(st, 0);
    r->user_id = sqlite3_column_int64(st, 1);
    r->status = dup_col(st, 2);
}

static void row_item(sqlite3_stmt *st, void *p)
{
    mem_item *r = p;
    r->order_id = sqlite3_column_int64(st, 0);
    r->product_id = sqlite3_column_int64(st, 1);
    r->quantity = sqlite3_column_int64(st, 2);
}

/* Fill the store from the SQLite migrations and seeds, run on a scratch
   in-memory database: one set of seed files for every profile. */
static int mem_load(sb_backend *b, sb_err *e)
{
    sb_backend scratch = *b;
    snprintf(scratch.kind, sizeof scratch.kind, "sqlite");
    scratch.mem = NULL;
    if (sqlite3_open(":memory:", &scratch.lite) != SQLITE_OK) {
        sqlite3_close(scratch.lite);
        return sb_fail(e, 500, "internal", "cannot open a scratch SQLite database");
    }
    mem_store fresh = {0};
    int rc = migrate(&scratch, e);
    if (rc == 0) rc = seed(&scratch, e);
    if (rc == 0) rc = mem_read(scratch.lite, "SELECT id, name, email, team FROM users ORDER BY id",
                               (void **)&fresh.users, &fresh.nusers, sizeof *fresh.users, row_user, e);
    if (rc == 0) rc = mem_read(scratch.lite, "SELECT id, name, category, price, stock FROM products ORDER BY id",
                               (void **)&fresh.products, &fresh.nproducts, sizeof *fresh.products, row_product, e);
    if (rc == 0) rc = mem_read(scratch.lite, "SELECT id, user_id, status FROM orders ORDER BY id",
                               (void **)&fresh.orders, &fresh.norders, sizeof *fresh.orders, row_order, e);
    if (rc == 0) rc = mem_read(scratch.lite, "SELECT order_id, product_id, quantity FROM order_items",
                               (void **)&fresh.items, &fresh.nitems, sizeof *fresh.items, row_item, e);
    sqlite3_close(scratch.lite);
    if (rc != 0) {
        mem_clear(&fresh);
        return rc;
    }
    pthread_mutex_lock(&b->mem->mu);
    mem_clear(b->mem);
    b->mem->users = fresh.users;
    b->mem->nusers = fresh.nusers;
    b->mem->products = fresh.products;
    b->mem->nproducts = fresh.nproducts;
    b->mem->orders = fresh.orders;
    b->mem->norders = fresh.norders;
    b->mem->items = fresh.items;
    b->mem->nitems = fresh.nitems;
    pthread_mutex_unlock(&b->mem->mu);
    return 0;
}

static mem_user *mem_find_user(mem_store *m, int64_t id)
{
    for (size_t i = 0; i < m->nusers; i++)
        if (m->users[i].id == id) return &m->users[i];
    return NULL;
}

static mem_product *mem_find_product(mem_store *m, int64_t id)
{
    for (size_t i = 0; i < m->nproducts; i++)
        if (m->products[i].id == id) return &m->products[i];
    return NULL;
}

/* strdup that tells the out-of-memory case from a NULL source. */
static int dup_into(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src))) return HC_ENOMEM;
    return HC_OK;
}

/* ------------------------------------------------------------ open/close */

static int open_pg(sb_backend *b, const char *url, sb_err *e)
{
    /* The schema is an identifier the sandbox makes or checks, so it can go
       into the options and statements as it is. */
    for (const char *p = b->schema; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return sb_fail(e, 400, "bad_config", "schema '%s': letters, digits and '_' only", b->schema);
    char options[160];
    snprintf(options, sizeof options, "-c search_path=%s -c client_min_messages=warning", b->schema);
    const char *keys[] = {"dbname", "options", "connect_timeout", NULL};
    const char *vals[] = {url, options, "10", NULL};
    b->pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(b->pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", b->pg ? PQerrorMessage(b->pg) : "out of memory");
        chomp(msg);
        return sb_fail(e, 503, "db_unavailable", "cannot connect to PostgreSQL: %s", msg);
    }
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", b->schema);
    PGresult *r = PQexec(b->pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(b->pg));
        chomp(msg);
        return sb_fail(e, 503, "db_error", "schema '%s': %s", b->schema, msg);
    }
    hc_error herr;
    if (hc_db_pg(&b->db, b->pg, &herr) != HC_OK) return sb_fail(e, 503, "db_unavailable", "%s", herr.message);
    return 0;
}

static int open_sqlite(sb_backend *b, const char *path, sb_err *e)
{
    if (sqlite3_open(path, &b->lite) != SQLITE_OK)
        return sb_fail(e, 503, "db_unavailable", "cannot open SQLite database '%s': %s", path,
                       b->lite ? sqlite3_errmsg(b->lite) : "out of memory");
    sqlite3_busy_timeout(b->lite, 5000);
    sqlite3_exec(b->lite, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    hc_error herr;
    if (hc_db_sqlite(&b->db, b->lite, &herr) != HC_OK) return sb_fail(e, 500, "internal", "%s", herr.message);
    return 0;
}

int sb_backend_open(sb_backend **out, const sb_backend_config *cfg, sb_err *e)
{
    *out = NULL;
    sb_backend *b = calloc(1, sizeof *b);
    if (!b) return sb_fail(e, 500, "internal", "out of memory");
    snprintf(b->profile, sizeof b->profile, "%s", cfg->profile);
    snprintf(b->data_dir, sizeof b->data_dir, "%s", cfg->data_dir);
    int rc;
    if (strcmp(cfg->profile, "memory") == 0) {
        snprintf(b->kind, sizeof b->kind, "memory");
        b->mem = calloc(1, sizeof *b->mem);
        if (!b->mem) {
            free(b);
            return sb_fail(e, 500, "internal", "out of memory");
        }
        pthread_mutex_init(&b->mem->mu, NULL);
        rc = mem_load(b, e);
    } else if (strcmp(cfg->profile, "sqlite-memory") == 0 || strcmp(cfg->profile, "sqlite-file") == 0) {
        snprintf(b->kind, sizeof b->kind, "sqlite");
        const char *path = cfg->profile[7] == 'm' ? ":memory:" : cfg->sqlite_path;
        if (!path || !*path) {
            free(b);
            return sb_fail(e, 400, "bad_config", "profile 'sqlite-file' needs --sqlite-path");
        }
        snprintf(b->sqlite_path, sizeof b->sqlite_path, "%s", path);
        rc = open_sqlite(b, path, e);
    } else if (strcmp(cfg->profile, "postgres") == 0) {
        snprintf(b->kind, sizeof b->kind, "postgres");
        if (!cfg->database_url || !*cfg->database_url) {
            free(b);
            return sb_fail(e, 400, "bad_config", "profile 'postgres' needs --database-url");
        }
        snprintf(b->schema, sizeof b->schema, "%s", cfg->pg_schema && *cfg->pg_schema ? cfg->pg_schema : "hcache_sandbox");
        b->conninfo = strdup(cfg->database_url);
        rc = b->conninfo ? open_pg(b, cfg->database_url, e) : sb_fail(e, 500, "internal", "out of memory");
    } else {
        free(b);
        return sb_fail(e, 400, "bad_config",
                       "unknown profile '%s' (memory, sqlite-memory, sqlite-file, postgres)", cfg->profile);
    }
    if (rc == 0 && b->db) {
        hc_db_lock(b->db);
        rc = migrate(b, e);
        int64_t users = 0;
        if (rc == 0) rc = query_int(b, "SELECT count(*) FROM users", &users, e);
        if (rc == 0 && users == 0) rc = seed(b, e);
        hc_db_unlock(b->db);
    }
    if (rc != 0) {
        sb_backend_close(b);
        return -1;
    }
    *out = b;
    return 0;
}

void sb_backend_close(sb_backend *b)
{
    if (!b) return;
    hc_db_free(b->db);
    if (b->lite) sqlite3_close(b->lite);
    if (b->pg) PQfinish(b->pg);
    if (b->mem) {
        mem_clear(b->mem);
        pthread_mutex_destroy(&b->mem->mu);
        free(b->mem);
    }
    free(b->conninfo);
    free(b);
}

void sb_backend_drop(sb_backend *b)
{
    if (!b || !b->pg) return;
    char sql[200];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", b->schema);
    hc_db_lock(b->db);
    sb_err ignored;
    run_sql(b, sql, "drop schema", &ignored);
    hc_db_unlock(b->db);
}

const char *sb_backend_kind(const sb_backend *b)
{
    return b->kind;
}

hc_db *sb_backend_db(sb_backend *b)
{
    return b->db;
}

int sb_backend_reseed(sb_backend *b, sb_err *e)
{
    if (b->mem) return mem_load(b, e);
    hc_db_lock(b->db);
    int rc = seed(b, e);
    hc_db_unlock(b->db);
    return rc;
}

/* ------------------------------------------------------------------ reads */

int sb_backend_user(sb_backend *b, int64_t id, sandbox_user *out, hc_error *err)
{
    if (!b->mem) return sandbox_user_by_id_direct(b->db, id, out, err);
    int rc = HC_MISS;
    pthread_mutex_lock(&b->mem->mu);
    mem_user *u = mem_find_user(b->mem, id);
    if (u) {
        out->id = u->id;
        rc = dup_into(&out->name, u->name);
        if (rc == HC_OK) rc = dup_into(&out->email, u->email);
        if (rc == HC_OK) rc = dup_into(&out->team, u->team);
    }
    pthread_mutex_unlock(&b->mem->mu);
    return rc == HC_ENOMEM ? hc_error_set(err, HC_ENOMEM, "out of memory") : rc;
}

int sb_backend_product(sb_backend *b, int64_t id, sandbox_product *out, hc_error *err)
{
    if (!b->mem) return sandbox_product_by_id_direct(b->db, id, out, err);
    int rc = HC_MISS;
    pthread_mutex_lock(&b->mem->mu);
    mem_product *p = mem_find_product(b->mem, id);
    if (p) {
        out->id = p->id;
        out->price = p->price;
        out->stock = p->stock;
        rc = dup_into(&out->name, p->name);
        if (rc == HC_OK) rc = dup_into(&out->category, p->category);
    }
    pthread_mutex_unlock(&b->mem->mu);
    return rc == HC_ENOMEM ? hc_error_set(err, HC_ENOMEM, "out of memory") : rc;
}

int sb_backend_order(sb_backend *b, int64_t id, sandbox_order_summary *out, hc_error *err)
{
    if (!b->mem) return sandbox_order_summary_by_id_direct(b->db, id, out, err);
    int rc = HC_MISS;
    mem_store *m = b->mem;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->norders && rc == HC_MISS; i++) {
        const mem_order *o = &m->orders[i];
        const mem_user *u = o->id == id ? mem_find_user(m, o->user_id) : NULL;
        if (!u) continue;       /* the join drops an order without its user */
        out->id = o->id;
        out->user_id = o->user_id;
        out->items = 0;
        out->total = 0;
        for (size_t j = 0; j < m->nitems; j++) {
            if (m->items[j].order_id != id) continue;
            const mem_product *p = mem_find_product(m, m->items[j].product_id);
            out->items++;
            if (p) out->total += (double)m->items[j].quantity * p->price;
        }
        rc = dup_into(&out->user_name, u->name);
        if (rc == HC_OK) rc = dup_into(&out->status, o->status);
    }
    pthread_mutex_unlock(&m->mu);
    return rc == HC_ENOMEM ? hc_error_set(err, HC_ENOMEM, "out of memory") : rc;
}

int sb_backend_rename(sb_backend *b, hc_cache *c, int64_t id, const char *name, int64_t *changes,
                      hc_error *err)
{
    if (!b->mem) return sandbox_rename_user(c, b->db, id, name, changes, err);
    char *copy = strdup(name);
    if (!copy) return hc_error_set(err, HC_ENOMEM, "out of memory");
    pthread_mutex_lock(&b->mem->mu);
    mem_user *u = mem_find_user(b->mem, id);
    if (u) {
        free(u->name);
        u->name = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&b->mem->mu);
    free(copy);
    *changes = u ? 1 : 0;
    /* What the generated exec does after its UPDATE: the same two tags. */
    hc_buf tag = HC_BUF_INIT;
    int rc = hc_buf_append_str(&tag, "user:");
    if (rc == HC_OK) rc = hc_key_piece_i64(&tag, id);
    if (rc == HC_OK) rc = hc_invalidate_tag(c, (const char *)tag.data, NULL);
    if (rc == HC_OK) rc = hc_invalidate_tag(c, "users", NULL);
    hc_buf_free(&tag);
    return rc == HC_OK ? HC_OK : hc_error_set(err, rc, "invalidating user %lld", (long long)id);
}

/* ----------------------------------------------------------------- report */

static json_t *file_list(const sb_backend *b, const char *kind)
{
    json_t *arr = json_array();
    const char *dialects[] = {"sqlite", "postgres"};
    for (size_t d = 0; d < 2; d++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s/%s", b->data_dir, kind, dialects[d]);
        char **files = sql_files(dir);
        for (size_t i = 0; files && files[i]; i++) {
            char path[2400];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            struct stat st;
            json_int_t size = stat(path, &st) == 0 ? (json_int_t)st.st_size : -1;
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "dialect", dialects[d], "file",
                                                 files[i], "bytes", size));
        }
        free_files(files);
    }
    return arr;
}

json_t *sb_backend_seed_report(sb_backend *b, sb_err *e)
{
    static const char *const tables[] = {"users", "products", "orders", "order_items"};
    json_t *rows = json_object();
    json_t *applied = json_array();
    if (b->mem) {
        pthread_mutex_lock(&b->mem->mu);
        json_object_set_new(rows, "users", json_integer((json_int_t)b->mem->nusers));
        json_object_set_new(rows, "products", json_integer((json_int_t)b->mem->nproducts));
        json_object_set_new(rows, "orders", json_integer((json_int_t)b->mem->norders));
        json_object_set_new(rows, "order_items", json_integer((json_int_t)b->mem->nitems));
        pthread_mutex_unlock(&b->mem->mu);
    } else {
        hc_db_lock(b->db);
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < 4; i++) {
            char sql[64];
            int64_t n = 0;
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
            rc = query_int(b, sql, &n, e);
            json_object_set_new(rows, tables[i], json_integer((json_int_t)n));
        }
        if (rc == 0 && b->lite) {
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(b->lite, "SELECT version FROM sandbox_migrations ORDER BY version", -1, &st,
                                   NULL) == SQLITE_OK) {
                while (sqlite3_step(st) == SQLITE_ROW)
                    json_array_append_new(applied, json_string((const char *)sqlite3_column_text(st, 0)));
                sqlite3_finalize(st);
            }
        } else if (rc == 0) {
            PGresult *r = PQexec(b->pg, "SELECT version FROM sandbox_migrations ORDER BY version");
            if (PQresultStatus(r) == PGRES_TUPLES_OK)
                for (int i = 0; i < PQntuples(r); i++)
                    json_array_append_new(applied, json_string(PQgetvalue(r, i, 0)));
            PQclear(r);
        }
        hc_db_unlock(b->db);
        if (rc != 0) {
            json_decref(rows);
            json_decref(applied);
            return NULL;
        }
    }
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "profile", b->profile, "backend", b->kind,
                          "rows", rows, "applied_migrations", applied, "migrations",
                          file_list(b, "migrations"), "seeds", file_list(b, "seeds"));
    if (b->pg) sb_set(o, "schema", json_string(b->schema));
    if (b->lite) sb_set(o, "sqlite_path", json_string(b->sqlite_path));
    if (b->mem) sb_set(o, "note", json_string("the memory profile's store is filled from the SQLite seeds"));
    return o;
}

int sb_backend_kill_connection(sb_backend *b, sb_err *e)
{
    if (!b->pg) return sb_fail(e, 400, "not_supported", "only a PostgreSQL connection can be killed");
    hc_db_lock(b->db);
    int pid = PQbackendPID(b->pg);
    hc_db_unlock(b->db);
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {b->conninfo, "10", NULL};
    PGconn *killer = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(killer) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(killer));
        chomp(msg);
        PQfinish(killer);
        return sb_fail(e, 503, "db_unavailable", "cannot connect to kill: %s", msg);
    }
    char pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%d", pid);
    const char *params[] = {pidtext};
    PGresult *r = PQexecParams(killer, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    /* Wait until the server has ended it, so the next call meets a dead
       connection rather than racing the termination. */
    for (int i = 0; ok && i < 200; i++) {
        r = PQexecParams(killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, NULL, params,
                         NULL, NULL, 0);
        int gone = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0") == 0;
        PQclear(r);
        if (gone) break;
        sb_sleep_ms(10);
    }
    PQfinish(killer);
    return ok ? 0 : sb_fail(e, 500, "fault", "pg_terminate_backend(%d) did not end the connection", pid);
}
