/*
** multiprocess.c -- two processes, one PostgreSQL, one invalidation bus.
**
**     ./multiprocess CONNINFO
**
** The driver (the writer) loads schema.sql and seed.sql from the current
** directory, then starts a copy of itself as the reader:
**
**     ./multiprocess --reader CONNINFO     commands on stdin, answers on fd 3
**
** Each process has its own connection, hc_db, cache ("inventory", node ids
** "writer" and "reader") and PostgreSQL bus on channel hc_multiprocess. The
** reader caches product 1 and the low-stock list; the writer changes the
** stock through inventory_set_stock, which runs the UPDATE and one
** pg_notify per invalidated tag in one transaction, and the reader waits
** for the invalidations to arrive over LISTEN/NOTIFY before it reads again.
** Then a write that breaks the table's CHECK fails, rolls back and notifies
** nothing, which a successful write after it proves with the reader's
** counters. Every result is checked: exit status 0 when all went as
** expected, 1 otherwise, so it doubles as an integration test.
*/
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inventory.hc.h"

#define CHANNEL      "hc_multiprocess"
#define LOW          5          /* products_low(LOW): stock below 5 */
#define WAIT_MS      10000      /* how long the reader waits for the bus */
#define ANSWER_MS    30000      /* how long the writer waits for an answer */
#define READER_FD    3          /* the reader's answers */

static const char *who = "writer";

static int fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Say what went wrong, prefixed like the narration; returns 1. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "[%s] FAILED: ", who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------- lines */

