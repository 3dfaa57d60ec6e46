/*
** behave.c -- behaviour and negative scenarios, the named scenarios,
** faults, listeners and the distributed invalidation demo.
**
** Nothing here waits on the clock to make something happen at the right
** moment: a single-flight loader holds its load until the other callers
** have joined (it watches their joined events), a raced load waits until
** the invalidation is done. Only TTLs need time to pass, and those checks
** say when a reader was too slow to judge rather than failing.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define WAIT_MS 10000       /* the longest any demo waits for another thread */

static atomic_uint_fast64_t unique;

/* A key of this run's own: prefix:flow:n. */
static void own_key(char *buf, size_t size, const char *prefix, const sb_flow *f)
{
    snprintf(buf, size, "%s:%s:%llu", prefix, f->id, (unsigned long long)atomic_fetch_add(&unique, 1));
}

/* Run an operation of ops.c with arguments packed here; NULL on failure. */
static json_t *op(sb_flow *f, const char *verb, json_t *args, sb_err *e)
{
    json_t *out = NULL;
    int rc = sb_op_run(f, verb, args, &out, e);
    json_decref(args);
    return rc == 0 ? out : NULL;
}

static bool found(const json_t *r)
{
    return json_is_true(json_object_get(r, "found"));
}

/* ------------------------------------------------------------------- ttl */

json_t *sb_behave_ttl(sb_flow *f, const json_t *args, sb_err *e)
{
    int64_t ttl = sb_arg_int(args, "ttl_ms", 200);
    char key[160];
    own_key(key, sizeof key, "scenario:ttl", f);
    json_t *steps = json_array();
    json_t *r = op(f, "put", json_pack("{s:s, s:s, s:I}", "key", key, "value", "short-lived", "ttl_ms", (json_int_t)ttl), e);
    if (!r) goto failed;
    double put_at = sb_now_ms_f();
    json_array_append_new(steps, r);
    json_t *before = op(f, "get", json_pack("{s:s}", "key", key), e);
    if (!before) goto failed;
    double read_after = sb_now_ms_f() - put_at;
    json_array_append_new(steps, before);
    json_t *slept = op(f, "sleep", json_pack("{s:I}", "ms", (json_int_t)ttl + 50), e);
    if (!slept) goto failed;
    json_array_append_new(steps, slept);
    json_t *after = op(f, "get", json_pack("{s:s}", "key", key), e);
    if (!after) goto failed;
    json_array_append_new(steps, after);
    /* A first read later than the TTL cannot show the entry: say so rather
       than fail on a slow machine. */
    bool judged = read_after < (double)ttl;
    bool passed = !found(after) && (found(before) || !judged);
    char detail[256];
    snprintf(detail, sizeof detail, "%s; read %.1f ms after the put: %s; after %lld ms: %s",
             passed ? "the entry lived for its TTL, then was gone" : "the entry did not behave as its TTL says",
             read_after, found(before) ? "found" : judged ? "missing" : "missing (too late to judge)",
             (long long)ttl + 50, found(after) ? "still there" : "gone");
    return json_pack("{s:s, s:b, s:s, s:s, s:I, s:b, s:b, s:o}", "name", "ttl", "passed", passed, "flow_id", f->id,
                     "detail", detail, "ttl_ms", (json_int_t)ttl, "found_before", found(before), "found_after",
                     found(after), "steps", steps);
failed:
    json_decref(steps);
    return NULL;
}

/* ---------------------------------------------------------- single-flight */

typedef struct sf_run {
    sb_flow *f;
    hc_cache *c;
    const char *key;
    hc_subscription *joins;         /* joined events of key: the loader counts them */
    unsigned callers;
    int64_t delay_ms;
    atomic_uint loader_calls;
    pthread_mutex_t mu;             /* the start gate: callers wait for go */
    pthread_cond_t cv;
    bool go;
    unsigned joined;                /* joined events seen, under mu */
} sf_run;

typedef struct sf_caller {
    sf_run *run;
    int rc;
    bool ran;
    char value[64];
    double ms;
} sf_caller;

