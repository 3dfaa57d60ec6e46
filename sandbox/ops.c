/*
** ops.c -- the operations the routes and the scenario steps share.
**
** A route such as POST /demo/cache/put and the scenario step `put` run the
** same function here, so a recipe reproduces exactly what a manual check
** did. Each operation names its keys and tags to its flow (so the flow
** keeps their events), measures its own latency, and answers a JSON object.
**
** "source" says where a value came from: "loader" when this call ran the
** loader (the sandbox's loaders say so through their context), "cache" for
** a hit, "single-flight" when it waited for another caller's load. The
** generated queries run their own loader, so for them it is read from the
** cache's events of this flow.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "sandbox.hc.h"

/* ------------------------------------------------------------- helpers */

static json_t *user_json(const sandbox_user *u)
{
    return json_pack("{s:I, s:s, s:o, s:s}", "id", (json_int_t)u->id, "name", u->name ? u->name : "",
                     "email", u->email ? json_string(u->email) : json_null(), "team", u->team ? u->team : "");
}

static json_t *product_json(const sandbox_product *p)
{
    return json_pack("{s:I, s:s, s:s, s:f, s:i}", "id", (json_int_t)p->id, "name", p->name ? p->name : "",
                     "category", p->category ? p->category : "", "price", p->price, "stock", (int)p->stock);
}

static json_t *order_json(const sandbox_order_summary *o)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:I, s:f}", "id", (json_int_t)o->id, "user_id",
                     (json_int_t)o->user_id, "user_name", o->user_name ? o->user_name : "", "status",
                     o->status ? o->status : "", "items", (json_int_t)o->items, "total", o->total);
}

static const char *source_of(sb_flow *f, size_t from, const char *key, bool ran)
{
    if (ran) return "loader";
    if (sb_flow_saw(f, from, "single-flight-joined", key)) return "single-flight";
    if (sb_flow_saw(f, from, "load-started", key)) return "loader";
    return "cache";
}

static void finish(sb_flow *f, const char *verb, json_t *out, double started)
{
    double ms = sb_now_ms_f() - started;
    sb_latency_add(verb, ms);
    json_object_set_new(out, "latency_ms", json_real((double)(long)(ms * 1000) / 1000.0));
    sb_flow_collect(f);
}

/* The options of put and get_or_load: ttl_ms and tags from args. tags
   points into args, which outlives the call. */
typedef struct opts_buf {
    hc_options  o;
    const char *tags[32];
} opts_buf;

static const hc_options *options(sb_flow *f, const json_t *args, opts_buf *b)
{
    memset(b, 0, sizeof *b);
    b->o.ttl_ms = (uint64_t)sb_arg_int(args, "ttl_ms", 0);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(args, "tags"), i, t) {
        if (i >= 32) break;
        b->tags[i] = json_string_value(t);
        sb_flow_touch(f, b->tags[i]);
        b->o.ntags = i + 1;
    }
    b->o.tags = b->o.ntags ? b->tags : NULL;
    return &b->o;
}

/* A value is any JSON; the cache holds its text. */
static json_t *value_of(const hc_buf *v)
{
    json_error_t je;
    json_t *x = v->len ? json_loadb((const char *)v->data, v->len, JSON_DECODE_ANY, &je) : NULL;
    return x ? x : json_stringn(v->data ? (const char *)v->data : "", v->len);
}

/* ------------------------------------------------------------- raw cache */

