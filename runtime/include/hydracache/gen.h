/*
** hydracache/gen.h -- what the code hcachegen writes needs from
** libhydracache: the postcard codec (its hot decoders inline), the pieces
** of key and tag templates, prepared statements over an hc_db, and the
** calls around a generated exec. Applications rarely call these directly.
*/
#ifndef HYDRACACHE_GEN_H
#define HYDRACACHE_GEN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------- codec for generated code */

/*
** The postcard wire format (serde's compact format, the one the original
** HydraCache stores), used by the code hcachegen writes. Encoders append to
** out and return HC_OK or HC_ENOMEM (out unchanged on failure), or HC_EINVAL
** for a NULL s or a NULL p with n > 0:
**   unsigned        LEB128 varint (u32 values go through hc_enc_u64)
**   signed          zigzag, then varint (i32 values go through hc_enc_i64)
**   f64             8 bytes, IEEE 754, little-endian
**   bool            one byte, 0 or 1
**   text, blob      varint length, then the bytes
**   T?              0x00, or 0x01 then T (hc_enc_option)
**   lists           varint count (hc_enc_u64), then the items
*/
HC_API int hc_enc_u64(hc_buf *out, uint64_t v);
HC_API int hc_enc_i64(hc_buf *out, int64_t v);
HC_API int hc_enc_f64(hc_buf *out, double v);
HC_API int hc_enc_bool(hc_buf *out, bool v);
HC_API int hc_enc_option(hc_buf *out, bool present);
HC_API int hc_enc_bytes(hc_buf *out, const void *p, size_t n);
HC_API int hc_enc_text(hc_buf *out, const char *s);    /* s not NULL */

/*
** A decoder reads from [p, end) and never past end. Every hc_dec_* returns
** HC_OK, HC_ECODEC (truncated or malformed input: a varint longer than its
** type allows, 10 bytes or 5 for u32/i32, or overflowing it; a value out of
** range for the type; a bool or option tag other than 0 or 1; text holding a
** NUL byte) or HC_ENOMEM; on failure the output is untouched and the decoder
** should be abandoned. As in postcard, a varint longer than it needs to be
** but within that limit is accepted (80 00 is 0). Text and blob bytes are
** copied into memory from malloc (text NUL-terminated; an empty blob has
** data NULL), which the caller frees with free().
*/
typedef struct hc_dec {
    const uint8_t *p, *end;
} hc_dec;

HC_API int hc_dec_text(hc_dec *d, char **s);
HC_API int hc_dec_bytes(hc_dec *d, hc_bytes *b);

/*
** Decoding over a struct that already holds a value, without allocating
** when the new text fits: generated code reads text and blob fields as
** views of the encoded bytes (checked like hc_dec_text and hc_dec_bytes,
** nothing copied), and once the whole value has decoded, hc_view_commit
** copies all of them into the struct's fields at once. A struct read again
** and again then allocates nothing.
*/
typedef struct hc_view {
    const uint8_t *p;       /* the bytes, inside the decoder's input */
    size_t   n;
    bool     present;       /* false: NULL text, or an empty blob */
    bool     blob;          /* which hc_dec_*_view filled it; a view of a
                               nullable blob that may stay unfilled (its
                               value is null) is set to true by the caller,
                               so hc_view_commit clears it as an hc_bytes */
    uint8_t *mem;           /* hc_view_commit's */
} hc_view;

/*
** Copy n views into n fields: field[i] points to the char * of a text view
** or to the hc_bytes of a blob view; what a field held must come from malloc
** (or be NULL), as everything in generated structs does. A field's memory
** is reused when the new bytes fit in it, and freed when they do not.
** HC_OK, or HC_ENOMEM with every field as it was: memory is allocated for
** all fields before any is written.
*/
HC_API int hc_view_commit(void *const *field, hc_view *v, size_t n);

/*
** The decoders of fixed-size values are inline: a cached read of a struct
** decodes every field, and calls into the library were a third of its time.
** A varint of more than two bytes goes to the out-of-line hc__dec_varint,
** which is exported for this use only.
*/
/* A varint of at most max bytes whose last byte may not exceed last. */
HC_API int hc__dec_varint(hc_dec *d, unsigned max, unsigned last, uint64_t *v);