/*
** The load: wait until every caller is accounted for, as a loader or as a
** joiner (so that all of them find a load in flight whatever the scheduler
** does), then the delay. There is one load unless something invalidates
** the key meanwhile (a flush by another client): then callers after it
** lead a fresh load, and the run reports the second loader call. The
** subscription is read by one thread at a time, under the run's mutex.
*/
static int sf_loader(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    sf_caller *me = ctx;
    sf_run *run = me->run;
    me->ran = true;
    unsigned calls = atomic_fetch_add(&run->loader_calls, 1) + 1;
    sb_lab_count(run->f->lab, SB_LOADER_RAW);
    double t0 = sb_now_ms_f();
    uint64_t deadline = sb_now_ms() + WAIT_MS;
    unsigned joined;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        hc_event ev;
        while (hc_subscription_recv(run->joins, &ev, 0) == HC_OK) run->joined++;
        joined = run->joined;
        bool all = joined + atomic_load(&run->loader_calls) >= run->callers;
        pthread_mutex_unlock(&run->mu);
        if (all || sb_now_ms() >= deadline) break;
        sb_sleep_ms(1);
    }
    if (run->delay_ms > 0) sb_sleep_ms((uint64_t)run->delay_ms);
    sb_flow_note(run->f, "loader-call", json_pack("{s:s, s:s, s:I, s:i, s:f}", "loader", "single-flight", "key",
                                                  run->key, "call", (json_int_t)calls, "joined_before_return",
                                                  (int)joined, "latency_ms", sb_now_ms_f() - t0));
    return hc_buf_set(out, "\"computed once\"", 15);
}

static void *sf_thread(void *arg)
{
    sf_caller *me = arg;
    sf_run *run = me->run;
    pthread_mutex_lock(&run->mu);
    while (!run->go) pthread_cond_wait(&run->cv, &run->mu);
    pthread_mutex_unlock(&run->mu);
    double t0 = sb_now_ms_f();
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    me->rc = hc_get_or_load(run->c, run->key, NULL, sf_loader, me, &v, &err);
    me->ms = sb_now_ms_f() - t0;
    snprintf(me->value, sizeof me->value, "%s", v.data ? (const char *)v.data : "");
    hc_buf_free(&v);
    return NULL;
}

static json_t *single_flight(sb_flow *f, unsigned callers, int64_t delay, const char *name, sb_err *e)
{
    char key[160];
    own_key(key, sizeof key, "scenario:single-flight", f);
    sb_flow_touch(f, key);
    hc_cache *c = sb_lab_cache(f->lab);
    sf_run run = {.f = f, .c = c, .key = key, .callers = callers, .delay_ms = delay};
    atomic_init(&run.loader_calls, 0);
    hc_event_filter filter = {HC_EVENT_BIT(HC_EVENT_SINGLE_FLIGHT_JOINED), 0, key, NULL};
    if (hc_subscribe(c, &filter, &run.joins) != HC_OK) {
        sb_fail(e, 500, "internal", "cannot subscribe");
        return NULL;
    }
    hc_stats before, after;
    sb_lab_stats(f->lab, &before);
    sf_caller *who = calloc(callers, sizeof *who);
    pthread_t *th = calloc(callers, sizeof *th);
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.cv, NULL);
    unsigned started = 0;
    for (unsigned i = 0; who && th && i < callers; i++) {
        who[i].run = &run;
        if (pthread_create(&th[i], NULL, sf_thread, &who[i]) != 0) break;
        started++;
    }
    /* Open the gate for those that started; the loader waits for the
       others among them to join. */
    pthread_mutex_lock(&run.mu);
    run.callers = started;
    run.go = true;
    pthread_cond_broadcast(&run.cv);
    pthread_mutex_unlock(&run.mu);
    for (unsigned i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_cond_destroy(&run.cv);
    pthread_mutex_destroy(&run.mu);
    if (started < callers) {
        hc_subscription_close(run.joins);
        free(who);
        free(th);
        sb_fail(e, 500, "internal", "cannot start %u threads", callers);
        return NULL;
    }
    hc_subscription_close(run.joins);
    sb_flow_collect(f);
    sb_lab_stats(f->lab, &after);
    json_t *results = json_array();
    bool same = true, ok = true;
    double *lat = malloc(callers * sizeof *lat);
    for (unsigned i = 0; i < callers; i++) {
        ok = ok && who[i].rc == HC_OK;
        same = same && strcmp(who[i].value, who[0].value) == 0;
        if (lat) lat[i] = who[i].ms;
        json_array_append_new(results, json_pack("{s:I, s:s, s:s, s:f}", "caller", (json_int_t)i, "source",
                                                 who[i].ran ? "loader" : "single-flight", "value", who[i].value,
                                                 "latency_ms", who[i].ms));
    }
    unsigned calls = atomic_load(&run.loader_calls);
    uint64_t joins = after.single_flight_joins - before.single_flight_joins;
    bool passed = ok && same && calls == 1;
    char detail[200];
    snprintf(detail, sizeof detail, "%u callers, %u loader call%s, %llu joined; %s", callers, calls,
             calls == 1 ? "" : "s", (unsigned long long)joins,
             same ? "every caller got the same value" : "the callers got different values");
    json_t *out = json_pack("{s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:o, s:o}", "name", name, "passed",
                            passed, "flow_id", f->id, "detail", detail, "key", key, "callers", (json_int_t)callers,
                            "loader_delay_ms", (json_int_t)delay, "loader_calls", (json_int_t)calls,
                            "single_flight_joins", (json_int_t)joins, "same_value", same, "callers_results", results,
                            "latency", sb_summarize(lat, lat ? callers : 0));
    free(lat);
    free(who);
    free(th);
    return out;
}