static int op_put(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    const char *key = sb_arg_str(args, "key", "");
    sb_flow_touch(f, key);
    opts_buf ob;
    const hc_options *o = options(f, args, &ob);
    char *text = json_dumps(json_object_get(args, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) return sb_fail(e, 500, "internal", "out of memory");
    int rc = hc_put(sb_lab_cache(f->lab), key, text, strlen(text), o);
    free(text);
    if (rc == HC_ETOOBIG) return sb_fail(e, 413, "too_big", "the entry is larger than the cache accepts");
    if (rc != HC_OK) return sb_fail_hc(e, rc, NULL, "put");
    sb_set(out, "stored", json_true());
    sb_set(out, "key", json_string(key));
    finish(f, "put", out, t0);
    return 0;
}

static int op_get(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    const char *key = sb_arg_str(args, "key", "");
    sb_flow_touch(f, key);
    hc_buf v = HC_BUF_INIT;
    int rc = hc_get(sb_lab_cache(f->lab), key, &v);
    if (rc < 0) {
        hc_buf_free(&v);
        return sb_fail_hc(e, rc, NULL, "get");
    }
    sb_set(out, "key", json_string(key));
    sb_set(out, "found", json_boolean(rc == HC_OK));
    if (rc == HC_OK) {
        sb_set(out, "value", value_of(&v));
        sb_set(out, "source", json_string("cache"));
    }
    hc_buf_free(&v);
    finish(f, "get", out, t0);
    return 0;
}

typedef struct raw_load {
    sb_flow    *f;
    const json_t *args;
    bool        ran;
} raw_load;

static int raw_loader(void *ctx, hc_buf *out, hc_error *err)
{
    raw_load *r = ctx;
    double t0 = sb_now_ms_f();
    r->ran = true;
    sb_lab_count(r->f->lab, SB_LOADER_RAW);
    int64_t delay = sb_arg_int(r->args, "loader_delay_ms", 0);
    if (delay > 0) sb_sleep_ms((uint64_t)delay);
    const json_t *fail = json_object_get(r->args, "loader_error");
    int rc = HC_OK;
    if (json_is_string(fail) || json_is_true(fail)) {
        rc = hc_error_set(err, HC_ELOAD, "%s",
                          json_is_string(fail) ? json_string_value(fail) : "the loader failed, as asked");
    } else {
        char *text = json_dumps(json_object_get(r->args, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
        rc = text ? hc_buf_set(out, text, strlen(text)) : HC_ENOMEM;
        free(text);
    }
    double ms = sb_now_ms_f() - t0;
    sb_latency_add("loader", ms);
    sb_flow_note(r->f, "loader-call", json_pack("{s:s, s:s, s:f, s:b}", "loader", "raw", "key",
                                                sb_arg_str(r->args, "key", ""), "latency_ms", ms, "failed",
                                                rc != HC_OK));
    return rc;
}

static int op_get_or_load(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    const char *key = sb_arg_str(args, "key", "");
    sb_flow_touch(f, key);
    opts_buf ob;
    const hc_options *o = options(f, args, &ob);
    raw_load r = {f, args, false};
    size_t from = sb_flow_mark(f);
    hc_buf v = HC_BUF_INIT;
    hc_error err;
    int rc = hc_get_or_load(sb_lab_cache(f->lab), key, o, raw_loader, &r, &v, &err);
    sb_set(out, "key", json_string(key));
    if (rc == HC_OK) {
        sb_set(out, "found", json_true());
        sb_set(out, "value", value_of(&v));
        sb_set(out, "source", json_string(source_of(f, from, key, r.ran)));
    } else if (rc == HC_ELOAD) {
        sb_set(out, "found", json_false());
        sb_set(out, "source", json_string(r.ran ? "loader" : "single-flight"));
        sb_set(out, "error", json_pack("{s:s, s:s}", "code", hc_err_name(rc), "message", err.message));
        sb_set(out, "stored", json_boolean(hc_contains(sb_lab_cache(f->lab), key)));
    } else {
        hc_buf_free(&v);
        return sb_fail_hc(e, rc, &err, "get-or-load");
    }
    hc_buf_free(&v);
    finish(f, "get_or_load", out, t0);
    return 0;
}

static int op_contains(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    (void)e;
    double t0 = sb_now_ms_f();
    const char *key = sb_arg_str(args, "key", "");
    sb_flow_touch(f, key);
    sb_set(out, "key", json_string(key));
    sb_set(out, "found", json_boolean(hc_contains(sb_lab_cache(f->lab), key)));
    finish(f, "contains", out, t0);
    return 0;
}

static int remove_like(sb_flow *f, const json_t *args, json_t *out, sb_err *e, bool invalidate)
{
    double t0 = sb_now_ms_f();
    const char *key = sb_arg_str(args, "key", "");
    sb_flow_touch(f, key);
    hc_cache *c = sb_lab_cache(f->lab);
    int rc = invalidate ? hc_invalidate_key(c, key) : hc_remove(c, key);
    if (rc < 0) return sb_fail_hc(e, rc, NULL, invalidate ? "invalidate-key" : "remove");
    sb_set(out, "key", json_string(key));
    sb_set(out, "found", json_boolean(rc == HC_OK));
    sb_set(out, "removed", json_integer(rc == HC_OK));
    finish(f, invalidate ? "invalidate_key" : "remove", out, t0);
    return 0;
}

static int op_remove(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    return remove_like(f, args, out, e, false);
}

static int op_invalidate_key(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    return remove_like(f, args, out, e, true);
}

static int op_invalidate_tag(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    const char *tag = sb_arg_str(args, "tag", "");
    sb_flow_touch(f, tag);
    uint64_t n = 0;
    int rc = hc_invalidate_tag(sb_lab_cache(f->lab), tag, &n);
    if (rc != HC_OK) return sb_fail_hc(e, rc, NULL, "invalidate-tag");
    sb_set(out, "tag", json_string(tag));
    sb_set(out, "removed", json_integer((json_int_t)n));
    sb_set(out, "found", json_boolean(n > 0));
    finish(f, "invalidate_tag", out, t0);
    return 0;
}

static int op_flush(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    (void)args;
    double t0 = sb_now_ms_f();
    sb_flow_touch_all(f);
    hc_diagnostics d;
    hc_diagnostics_get(sb_lab_cache(f->lab), &d);
    int rc = hc_flush(sb_lab_cache(f->lab));
    if (rc != HC_OK) return sb_fail_hc(e, rc, NULL, "flush");
    sb_set(out, "flushed", json_true());
    sb_set(out, "entries_before", json_integer((json_int_t)d.entries));
    finish(f, "flush", out, t0);
    return 0;
}

static int op_sleep(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    (void)e;
    double t0 = sb_now_ms_f();
    int64_t ms = sb_arg_int(args, "ms", 0);
    sb_sleep_ms((uint64_t)ms);
    sb_set(out, "slept_ms", json_integer(ms));
    finish(f, "sleep", out, t0);
    return 0;
}

static int op_reset(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    (void)args;
    double t0 = sb_now_ms_f();
    sb_flow_touch_all(f);
    if (sb_lab_reset(f->lab, e) != 0) return -1;
    sb_flow_note(f, "reset", json_pack("{s:s}", "profile", sb_lab_profile(f->lab)));
    sb_set(out, "reset", json_true());
    sb_set(out, "profile", json_string(sb_lab_profile(f->lab)));
    finish(f, "reset", out, t0);
    return 0;
}

/* ---------------------------------------------------------------- domain */

typedef struct dom_load {
    sb_flow *f;
    int      which;         /* SB_LOADER_* */
    bool     ran;
} dom_load;

static void loader_note(dom_load *d, const char *what, int64_t id, int rc, double t0)
{
    double ms = sb_now_ms_f() - t0;
    sb_lab_count(d->f->lab, d->which);
    sb_latency_add("loader", ms);
    json_t *o = json_pack("{s:s, s:I, s:s, s:f, s:s}", "loader", what, "id", (json_int_t)id, "backend",
                          sb_backend_kind(sb_lab_backend(d->f->lab)), "latency_ms", ms, "result",
                          rc == HC_OK ? "found" : rc == HC_MISS ? "none" : hc_err_name(rc));
    sb_flow_note(d->f, "loader-call", o);
}

static int user_loader(void *ctx, int64_t id, sandbox_user *out, hc_error *err)
{
    dom_load *d = ctx;
    double t0 = sb_now_ms_f();
    d->ran = true;
    int rc = sb_backend_user(sb_lab_backend(d->f->lab), id, out, err);
    loader_note(d, "user", id, rc, t0);
    return rc;
}

static int product_loader(void *ctx, int64_t id, sandbox_product *out, hc_error *err)
{
    dom_load *d = ctx;
    double t0 = sb_now_ms_f();
    d->ran = true;
    int rc = sb_backend_product(sb_lab_backend(d->f->lab), id, out, err);
    loader_note(d, "product", id, rc, t0);
    return rc;
}

static int order_loader(void *ctx, int64_t id, sandbox_order_summary *out, hc_error *err)
{
    dom_load *d = ctx;
    double t0 = sb_now_ms_f();
    d->ran = true;
    int rc = sb_backend_order(sb_lab_backend(d->f->lab), id, out, err);
    loader_note(d, "order-summary", id, rc, t0);
    return rc;
}

/* Name the entity's key and tags to the flow; key gets the cache key. */
static void touch_entity(sb_flow *f, int (*keyfn)(hc_buf *, int64_t), const char *prefix, int64_t id,
                         char *key, size_t size)
{
    hc_buf k = HC_BUF_INIT;
    key[0] = 0;
    if (keyfn(&k, id) == HC_OK) snprintf(key, size, "%s", (const char *)k.data);
    hc_buf_free(&k);
    sb_flow_touch(f, key);
    char tag[64];
    snprintf(tag, sizeof tag, "%s:%lld", prefix, (long long)id);
    sb_flow_touch(f, tag);
}

/* The answer to a read of one entity. rc from the generated call. */
static int entity_answer(sb_flow *f, const char *verb, int rc, const hc_error *err, json_t *out,
                         const char *field, json_t *value, const char *key, const char *source, double t0,
                         sb_err *e)
{
    if (rc < 0) {
        json_decref(value);
        if (rc == HC_EDB || rc == HC_ECONN) sb_flow_note(f, "db-error", json_pack("{s:s, s:s}", "key", key, "message", err->message));
        return sb_fail_hc(e, rc, err, verb);
    }
    sb_set(out, "key", json_string(key));
    sb_set(out, "found", json_boolean(rc == HC_OK));
    sb_set(out, "source", json_string(source));
    sb_set(out, "profile", json_string(sb_lab_profile(f->lab)));
    if (rc == HC_OK) {
        const char *name = json_string_value(json_object_get(value, "name"));
        if (name) sb_set(out, "name", json_string(name));
        sb_set(out, field, value);
    } else {
        json_decref(value);
    }
    finish(f, verb, out, t0);
    return 0;
}

static int op_load_user(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_user_key, "user", id, key, sizeof key);
    dom_load d = {f, SB_LOADER_USER, false};
    size_t from = sb_flow_mark(f);
    sandbox_user u = {0};
    hc_error err;
    int rc = sandbox_load_user(sb_lab_cache(f->lab), id, user_loader, &d, &u, &err);
    json_t *v = rc == HC_OK ? user_json(&u) : NULL;
    sandbox_user_clear(&u);
    return entity_answer(f, "load_user", rc, &err, out, "user", v, key, source_of(f, from, key, d.ran), t0, e);
}

static int op_load_product(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_product_key, "product", id, key, sizeof key);
    dom_load d = {f, SB_LOADER_PRODUCT, false};
    size_t from = sb_flow_mark(f);
    sandbox_product p = {0};
    hc_error err;
    int rc = sandbox_load_product(sb_lab_cache(f->lab), id, product_loader, &d, &p, &err);
    json_t *v = rc == HC_OK ? product_json(&p) : NULL;
    sandbox_product_clear(&p);
    return entity_answer(f, "load_product", rc, &err, out, "product", v, key, source_of(f, from, key, d.ran), t0,
                         e);
}

static int op_load_order(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_order_summary_key, "order", id, key, sizeof key);
    sb_flow_touch(f, "users");
    sb_flow_touch(f, "products");
    dom_load d = {f, SB_LOADER_ORDER, false};
    size_t from = sb_flow_mark(f);
    sandbox_order_summary o = {0};
    hc_error err;
    int rc = sandbox_load_order_summary(sb_lab_cache(f->lab), id, order_loader, &d, &o, &err);
    json_t *v = rc == HC_OK ? order_json(&o) : NULL;
    sandbox_order_summary_clear(&o);
    return entity_answer(f, "load_order_summary", rc, &err, out, "order", v, key,
                         source_of(f, from, key, d.ran), t0, e);
}

