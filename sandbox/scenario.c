/*
** scenario.c -- scenario documents and suites: checking, normalizing and
** running them.
**
** A scenario is a list of steps, each an operation of ops.c (its verb)
** with arguments and an optional expect; then asserts on the counters the
** run moved, and a timeline: kinds of event that must appear in the flow,
** in that order, not necessarily next to each other. docs/SANDBOX.md has
** the format. Normalizing checks everything that can be checked before
** running (verbs, arguments, expectations, counters, the total of sleeps),
** so a document that runs is one that was understood.
*/
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

#define MAX_STEPS      500
#define MAX_WAIT_MS    30000        /* sleeps and loader delays, per scenario */
#define MAX_SUITE      50
#define MAX_SUITE_WAIT_MS 120000    /* the same over a suite's scenarios */
#define MAX_ANSWER_EVENTS 1000

/* ---------------------------------------------------------- built-ins */

static const char golden_path[] =
    "{\"name\": \"golden-path\","
    " \"description\": \"load, hit, write, reload; then a value that expires\","
    " \"steps\": ["
    "  {\"reset\": {}},"
    "  {\"load_user\": {\"id\": 42}, \"expect\": {\"source\": \"loader\"}},"
    "  {\"load_user\": {\"id\": 42}, \"expect\": {\"source\": \"cache\"}},"
    "  {\"update_user\": {\"id\": 42, \"name\": \"Grace\"}},"
    "  {\"load_user\": {\"id\": 42}, \"expect\": {\"source\": \"loader\", \"name\": \"Grace\"}},"
    "  {\"put\": {\"key\": \"greeting\", \"value\": \"hello\", \"ttl_ms\": 100, \"tags\": [\"demo\"]}},"
    "  {\"sleep\": {\"ms\": 150}},"
    "  {\"get\": {\"key\": \"greeting\"}, \"expect\": {\"found\": false}}],"
    " \"assert\": [{\"stat\": \"hits\", \"at_least\": 1}],"
    " \"timeline\": [{\"kind\": \"stored\"}, {\"kind\": \"tag-invalidated\"}]}";

/* Reads and cache-only changes, on keys of its own: it leaves the rows and
   the other entries as they were. */
static const char self_test[] =
    "{\"name\": \"self-test\","
    " \"description\": \"a smoke test of the cache, a loader, tags, the domain and a cached function\","
    " \"steps\": ["
    "  {\"put\": {\"key\": \"self-test:greeting\", \"value\": \"hello\", \"tags\": [\"self-test\"]}},"
    "  {\"get\": {\"key\": \"self-test:greeting\"}, \"expect\": {\"found\": true, \"value\": \"hello\"}},"
    "  {\"contains\": {\"key\": \"self-test:greeting\"}, \"expect\": {\"found\": true}},"
    "  {\"remove\": {\"key\": \"self-test:computed\"}},"
    "  {\"get_or_load\": {\"key\": \"self-test:computed\", \"value\": 42, \"tags\": [\"self-test\"]},"
    "   \"expect\": {\"source\": \"loader\", \"value\": 42}},"
    "  {\"get_or_load\": {\"key\": \"self-test:computed\", \"value\": 0}, \"expect\": {\"source\": \"cache\", \"value\": 42}},"
    "  {\"invalidate_tag\": {\"tag\": \"self-test\"}},"
    "  {\"get\": {\"key\": \"self-test:greeting\"}, \"expect\": {\"found\": false}},"
    "  {\"get_or_load\": {\"key\": \"self-test:failing\", \"value\": 1, \"loader_error\": \"self-test failure\"},"
    "   \"expect\": {\"error\": \"self-test failure\"}},"
    "  {\"contains\": {\"key\": \"self-test:failing\"}, \"expect\": {\"found\": false}},"
    "  {\"invalidate_user\": {\"id\": 1}},"
    "  {\"load_user\": {\"id\": 1}, \"expect\": {\"found\": true, \"source\": \"loader\"}},"
    "  {\"load_user\": {\"id\": 1}, \"expect\": {\"source\": \"cache\"}},"
    "  {\"load_user\": {\"id\": 999999}, \"expect\": {\"found\": false}},"
    "  {\"call_function\": {\"input\": 21}, \"expect\": {\"value\": 42}}],"
    " \"assert\": [{\"stat\": \"hits\", \"at_least\": 2}, {\"stat\": \"load_failures\", \"at_least\": 1}],"
    " \"timeline\": [{\"kind\": \"stored\"}, {\"kind\": \"hit\"}, {\"kind\": \"tag-invalidated\"},"
    "  {\"kind\": \"load-failed\"}]}";

