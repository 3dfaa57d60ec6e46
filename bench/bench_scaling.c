/*
** bench_scaling.c -- how reads, writes and read-through loads scale with
** threads, against what a C programmer would write instead.
**
** Workloads, on keys of 16 bytes ("k%015u") and 64-byte values:
**
**   read       hc_get of 100,000 keys, all present
**   90/10      90% get, 10% put of 100,000 keys, room for all (no eviction)
**   75/25      75% get, 25% put of 100,000 keys, room for half (evictions)
**   zipf       read-through (hc_get_or_load) of Zipf(0.99)-distributed keys
**              out of 1,000,000, room for 100,000; the loader is free
**   zipf-10us  the same with a loader that costs about 10 us (a busy wait:
**              the price of a query that the thread spends on the CPU)
**
** Implementations, each measured on the same kind of key sequence (each run
** draws its own) in the same process:
**
**   hydracache     the cache (max_entries = the room above, no TTL)
**   lru-1          a chained hash table with an exact LRU list under one
**                  pthread mutex (lru.h)
**   lru-64         64 such tables, each with its own mutex and 1/64 of the
**                  room, picked by the key's hash (lru.h)
**   bare           for reads, the bare lock-free open-addressing table of
**                  bench_hitpath; for 90/10 and 75/25, the least a
**                  concurrent table does (striped.h: 64 locked stripes,
**                  lock-free gets, values overwritten in place, no
**                  eviction, so it keeps every key). Either way the
**                  machine's own scaling for that mix of reads and writes.
**
** Each run lasts a fixed time (-d, 0.4 s): threads start together from a
** barrier and count operations until the main thread says stop. Runs
** alternate between implementations and thread counts, -r rounds (3), and
** the best of each counts, since noise only ever slows a run. Printed: ops/s
** for each thread count (-t, default 1, 2 and nproc), the hit ratio each
** achieved, each thread count's speed over its own one-thread speed, and
** hydracache's over lru-64's at the same thread count. Nothing is asserted
** on time; it exits 1 only on a wrong value or a failed call.
**
**   bench_scaling [-t 1,2,4,16] [-d SECONDS] [-r ROUNDS] [-w read,90/10,...]
**                 [-i hydracache,lru-64,...]    (-i: only those, to profile)
**
** It links only the cache (no database library), so it also builds as a
** static binary to carry to a bigger machine: see docs/BENCHMARKS.md.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <unistd.h>

#include "hydracache.h"
#include "baseline.h"
#include "bench.h"
#include "lru.h"
#include "striped.h"

#define KEY_LEN     16u
#define VAL_LEN     64u
#define SMALL_KEYS  100000u
#define ZIPF_KEYS   1000000u
#define ZIPF_ROOM   100000u
#define ZIPF_THETA  0.99
#define MAX_THREADS 256
#define MAX_COUNTS  16
#define BATCH       64                  /* operations between looks at stop */

enum { HC, LRU1, LRU64, BARE, NIMPL };
static const char *const impl_name[NIMPL] = {"hydracache", "lru-1", "lru-64", "bare"};

enum { W_READ, W_9010, W_7525, W_ZIPF, W_ZIPF_SLOW, NWL };
typedef struct workload {
    const char *name, *what;
    unsigned keys, room, put_every;     /* put_every 0: no puts */
    bool zipf, slow, bare;
} workload;
static const workload wl[NWL] = {
    {"read", "100% get, all 100,000 keys present", SMALL_KEYS, 2 * SMALL_KEYS, 0, false, false, true},
    {"90/10", "90% get / 10% put, room for all 100,000 keys", SMALL_KEYS, 2 * SMALL_KEYS, 10, false, false, true},
    {"75/25", "75% get / 25% put, room for 50,000 of 100,000 keys", SMALL_KEYS, SMALL_KEYS / 2, 4, false, false, true},
    {"zipf", "read-through, Zipf(0.99) over 1,000,000 keys, room 100,000, free loader", ZIPF_KEYS, ZIPF_ROOM, 0, true, false, false},
    {"zipf-10us", "the same, the loader costs 10 us", ZIPF_KEYS, ZIPF_ROOM, 0, true, true, false},
};