HC_API HC_INLINE_DEF void hc_dec_init(hc_dec *d, const void *data, size_t len)
{
    d->p = (const uint8_t *)data;
    d->end = len ? d->p + len : d->p;   /* NULL + 0 is undefined */
}

/* Varints of one or two bytes, as most lengths and numbers are, are read
   inline (two bytes hold 14 bits, which every varint type has room for). */
HC_API HC_INLINE_DEF int hc_dec_u64(hc_dec *d, uint64_t *v)
{
    const uint8_t *p = d->p;
    if (p != d->end && p[0] < 0x80) {
        *v = p[0];
        d->p = p + 1;
        return HC_OK;
    }
    if (d->end - p >= 2 && p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        d->p = p + 2;
        return HC_OK;
    }
    return hc__dec_varint(d, 10, 0x01, v);  /* ceil(64 / 7) bytes, 64 - 63 bits left */
}

HC_API HC_INLINE_DEF int hc_dec_u32(hc_dec *d, uint32_t *v)
{
    const uint8_t *p = d->p;
    uint64_t x;
    if (p != d->end && p[0] < 0x80) {
        *v = p[0];
        d->p = p + 1;
        return HC_OK;
    }
    if (d->end - p >= 2 && p[1] < 0x80) {
        *v = (uint32_t)(p[0] & 0x7f) | (uint32_t)p[1] << 7;
        d->p = p + 2;
        return HC_OK;
    }
    int rc = hc__dec_varint(d, 5, 0x0f, &x);    /* ceil(32 / 7) bytes, 32 - 28 bits left */
    if (rc == HC_OK) *v = (uint32_t)x;
    return rc;
}

/* Zigzag back (0, 1, 2, 3 -> 0, -1, 1, -2); nothing overflows: u >> 1 <= INT64_MAX. */
HC_API HC_INLINE_DEF int hc_dec_i64(hc_dec *d, int64_t *v)
{
    uint64_t u;
    int rc = hc_dec_u64(d, &u);
    if (rc == HC_OK) *v = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
    return rc;
}

/* Postcard reads an i32 as a zigzagged u32: one that fits in 32 bits
   unzigzags into int32_t, and one outside int32_t zigzags to more. */
HC_API HC_INLINE_DEF int hc_dec_i32(hc_dec *d, int32_t *v)
{
    uint32_t u;
    int rc = hc_dec_u32(d, &u);
    if (rc == HC_OK) *v = (u & 1) ? -(int32_t)(u >> 1) - 1 : (int32_t)(u >> 1);
    return rc;
}

/* Eight bytes, little-endian whatever the host's byte order. */
HC_API HC_INLINE_DEF int hc_dec_f64(hc_dec *d, double *v)
{
    if (d->end - d->p < 8) return HC_ECODEC;
    uint64_t bits = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&bits, d->p, 8);
#else
    for (int i = 0; i < 8; i++) bits |= (uint64_t)d->p[i] << (8 * i);
#endif
    d->p += 8;
    memcpy(v, &bits, sizeof *v);
    return HC_OK;
}

HC_API HC_INLINE_DEF int hc_dec_bool(hc_dec *d, bool *v)
{
    if (d->p == d->end || *d->p > 1) return HC_ECODEC;
    *v = *d->p++ == 1;
    return HC_OK;
}

HC_API HC_INLINE_DEF int hc_dec_option(hc_dec *d, bool *present)
{
    return hc_dec_bool(d, present);
}

/* A list's count, or a length. HC_ECODEC when it exceeds the bytes left
   (every item takes at least one), so a forged count cannot make the
   caller allocate much. */
HC_API HC_INLINE_DEF int hc_dec_count(hc_dec *d, size_t *n)
{
    hc_dec t = *d;
    uint64_t x;
    int rc = hc_dec_u64(&t, &x);
    if (rc != HC_OK) return rc;
    if (x > (uint64_t)(t.end - t.p)) return HC_ECODEC;
    *d = t;
    *n = (size_t)x;
    return HC_OK;
}

/* HC_OK when every byte was consumed, HC_ECODEC when some are left over. */
HC_API HC_INLINE_DEF int hc_dec_finish(const hc_dec *d)
{
    return d->p == d->end ? HC_OK : HC_ECODEC;
}