/*
** The /demo/query routes: on a database profile, the generated cached
** queries themselves (their SQL through the profile's hc_db); on the
** memory profile, which has no SQL, the policies over the in-process store.
*/
static int op_query_user(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    hc_db *db = sb_backend_db(sb_lab_backend(f->lab));
    if (!db) return op_load_user(f, args, out, e);
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_user_key, "user", id, key, sizeof key);
    size_t from = sb_flow_mark(f);
    sandbox_user u = {0};
    hc_error err;
    int rc = sandbox_user_by_id(sb_lab_cache(f->lab), db, id, &u, &err);
    json_t *v = rc == HC_OK ? user_json(&u) : NULL;
    sandbox_user_clear(&u);
    sb_set(out, "query", json_string("sandbox_user_by_id"));
    return entity_answer(f, "query_user", rc, &err, out, "user", v, key, source_of(f, from, key, false), t0, e);
}

static int op_query_product(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    hc_db *db = sb_backend_db(sb_lab_backend(f->lab));
    if (!db) return op_load_product(f, args, out, e);
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_product_key, "product", id, key, sizeof key);
    size_t from = sb_flow_mark(f);
    sandbox_product p = {0};
    hc_error err;
    int rc = sandbox_product_by_id(sb_lab_cache(f->lab), db, id, &p, &err);
    json_t *v = rc == HC_OK ? product_json(&p) : NULL;
    sandbox_product_clear(&p);
    sb_set(out, "query", json_string("sandbox_product_by_id"));
    return entity_answer(f, "query_product", rc, &err, out, "product", v, key, source_of(f, from, key, false),
                         t0, e);
}

