/*
** cached.c -- what the code hcachegen writes for a query, policy or
** cacheable runs on: hc_cached_call reads the declaration's descriptor
** (hydracache/gen.h) and does the lookup, the decode, the load on a miss,
** the retry on bytes that do not decode, the messages and the counting;
** and the hc_cached_type of each scalar result.
**
** The hit path is what every cached read pays, so it stays short: the key
** is built in a stack buffer when its length has a bound, hc_try_visit
** decodes the value where it lies in the cache (visit(), which reads the
** option byte and calls the type's decoder), and hc_decl_call counts the
** hit in the thread's own slot. Everything a miss needs (tags, the value
** the loader fills, the encoded bytes) is set up in miss(), out of line,
** and what a hit that claimed a refresh needs in refresh(), out of line too.
*/
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

/* Keys whose bound (hc_cached.key_max) fits are built here, on the stack;
   longer ones, and those without a bound, in memory from malloc. */
#define KEY_STACK 128
/* Tag pointers up to this many live on the stack. */
#define TAGS_STACK 16

/* ---------------------------------------------------------- decoding */

/* A hit as hc_try_visit reports it: the destination, and whether the
   key held a value at all (a stored absence decodes to HC_MISS too). */
typedef struct hit {
    const hc_cached *d;
    void *out;
    bool seen;
} hit;

/* Decode a stored value over out: an option's 0x00 (alone) is HC_MISS. */
static int take(const hc_cached *d, void *out, const void *data, size_t len)
{
    hc_dec dec;
    hc_dec_init(&dec, data, len);
    if (d->flags & HC_CACHED_OPTION) {
        bool some = false;
        int rc = hc_dec_option(&dec, &some);
        if (rc != HC_OK) return rc;
        if (!some) return hc_dec_finish(&dec) == HC_OK ? HC_MISS : HC_ECODEC;
    }
    return d->type->decode(&dec, out, true);
}

static int visit(void *ctx, const void *data, size_t len)
{
    hit *h = ctx;
    h->seen = true;
    return take(h->d, h->out, data, len);
}

/* ---------------------------------------------------------- the miss */

/* What hc_get_or_load's loader needs. */
typedef struct load_ctx {
    const hc_cached *d;
    const void *args;
} load_ctx;

/*
** The hc_load_fn: run the declaration's loader into a zeroed value, encode
** what it returns, and free the value whatever happened. "None" is stored
** as an absence for a nullable result and is an error otherwise.
*/
static int fill(void *ctx, hc_buf *out, hc_error *err)
{
    const load_ctx *lc = ctx;
    const hc_cached *d = lc->d;
    const hc_cached_type *t = d->type;
    /* From malloc, not a stack array: the generated loader stores the
       value through its own type, which an array's declared type of
       unsigned char would not allow. */
    void *v = calloc(1, t->size);
    if (!v) return hc_error_set(err, HC_ENOMEM, "%s: out of memory", d->fn);
    int rc = d->load(lc->args, v, err);
    if (rc == HC_OK && (d->flags & HC_CACHED_TEXT_RETURNED) && !*(char **)v)
        rc = hc_error_set(err, HC_ENOMEM, "%s_load returned NULL", d->fn);
    if (rc == HC_OK) {
        if (d->flags & HC_CACHED_OPTION) rc = hc_enc_option(out, true);
        if (rc == HC_OK) rc = t->encode(out, v);
        if (rc == HC_EINVAL)
            hc_error_set(err, rc, "%s: the loader's value cannot be encoded (a NULL text?)", d->fn);
    } else if (rc == HC_MISS && (d->flags & HC_CACHED_NULLABLE)) {
        rc = hc_enc_option(out, false);             /* the absence is cached */
    } else if (rc == HC_MISS) {
        rc = hc_error_set(err, HC_ENOTFOUND, "%s found nothing", d->label);
    }
    if (t->clear) t->clear(v);
    free(v);
    return rc;
}

/*
** A background refresh's own copy of the call's arguments (text and blob
** ones too, args_copy's work), and its free. NULL when out of memory: the
** refresh then runs on the calling thread.
*/
static void *ctx_copy(void *ctx)
{
    const load_ctx *lc = ctx;
    load_ctx *copy = malloc(sizeof *copy);
    if (!copy) return NULL;
    copy->d = lc->d;
    copy->args = lc->d->args_copy(lc->args);
    if (!copy->args) {
        free(copy);
        return NULL;
    }
    return copy;
}