json_t *sb_behave_single_flight(sb_flow *f, const json_t *args, sb_err *e)
{
    return single_flight(f, (unsigned)sb_arg_int(args, "callers", 8), sb_arg_int(args, "loader_delay_ms", 20),
                         "single-flight", e);
}

/* ------------------------------------------------------ invalidation race */

typedef struct race {
    sb_flow *f;
    hc_cache *c;
    const char *key, *tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, invalidated;
    int rc;
    char value[64];
} race;

static int race_loader(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    race *r = ctx;
    double t0 = sb_now_ms_f();
    sb_lab_count(r->f->lab, SB_LOADER_RAW);
    pthread_mutex_lock(&r->mu);
    r->started = true;
    pthread_cond_broadcast(&r->cv);
    uint64_t deadline = sb_now_ms() + WAIT_MS;
    while (!r->invalidated && sb_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    sb_flow_note(r->f, "loader-call", json_pack("{s:s, s:s, s:f}", "loader", "raced", "key", r->key, "latency_ms",
                                                sb_now_ms_f() - t0));
    return hc_buf_set(out, "\"read before the invalidation\"", 30);
}

static void *race_thread(void *arg)
{
    race *r = arg;
    const char *tags[] = {r->tag};
    hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 1};
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    r->rc = hc_get_or_load(r->c, r->key, &o, race_loader, r, &v, &err);
    snprintf(r->value, sizeof r->value, "%s", v.data ? (const char *)v.data : "");
    hc_buf_free(&v);
    return NULL;
}

json_t *sb_behave_race(sb_flow *f, const json_t *args, sb_err *e)
{
    (void)args;
    char key[160], tag[160];
    own_key(key, sizeof key, "scenario:race", f);
    sb_strf(tag, sizeof tag, "%s:tag", key);
    sb_flow_touch(f, key);
    sb_flow_touch(f, tag);
    race r = {.f = f, .c = sb_lab_cache(f->lab), .key = key, .tag = tag};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    hc_stats before, after;
    sb_lab_stats(f->lab, &before);
    pthread_t th;
    if (pthread_create(&th, NULL, race_thread, &r) != 0) {
        sb_fail(e, 500, "internal", "cannot start a thread");
        return NULL;
    }
    pthread_mutex_lock(&r.mu);
    uint64_t deadline = sb_now_ms() + WAIT_MS;
    while (!r.started && sb_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&r.cv, &r.mu, &ts);
    }
    pthread_mutex_unlock(&r.mu);
    json_t *inv = op(f, "invalidate_tag", json_pack("{s:s}", "tag", tag), e);
    pthread_mutex_lock(&r.mu);
    r.invalidated = true;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    if (!inv) return NULL;
    sb_lab_stats(f->lab, &after);
    json_t *contains = op(f, "contains", json_pack("{s:s}", "key", key), e);
    if (!contains) {
        json_decref(inv);
        return NULL;
    }
    json_t *reload = op(f, "get_or_load", json_pack("{s:s, s:s, s:[s]}", "key", key, "value", "read after the invalidation",
                                                    "tags", tag), e);
    if (!reload) {
        json_decref(inv);
        json_decref(contains);
        return NULL;
    }
    uint64_t discards = after.stale_load_discards - before.stale_load_discards;
    bool stored = found(contains);
    const char *src = json_string_value(json_object_get(reload, "source"));
    bool passed = r.rc == HC_OK && !stored && discards >= 1 && src && strcmp(src, "loader") == 0;
    char detail[256];
    snprintf(detail, sizeof detail,
             "the raced load returned %s to its caller, %s; %llu stale load discarded; the next read ran the loader again (%s)",
             r.rc == HC_OK ? r.value : "an error", stored ? "and it was stored (wrong)" : "and it was not stored",
             (unsigned long long)discards, src ? src : "?");
    return json_pack("{s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:o}", "name", "invalidation-race", "passed", passed,
                     "flow_id", f->id, "detail", detail, "key", key, "tag", tag, "raced_value", r.value, "stored",
                     stored, "stale_load_discards", (json_int_t)discards, "steps",
                     json_pack("[o, o, o]", inv, contains, reload));
}

