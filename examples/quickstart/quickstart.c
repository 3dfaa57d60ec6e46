/*
** quickstart.c -- libhydracache in one page: put and get, a TTL, tags, a
** read-through load shared by concurrent callers, and the counters.
*/
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hydracache.h"

/* A "slow" loader standing in for a database query. */
static int load_profile(void *ctx, hc_buf *out, hc_error *err)
{
    const char *user = ctx;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    if (strcmp(user, "mallory") == 0)
        return hc_error_set(err, HC_ENOTFOUND, "no profile for '%s'", user);
    char text[64];
    int n = snprintf(text, sizeof text, "{\"user\":\"%s\",\"plan\":\"pro\"}", user);
    return hc_buf_set(out, text, (size_t)n);
}

typedef struct reader {
    hc_cache *cache;
    int rc;
} reader;

static void *read_profile(void *arg)
{
    reader *r = arg;
    hc_buf value = HC_BUF_INIT;
    hc_error err;
    const char *tags[] = {"user:alice", "profiles"};
    hc_options opts = {.ttl_ms = 60 * 1000, .tags = tags, .ntags = 2};   /* 1 minute, two tags */
    r->rc = hc_get_or_load(r->cache, "profile:alice", &opts, load_profile, "alice",
                           &value, &err);
    hc_buf_free(&value);
    return NULL;
}

int main(void)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "quickstart";
    cfg.max_entries = 1000;
    hc_cache *cache;
    int rc = hc_cache_open(&cache, &cfg);
    if (rc != HC_OK) {
        fprintf(stderr, "hc_cache_open: %s\n", hc_strerror(rc));
        return 1;
    }

    /* Keys are built from escaped segments: "greeting:en". */
    hc_buf key = HC_BUF_INIT, value = HC_BUF_INIT;
    hc_key_append(&key, "greeting");
    hc_key_append(&key, "en");
    hc_put(cache, (char *)key.data, "hello", 5, NULL);
    if (hc_get(cache, (char *)key.data, &value) == HC_OK)
        printf("get %s -> %s\n", (char *)key.data, (char *)value.data);

    /* Eight threads miss the same key at once: one loader runs. */
    pthread_t threads[8];
    reader readers[8];
    for (int i = 0; i < 8; i++) {
        readers[i].cache = cache;
        pthread_create(&threads[i], NULL, read_profile, &readers[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(threads[i], NULL);
    hc_stats s;
    hc_stats_get(cache, &s);
    printf("8 concurrent reads of profile:alice: %llu load, %llu joined it\n",
           (unsigned long long)s.loads, (unsigned long long)s.single_flight_joins);

    /* A failed load stores nothing and reports the loader's error. */
    hc_error err;
    rc = hc_get_or_load(cache, "profile:mallory", NULL, load_profile, "mallory", &value, &err);
    printf("load profile:mallory -> %s: %s\n", hc_err_name(rc), err.message);

    /* Tags invalidate everything that carries them. */
    uint64_t removed;
    hc_invalidate_tag(cache, "user:alice", &removed);
    printf("invalidate tag user:alice -> %llu entry removed; cached now: %s\n",
           (unsigned long long)removed, hc_contains(cache, "profile:alice") ? "yes" : "no");

    hc_diagnostics d;
    hc_diagnostics_get(cache, &d);
    printf("stats: hits=%llu misses=%llu loads=%llu load_failures=%llu inserts=%llu "
           "invalidations=%llu entries=%llu bytes=%llu hit_ratio=%.2f\n",
           (unsigned long long)d.stats.hits, (unsigned long long)d.stats.misses,
           (unsigned long long)d.stats.loads, (unsigned long long)d.stats.load_failures,
           (unsigned long long)d.stats.inserts, (unsigned long long)d.stats.invalidations,
           (unsigned long long)d.entries, (unsigned long long)d.weighted_bytes,
           hc_stats_hit_ratio(&d.stats));

    hc_buf_free(&key);
    hc_buf_free(&value);
    hc_cache_close(cache);
    return 0;
}
