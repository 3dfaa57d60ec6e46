/*
** api_tools.c -- faults, benchmarks, listeners, the bus, and the OpenAPI
** routes.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int sb_h_faults(sb_req *rq)
{
    json_t *r = sb_faults_run(rq->flow, rq->body, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_bench(sb_req *rq)
{
    json_t *args = json_deep_copy(rq->body);
    json_object_del(args, "flow_id");
    json_t *r = sb_bench_run(rq->flow, args, &rq->err);
    json_decref(args);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_bench_compare(sb_req *rq)
{
    json_t *r = sb_bench_compare(rq->flow, rq->body, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_listeners(sb_req *rq)
{
    json_t *r = sb_listeners_run(rq->flow, rq->body, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_distributed(sb_req *rq)
{
    json_t *r = sb_distributed_run(rq->flow, rq->body, &rq->err);
    return r ? sb_reply(rq, r) : -1;
}

int sb_h_openapi(sb_req *rq)
{
    json_t *doc = sb_openapi_document(&rq->err);
    return doc ? sb_reply(rq, doc) : -1;
}

/* The OpenAPI form of a table path is the path itself: {id} is already
   OpenAPI's parameter syntax. */
int sb_h_client_check(sb_req *rq)
{
    json_t *doc = sb_openapi_document(&rq->err);
    if (!doc) return -1;
    json_t *paths = json_object_get(doc, "paths"), *missing = json_array();
    size_t documented = 0;
    for (size_t i = 0; i < sb_nroutes; i++) {
        const sb_route *r = &sb_routes[i];
        char method[8];
        size_t j = 0;
        for (; r->method[j] && j + 1 < sizeof method; j++) method[j] = (char)(r->method[j] | 0x20);
        method[j] = 0;
        json_t *op = json_object_get(json_object_get(paths, r->path), method);
        bool ok = op && strcmp(json_string_value(json_object_get(op, "operationId")), r->op_id) == 0;
        /* Each {param} of the path is a declared path parameter. */
        for (const char *p = strchr(r->path, '{'); ok && p; p = strchr(p + 1, '{')) {
            const char *end = strchr(p, '}');
            bool found = false;
            size_t k;
            json_t *par;
            json_array_foreach(json_object_get(op, "parameters"), k, par) {
                const char *nm = json_string_value(json_object_get(par, "name"));
                found = found || (nm && strlen(nm) == (size_t)(end - p - 1) && strncmp(nm, p + 1, (size_t)(end - p - 1)) == 0 &&
                                  strcmp(json_string_value(json_object_get(par, "in")), "path") == 0);
            }
            ok = found;
        }
        if (ok) documented++;
        else {
            char name[200];
            snprintf(name, sizeof name, "%s %s", r->method, r->path);
            json_array_append_new(missing, json_string(name));
        }
    }
    json_decref(doc);
    return sb_reply(rq, json_pack("{s:b, s:I, s:I, s:o}", "passed", json_array_size(missing) == 0, "routes",
                                  (json_int_t)sb_nroutes, "documented", (json_int_t)documented, "missing", missing));
}

int sb_h_client_smoke(sb_req *rq)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/openapi/client.js", sb_config.data_dir);
    size_t len;
    char *text = sb_slurp(path, 4 << 20, &len);
    if (!text) return sb_fail(&rq->err, 500, "data_missing", "cannot read the client '%s'", path);
    json_t *doc = sb_openapi_document(&rq->err);
    if (!doc) {
        free(text);
        return -1;
    }
    char *fresh = sb_openapi_client(doc);
    json_decref(doc);
    json_t *missing = json_array();
    size_t methods = 0;
    for (size_t i = 0; i < sb_nroutes; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "  async %s(", sb_routes[i].op_id);
        if (strstr(text, needle)) methods++;
        else json_array_append_new(missing, json_string(sb_routes[i].op_id));
    }
    bool current = fresh && strcmp(fresh, text) == 0;
    free(fresh);
    free(text);
    return sb_reply(rq, json_pack("{s:b, s:s, s:I, s:I, s:o, s:b, s:s}", "passed",
                                  json_array_size(missing) == 0 && current, "file", path, "routes",
                                  (json_int_t)sb_nroutes, "methods", (json_int_t)methods, "missing", missing,
                                  "up_to_date", current, "regenerate", "make sandbox-client"));
}
