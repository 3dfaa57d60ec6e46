/*
** bench_throughput.c -- how hc_get and hc_put scale from one thread to two.
**
** Two workloads on 100,000 keys of 16 bytes with 64-byte values:
**
**   read   every thread does hc_get of random keys, all present (the cache
**          holds all 100,000); measures the shard-locked hit path under
**          concurrency.
**   mixed  75% hc_get, 25% hc_put of random keys, with max_entries at half
**          the key space, so puts evict and gets miss about half the time;
**          measures the policy lock every write takes.
**
** For context, the same random reads also go through the bare lock-free
** open-addressing table of bench_hitpath.c: its scaling is the machine's
** (two cores may share caches, memory bandwidth or, under a hypervisor, a
** physical core), so it tells how much of a shortfall is HydraCache's.
**
** Each workload runs with 1 thread and with 2 threads, each thread doing the
** same fixed number of operations; threads and the timer start together
** from a pthread barrier, and the time is wall time until the last thread
** finishes. The baseline is the 1-thread run of the same workload in the
** same process: the figure of merit is (2-thread ops/s) / (1-thread ops/s),
** ideally 2 on 2 cores (target >= 1.8 for reads). 1- and 2-thread runs
** alternate, 3 of each, and the best of each counts, since on a shared
** machine noise only ever slows a run down. Nothing is asserted on time.
*/
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hydracache.h"
#include "baseline.h"
#include "bench.h"

#define NKEYS       100000u
#define KEY_LEN     16u
#define VAL_LEN     64u
#define OPS         2000000u    /* per thread, per run */
#define MAX_THREADS 2
#define RUNS        3

static char keys[NKEYS][KEY_LEN + 1];
static uint8_t value[VAL_LEN];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: cheap next to a cache call, and per thread, so threads
   share no PRNG state (which would itself limit scaling). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1du;
}

static oa_table table;    /* the baseline, shared read-only by the threads */

/* ------------------------------------------------------------ workers */

/* What a run measures. */
typedef enum workload { BARE_READ, READ, MIXED } workload;

typedef struct worker {
    pthread_t thread;
    pthread_barrier_t *start;
    hc_cache *cache;
    workload kind;
    uint64_t seed;
    unsigned long hits, misses, puts, errors;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    hc_buf buf = HC_BUF_INIT;
    uint64_t s = w->seed;
    /* Grow the buffer before the clock starts. */
    if (hc_buf_reserve(&buf, VAL_LEN + 1) != HC_OK) w->errors++;
    pthread_barrier_wait(w->start);
    for (unsigned i = 0; i < OPS; i++) {
        uint64_t r = rng_next(&s);
        const char *key = keys[(r >> 8) % NKEYS];
        int rc;
        if (w->kind == BARE_READ) {
            rc = oa_get(&table, key, &buf) == 0 ? HC_OK : HC_MISS;
            if (rc == HC_OK) w->hits++;
            else w->misses++;
        } else if (w->kind == MIXED && (r & 3) == 0) {
            rc = hc_put(w->cache, key, value, VAL_LEN, NULL);
            w->puts++;
        } else {
            rc = hc_get(w->cache, key, &buf);
            if (rc == HC_OK) w->hits++;
            else if (rc == HC_MISS) w->misses++;
        }
        if (rc < 0) w->errors++;
    }
    hc_buf_free(&buf);
    return NULL;
}

/* One timed run: nthreads threads, OPS operations each. Returns ops/s, or
   a negative number if anything failed. */
