/*
** api_core.c -- the basic routes: readiness, config, report, events,
** export and import, the operations, flows, traces, security.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

static uint64_t started_ms;

void sb_api_started(void)
{
    started_ms = sb_now_ms();
}

int sb_h_ready(sb_req *rq)
{
    bool ready = sb_server_ready();
    /* token_required lets the console ask for the token before it calls
       anything that needs it. */
    sb_reply(rq, json_pack("{s:b, s:s, s:s, s:b}", "ready", ready, "profile", sb_config.profile, "version",
                           SB_VERSION, "token_required", sb_config.token[0] != 0));
    if (!ready) rq->status = 503;
    return 0;
}

/* A database URL with its password hidden: user:***@ in a URL, and
   password=*** in key=value form. */
static json_t *masked_url(const char *url)
{
    if (!*url) return json_null();
    char buf[sizeof sb_config.database_url];
    sb_strf(buf, sizeof buf, "%s", url);
    char *scheme = strstr(buf, "://");
    char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *colon = scheme && at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon) {
        char out[sizeof buf + 8];
        sb_strf(out, sizeof out, "%.*s:***%s", (int)(colon - buf), buf, at);
        return json_string(out);
    }
    char *pw = strstr(buf, "password=");
    if (pw) {
        char *end = pw + 9;
        while (*end && *end != ' ') end++;
        char out[sizeof buf + 8];
        sb_strf(out, sizeof out, "%.*spassword=***%s", (int)(pw - buf), buf, end);
        return json_string(out);
    }
    return json_string(buf);
}

static json_t *config_json(void)
{
    const sb_settings *s = &sb_config;
    json_t *sources = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "profile", s->source[SB_SET_PROFILE], "bind",
                                s->source[SB_SET_BIND], "sqlite_path", s->source[SB_SET_SQLITE_PATH],
                                "database_url", s->source[SB_SET_DATABASE_URL], "event_log_path",
                                s->source[SB_SET_EVENT_LOG_PATH], "token", s->source[SB_SET_TOKEN]);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:s, s:i, s:I, s:o, s:s}", "profile", s->profile,
                     "bind", s->bind, "sqlite_path", s->sqlite_path, "database_url", masked_url(s->database_url),
                     "event_log_path", s->event_log_path[0] ? json_string(s->event_log_path) : json_null(),
                     "token", s->token[0] ? "set" : "unset", "data_dir", s->data_dir, "env_file",
                     s->env_file[0] ? json_string(s->env_file) : json_null(), "pg_schema", s->pg_schema,
                     "threads", (int)s->threads, "max_body_bytes", (json_int_t)s->max_body, "sources", sources,
                     "precedence", "flags, then HYDRACACHE_SANDBOX_* variables, then the env file, then defaults");
}

int sb_h_config(sb_req *rq)
{
    return sb_reply(rq, config_json());
}

int sb_h_presets(sb_req *rq)
{
    bool pg = sb_config.database_url[0] != 0;
    json_t *profiles = json_pack(
        "[{s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:s, s:b}]", "profile", "memory",
        "description", "loaders over in-process stores", "available", 1, "profile", "sqlite-memory",
        "description", "generated queries over an in-memory SQLite database", "available", 1, "profile",
        "sqlite-file", "description", "generated queries over an SQLite file (--sqlite-path)", "available", 1,
        "profile", "postgres", "description", "generated queries over PostgreSQL (--database-url)", "available",
        pg);
    json_t *scenarios = json_array();
    for (size_t i = 0; sb_named_scenarios[i]; i++) json_array_append_new(scenarios, json_string(sb_named_scenarios[i]));
    json_t *negative = json_array();
    for (size_t i = 0; sb_negative_names[i]; i++) json_array_append_new(negative, json_string(sb_negative_names[i]));
    json_t *ops = json_array();
    for (const sb_op *op = sb_ops; op->verb; op++)
        json_array_append_new(ops, json_pack("{s:s, s:s, s:s}", "verb", op->verb, "args", op->args, "summary",
                                             op->summary));
    json_t *benches = json_pack(
        "[{s:s, s:{s:i, s:i, s:i, s:s}}, {s:s, s:{s:i, s:i, s:i, s:s, s:f}}, {s:s, s:{s:i, s:i, s:i, s:s, s:i}}]",
        "name", "uniform", "settings", "requests", 20000, "concurrency", 4, "keys", 1000, "distribution",
        "uniform", "name", "zipf", "settings", "requests", 20000, "concurrency", 4, "keys", 1000, "distribution",
        "zipf", "zipf_s", 1.0, "name", "slow-loader", "settings", "requests", 2000, "concurrency", 8, "keys", 200,
        "distribution", "zipf", "loader_delay_ms", 2);
    sb_err e;
    json_t *files = sb_scenario_files(&e);
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "profiles", profiles, "scenarios", scenarios, "negative",
                          negative, "operations", ops, "benchmarks", benches);
    sb_set(o, "files", files ? json_incref(json_object_get(files, "files")) : json_array());
    json_decref(files);
    return sb_reply(rq, o);
}