/* ---------------------------------------------------------------- negative */

const char *const sb_negative_names[] = {
    "missing-key", "missing-user", "loader-error", "expired-entry", "invalidation-miss", NULL,
};

json_t *sb_negative(sb_flow *f, const char *name, sb_err *e)
{
    char key[160];
    own_key(key, sizeof key, "negative", f);
    json_t *steps = json_array(), *r = NULL;
    bool reproduced = false;
    char detail[256] = "";
    if (strcmp(name, "missing-key") == 0) {
        if (!(r = op(f, "get", json_pack("{s:s}", "key", key), e))) goto failed;
        json_array_append_new(steps, r);
        reproduced = !found(r);
        snprintf(detail, sizeof detail, "get of a key never stored: %s", reproduced ? "not found" : "found (unexpected)");
    } else if (strcmp(name, "missing-user") == 0) {
        if (!(r = op(f, "invalidate_user", json_pack("{s:i}", "id", 999999), e))) goto failed;
        json_array_append_new(steps, r);
        if (!(r = op(f, "load_user", json_pack("{s:i}", "id", 999999), e))) goto failed;
        json_array_append_new(steps, r);
        json_t *again = op(f, "load_user", json_pack("{s:i}", "id", 999999), e);
        if (!again) goto failed;
        json_array_append_new(steps, again);
        const char *src = json_string_value(json_object_get(again, "source"));
        reproduced = !found(r) && !found(again);
        snprintf(detail, sizeof detail, "user 999999 does not exist; the absence was cached: the second read came from %s",
                 src ? src : "?");
    } else if (strcmp(name, "loader-error") == 0) {
        if (!(r = op(f, "get_or_load", json_pack("{s:s, s:i, s:s}", "key", key, "value", 1, "loader_error",
                                                 "the database is on fire (a demo error)"), e)))
            goto failed;
        json_array_append_new(steps, r);
        json_t *c = op(f, "contains", json_pack("{s:s}", "key", key), e);
        if (!c) goto failed;
        json_array_append_new(steps, c);
        reproduced = json_object_get(r, "error") && !found(c);
        snprintf(detail, sizeof detail, "the loader failed: the caller got the error, and %s",
                 found(c) ? "something was stored (unexpected)" : "nothing was stored");
    } else if (strcmp(name, "expired-entry") == 0) {
        if (!(r = op(f, "put", json_pack("{s:s, s:s, s:i}", "key", key, "value", "brief", "ttl_ms", 30), e))) goto failed;
        json_array_append_new(steps, r);
        if (!(r = op(f, "sleep", json_pack("{s:i}", "ms", 60), e))) goto failed;
        json_array_append_new(steps, r);
        if (!(r = op(f, "get", json_pack("{s:s}", "key", key), e))) goto failed;
        json_array_append_new(steps, r);
        reproduced = !found(r);
        snprintf(detail, sizeof detail, "an entry with a 30 ms TTL, read 60 ms later: %s",
                 reproduced ? "gone" : "still there (unexpected)");
    } else if (strcmp(name, "invalidation-miss") == 0) {
        if (!(r = op(f, "invalidate_key", json_pack("{s:s}", "key", key), e))) goto failed;
        json_array_append_new(steps, r);
        reproduced = !found(r);
        snprintf(detail, sizeof detail, "invalidating a key that is not cached: %s",
                 reproduced ? "nothing to remove" : "something was removed (unexpected)");
    } else {
        json_decref(steps);
        sb_fail(e, 404, "not_found", "no negative scenario '%s'", name);
        return NULL;
    }
    sb_flow_note(f, "expected-error", json_pack("{s:s, s:b}", "scenario", name, "reproduced", reproduced));
    return json_pack("{s:s, s:b, s:b, s:s, s:s, s:o}", "name", name, "expected_failure", reproduced, "passed",
                     reproduced, "detail", detail, "flow_id", f->id, "steps", steps);
failed:
    json_decref(steps);
    return NULL;
}

/* ------------------------------------------------------- named scenarios */