static char (*keys)[KEY_LEN + 1];
static uint8_t value[VAL_LEN];

/* ---------------------------------------------------------------- setup */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("bench_scaling: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/*
** Zipf(theta) over n ranks (rank 0 the most popular), drawn in O(1) by
** Walker's alias method: rank i with probability prob[i] / 2^32, else
** alias[i]. Each thread draws from its own PRNG, so no sequence repeats
** (a table of precomputed samples did: a run replaying positions the run
** before it had loaded found them cached). Built by Vose's algorithm.
*/
static uint32_t *zipf_prob, *zipf_alias;
static unsigned zipf_n;

static void make_zipf(unsigned n, double theta)
{
    double *p = xmalloc(n * sizeof *p), sum = 0;
    for (unsigned i = 0; i < n; i++) sum += p[i] = 1.0 / pow((double)i + 1, theta);
    unsigned *small = xmalloc(n * sizeof *small), *large = xmalloc(n * sizeof *large);
    unsigned ns = 0, nl = 0;
    zipf_prob = xmalloc(n * sizeof *zipf_prob);
    zipf_alias = xmalloc(n * sizeof *zipf_alias);
    for (unsigned i = 0; i < n; i++) {
        p[i] = p[i] * n / sum;                  /* mean 1 */
        if (p[i] < 1) small[ns++] = i;
        else large[nl++] = i;
    }
    while (ns && nl) {
        unsigned s = small[--ns], l = large[--nl];
        zipf_prob[s] = (uint32_t)(p[s] * 4294967295.0);
        zipf_alias[s] = l;
        p[l] -= 1 - p[s];
        if (p[l] < 1) small[ns++] = l;
        else large[nl++] = l;
    }
    while (nl) { unsigned l = large[--nl]; zipf_prob[l] = UINT32_MAX; zipf_alias[l] = l; }
    while (ns) { unsigned s = small[--ns]; zipf_prob[s] = UINT32_MAX; zipf_alias[s] = s; }
    zipf_n = n;
    free(p);
    free(small);
    free(large);
}

static inline unsigned zipf_draw(uint64_t r)
{
    unsigned i = (unsigned)(((r >> 32) * zipf_n) >> 32);
    return (uint32_t)r < zipf_prob[i] ? i : zipf_alias[i];
}

/* ---------------------------------------------------------------- loaders */

static int load_free(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)err;
    return hc_buf_set(out, value, VAL_LEN);
}

static int load_10us(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)err;
    double until = now_ns() + 10000;
    while (now_ns() < until) {}
    return hc_buf_set(out, value, VAL_LEN);
}

/* ---------------------------------------------------------------- workers */

/* One implementation's instance for one workload. */
typedef struct target {
    int impl;
    hc_cache *hc;
    lru_cache lru;
    oa_table *bare;
    st_table *striped;
} target;

typedef struct worker {
    pthread_t thread;
    pthread_barrier_t *start;
    atomic_int *stop;
    const workload *w;
    target *t;
    uint64_t seed;
    uint64_t ops, lookups, hits, errors;
} worker;