/*
** The bytes of a text or a blob, as a view of d's input: the length is
** checked against the bytes left, and text may not hold a NUL (a C string
** cannot). An empty blob is not present: its data is NULL. On failure *v
** is untouched.
*/
HC_API HC_INLINE_DEF int hc_dec_text_view(hc_dec *d, hc_view *v)
{
    hc_dec t = *d;
    size_t n;
    int rc = hc_dec_count(&t, &n);
    if (rc != HC_OK) return rc;
    if (n && memchr(t.p, 0, n)) return HC_ECODEC;
    v->p = t.p;
    v->n = n;
    v->present = true;
    v->blob = false;
    v->mem = NULL;
    d->p = t.p + n;
    return HC_OK;
}

HC_API HC_INLINE_DEF int hc_dec_bytes_view(hc_dec *d, hc_view *v)
{
    hc_dec t = *d;
    size_t n;
    int rc = hc_dec_count(&t, &n);
    if (rc != HC_OK) return rc;
    v->p = t.p;
    v->n = n;
    v->present = n > 0;
    v->blob = true;
    v->mem = NULL;
    d->p = t.p + n;
    return HC_OK;
}

/*
** Pieces of key and tag templates ("team:{team}:users"): the literal parts
** go in with hc_buf_append; each interpolated value with one of these
** hc_key_piece_* calls, which, unlike the hc_key_append* calls of the
** application API (a whole segment, joined with ':'), add no separator.
** Text is escaped as a key segment ('%' -> %25, ':' -> %3A); numbers are
** written in decimal (f64 with %.17g), bool as true/false, blobs in
** lowercase hex.
*/
HC_API int hc_key_piece_text(hc_buf *key, const char *s, size_t n);
HC_API int hc_key_piece_i64(hc_buf *key, int64_t v);
HC_API int hc_key_piece_u64(hc_buf *key, uint64_t v);
HC_API int hc_key_piece_f64(hc_buf *key, double v);
HC_API int hc_key_piece_hex(hc_buf *key, const void *p, size_t n);


/* ------------------------------------------- per-declaration counting */

/* A declaration, as generated code counts it (hydracache/core.h has the
   counters and how to read them). */
typedef struct hc_decl {
    const char *module;     /* "shop" */
    const char *name;       /* "user_by_id" */
    int         kind;       /* an hc_decl_kind */
    unsigned    id;         /* 0 in the initializer; set by the runtime */
} hc_decl;

/*
** For generated code: count one call of d on c, answered from the cache
** (hit) or not. Accepts NULL c or d (counts nothing).
*/
HC_API void hc_decl_call(hc_cache *c, hc_decl *d, bool hit);

/*
** For generated code: hc_get_or_load that counts a miss of d, and, when
** this call runs the loader, its result, its time and whether the value
** was discarded as stale; and whether it answered with a stale value
** (stale_served). Same arguments and returns as hc_get_or_load.
*/
HC_API int hc_decl_get_or_load(hc_cache *c, hc_decl *d, const char *key,
                               const hc_options *opts, hc_load_fn load, void *ctx,
                               hc_buf *out, hc_error *err);

/*
** Counting from code of one's own: compiled with -DHC_NO_DECL_STATS these
** count nothing (the benchmarks use it to measure the counting's cost).
** Generated code counts through hc_cached_call instead, and leaves its
** descriptor's decl NULL under the same macro (HC_DECL_REF). hc_stats
** counts either way.
*/
#ifdef HC_NO_DECL_STATS
#  define HC_DECL_CALL(c, d, hit) ((void)(d), (void)(hit))
#  define HC_DECL_GET_OR_LOAD(c, d, key, opts, load, ctx, out, err) \
    ((void)(d), hc_get_or_load(c, key, opts, load, ctx, out, err))
#else
#  define HC_DECL_CALL(c, d, hit) hc_decl_call(c, d, hit)
#  define HC_DECL_GET_OR_LOAD(c, d, key, opts, load, ctx, out, err) \
    hc_decl_get_or_load(c, d, key, opts, load, ctx, out, err)
#endif