json_t *sb_builtin_document(const char *name)
{
    const char *text = strcmp(name, "golden-path") == 0 ? golden_path
                       : strcmp(name, "self-test") == 0 ? self_test
                                                        : NULL;
    if (!text) return NULL;
    json_error_t je;
    return json_loads(text, 0, &je);
}

const char *const sb_named_scenarios[] = {
    "golden-path", "ttl", "single-flight", "invalidation-race", "negative-suite", "self-test", NULL,
};

/* ---------------------------------------------------------- normalizing */

/* The counters an assert may name: the cache's and the sandbox's. */
static bool known_stat(const char *name)
{
#define SB__IS(n, desc) if (strcmp(name, #n) == 0) return true;
    HC_STATS_MAP(SB__IS)
#undef SB__IS
    static const char *const own[] = {"loader_calls", "user_loader_calls", "product_loader_calls",
                                      "order_loader_calls", "raw_loader_calls", "function_calls", NULL};
    for (size_t i = 0; own[i]; i++)
        if (strcmp(name, own[i]) == 0) return true;
    return false;
}

static int bad(sb_err *e, const char *where, const char *msg)
{
    return sb_fail(e, 400, "bad_scenario", "%s: %s", where, msg);
}

static json_t *normalize_step(const json_t *step, size_t i, int64_t *wait_total, sb_err *e)
{
    char where[64];
    snprintf(where, sizeof where, "steps[%zu]", i);
    if (!json_is_object(step)) {
        bad(e, where, "a step is a mapping such as {put: {key: k, value: v}}");
        return NULL;
    }
    const char *verb = NULL;
    const json_t *args = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)step, k, v) {
        if (strcmp(k, "expect") == 0 || strcmp(k, "note") == 0) continue;
        if (verb) {
            char msg[200];
            snprintf(msg, sizeof msg, "two verbs in one step ('%s' and '%s')", verb, k);
            bad(e, where, msg);
            return NULL;
        }
        verb = k;
        args = v;
    }
    if (!verb) {
        bad(e, where, "no verb (reset, put, get, load_user ...)");
        return NULL;
    }
    const sb_op *op = sb_op_find(verb);
    if (!op) {
        char msg[600];
        size_t n = (size_t)snprintf(msg, sizeof msg, "unknown step '%s' (steps:", verb);
        for (const sb_op *o = sb_ops; o->verb && n < sizeof msg; o++)
            n += (size_t)snprintf(msg + n, sizeof msg - n, " %s", o->verb);
        if (n < sizeof msg) snprintf(msg + n, sizeof msg - n, ")");
        bad(e, where, msg);
        return NULL;
    }
    json_t *a = json_is_null(args) ? json_object() : json_deep_copy(args);
    sb_err se;
    json_t *schema = sb_schema_parse(op->args, true, &se);
    char w2[96];
    snprintf(w2, sizeof w2, "%s.%s", where, verb);
    int rc = schema ? sb_schema_check(schema, a, w2, e) : sb_fail(e, 500, "internal", "%s", se.message);
    json_decref(schema);
    if (rc != 0) {
        json_decref(a);
        e->status = 400;
        snprintf(e->code, sizeof e->code, "bad_scenario");
        return NULL;
    }
    /* What the step may wait: a sleep, or a loader asked to be slow (the
       key may be cached, but that is not known until the step runs). */
    if (strcmp(verb, "sleep") == 0) *wait_total += sb_arg_int(a, "ms", 0);
    if (strcmp(verb, "get_or_load") == 0) *wait_total += sb_arg_int(a, "loader_delay_ms", 0);
    json_t *out = json_pack("{s:o}", verb, a);
    const json_t *expect = json_object_get(step, "expect");
    if (expect) {
        if (!json_is_object(expect)) {
            json_decref(out);
            bad(e, where, "expect is a mapping of found, value, source, name, error");
            return NULL;
        }
        json_object_foreach((json_t *)expect, k, v) {
            bool ok = (strcmp(k, "found") == 0 && json_is_boolean(v)) || strcmp(k, "value") == 0 ||
                      ((strcmp(k, "source") == 0 || strcmp(k, "name") == 0) && json_is_string(v)) ||
                      (strcmp(k, "error") == 0 && (json_is_boolean(v) || json_is_string(v)));
            if (!ok) {
                char msg[200];
                snprintf(msg, sizeof msg, "expect.%s: found (boolean), value (any), source, name (strings), "
                                          "error (boolean or text)", k);
                json_decref(out);
                bad(e, where, msg);
                return NULL;
            }
        }
        json_object_set_new(out, "expect", json_deep_copy(expect));
    }
    const json_t *note = json_object_get(step, "note");
    if (json_is_string(note)) json_object_set_new(out, "note", json_deep_copy(note));
    return out;
}