static void ctx_free(void *ctx)
{
    load_ctx *lc = ctx;
    lc->d->args_free((void *)(uintptr_t)lc->args);
    free(lc);
}

/* The options a declaration stores with: d's TTL and freshness, and the
   tags built into tagb, pointed to from tags (room for d->ntags). */
static int options(const hc_cached *d, const void *args, hc_buf *tagb, const char **tags,
                   hc_options *o)
{
    int rc = HC_OK;
    if (d->tags && d->ntags) {
        rc = d->tags(tagb, args);
        /* Each tag ends with a 0 byte; the pointers go to their starts. */
        const char *p = (const char *)tagb->data;
        for (size_t i = 0; rc == HC_OK && i < d->ntags; i++) {
            tags[i] = p;
            p += strlen(p) + 1;
        }
    }
    memset(o, 0, sizeof *o);
    o->ttl_ms = d->ttl_ms;
    o->tags = tags;
    o->ntags = d->tags ? d->ntags : 0;
    o->refresh_ms = d->refresh_ms;
    o->stale_if_error_ms = d->stale_if_error_ms;
    o->ttl_jitter_percent = d->ttl_jitter_percent;
    return rc;
}

/*
** A miss: build the tags, load under single-flight (or take the load in
** flight), and decode what came back over out. Out of line, so that a hit
** sets up none of this.
*/
static HC_NOINLINE int miss(hc_cache *c, const hc_cached *d, const char *key, const void *args,
                            void *out, hc_error *err)
{
    hc_buf tagb = HC_BUF_INIT, val = HC_BUF_INIT;
    const char *stack_tags[TAGS_STACK];
    const char **tags = stack_tags;
    if (d->ntags > TAGS_STACK) {
        tags = malloc(d->ntags * sizeof *tags);
        if (!tags) return hc_error_set(err, HC_ENOMEM, "%s: out of memory", d->fn);
    }
    hc_options o;
    load_ctx lc = {d, args};
    int rc = options(d, args, &tagb, tags, &o);
    if (rc == HC_OK)
        rc = d->decl ? hc_decl_get_or_load(c, d->decl, key, &o, fill, &lc, &val, err)
                     : hc_get_or_load(c, key, &o, fill, &lc, &val, err);
    if (rc == HC_OK) rc = take(d, out, val.data, val.len);
    hc_buf_free(&val);
    hc_buf_free(&tagb);
    if (tags != stack_tags) free(tags);
    return rc;
}

/*
** A hit claimed the entry's refresh: start it, with the declaration's
** options and loader, on a refresh thread with a copy of the arguments
** (args_copy), or here when the arguments cannot be copied (a caller's
** ctx among them) or the cache has no refresh thread. The value the
** caller gets is already in its out.
*/
static HC_NOINLINE void refresh(hc_cache *c, const hc_cached *d, const void *args,
                                const hc_buf *key)
{
    const char *k = (const char *)key->data;
    uint64_t h = hc__hash(k, key->len);
    hc_buf tagb = HC_BUF_INIT;
    const char *stack_tags[TAGS_STACK];
    const char **tags = d->ntags > TAGS_STACK ? malloc(d->ntags * sizeof *tags) : stack_tags;
    hc_options o;
    load_ctx lc = {d, args};
    if (tags && options(d, args, &tagb, tags, &o) == HC_OK) {
        hc__refresh(c, k, key->len, h, &o, fill, &lc, d->args_copy && d->args_free ? ctx_copy : NULL,
                    ctx_free, d->decl);
    } else {
        uint64_t now = hc__now(c);          /* out of memory: try again later */
        hc__refresh_release(c, k, key->len, h, now + (d->refresh_ms ? d->refresh_ms : 1000));
    }
    hc_buf_free(&tagb);
    if (tags != stack_tags) free(tags);
}

/* ---------------------------------------------------------- the call */

