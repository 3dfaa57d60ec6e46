/*
** bus_pg.c -- the invalidation bus between processes: PostgreSQL
** LISTEN/NOTIFY on a connection of the bus's own.
**
** One connection serves both ways. A thread of its own LISTENs and waits
** in poll() on the connection's socket and on a pipe; publishers run
** `SELECT pg_notify($1, $2)` on the same connection under its mutex, then
** poke the pipe, because a notification that arrived while they held the
** connection was read by libpq then and would wake no poll(). When the
** connection breaks, the thread reconnects with backoff (the pipe also
** ends its sleeps, for a prompt close), LISTENs again, and then has every
** cache flush: what was notified meanwhile is lost.
**
** The payload (documented in docs/RUNTIME.md) is text, so that it is valid
** in any server encoding:
**
**     hc1 <op> <node> <cache> [<value>]
**
** op is k (key), t (tag) or f (flush, no value); fields are separated by
** one space, and every byte outside '!'..'~', and '%' itself, is written
** %XX. A payload that does not parse becomes a flush of every cache.
*/
#define _GNU_SOURCE                 /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <pthread.h>
#include <stdatomic.h>

#include "pg_int.h"

#define PG_NOTIFY_LIMIT 8000        /* a payload must be shorter */
#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  5000

typedef struct pgbus {
    char           *conninfo;
    char            channel[64];
    pthread_mutex_t mu;              /* guards conn and up */
    PGconn         *conn;
    bool            up;              /* connected and listening */
    int             wake[2];         /* pipe: publishers and close poke the thread */
    atomic_bool     stop;
    bool            started;
    pthread_t       thread;
    hc_bus         *bus;
} pgbus;

/* ------------------------------------------------------------ payload */

static int put_field(hc_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p > ' ' && *p < 0x7f && *p != '%') {
            if (hc_buf_append(out, p, 1) != HC_OK) return HC_ENOMEM;
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (hc_buf_append(out, e, 3) != HC_OK) return HC_ENOMEM;
        }
    }
    return HC_OK;
}

/*
** The payload for m, or for a flush of m's cache when m's would reach the
** NOTIFY limit. HC_OK, HC_ENOMEM, HC_EINVAL (no such op), or HC_ETOOBIG
** when the node id and cache name alone reach it.
*/
int hc__bus_pg_payload(const hc_bus_msg *m, hc_buf *out)
{
    static const char ops[] = {0, 'k', 't', 'f'};
    hc_bus_op op = m->op;
    if (op != HC_BUS_KEY && op != HC_BUS_TAG && op != HC_BUS_FLUSH) return HC_EINVAL;
    for (int pass = 0; pass < 2; pass++) {
        char head[7] = {'h', 'c', '1', ' ', ops[op], ' ', 0};
        hc_buf_reset(out);
        int rc = hc_buf_append_str(out, head);
        if (rc == HC_OK) rc = put_field(out, m->node_id ? m->node_id : "");
        if (rc == HC_OK) rc = hc_buf_append(out, " ", 1);
        if (rc == HC_OK) rc = put_field(out, m->cache ? m->cache : "");
        if (rc == HC_OK && op != HC_BUS_FLUSH) {
            rc = hc_buf_append(out, " ", 1);
            if (rc == HC_OK) rc = put_field(out, m->value ? m->value : "");
        }
        if (rc != HC_OK) return rc;
        if (out->len < PG_NOTIFY_LIMIT) return HC_OK;
        op = HC_BUS_FLUSH;              /* too big to say: say "flush" */
    }
    return HC_ETOOBIG;                  /* even the flush: a huge name */
}

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Decode s in place (decoding only shrinks); false when malformed. */
static bool unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (*r == '%') {
            int hi = unhex(r[1]), lo = hi < 0 ? -1 : unhex(r[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) return false;   /* no NUL bytes */
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return true;
}

/* Parse s (modified in place) into m; false when it is not a message. */
static bool parse_payload(char *s, hc_bus_msg *m)
{
    if (strncmp(s, "hc1 ", 4) != 0) return false;
    char op = s[4];
    if (!op || s[5] != ' ') return false;
    char *p = s + 6;
    switch (op) {
    case 'k': m->op = HC_BUS_KEY; break;
    case 't': m->op = HC_BUS_TAG; break;
    case 'f': m->op = HC_BUS_FLUSH; break;
    default: return false;
    }
    /* Find the field ends before decoding: decoding writes NULs. */
    char *f[3] = {p, NULL, NULL};
    int n = 1;
    for (char *q = p; *q; q++) {
        if (*q == ' ') {
            if (n == 3) return false;   /* too many fields */
            *q = 0;
            f[n++] = q + 1;
        }
    }
    if (n != (m->op == HC_BUS_FLUSH ? 2 : 3)) return false;
    for (int i = 0; i < n; i++)
        if (!unescape(f[i])) return false;
    m->node_id = f[0];
    m->cache = f[1];
    m->value = n == 3 ? f[2] : NULL;
    return true;
}

/* --------------------------------------------------------- connection */

static void poke(pgbus *pb)
{
    char b = 1;
    ssize_t r;
    do r = write(pb->wake[1], &b, 1); while (r < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full of pokes already; one is enough. */
}

static void drain(pgbus *pb)
{
    char b[64];
    while (read(pb->wake[0], b, sizeof b) > 0) {}
}

/* HC_EBUS with what, then libpq's message for conn on one line. */
static int pg_error(hc_error *err, const char *what, PGconn *conn)
{
    char msg[sizeof err->message];
    hc__one_line(msg, sizeof msg, PQerrorMessage(conn));
    return hc_error_set(err, HC_EBUS, "%s: %s", what, msg);
}

/* libpq prints notices to stderr by default; a library stays quiet. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_listen(pgbus *pb, hc_error *err)
{
    /* Keepalives first, so that the caller's conninfo overrides them. */
    const char *const keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "connect_timeout", "dbname", NULL};
    const char *const vals[] = {"1", "30", "10", "3", "10", pb->conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        hc_error_set(err, HC_ENOMEM, NULL);
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        pg_error(err, "bus: cannot connect", conn);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", pb->channel);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(err, "bus: LISTEN failed", conn);
        PQclear(r);
        PQfinish(conn);
        return NULL;
    }
    PQclear(r);
    return conn;
}