static json_t *capabilities(void)
{
    json_t *c = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s, s]", "raw-cache", "ttl", "tags",
                          "single-flight", "invalidation-safety", "events", "listeners", "in-process-bus",
                          "typed-views", "cached-functions", "scenarios", "yaml-scenarios", "benchmarks",
                          "openapi");
    const char *kind = sb_backend_kind(sb_lab_backend(sb_main_lab));
    if (strcmp(kind, "memory") != 0) json_array_append_new(c, json_string("generated-queries"));
    if (strcmp(kind, "sqlite") == 0) json_array_append_new(c, json_string("sqlite"));
    if (strcmp(kind, "postgres") == 0) {
        json_array_append_new(c, json_string("postgres"));
        json_array_append_new(c, json_string("postgres-bus"));
        json_array_append_new(c, json_string("killed-connection-fault"));
    }
    if (sb_config.database_url[0]) json_array_append_new(c, json_string("compare-on-postgres"));
    if (sb_config.event_log_path[0]) json_array_append_new(c, json_string("event-log-file"));
    return c;
}

static json_t *report_json(void)
{
    sb_lab *lab = sb_main_lab;
    json_t *counters = sb_lab_counters_json(lab);
    hc_stats s;
    sb_lab_stats(lab, &s);
    hc_diagnostics d;
    hc_diagnostics_get(sb_lab_cache(lab), &d);
    double ratio = hc_stats_hit_ratio(&s);
    json_t *loaders = json_pack("{s:I, s:I, s:I, s:I, s:I}", "user", (json_int_t)sb_lab_counter(lab, SB_LOADER_USER),
                                "product", (json_int_t)sb_lab_counter(lab, SB_LOADER_PRODUCT), "order_summary",
                                (json_int_t)sb_lab_counter(lab, SB_LOADER_ORDER), "raw",
                                (json_int_t)sb_lab_counter(lab, SB_LOADER_RAW), "total",
                                json_integer_value(json_object_get(counters, "loader_calls")));
    json_t *functions = json_pack("{s:I}", "double", (json_int_t)sb_lab_counter(lab, SB_LOADER_FUNCTION));
    json_t *diag = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "entries", (json_int_t)d.entries,
                             "weighted_bytes", (json_int_t)d.weighted_bytes, "tags", (json_int_t)d.tags,
                             "loads_in_flight", (json_int_t)d.loads_in_flight, "max_entries",
                             (json_int_t)d.max_entries, "max_bytes", (json_int_t)d.max_bytes, "window_entries",
                             (json_int_t)d.window_entries);
    return json_pack("{s:s, s:s, s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "profile", sb_config.profile,
                     "backend", sb_backend_kind(sb_lab_backend(lab)), "cache", hc_cache_name(sb_lab_cache(lab)),
                     "uptime_s", (double)(sb_now_ms() - started_ms) / 1000.0, "stats", counters, "hit_ratio",
                     ratio == ratio ? json_real(ratio) : json_null(), "loaders", loaders, "functions", functions,
                     "events", sb_log_stats(), "capabilities", capabilities(), "diagnostics", diag, "latency",
                     sb_latency_report());
}

int sb_h_report(sb_req *rq)
{
    return sb_reply(rq, report_json());
}

