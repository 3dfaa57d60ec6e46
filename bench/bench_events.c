/*
** bench_events.c -- what events cost: nothing measurable while nobody
** subscribes, and how much one subscriber adds to the writes it hears of.
**
**   hits     hc_get of present keys (100,000 keys of 16 bytes, 64-byte
**            values, one fixed random order) on two caches holding the same
**            entries: access_events off, and access_events on with nobody
**            subscribed, where each hit reaches the publishing front (a
**            relaxed load and a branch). The ratio on/off is expected at
**            about 1.00.
**   writes   hc_put then hc_invalidate_key of random keys (each pair
**            publishes two events) with nobody subscribed; with one
**            subscriber nobody reads (its full ring drops the oldest event
**            at each push: what copying and queueing cost); and with one
**            subscriber another thread drains as fast as it can (what
**            subscribing costs the writer, handing each event to another
**            core included). Ratios are against nobody subscribed.
**
** The machine is shared and noisy, so nothing is compared with a constant:
** the sides of each measurement alternate, 3 runs each, and the best of
** each counts, since noise only ever slows a run down. It prints the
** figures and exits 0 unless a cache call fails.
*/
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hydracache.h"
#include "bench.h"

#define NKEYS      100000u
#define KEY_LEN    16u
#define VAL_LEN    64u
#define ORDER_LEN  (1u << 20)   /* random key indices */
#define PASSES     2u           /* 2M hits per timed run */
#define PAIRS      200000u      /* put + invalidate pairs per timed run */
#define RUNS       3

static char keys[NKEYS][KEY_LEN + 1];
static uint32_t order[ORDER_LEN];
static uint8_t value[VAL_LEN];

static void fail(const char *what, int rc)
{
    fprintf(stderr, "bench_events: %s: %s\n", what, hc_strerror(rc));
    exit(1);
}

static hc_cache *open_cache(bool access_events)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench_events";
    cfg.max_entries = 2u * NKEYS;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    cfg.access_events = access_events;
    hc_cache *c;
    int rc = hc_cache_open(&c, &cfg);
    if (rc != HC_OK) fail("hc_cache_open", rc);
    return c;
}

/* -------------------------------------------------------------- hits */

/* Sums a byte of every value read, so no lookup can be optimised away. */
static volatile unsigned sink;

/* ns per hc_get over PASSES passes of the order. */
static double run_hits(hc_cache *c, hc_buf *buf)
{
    unsigned acc = 0;
    double t0 = now_ns();
    for (unsigned p = 0; p < PASSES; p++) {
        for (uint32_t i = 0; i < ORDER_LEN; i++) {
            int rc = hc_get(c, keys[order[i]], buf);
            if (rc != HC_OK) fail("hc_get of a present key", rc);
            acc += buf->data[0];
        }
    }
    double t1 = now_ns();
    sink += acc;
    return (t1 - t0) / ((double)PASSES * ORDER_LEN);
}

static void measure_hits(void)
{
    hc_cache *off = open_cache(false), *on = open_cache(true);
    /* Filled in turns, so that neither cache's entries lie better in
       memory than the other's. */
    for (uint32_t i = 0; i < NKEYS; i++) {
        int rc = hc_put(off, keys[i], value, VAL_LEN, NULL);
        if (rc == HC_OK) rc = hc_put(on, keys[i], value, VAL_LEN, NULL);
        if (rc != HC_OK) fail("hc_put", rc);
    }
    hc_buf buf = HC_BUF_INIT;
    double best_off = 0, best_on = 0;
    for (int r = 0; r < bench_runs(RUNS); r++) {
        double t_off, t_on;
        if (r % 2 == 0) {
            t_off = run_hits(off, &buf);
            t_on = run_hits(on, &buf);
        } else {
            t_on = run_hits(on, &buf);
            t_off = run_hits(off, &buf);
        }
        printf("  hits run %d: access_events off %6.1f ns/op, on (no subscriber) %6.1f ns/op, ratio %.2f\n",
               r + 1, t_off, t_on, t_on / t_off);
        if (r == 0 || t_off < best_off) best_off = t_off;
        if (r == 0 || t_on < best_on) best_on = t_on;
    }
    printf("hits: access_events off %.1f ns/op, on with no subscriber %.1f ns/op, "
           "ratio on/off = %.2f (expected ~1.00)\n", best_off, best_on, best_on / best_off);
    hc_stats st;
    hc_stats_get(on, &st);
    if (st.events_published != 0) {
        fprintf(stderr, "bench_events: %llu events published with nobody subscribed\n",
                (unsigned long long)st.events_published);
        exit(1);
    }
    hc_buf_free(&buf);
    hc_cache_close(off);
    hc_cache_close(on);
}