static double run(hc_cache *c, int nthreads, workload kind, unsigned seed_base,
                  unsigned long *misses)
{
    pthread_barrier_t start;
    worker w[MAX_THREADS];
    /* The main thread waits too, so it reads the clock as they start. */
    if (pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1) != 0) return -1;
    int started = 0;
    for (int i = 0; i < nthreads; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].start = &start;
        w[i].cache = c;
        w[i].kind = kind;
        w[i].seed = 0x9e3779b97f4a7c15u * (seed_base * MAX_THREADS + (unsigned)i + 1);
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) break;
        started++;
    }
    if (started < nthreads) {
        /* The threads already started wait at a barrier that will never
           fill: nothing to recover, so leave. */
        fprintf(stderr, "bench_throughput: pthread_create failed\n");
        exit(1);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s();
    unsigned long errors = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(w[i].thread, NULL);
        errors += w[i].errors;
        *misses += w[i].misses;
    }
    double t1 = now_s();
    pthread_barrier_destroy(&start);
    if (errors) {
        fprintf(stderr, "bench_throughput: %lu cache calls failed\n", errors);
        return -1;
    }
    return (double)nthreads * OPS / (t1 - t0);
}

/* Best of RUNS at 1 and at 2 threads, alternating; prints both and the
   ratio. Returns 0, or -1 on a failure. */
static int measure(const char *name, hc_cache *c, workload kind, const char *target)
{
    double best[MAX_THREADS + 1] = {0};
    unsigned long misses = 0;
    for (int r = 0; r < bench_runs(RUNS); r++) {
        for (int n = 1; n <= MAX_THREADS; n++) {
            double ops = run(c, n, kind, (unsigned)(r * 10 + n), &misses);
            if (ops < 0) return -1;
            printf("  %s run %d, %d thread%s: %.2f M ops/s\n", name, r + 1, n,
                   n > 1 ? "s" : "", ops / 1e6);
            if (ops > best[n]) best[n] = ops;
        }
    }
    if (kind != MIXED && misses) {
        fprintf(stderr, "bench_throughput: %lu reads of present keys missed\n", misses);
        return -1;
    }
    printf("%s: 1 thread %.2f M ops/s, 2 threads %.2f M ops/s, ratio 2T/1T = %.2f%s\n",
           name, best[1] / 1e6, best[2] / 1e6, best[2] / best[1], target);
    return 0;
}

static hc_cache *open_filled(uint64_t max_entries)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench_throughput";
    cfg.max_entries = max_entries;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    hc_cache *c;
    int rc = hc_cache_open(&c, &cfg);
    if (rc != HC_OK) {
        fprintf(stderr, "bench_throughput: hc_cache_open: %s\n", hc_strerror(rc));
        exit(1);
    }
    for (uint32_t i = 0; i < NKEYS; i++) {
        if ((rc = hc_put(c, keys[i], value, VAL_LEN, NULL)) != HC_OK) {
            fprintf(stderr, "bench_throughput: hc_put: %s\n", hc_strerror(rc));
            exit(1);
        }
    }
    return c;
}

int main(void)
{
    for (uint32_t i = 0; i < NKEYS; i++) snprintf(keys[i], sizeof keys[i], "k%015u", (unsigned)i);
    for (unsigned j = 0; j < VAL_LEN; j++) value[j] = (uint8_t)j;
    printf("throughput: %u keys, %u ops per thread per run, best of %d runs\n",
           NKEYS, OPS, bench_runs(RUNS));

    /* The machine's own scaling for this access pattern, for context. */
    for (uint32_t i = 0; i < NKEYS; i++) oa_put(&table, keys[i], value, VAL_LEN);
    if (measure("bare table read", NULL, BARE_READ,
                " (the machine's own scaling, for context)") != 0)
        return 1;
    free(table.slots);
    free(table.arena);

    /* Room for every key: reads always hit. */
    hc_cache *c = open_filled(2u * NKEYS);
    int rc = measure("read", c, READ, " (target >= 1.8)");
    hc_cache_close(c);
    if (rc != 0) return 1;

    /* Half the key space fits: puts evict, gets miss about half the time. */
    c = open_filled(NKEYS / 2);
    rc = measure("mixed 75/25", c, MIXED, "");
    if (rc == 0) {
        hc_stats st;
        hc_stats_get(c, &st);
        printf("mixed 75/25: hit ratio %.1f%%, %llu evictions\n",
               100.0 * hc_stats_hit_ratio(&st), (unsigned long long)st.evictions);
    }
    hc_cache_close(c);
    return rc == 0 ? 0 : 1;
}
