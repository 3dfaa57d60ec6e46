/*
** hydracache/observability.h -- libhydracache-observability: what a
** process's caches are doing, seen from outside it.
**
**   - a registry of named caches (hc_registry);
**   - JSON documents of a cache's stats and diagnostics, and of the whole
**     registry, with every counter of hc_stats and the per-declaration
**     counters of generated code (jansson writes them);
**   - the Prometheus text exposition format 0.0.4, per cache and per
**     declaration;
**   - a read-only HTTP actuator on threads of its own (libmicrohttpd),
**     bound to loopback unless told otherwise, with an optional bearer
**     token; `hcache-stat` polls it.
**
** Link with `pkg-config --libs hydracache-observability`; the core
** library needs none of this. docs/OBSERVABILITY.md documents every
** document, route and metric name. Expose a process's caches in five lines:
**
**     hc_registry *reg;
**     hc_actuator *act;
**     hc_registry_new(&reg);
**     hc_registry_add(reg, cache);                  // under its hc_config.name
**     hc_actuator_start(&act, reg, NULL, NULL);     // 127.0.0.1:8080
**
** and at the end hc_actuator_stop(act), hc_registry_free(reg), then close
** the caches.
**
** Threads: every function may be called from any thread. Reading a cache
** for a document takes the locks hc_stats_get and hc_diagnostics_get take,
** briefly; it never blocks the cache's hits, and no request of the
** actuator can change a cache.
*/
#ifndef HYDRACACHE_OBSERVABILITY_H
#define HYDRACACHE_OBSERVABILITY_H

#include <hydracache.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- registry */

typedef struct hc_registry hc_registry;

/* A new, empty registry. HC_OK and *out, HC_EINVAL, HC_ENOMEM, HC_ESYS. */
HC_API int hc_registry_new(hc_registry **out);

/* Free r. It closes no cache. No actuator may still serve r. Accepts NULL. */
HC_API void hc_registry_free(hc_registry *r);

/*
** Add c under its name (hc_cache_name). The registry keeps the pointer, not
** the cache: remove it before closing the cache. HC_OK, HC_EEXIST when a
** cache of that name is there already, or of a name the documents would
** show the same (a name that is not UTF-8 is shown with U+FFFD for each
** bad byte: "a\xff" and "a\xfe" would be one series), HC_EINVAL,
** HC_ENOMEM.
*/
HC_API int hc_registry_add(hc_registry *r, hc_cache *c);

/*
** Remove the cache named name. Once it returns, no document or request in
** progress still reads that cache, so it may be closed. HC_OK, HC_ENOTFOUND,
** HC_EINVAL.
*/
HC_API int hc_registry_remove(hc_registry *r, const char *name);

/* ------------------------------------------------------------- documents */

/*
** JSON documents, written into out (replacing its contents; UTF-8, no
** trailing newline). Names that are not valid UTF-8 are written with
** U+FFFD in place of each bad byte. Each returns HC_OK, HC_EINVAL or
** HC_ENOMEM.
**
**   hc_cache_stats_json        {"name", every hc_stats counter by its C
**                              name, "total_requests", "hit_ratio" (null
**                              with no requests), the five has_* helpers}
**   hc_cache_diagnostics_json  the same, plus "entries", "weighted_bytes",
**                              "tags", "loads_in_flight", "max_entries",
**                              "max_bytes", "window_entries", "status"
**                              ("UP"/"DOWN", with "reason" when down) and
**                              "declarations" (each with its counters and
**                              load-time quantiles)
**   hc_registry_json           {"caches": [...]}: for each cache, sorted by
**                              name, {"name", "status", "stats",
**                              "diagnostics", "declarations"}
*/
HC_API int hc_cache_stats_json(hc_cache *c, hc_buf *out);
HC_API int hc_cache_diagnostics_json(hc_cache *c, hc_buf *out);
HC_API int hc_registry_json(hc_registry *r, hc_buf *out);