json_t *sb_scenario_normalize(const json_t *doc, sb_err *e)
{
    if (!json_is_object(doc)) {
        bad(e, "document", "a scenario is a mapping with name and steps");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) {
        if (strcmp(k, "name") && strcmp(k, "description") && strcmp(k, "steps") && strcmp(k, "assert") &&
            strcmp(k, "timeline")) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown member '%s' (name, description, steps, assert, timeline)", k);
            bad(e, "document", msg);
            return NULL;
        }
    }
    const json_t *name = json_object_get(doc, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        sb_utf8_count(json_string_value(name), json_string_length(name)) > 200) {
        bad(e, "name", "a scenario needs a name (1 to 200 characters)");
        return NULL;
    }
    const json_t *desc = json_object_get(doc, "description");
    if (desc && !json_is_string(desc)) {
        bad(e, "description", "must be text");
        return NULL;
    }
    const json_t *steps = json_object_get(doc, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0 || json_array_size(steps) > MAX_STEPS) {
        bad(e, "steps", "a list of 1 to 500 steps");
        return NULL;
    }
    json_t *out = json_pack("{s:O}", "name", name);
    if (desc) json_object_set(out, "description", (json_t *)desc);
    json_t *ns = json_array();
    json_object_set_new(out, "steps", ns);
    int64_t wait_total = 0;
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) {
        json_t *n = normalize_step(s, i, &wait_total, e);
        if (!n) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(ns, n);
    }
    if (wait_total > MAX_WAIT_MS) {
        json_decref(out);
        bad(e, "steps", "the sleeps and loader delays add up to more than 30000 ms");
        return NULL;
    }
    json_t *na = json_array();
    json_object_set_new(out, "assert", na);
    json_array_foreach(json_object_get(doc, "assert"), i, s) {
        char where[32];
        snprintf(where, sizeof where, "assert[%zu]", i);
        const char *stat = json_string_value(json_object_get(s, "stat"));
        int comparators = 0;
        json_object_foreach(s, k, v) {
            if (strcmp(k, "stat") == 0) continue;
            if ((strcmp(k, "equals") && strcmp(k, "at_least") && strcmp(k, "at_most")) || !json_is_integer(v)) {
                json_decref(out);
                bad(e, where, "an assert is {stat: NAME, equals | at_least | at_most: INTEGER}");
                return NULL;
            }
            comparators++;
        }
        if (!stat || !known_stat(stat) || comparators == 0) {
            char msg[200];
            snprintf(msg, sizeof msg, stat && !known_stat(stat) ? "unknown counter '%s' (GET /demo/report lists them)"
                                                                : "an assert needs stat and equals, at_least or at_most%s",
                     stat && !known_stat(stat) ? stat : "");
            json_decref(out);
            bad(e, where, msg);
            return NULL;
        }
        json_array_append_new(na, json_deep_copy(s));
    }
    const json_t *assert = json_object_get(doc, "assert");
    if (assert && !json_is_array(assert)) {
        json_decref(out);
        bad(e, "assert", "a list of {stat, equals | at_least | at_most}");
        return NULL;
    }
    json_t *nt = json_array();
    json_object_set_new(out, "timeline", nt);
    const json_t *timeline = json_object_get(doc, "timeline");
    if (timeline && !json_is_array(timeline)) {
        json_decref(out);
        bad(e, "timeline", "a list of {kind: KIND} (and optionally key)");
        return NULL;
    }
    json_array_foreach(timeline, i, s) {
        char where[32];
        snprintf(where, sizeof where, "timeline[%zu]", i);
        json_t *entry = json_is_string(s) ? json_pack("{s:O}", "kind", s) : json_deep_copy(s);
        bool ok = json_is_string(json_object_get(entry, "kind"));
        json_object_foreach(entry, k, v) ok = ok && ((strcmp(k, "kind") == 0) || (strcmp(k, "key") == 0 && json_is_string(v)));
        if (!ok) {
            json_decref(entry);
            json_decref(out);
            bad(e, where, "a timeline entry is {kind: KIND} or {kind: KIND, key: KEY}");
            return NULL;
        }
        json_array_append_new(nt, entry);
    }
    return out;
}

