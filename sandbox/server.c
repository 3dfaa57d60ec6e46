/*
** server.c -- HTTP: libmicrohttpd with a thread pool, the token, limits,
** routing from the route table, and flows.
**
** A request is answered in the pool thread that read it. Before any body
** is read the server settles what needs no body: a missing or wrong token
** (401), an unknown path (404) or method (405), a declared length over the
** limit (413); the connection is then closed with the answer. A body that
** grows past the limit without declaring its length is read to the end and
** dropped, and answered 413.
**
** The pages (static.c) come first: they are files, not routes, and need
** no token.
**
** Then the query and the body are checked against the route's schemas,
** the flow is opened (the flow_id of the X-Flow-Id header, the body or the
** query, or a new one) and the handler runs. A POST that succeeded is
** recorded in its flow so the flow can be replayed. Replays come back in
** through sb_server_dispatch, which runs the same steps without HTTP.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sandbox.h"

struct sb_server {
    struct MHD_Daemon *d;
};

static atomic_bool is_ready;
static uint16_t bound_port;
static const sb_settings *S;

void sb_server_set_ready(bool r)
{
    atomic_store(&is_ready, r);
}

bool sb_server_ready(void)
{
    return atomic_load(&is_ready);
}

uint16_t sb_server_port(void)
{
    return bound_port;
}

/* ---------------------------------------------------------------- routing */

/* Match path against pattern; fill the path parameters. */
static bool match(const char *pattern, const char *path, sb_req *rq)
{
    const char *p = pattern, *u = path;
    size_t n = 0;
    while (*p && *u) {
        if (*p != '/' || *u != '/') return false;
        p++, u++;
        const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), ul = ue ? (size_t)(ue - u) : strlen(u);
        if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (ul == 0 || n == 4) return false;
            if (rq) {
                rq->params[n][0] = strndup(p + 1, pl - 2);
                rq->params[n][1] = strndup(u, ul);
            }
            n++;
        } else if (pl != ul || memcmp(p, u, pl) != 0) {
            return false;
        }
        p += pl, u += ul;
    }
    if (*p || *u) {
        if (rq)
            for (size_t i = 0; i < n; i++) free(rq->params[i][0]), free(rq->params[i][1]);
        return false;
    }
    if (rq) rq->nparams = n;
    return true;
}

/* The route for method and path; *path_known tells a 405 from a 404. */
static const sb_route *find_route(const char *method, const char *path, bool *path_known, char *allow,
                                  size_t allow_size)
{
    *path_known = false;
    if (allow) allow[0] = 0;
    const sb_route *found = NULL;
    for (size_t i = 0; i < sb_nroutes; i++) {
        if (!match(sb_routes[i].path, path, NULL)) continue;
        *path_known = true;
        if (allow) {
            size_t l = strlen(allow);
            snprintf(allow + l, allow_size - l, "%s%s", l ? ", " : "", sb_routes[i].method);
        }
        if (!found && strcmp(sb_routes[i].method, method) == 0) found = &sb_routes[i];
    }
    return found;
}

const char *sb_req_param(const sb_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->nparams; i++)
        if (strcmp(rq->params[i][0], name) == 0) return rq->params[i][1];
    return NULL;
}

int sb_req_param_int(sb_req *rq, const char *name, int64_t *out)
{
    const char *s = sb_req_param(rq, name);
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno == ERANGE)
        return sb_fail(&rq->err, 400, "invalid", "path parameter '%s' must be an integer", name);
    *out = v;
    return 0;
}

int sb_reply(sb_req *rq, json_t *out)
{
    rq->status = 200;
    json_decref(rq->out);
    rq->out = out;
    return 0;
}

static void req_free(sb_req *rq)
{
    for (size_t i = 0; i < rq->nparams; i++) free(rq->params[i][0]), free(rq->params[i][1]);
    json_decref(rq->query);
    json_decref(rq->body);
    json_decref(rq->out);
    free(rq->text);
}

/* -------------------------------------------------------------- handling */

