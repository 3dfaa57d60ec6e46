/*
** bench.h -- what the benchmarks share: the clock, a seeded PRNG, and the
** comparison for sorting runs.
*/
#ifndef HC_BENCH_H
#define HC_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* splitmix64: a fixed seed gives every run, and both sides, one order. */
static inline uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* For qsort of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
** How many of its runs a benchmark makes: all of them, or one when
** HC_BENCH_QUICK is set to anything but 0 (make bench QUICK=1), for a quick
** look whose figures are noisier. The runs are each benchmark's length
** knob; what one run does stays the same, so the figures stay comparable.
*/
static inline int bench_runs(int runs)
{
    const char *q = getenv("HC_BENCH_QUICK");
    return q && *q && strcmp(q, "0") != 0 ? 1 : runs;
}

#endif