/* ---------------------------------------------------------------- running */

static bool is_suite(const json_t *doc)
{
    return json_is_object(doc) && json_object_get(doc, "scenarios") && !json_object_get(doc, "steps");
}

/* Check one step's expectations; detail gets what did not match. */
static bool expectations(const json_t *expect, const json_t *res, const sb_err *failure, char *detail, size_t size)
{
    detail[0] = 0;
    bool ok = true;
    const char *k;
    json_t *want;
    json_object_foreach((json_t *)expect, k, want) {
        char line[300] = "";
        if (strcmp(k, "error") == 0) {
            const json_t *err = json_object_get(res, "error");
            const char *msg = failure ? failure->message : json_string_value(json_object_get(err, "message"));
            const char *code = failure ? failure->code : json_string_value(json_object_get(err, "code"));
            bool has = failure || err;
            if (json_is_boolean(want) && has != json_is_true(want))
                sb_strf(line, sizeof line, "expected %s error, %s", json_is_true(want) ? "an" : "no",
                         has ? msg : "there was none");
            else if (json_is_string(want) && (!has || ((!msg || !strstr(msg, json_string_value(want))) &&
                                                       (!code || strcmp(code, json_string_value(want))))))
                sb_strf(line, sizeof line, "expected an error with '%s', got %s", json_string_value(want),
                         has && msg ? msg : "none");
        } else if (failure) {
            sb_strf(line, sizeof line, "expected %s, but the step failed", k);
        } else {
            const json_t *got = json_object_get(res, k);
            if (!got || !json_equal(got, want)) {
                char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
                char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                sb_strf(line, sizeof line, "expected %s %s, got %s", k, w ? w : "?", g ? g : "nothing");
                free(w);
                free(g);
            }
        }
        if (line[0]) {
            ok = false;
            size_t n = strlen(detail);
            sb_strf(detail + n, size - n, "%s%s", n ? "; " : "", line);
        }
    }
    return ok;
}