/*
** The Prometheus text exposition format 0.0.4 for every cache of r:
** hydracache_<counter>_total{cache="..."} for each hc_stats counter,
** gauges (hydracache_entries, hydracache_weighted_bytes, ...,
** hydracache_up), and per declaration
** hydracache_decl_<counter>_total{cache="...",decl="module.name"} with the
** histogram hydracache_decl_load_duration_seconds. HC_OK, HC_EINVAL,
** HC_ENOMEM.
*/
HC_API int hc_registry_prometheus(hc_registry *r, hc_buf *out);

/* -------------------------------------------------------------- actuator */

typedef struct hc_actuator hc_actuator;

typedef struct hc_actuator_options {
    const char *bind;        /* "127.0.0.1"; loopback unless the caller says otherwise */
    unsigned    port;        /* 8080; 0 = an ephemeral port, see hc_actuator_port */
    const char *token;       /* NULL = none; else every route needs "Authorization: Bearer <token>" */
    const char *base_path;   /* "/actuator/hydracache" */
    unsigned    max_connections;  /* 64 at once; more are refused (closed) */
    unsigned    timeout_s;        /* 10: a connection idle this long is closed */
} hc_actuator_options;

/* Fill o with the defaults shown above. */
HC_API void hc_actuator_options_init(hc_actuator_options *o);

/*
** Serve r over HTTP on threads of the actuator's own. o NULL means the
** defaults; its strings are copied. Every route answers GET (and HEAD)
** only, reads and changes nothing:
**
**   {base}                          an index of the routes
**   {base}/health                   {"status":"UP"} 200, or DOWN 503 with
**                                   the reasons (a bus that lost its
**                                   connection)
**   {base}/caches                   hc_registry_json
**   {base}/caches/{name}            one cache, as in hc_registry_json
**   {base}/caches/{name}/stats      hc_cache_stats_json
**   {base}/caches/{name}/diagnostics hc_cache_diagnostics_json
**   {base}/caches/{name}/declarations its declarations
**   /metrics                        hc_registry_prometheus
**
** {name} is one path segment, percent-decoded ("a%2Fb" names "a/b").
** Unknown paths are 404, other methods 405 with Allow, a missing or wrong
** token 401 with WWW-Authenticate: Bearer; errors have a JSON body
** {"status", "error", "message"}. Connections are bounded in number
** (max_connections, and half of that per client address), in request size
** (16 KiB of request line and headers; a request with a body is refused)
** and in idle time (timeout_s); a slow or hostile client holds a
** connection, never a cache lock.
**
** Returns HC_OK and *out; HC_EINVAL (bad options: a bind address that is
** not a numeric IPv4 or IPv6 address, a base path that does not start with
** '/'); HC_ESYS with the reason in err when it cannot listen (the port is
** taken); HC_ENOMEM.
*/
HC_API int hc_actuator_start(hc_actuator **out, hc_registry *r,
                             const hc_actuator_options *o, hc_error *err);

/* The port the actuator listens on (the one chosen, with port 0). */
HC_API unsigned hc_actuator_port(const hc_actuator *a);

/* Stop serving: closes the connections, waits for requests in progress,
   frees a. The registry stays. Accepts NULL. */
HC_API void hc_actuator_stop(hc_actuator *a);

/*
** The actuator's routes without its server, for a program that serves HTTP
** itself and mounts them among its own (hcache-sandbox does): answer
** method and path against r's caches, with base_path as the actuator's
** (NULL: "/actuator/hydracache"). path is the request's path as received,
** still percent-encoded, without its query string; has_body says whether
** the request carried one. Checking a token is the caller's. On HC_OK,
** *status is the HTTP status (200, 400, 404, 405, 413, 503), *content_type
** a static string, and body (replaced) the bytes to send; with 405 send
** "Allow: GET, HEAD". Returns HC_OK whatever the status, or HC_EINVAL,
** HC_ENOMEM.
*/
HC_API int hc_actuator_respond(hc_registry *r, const char *base_path, const char *method,
                               const char *path, bool has_body, unsigned *status,
                               const char **content_type, hc_buf *body);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_OBSERVABILITY_H */