static void *work(void *arg)
{
    worker *k = arg;
    const workload *w = k->w;
    target *t = k->t;
    hc_buf buf = HC_BUF_INIT;
    hc_error err;
    uint64_t s = k->seed;
    hc_load_fn load = w->slow ? load_10us : load_free;
    if (hc_buf_reserve(&buf, VAL_LEN + 1) != HC_OK) k->errors++;
    pthread_barrier_wait(k->start);
    while (!atomic_load_explicit(k->stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < BATCH; i++) {
            uint64_t r = splitmix64(&s);
            const char *key = w->zipf ? keys[zipf_draw(r)] : keys[(r >> 8) % w->keys];
            bool put = w->put_every && r % w->put_every == 0;
            int hit = 0;
            if (put) {
                if (t->impl == HC) {
                    if (hc_put(t->hc, key, value, VAL_LEN, NULL) != HC_OK) k->errors++;
                } else if (t->impl == BARE) {
                    st_put(t->striped, key, value);
                } else {
                    lru_put(&t->lru, key, value, VAL_LEN);
                }
                continue;
            }
            switch (t->impl) {
            case HC:
                if (w->zipf) {
                    int rc = hc_get_or_load(t->hc, key, NULL, load, NULL, &buf, &err);
                    if (rc != HC_OK) k->errors++;
                } else {
                    int rc = hc_get(t->hc, key, &buf);
                    hit = rc == HC_OK;
                    if (rc < 0) k->errors++;
                }
                break;
            case LRU1:
            case LRU64:
                if (w->zipf) hit = lru_get_or_load(&t->lru, key, load, NULL, &buf) == 0;
                else hit = lru_get(&t->lru, key, &buf) == 0;
                break;
            case BARE:
                if (t->striped) hit = st_get(t->striped, key, &buf) == 0;
                else hit = oa_get(t->bare, key, &buf) == 0;
                break;
            }
            if ((hit || w->zipf) && buf.len != VAL_LEN) k->errors++;
            k->hits += (uint64_t)hit;
            k->lookups++;
        }
        k->ops += BATCH;
    }
    hc_buf_free(&buf);
    return NULL;
}

typedef struct result {
    double ops_s;
    uint64_t lookups, hits;
} result;

/* One timed run of n threads on t. */
static result run(const workload *w, target *t, int n, double seconds)
{
    static worker ws[MAX_THREADS];
    /* Every run and thread gets a sequence of its own: a run that replayed
       the keys of the run before it would find them cached. */
    static uint64_t runs;
    uint64_t stream = splitmix64(&runs);
    pthread_barrier_t start;
    atomic_int stop = 0;
    result res = {0, 0, 0};
    hc_stats before;
    if (t->impl == HC) hc_stats_get(t->hc, &before);
    if (pthread_barrier_init(&start, NULL, (unsigned)n + 1) != 0) exit(1);
    for (int i = 0; i < n; i++) {
        worker *k = &ws[i];
        memset(k, 0, sizeof *k);
        k->start = &start;
        k->stop = &stop;
        k->w = w;
        k->t = t;
        k->seed = stream ^ (0x9e3779b97f4a7c15u * ((uint64_t)i + 1));
        if (pthread_create(&k->thread, NULL, work, k) != 0) {
            fprintf(stderr, "bench_scaling: pthread_create failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now_ns();
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    uint64_t ops = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].thread, NULL);
        ops += ws[i].ops;
        errors += ws[i].errors;
        res.lookups += ws[i].lookups;
        res.hits += ws[i].hits;
    }
    double t1 = now_ns();
    pthread_barrier_destroy(&start);
    if (errors) {
        fprintf(stderr, "bench_scaling: %s, %s: %llu calls failed or read a wrong value\n",
                w->name, impl_name[t->impl], (unsigned long long)errors);
        exit(1);
    }
    if (t->impl == HC && w->zipf) {
        hc_stats after;
        hc_stats_get(t->hc, &after);
        res.hits = after.hits - before.hits;
        res.lookups = res.hits + after.misses - before.misses;
    }
    res.ops_s = (double)ops / ((t1 - t0) * 1e-9);
    return res;
}

/* ---------------------------------------------------------------- targets */