/* Add what one step moved to sum. A reset zeroes the counters, so what
   it moved is what they show after it. */
static void add_delta(json_t *sum, const json_t *before, const json_t *after, bool reset)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v) {
        json_int_t d = json_integer_value(v) - (reset ? 0 : json_integer_value(json_object_get(before, k)));
        json_object_set_new(sum, k, json_integer(json_integer_value(json_object_get(sum, k)) + d));
    }
}

json_t *sb_scenario_run(sb_flow *f, const json_t *sc, sb_err *e)
{
    (void)e;
    const char *name = json_string_value(json_object_get(sc, "name"));
    json_t *delta = json_object();
    size_t first_event = sb_flow_mark(f);
    const json_t *steps = json_object_get(sc, "steps");
    sb_flow_note(f, "scenario-run", json_pack("{s:s, s:I}", "scenario", name, "steps",
                                              (json_int_t)json_array_size(steps)));
    json_t *results = json_array();
    size_t passed_steps = 0, i;
    double *lat = malloc((json_array_size(steps) + 1) * sizeof *lat);
    json_t *step;
    json_array_foreach(steps, i, step) {
        const char *verb = NULL;
        json_t *args = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(step, k, v) if (strcmp(k, "expect") && strcmp(k, "note")) verb = k, args = v;
        const json_t *expect = json_object_get(step, "expect");
        double t0 = sb_now_ms_f();
        json_t *res = NULL;
        sb_err se;
        memset(&se, 0, sizeof se);
        json_t *before = sb_lab_counters_json(f->lab);
        int rc = sb_op_run(f, verb, args, &res, &se);
        double ms = sb_now_ms_f() - t0;
        json_t *after = sb_lab_counters_json(f->lab);
        add_delta(delta, before, after, strcmp(verb, "reset") == 0 && rc == 0);
        json_decref(before);
        json_decref(after);
        if (lat) lat[i] = ms;
        char detail[1024];
        bool ok;
        if (expect) {
            ok = expectations(expect, res, rc != 0 ? &se : NULL, detail, sizeof detail);
        } else {
            ok = rc == 0;
            snprintf(detail, sizeof detail, "%s", rc == 0 ? "" : se.message);
        }
        if (ok && !detail[0]) snprintf(detail, sizeof detail, "ok");
        /* A step that does not pack would vanish from the run: its texts
           must be valid UTF-8 whatever cut them. */
        sb_utf8_fix(detail);
        if (rc != 0) sb_utf8_fix(se.message);
        if (rc != 0) res = json_pack("{s:o}", "error", json_pack("{s:i, s:s, s:s}", "status", se.status, "code",
                                                                 se.code, "message", se.message));
        json_t *r = json_pack("{s:I, s:s, s:b, s:s, s:f, s:o}", "index", (json_int_t)i, "verb", verb, "passed", ok,
                              "detail", detail, "latency_ms", (double)(long)(ms * 1000) / 1000.0, "result", res);
        if (expect) json_object_set_new(r, "expect", json_deep_copy(expect));
        json_array_append_new(results, r);
        if (ok) passed_steps++;
    }
    /* Asserts on what the run moved. */
    json_t *asserts = json_array();
    bool asserts_ok = true;
    json_t *a;
    json_array_foreach(json_object_get(sc, "assert"), i, a) {
        const char *stat = json_string_value(json_object_get(a, "stat"));
        json_int_t got = json_integer_value(json_object_get(delta, stat));
        json_t *eq = json_object_get(a, "equals"), *lo = json_object_get(a, "at_least"), *hi = json_object_get(a, "at_most");
        bool ok = (!eq || got == json_integer_value(eq)) && (!lo || got >= json_integer_value(lo)) &&
                  (!hi || got <= json_integer_value(hi));
        asserts_ok = asserts_ok && ok;
        json_t *r = json_deep_copy(a);
        json_object_set_new(r, "actual", json_integer(got));
        json_object_set_new(r, "passed", json_boolean(ok));
        json_array_append_new(asserts, r);
    }
    /* The timeline, against the events of this run. */
    size_t omitted;
    json_t *events = sb_flow_events_since(f, first_event, SIZE_MAX, &omitted);
    const json_t *want = json_object_get(sc, "timeline");
    size_t matched = 0, at = 0;
    for (; matched < json_array_size(want); matched++) {
        const json_t *w = json_array_get(want, matched);
        const char *kind = json_string_value(json_object_get(w, "kind"));
        const char *key = json_string_value(json_object_get(w, "key"));
        bool found = false;
        for (; at < json_array_size(events) && !found; at++) {
            const json_t *ev = json_array_get(events, at);
            const char *ek = json_string_value(json_object_get(ev, "kind"));
            const char *ekey = json_string_value(json_object_get(ev, "key"));
            found = ek && strcmp(ek, kind) == 0 && (!key || (ekey && strcmp(ekey, key) == 0));
        }
        if (!found) break;
    }
    bool timeline_ok = matched == json_array_size(want);
    json_t *timeline = json_pack("{s:b, s:O, s:I}", "passed", timeline_ok, "expected", want, "matched",
                                 (json_int_t)matched);
    if (!timeline_ok) json_object_set(timeline, "missing", json_array_get(want, matched));
    /* An answer shows the first events of a long run, and says how many more. */
    while (json_array_size(events) > MAX_ANSWER_EVENTS) {
        json_array_remove(events, json_array_size(events) - 1);
        omitted++;
    }
    size_t nsteps = json_array_size(steps);
    bool passed = passed_steps == nsteps && asserts_ok && timeline_ok;
    sb_flow_note(f, "scenario-finished", json_pack("{s:s, s:b}", "scenario", name, "passed", passed));
    json_t *out = json_pack("{s:s, s:b, s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "name", name, "passed",
                            passed, "flow_id", f->id, "profile", sb_lab_profile(f->lab), "steps", results,
                            "passed_steps", (json_int_t)passed_steps, "failed_steps",
                            (json_int_t)(nsteps - passed_steps), "asserts", asserts, "timeline", timeline, "stats",
                            delta, "latency", sb_summarize(lat, lat ? nsteps : 0), "events", events);
    if (omitted) json_object_set_new(out, "events_omitted", json_integer((json_int_t)omitted));
    free(lat);
    return out;
}

