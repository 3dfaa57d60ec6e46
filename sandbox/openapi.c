/*
** openapi.c -- the OpenAPI 3 document of the route table, and the small
** JavaScript fetch client made from that document.
**
** The document is made on each request from the table and the schemas
** routes.c parsed, so it is the server's own description of itself. The
** client is made from the document, not from the table, so that what a
** client can call is exactly what the document says.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static json_t *error_ref(void)
{
    return json_pack("{s:s}", "$ref", "#/components/responses/Error");
}

static json_t *operation(size_t i)
{
    const sb_route *r = &sb_routes[i];
    const sb_route_schemas *sc = sb_route_schemas_get(i);
    json_t *op = json_pack("{s:s, s:s, s:[s]}", "operationId", r->op_id, "summary", r->summary, "tags", r->group);
    json_t *params = json_array();
    for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:O}", "name", name, "in", "path", "required", 1,
                                                "schema", sb_path_param_schema(name)));
    }
    if (sc->query) {
        json_t *req = json_object_get(sc->query, "required");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(sc->query, "properties"), k, v) {
            bool required = false;
            size_t j;
            json_t *x;
            json_array_foreach(req, j, x) required = required || strcmp(json_string_value(x), k) == 0;
            json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:O}", "name", k, "in", "query", "required",
                                                    required, "schema", v));
        }
    }
    if (json_array_size(params)) json_object_set_new(op, "parameters", params);
    else json_decref(params);
    if (sc->request) {
        json_t *media = json_pack("{s:O}", "schema", sc->request);
        json_error_t je;
        json_t *ex = r->example ? json_loads(r->example, 0, &je) : NULL;
        if (ex) json_object_set_new(media, "example", ex);
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:o}}", "required", 0, "content", "application/json", media));
    }
    json_t *responses = json_pack("{s:{s:s, s:{s:{s:O}}}}", "200", "description", "the answer", "content",
                                  r->produces ? r->produces : "application/json", "schema", sc->response);
    if (r->flags & SB_ROUTE_OPEN) {
        json_object_set_new(responses, "503", error_ref());
        json_object_set_new(op, "security", json_array());
    } else {
        json_object_set_new(responses, "401", error_ref());
    }
    if (sc->request || sc->query || strchr(r->path, '{')) json_object_set_new(responses, "400", error_ref());
    if (strchr(r->path, '{') || strstr(r->path, "/file/")) json_object_set_new(responses, "404", error_ref());
    if (sc->request) json_object_set_new(responses, "413", error_ref());
    json_object_set_new(responses, "default", error_ref());
    json_object_set_new(op, "responses", responses);
    return op;
}

json_t *sb_openapi_document(sb_err *e)
{
    json_t *components = sb_schema_components(e);
    if (!components) return NULL;
    json_t *paths = json_object(), *tags = json_array();
    for (size_t i = 0; i < sb_nroutes; i++) {
        const sb_route *r = &sb_routes[i];
        json_t *item = json_object_get(paths, r->path);
        if (!item) json_object_set_new(paths, r->path, item = json_object());
        char method[8];
        size_t j = 0;
        for (; r->method[j] && j + 1 < sizeof method; j++) method[j] = (char)tolower((unsigned char)r->method[j]);
        method[j] = 0;
        json_object_set_new(item, method, operation(i));
        bool seen = false;
        json_t *t;
        json_array_foreach(tags, j, t) seen = seen || strcmp(json_string_value(json_object_get(t, "name")), r->group) == 0;
        if (!seen) json_array_append_new(tags, json_pack("{s:s}", "name", r->group));
    }
    json_t *schemas = json_deep_copy(components);
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:[{}, {s:[]}], s:o, s:{s:o, s:{s:{s:s, s:{s:{s:{s:s}}}}}, "
        "s:{s:{s:s, s:s, s:s}}}}",
        "openapi", "3.0.3", "info", "title", "hcache-sandbox", "version", SB_VERSION, "description",
        "The HydraCache lab server: the cache, database-backed loaders, invalidation, the bus, faults and "
        "benchmarks, without writing an application. Generated from the server's route table.",
        "servers", "url", "/", "tags", tags, "security", "bearer", "paths", paths, "components", "schemas", schemas,
        "responses", "Error", "description", "an error: status, code, message (and line and column for a text "
        "that does not parse)", "content", "application/json", "schema", "$ref", "#/components/schemas/Error",
        "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "description",
        "needed on every route but /ready when the server was started with a token");
}

/* ------------------------------------------------------------- the client */

typedef struct out {
    char  *s;
    size_t len, cap;
    bool   failed;
} out;