/*
** A descriptor's pointer to its hc_decl (hc_cached.decl): NULL under
** -DHC_NO_DECL_STATS, so that hc_cached_call counts nothing for it. The
** hc_decl stays referenced either way (no unused-variable warning), and
** the expression is a constant, fit for a static initializer.
*/
#ifdef HC_NO_DECL_STATS
#  define HC_DECL_REF(d) (0 ? &(d) : (hc_decl *)0)
#else
#  define HC_DECL_REF(d) (1 ? &(d) : (hc_decl *)0)
#endif

/* ------------------------------------------------ cached declarations */

/*
** The code hcachegen writes for a query, policy or cacheable is typed and
** small: an arguments struct, a key and a tags builder, a loader call, a
** constant descriptor (hc_cached) and the function the application calls,
** which checks its own arguments and hands the rest to hc_cached_call.
** What every cached declaration does alike is here, in the runtime: the
** lookup, decoding a hit where it lies, building the tags and loading
** under single-flight on a miss, encoding, decoding, dropping bytes that do
** not decode and loading once more, the error messages, and the
** per-declaration counting. (protobuf-c and nanopb split their code the
** same way: generated descriptors, one runtime that reads them.)
*/

/*
** One C type as the cache keeps it: the size of the value the generated
** code works with, and how to encode, decode and free one. hcachegen
** writes one for each entity and list type a declaration returns; the
** scalar ones are below.
**   encode  appends the postcard encoding of *value to out: HC_OK,
**           HC_EINVAL (a NULL text that is not nullable), HC_ENOMEM.
**   decode  decodes the next value of d over *out, which holds a value or
**           is zeroed; when whole, d must end right after it (the runtime
**           always asks for that; an entity's decoder also reads the
**           items of lists, which do not end their input). HC_OK, or
**           HC_ECODEC or HC_ENOMEM with *out as it was. Memory *out held
**           is reused or freed.
**   clear   frees what *value owns (malloc'd text, blobs, items) and
**           zeroes it; NULL when the type owns nothing.
*/
typedef struct hc_cached_type {
    size_t size;
    int  (*encode)(hc_buf *out, const void *value);
    int  (*decode)(hc_dec *d, void *out, bool whole);
    void (*clear)(void *value);
} hc_cached_type;

/* The scalar types: int32_t, int64_t, uint32_t, uint64_t, double, bool,
   char * (malloc'd, NUL-terminated) and hc_bytes (malloc'd). */
HC_API extern const hc_cached_type hc_cached_i32, hc_cached_i64, hc_cached_u32,
    hc_cached_u64, hc_cached_f64, hc_cached_bool, hc_cached_text, hc_cached_blob;

/* hc_cached.flags */
enum {
    HC_CACHED_OPTION   = 1, /* stored as an option: 0x00, or 0x01 then the value
                               (a T? result, and every entity-keyed one) */
    HC_CACHED_NULLABLE = 2, /* a T? result: "none" is HC_MISS, and cached */
    HC_CACHED_TEXT_RETURNED = 4 /* an infallible loader returned the char *:
                               NULL means it ran out of memory */
};

/*
** A cached declaration, a static constant of the generated file. args is
** the generated arguments struct (or NULL), handed back to key, tags and
** load; out and value point to a value of type->size bytes.
**   key     builds the physical key ("shop:user:42") into an empty buffer
**   tags    builds the ntags tags into an empty buffer, each followed by a
**           0 byte; NULL when there are none
**   load    runs the loader into the zeroed *value: HC_OK, HC_MISS ("none"),
**           or an error described in err
** Messages name fn, the function the application called; "LABEL found
** nothing" (a loader's "none" for a result that is not nullable) names
** label, and "no ENTITY" (a cached absence read by a declaration whose
** result is not nullable) names entity.
*/
typedef struct hc_cached {
    hc_decl    *decl;           /* its counters, HC_DECL_REF(...); NULL: none */
    const char *fn;             /* "shop_user_by_id" */
    const char *label;          /* the name clause, or the declaration's name */
    const char *entity;         /* the entity of its key, or NULL */
    const hc_cached_type *type; /* the result's */
    unsigned    flags;          /* HC_CACHED_* */
    int       (*key)(hc_buf *key, const void *args);
    size_t      key_max;        /* the longest key and its 0, or 0: no bound */
    int       (*tags)(hc_buf *tags, const void *args);
    size_t      ntags;
    uint64_t    ttl_ms;         /* HC_TTL_DEFAULT, HC_TTL_NEVER or milliseconds */
    int       (*load)(const void *args, void *value, hc_error *err);
    /* Freshness, as hc_options has it (0: none). */
    uint64_t    refresh_ms;
    uint64_t    stale_if_error_ms;
    unsigned    ttl_jitter_percent;
    /* A copy of args that a background refresh owns, and its free: text
       and blob arguments copied too. NULL when the arguments hold the
       caller's ctx (a policy, a cacheable with `context;`), which nothing
       can copy: such a declaration refreshes on the calling thread. */
    void     *(*args_copy)(const void *args);
    void      (*args_free)(void *args);
} hc_cached;

