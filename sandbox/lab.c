/*
** lab.c -- a cache over a backend, with the sandbox's counters.
**
** The cache has access events on, so that flows can show hits, misses and
** loads; with nobody subscribed that costs next to nothing. The library's
** counters run from the cache's opening, so a reset keeps a copy of them
** and the lab reports the difference.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

struct sb_lab {
    char        name[32];
    char        profile[32];
    sb_backend *backend;
    hc_cache   *cache;
    atomic_uint_fast64_t counters[SB_LOADER_COUNT];
    pthread_mutex_t mu;         /* the baseline */
    hc_stats    baseline;
};

int sb_lab_open(sb_lab **out, const char *name, const sb_backend_config *cfg, sb_err *e)
{
    *out = NULL;
    sb_lab *lab = calloc(1, sizeof *lab);
    if (!lab) return sb_fail(e, 500, "internal", "out of memory");
    snprintf(lab->name, sizeof lab->name, "%s", name);
    snprintf(lab->profile, sizeof lab->profile, "%s", cfg->profile);
    pthread_mutex_init(&lab->mu, NULL);
    for (int i = 0; i < SB_LOADER_COUNT; i++) atomic_init(&lab->counters[i], 0);
    if (sb_backend_open(&lab->backend, cfg, e) != 0) {
        pthread_mutex_destroy(&lab->mu);
        free(lab);
        return -1;
    }
    hc_config c;
    hc_config_init(&c);
    c.name = name;
    c.max_entries = 10000;
    c.max_bytes = 64u << 20;
    c.access_events = true;
    c.event_buffer = 4096;
    int rc = hc_cache_open(&lab->cache, &c);
    if (rc != HC_OK) {
        sb_backend_close(lab->backend);
        pthread_mutex_destroy(&lab->mu);
        free(lab);
        return sb_fail(e, 500, "internal", "cannot open the cache: %s", hc_strerror(rc));
    }
    *out = lab;
    return 0;
}

void sb_lab_close(sb_lab *lab)
{
    if (!lab) return;
    hc_cache_close(lab->cache);
    sb_backend_close(lab->backend);
    pthread_mutex_destroy(&lab->mu);
    free(lab);
}

hc_cache *sb_lab_cache(sb_lab *lab)
{
    return lab->cache;
}

sb_backend *sb_lab_backend(sb_lab *lab)
{
    return lab->backend;
}

const char *sb_lab_profile(const sb_lab *lab)
{
    return lab->profile;
}

void sb_lab_count(sb_lab *lab, int which)
{
    atomic_fetch_add_explicit(&lab->counters[which], 1, memory_order_relaxed);
}

uint64_t sb_lab_counter(sb_lab *lab, int which)
{
    return atomic_load_explicit(&lab->counters[which], memory_order_relaxed);
}

void sb_lab_stats(sb_lab *lab, hc_stats *out)
{
    hc_stats now;
    hc_stats_get(lab->cache, &now);
    pthread_mutex_lock(&lab->mu);
#define SB__SUB(name, desc) out->name = now.name - lab->baseline.name;
    HC_STATS_MAP(SB__SUB)
#undef SB__SUB
    pthread_mutex_unlock(&lab->mu);
}

json_t *sb_lab_counters_json(sb_lab *lab)
{
    hc_stats s;
    sb_lab_stats(lab, &s);
    json_t *o = json_object();
#define SB__PUT(name, desc) json_object_set_new(o, #name, json_integer((json_int_t)s.name));
    HC_STATS_MAP(SB__PUT)
#undef SB__PUT
    static const char *const names[SB_LOADER_COUNT] = {
        "user_loader_calls", "product_loader_calls", "order_loader_calls",
        "raw_loader_calls", "function_calls",
    };
    uint64_t loaders = 0;
    for (int i = 0; i < SB_LOADER_COUNT; i++) {
        uint64_t n = sb_lab_counter(lab, i);
        json_object_set_new(o, names[i], json_integer((json_int_t)n));
        if (i != SB_LOADER_FUNCTION) loaders += n;
    }
    json_object_set_new(o, "loader_calls", json_integer((json_int_t)loaders));
    return o;
}

int sb_lab_reset(sb_lab *lab, sb_err *e)
{
    /* The rows first: if the database fails, nothing has changed. The flush
       after them also makes any load that read the old rows meanwhile
       stale, so it is not stored. */
    if (sb_backend_reseed(lab->backend, e) != 0) return -1;
    int rc = hc_flush(lab->cache);
    if (rc != HC_OK) return sb_fail(e, 500, "internal", "flush: %s", hc_strerror(rc));
    for (int i = 0; i < SB_LOADER_COUNT; i++) atomic_store(&lab->counters[i], 0);
    pthread_mutex_lock(&lab->mu);
    hc_stats_get(lab->cache, &lab->baseline);
    pthread_mutex_unlock(&lab->mu);
    return 0;
}