static int op_query_order(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    hc_db *db = sb_backend_db(sb_lab_backend(f->lab));
    if (!db) return op_load_order(f, args, out, e);
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_order_summary_key, "order", id, key, sizeof key);
    sb_flow_touch(f, "users");
    sb_flow_touch(f, "products");
    size_t from = sb_flow_mark(f);
    sandbox_order_summary o = {0};
    hc_error err;
    int rc = sandbox_order_summary_by_id(sb_lab_cache(f->lab), db, id, &o, &err);
    json_t *v = rc == HC_OK ? order_json(&o) : NULL;
    sandbox_order_summary_clear(&o);
    sb_set(out, "query", json_string("sandbox_order_summary_by_id"));
    return entity_answer(f, "query_order_summary", rc, &err, out, "order", v, key, source_of(f, from, key, false),
                         t0, e);
}

/*
** The typed view: the entity's generated get and put, as an application
** uses them around a loader of its own (the C form of TypedCache<T>).
*/
static int op_typed_user(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_user_key, "user", id, key, sizeof key);
    hc_cache *c = sb_lab_cache(f->lab);
    sandbox_user u = {0};
    hc_error err;
    hc_error_clear(&err);
    const char *source = "cache";
    int rc = sandbox_user_get(c, id, &u);
    if (rc == HC_MISS) {
        dom_load d = {f, SB_LOADER_USER, false};
        source = "loader";
        rc = user_loader(&d, id, &u, &err);
        if (rc == HC_OK) {
            int prc = sandbox_user_put(c, &u);
            if (prc != HC_OK) rc = hc_error_set(&err, prc, "sandbox_user_put failed");
        }
    }
    json_t *v = rc == HC_OK ? user_json(&u) : NULL;
    sandbox_user_clear(&u);
    sb_set(out, "view", json_string("sandbox_user_get / sandbox_user_put"));
    return entity_answer(f, "typed_user", rc, &err, out, "user", v, key, source, t0, e);
}

