/*
** bench_memory.c -- what HydraCache costs in memory per entry, beyond the
** key and value bytes themselves.
**
** Inserts 1,000,000 entries of 16-byte keys ("k%015u") and 64-byte values
** and reads the heap in use before and after, from glibc's mallinfo2()
** (uordblks + hblkhd: bytes in use in the arenas, chunk headers and padding
** included, plus mmap'ed blocks). The overhead per entry is
**
**     (after - before - 1,000,000 * (16 + 64)) / 1,000,000
**
** and counts everything the cache allocates: entry headers, hash buckets,
** the eviction policy's sketch and ghosts, allocator rounding. The resident
** set size from /proc/self/statm is shown as a cross-check (it sees pages,
** not bytes, and not memory that malloc reserved but never touched).
**
** Measured for max_entries = 1,000,000 (a full cache: the policy sizes its
** structures for it) and for max_entries = 0 (unbounded), and, for context,
** for the bare open-addressing table of bench_hitpath.c (load <= 0.5, one
** arena, both doubling when full: untuned). Each measurement runs in a
** forked child so that none inherits another's freed-but-kept memory.
** Memory does not depend on timing, so one run each is enough; nothing is
** asserted, the figures are printed.
*/
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hydracache.h"
#include "baseline.h"

#define NENTRIES 1000000u
#define KEY_LEN  16u
#define VAL_LEN  64u

typedef struct usage {
    double heap;        /* mallinfo2: uordblks + hblkhd */
    double rss;         /* resident pages * page size */
} usage;

/* What one measurement sends back to the parent. */
typedef struct result {
    usage before, after;
    uint64_t entries;   /* what the structure says it holds */
    double untouched;   /* bytes reserved but never written (baseline arena) */
    int ok;
} result;

static usage usage_now(void)
{
    usage u = {0, 0};
    struct mallinfo2 mi = mallinfo2();
    u.heap = (double)mi.uordblks + (double)mi.hblkhd;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long size, resident;
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            u.rss = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    return u;
}

/* Key i, written into a stack buffer so that no key array is counted. */
static void make_key(char *k, size_t n, uint32_t i)
{
    snprintf(k, n, "k%015u", (unsigned)i);
}

/* ------------------------------------------------------------ measures */

static result measure_hydracache(uint64_t max_entries)
{
    result r;
    memset(&r, 0, sizeof r);
    uint8_t val[VAL_LEN];
    memset(val, 'v', sizeof val);
    char key[KEY_LEN + 1];

    r.before = usage_now();
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench_memory";
    cfg.max_entries = max_entries;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    hc_cache *c;
    int rc = hc_cache_open(&c, &cfg);
    if (rc != HC_OK) {
        fprintf(stderr, "bench_memory: hc_cache_open: %s\n", hc_strerror(rc));
        return r;
    }
    for (uint32_t i = 0; i < NENTRIES; i++) {
        make_key(key, sizeof key, i);
        if ((rc = hc_put(c, key, val, VAL_LEN, NULL)) != HC_OK) {
            fprintf(stderr, "bench_memory: hc_put: %s\n", hc_strerror(rc));
            return r;
        }
    }
    r.after = usage_now();
    hc_diagnostics d;
    hc_diagnostics_get(c, &d);
    r.entries = d.entries;
    r.ok = 1;
    /* No hc_cache_close: the child exits, and its memory goes with it. */
    return r;
}

static result measure_baseline(void)
{
    result r;
    memset(&r, 0, sizeof r);
    uint8_t val[VAL_LEN];
    memset(val, 'v', sizeof val);
    char key[KEY_LEN + 1];
    oa_table t;
    memset(&t, 0, sizeof t);

    r.before = usage_now();
    for (uint32_t i = 0; i < NENTRIES; i++) {
        make_key(key, sizeof key, i);
        oa_put(&t, key, val, VAL_LEN);
    }
    r.after = usage_now();
    r.entries = t.count;
    r.untouched = (double)(t.arena_cap - t.arena_len);
    r.ok = 1;
    return r;
}

/* Run one measurement in a forked child and bring its result back through
   a pipe: each starts from the same clean heap. which: 0 baseline, else
   hydracache with max_entries = which - 1. */
static result isolated(uint64_t which)
{
    result r;
    memset(&r, 0, sizeof r);
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) return r;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return r;
    }
    if (pid == 0) {
        close(fd[0]);
        result cr = which ? measure_hydracache(which - 1) : measure_baseline();
        ssize_t n = write(fd[1], &cr, sizeof cr);
        _exit(n == (ssize_t)sizeof cr ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fd[0], (char *)&r + got, sizeof r - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) r.ok = 0;
    return r;
}

/* Bytes per entry beyond the key and value bytes. */
static double overhead(double before, double after)
{
    return (after - before - (double)NENTRIES * (KEY_LEN + VAL_LEN)) / NENTRIES;
}

static int report(const char *name, result r)
{
    if (!r.ok) {
        fprintf(stderr, "bench_memory: %s: measurement failed\n", name);
        return -1;
    }
    if (r.entries != NENTRIES)
        fprintf(stderr, "bench_memory: %s holds %llu entries, not %u\n", name,
                (unsigned long long)r.entries, NENTRIES);
    printf("  %-32s heap +%.1f MB (%.1f bytes/entry overhead), "
           "RSS +%.1f MB (%.1f bytes/entry overhead)\n", name,
           (r.after.heap - r.before.heap) / 1e6, overhead(r.before.heap, r.after.heap),
           (r.after.rss - r.before.rss) / 1e6, overhead(r.before.rss, r.after.rss));
    return 0;
}

int main(void)
{
    printf("memory: %u entries, %u-byte keys, %u-byte values (%u MB of payload)\n",
           NENTRIES, KEY_LEN, VAL_LEN, NENTRIES * (KEY_LEN + VAL_LEN) / 1000000u);
    result full = isolated(1 + (uint64_t)NENTRIES);
    result unbounded = isolated(1 + 0);
    result base = isolated(0);
    if (report("hydracache, max_entries=1000000", full) != 0 ||
        report("hydracache, max_entries=0", unbounded) != 0 ||
        report("baseline open addressing", base) != 0)
        return 1;

    double hc = overhead(full.before.heap, full.after.heap);
    double bl = overhead(base.before.heap, base.after.heap);
    printf("memory: %.1f bytes overhead per entry (target <= 64)\n", hc);
    printf("memory: baseline %.1f bytes overhead per entry (%.1f of them arena doubling "
           "slack, never touched), hydracache - baseline = %.1f bytes\n",
           bl, base.untouched / NENTRIES, hc - bl);
    return 0;
}
