/*
** yaml.c -- YAML text to JSON values, through libyaml's event parser.
**
** Scenario documents are small, so the whole document becomes one jansson
** value. Plain scalars are typed as YAML 1.2's core schema types them
** (null, true/false, integers, floats; anything else is a string); quoted
** scalars are always strings. What a scenario has no use for is refused
** with its position rather than half-supported: aliases (which also rules
** out exponential expansion), several documents in one text, nesting
** deeper than 64, and non-string mapping keys. Errors carry the line and
** column, counted from 1.
*/
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sandbox.h"

#define MAX_DEPTH 64

static int fail_at(sb_err *e, const yaml_mark_t *m, const char *msg)
{
    sb_fail(e, 400, "bad_yaml", "%s", msg);
    e->line = (int)m->line + 1;
    e->column = (int)m->column + 1;
    return -1;
}

static bool is_int(const char *s, json_int_t *v)
{
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    if (!*p) return false;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
    }
    for (const char *q = p; *q; q++) {
        if (base == 10 && !(*q >= '0' && *q <= '9')) return false;
        if (base == 8 && !(*q >= '0' && *q <= '7')) return false;
        if (base == 16 && !((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
            return false;
    }
    if (!*p) return false;
    errno = 0;
    long long x = strtoll(p, NULL, base);
    if (errno == ERANGE) return false;
    *v = (json_int_t)(s[0] == '-' ? -x : x);
    return true;
}

static bool is_float(const char *s, double *v)
{
    if (strcmp(s, ".inf") == 0 || strcmp(s, ".nan") == 0 || strcmp(s, "-.inf") == 0) return false;
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    bool digits = false;
    while (*p >= '0' && *p <= '9') p++, digits = true;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits = true;
    }
    if (!digits) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return false;
    *v = strtod(s, NULL);
    return isfinite(*v);
}

static json_t *scalar(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_stringn(s, len);
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) return json_false();
    json_int_t i;
    if (is_int(s, &i)) return json_integer(i);
    double d;
    if (is_float(s, &d)) return json_real(d);
    return json_stringn(s, len);
}

typedef struct frame {
    json_t *node;               /* an array or an object being filled */
    char   *key;                /* an object's pending key, or NULL */
} frame;

/* Attach a finished value to the top frame, or make it the result. */
static int attach(frame *st, int depth, json_t *v, json_t **root, const yaml_mark_t *m, sb_err *e)
{
    if (depth == 0) {
        *root = v;
        return 0;
    }
    frame *top = &st[depth - 1];
    if (json_is_array(top->node)) {
        json_array_append_new(top->node, v);
        return 0;
    }
    if (!top->key) {
        /* v is a key: only scalars, which arrive as strings here. */
        if (!json_is_string(v)) {
            json_decref(v);
            return fail_at(e, m, "a mapping key must be a plain string");
        }
        top->key = strdup(json_string_value(v));
        json_decref(v);
        return top->key ? 0 : sb_fail(e, 500, "internal", "out of memory");
    }
    if (json_object_get(top->node, top->key)) {
        char msg[300];
        snprintf(msg, sizeof msg, "duplicate key '%s'", top->key);
        int rc = fail_at(e, m, msg);
        json_decref(v);
        return rc;
    }
    json_object_set_new(top->node, top->key, v);
    free(top->key);
    top->key = NULL;
    return 0;
}

json_t *sb_yaml_parse(const char *text, size_t len, sb_err *e)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        sb_fail(e, 500, "internal", "cannot start the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    frame st[MAX_DEPTH];
    int depth = 0, docs = 0;
    json_t *root = NULL;
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            sb_fail(e, 400, "bad_yaml", "%s%s%s", p.problem ? p.problem : "malformed YAML",
                    p.context ? " " : "", p.context ? p.context : "");
            e->line = (int)p.problem_mark.line + 1;
            e->column = (int)p.problem_mark.column + 1;
            rc = -1;
            break;
        }
        const yaml_mark_t *m = &ev.start_mark;
        /* Mapping keys arrive as scalars; anything else there is refused. */
        bool key_slot = depth > 0 && json_is_object(st[depth - 1].node) && !st[depth - 1].key;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = fail_at(e, m, "one document per text (found a second '---')");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail_at(e, m, "aliases (*name) are not supported");
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor) {
                rc = fail_at(e, m, "anchors (&name) are not supported");
                break;
            }
            rc = attach(st, depth, key_slot ? json_stringn((const char *)ev.data.scalar.value,
                                                           ev.data.scalar.length)
                                            : scalar(&ev),
                        &root, m, e);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (key_slot) rc = fail_at(e, m, "a mapping key must be a plain string");
            else if (ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor != NULL
                                                          : ev.data.mapping_start.anchor != NULL)
                rc = fail_at(e, m, "anchors (&name) are not supported");
            else if (depth == MAX_DEPTH) rc = fail_at(e, m, "nested deeper than 64");
            else {
                st[depth].node = ev.type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
                st[depth].key = NULL;
                depth++;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            json_t *v = st[--depth].node;
            free(st[depth].key);
            rc = attach(st, depth, v, &root, m, e);
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    while (depth > 0) {
        depth--;
        json_decref(st[depth].node);
        free(st[depth].key);
    }
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    if (!root) {
        sb_fail(e, 400, "bad_yaml", "the document is empty");
        e->line = e->column = 1;
    }
    return root;
}

json_t *sb_doc_parse(const char *format, const char *text, size_t len, sb_err *e)
{
    if (strcmp(format, "yaml") == 0) return sb_yaml_parse(text, len, e);
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        sb_fail(e, 400, "bad_json", "%s", je.text);
        e->line = je.line > 0 ? je.line : 1;
        e->column = je.column > 0 ? je.column : 1;
    }
    return v;
}