int sb_h_events(sb_req *rq)
{
    sb_log_filter f = {sb_arg_str(rq->query, "kind", NULL), sb_arg_str(rq->query, "key", NULL),
                       sb_arg_str(rq->query, "tag", NULL), sb_arg_str(rq->query, "flow_id", NULL),
                       (size_t)sb_arg_int(rq->query, "limit", 0)};
    json_t *ev = sb_log_query(&f);
    return sb_reply(rq, json_pack("{s:o, s:I, s:o}", "events", ev, "count", (json_int_t)json_array_size(ev), "log",
                                  sb_log_stats()));
}

int sb_h_events_clear(sb_req *rq)
{
    size_t n = sb_log_clear();
    sb_flow_note(rq->flow, "events-cleared", json_pack("{s:I}", "count", (json_int_t)n));
    return sb_reply(rq, json_pack("{s:I}", "cleared", (json_int_t)n));
}

int sb_h_export(sb_req *rq)
{
    sb_log_filter all = {0};
    char now[32];
    json_t *info = json_pack("{s:s, s:s, s:s, s:s}", "server", "hcache-sandbox", "version", SB_VERSION,
                             "library", hc_version_string(), "exported_at", sb_iso_time(now));
    json_t *ready = json_pack("{s:b, s:s}", "ready", sb_server_ready(), "profile", sb_config.profile);
    return sb_reply(rq, json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "format", "hcache-sandbox-bundle",
                                  "version", 1, "info", info, "ready", ready, "config", config_json(), "report",
                                  report_json(), "events", sb_log_query(&all)));
}

