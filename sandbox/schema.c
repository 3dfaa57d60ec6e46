/*
** schema.c -- the route table's schema notation, and checking values
** against the schemas it makes.
**
** The notation keeps the route table readable: a request written as
**
**     {key: string(1..1024), ttl_ms?: integer(1..86400000), tags?: [string](..32)}
**
** becomes the JSON Schema the OpenAPI document shows and the server checks
** requests against, so a route cannot take what its documentation does not
** say. The grammar:
**
**     type    := base [bounds] { '|' alt }
**     base    := string | integer | number | boolean | any | object
**              | '{' [members] '}' | '[' type ']' | '"' text '"' | '@' Name
**     alt     := '"' text '"' | null          (more enum values; nullable)
**     bounds  := '(' [number] '..' [number] ')'   lengths, values or items
**     members := member { ',' member } [ ',' '...' ] | '...'
**     member  := name ['?'] ':' type
*/
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

typedef struct parser {
    const char *s, *p;
    bool request;
    sb_err *e;
} parser;

static void skip(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static bool eat(parser *ps, char c)
{
    skip(ps);
    if (*ps->p != c) return false;
    ps->p++;
    return true;
}

static json_t *fail(parser *ps, const char *what)
{
    sb_fail(ps->e, 500, "schema", "schema notation at %d of \"%s\": %s", (int)(ps->p - ps->s), ps->s, what);
    return NULL;
}

static size_t word(parser *ps, char *buf, size_t size)
{
    skip(ps);
    size_t n = 0;
    while ((isalnum((unsigned char)*ps->p) || *ps->p == '_') && n + 1 < size) buf[n++] = *ps->p++;
    buf[n] = 0;
    return n;
}

static json_t *type(parser *ps);

static bool number(parser *ps, double *v)
{
    skip(ps);
    char *end;
    *v = strtod(ps->p, &end);
    if (end == ps->p) return false;
    /* strtod reads "1." of "1..5" as 1.0: give the dot back. */
    if (end > ps->p && end[-1] == '.' && end[0] == '.') end--;
    ps->p = end;
    return true;
}

/* (min..max) after a base type: which keywords depends on the type. */
static bool bounds(parser *ps, json_t *t)
{
    if (!eat(ps, '(')) return true;
    double lo, hi;
    bool has_lo = number(ps, &lo);
    skip(ps);
    if (strncmp(ps->p, "..", 2) != 0) return false;
    ps->p += 2;
    bool has_hi = number(ps, &hi);
    if (!eat(ps, ')')) return false;
    const char *ty = json_string_value(json_object_get(t, "type"));
    const char *kmin = "minimum", *kmax = "maximum";
    if (ty && strcmp(ty, "string") == 0) kmin = "minLength", kmax = "maxLength";
    if (ty && strcmp(ty, "array") == 0) kmin = "minItems", kmax = "maxItems";
    bool whole = !ty || strcmp(ty, "number") != 0;
    if (has_lo) json_object_set_new(t, kmin, whole ? json_integer((json_int_t)lo) : json_real(lo));
    if (has_hi) json_object_set_new(t, kmax, whole ? json_integer((json_int_t)hi) : json_real(hi));
    return true;
}

static json_t *quoted(parser *ps)
{
    skip(ps);
    if (*ps->p != '"') return NULL;
    const char *start = ++ps->p;
    while (*ps->p && *ps->p != '"') ps->p++;
    if (!*ps->p) return NULL;
    json_t *s = json_stringn(start, (size_t)(ps->p - start));
    ps->p++;
    return s;
}

static json_t *object(parser *ps)
{
    json_t *t = json_pack("{s:s}", "type", "object");
    json_t *props = json_object(), *req = json_array();
    bool open = false;
    skip(ps);
    if (!eat(ps, '}')) {
        for (;;) {
            skip(ps);
            if (strncmp(ps->p, "...", 3) == 0) {
                ps->p += 3;
                open = true;
                if (!eat(ps, '}')) goto bad;
                break;
            }
            char name[64];
            if (!word(ps, name, sizeof name)) goto bad;
            bool optional = eat(ps, '?');
            if (!eat(ps, ':')) goto bad;
            json_t *m = type(ps);
            if (!m) goto bad;
            json_object_set_new(props, name, m);
            if (!optional) json_array_append_new(req, json_string(name));
            if (eat(ps, '}')) break;
            if (!eat(ps, ',')) goto bad;
        }
    }
    if (json_object_size(props)) json_object_set(t, "properties", props);
    if (json_array_size(req)) json_object_set(t, "required", req);
    if (ps->request && !open) json_object_set_new(t, "additionalProperties", json_false());
    json_decref(props);
    json_decref(req);
    return t;
bad:
    json_decref(t);
    json_decref(props);
    json_decref(req);
    return fail(ps, "bad object");
}

static json_t *type(parser *ps)
{
    skip(ps);
    json_t *t = NULL;
    char name[64];
    if (eat(ps, '{')) {
        t = object(ps);
    } else if (eat(ps, '[')) {
        json_t *items = type(ps);
        if (!items || !eat(ps, ']')) {
            json_decref(items);
            return fail(ps, "bad array");
        }
        t = json_pack("{s:s, s:o}", "type", "array", "items", items);
    } else if (*ps->p == '"') {
        json_t *v = quoted(ps);
        if (!v) return fail(ps, "unterminated string");
        t = json_pack("{s:s, s:[o]}", "type", "string", "enum", v);
    } else if (eat(ps, '@')) {
        if (!word(ps, name, sizeof name)) return fail(ps, "a component name after '@'");
        char ref[128];
        snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
        t = json_pack("{s:s}", "$ref", ref);
    } else if (word(ps, name, sizeof name)) {
        if (strcmp(name, "string") == 0) t = json_pack("{s:s}", "type", "string");
        else if (strcmp(name, "integer") == 0) t = json_pack("{s:s, s:s}", "type", "integer", "format", "int64");
        else if (strcmp(name, "number") == 0) t = json_pack("{s:s}", "type", "number");
        else if (strcmp(name, "boolean") == 0) t = json_pack("{s:s}", "type", "boolean");
        else if (strcmp(name, "object") == 0) t = json_pack("{s:s}", "type", "object");
        else if (strcmp(name, "any") == 0) t = json_object();
        else return fail(ps, "unknown type");
    } else {
        return fail(ps, "a type");
    }
    if (!t) return NULL;
    if (!bounds(ps, t)) {
        json_decref(t);
        return fail(ps, "bad bounds");
    }
    while (eat(ps, '|')) {
        skip(ps);
        if (strncmp(ps->p, "null", 4) == 0) {
            ps->p += 4;
            json_object_set_new(t, "nullable", json_true());
            continue;
        }
        json_t *v = quoted(ps);
        json_t *en = json_object_get(t, "enum");
        if (!v || !en) {
            json_decref(v);
            json_decref(t);
            return fail(ps, "'|' takes another \"value\" or null");
        }
        json_array_append_new(en, v);
    }
    return t;
}

json_t *sb_schema_parse(const char *text, bool request, sb_err *e)
{
    parser ps = {text, text, request, e};
    json_t *t = type(&ps);
    skip(&ps);
    if (t && *ps.p) {
        json_decref(t);
        return fail(&ps, "text after the type");
    }
    return t;
}

/* ------------------------------------------------------------- components */


static json_t *components;
static pthread_once_t components_once = PTHREAD_ONCE_INIT;
static sb_err components_err;

static void parse_components(void)
{
    json_t *all = json_object();
    for (const sb_component *c = sb_components; c->name; c++) {
        json_t *t = sb_schema_parse(c->schema, false, &components_err);
        if (!t) {
            json_decref(all);
            return;
        }
        json_object_set_new(all, c->name, t);
    }
    components = all;
}

json_t *sb_schema_components(sb_err *e)
{
    pthread_once(&components_once, parse_components);
    if (!components && e) *e = components_err;
    return components;
}

/* --------------------------------------------------------------- checking */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int check(const json_t *s, const json_t *v, char *where, size_t wlen, size_t wsize, sb_err *e)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (ref) {
        const char *name = strrchr(ref, '/');
        json_t *all = sb_schema_components(e);
        s = all && name ? json_object_get(all, name + 1) : NULL;
        if (!s) return sb_fail(e, 500, "schema", "unknown schema '%s'", ref);
    }
    where[wlen] = 0;
    if (json_is_null(v) && json_is_true(json_object_get(s, "nullable"))) return 0;
    const char *ty = json_string_value(json_object_get(s, "type"));
    if (!ty) return 0;                                      /* any */
    bool ok = strcmp(ty, "object") == 0    ? json_is_object(v)
              : strcmp(ty, "array") == 0   ? json_is_array(v)
              : strcmp(ty, "string") == 0  ? json_is_string(v)
              : strcmp(ty, "integer") == 0 ? json_is_integer(v)
              : strcmp(ty, "number") == 0  ? json_is_number(v)
              : strcmp(ty, "boolean") == 0 ? json_is_boolean(v)
                                           : true;
    if (!ok) return sb_fail(e, 400, "invalid", "%s: must be %s, not %s", where,
                            strcmp(ty, "integer") == 0 ? "an integer" : strcmp(ty, "object") == 0 ? "an object"
                            : strcmp(ty, "array") == 0 ? "an array" : strcmp(ty, "string") == 0   ? "a string"
                            : strcmp(ty, "number") == 0 ? "a number" : "a boolean",
                            type_name(v));
    json_t *lo, *hi;
    if (json_is_string(v)) {
        size_t bytes = json_string_length(v);
        /* Lengths count characters, as JSON Schema's maxLength does. */
        size_t n = sb_utf8_count(json_string_value(v), bytes);
        json_t *en = json_object_get(s, "enum");
        if (en) {
            size_t i;
            json_t *x;
            json_array_foreach(en, i, x) if (json_equal(x, v)) return 0;
            char list[256] = "";
            json_array_foreach(en, i, x) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s'%s'", i ? ", " : "", json_string_value(x));
            }
            return sb_fail(e, 400, "invalid", "%s: must be one of %s", where, list);
        }
        if ((lo = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(lo))
            return sb_fail(e, 400, "invalid", "%s: must have at least %lld characters", where,
                           (long long)json_integer_value(lo));
        if ((hi = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(hi))
            return sb_fail(e, 400, "invalid", "%s: must have at most %lld characters", where,
                           (long long)json_integer_value(hi));
        if (memchr(json_string_value(v), 0, bytes))
            return sb_fail(e, 400, "invalid", "%s: must not hold a NUL character", where);
    } else if (json_is_number(v)) {
        double x = json_number_value(v);
        if ((lo = json_object_get(s, "minimum")) && x < json_number_value(lo))
            return sb_fail(e, 400, "invalid", "%s: must be at least %g", where, json_number_value(lo));
        if ((hi = json_object_get(s, "maximum")) && x > json_number_value(hi))
            return sb_fail(e, 400, "invalid", "%s: must be at most %g", where, json_number_value(hi));
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((lo = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(lo))
            return sb_fail(e, 400, "invalid", "%s: must have at least %lld items", where,
                           (long long)json_integer_value(lo));
        if ((hi = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(hi))
            return sb_fail(e, 400, "invalid", "%s: must have at most %lld items", where,
                           (long long)json_integer_value(hi));
        const json_t *items = json_object_get(s, "items");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            snprintf(where + wlen, wsize - wlen, "[%zu]", i);
            if (check(items, x, where, strlen(where), wsize, e) != 0) return -1;
            where[wlen] = 0;
        }
    } else if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(s, "required"), i, r) {
            if (!json_object_get(v, json_string_value(r)))
                return sb_fail(e, 400, "invalid", "%s: '%s' is required", where, json_string_value(r));
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            const json_t *ps = json_object_get(props, k);
            if (!ps) {
                if (json_is_false(json_object_get(s, "additionalProperties")))
                    return sb_fail(e, 400, "invalid", "%s: unknown member '%s'", where, k);
                continue;
            }
            snprintf(where + wlen, wsize - wlen, ".%s", k);
            if (check(ps, x, where, strlen(where), wsize, e) != 0) return -1;
            where[wlen] = 0;
        }
    }
    return 0;
}

int sb_schema_check(const json_t *schema, const json_t *v, const char *where, sb_err *e)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", where);
    return check(schema, v, buf, strlen(buf), sizeof buf, e);
}