static int op_update_user(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    const char *name = sb_arg_str(args, "name", "");
    char key[128];
    touch_entity(f, sandbox_user_key, "user", id, key, sizeof key);
    sb_flow_touch(f, "users");
    int64_t changes = 0;
    hc_error err;
    hc_error_clear(&err);
    int rc = sb_backend_rename(sb_lab_backend(f->lab), sb_lab_cache(f->lab), id, name, &changes, &err);
    if (rc != HC_OK) {
        if (rc == HC_EDB || rc == HC_ECONN) sb_flow_note(f, "db-error", json_pack("{s:s, s:s}", "key", key, "message", err.message));
        return sb_fail_hc(e, rc, &err, "update-user");
    }
    sb_flow_note(f, "user-updated", json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "name", name, "changes",
                                              (json_int_t)changes));
    sb_set(out, "id", json_integer(id));
    sb_set(out, "name", json_string(name));
    sb_set(out, "changes", json_integer(changes));
    sb_set(out, "found", json_boolean(changes > 0));
    sb_set(out, "invalidated", json_pack("[ss]", key + strlen("sandbox:"), "users"));
    finish(f, "update_user", out, t0);
    return 0;
}

static int op_invalidate_user(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    int64_t id = sb_arg_int(args, "id", 0);
    char key[128];
    touch_entity(f, sandbox_user_key, "user", id, key, sizeof key);
    int rc = sandbox_user_invalidate(sb_lab_cache(f->lab), id);
    if (rc != HC_OK) return sb_fail_hc(e, rc, NULL, "invalidate-user");
    char tag[64];
    snprintf(tag, sizeof tag, "user:%lld", (long long)id);
    sb_set(out, "id", json_integer(id));
    sb_set(out, "tag", json_string(tag));
    finish(f, "invalidate_user", out, t0);
    return 0;
}

