/*
** bench_hitpath.c -- what a cache hit costs, against the cheapest table
** that could answer the same lookup.
**
** 100,000 keys of 16 bytes ("k%015u") with 64-byte values, looked up in one
** fixed pseudo-random order (the same for both sides):
**
**   baseline    a bare single-threaded open-addressing table: linear
**               probing, power-of-two size, load <= 0.5, keys and values in
**               one arena, XXH3 of the key; a lookup hashes, probes,
**               compares and copies the 64-byte value into a caller buffer.
**   hydracache  hc_get(c, key, &buf) on a cache holding every key (TTL
**               never): the same work plus what thread safety, TTLs and the
**               eviction policy add to a hit.
**
** Both start from a NUL-terminated key and fill an hc_buf, so they do the
** same visible work. The baseline stays an out-of-line call, as hc_get is,
** so the ratio measures the work and not inlining.
**
** The headline ratio is for independent lookups (throughput: the CPU may
** overlap one lookup's cache misses with the next's). A second measurement
** chains each lookup on the previous result (latency), because the two
** sides differ most in how much they let consecutive lookups overlap.
**
** The machine this runs on is shared and noisy, so no time is compared with
** a constant: each side is timed over several million lookups, five times,
** the two sides alternating (so a burst of noise hits both), and the ratio
** is taken from the best runs, with median and mean ratios alongside. It
** prints the figures and exits 0 unless a lookup gives a wrong answer.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hydracache.h"
#include "baseline.h"
#include "bench.h"

#ifndef NKEYS
#define NKEYS      100000u   /* -DNKEYS=... to try a cache-resident set */
#endif
#define KEY_LEN    16u
#define VAL_LEN    64u
#define ORDER_LEN  (1u << 20)   /* random key indices, replayed PASSES times */
#define PASSES     4u           /* 4M lookups per timed run */
#define RUNS       5

static char keys[NKEYS][KEY_LEN + 1];
static uint32_t order[ORDER_LEN];

/* The value stored under key i: recognisable, so a wrong hit is caught. */
static void make_value(uint32_t i, uint8_t *v)
{
    for (unsigned j = 0; j < VAL_LEN; j++) v[j] = (uint8_t)(i * 31u + j);
}

/* ------------------------------------------------------------ timing */

/* Sums a byte of every value read, so no lookup can be optimised away. */
static volatile unsigned sink;

/*
** Independent lookups let the CPU overlap one lookup's cache misses with the
** next one's; in dependent mode the next key's index depends on the last
** value read (its length >> 7, always 0, which the compiler cannot know),
** so each lookup waits for the one before: that measures latency instead
** of throughput. Separate loops, because even a masked dependency would
** still make the CPU wait.
*/
static double run_baseline(const oa_table *t, hc_buf *buf, bool dependent,
                           unsigned long *misses)
{
    unsigned acc = 0;
    double t0 = now_ns();
    for (unsigned p = 0; p < PASSES; p++) {
        if (dependent) {
            for (uint32_t i = 0; i < ORDER_LEN; i++) {
                if (oa_get(t, keys[order[i] + (buf->len >> 7)], buf) != 0) ++*misses;
                acc += buf->data[0];
            }
        } else {
            for (uint32_t i = 0; i < ORDER_LEN; i++) {
                if (oa_get(t, keys[order[i]], buf) != 0) ++*misses;
                acc += buf->data[0];
            }
        }
    }
    double t1 = now_ns();
    sink += acc;
    return (t1 - t0) / ((double)PASSES * ORDER_LEN);
}

static double run_hydracache(hc_cache *c, hc_buf *buf, bool dependent,
                             unsigned long *misses)
{
    unsigned acc = 0;
    double t0 = now_ns();
    for (unsigned p = 0; p < PASSES; p++) {
        if (dependent) {
            for (uint32_t i = 0; i < ORDER_LEN; i++) {
                if (hc_get(c, keys[order[i] + (buf->len >> 7)], buf) != HC_OK) ++*misses;
                acc += buf->data[0];
            }
        } else {
            for (uint32_t i = 0; i < ORDER_LEN; i++) {
                if (hc_get(c, keys[order[i]], buf) != HC_OK) ++*misses;
                acc += buf->data[0];
            }
        }
    }
    double t1 = now_ns();
    sink += acc;
    return (t1 - t0) / ((double)PASSES * ORDER_LEN);
}