/*
** What a generated cached function does once it has checked the arguments
** that only it knows (db, a policy's loader, text and blob parameters):
**   1. err may be NULL; it is cleared. A NULL c or out is HC_EINVAL,
**      "FN: argument 'c' is NULL".
**   2. The key is built (in a stack buffer when key_max says it fits) and
**      looked up with hc_try_visit: a hit is decoded where it lies, over
**      *out, and nothing the miss needs is set up.
**   3. On a miss the tags are built and hc_get_or_load runs d->load under
**      single-flight with d's TTL and tags (through hc_decl_get_or_load
**      when d->decl is set). The loader's value is encoded, then freed
**      (type->clear) whether the load succeeded or not. Its HC_MISS is
**      cached as an absence for a nullable result; otherwise the call
**      fails with HC_ENOTFOUND, "LABEL found nothing", and nothing is
**      stored. The bytes loaded are decoded over *out.
**   4. Bytes that do not decode are removed and loaded afresh, once; a
**      second failure is HC_ECODEC, "cached value for 'KEY' does not
**      decode".
**   5. The call is counted for d->decl, once, hit or not (hc_decl_call).
**   6. With refresh_ms, a hit on an entry older than that that claims its
**      refresh (hc_get_or_load says when) starts it: on a refresh thread
**      with a copy of the arguments (args_copy), or else on this thread
**      once *out holds the value it returns.
** With stale_if_error_ms, a failed load over an expired entry kept for it
** returns HC_OK and that value, with err's code HC_OK and its message
** "stale value served: <the loader's message>".
** Returns HC_OK, HC_MISS (a nullable result's "none", cached), or an
** error with err filled: HC_ENOTFOUND ("no ENTITY" for a cached absence
** of a non-nullable entity-keyed result), the loader's error, HC_ECODEC,
** or a cache error (HC_ETIMEDOUT, HC_EBUSY, HC_ENOMEM, HC_EINVAL). On
** anything but HC_OK, *out is as it was.
*/
HC_API int hc_cached_call(hc_cache *c, const hc_cached *d, const void *args, void *out,
                          hc_error *err);

/*
** An entity's own calls (generated E_get and E_put) keep it as every
** entity-keyed declaration does, as an option: 0x00 for a cached absence,
** or 0x01 then the value. hc_entity_get copies the value under key out of
** c (hc_get) and decodes it over *out: HC_OK, HC_MISS (nothing cached, or
** a cached absence; *out as it was), or hc_get's error. Bytes that do not
** decode are removed, and are HC_MISS too. hc_entity_put encodes *value
** and stores it with opts (hc_put): HC_OK, HC_EINVAL (a NULL text that is
** not nullable), or hc_put's error.
*/
HC_API int hc_entity_get(hc_cache *c, const char *key, const hc_cached_type *type, void *out);
HC_API int hc_entity_put(hc_cache *c, const char *key, const hc_cached_type *type, const void *value,
                         const hc_options *opts);

/*
** The argument errors of generated functions, worded alike: HC_EINVAL with
** "FN: argument 'ARG' is NULL" (hc_arg_null) or "FN: argument 'ARG' has a
** length and no data" (hc_arg_blob, for an hc_bytes). err may be NULL.
*/
HC_API int hc_arg_null(hc_error *err, const char *fn, const char *arg);
HC_API int hc_arg_blob(hc_error *err, const char *fn, const char *arg);

/* HC_ENOTFOUND with "FN: no row": a query whose result is not nullable
   found none. err may be NULL. */
