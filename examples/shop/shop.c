/*
** shop.c -- the main example: cached queries over a real database.
**
**     ./shop [FILE.db]              SQLite (default: shop.db, created afresh)
**     ./shop --pg "CONNINFO"        PostgreSQL (tables created afresh)
**     ./shop --serve PORT ...       then keep running, with the cache on an
**                                   HTTP actuator at 127.0.0.1:PORT (0: any)
**
** It loads schema.sql and seed.sql from the current directory, then reads
** through the functions hcachegen wrote from shop.hcache and shows, with the
** cache's own counters, what a hit, a miss, a cached absence, a write that
** invalidates and a refresh-ahead look like. With --serve it goes on reading
** and now and then writing, slowly, until it is interrupted, so that
** `hcache-stat` and `curl` have something to watch.
*/
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shop.hc.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    size_t len = 0;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0; len += n) {
        char *p = realloc(s, len + n + 1);
        if (!p) {
            free(s);
            fclose(f);
            return NULL;
        }
        s = p;
        memcpy(s + len, buf, n);
    }
    fclose(f);
    if (s) s[len] = 0;
    return s;
}

/* Run schema.sql then seed.sql on the application's own connection. */
static int load_sql(sqlite3 *lite, PGconn *pg)
{
    static const char *const files[] = {"schema.sql", "seed.sql"};
    for (size_t i = 0; i < 2; i++) {
        char *sql = slurp(files[i]);
        if (!sql) {
            fprintf(stderr, "shop: cannot read %s (run me from examples/shop)\n", files[i]);
            return -1;
        }
        int ok;
        if (lite) {
            char *msg = NULL;
            ok = sqlite3_exec(lite, sql, NULL, NULL, &msg) == SQLITE_OK;
            if (!ok) fprintf(stderr, "shop: %s: %s\n", files[i], msg);
            sqlite3_free(msg);
        } else {
            PGresult *r = PQexec(pg, sql);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok) fprintf(stderr, "shop: %s: %s", files[i], PQerrorMessage(pg));
            PQclear(r);
        }
        free(sql);
        if (!ok) return -1;
    }
    return 0;
}

/* Run one statement on the application's own connection, behind the
   cache's back: no invalidation. */