/* ------------------------------------------------------------------ files */

static int scenario_dir(char *buf, size_t size)
{
    return snprintf(buf, size, "%s/scenarios", sb_config.data_dir);
}

static const char *format_of(const char *file)
{
    const char *dot = strrchr(file, '.');
    if (!dot) return NULL;
    if (strcmp(dot, ".json") == 0) return "json";
    if (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0) return "yaml";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *sb_scenario_file_load(const char *name, sb_err *e)
{
    const char *fmt = format_of(name);
    if (!fmt || name[0] == '.' || strchr(name, '/') || strchr(name, '\\')) {
        sb_fail(e, 404, "not_found", "no recipe '%s' (GET /demo/scenarios/files lists them)", name);
        return NULL;
    }
    char dir[1100], path[1400];
    scenario_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = sb_slurp(path, 1 << 20, &len);
    if (!text) {
        sb_fail(e, 404, "not_found", "no recipe '%s' (GET /demo/scenarios/files lists them)", name);
        return NULL;
    }
    json_t *doc = sb_doc_parse(fmt, text, len, e);
    free(text);
    if (!doc) {
        char msg[sizeof e->message];
        sb_strf(msg, sizeof msg, "%s:%d:%d: %s", name, e->line, e->column, e->message);
        sb_strf(e->message, sizeof e->message, "%s", msg);
        e->status = 500;
    }
    return doc;
}

json_t *sb_scenario_files(sb_err *e)
{
    char dir[1100];
    scenario_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        sb_fail(e, 500, "data_missing", "cannot read '%s': %s", dir, strerror(errno));
        return NULL;
    }
    char *names[256];
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) && n < 256;)
        if (de->d_name[0] != '.' && format_of(de->d_name)) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        sb_err pe;
        json_t *doc = sb_scenario_file_load(names[i], &pe);
        json_t *o = json_pack("{s:s, s:s}", "file", names[i], "format", format_of(names[i]));
        if (doc) {
            const char *nm = json_string_value(json_object_get(doc, "name"));
            sb_set(o, "kind", json_string(is_suite(doc) ? "suite" : "scenario"));
            sb_set(o, "name", json_string(nm ? nm : names[i]));
            const char *desc = json_string_value(json_object_get(doc, "description"));
            if (desc) sb_set(o, "description", json_string(desc));
            sb_set(o, is_suite(doc) ? "scenarios" : "steps",
                   json_integer((json_int_t)json_array_size(json_object_get(doc, is_suite(doc) ? "scenarios" : "steps"))));
        } else {
            sb_set(o, "kind", json_string("unreadable"));
            sb_set(o, "name", json_string(names[i]));
            sb_set(o, "error", json_string(pe.message));
        }
        json_decref(doc);
        json_array_append_new(files, o);
        free(names[i]);
    }
    return json_pack("{s:s, s:o}", "directory", dir, "files", files);
}