static int pg_publish(void *impl, const hc_bus_msg *m, hc_error *err)
{
    pgbus *pb = impl;
    hc_buf payload = HC_BUF_INIT;
    int rc = hc__bus_pg_payload(m, &payload);
    if (rc != HC_OK) {
        hc_buf_free(&payload);
        return hc_error_set(err, rc, "bus: cannot make the payload");
    }
    pthread_mutex_lock(&pb->mu);
    if (!pb->up) {
        rc = hc_error_set(err, HC_EBUS, "bus: not connected");
    } else {
        const char *params[2] = {pb->channel, (const char *)payload.data};
        PGresult *r = PQexecParams(pb->conn, "SELECT pg_notify($1, $2)", 2,
                                   NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = pg_error(err, "bus: pg_notify failed", pb->conn);
        PQclear(r);
    }
    pthread_mutex_unlock(&pb->mu);
    hc_buf_free(&payload);
    poke(pb);               /* PQexecParams may have read notifications */
    return rc;
}

/* Sleep ms, or less if poked; false when the bus is closing. */
static bool nap(pgbus *pb, int ms)
{
    struct pollfd p = {pb->wake[0], POLLIN, 0};
    (void)poll(&p, 1, ms);
    drain(pb);
    return !atomic_load(&pb->stop);
}

typedef struct note {
    struct note *next;
    char         payload[];
} note;

/*
** Read what the socket has and take the notifications out under the mutex,
** deliver them without it (a delivery may publish on this very bus through
** a listener's cache call). false when the connection broke.
*/
static bool receive(pgbus *pb)
{
    note *head = NULL, **tail = &head;
    bool ok = true;
    uint64_t lost = 0;
    pthread_mutex_lock(&pb->mu);
    if (!PQconsumeInput(pb->conn) || PQstatus(pb->conn) != CONNECTION_OK) {
        ok = false;
        pb->up = false;
    }
    PGnotify *n;
    while ((n = PQnotifies(pb->conn)) != NULL) {
        size_t len = strlen(n->extra) + 1;
        note *nt = malloc(sizeof *nt + len);
        if (nt) {
            memcpy(nt->payload, n->extra, len);
            nt->next = NULL;
            *tail = nt;
            tail = &nt->next;
        } else {
            lost++;                     /* out of memory: a flush, below */
        }
        PQfreemem(n);
    }
    pthread_mutex_unlock(&pb->mu);
    if (!ok) hc_bus_set_health(pb->bus, false, "bus: connection to PostgreSQL lost; reconnecting");
    if (lost) hc_bus_lost(pb->bus, lost, false);
    while (head) {
        note *next = head->next;
        hc_bus_msg m;
        /* Not ours, forged or damaged: the safe reading is "flush", and
           it is counted apart from the messages that parsed. */
        if (parse_payload(head->payload, &m)) hc_bus_deliver(pb->bus, &m);
        else hc_bus_malformed(pb->bus);
        free(head);
        head = next;
    }
    return ok;
}

static void *pg_thread(void *arg)
{
    pgbus *pb = arg;
    int backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&pb->stop)) {
        pthread_mutex_lock(&pb->mu);
        bool up = pb->up;
        int fd = up ? PQsocket(pb->conn) : -1;
        pthread_mutex_unlock(&pb->mu);

        if (!up) {
            if (!nap(pb, backoff)) break;
            hc_error err;
            PGconn *conn = connect_listen(pb, &err);
            if (!conn) {
                hc_bus_set_health(pb->bus, false, err.message);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            pthread_mutex_lock(&pb->mu);
            PGconn *old = pb->conn;
            pb->conn = conn;
            pb->up = true;
            pthread_mutex_unlock(&pb->mu);
            PQfinish(old);
            backoff = BACKOFF_MIN_MS;
            hc_bus_set_health(pb->bus, true, NULL);
            /* Listening again; what was sent in between is lost. */
            hc_bus_lost(pb->bus, 0, true);
            continue;
        }

        struct pollfd p[2] = {{fd, POLLIN, 0}, {pb->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            (void)nap(pb, BACKOFF_MIN_MS);
            continue;
        }
        if (p[1].revents) drain(pb);
        if (atomic_load(&pb->stop)) break;
        (void)receive(pb);              /* a break shows as !up next turn */
    }
    return NULL;
}

static int pg_start(void *impl, hc_bus *bus, hc_error *err)
{
    pgbus *pb = impl;
    pb->bus = bus;
    if (pthread_create(&pb->thread, NULL, pg_thread, pb) != 0)
        return hc_error_set(err, HC_ESYS, "pthread_create failed");
    pb->started = true;
    return HC_OK;
}

static void pg_close(void *impl)
{
    pgbus *pb = impl;
    if (pb->started) {
        atomic_store(&pb->stop, true);
        poke(pb);
        pthread_join(pb->thread, NULL);
    }
    PQfinish(pb->conn);
    close(pb->wake[0]);
    close(pb->wake[1]);
    pthread_mutex_destroy(&pb->mu);
    free(pb->conninfo);
    free(pb);
}

/*
** Inside the transaction open on db: pg_notify on db's own connection, so
** PostgreSQL delivers it at that transaction's commit and drops it on
** rollback. Only a PostgreSQL hc_db can; it must be connected to the same
** database as the bus (NOTIFY reaches one database's listeners).
*/
static const unsigned char notify_types[] = {HC_SQL_TEXT, HC_SQL_TEXT};
static const hc_sql sql_notify = {"hc_exec_notify", NULL, "SELECT pg_notify($1, $2)",
                                  2, notify_types};

static int pg_publish_in_tx(void *impl, hc_db *db, const hc_bus_msg *m, hc_error *err)
{
    pgbus *pb = impl;
    if (hc_db_get_kind(db) != HC_DB_POSTGRES) return HC_ENOTSUP;
    if (!m) return HC_OK;
    hc_buf payload = HC_BUF_INIT;
    int rc = hc__bus_pg_payload(m, &payload);
    if (rc != HC_OK) {
        hc_buf_free(&payload);
        return hc_error_set(err, rc, "cannot make the invalidation's payload");
    }
    hc_stmt *st;
    rc = hc_db_begin(db, &sql_notify, &st, err);
    if (rc == HC_OK) rc = hc_stmt_bind_text(st, 1, pb->channel);
    if (rc == HC_OK) rc = hc_stmt_bind_text(st, 2, (const char *)payload.data);
    while (rc == HC_OK) rc = hc_stmt_step(st);
    hc_db_end(st);
    hc_buf_free(&payload);
    return rc == HC_DONE ? HC_OK : rc;
}

static const hc_bus_transport pg_transport = {pg_publish, pg_start, pg_close,
                                              pg_publish_in_tx};

static bool valid_channel(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        bool ok = ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (n > 0 && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    return n > 0 && n < 64;
}

int hc_bus_pg_new(hc_bus **out, const char *conninfo, const char *channel,
                  hc_error *err)
{
    if (!out || !conninfo || !channel) return hc_error_set(err, HC_EINVAL, NULL);
    *out = NULL;
    if (!valid_channel(channel))
        return hc_error_set(err, HC_EINVAL, "bus: channel '%s' is not a plain identifier "
                            "(letters, digits, '_', at most 63 bytes)", channel);
    pgbus *pb = calloc(1, sizeof *pb);
    if (!pb) return hc_error_set(err, HC_ENOMEM, NULL);
    pb->wake[0] = pb->wake[1] = -1;
    strcpy(pb->channel, channel);
    pb->conninfo = strdup(conninfo);
    if (!pb->conninfo) {
        free(pb);
        return hc_error_set(err, HC_ENOMEM, NULL);
    }
    if (pipe2(pb->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(pb->conninfo);
        free(pb);
        return hc_error_set(err, HC_ESYS, "pipe failed");
    }
    if (pthread_mutex_init(&pb->mu, NULL) != 0) {
        close(pb->wake[0]);
        close(pb->wake[1]);
        free(pb->conninfo);
        free(pb);
        return hc_error_set(err, HC_ESYS, "pthread_mutex_init failed");
    }
    hc_error e;
    pb->conn = connect_listen(pb, &e);
    if (!pb->conn) {
        if (err) *err = e;
        pg_close(pb);
        return e.code;
    }
    pb->up = true;
    return hc_bus_new(out, &pg_transport, pb, err);
}

