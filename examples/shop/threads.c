/*
** threads.c -- the shop example's multi-threaded pattern: one cache shared
** by every thread, one database connection and one hc_db per thread.
**
**     ./shop-threads [FILE.db]      an SQLite file made by ./shop (shop.db)
**
** An hc_cache may be called from any thread at once. An hc_db wraps one
** connection and serializes the calls on it with its own mutex, so threads
** that share one hc_db take turns on the database; give each thread its own
** connection and hc_db to run queries in parallel. Whichever thread misses a
** key first loads it (the others wait for that load: single-flight), and
** every thread's write invalidates the one cache.
*/
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "shop.hc.h"

#define THREADS 4
#define ROUNDS  2000

typedef struct worker {
    pthread_t   thread;
    hc_cache   *cache;              /* shared */
    const char *path;
    int         rc;                 /* HC_OK, or the first error */
    char        message[256];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    sqlite3 *conn = NULL;
    hc_db *db = NULL;
    hc_error err;
    shop_user u = {0};
    /* READWRITE without CREATE: a missing file is an error, not an empty
       database that every query then fails on. */
    if (sqlite3_open_v2(w->path, &conn, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        w->rc = HC_ECONN;
        snprintf(w->message, sizeof w->message, "%s: %s", w->path, sqlite3_errmsg(conn));
        goto out;
    }
    sqlite3_busy_timeout(conn, 5000);   /* writers queue instead of failing */
    if ((w->rc = hc_db_sqlite(&db, conn, &err)) != HC_OK) goto fail;
    for (int i = 0; i < ROUNDS; i++) {
        int64_t id = 1 + i % 3;
        w->rc = shop_user_by_id(w->cache, db, id, &u, &err);
        if (w->rc != HC_OK) goto fail;
        if (i % 500 == 0) {             /* now and then a write: every thread sees it */
            w->rc = shop_set_price(w->cache, db, 13, 6.5, NULL, &err);
            if (w->rc != HC_OK) goto fail;
        }
    }
    goto out;
fail:
    snprintf(w->message, sizeof w->message, "%s", err.message);
out:
    shop_user_clear(&u);
    hc_db_free(db);
    sqlite3_close(conn);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "shop.db";
    hc_cache *cache;
    if (hc_cache_open(&cache, NULL) != HC_OK) return 1;
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.cache = cache, .path = path};
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) return 1;
    }
    int status = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].rc != HC_OK) {
            fprintf(stderr, "shop-threads: thread %d: %s: %s\n", i, hc_err_name(w[i].rc), w[i].message);
            status = 1;
        }
    }
    hc_stats s;
    hc_stats_get(cache, &s);
    printf("%d threads, one cache, one connection each: %llu reads, %llu loads "
           "(3 users, each loaded once), hit ratio %.4f\n", THREADS,
           (unsigned long long)(s.hits + s.misses), (unsigned long long)s.loads,
           hc_stats_hit_ratio(&s));
    hc_cache_close(cache);
    return status;
}