json_t *sb_named_run(sb_flow *f, const char *name, const json_t *args, sb_err *e)
{
    if (strcmp(name, "golden-path") == 0 || strcmp(name, "self-test") == 0) {
        json_t *doc = sb_builtin_document(name);
        json_t *n = doc ? sb_scenario_normalize(doc, e) : NULL;
        json_decref(doc);
        if (!n) return NULL;
        json_t *r = sb_scenario_run(f, n, e);
        json_decref(n);
        return r;
    }
    if (strcmp(name, "ttl") == 0) return sb_behave_ttl(f, args, e);
    if (strcmp(name, "single-flight") == 0) return sb_behave_single_flight(f, args, e);
    if (strcmp(name, "invalidation-race") == 0) return sb_behave_race(f, args, e);
    if (strcmp(name, "negative-suite") == 0) {
        json_t *results = json_array();
        bool all = true;
        for (size_t i = 0; sb_negative_names[i]; i++) {
            json_t *r = sb_negative(f, sb_negative_names[i], e);
            if (!r) {
                json_decref(results);
                return NULL;
            }
            all = all && json_is_true(json_object_get(r, "expected_failure"));
            json_array_append_new(results, r);
        }
        return json_pack("{s:s, s:b, s:s, s:s, s:o}", "name", "negative-suite", "passed", all, "flow_id", f->id,
                         "detail", all ? "every edge case was reproduced" : "some edge case was not reproduced",
                         "results", results);
    }
    sb_fail(e, 404, "not_found", "no named scenario '%s'", name);
    return NULL;
}

/* ------------------------------------------------------------------ faults */

static json_t *fault_result(const char *fault, bool passed, const char *detail, json_t *extra)
{
    json_t *o = json_pack("{s:s, s:b, s:b, s:s}", "fault", fault, "passed", passed, "skipped", 0, "detail", detail);
    if (extra) {
        json_object_update(o, extra);
        json_decref(extra);
    }
    return o;
}

static json_t *fault_killed_connection(sb_flow *f, sb_err *e)
{
    if (strcmp(sb_lab_profile(sb_main_lab), "postgres") != 0)
        return json_pack("{s:s, s:b, s:b, s:s}", "fault", "killed-connection", "passed", 1, "skipped", 1, "detail",
                         "needs the postgres profile");
    /* A lab of its own on the same schema: the server's connection stays up. */
    sb_backend_config cfg = {"postgres", NULL, sb_config.database_url, sb_config.pg_schema, sb_config.data_dir};
    sb_lab *lab;
    if (sb_lab_open(&lab, "fault", &cfg, e) != 0) return NULL;
    sb_flow lf;
    if (sb_flow_begin(&lf, lab, f->id, e) != 0) {
        sb_lab_close(lab);
        return NULL;
    }
    json_t *steps = json_array();
    json_t *r = NULL;
    sb_err qe;
    bool ok = sb_backend_kill_connection(sb_lab_backend(lab), e) == 0;
    if (ok) {
        sb_flow_note(&lf, "connection-killed", NULL);
        json_t *args = json_pack("{s:i}", "id", 42);
        int rc1 = sb_op_run(&lf, "query_user", args, &r, &qe);
        json_array_append_new(steps, rc1 == 0 ? r : json_pack("{s:i, s:s, s:s}", "status", qe.status, "code", qe.code,
                                                               "message", qe.message));
        int rc2 = sb_op_run(&lf, "query_user", args, &r, &qe);
        json_array_append_new(steps, rc2 == 0 ? r : json_pack("{s:i, s:s, s:s}", "status", qe.status, "code", qe.code,
                                                               "message", qe.message));
        json_decref(args);
        bool failed_clearly = rc1 != 0 && json_integer_value(json_object_get(json_array_get(steps, 0), "status")) == 503;
        ok = failed_clearly && rc2 == 0;
    }
    sb_flow_end(&lf);
    sb_lab_close(lab);
    if (!json_array_size(steps) && !ok) {
        json_decref(steps);
        return NULL;
    }
    return fault_result("killed-connection", ok,
                        ok ? "the call that met the dead connection failed with a clear error (503); the next call "
                             "reconnected and succeeded"
                           : "the killed connection did not fail and recover as expected",
                        json_pack("{s:o}", "steps", steps));
}

