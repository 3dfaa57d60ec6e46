/*
** sandbox.h -- what the parts of hcache-sandbox share.
**
** hcache-sandbox is a lab server over the whole toolkit: the cache, the code
** hcachegen writes from sandbox.hcache, the SQLite and PostgreSQL adapters,
** events and the invalidation bus. Its parts, one file each:
**
**   main.c      settings: flags over environment over sandbox.env
**   server.c    HTTP (libmicrohttpd): auth, limits, routing, flows
**   routes.c    the one route table the server and OpenAPI both read
**   schema.c    the schema notation of the route table; request validation
**   openapi.c   the OpenAPI document and the JavaScript client made from it
**   log.c       the bounded event log, flows, latency summaries
**   backend.c   the profiles' stores: in-process, SQLite, PostgreSQL
**   lab.c       a lab: one cache over one backend, with its counters
**   flow.c      what one flow did: its cache events, captured
**   ops.c       the operations routes and scenario steps share
**   yaml.c      YAML text to JSON values (libyaml)
**   scenario.c  scenario documents and suites, the step engine
**   behave.c    behaviour and negative scenarios, faults, listeners, the bus
**   bench.c     benchmarks and their comparison
**   api_*.c     the route handlers
**   static.c    the pages: the console (/demo/ui) and Swagger UI, from files
**
** Names: sb_<part>_ for what crosses files, unprefixed statics. Functions
** that can fail return 0 or -1 and fill an sb_err with the HTTP status the
** failure maps to, so a handler passes it on as it is.
*/
#ifndef SANDBOX_H
#define SANDBOX_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hydracache.h>

/* The sandbox is released with the libraries: one version, the header's. */
#define SB_VERSION HC_VERSION_STRING

/* ----------------------------------------------------------------- errors */

/* A failure as the client will see it: HTTP status, a short code, a message
   and, for a document that does not parse, where. */
typedef struct sb_err {
    int  status;            /* 400, 404, 413, 500, 503 ... */
    char code[32];          /* "bad_json", "db_unavailable" ... */
    char message[512];
    int  line, column;      /* 0 when not about a position in a text */
} sb_err;

