/*
** obs_testutil.h -- what the observability suites share: HTTP through
** libcurl, raw sockets for clients that misbehave, JSON through jansson,
** and promtool for the metrics text.
*/
#ifndef HC_OBS_TESTUTIL_H
#define HC_OBS_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "testutil.h"
#include "hydracache/observability.h"

/* ------------------------------------------------------------------ HTTP */

typedef struct http_res {
    long   status;                  /* 0: no answer (curl failed) */
    hc_buf body;
    hc_buf headers;                 /* the raw header lines, lowercased names kept as sent */
    CURLcode curl;
} http_res;

static inline size_t http_sink(char *p, size_t size, size_t n, void *ctx)
{
    return hc_buf_append(ctx, p, size * n) == HC_OK ? size * n : 0;
}

/*
** method (NULL: GET) on http://127.0.0.1:port{path}, with "Authorization:
** Bearer token" when token is not NULL (auth overrides the whole header
** when not NULL). The caller frees with http_free.
*/
static inline http_res http_call(const char *method, unsigned port, const char *path, const char *token,
                                 const char *auth)
{
    http_res r;
    memset(&r, 0, sizeof r);
    char url[8192], hdr[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (token) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, hdr);
    }
    if (auth) headers = curl_slist_append(headers, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_sink);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);      /* a bound, not a measure */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);    /* send "..", "//" as written */
    if (method) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "HEAD") == 0) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    r.curl = curl_easy_perform(h);
    if (r.curl == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    if (!r.body.data) hc_buf_reserve(&r.body, 0);
    if (!r.headers.data) hc_buf_reserve(&r.headers, 0);
    return r;
}

static inline http_res http_get(unsigned port, const char *path, const char *token)
{
    return http_call(NULL, port, path, token, NULL);
}

static inline void http_free(http_res *r)
{
    hc_buf_free(&r->body);
    hc_buf_free(&r->headers);
}

/* The value of header name (case-insensitive) in r, copied into buf, or
   NULL. */
static inline const char *http_header(const http_res *r, const char *name, char *buf, size_t n)
{
    size_t len = strlen(name);
    for (const char *p = (const char *)r->headers.data; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t line = eol ? (size_t)(eol - p) : strlen(p);
        if (line > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            const char *v = p + len + 1;
            while (*v == ' ') v++;
            size_t vl = (size_t)(p + line - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
            snprintf(buf, n, "%.*s", (int)vl, v);
            return buf;
        }
        p = eol ? eol + 1 : p + line;
    }
    return NULL;
}

/* The JSON body of r (fails the test when it does not parse). */
static inline json_t *http_json(const http_res *r)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, &e);
    if (!j) fail_msg("body is not JSON (%s): %.200s", e.text, (const char *)r->body.data);
    return j;
}

/* Ask /health until the actuator answers: it listens once started, so this
   returns at once; the loop only bounds a wait that should not happen. */
static inline void http_wait_ready(unsigned port, const char *base, const char *token)
{
    char path[256];
    snprintf(path, sizeof path, "%s/health", base);
    for (int i = 0; i < 2000; i++) {
        http_res r = http_get(port, path, token);
        long st = r.status;
        http_free(&r);
        if (st) return;
        test_nap_ms(10);
    }
    fail_msg("the actuator on port %u never answered", port);
}

/* ----------------------------------------------------------- raw sockets */

static inline int raw_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send n bytes; false when the peer closed first. */
static inline bool raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read until the peer closes (or 60 s pass: a bound, not a measure) into
   out; returns what was read. */
static inline size_t raw_read_all(int fd, hc_buf *out)
{
    hc_buf_reset(out);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 60000) <= 0) break;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        hc_buf_append(out, buf, (size_t)n);
    }
    if (!out->data) hc_buf_reserve(out, 0);
    return out->len;
}

/* The status code of a raw HTTP response, or 0. */
static inline int raw_status(const hc_buf *b)
{
    int st = 0;
    if (b->len > 12 && sscanf((const char *)b->data, "HTTP/1.%*d %d", &st) == 1) return st;
    return 0;
}

/* ------------------------------------------------------------- promtool */

/* Run `promtool check metrics` on text: its exit status, its output in
   out (the caller frees). */
static inline int promtool_check(const char *text, hc_buf *out)
{
    char path[] = "/tmp/hc_metrics.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) fail_msg("mkstemp failed");
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) fail_msg("write failed");
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("cannot run promtool");
    hc_buf_reset(out);
    char buf[1024];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0) hc_buf_append(out, buf, k);
    if (!out->data) hc_buf_reserve(out, 0);
    int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------- a busy world */