/* ------------------------------------------------------------------ suites */

/* One item of a suite, normalized: {scenario}, {file, scenario} or {named}. */
static json_t *suite_item(const json_t *it, size_t i, sb_err *e)
{
    char where[32];
    snprintf(where, sizeof where, "scenarios[%zu]", i);
    if (!json_is_object(it)) {
        bad(e, where, "a scenario, {file: NAME} or {named: NAME}");
        return NULL;
    }
    const char *file = json_string_value(json_object_get(it, "file"));
    const char *named = json_string_value(json_object_get(it, "named"));
    if (file || named) {
        if (json_object_size(it) != 1) {
            bad(e, where, "{file: NAME} or {named: NAME} alone");
            return NULL;
        }
        if (named) {
            bool ok = false;
            for (size_t j = 0; sb_named_scenarios[j]; j++) ok = ok || strcmp(sb_named_scenarios[j], named) == 0;
            if (!ok) {
                char msg[200];
                snprintf(msg, sizeof msg, "no named scenario '%s'", named);
                bad(e, where, msg);
                return NULL;
            }
            return json_pack("{s:s}", "named", named);
        }
        json_t *doc = sb_scenario_file_load(file, e);
        if (!doc) return NULL;
        if (is_suite(doc)) {
            json_decref(doc);
            char msg[300];
            snprintf(msg, sizeof msg, "'%s' is a suite: suites do not nest", file);
            bad(e, where, msg);
            return NULL;
        }
        json_t *n = sb_scenario_normalize(doc, e);
        json_decref(doc);
        if (!n) {
            char msg[sizeof e->message];
            sb_strf(msg, sizeof msg, "%s (in %s)", e->message, file);
            sb_strf(e->message, sizeof e->message, "%s", msg);
            return NULL;
        }
        return json_pack("{s:s, s:o}", "file", file, "scenario", n);
    }
    json_t *n = sb_scenario_normalize(it, e);
    if (!n) {
        char msg[sizeof e->message];
        sb_strf(msg, sizeof msg, "%s: %s", where, e->message);
        sb_strf(e->message, sizeof e->message, "%s", msg);
        return NULL;
    }
    return json_pack("{s:o}", "scenario", n);
}