/* The cached function: sandbox_doubled calls sandbox_doubled_load, which
   has no context argument, so the flow travels in a thread-local. */
static _Thread_local sb_flow *fn_flow;
static _Thread_local bool fn_ran;

int sandbox_doubled_load(int64_t input, int64_t *out, hc_error *err)
{
    double t0 = sb_now_ms_f();
    fn_ran = true;
    if (input > INT64_MAX / 2 || input < INT64_MIN / 2)
        return hc_error_set(err, HC_EINVAL, "double(%lld) overflows", (long long)input);
    *out = input * 2;
    if (fn_flow) {
        sb_lab_count(fn_flow->lab, SB_LOADER_FUNCTION);
        sb_flow_note(fn_flow, "function-call", json_pack("{s:s, s:I, s:f}", "function", "double", "input",
                                                         (json_int_t)input, "latency_ms", sb_now_ms_f() - t0));
    }
    return HC_OK;
}

static int op_call_function(sb_flow *f, const json_t *args, json_t *out, sb_err *e)
{
    double t0 = sb_now_ms_f();
    const char *name = sb_arg_str(args, "name", "double");
    if (strcmp(name, "double") != 0)
        return sb_fail(e, 400, "bad_request", "unknown function '%s' (there is 'double')", name);
    int64_t input = sb_arg_int(args, "input", 0);
    char key[64];
    snprintf(key, sizeof key, "sandbox:double:%lld", (long long)input);
    sb_flow_touch(f, key);
    sb_flow_touch(f, "functions");
    size_t from = sb_flow_mark(f);
    fn_flow = f;
    fn_ran = false;
    int64_t v = 0;
    hc_error err;
    int rc = sandbox_doubled(sb_lab_cache(f->lab), input, &v, &err);
    bool ran = fn_ran;
    fn_flow = NULL;
    sb_set(out, "function", json_string("double"));
    sb_set(out, "input", json_integer(input));
    sb_set(out, "key", json_string(key));
    if (rc == HC_EINVAL) {
        sb_set(out, "found", json_false());
        sb_set(out, "error", json_pack("{s:s, s:s}", "code", hc_err_name(rc), "message", err.message));
    } else if (rc != HC_OK) {
        return sb_fail_hc(e, rc, &err, "call-function");
    } else {
        sb_set(out, "found", json_true());
        sb_set(out, "value", json_integer(v));
    }
    sb_set(out, "source", json_string(ran ? "function" : source_of(f, from, key, false)));
    finish(f, "call_function", out, t0);
    return 0;
}