/*
** A bus whose transport the test drives: publishing fails on demand, and
** the test delivers, loses and garbles messages and reports the
** connection down or up itself.
*/
typedef struct fake_bus {
    hc_bus     *bus;
    atomic_bool fail;
} fake_bus;

static inline int fake_bus_publish(void *impl, const hc_bus_msg *m, hc_error *err)
{
    (void)m;
    fake_bus *f = impl;
    return atomic_load(&f->fail) ? hc_error_set(err, HC_EBUS, "fake: down") : HC_OK;
}

static inline int fake_bus_start(void *impl, hc_bus *bus, hc_error *err)
{
    (void)err;
    ((fake_bus *)impl)->bus = bus;
    return HC_OK;
}

static inline void fake_bus_close(void *impl) { (void)impl; }

static inline hc_bus *fake_bus_new(fake_bus *f)
{
    static const hc_bus_transport t = {.publish = fake_bus_publish, .start = fake_bus_start,
                                       .close = fake_bus_close};
    memset(f, 0, sizeof *f);
    hc_bus *bus = NULL;
    assert_int_equal(hc_bus_new(&bus, &t, f, NULL), HC_OK);
    return bus;
}

/* Loaders for the busy world. */
static inline int load_ok(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)err;
    return hc_buf_set(out, "loaded", 6);
}

static inline int load_fail(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)out;
    return hc_error_set(err, HC_ELOAD, "no");
}

/* Invalidates its own key while loading: the value is not stored. */
static inline int load_stale(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    hc_invalidate_key(((void **)ctx)[0], ((void **)ctx)[1]);
    return hc_buf_set(out, "stale", 5);
}

/* Fails once busy_gate opens: a refresh that a test holds while it
   queues another behind it. Its ctx is NULL, so that it refreshes on a
   refresh thread without a copy. */
static test_gate busy_gate;
static inline int load_gated_fail(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)out;
    test_gate_wait(&busy_gate);
    return hc_error_set(err, HC_ELOAD, "gated no");
}

static inline bool busy_refreshed(void *arg)
{
    hc_stats s;
    hc_stats_get(arg, &s);
    return s.refreshes > 0 && s.refresh_failures > 0;
}

typedef struct slow_load {
    hc_cache *c;
    test_gate gate;
} slow_load;

static inline int load_slow(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    test_gate_wait(&((slow_load *)ctx)->gate);
    return hc_buf_set(out, "slow", 4);
}

static inline void *slow_getter(void *arg)
{
    slow_load *sl = arg;
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    int rc = hc_get_or_load(sl->c, "slow", NULL, load_slow, sl, &v, &err);
    hc_buf_free(&v);
    return rc == HC_OK ? NULL : (void *)1;
}

static inline bool has_join(void *arg)
{
    hc_stats s;
    hc_stats_get(arg, &s);
    return s.single_flight_joins > 0;
}

/* Per-declaration counters, as generated code makes them. */
#if defined(__GNUC__)
#  define OBS_UNUSED __attribute__((unused))
#else
#  define OBS_UNUSED
#endif
static hc_decl busy_decl_a OBS_UNUSED = {"busy", "user_by_id", HC_DECL_QUERY, 0};
static hc_decl busy_decl_b OBS_UNUSED = {"busy", "score", HC_DECL_POLICY, 0};