/* What a normalized scenario's steps may wait, as normalize_step counts it. */
static int64_t scenario_wait_ms(const json_t *sc)
{
    int64_t total = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sc, "steps"), i, s) {
        total += sb_arg_int(json_object_get(s, "sleep"), "ms", 0);
        total += sb_arg_int(json_object_get(s, "get_or_load"), "loader_delay_ms", 0);
    }
    return total;
}

static json_t *suite_normalize(const json_t *suite, sb_err *e)
{
    const json_t *items = json_object_get(suite, "scenarios");
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > MAX_SUITE) {
        bad(e, "scenarios", "a suite lists 1 to 50 scenarios");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)suite, k, v) {
        if (strcmp(k, "name") && strcmp(k, "description") && strcmp(k, "scenarios") && strcmp(k, "flow_id")) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown member '%s' (name, description, scenarios)", k);
            bad(e, "suite", msg);
            return NULL;
        }
    }
    const char *name = json_string_value(json_object_get(suite, "name"));
    json_t *out = json_pack("{s:s, s:[]}", "name", name ? name : "suite", "scenarios");
    const char *desc = json_string_value(json_object_get(suite, "description"));
    if (desc) json_object_set_new(out, "description", json_string(desc));
    size_t i;
    json_t *it;
    int64_t wait = 0;
    json_array_foreach(items, i, it) {
        json_t *n = suite_item(it, i, e);
        if (!n) {
            json_decref(out);
            return NULL;
        }
        wait += scenario_wait_ms(json_object_get(n, "scenario"));
        json_array_append_new(json_object_get(out, "scenarios"), n);
    }
    if (wait > MAX_SUITE_WAIT_MS) {
        json_decref(out);
        bad(e, "scenarios", "the scenarios' sleeps and loader delays add up to more than 120000 ms");
        return NULL;
    }
    return out;
}

json_t *sb_suite_run(sb_flow *f, const json_t *suite, sb_err *e)
{
    json_t *n = suite_normalize(suite, e);
    if (!n) return NULL;
    const char *name = json_string_value(json_object_get(n, "name"));
    sb_flow_note(f, "suite-run", json_pack("{s:s, s:I}", "suite", name, "scenarios",
                                           (json_int_t)json_array_size(json_object_get(n, "scenarios"))));
    json_t *runs = json_array();
    size_t passed = 0, i;
    json_t *it;
    json_array_foreach(json_object_get(n, "scenarios"), i, it) {
        const char *named = json_string_value(json_object_get(it, "named"));
        json_t *r = named ? sb_named_run(f, named, NULL, e) : sb_scenario_run(f, json_object_get(it, "scenario"), e);
        if (!r) r = json_pack("{s:s, s:b, s:s, s:o}", "name", named ? named : "?", "passed", 0, "flow_id", f->id,
                              "error", sb_err_json(e));
        const char *file = json_string_value(json_object_get(it, "file"));
        if (file) json_object_set_new(r, "file", json_string(file));
        if (json_is_true(json_object_get(r, "passed"))) passed++;
        json_array_append_new(runs, r);
    }
    size_t total = json_array_size(runs);
    sb_flow_note(f, "suite-finished", json_pack("{s:s, s:b}", "suite", name, "passed", passed == total));
    json_t *out = json_pack("{s:s, s:b, s:I, s:I, s:s, s:o}", "name", name, "passed", passed == total,
                            "passed_count", (json_int_t)passed, "failed_count", (json_int_t)(total - passed),
                            "flow_id", f->id, "scenarios", runs);
    json_decref(n);
    return out;
}

json_t *sb_suite_normalize_shallow(const json_t *suite, sb_err *e)
{
    json_t *n = suite_normalize(suite, e);
    if (!n) return NULL;
    json_t *items = json_object_get(n, "scenarios");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *file = json_string_value(json_object_get(it, "file"));
        if (file) json_array_set_new(items, i, json_pack("{s:s}", "file", file));
        else if (json_object_get(it, "scenario")) json_array_set(items, i, json_object_get(it, "scenario"));
    }
    return n;
}