/* Fill e and return -1. */
int sb_fail(sb_err *e, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* An hc_error from the library as an sb_err: HC_EDB is 503 db_error, others 500. */
int sb_fail_hc(sb_err *e, int rc, const hc_error *he, const char *what);
/* The JSON body of an error answer. */
json_t *sb_err_json(const sb_err *e);

/* ------------------------------------------------------------------ util */

/* Make the NUL-terminated s valid UTF-8 in place, as jansson requires of a
   string: each byte that does not begin or continue a valid sequence (a
   raw byte from a URL, a character cut by a bounded copy) becomes '?'.
   sb_fail and sb_strf do it to what they write. Returns s. */
char *sb_utf8_fix(char *s);
/* The characters (code points) of the valid UTF-8 s of n bytes. */
size_t sb_utf8_count(const char *s, size_t n);
/* snprintf that may cut: for messages, where a cut is fine (a character cut
   in two becomes '?'). Returns buf. */
char *sb_strf(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

uint64_t sb_now_ms(void);               /* monotonic */
double   sb_now_ms_f(void);             /* monotonic, fractional */
void     sb_sleep_ms(uint64_t ms);
char    *sb_iso_time(char buf[32]);     /* the wall clock, RFC 3339 UTC with ms */
char    *sb_slurp(const char *path, size_t max, size_t *len);   /* malloc'd, NUL-terminated */
/* "tag_invalidated" -> "tag-invalidated", into buf. */
const char *sb_kebab(const char *name, char *buf, size_t size);
/* Steal a new reference into obj[key]; ignores a NULL value. */
void sb_set(json_t *obj, const char *key, json_t *value);
/* Typed argument readers for validated bodies: the default when absent. */
const char *sb_arg_str(const json_t *o, const char *key, const char *dflt);
int64_t     sb_arg_int(const json_t *o, const char *key, int64_t dflt);
bool        sb_arg_bool(const json_t *o, const char *key, bool dflt);
/* A count and its summary: {count, min, max, mean, p50, p95, p99} in ms.
   Sorts v. */
json_t *sb_summarize(double *v, size_t n);

/* -------------------------------------------------------------- settings */

typedef struct sb_settings {
    char profile[32];           /* memory, sqlite-memory, sqlite-file, postgres */
    char bind[128];             /* ADDR:PORT */
    char sqlite_path[1024];
    char database_url[1024];
    char event_log_path[1024];
    char token[256];
    char data_dir[1024];        /* scenarios, migrations, seeds, the client */
    char env_file[1024];        /* the file read, or "" */
    char pg_schema[64];         /* where the postgres profile's tables live */
    unsigned threads;           /* the HTTP thread pool */
    size_t max_body;            /* bytes */
    const char *source[8];      /* where each of the first six came from */
} sb_settings;

enum { SB_SET_PROFILE, SB_SET_BIND, SB_SET_SQLITE_PATH, SB_SET_DATABASE_URL,
       SB_SET_EVENT_LOG_PATH, SB_SET_TOKEN };

/* --------------------------------------------------------------- the log */

/*
** The event log: a bounded ring of JSON events (the cache's, captured per
** flow, and the sandbox's own), optionally appended to a JSON Lines file.
** Every event has seq, time, kind, source ("cache" or "sandbox") and
** flow_id; the rest depends on the kind.
*/
int  sb_log_open(const char *jsonl_path, size_t capacity, sb_err *e);
void sb_log_close(void);
/* Take ev (a reference is stolen), number it and keep it. */
void sb_log_add(json_t *ev);

typedef struct sb_log_filter {
    const char *kind, *key, *tag, *flow_id;
    size_t limit;               /* 0: all retained */
} sb_log_filter;
/* Copies of the retained events that match, oldest first, the newest
   limit of them. */
json_t *sb_log_query(const sb_log_filter *f);
/* Drop the retained events; returns how many. The file is kept. */
size_t sb_log_clear(void);
json_t *sb_log_stats(void);     /* {retained, capacity, total, dropped, file} */

/* Flows: what the log knows about each flow id it has seen. */
void    sb_flow_meta(const char *flow_id, const char *key, json_t *value);  /* steals value */
json_t *sb_flows_list(void);
json_t *sb_flow_info(const char *flow_id);      /* NULL: unknown */
/* Remember a request of the flow, so the flow can be replayed. */
void    sb_flow_record(const char *flow_id, const char *method, const char *path,
                       const char *body, size_t body_len);
json_t *sb_flow_requests(const char *flow_id);  /* NULL: unknown flow */
/* The latest flow that has events, or NULL. */
char   *sb_flow_latest(void);

/* Latency samples by operation name, kept in bounded rings. */
void    sb_latency_add(const char *op, double ms);
json_t *sb_latency_report(void);
void    sb_latency_clear(void);

/* ------------------------------------------------------------- backends */

typedef struct sandbox_user sandbox_user;
typedef struct sandbox_product sandbox_product;
typedef struct sandbox_order_summary sandbox_order_summary;

typedef struct sb_backend sb_backend;

/* What a backend needs: the profile and where its data lives. */
typedef struct sb_backend_config {
    const char *profile;        /* memory, sqlite-memory, sqlite-file, postgres */
    const char *sqlite_path;    /* sqlite-file */
    const char *database_url;   /* postgres */
    const char *pg_schema;      /* postgres: the schema of its tables */
    const char *data_dir;       /* migrations/ and seeds/ */
} sb_backend_config;

/* Open, migrate and (when empty) seed. */
int  sb_backend_open(sb_backend **out, const sb_backend_config *cfg, sb_err *e);
void sb_backend_close(sb_backend *b);
/* Drop the schema it created (temporary postgres labs). */
void sb_backend_drop(sb_backend *b);
const char *sb_backend_kind(const sb_backend *b);   /* memory, sqlite, postgres */
hc_db *sb_backend_db(sb_backend *b);                /* NULL for memory */
/* Put every row back as the seeds have it. */
int  sb_backend_reseed(sb_backend *b, sb_err *e);
/* Uncached reads: HC_OK, HC_MISS (no such row) or an error with err set. */
int  sb_backend_user(sb_backend *b, int64_t id, sandbox_user *out, hc_error *err);
int  sb_backend_product(sb_backend *b, int64_t id, sandbox_product *out, hc_error *err);
int  sb_backend_order(sb_backend *b, int64_t id, sandbox_order_summary *out, hc_error *err);
/* Rename, then invalidate user:{id} and users in c (the generated exec on
   a database). *changes: rows changed. */
int  sb_backend_rename(sb_backend *b, hc_cache *c, int64_t id, const char *name,
                       int64_t *changes, hc_error *err);
/* Row counts and the migration and seed files. */
json_t *sb_backend_seed_report(sb_backend *b, sb_err *e);
/* postgres: end this backend's connection from another one (the killed
   connection fault). */
int  sb_backend_kill_connection(sb_backend *b, sb_err *e);

/* ------------------------------------------------------------------ labs */

/*
** A lab is a cache over a backend: the server has one, and profile
** comparisons make temporary ones. Counters are the sandbox's own (loader
** and function calls); stats are reported since the last reset.
*/
typedef struct sb_lab sb_lab;

enum { SB_LOADER_USER, SB_LOADER_PRODUCT, SB_LOADER_ORDER, SB_LOADER_RAW,
       SB_LOADER_FUNCTION, SB_LOADER_COUNT };

int  sb_lab_open(sb_lab **out, const char *name, const sb_backend_config *cfg, sb_err *e);
void sb_lab_close(sb_lab *lab);
hc_cache   *sb_lab_cache(sb_lab *lab);
sb_backend *sb_lab_backend(sb_lab *lab);
const char *sb_lab_profile(const sb_lab *lab);
void     sb_lab_count(sb_lab *lab, int which);
uint64_t sb_lab_counter(sb_lab *lab, int which);
/* Stats since the last reset. */
void sb_lab_stats(sb_lab *lab, hc_stats *out);
/* stats + the lab's counters as one flat JSON object of numbers. */
json_t *sb_lab_counters_json(sb_lab *lab);
/* Put the rows back as seeded, then flush the cache and zero the counters
   and stats; a failing database leaves everything as it was. */
int  sb_lab_reset(sb_lab *lab, sb_err *e);

/* The server's lab, for the handlers. */
extern sb_lab *sb_main_lab;
/* The observability registry of the main lab's cache: what /actuator/...
   and /demo/observability/prometheus show (libhydracache-observability). */
extern hc_registry *sb_registry;
extern sb_settings sb_config;

/* ----------------------------------------------------------------- flows */

/*
** A flow is one thread of work a client names with a flow_id: a request,
** or a scenario run. While it runs it holds a subscription on its lab's
** cache and keeps the events of the keys and tags its operations named;
** sb_flow_collect moves them into the log under the flow's id. The
** sandbox's own events go in with sb_flow_note. Attribution is by key: two
** flows working on the same key at the same time see each other's events.
*/
#define SB_FLOW_ID_MAX 65
#define SB_FLOW_TOUCH_MAX 64

typedef struct sb_flow {
    char     id[SB_FLOW_ID_MAX];
    sb_lab  *lab;
    const char *profile;        /* set on the events when not the main lab's */
    hc_subscription *sub;
    void    *mu;                /* pthread_mutex_t *: notes may come from loader threads */
    char    *touched[SB_FLOW_TOUCH_MAX];
    size_t   ntouched;
    bool     any;               /* too many to list, or a flush: take every event */
    json_t  *events;            /* this flow's latest events, for answers */
    size_t   base;              /* events dropped from the front of events */
} sb_flow;

int  sb_flow_begin(sb_flow *f, sb_lab *lab, const char *flow_id, sb_err *e);
void sb_flow_end(sb_flow *f);
/* The flow's operations name a key or a tag. */
void sb_flow_touch(sb_flow *f, const char *key_or_tag);
void sb_flow_touch_all(sb_flow *f);
/* Move the captured cache events into the log. */
void sb_flow_collect(sb_flow *f);
/* Log an event of the sandbox's own: kind, and fields (stolen, may be NULL). */
void sb_flow_note(sb_flow *f, const char *kind, json_t *fields);
/* A mark in the flow's events (after collecting), to look back to. */
size_t sb_flow_mark(sb_flow *f);
/* Did the flow see an event of kind (about key, unless NULL) since mark? */
bool sb_flow_saw(sb_flow *f, size_t mark, const char *kind, const char *key);
/* Copies of the flow's events since mark, at most max of them (the first);
   *omitted gets how many more there were. A flow keeps its latest 20000. */
json_t *sb_flow_events_since(sb_flow *f, size_t mark, size_t max, size_t *omitted);
/* Is s a usable flow id? 1-64 of [A-Za-z0-9._:-]. */
bool sb_flow_id_ok(const char *s);
/* A new flow id, "flow-<n>-<random>". */
void sb_flow_new_id(char out[SB_FLOW_ID_MAX]);

/* ------------------------------------------------------------ operations */

/*
** The operations of the raw cache and the domain, shared by the routes and
** the scenario steps (whose verbs they are). Each takes validated
** arguments and answers a JSON object: found, value, source, name, error
** ... An operation that was asked to fail (a loader error) or found
** nothing answers normally, with "error" or "found": false; -1 is for
** failures of the sandbox or its database.
*/
typedef struct sb_op {
    const char *verb;           /* "put", "load_user" ... */
    const char *args;           /* its arguments, in schema notation */
    const char *summary;
    int (*run)(sb_flow *f, const json_t *args, json_t *out, sb_err *e);
} sb_op;

extern const sb_op sb_ops[];
const sb_op *sb_op_find(const char *verb);
/* Run verb with args (validated here) and fill *out. */
int sb_op_run(sb_flow *f, const char *verb, const json_t *args, json_t **out, sb_err *e);

/* ---------------------------------------------------------------- schema */

/*
** The schema notation of the route table, turned into JSON Schema (the
** OpenAPI subset):
**   string  integer  number  boolean  any  object      types
**   integer(1..64)  string(..256)                       bounds
**   "a"|"b"                                            an enum of strings
**   [T]                                                an array of T
**   {name: T, opt?: T}  {name: T, ...}                 objects; ... admits others
**   @Name                                              a component schema
** In request schemas an object without ... admits no other member.
*/
json_t *sb_schema_parse(const char *text, bool request, sb_err *e);
/* Check v against schema; the message names the member ("steps[2].id"). */
int sb_schema_check(const json_t *schema, const json_t *v, const char *where, sb_err *e);
/* The component schemas @Name refers to: routes.c lists them, in notation;
   sb_schema_components parses them once. */
typedef struct sb_component { const char *name, *schema; } sb_component;
extern const sb_component sb_components[];
json_t *sb_schema_components(sb_err *e);

/* ---------------------------------------------------------------- routes */

typedef struct sb_req sb_req;

typedef int (*sb_handler)(sb_req *rq);

enum {
    SB_ROUTE_OPEN      = 1,     /* no token needed (/ready) */
    SB_ROUTE_NO_REPLAY = 2,     /* not recorded for a flow's replay */
    SB_ROUTE_NO_FLOW   = 4      /* runs no operations: no flow is opened */
};

typedef struct sb_route {
    const char *method;         /* "GET" or "POST" */
    const char *path;           /* "/demo/load/{id}" */
    const char *op_id;          /* OpenAPI operationId, the client's method name */
    const char *group;          /* OpenAPI tag */
    const char *summary;
    sb_handler  handler;
    const char *query;          /* query parameters, schema notation; NULL: none */
    const char *request;        /* request body, schema notation; NULL: none */
    const char *response;       /* a 200 answer, schema notation */
    const char *produces;       /* its media type; NULL: application/json. A handler
                                   that answers text sets rq->text and rq->content_type */
    unsigned    flags;
    const char *op;             /* an operation of ops.c it runs: its arguments are the body */
    const char *example_path;   /* a path to try it with (NULL: the path itself) */
    const char *example;        /* a request body to try it with */
} sb_route;

extern const sb_route sb_routes[];
extern const size_t sb_nroutes;

/* The schemas of route i, parsed by sb_routes_init: query parameters as an
   object schema (NULL: none), the request body (every body may also carry
   flow_id), the 200 answer. */
typedef struct sb_route_schemas {
    json_t *query, *request, *response;
} sb_route_schemas;
int sb_routes_init(sb_err *e);
void sb_routes_free(void);
const sb_route_schemas *sb_route_schemas_get(size_t i);
/* The JSON Schema of a path parameter, by its name ({id}: an integer). */
json_t *sb_path_param_schema(const char *name);

/* What a handler has: the request and its flow, and where its answer goes. */
struct sb_req {
    const sb_route *route;
    const char *method, *path;      /* path: percent-decoded */
    const char *raw_path;           /* as sent, still encoded; NULL: as path */
    char       *params[4][2];       /* path parameters: name, value */
    size_t      nparams;
    json_t     *query;              /* query parameters, validated */
    json_t     *body;               /* the JSON body, validated ({} when empty) */
    const char *raw_body;           /* its text */
    size_t      raw_len;
    sb_flow    *flow;               /* NULL with SB_ROUTE_NO_FLOW */
    char        flow_id[SB_FLOW_ID_MAX];
    const char *auth;               /* the Authorization header, if any */
    /* the answer */
    int         status;             /* 200 unless set */
    json_t     *out;                /* a JSON answer (stolen) */
    char       *text;               /* or text (malloc'd) */
    const char *content_type;
    sb_err      err;                /* when the handler returns -1 */
};

const char *sb_req_param(const sb_req *rq, const char *name);
/* A path parameter as an integer; -1 with a 400 in rq->err when it is not one. */
int sb_req_param_int(sb_req *rq, const char *name, int64_t *out);
/* Answer out (stolen) with status 200. Returns 0. */
int sb_reply(sb_req *rq, json_t *out);

/* Run a request inside the server, for replays: the same routing,
   validation and handler as over HTTP, in the flow flow_id. */
int sb_server_dispatch(const char *method, const char *path, const char *body,
                       const char *flow_id, int *status, json_t **out);

/* ----------------------------------------------------------------- server */

typedef struct sb_server sb_server;
int  sb_server_start(sb_server **out, const sb_settings *s, char *url, size_t url_size, sb_err *e);
void sb_server_stop(sb_server *srv);
/* Ready once everything is set up. */
void sb_server_set_ready(bool ready);
bool sb_server_ready(void);
uint16_t sb_server_port(void);

/* ----------------------------------------------------------------- pages */

/*
** The developer console and Swagger UI: files, not routes (static.c has
** the map). sb_static_init finds their directories under data_dir;
** sb_static_serve answers a request for one of their paths (any method:
** 405 for all but GET and HEAD) and returns MHD's result, or -1 when url
** is not theirs.
*/
struct MHD_Connection;
void sb_static_init(const char *data_dir);
int  sb_static_serve(struct MHD_Connection *c, const char *method, const char *url);

/* --------------------------------------------------------------- openapi */

/* The OpenAPI document of the route table (a new reference). */
json_t *sb_openapi_document(sb_err *e);
/* The JavaScript fetch client made from that document (malloc'd). */
char *sb_openapi_client(const json_t *doc);

/* -------------------------------------------------------------- scenarios */

/* Text in the given format ("yaml" or "json") to JSON; e has line:column. */
json_t *sb_yaml_parse(const char *text, size_t len, sb_err *e);
json_t *sb_doc_parse(const char *format, const char *text, size_t len, sb_err *e);
/* Check a scenario and give its normalized form. */
json_t *sb_scenario_normalize(const json_t *doc, sb_err *e);
/* Run a normalized scenario in flow f: per-step results and the verdict. */
json_t *sb_scenario_run(sb_flow *f, const json_t *scenario, sb_err *e);
/* A suite normalized for showing: committed files named, not inlined. */
json_t *sb_suite_normalize_shallow(const json_t *suite, sb_err *e);
/* A suite: {name, scenarios: [scenario | {file} | {named}]}. */
json_t *sb_suite_run(sb_flow *f, const json_t *suite, sb_err *e);
/* The committed recipes under data_dir/scenarios. */
json_t *sb_scenario_files(sb_err *e);
/* Read and parse a committed recipe; NULL with 404 when there is none. */
json_t *sb_scenario_file_load(const char *name, sb_err *e);
/* The named scenarios: golden-path, ttl, single-flight, invalidation-race,
   negative-suite, self-test. NULL with 404 for another name. */
json_t *sb_named_run(sb_flow *f, const char *name, const json_t *args, sb_err *e);
extern const char *const sb_named_scenarios[];
/* The built-in documents: golden-path, self-test. */
json_t *sb_builtin_document(const char *name);

/* ----------------------------------------------------------- behaviours */

json_t *sb_behave_ttl(sb_flow *f, const json_t *args, sb_err *e);
json_t *sb_behave_single_flight(sb_flow *f, const json_t *args, sb_err *e);
json_t *sb_behave_race(sb_flow *f, const json_t *args, sb_err *e);
/* name: missing-key, missing-user, loader-error, expired-entry, invalidation-miss */
json_t *sb_negative(sb_flow *f, const char *name, sb_err *e);
extern const char *const sb_negative_names[];
json_t *sb_faults_run(sb_flow *f, const json_t *args, sb_err *e);
json_t *sb_listeners_run(sb_flow *f, const json_t *args, sb_err *e);
json_t *sb_distributed_run(sb_flow *f, const json_t *args, sb_err *e);

/* ------------------------------------------------------------ benchmarks */

/* The settings of a benchmark, in schema notation. */
#define SB_BENCH_REQUEST                                                                          \
    "{requests?: integer(1..200000), concurrency?: integer(1..64), keys?: integer(1..100000), "    \
    "distribution?: \"uniform\"|\"zipf\", zipf_s?: number(0.1..3), loader_delay_ms?: integer(0..100), " \
    "ttl_ms?: integer(1..3600000), capacity?: integer(1..1000000), seed?: integer(0..1000000000), " \
    "max_loading_ms?: integer(100..30000)}"

json_t *sb_bench_run(sb_flow *f, const json_t *args, sb_err *e);
json_t *sb_bench_compare(sb_flow *f, const json_t *args, sb_err *e);

#endif /* SANDBOX_H */
