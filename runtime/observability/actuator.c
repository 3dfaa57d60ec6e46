/*
** actuator.c -- the read-only HTTP actuator, on libmicrohttpd.
**
** Threads. MHD runs an internal pool of POOL_THREADS threads over epoll (or
** poll), each with its share of the connections, all non-blocking: a
** client that sends slowly, or nothing, holds a connection until
** timeout_s, never a thread. A request reads the registry (a snapshot,
** under the registry's mutex; see registry.c), formats outside it, and
** answers; no route writes to a cache.
**
** Bounds. At most max_connections connections at once, half of them from
** one address; 16 KiB of request line and headers per connection (MHD
** answers a longer request with 414 or 431 itself); a request that
** announces a body is refused with 413 before it is read.
**
** Paths. MHD would percent-decode the whole path before routing; its
** unescape callback is replaced by one that keeps the path as sent, so the
** router splits it on '/' first and decodes each segment after: "a%2Fb"
** names the cache "a/b", and a "%00" names nothing.
**
** The listening socket is made here (so that a port in use is reported
** with its reason, and port 0 can be read back), then handed to MHD, which
** closes it when it stops.
*/
#define _GNU_SOURCE                 /* strcasecmp, accept4-free SOCK_CLOEXEC */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "obs_int.h"

#define POOL_THREADS     2
#define MEMORY_LIMIT     (16u * 1024u)
#define MAX_NAME_ECHO    120            /* bytes of a requested name echoed in an error */

struct hc_actuator {
    struct MHD_Daemon *mhd;
    hc_registry *reg;
    char        *auth;                  /* the token, or NULL */
    size_t       auth_len;
    char        *base;                  /* without a trailing '/'; "" for "/" */
    size_t       base_len;
    unsigned     port;
};

void hc_actuator_options_init(hc_actuator_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    o->port = 8080;
    o->token = NULL;
    o->base_path = "/actuator/hydracache";
    o->max_connections = 64;
    o->timeout_s = 10;
}

unsigned hc_actuator_port(const hc_actuator *a)
{
    return a ? a->port : 0;
}

/* ------------------------------------------------------------ replies */

/*
** What a route answers, before any HTTP server sends it: the routes below
** know nothing of libmicrohttpd, so that hc_actuator_respond can serve them
** from another server (the sandbox mounts them in its own).
*/
typedef struct reply {
    unsigned    status;
    const char *type;                   /* the Content-Type */
    hc_buf      body;
} reply;

#define TYPE_JSON    "application/json"
#define TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

static int reply_json(reply *r, unsigned status, json_t *j)
{
    if (!j) return HC_ENOMEM;
    r->status = status;
    r->type = TYPE_JSON;
    return hc__json_dump(j, &r->body);
}

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* {"status": 404, "error": "Not Found", "message": ...} */
static int reply_error(reply *r, unsigned status, const char *message)
{
    json_t *o = json_object();
    if (!o) return HC_ENOMEM;
    bool ok = json_object_set_new(o, "status", json_integer(status)) == 0;
    ok &= json_object_set_new(o, "error", json_string(reason_phrase(status))) == 0;
    ok &= json_object_set_new(o, "message", hc__json_str(message)) == 0;
    if (!ok) {
        json_decref(o);
        return HC_ENOMEM;
    }
    return reply_json(r, status, o);
}

/* "no cache named 'x'", the name cut short (it comes from the client). */
static int no_cache(reply *r, const char *name, size_t len)
{
    char msg[MAX_NAME_ECHO + 64];
    int n = (int)(len > MAX_NAME_ECHO ? MAX_NAME_ECHO : len);
    snprintf(msg, sizeof msg, "no cache named '%.*s'%s", n, name, len > MAX_NAME_ECHO ? "..." : "");
    return reply_error(r, 404, msg);
}

/* ------------------------------------------------------------- routes */

static json_t *href_to(const char *base, const char *path, bool templated)
{
    json_t *o = json_object();
    if (!o) return NULL;
    size_t n = strlen(base) + strlen(path) + 1;
    char *href = malloc(n);
    bool ok = href != NULL;
    if (href) {
        snprintf(href, n, "%s%s", base, path);
        ok &= json_object_set_new(o, "href", hc__json_str(href)) == 0;
        free(href);
    }
    if (templated) ok &= json_object_set_new(o, "templated", json_true()) == 0;
    if (ok) return o;
    json_decref(o);
    return NULL;
}

