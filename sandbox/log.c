/*
** log.c -- the event log, the flows it knows of, latency samples.
**
** Events live in a ring of JSON objects under one mutex; the oldest goes
** when it is full (counted as dropped). With an event log path each event
** is also appended to that file as one line of JSON, so a long session
** keeps what the ring forgets. Readers get copies, never the ring's own
** objects, so nothing is shared between threads once the lock is let go.
**
** Flows are the flow ids events and requests carried: a bounded table,
** the least recently active forgotten first, each with its first and last
** activity, its number of events, metadata (replay_of, scenario ...) and
** the requests that can replay it.
*/
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

#define MAX_FLOWS        256
#define MAX_FLOW_REQS    64
#define MAX_REQ_BODY     (64 * 1024)
#define MAX_LATENCY_OPS  64
#define LATENCY_SAMPLES  512

typedef struct flow_rec {
    char     id[SB_FLOW_ID_MAX];
    char     first[32], last[32];   /* wall-clock times */
    uint64_t touched;               /* the log's clock, for eviction */
    uint64_t events;
    json_t  *meta;                  /* object */
    json_t  *requests;              /* array of {method, path, body} */
} flow_rec;

typedef struct lat_ring {
    char     op[48];
    double   v[LATENCY_SAMPLES];
    size_t   n, next;
    uint64_t total;
} lat_ring;

static struct {
    pthread_mutex_t mu;
    json_t  **ring;
    size_t    cap, head, len;
    uint64_t  seq, dropped, file_errors;
    FILE     *file;
    char      path[1024];
    flow_rec  flows[MAX_FLOWS];
    size_t    nflows;
    uint64_t  clock;
    lat_ring  lat[MAX_LATENCY_OPS];
    size_t    nlat;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

int sb_log_open(const char *jsonl_path, size_t capacity, sb_err *e)
{
    L.ring = calloc(capacity, sizeof *L.ring);
    if (!L.ring) return sb_fail(e, 500, "internal", "out of memory");
    L.cap = capacity;
    if (jsonl_path && *jsonl_path) {
        L.file = fopen(jsonl_path, "a");
        if (!L.file) {
            free(L.ring);
            L.ring = NULL;
            return sb_fail(e, 500, "event_log", "cannot open the event log '%s': %s", jsonl_path,
                           strerror(errno));
        }
        snprintf(L.path, sizeof L.path, "%s", jsonl_path);
    }
    return 0;
}

void sb_log_close(void)
{
    pthread_mutex_lock(&L.mu);
    for (size_t i = 0; i < L.len; i++) json_decref(L.ring[(L.head + i) % L.cap]);
    free(L.ring);
    L.ring = NULL;
    L.len = L.head = L.cap = 0;
    if (L.file) fclose(L.file);
    L.file = NULL;
    for (size_t i = 0; i < L.nflows; i++) {
        json_decref(L.flows[i].meta);
        json_decref(L.flows[i].requests);
    }
    L.nflows = 0;
    pthread_mutex_unlock(&L.mu);
}

/* The flow's record, made if need be (evicting the least recently active).
   Called with the lock held. */
static flow_rec *flow_get(const char *id, bool make)
{
    for (size_t i = 0; i < L.nflows; i++)
        if (strcmp(L.flows[i].id, id) == 0) {
            L.flows[i].touched = ++L.clock;
            return &L.flows[i];
        }
    if (!make) return NULL;
    flow_rec *r;
    if (L.nflows < MAX_FLOWS) {
        r = &L.flows[L.nflows++];
    } else {
        r = &L.flows[0];
        for (size_t i = 1; i < L.nflows; i++)
            if (L.flows[i].touched < r->touched) r = &L.flows[i];
        json_decref(r->meta);
        json_decref(r->requests);
    }
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    sb_iso_time(r->first);
    memcpy(r->last, r->first, sizeof r->last);
    r->meta = json_object();
    r->requests = json_array();
    r->touched = ++L.clock;
    return r;
}

void sb_log_add(json_t *ev)
{
    if (!ev) return;
    char now[32];
    sb_iso_time(now);
    pthread_mutex_lock(&L.mu);
    if (!L.ring) {
        pthread_mutex_unlock(&L.mu);
        json_decref(ev);
        return;
    }
    json_object_set_new(ev, "seq", json_integer((json_int_t)++L.seq));
    if (!json_object_get(ev, "time")) json_object_set_new(ev, "time", json_string(now));
    const char *flow = json_string_value(json_object_get(ev, "flow_id"));
    if (flow) {
        flow_rec *r = flow_get(flow, true);
        r->events++;
        memcpy(r->last, now, sizeof r->last);
    }
    if (L.len == L.cap) {
        json_decref(L.ring[L.head]);
        L.head = (L.head + 1) % L.cap;
        L.len--;
        L.dropped++;
    }
    L.ring[(L.head + L.len) % L.cap] = ev;
    L.len++;
    if (L.file) {
        char *line = json_dumps(ev, JSON_COMPACT);
        if (!line || fprintf(L.file, "%s\n", line) < 0 || fflush(L.file) != 0) L.file_errors++;
        free(line);
    }
    pthread_mutex_unlock(&L.mu);
}

/* Does the event name tag: the key of a tag event, or among its tags? */
static bool has_tag(const json_t *ev, const char *tag)
{
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    const char *key = json_string_value(json_object_get(ev, "key"));
    if (kind && strcmp(kind, "tag-invalidated") == 0 && key && strcmp(key, tag) == 0) return true;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(ev, "tags"), i, t)
        if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0) return true;
    return false;
}

