/*
** bench_bus.c -- how long an invalidation takes to reach another process
** over the PostgreSQL bus, next to bare LISTEN/NOTIFY in the same run.
**
** This process starts a child (itself, with --child) on the same
** PostgreSQL (HC_PG_CONNINFO, a Unix socket under scripts/pg.sh). For each
** of ROUNDS rounds it reads CLOCK_MONOTONIC (one clock for every process
** of the machine), invalidates key "k<i>" in its cache, and waits for the
** child to report, through a pipe, the monotonic time at which its
** subscription received the matching key_invalidated event (origin bus).
** The latency is the child's time minus ours: publish, server, the
** child's bus thread, the cache, the event ring. One round at a time, so
** it is the latency of an idle system, not of a queue.
**
** The baseline is the same rounds with no HydraCache at all: pg_notify on
** one libpq connection, LISTEN, poll and PQnotifies on another in the
** child. Figures: p50, p99 and max of each, the ratio bus/bare, and how
** many rounds were lost (a round that does not arrive within 10 s, or
** arrives with the wrong key). Nothing is asserted on time.
*/
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "hydracache.h"

#define ROUNDS 1000

extern char **environ;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ child */

static int child_bus(const char *info, const char *chan)
{
    hc_bus *bus;
    hc_error err;
    if (hc_bus_pg_new(&bus, info, chan, &err) != HC_OK) {
        fprintf(stderr, "child: %s\n", err.message);
        return 1;
    }
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench";
    cfg.node_id = "child";
    cfg.bus = bus;
    hc_cache *c;
    hc_subscription *sub;
    hc_event_filter f = {HC_EVENT_BIT(HC_EVENT_KEY_INVALIDATED), HC_ORIGIN_BIT(HC_ORIGIN_BUS), NULL, NULL};
    if (hc_cache_open(&c, &cfg) != HC_OK || hc_subscribe(c, &f, &sub) != HC_OK) return 1;
    printf("ready\n");
    fflush(stdout);
    hc_event ev;
    int rc;
    while ((rc = hc_subscription_recv(sub, &ev, 10000)) != HC_ETIMEDOUT) {
        if (rc != HC_OK) continue;
        uint64_t t = now_ns();
        printf("%s %llu\n", ev.key, (unsigned long long)t);
        fflush(stdout);
    }
    hc_subscription_close(sub);
    hc_cache_close(c);
    hc_bus_free(bus);
    return 0;
}

static int child_bare(const char *info, const char *chan)
{
    PGconn *conn = PQconnectdb(info);
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", chan);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "child: %s", PQerrorMessage(conn));
        return 1;
    }
    PQclear(r);
    printf("ready\n");
    fflush(stdout);
    struct pollfd p = {PQsocket(conn), POLLIN, 0};
    while (poll(&p, 1, 10000) > 0) {
        if (!PQconsumeInput(conn)) break;
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL) {
            uint64_t t = now_ns();
            printf("%s %llu\n", n->extra, (unsigned long long)t);
            fflush(stdout);
            PQfreemem(n);
        }
    }
    PQfinish(conn);
    return 0;
}

/* ----------------------------------------------------------- parent */

typedef struct child {
    pid_t pid;
    FILE *from;
} child;

