/*
** library.c -- the CMake example: an SQLite application whose cached
** queries hcachegen writes from library.hcache at build time.
**
**     ./library [SCHEMA.sql]
**
** Creates the table of SCHEMA.sql (default: the schema.sql beside this
** file, where CMake found it) in an in-memory database, adds three books,
** and reads them through the cache: a miss, a hit, a write that
** invalidates, a reload.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "library.hc.h"

#ifndef LIBRARY_SCHEMA
#define LIBRARY_SCHEMA "schema.sql"
#endif

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

static int exec_sql(sqlite3 *conn, const char *what, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(conn, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fprintf(stderr, "library: %s: %s\n", what, msg);
    sqlite3_free(msg);
    return -1;
}

static void show(const char *what, int rc, const library_book *b, const hc_error *err)
{
    if (rc == HC_OK)
        printf("%-28s -> \"%s\", %s, %d\n", what, b->title, b->author, (int)b->year);
    else if (rc == HC_MISS)
        printf("%-28s -> no such book\n", what);
    else
        printf("%-28s -> %s: %s\n", what, hc_err_name(rc), err->message);
}

int main(int argc, char **argv)
{
    const char *schema_path = argc > 1 ? argv[1] : LIBRARY_SCHEMA;
    sqlite3 *conn = NULL;
    hc_cache *cache = NULL;
    hc_db *db = NULL;
    library_book b = {0};
    library_book_list list = {0};
    hc_error err;
    int status = 1, rc;

    char *schema = slurp(schema_path);
    if (!schema) {
        fprintf(stderr, "library: cannot read %s\n", schema_path);
        return 1;
    }
    if (sqlite3_open(":memory:", &conn) != SQLITE_OK || exec_sql(conn, schema_path, schema) != 0 ||
        exec_sql(conn, "seed",
                 "INSERT INTO books VALUES (1, 'The Dispossessed', 'Ursula K. Le Guin', 1974),"
                 " (2, 'The Left Hand of Darkness', 'Ursula K. Le Guin', 1969),"
                 " (3, 'Kindred', 'Octavia E. Butler', 1979)") != 0)
        goto out;
    if (hc_cache_open(&cache, NULL) != HC_OK || hc_db_sqlite(&db, conn, &err) != HC_OK) {
        fprintf(stderr, "library: cannot set up the cache\n");
        goto out;
    }

    printf("HydraCache %s (library %s), SQLite %s\n", HC_VERSION_STRING, hc_version_string(),
           sqlite3_libversion());
    rc = library_book_by_id(cache, db, 3, &b, &err);
    show("library_book_by_id(3)", rc, &b, &err);
    rc = library_book_by_id(cache, db, 3, &b, &err);
    show("again (a hit)", rc, &b, &err);
    if ((rc = library_books_by(cache, db, "Ursula K. Le Guin", &list, &err)) != HC_OK) goto failed;
    for (size_t i = 0; i < list.len; i++)
        printf("%-28s -> \"%s\", %d\n", "library_books_by(Le Guin)", list.items[i].title, (int)list.items[i].year);
    if ((rc = library_retitle(cache, db, 3, "Kindred (1979)", NULL, &err)) != HC_OK) goto failed;
    rc = library_book_by_id(cache, db, 3, &b, &err);
    show("after library_retitle(3)", rc, &b, &err);
    if (rc != HC_OK || strcmp(b.title, "Kindred (1979)") != 0) goto failed;

    hc_stats s;
    hc_stats_get(cache, &s);
    printf("%llu hits, %llu misses\n", (unsigned long long)s.hits, (unsigned long long)s.misses);
    status = 0;
    goto out;
failed:
    fprintf(stderr, "library: %s: %s\n", hc_err_name(rc), err.message);
out:
    library_book_clear(&b);
    library_book_list_clear(&list);
    hc_db_free(db);
    hc_cache_close(cache);
    sqlite3_close(conn);
    free(schema);
    return status;
}