HC_API int hc_no_row(hc_error *err, const char *fn);

/* ------------------------------------------------------------ statements */

typedef struct hc_stmt hc_stmt;

/*
** What generated code knows about one statement. It is a static constant of
** the generated file, and its address identifies the statement in every
** hc_db's table of prepared statements.
*/
typedef enum hc_sql_type {
    HC_SQL_I32 = 1, HC_SQL_I64, HC_SQL_U32, HC_SQL_U64, HC_SQL_F64,
    HC_SQL_BOOL, HC_SQL_TEXT, HC_SQL_BLOB
} hc_sql_type;

typedef struct hc_sql {
    const char *name;                   /* "shop_user_by_id", for messages */
    const char *sqlite;                 /* the text with ?N parameters */
    const char *postgres;               /* the text with $N parameters */
    unsigned nparams;
    const unsigned char *param_types;   /* nparams hc_sql_type values */
} hc_sql;

/*
** The statement interface generated code uses; applications rarely need it.
**
** hc_db_begin locks db, finds or prepares sql and sets *st. Then bind every
** parameter (numbered from 1), call hc_stmt_step for each row, read its
** columns (numbered from 0), and always finish with hc_db_end on the same
** thread, which resets the statement and unlocks db (hc_db_end(NULL) does
** nothing). If hc_db_begin fails, nothing is held and *st is NULL; a failed
** prepare is not remembered, so the next call prepares again. An
** hc_db_begin on a thread whose previous statement on db has not ended is
** HC_EBUSY. Every hc_stmt_* failure is described in the err given to
** hc_db_begin (which may be NULL: the codes are returned all the same).
** Bound text and blobs are copied.
**
** hc_stmt_step runs the statement on its first call. It returns HC_OK when a
** row is available, HC_DONE when there are no (more) rows, HC_EDB. Once it
** has returned HC_DONE or an error it returns the same again: a statement
** runs at most once between hc_db_begin and hc_db_end.
**
** Column readers convert the database's value to the C type and fail with
** HC_EDB when it does not fit (a negative u64, an i32 out of range, text
** that is not a number). Nothing is converted loosely: on SQLite an integer
** reader wants an integer, f64 an integer or a real, bool 0 or 1, text a
** text value; on PostgreSQL the value's text must be exactly the number
** ("t" or "f" for bool), and a bytea column is decoded for blob readers
** (docs/RUNTIME.md, "Database adapters"). is_null NULL means the column was declared not
** nullable: a NULL there is HC_EDB naming the column. Otherwise *is_null
** tells, and a NULL value reads as 0, NULL text or an empty blob. Text and
** blob bytes are copied into memory from malloc (text NUL-terminated, an
** empty blob has data NULL), freed by the caller with free().
*/
HC_API int hc_db_begin(hc_db *db, const hc_sql *sql, hc_stmt **st, hc_error *err);
HC_API int hc_db_end(hc_stmt *st);

HC_API int hc_stmt_bind_null(hc_stmt *st, unsigned i);
HC_API int hc_stmt_bind_i64(hc_stmt *st, unsigned i, int64_t v);
HC_API int hc_stmt_bind_u64(hc_stmt *st, unsigned i, uint64_t v);
HC_API int hc_stmt_bind_f64(hc_stmt *st, unsigned i, double v);
HC_API int hc_stmt_bind_bool(hc_stmt *st, unsigned i, bool v);
HC_API int hc_stmt_bind_text(hc_stmt *st, unsigned i, const char *s);  /* NULL binds NULL */
HC_API int hc_stmt_bind_blob(hc_stmt *st, unsigned i, const void *p, size_t n);

HC_API int hc_stmt_step(hc_stmt *st);