static int route_index(reply *r, const char *base)
{
    static const struct { const char *rel, *path; bool templated; } links[] = {
        {"self", "", false},
        {"health", "/health", false},
        {"caches", "/caches", false},
        {"cache", "/caches/{name}", true},
        {"stats", "/caches/{name}/stats", true},
        {"diagnostics", "/caches/{name}/diagnostics", true},
        {"declarations", "/caches/{name}/declarations", true},
    };
    json_t *l = json_object();
    bool ok = l != NULL;
    for (size_t i = 0; ok && i < sizeof links / sizeof links[0]; i++)
        ok = json_object_set_new(l, links[i].rel, href_to(base, links[i].path, links[i].templated)) == 0;
    ok = ok && json_object_set_new(l, "metrics", href_to("", "/metrics", false)) == 0;
    json_t *o = ok ? json_pack("{so}", "_links", l) : NULL;    /* steals l */
    if (!o) {
        if (!ok) json_decref(l);
        return HC_ENOMEM;
    }
    return reply_json(r, 200, o);
}

static int route_health(reply *r, hc_registry *reg)
{
    hc__obs_snap s;
    int rc = hc__obs_snap_take(reg, NULL, &s);
    if (rc != HC_OK) return rc;
    json_t *o = json_object(), *reasons = json_array();
    bool ok = o && reasons, up = true;
    for (size_t i = 0; ok && i < s.n; i++) {
        if (s.v[i].up) continue;
        up = false;
        json_t *e = json_object();
        ok = e && json_object_set_new(e, "cache", hc__json_str(s.v[i].name)) == 0 &&
             json_object_set_new(e, "reason", hc__json_str(s.v[i].reason)) == 0;
        ok = json_array_append_new(reasons, e) == 0 && ok;
    }
    hc__obs_snap_free(&s);
    ok = ok && json_object_set_new(o, "status", json_string(up ? "UP" : "DOWN")) == 0;
    if (ok && !up) {
        ok = json_object_set_new(o, "reasons", reasons) == 0;
        reasons = NULL;
    }
    json_decref(reasons);
    if (!ok) {
        json_decref(o);
        return HC_ENOMEM;
    }
    return reply_json(r, up ? 200 : 503, o);
}

static int route_metrics(reply *r, hc_registry *reg)
{
    r->status = 200;
    r->type = TYPE_METRICS;
    return hc_registry_prometheus(reg, &r->body);
}

static int route_caches(reply *r, hc_registry *reg)
{
    hc__obs_snap s;
    int rc = hc__obs_snap_take(reg, NULL, &s);
    if (rc != HC_OK) return rc;
    json_t *j = hc__json_registry(&s);
    hc__obs_snap_free(&s);
    return reply_json(r, 200, j);
}

enum { DOC_CACHE, DOC_STATS, DOC_DIAGNOSTICS, DOC_DECLARATIONS };

static int route_cache(reply *r, hc_registry *reg, const char *name, size_t len, int doc)
{
    if (strlen(name) != len) return no_cache(r, name, strlen(name));   /* held a NUL */
    hc__obs_snap s;
    int rc = hc__obs_snap_take(reg, name, &s);
    if (rc == HC_ENOTFOUND) return no_cache(r, name, len);
    if (rc != HC_OK) return rc;
    const hc__obs_cache *oc = &s.v[0];
    json_t *j = doc == DOC_STATS ? hc__json_stats(oc, true)
              : doc == DOC_DIAGNOSTICS ? hc__json_diagnostics(oc)
              : doc == DOC_DECLARATIONS ? hc__json_declarations(oc)
              : hc__json_cache(oc);
    hc__obs_snap_free(&s);
    return reply_json(r, 200, j);
}

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes of s into out (n + 1 bytes); its length, or -1
   for a malformed escape. A decoded NUL stays in: the caller sees it. */