json_t *sb_faults_run(sb_flow *f, const json_t *args, sb_err *e)
{
    static const char *const all[] = {"loader-error", "loader-delay", "invalidation-timing", "killed-connection"};
    const json_t *want = json_object_get(args, "faults");
    int64_t delay = sb_arg_int(args, "loader_delay_ms", 100);
    json_t *results = json_array();
    bool passed = true;
    for (size_t i = 0; i < 4; i++) {
        bool asked = !want;
        size_t j;
        json_t *w;
        json_array_foreach(want, j, w) asked = asked || strcmp(json_string_value(w), all[i]) == 0;
        if (!asked) continue;
        json_t *r = NULL;
        if (i == 0) {
            char key[160];
            own_key(key, sizeof key, "fault:loader-error", f);
            json_t *first = op(f, "get_or_load", json_pack("{s:s, s:s, s:s}", "key", key, "value", "ok", "loader_error",
                                                           "injected loader error"), e);
            json_t *second = first ? op(f, "get_or_load", json_pack("{s:s, s:s}", "key", key, "value", "ok"), e) : NULL;
            if (!second) {
                json_decref(first);
                json_decref(results);
                return NULL;
            }
            const char *src = json_string_value(json_object_get(second, "source"));
            bool ok = json_object_get(first, "error") && !json_is_true(json_object_get(first, "stored")) && src &&
                      strcmp(src, "loader") == 0;
            r = fault_result("loader-error", ok,
                             ok ? "the failed load stored nothing and the next call loaded again"
                                : "the failed load did not behave as expected",
                             json_pack("{s:[o, o]}", "steps", first, second));
        } else if (i == 1) {
            json_t *sf = single_flight(f, 4, delay, "loader-delay", e);
            if (!sf) {
                json_decref(results);
                return NULL;
            }
            bool ok = json_is_true(json_object_get(sf, "passed"));
            char detail[200];
            snprintf(detail, sizeof detail, "4 callers of a loader slowed by %lld ms: %s", (long long)delay,
                     json_string_value(json_object_get(sf, "detail")));
            r = fault_result("loader-delay", ok, detail, json_pack("{s:o}", "run", sf));
        } else if (i == 2) {
            json_t *raced = sb_behave_race(f, NULL, e);
            if (!raced) {
                json_decref(results);
                return NULL;
            }
            r = fault_result("invalidation-timing", json_is_true(json_object_get(raced, "passed")),
                             json_string_value(json_object_get(raced, "detail")), json_pack("{s:o}", "run", raced));
        } else {
            r = fault_killed_connection(f, e);
            if (!r) {
                json_decref(results);
                return NULL;
            }
        }
        passed = passed && json_is_true(json_object_get(r, "passed"));
        json_array_append_new(results, r);
    }
    sb_flow_note(f, "faults-run", json_pack("{s:b, s:I}", "passed", passed, "faults", (json_int_t)json_array_size(results)));
    return json_pack("{s:b, s:s, s:o}", "passed", passed, "flow_id", f->id, "faults", results);
}

/* ---------------------------------------------------------------- listeners */

typedef struct heard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *events;
} heard;

static json_t *event_json(const hc_event *ev)
{
    char kind[32];
    json_t *o = json_pack("{s:s, s:s, s:I}", "kind", sb_kebab(hc_event_kind_name(ev->kind), kind, sizeof kind),
                          "origin", hc_origin_name(ev->origin), "seq", (json_int_t)ev->seq);
    if (ev->key) sb_set(o, "key", json_stringn(ev->key, ev->key_len));
    if (ev->kind == HC_EVENT_TAG_INVALIDATED || ev->kind == HC_EVENT_FLUSHED)
        sb_set(o, "count", json_integer((json_int_t)ev->count));
    return o;
}