static int run_sql(sqlite3 *lite, PGconn *pg, const char *sql)
{
    if (lite) return sqlite3_exec(lite, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

/*
** The cache's clock: the monotonic clock plus a skew that section 6 moves
** forward, so that the demo shows a refresh 30 s later without waiting
** for it. An application leaves hc_config.clock_ms NULL.
*/
static atomic_uint_fast64_t skew_ms;

static uint64_t demo_clock(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + atomic_load(&skew_ms);
}

static void show_stats(hc_cache *c, const char *when)
{
    hc_diagnostics d;
    hc_diagnostics_get(c, &d);
    printf("   [%s: %llu hits, %llu misses, %llu loads, %llu invalidated, %llu entries]\n", when,
           (unsigned long long)d.stats.hits, (unsigned long long)d.stats.misses,
           (unsigned long long)d.stats.loads, (unsigned long long)d.stats.invalidations,
           (unsigned long long)d.entries);
}

static void show_user(const char *what, int rc, const shop_user *u, const hc_error *err)
{
    if (rc == HC_OK)
        printf("%-37s -> %s <%s>, score %.2f%s\n", what, u->name, u->email ? u->email : "no email",
               u->score, u->active ? "" : " (inactive)");
    else if (rc == HC_MISS)
        printf("%-37s -> no such user\n", what);
    else
        printf("%-37s -> %s: %s\n", what, hc_err_name(rc), err->message);
}

/* Wait (bounded) until c has counted more than n refreshes. */
static bool refreshed_after(hc_cache *c, uint64_t n)
{
    for (int i = 0; i < 5000; i++) {
        hc_stats s;
        hc_stats_get(c, &s);
        if (s.refreshes + s.refresh_failures > n) return true;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return false;
}

/*
** 6. Refresh-ahead (product_by_id: refresh 30s): a price changes behind the
** cache's back; 30 s later the first read still returns the cached price at
** once, and starts one reload on the cache's refresh thread; the next read
** has the new price.
*/
static int refresh_demo(hc_cache *c, hc_db *db, sqlite3 *lite, PGconn *pg)
{
    shop_product p = {0};
    hc_error err;
    hc_stats s;
    int rc;
    printf("\n6. Refresh-ahead: an entry older than its refresh time is served, and reloaded in the background.\n");
    if ((rc = shop_product_by_id(c, db, 11, &p, &err)) != HC_OK) goto failed;
    printf("   shop_product_by_id(11)             -> %s at %.2f\n", p.name, p.price);
    if (run_sql(lite, pg, "UPDATE products SET price = 21.5 WHERE id = 11") != 0) goto failed;
    printf("   (another program sets its price to 21.50; nothing is invalidated)\n");
    if ((rc = shop_product_by_id(c, db, 11, &p, &err)) != HC_OK) goto failed;
    printf("   shop_product_by_id(11), a hit      -> %.2f\n", p.price);
    atomic_fetch_add(&skew_ms, 31000);
    hc_stats_get(c, &s);
    uint64_t before = s.refreshes + s.refresh_failures;
    if ((rc = shop_product_by_id(c, db, 11, &p, &err)) != HC_OK) goto failed;
    printf("   31 s later: shop_product_by_id(11) -> %.2f at once; one reload starts on the refresh thread\n",
           p.price);
    /* The refresh thread uses db: wait for it before reading on. */
    if (!refreshed_after(c, before)) {
        fprintf(stderr, "shop: the refresh never ran\n");
        rc = HC_ETIMEDOUT;
        goto done;
    }
    if ((rc = shop_product_by_id(c, db, 11, &p, &err)) != HC_OK) goto failed;
    printf("   shop_product_by_id(11) again       -> %.2f, refreshed\n", p.price);
    hc_stats_get(c, &s);
    printf("   [%llu refreshes, %llu failed, %llu dropped; %llu hits, %llu loads]\n",
           (unsigned long long)s.refreshes, (unsigned long long)s.refresh_failures,
           (unsigned long long)s.refresh_drops, (unsigned long long)s.hits, (unsigned long long)s.loads);
    rc = HC_OK;
    goto done;
failed:
    fprintf(stderr, "shop: %s: %s\n", hc_err_name(rc), err.message);
    if (rc == HC_OK) rc = HC_EDB;
done:
    shop_product_clear(&p);
    return rc == HC_OK ? 0 : 1;
}

static int demo(hc_cache *c, hc_db *db)
{
    shop_user u = {0};
    shop_product_list books = {0};
    shop_order_summary o = {0};
    shop_order_summary_list orders = {0};
    hc_error err;
    int64_t n = 0, changes = 0;
    int rc;

    printf("1. A miss loads from the database; the same call again is a hit.\n");
    rc = shop_user_by_id(c, db, 1, &u, &err);
    show_user("   shop_user_by_id(1)", rc, &u, &err);
    rc = shop_user_by_id(c, db, 1, &u, &err);
    show_user("   shop_user_by_id(1) again", rc, &u, &err);
    show_stats(c, "after two reads");

    printf("\n2. Absence is cached too: the second lookup of a missing user is a hit.\n");
    rc = shop_user_by_id(c, db, 42, &u, &err);
    show_user("   shop_user_by_id(42)", rc, &u, &err);
    rc = shop_user_by_id(c, db, 42, &u, &err);
    show_user("   shop_user_by_id(42) again", rc, &u, &err);
    show_stats(c, "after the absent user");

    printf("\n3. Lists, counts and joins.\n");
    if ((rc = shop_products_in_category(c, db, "books", &books, &err)) != HC_OK) goto failed;
    for (size_t i = 0; i < books.len; i++)
        printf("   book %lld: %-30s %7.2f\n", (long long)books.items[i].id, books.items[i].name, books.items[i].price);
    if ((rc = shop_user_count(c, db, &n, &err)) != HC_OK) goto failed;
    printf("   shop_user_count()                  -> %lld\n", (long long)n);
    if ((rc = shop_orders_of_user(c, db, 1, &orders, &err)) != HC_OK) goto failed;
    for (size_t i = 0; i < orders.len; i++)
        printf("   order %lld of user 1: %-8s %lld items, total %.2f\n", (long long)orders.items[i].id,
               orders.items[i].status, (long long)orders.items[i].items, orders.items[i].total);
    show_stats(c, "after the lists");

    printf("\n4. A write invalidates exactly what it changes.\n");
    if ((rc = shop_order_by_id(c, db, 100, &o, &err)) != HC_OK) goto failed;
    printf("   order 100 total before             -> %.2f\n", o.total);
    if ((rc = shop_set_price(c, db, 13, 5.0, &changes, &err)) != HC_OK) goto failed;
    printf("   shop_set_price(13, 5.00)           -> %lld row changed; tags product:13, products invalidated\n",
           (long long)changes);
    show_stats(c, "after the write");
    if ((rc = shop_order_by_id(c, db, 100, &o, &err)) != HC_OK) goto failed;
    printf("   order 100 total after (reloaded)   -> %.2f\n", o.total);
    rc = shop_user_by_id(c, db, 1, &u, &err);
    show_user("   shop_user_by_id(1), untouched", rc, &u, &err);
    show_stats(c, "after reading again");

    printf("\n5. A failed write returns the database's message and invalidates nothing.\n");
    rc = shop_add_item(c, db, 100, 10, 0, &changes, &err);
    printf("   shop_add_item(100, 10, quantity 0) -> %s: %s\n", hc_err_name(rc), err.message);
    rc = shop_add_item(c, db, 100, 999, 1, &changes, &err);
    printf("   shop_add_item(100, product 999)    -> %s%s%s\n", hc_err_name(rc), rc ? ": " : "",
           rc ? err.message : "");
    show_stats(c, "after the failed writes");
    rc = HC_OK;
    goto done;

failed:
    fprintf(stderr, "shop: %s: %s\n", hc_err_name(rc), err.message);
done:
    shop_user_clear(&u);
    shop_product_list_clear(&books);
    shop_order_summary_clear(&o);
    shop_order_summary_list_clear(&orders);
    return rc == HC_OK ? 0 : 1;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/*
** --serve: the cache on an actuator (five lines: a registry, the cache in
** it, the actuator), and a slow workload until SIGINT or SIGTERM: reads of
** users, products and orders, and a price change now and then, which
** invalidates what depends on it.
*/
static int serve(hc_cache *c, hc_db *db, unsigned port)
{
    hc_registry *reg;
    hc_actuator *act;
    hc_actuator_options o;
    hc_actuator_options_init(&o);
    o.port = port;
    hc_error err;
    if (hc_registry_new(&reg) != HC_OK || hc_registry_add(reg, c) != HC_OK) return 1;
    if (hc_actuator_start(&act, reg, &o, &err) != HC_OK) {
        fprintf(stderr, "shop: %s\n", err.message);
        hc_registry_free(reg);
        return 1;
    }
    printf("\nactuator: http://127.0.0.1:%u (try curl http://127.0.0.1:%u/actuator/hydracache/health,\n"
           "          curl http://127.0.0.1:%u/metrics, hcache-stat --decl http://127.0.0.1:%u)\n",
           hc_actuator_port(act), hc_actuator_port(act), hc_actuator_port(act), hc_actuator_port(act));
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    shop_user u = {0};
    shop_product p = {0};
    shop_order_summary os = {0};
    int64_t changes;
    for (unsigned long i = 0; !stop; i++) {
        (void)shop_user_by_id(c, db, (int64_t)(i % 5) + 1, &u, &err);          /* 4 and 5 do not exist */
        (void)shop_product_by_id(c, db, (int64_t)(i % 4) + 10, &p, &err);
        (void)shop_order_by_id(c, db, (int64_t)(i % 3) + 100, &os, &err);
        if (i % 500 == 499) (void)shop_set_price(c, db, 13, 6.5 + (double)(i % 7), &changes, &err);
        nanosleep(&(struct timespec){0, 2000000}, NULL);                        /* 2 ms */
    }
    shop_user_clear(&u);
    shop_product_clear(&p);
    shop_order_summary_clear(&os);
    hc_actuator_stop(act);
    hc_registry_free(reg);
    return 0;
}

int main(int argc, char **argv)
{
    sqlite3 *lite = NULL;
    PGconn *pg = NULL;
    hc_db *db = NULL;
    hc_cache *c = NULL;
    int status = 1;
    long port = -1;

    if (argc >= 3 && strcmp(argv[1], "--serve") == 0) {
        char *end;
        port = strtol(argv[2], &end, 10);
        if (*end || port < 0 || port > 65535) {
            fprintf(stderr, "shop: --serve wants a port number (0: any free one)\n");
            return 2;
        }
        argc -= 2;
        argv += 2;
    }
    if (argc == 3 && strcmp(argv[1], "--pg") == 0) {
        pg = PQconnectdb(argv[2]);
        if (PQstatus(pg) != CONNECTION_OK) {
            fprintf(stderr, "shop: %s", PQerrorMessage(pg));
            goto out;
        }
        PQclear(PQexec(pg, "SET client_min_messages = warning"));
        printf("HydraCache shop example on PostgreSQL %d.%d\n\n", PQserverVersion(pg) / 10000, PQserverVersion(pg) % 10000);
    } else if (argc <= 2 && (argc < 2 || argv[1][0] != '-')) {
        const char *path = argc == 2 ? argv[1] : "shop.db";
        remove(path);
        if (sqlite3_open(path, &lite) != SQLITE_OK) {
            fprintf(stderr, "shop: %s: %s\n", path, sqlite3_errmsg(lite));
            goto out;
        }
        sqlite3_exec(lite, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
        printf("HydraCache shop example on SQLite %s (%s)\n\n", sqlite3_libversion(), path);
    } else {
        fprintf(stderr, "usage: shop [--serve PORT] [FILE.db] | shop [--serve PORT] --pg CONNINFO\n");
        return 2;
    }
    if (load_sql(lite, pg) != 0) goto out;

    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "shop";
    cfg.max_entries = 10000;
    cfg.clock_ms = demo_clock;          /* see demo_clock: only for section 6 */
    if (hc_cache_open(&c, &cfg) != HC_OK || (lite ? hc_db_sqlite(&db, lite, NULL) : hc_db_pg(&db, pg, NULL)) != HC_OK) {
        fprintf(stderr, "shop: cannot set up the cache\n");
        goto out;
    }
    status = demo(c, db);
    if (status == 0) status = refresh_demo(c, db, lite, pg);
    if (status == 0 && port >= 0) status = serve(c, db, (unsigned)port);
out:
    /* The cache first: its refresh thread may be using db (hc_cache_close
       waits for a refresh that runs and drops the queued ones). */
    hc_cache_close(c);
    hc_db_free(db);
    sqlite3_close(lite);
    PQfinish(pg);
    return status;
}