/* Turn the query's strings into the types its schema gives, then check. */
static int typed_query(sb_req *rq, const json_t *schema, json_t *raw)
{
    const json_t *props = json_object_get(schema, "properties");
    const char *k;
    json_t *v;
    json_object_foreach(raw, k, v) {
        const char *ty = json_string_value(json_object_get(json_object_get(props, k), "type"));
        if (ty && strcmp(ty, "integer") == 0) {
            char *end;
            errno = 0;
            long long n = strtoll(json_string_value(v), &end, 10);
            if (!*json_string_value(v) || *end || errno == ERANGE)
                return sb_fail(&rq->err, 400, "invalid", "query.%s: must be an integer", k);
            json_object_set_new(raw, k, json_integer(n));
        }
    }
    return sb_schema_check(schema, raw, "query", &rq->err);
}

/*
** Everything after routing, for HTTP and for replays alike: parameters,
** body, flow, handler. Fills rq->status and rq->out (or rq->text).
*/
static void handle(sb_req *rq, json_t *raw_query, const char *header_flow)
{
    const sb_route *r = rq->route;
    const sb_route_schemas *sc = sb_route_schemas_get((size_t)(r - sb_routes));
    rq->status = 200;
    rq->query = raw_query ? raw_query : json_object();      /* req_free frees it */
    /* Path parameters, each as its schema says. */
    for (size_t i = 0; i < rq->nparams; i++) {
        json_t *ps = sb_path_param_schema(rq->params[i][0]);
        const char *ty = json_string_value(json_object_get(ps, "type"));
        int64_t n;
        if (ty && strcmp(ty, "integer") == 0 && sb_req_param_int(rq, rq->params[i][0], &n) != 0) goto failed;
        if (ty && strcmp(ty, "string") == 0 && strcmp(rq->params[i][0], "flow_id") == 0 &&
            !sb_flow_id_ok(rq->params[i][1])) {
            sb_fail(&rq->err, 400, "invalid", "path parameter 'flow_id': 1 to 64 of A-Z a-z 0-9 . _ : -");
            goto failed;
        }
    }
    /* The query. */
    if (!sc->query) {
        const char *k;
        json_t *v;
        json_object_foreach(rq->query, k, v) if (strcmp(k, "flow_id") != 0) {
            sb_fail(&rq->err, 400, "invalid", "query: unknown parameter '%s'", k);
            goto failed;
        }
    } else if (typed_query(rq, sc->query, rq->query) != 0) {
        goto failed;
    }
    /* The body. */
    if (sc->request) {
        if (rq->raw_len == 0) {
            rq->body = json_object();
        } else {
            json_error_t je;
            rq->body = json_loadb(rq->raw_body, rq->raw_len, JSON_REJECT_DUPLICATES, &je);
            if (!rq->body) {
                sb_fail(&rq->err, 400, "bad_json", "malformed JSON: %s", je.text);
                rq->err.line = je.line > 0 ? je.line : 1;
                rq->err.column = je.column > 0 ? je.column : 1;
                goto failed;
            }
        }
        if (sb_schema_check(sc->request, rq->body, "body", &rq->err) != 0) goto failed;
    } else {
        rq->body = json_object();
    }
    /* The flow. */
    const char *flow = header_flow;
    if (!flow) flow = json_string_value(json_object_get(rq->body, "flow_id"));
    if (!flow) flow = json_string_value(json_object_get(rq->query, "flow_id"));
    if (flow && !sb_flow_id_ok(flow)) {
        sb_fail(&rq->err, 400, "invalid", "flow_id: 1 to 64 of A-Z a-z 0-9 . _ : -");
        goto failed;
    }
    if (flow) snprintf(rq->flow_id, sizeof rq->flow_id, "%s", flow);
    else sb_flow_new_id(rq->flow_id);
    sb_flow flow_state;
    if (!(r->flags & SB_ROUTE_NO_FLOW)) {
        if (sb_flow_begin(&flow_state, sb_main_lab, rq->flow_id, &rq->err) != 0) goto failed;
        rq->flow = &flow_state;
    }
    int rc = r->handler(rq);
    if (rq->flow) sb_flow_end(rq->flow);
    rq->flow = NULL;
    if (rc != 0) goto failed;
    if (json_is_object(rq->out) && !(r->flags & SB_ROUTE_NO_FLOW) && !json_object_get(rq->out, "flow_id"))
        json_object_set_new(rq->out, "flow_id", json_string(rq->flow_id));
    if (strcmp(r->method, "POST") == 0 && !(r->flags & SB_ROUTE_NO_REPLAY) && rq->status < 400)
        sb_flow_record(rq->flow_id, r->method, rq->path, rq->raw_body, rq->raw_len);
    return;
failed:
    if (rq->err.status == 0) sb_fail(&rq->err, 500, "internal", "the handler failed without saying why");
    rq->status = rq->err.status;
    json_decref(rq->out);
    rq->out = sb_err_json(&rq->err);
    free(rq->text);
    rq->text = NULL;
}