static void target_open(target *t, int impl, const workload *w, oa_table *bare)
{
    memset(t, 0, sizeof *t);
    t->impl = impl;
    if (impl == HC) {
        hc_config cfg;
        hc_config_init(&cfg);
        cfg.name = "bench_scaling";
        cfg.max_entries = w->room;
        cfg.default_ttl_ms = HC_TTL_NEVER;
        int rc = hc_cache_open(&t->hc, &cfg);
        if (rc != HC_OK) {
            fprintf(stderr, "bench_scaling: hc_cache_open: %s\n", hc_strerror(rc));
            exit(1);
        }
    } else if (impl == BARE && !w->put_every) {
        t->bare = bare;
        return;
    } else if (impl == BARE) {
        t->striped = xmalloc(sizeof *t->striped);
        st_init(t->striped, w->keys);
    } else {
        lru_cache_init(&t->lru, impl == LRU1 ? 1 : 64, w->room);
    }
    /* The uniform workloads start with every key in (the room allows all
       of them or evicts); the Zipf ones fill as they run. */
    if (!w->zipf) {
        for (unsigned i = 0; i < w->keys; i++) {
            if (impl == HC) {
                if (hc_put(t->hc, keys[i], value, VAL_LEN, NULL) != HC_OK) exit(1);
            } else if (impl == BARE) {
                st_put(t->striped, keys[i], value);
            } else {
                lru_put(&t->lru, keys[i], value, VAL_LEN);
            }
        }
    }
}

static void target_close(target *t)
{
    if (t->impl == HC) {
        hc_cache_close(t->hc);
    } else if (t->impl == BARE) {
        if (t->striped) st_destroy(t->striped);
        free(t->striped);
    } else {
        lru_cache_destroy(&t->lru);
    }
}

/* ---------------------------------------------------------------- main */

static int counts[MAX_COUNTS], ncounts;

static void parse_counts(const char *s)
{
    ncounts = 0;
    while (*s && ncounts < MAX_COUNTS) {
        int n = atoi(s);
        if (n >= 1 && n <= MAX_THREADS) {
            bool seen = false;
            for (int i = 0; i < ncounts; i++) seen |= counts[i] == n;
            if (!seen) counts[ncounts++] = n;
        }
        s += strcspn(s, ",");
        if (*s) s++;
    }
    /* Ascending, so that the first is the one-thread baseline if asked. */
    for (int i = 1; i < ncounts; i++)
        for (int j = i; j > 0 && counts[j] < counts[j - 1]; j--) {
            int x = counts[j];
            counts[j] = counts[j - 1];
            counts[j - 1] = x;
        }
}

