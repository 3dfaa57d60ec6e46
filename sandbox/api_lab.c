/*
** api_lab.c -- the scenario lab: behaviour and negative scenarios, named
** scenarios, committed recipes and suites, documents, replays, profiles.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"

int sb_h_behave(sb_req *rq)
{
    const char *what = strrchr(rq->route->path, '/') + 1;
    json_t *r = strcmp(what, "ttl") == 0             ? sb_behave_ttl(rq->flow, rq->body, &rq->err)
                : strcmp(what, "single-flight") == 0 ? sb_behave_single_flight(rq->flow, rq->body, &rq->err)
                                                     : sb_behave_race(rq->flow, rq->body, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_negative(sb_req *rq)
{
    json_t *r = sb_negative(rq->flow, strrchr(rq->route->path, '/') + 1, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_scenario_run(sb_req *rq)
{
    const char *name = sb_arg_str(rq->body, "name", "");
    json_t *r = sb_named_run(rq->flow, name, NULL, &rq->err);
    if (!r) return -1;
    sb_flow_meta(rq->flow_id, "scenario", json_string(name));
    return sb_reply(rq, r);
}

int sb_h_scenario_files(sb_req *rq)
{
    json_t *r = sb_scenario_files(&rq->err);
    return r ? sb_reply(rq, r) : -1;
}

static bool suite_doc(const json_t *doc)
{
    return json_is_object(doc) && json_object_get(doc, "scenarios") && !json_object_get(doc, "steps");
}

/* Normalize and run a scenario document in rq's flow. */
static int run_document(sb_req *rq, const json_t *doc, const char *file)
{
    json_t *r;
    if (suite_doc(doc)) {
        r = sb_suite_run(rq->flow, doc, &rq->err);
    } else {
        json_t *n = sb_scenario_normalize(doc, &rq->err);
        if (!n) return -1;
        r = sb_scenario_run(rq->flow, n, &rq->err);
        json_decref(n);
    }
    if (!r) return -1;
    sb_flow_meta(rq->flow_id, "scenario", json_string(json_string_value(json_object_get(r, "name"))));
    if (file) json_object_set_new(r, "file", json_string(file));
    return sb_reply(rq, r);
}

int sb_h_scenario_file_run(sb_req *rq)
{
    const char *file = sb_arg_str(rq->body, "file", "");
    json_t *doc = sb_scenario_file_load(file, &rq->err);
    if (!doc) return -1;
    if (suite_doc(doc)) {
        json_decref(doc);
        return sb_fail(&rq->err, 400, "invalid", "'%s' is a suite: POST /demo/scenarios/suite/file/run runs it", file);
    }
    int rc = run_document(rq, doc, file);
    json_decref(doc);
    return rc;
}