int sb_server_dispatch(const char *method, const char *path, const char *body, const char *flow_id,
                       int *status, json_t **out)
{
    sb_req rq;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.path = path;
    rq.raw_body = body ? body : "";
    rq.raw_len = strlen(rq.raw_body);
    bool known;
    rq.route = find_route(method, path, &known, NULL, 0);
    if (!rq.route || !match(rq.route->path, path, &rq)) {
        *status = known ? 405 : 404;
        sb_fail(&rq.err, *status, known ? "method_not_allowed" : "not_found", "%s %s", method, path);
        *out = sb_err_json(&rq.err);
        return -1;
    }
    handle(&rq, NULL, flow_id);
    *status = rq.status;
    if (rq.text && !rq.out) rq.out = json_pack("{s:s}", "text", rq.text);
    *out = rq.out;
    rq.out = NULL;
    req_free(&rq);
    return 0;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct conn {
    const sb_route *route;
    char   *body;
    size_t  len, cap;
    bool    too_big;
} conn;

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *o, const char *allow)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (!text) return MHD_NO;
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code, const char *msg,
                                  const char *allow)
{
    sb_err e;
    sb_fail(&e, status, code, "%s", msg);
    return send_json(c, status, sb_err_json(&e), allow);
}

static bool token_ok(const char *auth)
{
    if (!S->token[0]) return true;
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return false;
    const char *t = auth + 7;
    size_t a = strlen(t), b = strlen(S->token);
    /* Compare every byte whatever matches, so timing does not tell. */
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)((i < a ? t[i] : 0) ^ S->token[i]);
    return diff == 0;
}

/*
** The daemon keeps the URL and the query as sent (keep_escaped): the
** actuator's routes must see the path before it is decoded. Everything
** else is decoded here as MHD would have (MHD_http_unescape; MHD has
** already turned '+' into ' ' in the query), so "%00" ends a path or
** a value there as it always did.
*/
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* A decoded copy of s (malloc'd), or NULL when out of memory. */
static char *unescaped(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d) MHD_http_unescape(d);
    return d;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    char *k = unescaped(key), *v = unescaped(value);
    /* Decoded text that is not UTF-8 becomes '?' (jansson holds UTF-8). */
    if (k && v) json_object_set_new(cls, sb_utf8_fix(k), json_string(sb_utf8_fix(v)));
    free(k);
    free(v);
    return MHD_YES;
}

static enum MHD_Result serve(struct MHD_Connection *c, const char *url, const char *raw_url, const char *method,
                              const char *upload, size_t *upload_size, void **con_cls);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *raw_url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    char *url = unescaped(raw_url);
    if (!url) return MHD_NO;
    enum MHD_Result r = serve(c, url, raw_url, method, upload, upload_size, con_cls);
    free(url);
    return r;
}