static void usage(void)
{
    fputs("usage: bench_scaling [-t 1,2,16] [-d seconds] [-r rounds] [-w read,90/10,75/25,zipf,zipf-10us]\n"
          "                     [-i hydracache,lru-1,lru-64,bare]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = 0.4;
    int rounds = 3;
    bool want[NWL], use[NIMPL];
    for (int i = 0; i < NIMPL; i++) use[i] = true;
    for (int i = 0; i < NWL; i++) want[i] = true;
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    char dflt[64];
    snprintf(dflt, sizeof dflt, "1,2,%ld", np > 0 ? np : 2);
    parse_counts(dflt);
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "-t") == 0) {
            parse_counts(argv[++i]);
        } else if (strcmp(argv[i], "-d") == 0) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "-r") == 0) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-i") == 0) {
            /* Only these implementations (to profile one of them). */
            const char *s = argv[++i];
            for (int j = 0; j < NIMPL; j++) use[j] = false;
            while (*s) {
                size_t n = strcspn(s, ",");
                for (int j = 0; j < NIMPL; j++)
                    if (strlen(impl_name[j]) == n && strncmp(impl_name[j], s, n) == 0) use[j] = true;
                s += n;
                if (*s) s++;
            }
            if (!use[HC]) usage();
        } else if (strcmp(argv[i], "-w") == 0) {
            const char *s = argv[++i];
            for (int j = 0; j < NWL; j++) want[j] = false;
            while (*s) {
                size_t n = strcspn(s, ",");
                for (int j = 0; j < NWL; j++)
                    if (strlen(wl[j].name) == n && strncmp(wl[j].name, s, n) == 0) want[j] = true;
                s += n;
                if (*s) s++;
            }
        } else {
            usage();
        }
    }
    if (ncounts == 0 || seconds <= 0 || rounds < 1) usage();

    keys = xmalloc((size_t)ZIPF_KEYS * sizeof *keys);
    for (unsigned i = 0; i < ZIPF_KEYS; i++) snprintf(keys[i], sizeof keys[i], "k%015u", i);
    for (unsigned j = 0; j < VAL_LEN; j++) value[j] = (uint8_t)j;
    if (want[W_ZIPF] || want[W_ZIPF_SLOW]) make_zipf(ZIPF_KEYS, ZIPF_THETA);
    oa_table bare;
    memset(&bare, 0, sizeof bare);
    for (unsigned i = 0; i < SMALL_KEYS; i++) oa_put(&bare, keys[i], value, VAL_LEN);

    printf("scaling: %ld CPUs online, runs of %.2f s, best of %d; threads", np, seconds, rounds);
    for (int i = 0; i < ncounts; i++) printf(" %d", counts[i]);
    printf("\n");

    for (int wi = 0; wi < NWL; wi++) {
        if (!want[wi]) continue;
        const workload *w = &wl[wi];
        int nimpl = w->bare ? NIMPL : BARE;
        target t[NIMPL];
        for (int m = 0; m < nimpl; m++)
            if (use[m]) target_open(&t[m], m, w, &bare);
        /* Warm up: fill the read-through caches (with the free loader: the
           slow one would take minutes to), settle the allocator. */
        workload fast = *w;
        fast.slow = false;
        for (int m = 0; m < nimpl; m++)
            if (use[m]) (void)run(&fast, &t[m], 1, 2 * seconds);

        result best[MAX_COUNTS][NIMPL];
        uint64_t lookups[MAX_COUNTS][NIMPL], hits[MAX_COUNTS][NIMPL];
        memset(best, 0, sizeof best);
        memset(lookups, 0, sizeof lookups);
        memset(hits, 0, sizeof hits);
        for (int r = 0; r < rounds; r++) {
            for (int ci = 0; ci < ncounts; ci++) {
                for (int j = 0; j < nimpl; j++) {
                    int m = (j + r + ci) % nimpl;       /* rotate who goes first */
                    if (!use[m]) continue;
                    result x = run(w, &t[m], counts[ci], seconds);
                    if (x.ops_s > best[ci][m].ops_s) best[ci][m] = x;
                    lookups[ci][m] += x.lookups;
                    hits[ci][m] += x.hits;
                }
            }
        }
        for (int m = 0; m < nimpl; m++)
            if (use[m]) target_close(&t[m]);

        printf("\n%s: %s\n", w->name, w->what);
        printf("  %7s", "threads");
        for (int m = 0; m < nimpl; m++) printf("  %20s", impl_name[m]);
        printf("  %12s  %12s\n", "hc Nt/1t", "hc/lru-64");
        for (int ci = 0; ci < ncounts; ci++) {
            printf("  %7d", counts[ci]);
            for (int m = 0; m < nimpl; m++) {
                double hr = lookups[ci][m] ? 100.0 * (double)hits[ci][m] / (double)lookups[ci][m] : 0;
                char cell[64];
                snprintf(cell, sizeof cell, "%.2f M (%.1f%%)", best[ci][m].ops_s / 1e6, hr);
                printf("  %20s", cell);
            }
            printf("  %12.2f  %12.2f\n", best[ci][HC].ops_s / best[0][HC].ops_s,
                   best[ci][HC].ops_s / best[ci][LRU64].ops_s);
        }
        for (int ci = 1; ci < ncounts; ci++)
            printf("%s: %d threads: hydracache %.2fx its %d-thread speed, %.2fx lru-64, "
                   "lru-64 %.2fx its own%s\n", w->name, counts[ci],
                   best[ci][HC].ops_s / best[0][HC].ops_s, counts[0],
                   best[ci][HC].ops_s / best[ci][LRU64].ops_s,
                   best[ci][LRU64].ops_s / best[0][LRU64].ops_s,
                   wi == W_9010 || wi == W_7525
                       ? (counts[ci] == 2 ? " (targets on 2 cores: >= 1.6x and >= 1.0x)" : "")
                       : "");
        fflush(stdout);
    }
    oa_free(&bare);
    free(keys);
    free(zipf_prob);
    free(zipf_alias);
    return 0;
}