static bool matches(const json_t *ev, const sb_log_filter *f)
{
    const char *s;
    if (f->kind && (!(s = json_string_value(json_object_get(ev, "kind"))) || strcmp(s, f->kind)))
        return false;
    if (f->key && (!(s = json_string_value(json_object_get(ev, "key"))) || strcmp(s, f->key)))
        return false;
    if (f->flow_id &&
        (!(s = json_string_value(json_object_get(ev, "flow_id"))) || strcmp(s, f->flow_id)))
        return false;
    if (f->tag && !has_tag(ev, f->tag)) return false;
    return true;
}

json_t *sb_log_query(const sb_log_filter *f)
{
    json_t *out = json_array();
    pthread_mutex_lock(&L.mu);
    /* Walk back from the newest so that limit keeps the newest, then
       reverse into oldest-first order. */
    json_t **hits = L.len ? malloc(L.len * sizeof *hits) : NULL;
    size_t n = 0;
    for (size_t i = L.len; i > 0 && (!f->limit || n < f->limit); i--) {
        json_t *ev = L.ring[(L.head + i - 1) % L.cap];
        if (matches(ev, f) && hits) hits[n++] = ev;
    }
    for (size_t i = n; i > 0; i--) json_array_append_new(out, json_deep_copy(hits[i - 1]));
    pthread_mutex_unlock(&L.mu);
    free(hits);
    return out;
}

size_t sb_log_clear(void)
{
    pthread_mutex_lock(&L.mu);
    size_t n = L.len;
    for (size_t i = 0; i < L.len; i++) json_decref(L.ring[(L.head + i) % L.cap]);
    L.len = L.head = 0;
    pthread_mutex_unlock(&L.mu);
    return n;
}

json_t *sb_log_stats(void)
{
    pthread_mutex_lock(&L.mu);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "retained", (json_int_t)L.len, "capacity",
                          (json_int_t)L.cap, "total", (json_int_t)L.seq, "dropped",
                          (json_int_t)L.dropped, "flows", (json_int_t)L.nflows);
    sb_set(o, "file", L.file ? json_string(L.path) : json_null());
    if (L.file) sb_set(o, "file_errors", json_integer((json_int_t)L.file_errors));
    pthread_mutex_unlock(&L.mu);
    return o;
}

/* ----------------------------------------------------------------- flows */

void sb_flow_meta(const char *flow_id, const char *key, json_t *value)
{
    pthread_mutex_lock(&L.mu);
    flow_rec *r = flow_get(flow_id, true);
    json_object_set_new(r->meta, key, value);
    pthread_mutex_unlock(&L.mu);
}