/*
** "2024-05-01T10:00:00.123Z" (the log's own form; the milliseconds may be
** left out) to milliseconds since the epoch, or -1 when it is not one, or
** lies outside 1970-2200: traces turn it into nanoseconds in an int64.
*/
static int64_t iso_ms(const char *s)
{
    int y, mo, d, h, mi, sec, ms = 0, end = 0;
    if (!s) return -1;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &sec, &ms, &end) < 7 || s[end]) {
        end = 0;
        ms = 0;
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &end) < 6 || s[end]) return -1;
    }
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        h < 0 || mi < 0 || sec < 0 || ms < 0)
        return -1;
    /* Days from the civil date (H. Hinnant's algorithm). */
    y -= mo <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return ((days * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms;
}

/* What an imported event may hold, beyond what the log replaces (seq) or
   puts right (source): the types GET /demo/events promises (@Event), and
   a latency and a time that traces can place. */
#define IMPORTED_EVENT                                                                         \
    "{kind: string, time?: string(..40), flow_id?: string, key?: string, origin?: string, "    \
    "tags?: [string], count?: integer, cache_seq?: integer, latency_ms?: number(0..86400000), ...}"

int sb_h_import(sb_req *rq)
{
    json_t *events = json_object_get(rq->body, "events");
    json_t *flows = json_array();
    size_t i, n = 0;
    json_t *ev;
    /* Check them all before taking any, so a bad bundle changes nothing. */
    json_t *schema = sb_schema_parse(IMPORTED_EVENT, false, &rq->err);
    if (!schema) {
        json_decref(flows);
        return -1;
    }
    json_array_foreach(events, i, ev) {
        char where[48];
        snprintf(where, sizeof where, "body.events[%zu]", i);
        if (!json_is_object(ev) || sb_schema_check(schema, ev, where, &rq->err) != 0) {
            json_decref(schema);
            json_decref(flows);
            if (!json_is_object(ev))
                return sb_fail(&rq->err, 400, "invalid", "%s: an object with a string 'kind'", where);
            return -1;
        }
        const char *time = json_string_value(json_object_get(ev, "time"));
        if (time && iso_ms(time) < 0) {
            json_decref(schema);
            json_decref(flows);
            return sb_fail(&rq->err, 400, "invalid", "%s.time: a time such as 2026-01-31T12:00:00.000Z "
                           "(UTC, 1970 to 2200)", where);
        }
        json_t *flow = json_object_get(ev, "flow_id");
        if (flow && (!json_is_string(flow) || !sb_flow_id_ok(json_string_value(flow)))) {
            json_decref(schema);
            json_decref(flows);
            return sb_fail(&rq->err, 400, "invalid", "body.events[%zu].flow_id: 1 to 64 of A-Z a-z 0-9 . _ : -", i);
        }
    }
    json_decref(schema);
    json_array_foreach(events, i, ev) {
        json_t *copy = json_deep_copy(ev);
        json_t *seq = json_object_get(copy, "seq");
        if (seq) json_object_set(copy, "original_seq", seq);
        json_object_del(copy, "seq");
        json_object_set_new(copy, "imported", json_true());
        /* An event is the cache's or the sandbox's: anything else is kept as
           the sandbox's, with what it said it was. */
        const char *src = json_string_value(json_object_get(copy, "source"));
        if (!src || (strcmp(src, "cache") && strcmp(src, "sandbox"))) {
            if (src) json_object_set(copy, "original_source", json_object_get(copy, "source"));
            json_object_set_new(copy, "source", json_string("sandbox"));
        }
        const char *flow = json_string_value(json_object_get(copy, "flow_id"));
        if (flow) {
            bool seen = false;
            size_t j;
            json_t *x;
            json_array_foreach(flows, j, x) seen = seen || strcmp(json_string_value(x), flow) == 0;
            if (!seen) {
                json_array_append_new(flows, json_string(flow));
                sb_flow_meta(flow, "imported", json_true());
            }
        }
        sb_log_add(copy);
        n++;
    }
    sb_flow_note(rq->flow, "imported", json_pack("{s:I}", "count", (json_int_t)n));
    json_t *info = json_object_get(rq->body, "info");
    return sb_reply(rq, json_pack("{s:I, s:o, s:o}", "imported", (json_int_t)n, "flows", flows, "source",
                                  json_is_object(info) ? json_deep_copy(info) : json_object()));
}

int sb_h_self_test(sb_req *rq)
{
    json_t *r = sb_named_run(rq->flow, "self-test", NULL, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_op(sb_req *rq)
{
    json_t *args = json_deep_copy(rq->body);
    json_object_del(args, "flow_id");
    for (size_t i = 0; i < rq->nparams; i++) {
        int64_t v;
        if (sb_req_param_int(rq, rq->params[i][0], &v) != 0) {
            json_decref(args);
            return -1;
        }
        json_object_set_new(args, rq->params[i][0], json_integer(v));
    }
    json_t *out;
    int rc = sb_op_run(rq->flow, rq->route->op, args, &out, &rq->err);
    json_decref(args);
    return rc == 0 ? sb_reply(rq, out) : -1;
}

int sb_h_seed_report(sb_req *rq)
{
    json_t *r = sb_backend_seed_report(sb_lab_backend(sb_main_lab), &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

/* ----------------------------------------------------------------- flows */

int sb_h_flows(sb_req *rq)
{
    return sb_reply(rq, json_pack("{s:o}", "flows", sb_flows_list()));
}

/* The latency summary of the events that carry latency_ms. */
static json_t *events_latency(const json_t *events)
{
    size_t n = json_array_size(events), k = 0, i;
    double *v = malloc((n ? n : 1) * sizeof *v);
    json_t *ev;
    json_array_foreach(events, i, ev) {
        json_t *l = json_object_get(ev, "latency_ms");
        if (v && json_is_number(l)) v[k++] = json_number_value(l);
    }
    json_t *s = sb_summarize(v, v ? k : 0);
    free(v);
    return s;
}

int sb_h_flow_timeline(sb_req *rq)
{
    const char *id = sb_req_param(rq, "flow_id");
    json_t *info = sb_flow_info(id);
    if (!info) return sb_fail(&rq->err, 404, "not_found", "no flow '%s' is retained (GET /demo/flows)", id);
    sb_log_filter f = {.flow_id = id};
    json_t *events = sb_log_query(&f);
    return sb_reply(rq, json_pack("{s:o, s:o, s:o}", "flow", info, "latency", events_latency(events), "events",
                                  events));
}

int sb_h_flow_replay(sb_req *rq)
{
    const char *id = sb_req_param(rq, "flow_id");
    json_t *reqs = sb_flow_requests(id);
    if (!reqs) return sb_fail(&rq->err, 404, "not_found", "no flow '%s' is retained (GET /demo/flows)", id);
    if (strcmp(id, rq->flow_id) == 0) {
        json_decref(reqs);
        return sb_fail(&rq->err, 400, "invalid", "a replay runs in a new flow: give it another flow_id, or none");
    }
    sb_flow_meta(rq->flow_id, "replay_of", json_string(id));
    json_t *results = json_array();
    bool passed = true;
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        const char *method = json_string_value(json_object_get(r, "method"));
        const char *path = json_string_value(json_object_get(r, "path"));
        const char *body = json_string_value(json_object_get(r, "body"));
        if (!body) {
            json_array_append_new(results, json_pack("{s:s, s:s, s:b, s:s}", "method", method, "path", path,
                                                     "skipped", 1, "reason", "its body was too large to keep"));
            continue;
        }
        int status;
        json_t *out;
        sb_server_dispatch(method, path, body, rq->flow_id, &status, &out);
        passed = passed && status < 400;
        json_array_append_new(results, json_pack("{s:s, s:s, s:i, s:o}", "method", method, "path", path, "status",
                                                 status, "response", out ? out : json_null()));
    }
    json_decref(reqs);
    return sb_reply(rq, json_pack("{s:s, s:s, s:b, s:o}", "flow_id", rq->flow_id, "replay_of", id, "passed",
                                  passed, "requests", results));
}

/* ---------------------------------------------------- traces, security */


static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

int sb_h_traces(sb_req *rq)
{
    const char *want = sb_arg_str(rq->query, "flow_id", NULL);
    char *latest = want ? NULL : sb_flow_latest();
    const char *id = want ? want : latest;
    if (!id) {
        free(latest);
        return sb_reply(rq, json_pack("{s:s, s:n, s:[]}", "trace_id", "", "flow_id", "spans"));
    }
    sb_log_filter f = {.flow_id = id};
    json_t *events = sb_log_query(&f);
    if (want && json_array_size(events) == 0) {
        json_decref(events);
        return sb_fail(&rq->err, 404, "not_found", "no events of flow '%s' are retained", want);
    }
    char trace[33], root_id[17];
    snprintf(trace, sizeof trace, "%016llx%016llx", (unsigned long long)fnv(id, 14695981039346656037u),
             (unsigned long long)fnv(id, 1099511628211u));
    snprintf(root_id, sizeof root_id, "%016llx", (unsigned long long)fnv(id, 7));
    int64_t start = 0, end = 0;
    json_t *spans = json_array(), *span_events = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        const char *time = json_string_value(json_object_get(ev, "time"));
        int64_t t = iso_ms(time);
        if (t < 0) t = 0;
        json_t *lat = json_object_get(ev, "latency_ms");
        /* Imports are checked to 0..86400000; anything else is not a span's. */
        double lms = json_is_number(lat) ? json_number_value(lat) : 0;
        int64_t t0 = lms > 0 && lms <= 86400000 ? t - (int64_t)lms : t;
        if (!start || t0 < start) start = t0;
        if (t > end) end = t;
        json_t *attrs = json_deep_copy(ev);
        json_object_del(attrs, "time");
        json_object_del(attrs, "flow_id");
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        if (json_is_number(lat)) {
            char sid[17];
            snprintf(sid, sizeof sid, "%016llx", (unsigned long long)fnv(kind ? kind : "", (uint64_t)i + 11));
            json_array_append_new(spans, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:o}", "trace_id",
                                                   trace, "span_id", sid, "parent_span_id", root_id, "name",
                                                   kind ? kind : "event", "kind", "INTERNAL",
                                                   "start_time_unix_nano", (json_int_t)t0 * 1000000,
                                                   "end_time_unix_nano", (json_int_t)t * 1000000, "duration_ms",
                                                   json_number_value(lat), "attributes", attrs));
        } else {
            json_array_append_new(span_events, json_pack("{s:s, s:I, s:o}", "name", kind ? kind : "event",
                                                         "time_unix_nano", (json_int_t)t * 1000000,
                                                         "attributes", attrs));
        }
    }
    json_t *root = json_pack("{s:s, s:s, s:n, s:s, s:s, s:I, s:I, s:f, s:{s:s, s:I}, s:o}", "trace_id", trace,
                             "span_id", root_id, "parent_span_id", "name", "flow", "kind", "SERVER",
                             "start_time_unix_nano", (json_int_t)start * 1000000, "end_time_unix_nano",
                             (json_int_t)end * 1000000, "duration_ms", (double)(end - start), "attributes",
                             "flow_id", id, "event_count", (json_int_t)json_array_size(events), "events",
                             span_events);
    json_array_insert_new(spans, 0, root);
    json_decref(events);
    json_t *out = json_pack("{s:s, s:s, s:s, s:o}", "trace_id", trace, "flow_id", id, "note",
                            "derived from the event log: one span per timed event, cache events as span events",
                            "spans", spans);
    free(latest);
    return sb_reply(rq, out);
}

/* The Prometheus text of the main lab's cache (hc_registry_prometheus). */
int sb_h_prometheus(sb_req *rq)
{
    hc_buf b = HC_BUF_INIT;
    int rc = hc_registry_prometheus(sb_registry, &b);
    if (rc != HC_OK) {
        hc_buf_free(&b);
        return sb_fail_hc(&rq->err, rc, NULL, "prometheus");
    }
    rq->text = (char *)b.data;          /* NUL-terminated, from malloc */
    if (!rq->text) rq->text = strdup("");
    rq->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rq->status = 200;
    return rq->text ? 0 : sb_fail(&rq->err, 500, "internal", "out of memory");
}

/* The actuator's routes, served by this server under /actuator/hydracache
   (hc_actuator_respond answers them; the token is this server's). */
int sb_h_actuator(sb_req *rq)
{
    unsigned status;
    const char *type;
    hc_buf b = HC_BUF_INIT;
    /* The actuator splits the path before it decodes it (so a name may hold
       an encoded '/'): it gets the path as sent. */
    int rc = hc_actuator_respond(sb_registry, "/actuator/hydracache", rq->method,
                                 rq->raw_path ? rq->raw_path : rq->path, false,
                                 &status, &type, &b);
    if (rc != HC_OK) {
        hc_buf_free(&b);
        return sb_fail_hc(&rq->err, rc, NULL, "actuator");
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)b.data, b.len, 0, &je);
    hc_buf_free(&b);
    if (!o) return sb_fail(&rq->err, 500, "internal", "actuator: %s", je.text);
    (void)type;                          /* every actuator route but /metrics is JSON */
    if (status == 200) return sb_reply(rq, o);
    /* This server's errors have one shape: the actuator's message in it.
       A health of DOWN (503) names the caches and why. */
    char msg[512] = "";
    json_t *reasons = json_object_get(o, "reasons");
    size_t i;
    json_t *r;
    json_array_foreach(reasons, i, r) {
        size_t n = strlen(msg);
        snprintf(msg + n, sizeof msg - n, "%s%s: %s", n ? "; " : "", json_string_value(json_object_get(r, "cache")),
                 json_string_value(json_object_get(r, "reason")));
    }
    if (!msg[0]) snprintf(msg, sizeof msg, "%s", json_string_value(json_object_get(o, "message")));
    json_decref(o);
    const char *code = status == 404 ? "not_found" : status == 503 ? "down" : "invalid";
    return sb_fail(&rq->err, (int)status, code, "actuator: %s", msg);
}

int sb_h_security(sb_req *rq)
{
    const char *b = sb_config.bind;
    bool loopback = strncmp(b, "127.", 4) == 0 || strncmp(b, "[::1]", 5) == 0 || strncmp(b, "localhost:", 10) == 0;
    return sb_reply(rq, json_pack("{s:b, s:s, s:i, s:b, s:I, s:i, s:s}", "token_required", sb_config.token[0] != 0,
                                  "bind", b, "port", (int)sb_server_port(), "loopback", loopback, "max_body_bytes",
                                  (json_int_t)sb_config.max_body, "threads", (int)sb_config.threads, "note",
                                  loopback ? "reachable from this machine only"
                                           : "reachable from other machines: set a token"));
}