static double median(const double *v, int n)
{
    double s[RUNS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minimum(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++) if (v[i] < m) m = v[i];
    return m;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

/*
** Time both sides RUNS times (bench_runs), alternating which goes first so that neither
** always runs in the other's cache footprint, and print per-run figures and
** the best, median and mean ratios.
*/
static int measure(const oa_table *t, hc_cache *c, hc_buf *buf, bool dependent,
                   unsigned long *misses)
{
    const char *what = dependent ? "hit path, dependent lookups" : "hit path";
    double base[RUNS], hc[RUNS];
    int runs = bench_runs(RUNS);
    for (int r = 0; r < runs; r++) {
        if (r % 2 == 0) {
            base[r] = run_baseline(t, buf, dependent, misses);
            hc[r] = run_hydracache(c, buf, dependent, misses);
        } else {
            hc[r] = run_hydracache(c, buf, dependent, misses);
            base[r] = run_baseline(t, buf, dependent, misses);
        }
        printf("  run %d: baseline %6.1f ns/op, hydracache %6.1f ns/op, ratio %.2f\n",
               r + 1, base[r], hc[r], hc[r] / base[r]);
    }
    if (*misses) {
        fprintf(stderr, "bench_hitpath: %lu lookups missed\n", *misses);
        return -1;
    }
    double bb = minimum(base, runs), bh = minimum(hc, runs);
    double mb = median(base, runs), mh = median(hc, runs);
    double ab = mean(base, runs), ah = mean(hc, runs);
    if (dependent)
        printf("%s: baseline %.1f ns/op, hydracache %.1f ns/op, ratio Y/X = %.2f "
               "(latency, for context)\n", what, bb, bh, bh / bb);
    else
        printf("%s: baseline %.1f ns/op, hydracache %.1f ns/op, ratio Y/X = %.2f "
               "(target <= 2.0)\n", what, bb, bh, bh / bb);
    printf("%s (median of %d): baseline %.1f ns/op, hydracache %.1f ns/op, ratio %.2f\n",
           what, runs, mb, mh, mh / mb);
    printf("%s (mean of %d):   baseline %.1f ns/op, hydracache %.1f ns/op, ratio %.2f\n",
           what, runs, ab, ah, ah / ab);
    return 0;
}

/* Every key answers with its own value, on both sides. */
static int check_values(const oa_table *t, hc_cache *c, hc_buf *buf)
{
    uint8_t want[VAL_LEN];
    for (uint32_t i = 0; i < NKEYS; i += 97) {
        make_value(i, want);
        if (oa_get(t, keys[i], buf) != 0 || buf->len != VAL_LEN ||
            memcmp(buf->data, want, VAL_LEN) != 0) {
            fprintf(stderr, "bench_hitpath: baseline returned a wrong value for %s\n", keys[i]);
            return -1;
        }
        if (hc_get(c, keys[i], buf) != HC_OK || buf->len != VAL_LEN ||
            memcmp(buf->data, want, VAL_LEN) != 0) {
            fprintf(stderr, "bench_hitpath: hc_get returned a wrong value for %s\n", keys[i]);
            return -1;
        }
    }
    return 0;
}

int main(void)
{
    uint8_t val[VAL_LEN];
    for (uint32_t i = 0; i < NKEYS; i++) snprintf(keys[i], sizeof keys[i], "k%015u", (unsigned)i);
    uint64_t seed = 42;
    for (uint32_t i = 0; i < ORDER_LEN; i++) order[i] = (uint32_t)(splitmix64(&seed) % NKEYS);

    oa_table t;
    memset(&t, 0, sizeof t);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench_hitpath";
    cfg.max_entries = 2u * NKEYS;         /* room for all: every lookup hits */
    cfg.default_ttl_ms = HC_TTL_NEVER;
    hc_cache *c;
    int rc = hc_cache_open(&c, &cfg);
    if (rc != HC_OK) {
        fprintf(stderr, "bench_hitpath: hc_cache_open: %s\n", hc_strerror(rc));
        return 1;
    }
    for (uint32_t i = 0; i < NKEYS; i++) {
        make_value(i, val);
        oa_put(&t, keys[i], val, VAL_LEN);
        if ((rc = hc_put(c, keys[i], val, VAL_LEN, NULL)) != HC_OK) {
            fprintf(stderr, "bench_hitpath: hc_put: %s\n", hc_strerror(rc));
            return 1;
        }
    }

    hc_buf buf = HC_BUF_INIT;
    if (check_values(&t, c, &buf) != 0) return 1;

    printf("hit path: %u keys of %u bytes, %u-byte values, %u lookups per run, "
           "best of %d runs\n", NKEYS, KEY_LEN, VAL_LEN, PASSES * ORDER_LEN, bench_runs(RUNS));
    /* Warm-up: page in both tables and settle the CPU clock. */
    unsigned long misses = 0;
    run_baseline(&t, &buf, false, &misses);
    run_hydracache(c, &buf, false, &misses);
    if (measure(&t, c, &buf, false, &misses) != 0 ||
        measure(&t, c, &buf, true, &misses) != 0)
        return 1;

    hc_buf_free(&buf);
    hc_cache_close(c);
    oa_free(&t);
    return 0;
}