static void on_event(void *ctx, const hc_event *ev)
{
    heard *h = ctx;
    json_t *o = event_json(ev);
    pthread_mutex_lock(&h->mu);
    json_array_append_new(h->events, o);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static int load_value(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx;
    (void)err;
    return hc_buf_set(out, "loaded", 6);
}

json_t *sb_listeners_run(sb_flow *f, const json_t *args, sb_err *e)
{
    (void)args;
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "listeners";
    cfg.access_events = true;
    hc_cache *c;
    if (hc_cache_open(&c, &cfg) != HC_OK) {
        sb_fail(e, 500, "internal", "cannot open a cache");
        return NULL;
    }
    heard h = {.events = json_array()};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    hc_subscription *sub = NULL;
    hc_listener *lis = NULL;
    if (hc_subscribe(c, NULL, &sub) != HC_OK || hc_listen(c, NULL, on_event, &h, &lis) != HC_OK) {
        hc_subscription_close(sub);
        hc_cache_close(c);
        json_decref(h.events);
        sb_fail(e, 500, "internal", "cannot subscribe or listen");
        return NULL;
    }
    /* One flow of operations, each kind of event at least once. */
    const char *tags[] = {"listeners"};
    hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 1};
    hc_buf v = HC_BUF_INIT;
    hc_put(c, "listeners:a", "1", 1, &o);
    hc_get(c, "listeners:a", &v);
    hc_get(c, "listeners:missing", &v);
    hc_get_or_load(c, "listeners:b", &o, load_value, NULL, &v, NULL);
    hc_get_or_load(c, "listeners:b", &o, load_value, NULL, &v, NULL);
    hc_invalidate_key(c, "listeners:a");
    hc_invalidate_tag(c, "listeners", NULL);
    hc_put(c, "listeners:c", "3", 1, NULL);
    hc_flush(c);
    hc_buf_free(&v);
    json_t *ops = json_pack("[s, s, s, s, s, s, s, s, s]", "put listeners:a (tag listeners)", "get listeners:a",
                            "get listeners:missing", "get_or_load listeners:b", "get_or_load listeners:b",
                            "invalidate_key listeners:a", "invalidate_tag listeners", "put listeners:c", "flush");
    json_t *subscribed = json_array();
    hc_event ev;
    while (hc_subscription_recv(sub, &ev, 0) == HC_OK) json_array_append_new(subscribed, event_json(&ev));
    /* The listener's thread delivers the same events a little later. */
    pthread_mutex_lock(&h.mu);
    uint64_t deadline = sb_now_ms() + WAIT_MS;
    while (json_array_size(h.events) < json_array_size(subscribed) && sb_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h.cv, &h.mu, &ts);
    }
    pthread_mutex_unlock(&h.mu);
    hc_listener_close(lis);
    hc_subscription_close(sub);
    hc_cache_close(c);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
    bool same = json_equal(subscribed, h.events);
    static const char *const expected[] = {"stored", "hit", "miss", "load-started", "load-completed",
                                           "key-invalidated", "tag-invalidated", "flushed", NULL};
    json_t *missing = json_array();
    for (size_t i = 0; expected[i]; i++) {
        bool seen = false;
        size_t j;
        json_t *x;
        json_array_foreach(subscribed, j, x) seen = seen || strcmp(json_string_value(json_object_get(x, "kind")), expected[i]) == 0;
        if (!seen) json_array_append_new(missing, json_string(expected[i]));
    }
    bool passed = same && json_array_size(missing) == 0;
    sb_flow_note(f, "listeners-run", json_pack("{s:I, s:I, s:b}", "subscription", (json_int_t)json_array_size(subscribed),
                                               "listener", (json_int_t)json_array_size(h.events), "same", same));
    return json_pack("{s:b, s:s, s:s, s:o, s:o, s:o, s:b, s:o}", "passed", passed, "flow_id", f->id, "detail",
                     same ? "the subscription and the listener received the same events, in the same order"
                          : "the subscription and the listener disagree",
                     "operations", ops, "subscription", subscribed, "listener", h.events, "same", same,
                     "missing_kinds", missing);
}

/* -------------------------------------------------------------- the bus */

/* Wait for an event of kind with origin bus on sub. */
static bool wait_bus(hc_subscription *sub, hc_event_kind kind, double *ms)
{
    double t0 = sb_now_ms_f();
    uint64_t deadline = sb_now_ms() + WAIT_MS;
    hc_event ev;
    while (sb_now_ms() < deadline) {
        int rc = hc_subscription_recv(sub, &ev, 100);
        if (rc == HC_OK && ev.kind == kind && ev.origin == HC_ORIGIN_BUS) {
            *ms = sb_now_ms_f() - t0;
            return true;
        }
        if (rc == HC_ECLOSED) break;
    }
    *ms = sb_now_ms_f() - t0;
    return false;
}