/*
** Everything after a first lookup that was not a plain hit: a miss, bytes
** that do not decode (dropped, then loaded once more), an error; the
** messages and the counting. Out of line, so that the hit path in
** hc_cached_call stays a straight line.
*/
static HC_NOINLINE int settle(hc_cache *c, const hc_cached *d, const void *args, void *out,
                              hc_error *err, const hc_buf *key, hit *h, int rc)
{
    const char *k = (const char *)key->data;
    bool undecoded_hit = false;
    for (int attempt = 0;; attempt++) {
        if (rc == HC_MISS && !h->seen) rc = miss(c, d, k, args, out, err);
        /* Bytes that do not decode are dropped and loaded afresh, once.
           The lookup that found them was a hit all the same (the cache
           counted it): so is it for the declaration. */
        if (rc != HC_ECODEC || attempt > 0) break;
        undecoded_hit |= h->seen;
        hc_remove(c, k);
        h->seen = false;
        rc = hc_try_visit(c, k, key->len, visit, h);
    }
    if (rc == HC_MISS && !(d->flags & HC_CACHED_NULLABLE))
        rc = hc_error_set(err, HC_ENOTFOUND, "no %s", d->entity ? d->entity : d->label);
    else if (rc == HC_ECODEC)
        hc_error_set(err, rc, "cached value for '%s' does not decode", k);
    else if (rc < 0 && err->code == HC_OK)
        hc_error_set(err, rc, "%s: %s", d->fn, hc_strerror(rc));
    if (d->decl) hc_decl_call(c, d->decl, h->seen || undecoded_hit);
    return rc;
}

/*
** The call after its arguments were checked. refreshing (a constant where
** it is inlined) says whether the lookup may claim a due refresh: only a
** declaration with refresh_ms asks, in a copy of this path of its own, so
** that the others run exactly the plain lookup and test nothing more.
*/
HC_INLINE int call(hc_cache *c, const hc_cached *d, const void *args, void *out, hc_error *err,
                   bool refreshing)
{
    uint8_t kmem[KEY_STACK];
    hc_buf key = HC_BUF_INIT;
    if (d->key_max && d->key_max <= sizeof kmem) {
        /* hc_buf_reserve reallocates only when room runs short, which a
           key within its bound never does: no growth, nothing to free. */
        kmem[0] = 0;
        key.data = kmem;
        key.cap = sizeof kmem;
    }
    hit h = {d, out, false};
    bool claimed = false;
    int rc = d->key(&key, args);
    if (rc == HC_OK)
        rc = refreshing ? hc__try_visit(c, (const char *)key.data, key.len, visit, &h, &claimed)
                        : hc_try_visit(c, (const char *)key.data, key.len, visit, &h);
    if (rc == HC_OK) {
        if (d->decl) hc_decl_call(c, d->decl, true);        /* a hit */
    } else {
        rc = settle(c, d, args, out, err, &key, &h, rc);
    }
    if (claimed) refresh(c, d, args, &key);
    if (key.data != kmem) hc_buf_free(&key);
    return rc;
}

static HC_NOINLINE int call_refreshing(hc_cache *c, const hc_cached *d, const void *args,
                                       void *out, hc_error *err)
{
    return call(c, d, args, out, err, true);
}

int hc_cached_call(hc_cache *c, const hc_cached *d, const void *args, void *out, hc_error *err)
{
    hc_error local;
    if (!err) err = &local;
    err->code = HC_OK;                      /* hc_error_clear, without the call */
    err->message[0] = 0;
    if (!d) return hc_error_set(err, HC_EINVAL, "hc_cached_call: no descriptor");
    if (!c) return hc_arg_null(err, d->fn, "c");
    if (!out) return hc_arg_null(err, d->fn, "out");
    if (HC_UNLIKELY(d->refresh_ms)) return call_refreshing(c, d, args, out, err);
    return call(c, d, args, out, err, false);
}

/* ------------------------------------------------------- entities */

int hc_entity_get(hc_cache *c, const char *key, const hc_cached_type *type, void *out)
{
    if (!c || !key || !type || !out) return HC_EINVAL;
    hc_buf val = HC_BUF_INIT;
    int rc = hc_get(c, key, &val);
    if (rc == HC_OK) {
        hc_dec d;
        bool some = false;
        hc_dec_init(&d, val.data, val.len);
        rc = hc_dec_option(&d, &some);
        if (rc == HC_OK && some) rc = type->decode(&d, out, true);
        else if (rc == HC_OK) rc = hc_dec_finish(&d) == HC_OK ? HC_MISS : HC_ECODEC;
        if (rc == HC_ECODEC) {
            hc_remove(c, key);              /* bad bytes: drop them */
            rc = HC_MISS;
        }
    }
    hc_buf_free(&val);
    return rc;
}