/* ------------------------------------------------------------- the table */

#define KEY "key: string(1..1024)"
#define TTL "ttl_ms?: integer(1..86400000)"
#define TAGS "tags?: [string(1..256)](..32)"
#define ID "id: integer"

const sb_op sb_ops[] = {
    {"reset", "{}", "put the rows back as seeded, flush the cache, zero the counters", op_reset},
    {"put", "{" KEY ", value: any, " TTL ", " TAGS "}", "store a value (any JSON) under a key", op_put},
    {"get", "{" KEY "}", "read a key", op_get},
    {"get_or_load", "{" KEY ", value: any, " TTL ", " TAGS ", loader_delay_ms?: integer(0..10000), "
                    "loader_error?: any}",
     "read a key, loading value on a miss (the loader may wait or fail, as asked)", op_get_or_load},
    {"contains", "{" KEY "}", "is the key cached", op_contains},
    {"remove", "{" KEY "}", "remove a key", op_remove},
    {"invalidate_key", "{" KEY "}", "invalidate a key", op_invalidate_key},
    {"invalidate_tag", "{tag: string(1..256)}", "invalidate every entry carrying a tag", op_invalidate_tag},
    {"flush", "{}", "remove every entry", op_flush},
    {"sleep", "{ms: integer(0..10000)}", "wait", op_sleep},
    {"load_user", "{" ID "}", "read a user through the cache (policy load_user)", op_load_user},
    {"update_user", "{" ID ", name: string(1..200)}", "rename a user: a write that invalidates", op_update_user},
    {"invalidate_user", "{" ID "}", "invalidate tag user:{id}", op_invalidate_user},
    {"load_product", "{" ID "}", "read a product through the cache (policy load_product)", op_load_product},
    {"load_order_summary", "{" ID "}", "read an order summary through the cache", op_load_order},
    {"call_function", "{name?: \"double\", input: integer}", "call the cached function double", op_call_function},
    {"query_user", "{" ID "}", "the generated cached query user_by_id", op_query_user},
    {"query_product", "{" ID "}", "the generated cached query product_by_id", op_query_product},
    {"query_order_summary", "{" ID "}", "the generated cached query order_summary_by_id", op_query_order},
    {"typed_load_user", "{" ID "}", "the typed view: sandbox_user_get, else load and sandbox_user_put",
     op_typed_user},
    {NULL, NULL, NULL, NULL},
};

#define NOPS (sizeof sb_ops / sizeof sb_ops[0] - 1)
static json_t *schemas[NOPS];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;

static void parse_schemas(void)
{
    for (size_t i = 0; i < NOPS; i++) {
        sb_err e;
        schemas[i] = sb_schema_parse(sb_ops[i].args, true, &e);
        if (!schemas[i]) fprintf(stderr, "hcache-sandbox: op '%s': %s\n", sb_ops[i].verb, e.message);
    }
}

const sb_op *sb_op_find(const char *verb)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(sb_ops[i].verb, verb) == 0) return &sb_ops[i];
    return NULL;
}

int sb_op_run(sb_flow *f, const char *verb, const json_t *args, json_t **out, sb_err *e)
{
    *out = NULL;
    pthread_once(&schemas_once, parse_schemas);
    const sb_op *op = sb_op_find(verb);
    if (!op) return sb_fail(e, 400, "bad_request", "unknown operation '%s'", verb);
    json_t *empty = NULL;
    if (!args) args = empty = json_object();
    size_t i = (size_t)(op - sb_ops);
    if (!schemas[i] || sb_schema_check(schemas[i], args, verb, e) != 0) {
        json_decref(empty);
        return schemas[i] ? -1 : sb_fail(e, 500, "internal", "no schema for '%s'", verb);
    }
    json_t *o = json_object();
    int rc = op->run(f, args, o, e);
    json_decref(empty);
    if (rc != 0) {
        json_decref(o);
        return -1;
    }
    *out = o;
    return 0;
}