/* ------------------------------------------------------------ writes */

typedef struct drainer {
    pthread_t thread;
    hc_subscription *sub;
    uint64_t received, skipped;
} drainer;

/* Receive until the sentinel key "stop" (the newest event is never
   dropped, so it always arrives). */
static void *drain(void *arg)
{
    drainer *d = arg;
    hc_event ev;
    for (;;) {
        int rc = hc_subscription_recv(d->sub, &ev, UINT64_MAX);
        if (rc == HC_ELAGGED) {
            d->skipped += ev.skipped;
            continue;
        }
        if (rc != HC_OK) break;
        d->received++;
        if (ev.key && strcmp(ev.key, "stop") == 0) break;
    }
    return NULL;
}

/* Who listens to the writes. */
typedef enum setup { NOBODY, IDLE, DRAINED } setup;
#define SETUPS 3

/* ns per put + invalidate pair. An IDLE subscriber is never read, so its
   ring stays full and each push drops the oldest event; a DRAINED one is
   read by a thread of its own (d). */
static double run_writes(hc_cache *c, setup who, drainer *d, unsigned seed)
{
    hc_subscription *idle = NULL;
    int rc;
    if (who == IDLE && (rc = hc_subscribe(c, NULL, &idle)) != HC_OK) fail("hc_subscribe", rc);
    if (who == DRAINED) {
        memset(d, 0, sizeof *d);
        if ((rc = hc_subscribe(c, NULL, &d->sub)) != HC_OK) fail("hc_subscribe", rc);
        if (pthread_create(&d->thread, NULL, drain, d) != 0) {
            fprintf(stderr, "bench_events: pthread_create failed\n");
            exit(1);
        }
    }
    uint64_t s = seed;
    double t0 = now_ns();
    for (unsigned i = 0; i < PAIRS; i++) {
        const char *key = keys[splitmix64(&s) % NKEYS];
        if ((rc = hc_put(c, key, value, VAL_LEN, NULL)) != HC_OK) fail("hc_put", rc);
        if ((rc = hc_invalidate_key(c, key)) != HC_OK) fail("hc_invalidate_key", rc);
    }
    double t1 = now_ns();
    hc_subscription_close(idle);
    if (who == DRAINED) {
        if ((rc = hc_put(c, "stop", value, 1, NULL)) != HC_OK) fail("hc_put", rc);
        pthread_join(d->thread, NULL);
        hc_subscription_close(d->sub);
    }
    return (t1 - t0) / PAIRS;
}

static void measure_writes(void)
{
    hc_cache *c = open_cache(false);
    drainer d = {0};
    double best[SETUPS] = {0};
    for (int r = 0; r < bench_runs(RUNS); r++) {
        double t[SETUPS];
        /* Each run starts with a different setup. */
        for (int i = 0; i < SETUPS; i++) {
            setup who = (setup)((r + i) % SETUPS);
            t[who] = run_writes(c, who, &d, (unsigned)r + 1);
        }
        printf("  writes run %d: nobody %6.1f ns/pair, idle subscriber %6.1f ns/pair (%.2fx), "
               "drained subscriber %6.1f ns/pair (%.2fx; it received %llu events, lost %llu)\n",
               r + 1, t[NOBODY], t[IDLE], t[IDLE] / t[NOBODY], t[DRAINED],
               t[DRAINED] / t[NOBODY], (unsigned long long)d.received,
               (unsigned long long)d.skipped);
        for (int i = 0; i < SETUPS; i++)
            if (r == 0 || t[i] < best[i]) best[i] = t[i];
    }
    printf("writes: put + invalidate_key, nobody subscribed %.1f ns/pair; "
           "one idle subscriber %.1f ns/pair, ratio = %.2f (copying and queueing); "
           "one drained subscriber %.1f ns/pair, ratio = %.2f (the cost of subscribing)\n",
           best[NOBODY], best[IDLE], best[IDLE] / best[NOBODY],
           best[DRAINED], best[DRAINED] / best[NOBODY]);
    hc_cache_close(c);
}

int main(void)
{
    for (uint32_t i = 0; i < NKEYS; i++) snprintf(keys[i], sizeof keys[i], "k%015u", (unsigned)i);
    for (unsigned j = 0; j < VAL_LEN; j++) value[j] = (uint8_t)j;
    uint64_t s = 42;
    for (uint32_t i = 0; i < ORDER_LEN; i++) order[i] = (uint32_t)(splitmix64(&s) % NKEYS);
    printf("events: %u keys, %u hits and %u put + invalidate pairs per run, best of %d runs\n",
           NKEYS, PASSES * ORDER_LEN, PAIRS, bench_runs(RUNS));
    measure_hits();
    measure_writes();
    return 0;
}