static long decode(const char *s, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[w++] = s[i];
            continue;
        }
        if (n - i < 3) return -1;
        int hi = unhex((unsigned char)s[i + 1]), lo = unhex((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0) return -1;
        out[w++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[w] = 0;
    return (long)w;
}

/* Which route path (relative to nothing: the whole raw path) names. */
typedef enum route {
    R_NONE, R_INDEX, R_HEALTH, R_CACHES, R_CACHE, R_METRICS
} route;

typedef struct target {
    route       r;
    int         doc;                /* for R_CACHE */
    const char *seg;                /* the raw name segment, for R_CACHE */
    size_t      seg_len;
} target;

static target match(const char *base, size_t base_len, const char *path)
{
    target t = {R_NONE, DOC_CACHE, NULL, 0};
    if (strcmp(path, "/metrics") == 0) {
        t.r = R_METRICS;
        return t;
    }
    if (strncmp(path, base, base_len) != 0) return t;
    const char *rest = path + base_len;
    if (!*rest || strcmp(rest, "/") == 0) t.r = R_INDEX;
    else if (strcmp(rest, "/health") == 0) t.r = R_HEALTH;
    else if (strcmp(rest, "/caches") == 0 || strcmp(rest, "/caches/") == 0) t.r = R_CACHES;
    else if (strncmp(rest, "/caches/", 8) == 0) {
        const char *seg = rest + 8, *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        const char *tail = seg + len;
        if (!*tail) t.doc = DOC_CACHE;
        else if (strcmp(tail, "/stats") == 0) t.doc = DOC_STATS;
        else if (strcmp(tail, "/diagnostics") == 0) t.doc = DOC_DIAGNOSTICS;
        else if (strcmp(tail, "/declarations") == 0) t.doc = DOC_DECLARATIONS;
        else return t;
        if (len == 0) return t;
        t.r = R_CACHE;
        t.seg = seg;
        t.seg_len = len;
    }
    return t;
}

/* Route one request (authorized already); a trailing '/' of base is
   ignored. HC_OK with r filled, or HC_ENOMEM. */
static int respond(hc_registry *reg, const char *base, size_t base_len, const char *method,
                   const char *path, bool body, reply *r)
{
    while (base_len && base[base_len - 1] == '/') base_len--;
    target t = match(base, base_len, path);
    if (t.r == R_NONE) return reply_error(r, 404, "no such route");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(r, 405, "the actuator is read-only: GET and HEAD only");
    if (body) return reply_error(r, 413, "a request body is not accepted");
    switch (t.r) {
    case R_INDEX: {
        char *b = strndup(base, base_len);
        int rc = b ? route_index(r, b) : HC_ENOMEM;
        free(b);
        return rc;
    }
    case R_HEALTH: return route_health(r, reg);
    case R_CACHES: return route_caches(r, reg);
    case R_METRICS: return route_metrics(r, reg);
    case R_CACHE: {
        char *name = malloc(t.seg_len + 1);
        if (!name) return HC_ENOMEM;
        long n = decode(t.seg, t.seg_len, name);
        int rc = n < 0 ? reply_error(r, 400, "malformed percent-encoding")
                       : route_cache(r, reg, name, (size_t)n, t.doc);
        free(name);
        return rc;
    }
    default: return reply_error(r, 404, "no such route");
    }
}

int hc_actuator_respond(hc_registry *reg, const char *base_path, const char *method,
                        const char *path, bool has_body, unsigned *status,
                        const char **content_type, hc_buf *body)
{
    if (!reg || !method || !path || !status || !content_type || !body) return HC_EINVAL;
    const char *base = base_path ? base_path : "/actuator/hydracache";
    if (base[0] != '/') return HC_EINVAL;
    reply r = {500, TYPE_JSON, HC_BUF_INIT};
    int rc = respond(reg, base, strlen(base), method, path, has_body, &r);
    if (rc != HC_OK) {
        hc_buf_free(&r.body);
        return rc;
    }
    hc_buf_free(body);
    *body = r.body;
    *status = r.status;
    *content_type = r.type;
    return HC_OK;
}

/* ------------------------------------------------------------ answers */

static enum MHD_Result send_reply(struct MHD_Connection *conn, reply *rp)
{
    /* MHD frees the bytes with free(): they come from the hc_buf's malloc. */
    size_t len = rp->body.len;
    void *data = rp->body.data;
    rp->body = (hc_buf)HC_BUF_INIT;
    struct MHD_Response *r = data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;              /* MHD closes the connection */
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (rp->status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (rp->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hydracache\"");
    enum MHD_Result ok = MHD_queue_response(conn, rp->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---------------------------------------------------------- requests */

/* "Bearer <token>", the scheme in any case, the token compared in time
   that depends on the expected token's length only. */
static bool authorized(const hc_actuator *a, struct MHD_Connection *conn)
{
    if (!a->auth) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    size_t n = strlen(h);
    unsigned char diff = (unsigned char)(n != a->auth_len);
    for (size_t i = 0; i < a->auth_len; i++)
        diff |= (unsigned char)(a->auth[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

static bool has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static enum MHD_Result answer(const hc_actuator *a, struct MHD_Connection *conn, const char *url,
                              const char *method, bool body)
{
    reply r = {500, TYPE_JSON, HC_BUF_INIT};
    int rc = authorized(a, conn) ? respond(a->reg, a->base, a->base_len, method, url, body, &r)
                                 : reply_error(&r, MHD_HTTP_UNAUTHORIZED, "a valid bearer token is required");
    enum MHD_Result res = rc == HC_OK ? send_reply(conn, &r) : MHD_NO;
    hc_buf_free(&r.body);
    return res;
}

/*
** MHD calls this first with the headers, then with each piece of a body,
** then once more with none. A request without a body is answered on that
** last call, so that the connection can be kept alive; one that announces
** a body is answered at once, unread (MHD then closes the connection).
*/
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    const hc_actuator *a = cls;
    static int waiting, answered;           /* states of a request, by address */
    if (!*con_cls) {
        bool body = has_body(conn);
        *con_cls = body ? &answered : &waiting;
        return body ? answer(a, conn, url, method, true) : MHD_YES;
    }
    if (*upload_data_size || *con_cls == &answered) {
        *upload_data_size = 0;              /* a body we do not read */
        return MHD_YES;
    }
    *con_cls = &answered;
    return answer(a, conn, url, method, false);
}

/* Keep the path as sent: match() splits it before decoding. */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

/* ------------------------------------------------------------ start */

/* A listening socket on bind:port, non-blocking; -1 with err filled. */
static int listen_on(const char *bind_addr, unsigned port, bool *v6, unsigned *bound, hc_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind_addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sl = sizeof *in4;
        *v6 = false;
    } else if (inet_pton(AF_INET6, bind_addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof *in6;
        *v6 = true;
    } else {
        hc_error_set(err, HC_EINVAL, "actuator: bind address '%s' is not a numeric IPv4 or IPv6 address",
                     bind_addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        hc_error_set(err, HC_ESYS, "actuator: socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (*v6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        hc_error_set(err, HC_ESYS, "actuator: cannot listen on %s port %u: %s", bind_addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        hc_error_set(err, HC_ESYS, "actuator: getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(*v6 ? in6->sin6_port : in4->sin_port);
    return fd;
}

static void actuator_free(hc_actuator *a)
{
    free(a->auth);
    free(a->base);
    free(a);
}

int hc_actuator_start(hc_actuator **out, hc_registry *r, const hc_actuator_options *o, hc_error *err)
{
    hc_actuator_options defaults;
    if (!out || !r) return hc_error_set(err, HC_EINVAL, NULL);
    *out = NULL;
    if (!o) {
        hc_actuator_options_init(&defaults);
        o = &defaults;
    }
    const char *bind_addr = o->bind ? o->bind : "127.0.0.1";
    const char *base = o->base_path ? o->base_path : "/actuator/hydracache";
    if (base[0] != '/' || o->port > 65535)
        return hc_error_set(err, HC_EINVAL, "actuator: the base path must start with '/' and the port be below 65536");
    hc_actuator *a = calloc(1, sizeof *a);
    if (!a) return hc_error_set(err, HC_ENOMEM, NULL);
    a->reg = r;
    a->base = strdup(base);
    if (o->token) a->auth = strdup(o->token);
    if (!a->base || (o->token && !a->auth)) {
        actuator_free(a);
        return hc_error_set(err, HC_ENOMEM, NULL);
    }
    a->auth_len = a->auth ? strlen(a->auth) : 0;
    a->base_len = strlen(a->base);
    while (a->base_len && a->base[a->base_len - 1] == '/') a->base[--a->base_len] = 0;

    bool v6;
    int fd = listen_on(bind_addr, o->port, &v6, &a->port, err);
    if (fd < 0) {
        int rc = err ? err->code : HC_ESYS;
        actuator_free(a);
        return rc;
    }
    unsigned max = o->max_connections ? o->max_connections : 64;
    unsigned per_ip = max / 2 ? max / 2 : 1;
    /* MHD_USE_ITC: the stop wakes every worker through a channel of its
       own; without it only the listening socket did, which a worker at its
       share of connections does not watch (it slept on, and the stop with
       it). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
    a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, a,
                              MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
                              MHD_OPTION_CONNECTION_LIMIT, max,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                              MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s ? o->timeout_s : 10u,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
                              MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                              MHD_OPTION_END);
    if (!a->mhd) {
        close(fd);
        actuator_free(a);
        return hc_error_set(err, HC_ESYS, "actuator: the HTTP server did not start");
    }
    *out = a;
    return HC_OK;
}

void hc_actuator_stop(hc_actuator *a)
{
    if (!a) return;
    MHD_stop_daemon(a->mhd);        /* closes the connections and the socket */
    actuator_free(a);
}