/* Write one line to fd. 0, or -1 (errno set). */
static int put_line(int fd, const char *line)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n < 0 || (size_t)n >= sizeof buf) {
        errno = EINVAL;
        return -1;
    }
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(fd, buf + off, (size_t)n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

/*
** Read one line from fd into buf (without its newline), waiting at most
** timeout_ms in all (-1: no limit). 1 for a line, 0 at end of file, -1 on
** an error or a timeout (errno ETIMEDOUT). A byte at a time: the lines are
** short and few.
*/
static int get_line(int fd, char *buf, size_t size, int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
    size_t len = 0;
    for (;;) {
        int wait = -1;
        if (timeout_ms >= 0) {
            uint64_t now = now_ms();
            if (now >= deadline) {
                errno = ETIMEDOUT;
                return -1;
            }
            wait = (int)(deadline - now);
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) continue;               /* the deadline check says so */
        char ch;
        ssize_t n = read(fd, &ch, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        if (ch == '\n') {
            buf[len] = 0;
            return 1;
        }
        if (len + 1 < size) buf[len++] = ch;
    }
}

/* ------------------------------------------------------ both processes */

typedef struct side {
    PGconn   *pg;
    hc_db    *db;
    hc_bus   *bus;
    hc_cache *c;
} side;

/* The connection the generated code runs on. */
static int side_connect(side *s, const char *conninfo)
{
    s->pg = PQconnectdb(conninfo);
    if (PQstatus(s->pg) != CONNECTION_OK) return fail("cannot connect: %s", PQerrorMessage(s->pg));
    PQclear(PQexec(s->pg, "SET client_min_messages = warning"));
    return 0;
}

/*
** The rest of what each process needs: the hc_db over its connection, a bus
** (a connection of its own that LISTENs, so that once this returns no
** notification is missed, and a thread that waits on it) and the cache on
** that bus.
*/
static int side_open(side *s, const char *conninfo)
{
    hc_error err;
    int rc;
    if ((rc = hc_db_pg(&s->db, s->pg, &err)) != HC_OK) return fail("%s", err.message);
    if ((rc = hc_bus_pg_new(&s->bus, conninfo, CHANNEL, &err)) != HC_OK)
        return fail("hc_bus_pg_new: %s: %s", hc_err_name(rc), err.message);

    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "inventory";         /* the same in both: the bus joins caches by name */
    cfg.node_id = who;              /* each ignores what it published itself */
    cfg.bus = s->bus;
    if ((rc = hc_cache_open(&s->c, &cfg)) != HC_OK) return fail("hc_cache_open: %s", hc_err_name(rc));
    printf("[%s] pid %ld: cache \"%s\" on channel %s\n", who, (long)getpid(), hc_cache_name(s->c),
           CHANNEL);
    return 0;
}

/* Close in the right order: the cache before its bus, the hc_db before its connection. */
static void side_close(side *s)
{
    hc_cache_close(s->c);
    hc_bus_free(s->bus);
    hc_db_free(s->db);
    PQfinish(s->pg);
}

static void show_stats(hc_cache *c)
{
    hc_diagnostics d;
    hc_diagnostics_get(c, &d);
    printf("[%s]    cache: %llu hits, %llu misses, %llu loads, %llu invalidated, %llu entries;"
           " bus: %llu published, %llu received, %llu applied\n",
           who, (unsigned long long)d.stats.hits, (unsigned long long)d.stats.misses,
           (unsigned long long)d.stats.loads, (unsigned long long)d.stats.invalidations,
           (unsigned long long)d.entries, (unsigned long long)d.stats.bus_published,
           (unsigned long long)d.stats.bus_received, (unsigned long long)d.stats.bus_applied);
}

/* ------------------------------------------------------------ reader */

typedef struct reader {
    side             s;
    hc_subscription *sub;           /* what arrives on the bus */
    hc_buf           key;           /* product 1's cache key */
} reader;

/*
** Read product 1 through the cache, check its stock, and say whether it was
** a hit or a miss (from the counters, which the call moves by one).
*/
static int read_product(reader *r, int expect_stock, bool expect_hit)
{
    inventory_product p = {0};
    hc_error err;
    hc_stats before, after;
    hc_stats_get(r->s.c, &before);
    int rc = inventory_product_by_id(r->s.c, r->s.db, 1, &p, &err);
    hc_stats_get(r->s.c, &after);
    if (rc != HC_OK) return fail("inventory_product_by_id(1): %s: %s", hc_err_name(rc), err.message);
    bool hit = after.hits == before.hits + 1;
    printf("[%s] inventory_product_by_id(1)   -> %s, stock %d (%s)\n", who, p.name, p.stock,
           hit ? "a hit" : "a miss: loaded from PostgreSQL");
    int st = 0;
    if (p.stock != expect_stock) st = fail("product 1 has stock %d, expected %d", p.stock, expect_stock);
    else if (hit != expect_hit) st = fail("expected a %s", expect_hit ? "hit" : "miss");
    inventory_product_clear(&p);
    return st;
}

static int read_low(reader *r, size_t expect_len)
{
    inventory_product_list l = {0};
    hc_error err;
    int rc = inventory_products_low(r->s.c, r->s.db, LOW, &l, &err);
    if (rc != HC_OK) return fail("inventory_products_low: %s: %s", hc_err_name(rc), err.message);
    printf("[%s] inventory_products_low(%d)    ->", who, LOW);
    for (size_t i = 0; i < l.len; i++)
        printf("%s %s (%d)", i ? "," : "", l.items[i].name, l.items[i].stock);
    printf("%s\n", l.len ? "" : " none");
    int st = l.len == expect_len ? 0 : fail("%zu products low, expected %zu", l.len, expect_len);
    inventory_product_list_clear(&l);
    return st;
}

/*
** Wait (at most WAIT_MS) for the two invalidations one set_stock of
** product 1 publishes, "product:1" and "products", and nothing else.
*/
static int await_invalidation(reader *r)
{
    static const char *const want[2] = {"product:1", "products"};
    bool seen[2] = {false, false};
    uint64_t deadline = now_ms() + WAIT_MS;
    while (!seen[0] || !seen[1]) {
        uint64_t now = now_ms();
        if (now >= deadline) return fail("no invalidation arrived within %d ms", WAIT_MS);
        hc_event ev;
        int rc = hc_subscription_recv(r->sub, &ev, deadline - now);
        if (rc == HC_ETIMEDOUT) continue;
        if (rc != HC_OK) return fail("hc_subscription_recv: %s", hc_err_name(rc));
        if (ev.kind != HC_EVENT_TAG_INVALIDATED)
            return fail("unexpected %s event from the bus", hc_event_kind_name(ev.kind));
        int i = 0;
        while (i < 2 && (strlen(want[i]) != ev.key_len || memcmp(want[i], ev.key, ev.key_len) != 0)) i++;
        if (i == 2 || seen[i])
            return fail("unexpected invalidation of tag %.*s", (int)ev.key_len, ev.key);
        seen[i] = true;
        printf("[%s] bus: tag %-9s invalidated, %llu entr%s removed\n", who, want[i],
               (unsigned long long)ev.count, ev.count == 1 ? "y" : "ies");
    }
    return 0;
}

/*
** The bus counters, exactly. bus_applied is counted just after the event
** is published, so give it a moment to catch up with bus_received.
*/
static int check_bus(reader *r, uint64_t received)
{
    hc_stats st;
    uint64_t deadline = now_ms() + 1000;
    for (;;) {
        hc_stats_get(r->s.c, &st);
        if (st.bus_applied >= st.bus_received || now_ms() >= deadline) break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    if (st.bus_received != received || st.bus_applied != received)
        return fail("bus: %llu received, %llu applied; expected %llu of each",
                    (unsigned long long)st.bus_received, (unsigned long long)st.bus_applied,
                    (unsigned long long)received);
    if (st.bus_lagged || st.bus_receiver_closed)
        return fail("bus: messages were lost (%llu lagged, %llu reconnections)",
                    (unsigned long long)st.bus_lagged, (unsigned long long)st.bus_receiver_closed);
    return 0;
}

/*
** One command from the writer:
**   read                  cache product 1 (a miss, then a hit) and the low list
**   await STOCK RECEIVED  wait for a write's invalidations, then read again
**   check STOCK RECEIVED  product 1 is still cached, nothing arrived
** RECEIVED is the bus_received the reader must have once it is done.
*/
static int command(reader *r, const char *line)
{
    int stock = 0;
    unsigned long long received = 0;
    if (strcmp(line, "read") == 0) {
        if (read_product(r, 10, false) || read_product(r, 10, true) || read_low(r, 1)) return 1;
        show_stats(r->s.c);
        return 0;
    }
    if (sscanf(line, "await %d %llu", &stock, &received) == 2) {
        printf("[%s] waiting for the bus (hc_subscription_recv, at most %d s)\n", who, WAIT_MS / 1000);
        if (await_invalidation(r) || check_bus(r, received)) return 1;
        if (hc_contains(r->s.c, (const char *)r->key.data))
            return fail("%s is still cached after its invalidation", (const char *)r->key.data);
        if (read_product(r, stock, false) || read_low(r, stock < LOW ? 2 : 1)) return 1;
        show_stats(r->s.c);
        return 0;
    }
    if (sscanf(line, "check %d %llu", &stock, &received) == 2) {
        hc_event ev;
        int rc = hc_subscription_recv(r->sub, &ev, 0);
        if (rc != HC_ETIMEDOUT)
            return fail("something arrived on the bus: %s", rc == HC_OK ? hc_event_kind_name(ev.kind)
                                                                     : hc_err_name(rc));
        if (!hc_contains(r->s.c, (const char *)r->key.data))
            return fail("%s is no longer cached", (const char *)r->key.data);
        if (check_bus(r, received)) return 1;
        printf("[%s] nothing arrived on the bus; %s is still cached\n", who, (const char *)r->key.data);
        if (read_product(r, stock, true)) return 1;
        show_stats(r->s.c);
        return 0;
    }
    return fail("unknown command '%s'", line);
}

static int reader_main(const char *conninfo)
{
    reader r = {{0}, NULL, HC_BUF_INIT};
    int status = 1, rc;
    char line[128];
    who = "reader";

    if (side_connect(&r.s, conninfo) != 0 || side_open(&r.s, conninfo) != 0) goto out;
    /* Subscribed before "ready": the writer's first write comes after it. */
    hc_event_filter f = {0, HC_ORIGIN_BIT(HC_ORIGIN_BUS), NULL, NULL};
    if ((rc = hc_subscribe(r.s.c, &f, &r.sub)) != HC_OK) {
        fail("hc_subscribe: %s", hc_err_name(rc));
        goto out;
    }
    if ((rc = inventory_product_key(&r.key, 1)) != HC_OK) {
        fail("inventory_product_key: %s", hc_err_name(rc));
        goto out;
    }
    if (put_line(READER_FD, "ready") != 0) goto out;

    for (;;) {
        int got = get_line(STDIN_FILENO, line, sizeof line, -1);
        if (got < 0) {
            fail("reading a command: %s", strerror(errno));
            goto out;
        }
        if (got == 0) {
            fail("the writer went away");
            goto out;
        }
        if (strcmp(line, "quit") == 0) break;
        int bad = command(&r, line);
        if (put_line(READER_FD, bad ? "fail" : "ok") != 0 || bad) goto out;
    }
    status = 0;
out:
    hc_subscription_close(r.sub);
    hc_buf_free(&r.key);
    side_close(&r.s);
    return status;
}

/* ------------------------------------------------------------ writer */

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

/* Run schema.sql (which drops and creates the table) then seed.sql. */
static int load_sql(PGconn *pg)
{
    static const char *const files[] = {"schema.sql", "seed.sql"};
    for (size_t i = 0; i < 2; i++) {
        char *sql = slurp(files[i]);
        if (!sql) return fail("cannot read %s (run me from examples/multiprocess)", files[i]);
        PGresult *r = PQexec(pg, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        free(sql);
        if (!ok) return fail("%s: %s", files[i], PQerrorMessage(pg));
    }
    return 0;
}

typedef struct child {
    pid_t pid;
    int   to, from;                 /* its stdin, its fd 3 */
} child;

/* Start "self --reader CONNINFO" with pipes for its commands and answers. */
static int spawn_reader(child *ch, const char *self, const char *conninfo)
{
    int cmd[2], ans[2];
    if (pipe(cmd) != 0) return fail("pipe: %s", strerror(errno));
    if (pipe(ans) != 0) {
        close(cmd[0]);
        close(cmd[1]);
        return fail("pipe: %s", strerror(errno));
    }
    for (int i = 0; i < 2; i++) {
        fcntl(cmd[i], F_SETFD, FD_CLOEXEC);
        fcntl(ans[i], F_SETFD, FD_CLOEXEC);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(cmd[0]), close(cmd[1]), close(ans[0]), close(ans[1]);
        return fail("fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Moved out of the way first, so that neither dup2 clobbers the
           other's source; dup2 clears close-on-exec on 0 and 3. */
        int in = fcntl(cmd[0], F_DUPFD_CLOEXEC, 10), out = fcntl(ans[1], F_DUPFD_CLOEXEC, 10);
        if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, READER_FD) < 0) _exit(127);
        char *argv[] = {(char *)self, (char *)"--reader", (char *)conninfo, NULL};
        execvp(self, argv);
        _exit(127);
    }
    close(cmd[0]);
    close(ans[1]);
    ch->pid = pid;
    ch->to = cmd[1];
    ch->from = ans[0];
    return 0;
}

/* Wait for the reader to exit; 0 when it exited with status 0. Quiet
   when the writer is failing already: the reader's end is no news then. */
static int reap(child *ch, bool quiet)
{
    int ws;
    pid_t p;
    do p = waitpid(ch->pid, &ws, 0); while (p < 0 && errno == EINTR);
    ch->pid = 0;
    if (p < 0) return fail("waitpid: %s", strerror(errno));
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return 0;
    if (quiet) return 1;
    if (WIFEXITED(ws)) return fail("the reader exited with status %d", WEXITSTATUS(ws));
    return fail("the reader was killed by signal %d", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

/* Expect the reader's next line to be want. */
static int expect(child *ch, const char *want)
{
    char line[128];
    int got = get_line(ch->from, line, sizeof line, ANSWER_MS);
    if (got < 0 && errno == ETIMEDOUT) return fail("no answer from the reader within %d ms", ANSWER_MS);
    if (got < 0) return fail("reading the reader's answer: %s", strerror(errno));
    if (got == 0) return fail("the reader went away");
    if (strcmp(line, "fail") == 0) return fail("the reader failed (its message is above)");
    if (strcmp(line, want) != 0) return fail("the reader answered '%s', not '%s'", line, want);
    return 0;
}

/* Send the reader a command and wait for its "ok". */
static int ask(child *ch, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int ask(child *ch, const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (put_line(ch->to, line) != 0) return fail("writing to the reader: %s", strerror(errno));
    return expect(ch, "ok");
}

static uint64_t published(hc_cache *c)
{
    hc_stats st;
    hc_stats_get(c, &st);
    return st.bus_published;
}

/* inventory_set_stock(1, stock), expected to succeed and change one row. */
static int set_stock(side *w, int stock)
{
    int64_t changes = 0;
    hc_error err;
    uint64_t before = published(w->c);
    int rc = inventory_set_stock(w->c, w->db, 1, stock, &changes, &err);
    if (rc != HC_OK) return fail("inventory_set_stock(1, %d): %s: %s", stock, hc_err_name(rc), err.message);
    printf("[%s] inventory_set_stock(1, %d)     -> %lld row changed; the UPDATE and %llu pg_notify"
           " committed in one transaction\n",
           who, stock, (long long)changes, (unsigned long long)(published(w->c) - before));
    if (changes != 1) return fail("%lld rows changed, expected 1", (long long)changes);
    if (published(w->c) - before != 2) return fail("expected 2 notifications (product:1, products)");
    return 0;
}

static int writer_main(const char *self, const char *conninfo)
{
    side w = {0};
    child ch = {0, -1, -1};
    int status = 1, rc;
    int64_t changes = 0;
    hc_error err;

    if (side_connect(&w, conninfo) != 0) goto out;
    printf("HydraCache multiprocess example on PostgreSQL %d.%d\n\n", PQserverVersion(w.pg) / 10000,
           PQserverVersion(w.pg) % 10000);
    if (load_sql(w.pg) != 0) goto out;
    printf("[%s] created inventory_products: widget 10, gadget 2, sprocket 40\n", who);
    /* Started while this process has no thread but its own: fork, then exec. */
    if (spawn_reader(&ch, self, conninfo) != 0) goto out;
    if (expect(&ch, "ready") != 0 || side_open(&w, conninfo) != 0) goto out;

    printf("\n1. The reader caches product 1 (a miss, then a hit) and the low-stock list.\n");
    if (ask(&ch, "read") != 0) goto out;

    printf("\n2. The writer sets widget's stock to 3; the reader hears of it at the commit.\n");
    if (set_stock(&w, 3) != 0) goto out;
    if (ask(&ch, "await 3 2") != 0) goto out;

    printf("\n3. A write the database refuses rolls back, and notifies nothing.\n");
    rc = inventory_set_stock(w.c, w.db, 1, -1, &changes, &err);
    printf("[%s] inventory_set_stock(1, -1)    -> %s: %s\n", who, hc_err_name(rc),
           rc == HC_OK ? "" : err.message);
    if (rc != HC_EDB) {
        fail("expected HC_EDB (the CHECK stock >= 0)");
        goto out;
    }
    if (PQtransactionStatus(w.pg) != PQTRANS_IDLE || published(w.c) != 2) {
        fail("the failed write left a transaction open or published something");
        goto out;
    }
    printf("[%s]    rolled back: the connection is idle, still %llu notifications published\n", who,
           (unsigned long long)published(w.c));
    if (ask(&ch, "check 3 2") != 0) goto out;

    printf("\n4. The next write commits: the reader receives its 2 messages, 4 in all, so none\n"
           "   came from the failed one (a session's notifications arrive in commit order).\n");
    if (set_stock(&w, 4) != 0) goto out;
    if (ask(&ch, "await 4 4") != 0) goto out;

    fflush(stdout);
    if (put_line(ch.to, "quit") != 0) {
        fail("writing to the reader: %s", strerror(errno));
        goto out;
    }
    if (reap(&ch, false) != 0) goto out;
    printf("\nBoth processes agree: every committed write reached the other cache, the failed one did not.\n");
    status = 0;
out:
    if (ch.to >= 0) close(ch.to);          /* the reader sees end of file and exits */
    if (ch.from >= 0) close(ch.from);
    if (ch.pid > 0 && reap(&ch, status != 0) != 0) status = 1;
    side_close(&w);
    return status;
}

int main(int argc, char **argv)
{
    /* Both print to the same terminal or pipe: a line at a time keeps the
       narration in the order the protocol gives it. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);       /* a reader gone is an error to report, not a death */
    if (argc == 3 && strcmp(argv[1], "--reader") == 0) return reader_main(argv[2]);
    if (argc == 2 && argv[1][0] != '-') return writer_main(argv[0], argv[1]);
    fprintf(stderr, "usage: multiprocess CONNINFO\n");
    return 2;
}