static json_t *bus_checks(sb_flow *f, const char *transport, hc_bus *bus_a, hc_bus *bus_b, sb_err *e)
{
    hc_config ca, cb;
    hc_config_init(&ca);
    hc_config_init(&cb);
    ca.name = cb.name = "distributed";
    ca.node_id = "node-a";
    cb.node_id = "node-b";
    ca.bus = bus_a;
    cb.bus = bus_b;
    hc_cache *a = NULL, *b = NULL;
    hc_subscription *sub = NULL;
    hc_event_filter only_bus = {0, HC_ORIGIN_BIT(HC_ORIGIN_BUS), NULL, NULL};
    if (hc_cache_open(&a, &ca) != HC_OK || hc_cache_open(&b, &cb) != HC_OK || hc_subscribe(b, &only_bus, &sub) != HC_OK) {
        hc_cache_close(a);
        hc_cache_close(b);
        sb_fail(e, 500, "internal", "cannot open the two caches");
        return NULL;
    }
    const char *tags[] = {"distributed-tag"};
    hc_options o = {.ttl_ms = HC_TTL_DEFAULT, .tags = tags, .ntags = 1};
    json_t *checks = json_array();
    bool all = true;
    struct { const char *check, *key; hc_event_kind kind; } plan[] = {
        {"tag", "distributed:tagged", HC_EVENT_TAG_INVALIDATED},
        {"key", "distributed:keyed", HC_EVENT_KEY_INVALIDATED},
        {"flush", "distributed:flushed", HC_EVENT_FLUSHED},
    };
    for (size_t i = 0; i < 3; i++) {
        hc_put(a, plan[i].key, "v", 1, &o);
        hc_put(b, plan[i].key, "v", 1, &o);
        int rc = i == 0 ? hc_invalidate_tag(a, "distributed-tag", NULL)
                 : i == 1 ? hc_invalidate_key(a, plan[i].key)
                          : hc_flush(a);
        double ms;
        bool arrived = rc == HC_OK && wait_bus(sub, plan[i].kind, &ms);
        if (rc != HC_OK) ms = 0;
        bool gone = !hc_contains(b, plan[i].key);
        bool ok = arrived && gone;
        all = all && ok;
        char detail[200];
        snprintf(detail, sizeof detail, "%s on node-a %s node-b in %.2f ms; node-b %s the entry", plan[i].check,
                 arrived ? "reached" : "did not reach", ms, gone ? "dropped" : "still has");
        json_array_append_new(checks, json_pack("{s:s, s:b, s:s, s:f}", "check", plan[i].check, "passed", ok, "detail",
                                                detail, "propagation_ms", ms));
        sb_flow_note(f, "bus-propagation", json_pack("{s:s, s:s, s:b, s:f}", "transport", transport, "check",
                                                     plan[i].check, "passed", ok, "latency_ms", ms));
    }
    hc_stats sa, sbs;
    hc_stats_get(a, &sa);
    hc_stats_get(b, &sbs);
    hc_subscription_close(sub);
    hc_cache_close(a);
    hc_cache_close(b);
    return json_pack("{s:s, s:b, s:b, s:o, s:{s:I, s:I, s:I}}", "transport", transport, "passed", all, "skipped", 0,
                     "checks", checks, "counters", "node_a_published", (json_int_t)sa.bus_published,
                     "node_b_received", (json_int_t)sbs.bus_received, "node_b_applied", (json_int_t)sbs.bus_applied);
}

json_t *sb_distributed_run(sb_flow *f, const json_t *args, sb_err *e)
{
    (void)args;
    json_t *transports = json_array();
    hc_bus *mem = NULL;
    if (hc_bus_memory_new(&mem, 0) != HC_OK) {
        json_decref(transports);
        sb_fail(e, 500, "internal", "cannot make an in-process bus");
        return NULL;
    }
    json_t *r = bus_checks(f, "in-process", mem, mem, e);
    hc_bus_free(mem);
    if (!r) {
        json_decref(transports);
        return NULL;
    }
    json_array_append_new(transports, r);
    if (!sb_config.database_url[0] || strcmp(sb_lab_profile(sb_main_lab), "postgres") != 0) {
        json_array_append_new(transports, json_pack("{s:s, s:b, s:b, s:s}", "transport", "postgres", "passed", 1,
                                                    "skipped", 1, "reason", "needs the postgres profile"));
    } else {
        char channel[64];
        snprintf(channel, sizeof channel, "hc_sandbox_%ld_%llu", (long)getpid(),
                 (unsigned long long)atomic_fetch_add(&unique, 1));
        hc_bus *pa = NULL, *pb = NULL;
        hc_error err;
        if (hc_bus_pg_new(&pa, sb_config.database_url, channel, &err) != HC_OK ||
            hc_bus_pg_new(&pb, sb_config.database_url, channel, &err) != HC_OK) {
            hc_bus_free(pa);
            json_array_append_new(transports, json_pack("{s:s, s:b, s:b, s:s}", "transport", "postgres", "passed", 0,
                                                        "skipped", 0, "detail", err.message));
        } else {
            r = bus_checks(f, "postgres", pa, pb, e);
            hc_bus_free(pa);
            hc_bus_free(pb);
            if (!r) {
                json_decref(transports);
                return NULL;
            }
            json_object_set_new(r, "channel", json_string(channel));
            json_array_append_new(transports, r);
        }
    }
    bool passed = true;
    size_t i;
    json_t *t;
    json_array_foreach(transports, i, t) passed = passed && json_is_true(json_object_get(t, "passed"));
    return json_pack("{s:b, s:s, s:o}", "passed", passed, "flow_id", f->id, "transports", transports);
}