static int start(child *ch, const char *mode, const char *info, const char *chan)
{
    int out[2];
    if (pipe(out) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *argv[] = {self, (char *)mode, (char *)info, (char *)chan, NULL};
    int rc = posix_spawn(&ch->pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) return -1;
    ch->from = fdopen(out[0], "r");
    char line[64];
    if (!ch->from || !fgets(line, sizeof line, ch->from) || strcmp(line, "ready\n") != 0) return -1;
    return 0;
}

static void stop(child *ch)
{
    fclose(ch->from);               /* the child ends at its next write or timeout */
    kill(ch->pid, SIGTERM);
    waitpid(ch->pid, NULL, 0);
}

/* Wait for the line naming key; its time in *t. false when lost. */
static bool arrival(child *ch, const char *key, uint64_t *t)
{
    char line[128], got[64];
    unsigned long long ns;
    struct pollfd p = {fileno(ch->from), POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return false;
    if (!fgets(line, sizeof line, ch->from)) return false;
    if (sscanf(line, "%63s %llu", got, &ns) != 2 || strcmp(got, key) != 0) return false;
    *t = ns;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double p50, p99, max;           /* milliseconds */
    int lost;
} result;

static result summarize(uint64_t *lat, int n, int lost)
{
    qsort(lat, (size_t)n, sizeof lat[0], cmp_u64);
    result r = {0, 0, 0, lost};
    if (n > 0) {
        r.p50 = (double)lat[n / 2] / 1e6;
        r.p99 = (double)lat[(n * 99) / 100] / 1e6;
        r.max = (double)lat[n - 1] / 1e6;
    }
    return r;
}

static result run_bus(const char *info, const char *chan)
{
    static uint64_t lat[ROUNDS];
    result bad = {0, 0, 0, ROUNDS};
    child ch;
    if (start(&ch, "--child-bus", info, chan) != 0) return bad;
    hc_bus *bus;
    hc_error err;
    if (hc_bus_pg_new(&bus, info, chan, &err) != HC_OK) {
        fprintf(stderr, "bench_bus: %s\n", err.message);
        return bad;
    }
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "bench";
    cfg.node_id = "parent";
    cfg.bus = bus;
    hc_cache *c;
    if (hc_cache_open(&c, &cfg) != HC_OK) return bad;
    int n = 0, lost = 0;
    char key[32];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        uint64_t t0 = now_ns(), t1;
        if (hc_invalidate_key(c, key) == HC_EBUS || !arrival(&ch, key, &t1)) {
            lost++;
            continue;
        }
        lat[n++] = t1 - t0;
    }
    hc_cache_close(c);
    hc_bus_free(bus);
    stop(&ch);
    return summarize(lat, n, lost);
}

static result run_bare(const char *info, const char *chan)
{
    static uint64_t lat[ROUNDS];
    result bad = {0, 0, 0, ROUNDS};
    child ch;
    if (start(&ch, "--child-bare", info, chan) != 0) return bad;
    PGconn *conn = PQconnectdb(info);
    if (PQstatus(conn) != CONNECTION_OK) return bad;
    int n = 0, lost = 0;
    char key[32];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        const char *params[2] = {chan, key};
        uint64_t t0 = now_ns(), t1;
        PGresult *r = PQexecParams(conn, "SELECT pg_notify($1, $2)", 2, NULL, params, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok || !arrival(&ch, key, &t1)) {
            lost++;
            continue;
        }
        lat[n++] = t1 - t0;
    }
    PQfinish(conn);
    stop(&ch);
    return summarize(lat, n, lost);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child-bus") == 0) return child_bus(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--child-bare") == 0) return child_bare(argv[2], argv[3]);
    const char *info = getenv("HC_PG_CONNINFO");
    if (!info || !*info) {
        printf("bench_bus: skipped, no HC_PG_CONNINFO (make bench starts a server)\n");
        return 0;
    }
    char chan[32];
    snprintf(chan, sizeof chan, "hc_bench_%ld", (long)getpid());
    result bare = run_bare(info, chan);
    result bus = run_bus(info, chan);
    printf("invalidation latency to another process, %d rounds, PostgreSQL over a Unix socket\n", ROUNDS);
    printf("  bare NOTIFY->poll   p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  lost %d\n",
           bare.p50, bare.p99, bare.max, bare.lost);
    printf("  hc bus -> event     p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  lost %d\n",
           bus.p50, bus.p99, bus.max, bus.lost);
    if (bare.p50 > 0)
        printf("  ratio bus/bare      p50 %.2fx  p99 %.2fx   (target: bus p99 < 10 ms, none lost)\n",
               bus.p50 / bare.p50, bus.p99 / bare.p99);
    return bus.lost || bare.lost ? 1 : 0;
}