/*
** Give c (on the fake bus f, with clock tc, max_entries 4, an event
** buffer of 2 and a refresh queue of 1) something in every counter it can
** have: refreshes, a failed one and a dropped one, a stale value served,
** hits, misses, loads and failures, a single-flight join, a stale
** discard, inserts, invalidations, evictions, expirations, events and a
** lagging subscriber, bus traffic and bus trouble, and two declarations.
*/
static inline void make_busy(hc_cache *c, fake_bus *f, test_clock *tc)
{
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    hc_subscription *sub;
    assert_int_equal(hc_subscribe(c, NULL, &sub), HC_OK);

    /* Freshness first, while the 4 places are free: R1's refresh holds the
       refresh thread, R2's waits in the queue, R3's finds it full; X,
       expired, stands in for its failed load. */
    hc_options due = {.refresh_ms = 5}, keep = {.ttl_ms = 10, .stale_if_error_ms = 100000};
    assert_int_equal(hc_put(c, "R1", "v", 1, &due), HC_OK);
    assert_int_equal(hc_put(c, "R2", "v", 1, &due), HC_OK);
    assert_int_equal(hc_put(c, "R3", "v", 1, &due), HC_OK);
    assert_int_equal(hc_put(c, "X", "v", 1, &keep), HC_OK);
    test_clock_advance(tc, 20);
    test_gate_init(&busy_gate);
    assert_int_equal(hc_get_or_load(c, "R1", &due, load_gated_fail, NULL, &v, &err), HC_OK);
    test_gate_await_arrivals(&busy_gate, 1);
    assert_int_equal(hc_get_or_load(c, "R2", &due, load_ok, NULL, &v, &err), HC_OK);
    assert_int_equal(hc_get_or_load(c, "R3", &due, load_ok, NULL, &v, &err), HC_OK);
    assert_int_equal(hc_get_or_load(c, "X", NULL, load_fail, NULL, &v, &err), HC_OK);
    test_gate_open(&busy_gate);
    if (!test_wait_until(busy_refreshed, c)) fail_msg("the refreshes never ran");
    const char *tags[] = {"t"};
    hc_options with_tag = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 1},
               short_ttl = {.ttl_ms = 10};
    for (int i = 0; i < 6; i++) {                       /* 6 inserts into 4 places */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(hc_put(c, k, "v", 1, &with_tag), HC_OK);
    }
    hc_event ev;
    assert_int_equal(hc_subscription_recv(sub, &ev, 0), HC_ELAGGED);   /* counted as lagged */
    hc_subscription_close(sub);
    (void)hc_get(c, "k5", &v);                          /* a hit */
    assert_int_equal(hc_get(c, "nope", &v), HC_MISS);
    assert_int_equal(hc_get_or_load(c, "L", NULL, load_ok, NULL, &v, &err), HC_OK);
    assert_int_equal(hc_get_or_load(c, "F", NULL, load_fail, NULL, &v, &err), HC_ELOAD);
    void *sctx[2] = {c, "S"};
    assert_int_equal(hc_get_or_load(c, "S", NULL, load_stale, sctx, &v, &err), HC_OK);
    assert_int_equal(hc_put(c, "ttl", "v", 1, &short_ttl), HC_OK);
    test_clock_advance(tc, 20);
    assert_int_equal(hc_get(c, "ttl", &v), HC_MISS);    /* an expiration */
    (void)hc_remove(c, "L");                            /* an invalidation, published */

    /* A join: the leader waits in its loader until another caller joined. */
    slow_load sl;
    memset(&sl, 0, sizeof sl);
    sl.c = c;
    test_gate_init(&sl.gate);
    pthread_t lead, join;
    assert_int_equal(pthread_create(&lead, NULL, slow_getter, &sl), 0);
    test_gate_await_arrivals(&sl.gate, 1);
    assert_int_equal(pthread_create(&join, NULL, slow_getter, &sl), 0);
    if (!test_wait_until(has_join, c)) fail_msg("the second caller never joined");
    test_gate_open(&sl.gate);
    void *r1, *r2;
    pthread_join(lead, &r1);
    pthread_join(join, &r2);
    assert_null(r1);
    assert_null(r2);
    test_gate_destroy(&sl.gate);

    /* The bus: a failed publish, a message received, losses, garbage. */
    atomic_store(&f->fail, true);
    assert_int_equal(hc_invalidate_key(c, "k5"), HC_EBUS);
    atomic_store(&f->fail, false);
    hc_bus_deliver(f->bus, &(hc_bus_msg){HC_BUS_TAG, "elsewhere", hc_cache_name(c), "t"});
    hc_bus_lost(f->bus, 2, false);
    hc_bus_lost(f->bus, 0, true);
    hc_bus_malformed(f->bus);

    /* Declarations: two hits, a miss that loads, a miss that fails. */
    assert_int_equal(hc_decl_get_or_load(c, &busy_decl_a, "u:1", NULL, load_ok, NULL, &v, &err), HC_OK);
    hc_decl_call(c, &busy_decl_a, false);
    hc_decl_call(c, &busy_decl_a, true);
    hc_decl_call(c, &busy_decl_a, true);
    assert_int_equal(hc_decl_get_or_load(c, &busy_decl_b, "s:1", NULL, load_fail, NULL, &v, &err), HC_ELOAD);
    hc_decl_call(c, &busy_decl_b, false);
    hc_buf_free(&v);
}

/* A cache for make_busy: named name, on bus, with tc's clock. */
static inline hc_cache *busy_open(const char *name, hc_bus *bus, test_clock *tc)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = name;
    cfg.max_entries = 4;
    cfg.event_buffer = 2;
    cfg.refresh_queue = 1;
    cfg.bus = bus;
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = tc;
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

#endif