int hc_entity_put(hc_cache *c, const char *key, const hc_cached_type *type, const void *value,
                  const hc_options *opts)
{
    if (!c || !key || !type || !value) return HC_EINVAL;
    hc_buf val = HC_BUF_INIT;
    int rc = hc_enc_option(&val, true);
    if (rc == HC_OK) rc = type->encode(&val, value);
    if (rc == HC_OK) rc = hc_put(c, key, val.data, val.len, opts);
    hc_buf_free(&val);
    return rc;
}

/* ------------------------------------------------------- messages */

int hc_arg_null(hc_error *err, const char *fn, const char *arg)
{
    return hc_error_set(err, HC_EINVAL, "%s: argument '%s' is NULL", fn ? fn : "?", arg ? arg : "?");
}

int hc_arg_blob(hc_error *err, const char *fn, const char *arg)
{
    return hc_error_set(err, HC_EINVAL, "%s: argument '%s' has a length and no data", fn ? fn : "?",
                        arg ? arg : "?");
}

int hc_no_row(hc_error *err, const char *fn)
{
    return hc_error_set(err, HC_ENOTFOUND, "%s: no row", fn ? fn : "?");
}

/* ------------------------------------------------------ scalar types */

/*
** The scalars as generated code stored them before this file existed
** (postcard): i32 and i64 zigzagged, u32 and u64 as varints, f64 in 8
** bytes, bool in one, text and blobs with their length. A decoded text or
** blob replaces the old one, which is freed.
*/
#define SCALAR(NAME, T, ENC, DEC)                                              \
    static int NAME##_enc(hc_buf *out, const void *v)                          \
    {                                                                          \
        return ENC(out, *(const T *)v);                                        \
    }                                                                          \
    static int NAME##_dec(hc_dec *d, void *out, bool whole)                    \
    {                                                                          \
        T v;                                                                   \
        int rc = DEC(d, &v);                                                   \
        if (rc == HC_OK && whole) rc = hc_dec_finish(d);                       \
        if (rc == HC_OK) *(T *)out = v;                                        \
        return rc;                                                             \
    }                                                                          \
    const hc_cached_type hc_cached_##NAME = {sizeof(T), NAME##_enc, NAME##_dec, NULL};

static int enc_i32(hc_buf *out, int32_t v) { return hc_enc_i64(out, v); }
static int enc_u32(hc_buf *out, uint32_t v) { return hc_enc_u64(out, v); }

SCALAR(i32, int32_t, enc_i32, hc_dec_i32)
SCALAR(i64, int64_t, hc_enc_i64, hc_dec_i64)
SCALAR(u32, uint32_t, enc_u32, hc_dec_u32)
SCALAR(u64, uint64_t, hc_enc_u64, hc_dec_u64)
SCALAR(f64, double, hc_enc_f64, hc_dec_f64)
SCALAR(bool, bool, hc_enc_bool, hc_dec_bool)

static int text_enc(hc_buf *out, const void *v)
{
    return hc_enc_text(out, *(char *const *)v);
}

static int text_dec(hc_dec *d, void *out, bool whole)
{
    char *s = NULL;
    int rc = hc_dec_text(d, &s);
    if (rc == HC_OK && whole) rc = hc_dec_finish(d);
    if (rc != HC_OK) {
        free(s);
        return rc;
    }
    free(*(char **)out);
    *(char **)out = s;
    return HC_OK;
}

static void text_clear(void *v)
{
    free(*(char **)v);
    *(char **)v = NULL;
}

const hc_cached_type hc_cached_text = {sizeof(char *), text_enc, text_dec, text_clear};

static int blob_enc(hc_buf *out, const void *v)
{
    const hc_bytes *b = v;
    return hc_enc_bytes(out, b->data, b->len);
}

static int blob_dec(hc_dec *d, void *out, bool whole)
{
    hc_bytes b = {NULL, 0};
    int rc = hc_dec_bytes(d, &b);
    if (rc == HC_OK && whole) rc = hc_dec_finish(d);
    if (rc != HC_OK) {
        free(b.data);
        return rc;
    }
    free(((hc_bytes *)out)->data);
    *(hc_bytes *)out = b;
    return HC_OK;
}

static void blob_clear(void *v)
{
    hc_bytes *b = v;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

const hc_cached_type hc_cached_blob = {sizeof(hc_bytes), blob_enc, blob_dec, blob_clear};