int sb_h_suite_run(sb_req *rq)
{
    json_t *suite = json_deep_copy(rq->body);
    json_object_del(suite, "flow_id");
    json_t *r = sb_suite_run(rq->flow, suite, &rq->err);
    json_decref(suite);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_suite_file_run(sb_req *rq)
{
    const char *file = sb_arg_str(rq->body, "file", "");
    json_t *doc = sb_scenario_file_load(file, &rq->err);
    if (!doc) return -1;
    if (!suite_doc(doc)) {
        json_decref(doc);
        return sb_fail(&rq->err, 400, "invalid", "'%s' is a scenario: POST /demo/scenarios/file/run runs it", file);
    }
    int rc = run_document(rq, doc, file);
    json_decref(doc);
    return rc;
}

/* The body's document text, parsed. */
static json_t *body_document(sb_req *rq)
{
    const json_t *text = json_object_get(rq->body, "document");
    return sb_doc_parse(sb_arg_str(rq->body, "format", "json"), json_string_value(text), json_string_length(text),
                        &rq->err);
}

int sb_h_document_parse(sb_req *rq)
{
    json_t *doc = body_document(rq);
    if (!doc) return -1;
    bool suite = suite_doc(doc);
    json_t *n = suite ? sb_suite_normalize_shallow(doc, &rq->err) : sb_scenario_normalize(doc, &rq->err);
    json_decref(doc);
    if (!n) return -1;
    return sb_reply(rq, json_pack("{s:s, s:s, s:o}", "format", sb_arg_str(rq->body, "format", "json"), "kind",
                                  suite ? "suite" : "scenario", "document", n));
}

int sb_h_document_run(sb_req *rq)
{
    json_t *doc = body_document(rq);
    if (!doc) return -1;
    int rc = run_document(rq, doc, NULL);
    json_decref(doc);
    return rc;
}

int sb_h_replay(sb_req *rq)
{
    const char *name = sb_arg_str(rq->body, "scenario", "");
    const char *of = sb_arg_str(rq->body, "replay_of", NULL);
    if (of) {
        json_t *info = sb_flow_info(of);
        if (!info) return sb_fail(&rq->err, 404, "not_found", "no flow '%s' is retained (GET /demo/flows)", of);
        json_decref(info);
        sb_flow_meta(rq->flow_id, "replay_of", json_string(of));
    }
    json_t *r = sb_named_run(rq->flow, name, NULL, &rq->err);
    if (!r) return -1;
    sb_flow_meta(rq->flow_id, "scenario", json_string(name));
    if (of) json_object_set_new(r, "replay_of", json_string(of));
    return sb_reply(rq, r);
}

/* ------------------------------------------------------ profiles compare */

static atomic_uint compare_runs;

/* Run the recipe on a temporary lab of profile; its events join rq's flow,
   marked with the profile. */
static json_t *compare_on(sb_req *rq, const char *profile, const json_t *recipe, const char *named)
{
    char sqlite_path[256] = "", schema[64] = "";
    unsigned n = atomic_fetch_add(&compare_runs, 1);
    if (strcmp(profile, "sqlite-file") == 0) {
        snprintf(sqlite_path, sizeof sqlite_path, "%s/hcache-sandbox-compare-%ld-%u.sqlite",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), n);
        remove(sqlite_path);
    }
    if (strcmp(profile, "postgres") == 0) snprintf(schema, sizeof schema, "hcache_sandbox_cmp_%ld_%u", (long)getpid(), n);
    sb_backend_config cfg = {profile, sqlite_path, sb_config.database_url, schema, sb_config.data_dir};
    double t0 = sb_now_ms_f();
    sb_lab *lab;
    sb_err e;
    json_t *out = NULL;
    if (sb_lab_open(&lab, "compare", &cfg, &e) != 0) {
        out = json_pack("{s:s, s:b, s:b, s:o}", "profile", profile, "skipped", 0, "passed", 0, "error", sb_err_json(&e));
    } else {
        sb_flow f;
        if (sb_flow_begin(&f, lab, rq->flow_id, &e) == 0) {
            json_t *r = named ? sb_named_run(&f, named, NULL, &e) : sb_scenario_run(&f, recipe, &e);
            sb_flow_end(&f);
            out = json_pack("{s:s, s:b, s:b, s:f}", "profile", profile, "skipped", 0, "passed",
                            r && json_is_true(json_object_get(r, "passed")), "elapsed_ms", sb_now_ms_f() - t0);
            json_object_set_new(out, r ? "result" : "error", r ? r : sb_err_json(&e));
        } else {
            out = json_pack("{s:s, s:b, s:b, s:o}", "profile", profile, "skipped", 0, "passed", 0, "error",
                            sb_err_json(&e));
        }
        if (schema[0]) sb_backend_drop(sb_lab_backend(lab));
        sb_lab_close(lab);
    }
    if (sqlite_path[0]) {
        char extra[300];
        remove(sqlite_path);
        snprintf(extra, sizeof extra, "%s-journal", sqlite_path);
        remove(extra);
    }
    return out;
}

int sb_h_profiles_compare(sb_req *rq)
{
    const char *named = sb_arg_str(rq->body, "scenario", NULL);
    const char *file = sb_arg_str(rq->body, "file", NULL);
    bool has_doc = json_object_get(rq->body, "document") != NULL;
    if ((named != NULL) + (file != NULL) + has_doc != 1)
        return sb_fail(&rq->err, 400, "invalid", "body: give one of scenario, file, or format and document");
    json_t *doc = NULL, *recipe = NULL;
    if (file) doc = sb_scenario_file_load(file, &rq->err);
    else if (has_doc) doc = body_document(rq);
    if ((file || has_doc) && !doc) return -1;
    if (doc) {
        if (suite_doc(doc)) {
            json_decref(doc);
            return sb_fail(&rq->err, 400, "invalid", "compare runs one scenario, not a suite");
        }
        recipe = sb_scenario_normalize(doc, &rq->err);
        json_decref(doc);
        if (!recipe) return -1;
    }
    char label[256];
    sb_strf(label, sizeof label, "%s", named ? named : json_string_value(json_object_get(recipe, "name")));
    static const char *const profiles[] = {"memory", "sqlite-memory", "sqlite-file", "postgres"};
    json_t *results = json_array();
    bool passed = true;
    for (size_t i = 0; i < 4; i++) {
        json_t *r;
        if (i == 3 && !sb_config.database_url[0])
            r = json_pack("{s:s, s:b, s:s}", "profile", "postgres", "skipped", 1, "reason",
                          "no PostgreSQL configured: start with --database-url (or HYDRACACHE_SANDBOX_DATABASE_URL)");
        else
            r = compare_on(rq, profiles[i], recipe, named);
        if (!json_is_true(json_object_get(r, "skipped"))) passed = passed && json_is_true(json_object_get(r, "passed"));
        json_array_append_new(results, r);
    }
    json_decref(recipe);
    sb_flow_note(rq->flow, "profiles-compared", json_pack("{s:s, s:b}", "recipe", label, "passed", passed));
    return sb_reply(rq, json_pack("{s:s, s:b, s:o}", "recipe", label, "passed", passed, "profiles", results));
}