json_t *sb_flows_list(void)
{
    json_t *out = json_array();
    pthread_mutex_lock(&L.mu);
    /* Most recently active first. */
    flow_rec *order[MAX_FLOWS];
    size_t n = L.nflows;
    for (size_t i = 0; i < n; i++) order[i] = &L.flows[i];
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && order[j]->touched > order[j - 1]->touched; j--) {
            flow_rec *t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "flow_id", order[i]->id, "first_seen",
                              order[i]->first, "last_seen", order[i]->last, "events",
                              (json_int_t)order[i]->events, "requests",
                              (json_int_t)json_array_size(order[i]->requests));
        json_t *meta = json_deep_copy(order[i]->meta);
        json_object_update(o, meta);
        json_decref(meta);
        json_array_append_new(out, o);
    }
    pthread_mutex_unlock(&L.mu);
    return out;
}

json_t *sb_flow_info(const char *flow_id)
{
    pthread_mutex_lock(&L.mu);
    flow_rec *r = flow_get(flow_id, false);
    json_t *o = NULL;
    if (r) {
        o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "flow_id", r->id, "first_seen", r->first,
                      "last_seen", r->last, "events", (json_int_t)r->events, "requests",
                      (json_int_t)json_array_size(r->requests));
        json_t *meta = json_deep_copy(r->meta);
        json_object_update(o, meta);
        json_decref(meta);
    }
    pthread_mutex_unlock(&L.mu);
    return o;
}

void sb_flow_record(const char *flow_id, const char *method, const char *path, const char *body,
                    size_t body_len)
{
    pthread_mutex_lock(&L.mu);
    flow_rec *r = flow_get(flow_id, true);
    if (json_array_size(r->requests) < MAX_FLOW_REQS) {
        json_t *req = json_pack("{s:s, s:s}", "method", method, "path", path);
        if (body_len > MAX_REQ_BODY) sb_set(req, "truncated", json_true());
        else sb_set(req, "body", json_stringn(body ? body : "", body ? body_len : 0));
        json_array_append_new(r->requests, req);
    } else {
        json_object_set_new(r->meta, "requests_truncated", json_true());
    }
    sb_iso_time(r->last);
    pthread_mutex_unlock(&L.mu);
}

json_t *sb_flow_requests(const char *flow_id)
{
    pthread_mutex_lock(&L.mu);
    flow_rec *r = flow_get(flow_id, false);
    json_t *o = r ? json_deep_copy(r->requests) : NULL;
    pthread_mutex_unlock(&L.mu);
    return o;
}

char *sb_flow_latest(void)
{
    char *id = NULL;
    pthread_mutex_lock(&L.mu);
    for (size_t i = L.len; i > 0 && !id; i--) {
        const char *f = json_string_value(json_object_get(L.ring[(L.head + i - 1) % L.cap], "flow_id"));
        if (f) id = strdup(f);
    }
    pthread_mutex_unlock(&L.mu);
    return id;
}

/* --------------------------------------------------------------- latency */

void sb_latency_add(const char *op, double ms)
{
    pthread_mutex_lock(&L.mu);
    lat_ring *r = NULL;
    for (size_t i = 0; i < L.nlat && !r; i++)
        if (strcmp(L.lat[i].op, op) == 0) r = &L.lat[i];
    if (!r && L.nlat < MAX_LATENCY_OPS) {
        r = &L.lat[L.nlat++];
        memset(r, 0, sizeof *r);
        snprintf(r->op, sizeof r->op, "%s", op);
    }
    if (r) {
        r->v[r->next] = ms;
        r->next = (r->next + 1) % LATENCY_SAMPLES;
        if (r->n < LATENCY_SAMPLES) r->n++;
        r->total++;
    }
    pthread_mutex_unlock(&L.mu);
}

json_t *sb_latency_report(void)
{
    json_t *out = json_object();
    double v[LATENCY_SAMPLES];
    pthread_mutex_lock(&L.mu);
    for (size_t i = 0; i < L.nlat; i++) {
        memcpy(v, L.lat[i].v, L.lat[i].n * sizeof *v);
        json_t *s = sb_summarize(v, L.lat[i].n);
        sb_set(s, "total", json_integer((json_int_t)L.lat[i].total));
        json_object_set_new(out, L.lat[i].op, s);
    }
    pthread_mutex_unlock(&L.mu);
    return out;
}

void sb_latency_clear(void)
{
    pthread_mutex_lock(&L.mu);
    L.nlat = 0;
    pthread_mutex_unlock(&L.mu);
}