static enum MHD_Result serve(struct MHD_Connection *c, const char *url, const char *raw_url, const char *method,
                              const char *upload, size_t *upload_size, void **con_cls)
{
    conn *k = *con_cls;
    /* The actuator's routes are matched as sent: its {name} may hold an
       encoded '/', which hc_actuator_respond decodes after splitting. */
    const char *route_url = strncmp(raw_url, "/actuator/", 10) == 0 ? raw_url : url;
    if (!k) {
        int page = sb_static_serve(c, method, url);
        if (page >= 0) return (enum MHD_Result)page;
        /* First call: the headers. Settle what needs no body. */
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        bool known;
        char allow[64];
        const sb_route *r = find_route(method, route_url, &known, allow, sizeof allow);
        bool open = r && (r->flags & SB_ROUTE_OPEN);
        if (!open && !token_ok(auth))
            return send_error(c, 401, "unauthorized",
                              auth ? "wrong token" : "this server needs 'Authorization: Bearer <token>'", NULL);
        if (!r && known) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s is not allowed here (allowed: %s)", method, allow);
            return send_error(c, 405, "method_not_allowed", msg, allow);
        }
        if (!r) {
            char msg[300];
            snprintf(msg, sizeof msg, "no route %s %.200s (GET /openapi.json lists them)", method, url);
            return send_error(c, 404, "not_found", msg, NULL);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > S->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body is larger than %zu bytes", S->max_body);
            return send_error(c, 413, "too_large", msg, NULL);
        }
        k = calloc(1, sizeof *k);
        if (!k) return MHD_NO;
        k->route = r;
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (k->too_big || k->len + n > S->max_body) {
            k->too_big = true;
            return MHD_YES;
        }
        if (k->len + n + 1 > k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4096;
            while (cap < k->len + n + 1) cap *= 2;
            char *p = realloc(k->body, cap);
            if (!p) return MHD_NO;
            k->body = p;
            k->cap = cap;
        }
        memcpy(k->body + k->len, upload, n);
        k->len += n;
        k->body[k->len] = 0;
        return MHD_YES;
    }
    if (k->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than %zu bytes", S->max_body);
        return send_error(c, 413, "too_large", msg, NULL);
    }
    sb_req rq;
    memset(&rq, 0, sizeof rq);
    rq.route = k->route;
    rq.method = method;
    rq.path = url;
    rq.raw_path = raw_url;
    rq.raw_body = k->body ? k->body : "";
    rq.raw_len = k->len;
    rq.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    match(k->route->path, route_url, &rq);
    json_t *query = json_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, query);
    handle(&rq, query, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Flow-Id"));
    enum MHD_Result res;
    if (rq.text) {
        size_t len = strlen(rq.text);
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, rq.text, MHD_RESPMEM_MUST_FREE);
        rq.text = NULL;
        MHD_add_response_header(resp, "Content-Type", rq.content_type ? rq.content_type : "text/plain");
        res = MHD_queue_response(c, (unsigned)rq.status, resp);
        MHD_destroy_response(resp);
    } else {
        json_t *o = rq.out ? rq.out : json_object();
        rq.out = NULL;
        res = send_json(c, rq.status, o, NULL);
    }
    req_free(&rq);
    return res;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    conn *k = *con_cls;
    if (k) {
        free(k->body);
        free(k);
    }
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("hcache-sandbox: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------ start/stop */

/* "ADDR:PORT" or "[V6]:PORT" into a socket address. */
static int parse_bind(const char *bind, struct sockaddr_storage *ss, bool *v6, sb_err *e)
{
    char host[128];
    const char *colon = strrchr(bind, ':');
    if (!colon) return sb_fail(e, 400, "bad_config", "bind '%s': ADDR:PORT", bind);
    size_t hl = (size_t)(colon - bind);
    if (hl >= sizeof host) return sb_fail(e, 400, "bad_config", "bind '%s': address too long", bind);
    memcpy(host, bind, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return sb_fail(e, 400, "bad_config", "bind '%s': the port must be 0 to 65535", bind);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host[0] ? host : NULL, NULL, &hints, &res);
    if (rc != 0 || !res) return sb_fail(e, 400, "bad_config", "bind '%s': %s", bind, gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (*v6) ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return 0;
}

int sb_server_start(sb_server **out, const sb_settings *s, char *url, size_t url_size, sb_err *e)
{
    S = s;
    sb_static_init(s->data_dir);
    struct sockaddr_storage ss;
    bool v6 = false;
    if (parse_bind(s->bind, &ss, &v6, e) != 0) return -1;
    sb_server *srv = calloc(1, sizeof *srv);
    if (!srv) return sb_fail(e, 500, "internal", "out of memory");
    /* MHD_USE_ITC: a stop wakes every worker (see the actuator's start). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (v6) flags |= MHD_USE_IPv6;
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->threads,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                              MHD_OPTION_END);
    if (!srv->d) {
        free(srv);
        return sb_fail(e, 500, "bind", "cannot listen on %s (is the port in use?)", s->bind);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? info->port : 0;
    char host[INET6_ADDRSTRLEN] = "";
    if (v6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    else inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    snprintf(url, url_size, v6 ? "http://[%s]:%u" : "http://%s:%u", host, (unsigned)bound_port);
    *out = srv;
    return 0;
}

void sb_server_stop(sb_server *srv)
{
    if (!srv) return;
    MHD_stop_daemon(srv->d);
    free(srv);
}