HC_API int hc_stmt_col_i32(hc_stmt *st, unsigned col, int32_t *v, bool *is_null);
HC_API int hc_stmt_col_i64(hc_stmt *st, unsigned col, int64_t *v, bool *is_null);
HC_API int hc_stmt_col_u32(hc_stmt *st, unsigned col, uint32_t *v, bool *is_null);
HC_API int hc_stmt_col_u64(hc_stmt *st, unsigned col, uint64_t *v, bool *is_null);
HC_API int hc_stmt_col_f64(hc_stmt *st, unsigned col, double *v, bool *is_null);
HC_API int hc_stmt_col_bool(hc_stmt *st, unsigned col, bool *v, bool *is_null);
HC_API int hc_stmt_col_text(hc_stmt *st, unsigned col, char **s, bool *is_null);
HC_API int hc_stmt_col_blob(hc_stmt *st, unsigned col, hc_bytes *b, bool *is_null);
/* The number of columns in the result (valid after the first step). */
HC_API unsigned hc_stmt_ncols(hc_stmt *st);
/*
** Name the entity fields that the columns of st's rows fill, by position,
** so that a NULL read as not nullable says which field is at fault and how
** to accept it: "column 3 ('subtitle'): NULL in 'book.subtitle', which is
** not declared nullable (declare it 'subtitle: text?' to accept NULL)".
** entity and the n names in fields must outlive the statement's run
** (generated code passes string literals); hc_db_end forgets them.
*/
HC_API void hc_stmt_name_fields(hc_stmt *st, const char *entity, const char *const *fields,
                                unsigned n);
/* Rows inserted, updated or deleted by the statement, after it ran. */
HC_API int64_t hc_stmt_changes(hc_stmt *st);

/*
** What a generated exec runs around its statement, so that the tags it
** invalidates are invalidated everywhere if and only if the write commits.
**
** hc_exec_begin: when c's bus can publish inside a transaction on db (the
** PostgreSQL bus with a PostgreSQL hc_db: pg_notify on db's connection),
** it takes hc_db_lock and runs BEGIN, unless the connection is inside a
** transaction already (the application's: then it joins it); otherwise it
** does nothing. NOTIFY reaches the listeners of one database only, so db
** and the bus must be connected to the same database. *tx tells
** hc_exec_end what was done. Returns HC_OK, or an error with nothing held.
**
** hc_exec_end, with rc the statement's result (and after hc_db_end):
**   - with a transaction: if rc is HC_OK, one bus message per tag is
**     published in it (the bus's payload, see docs/RUNTIME.md) and BEGIN's
**     transaction is committed, then the tags are invalidated in c; if
**     anything failed the transaction is rolled back, nothing is
**     invalidated, and the error is returned. When the connection was lost
**     (HC_ECONN) the commit may or may not have happened: the tags are
**     invalidated in c all the same (an invalidation is always safe), and
**     HC_ECONN is returned. Messages made in the application's transaction
**     carry no node id, so this process's bus applies them too, at its
**     commit; meanwhile the tags are held in c (below).
**   - without, and db outside a transaction: if rc is HC_OK,
**     hc_invalidate_tag for each tag (published on c's bus, if any); a
**     failed publish returns HC_EBUS although the write succeeded.
**   - without, inside the application's transaction: the tags are
**     invalidated in c at once and held until that transaction ends: no
**     load that would store an entry carrying one of them is stored
**     meanwhile (its callers still get its value), because until then a
**     reader may see the old row, or, on the writing connection, a new one
**     that may be rolled back. Once the end is seen, committed or rolled
**     back, the tags are invalidated again and published on c's bus. The
**     end is seen by hc_db_unlock (commit under hc_db_lock, as a shared
**     hc_db needs anyway), by the next hc_db_begin on db, by hc_db_free,
**     and on SQLite by a rollback itself (the adapter's rollback hook).
**     A cache closed before the end misses nothing: the release of a
**     closed cache is dropped.
**   A NULL tag is the empty tag. HC_EINVAL for bad arguments (a NULL c or
**   db, NULL tags with ntags > 0), after ending what hc_exec_begin opened:
**   its own transaction rolled back, db's lock let go.
** hc_exec_end_flush is hc_exec_end with a flush of the cache in place of
** the tags: what generated code calls when it could not build a tag.
** Return rc when it is an error, else HC_OK, HC_EDB, HC_ECONN, HC_EBUS,
** HC_ENOMEM.
*/
HC_API int hc_exec_begin(hc_cache *c, hc_db *db, int *tx, hc_error *err);
HC_API int hc_exec_end(hc_cache *c, hc_db *db, int tx, int rc,
                       const char *const *tags, size_t ntags, hc_error *err);
HC_API int hc_exec_end_flush(hc_cache *c, hc_db *db, int tx, int rc, hc_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_GEN_H */