static void put(out *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(out *o, const char *fmt, ...)
{
    if (o->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = true;
        return;
    }
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 8192;
        while (cap < o->len + (size_t)n + 1) cap *= 2;
        char *p = realloc(o->s, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->s = p;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

static const char header[] =
    "// Generated by hcache-sandbox --print-client from its OpenAPI document\n"
    "// (GET /openapi.json). DO NOT EDIT: `make sandbox-client` writes it again.\n"
    "//\n"
    "// A minimal fetch client of the HydraCache sandbox, one method per route:\n"
    "// path parameters first, then the body (POST) or the query (GET).\n"
    "//\n"
    "//   import { SandboxClient } from \"./client.js\";\n"
    "//   const sandbox = new SandboxClient(\"http://127.0.0.1:3000\", { token: undefined });\n"
    "//   const first = await sandbox.loadUser(42);   // first.source === \"loader\"\n"
    "//   const again = await sandbox.loadUser(42);   // again.source === \"cache\"\n"
    "\n"
    "export class SandboxError extends Error {\n"
    "  constructor(status, body) {\n"
    "    super(body && body.error ? body.error.message : `HTTP ${status}`);\n"
    "    this.status = status;\n"
    "    this.body = body;\n"
    "  }\n"
    "}\n"
    "\n"
    "export class SandboxClient {\n"
    "  constructor(baseUrl = \"\", options = {}) {\n"
    "    this.baseUrl = baseUrl.replace(/\\/$/, \"\");\n"
    "    this.token = options.token;\n"
    "    this.flowId = options.flowId;\n"
    "    this.fetch = options.fetch || globalThis.fetch.bind(globalThis);\n"
    "  }\n"
    "\n"
    "  async request(method, path, { query, body } = {}) {\n"
    "    let url = this.baseUrl + path;\n"
    "    if (query) {\n"
    "      const q = new URLSearchParams();\n"
    "      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));\n"
    "      if (q.toString()) url += \"?\" + q.toString();\n"
    "    }\n"
    "    const headers = { Accept: \"application/json\" };\n"
    "    if (body !== undefined) headers[\"Content-Type\"] = \"application/json\";\n"
    "    if (this.token) headers.Authorization = `Bearer ${this.token}`;\n"
    "    if (this.flowId) headers[\"X-Flow-Id\"] = this.flowId;\n"
    "    const response = await this.fetch(url, {\n"
    "      method,\n"
    "      headers,\n"
    "      body: body === undefined ? undefined : JSON.stringify(body),\n"
    "    });\n"
    "    const text = await response.text();\n"
    "    const json = (response.headers.get(\"Content-Type\") || \"\").includes(\"json\");\n"
    "    const data = json && text ? JSON.parse(text) : text || null;\n"
    "    if (!response.ok) throw new SandboxError(response.status, data);\n"
    "    return data;\n"
    "  }\n";

char *sb_openapi_client(const json_t *doc)
{
    out o = {0};
    put(&o, "%s", header);
    const char *path;
    json_t *item, *paths = json_object_get(doc, "paths");
    json_object_foreach(paths, path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            char upper[8];
            size_t j = 0;
            for (; method[j] && j + 1 < sizeof upper; j++) upper[j] = (char)toupper((unsigned char)method[j]);
            upper[j] = 0;
            const char *id = json_string_value(json_object_get(op, "operationId"));
            const char *summary = json_string_value(json_object_get(op, "summary"));
            put(&o, "\n  /** %s %s: %s. */\n  async %s(", upper, path, summary ? summary : "", id);
            /* Arguments: path parameters in order, then body or query. */
            size_t k;
            json_t *par;
            json_array_foreach(json_object_get(op, "parameters"), k, par)
                if (strcmp(json_string_value(json_object_get(par, "in")), "path") == 0)
                    put(&o, "%s, ", json_string_value(json_object_get(par, "name")));
            bool body = json_object_get(op, "requestBody") != NULL;
            bool query = false;
            json_array_foreach(json_object_get(op, "parameters"), k, par)
                query = query || strcmp(json_string_value(json_object_get(par, "in")), "query") == 0;
            put(&o, "%s) {\n    return this.request(\"%s\", ", body ? "body = {}" : query ? "query = {}" : "", upper);
            if (strchr(path, '{')) {
                put(&o, "`");
                for (const char *p = path; *p; p++) {
                    if (*p == '{') {
                        const char *end = strchr(p, '}');
                        put(&o, "${encodeURIComponent(%.*s)}", (int)(end - p - 1), p + 1);
                        p = end;
                    } else {
                        put(&o, "%c", *p);
                    }
                }
                put(&o, "`");
            } else {
                put(&o, "\"%s\"", path);
            }
            put(&o, "%s);\n  }\n", body ? ", { body }" : query ? ", { query }" : "");
        }
    }
    put(&o, "}\n");
    if (o.failed) {
        free(o.s);
        return NULL;
    }
    return o.s;
}
