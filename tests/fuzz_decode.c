/*
** fuzz_decode.c -- a libFuzzer target for the decoders hcachegen writes.
**
** The module is tests/fuzz-decode/fd.hcache: every scalar type plain and
** nullable, text, blob and blob?, and list results of entities and of
** scalars. Its generated source is included here, so that the list codecs,
** which are static, can be called directly.
**
** The first byte of an input picks a decoder; the rest is what it decodes.
** For an entity:
**   - a decode into a zeroed struct succeeds or fails with HC_ECODEC;
**   - a value that decoded encodes, and the encoding decodes to an equal
**     struct that encodes to the same bytes (a round trip);
**   - a null field is zero, as the generated header promises;
**   - a decode over a struct that already holds a value (two of them: long
**     texts and blobs, whose memory is reused, and one-byte ones, which are
**     too small) gives the same result as into a zeroed struct, and on
**     failure leaves the struct exactly as it was, bytes and pointed-to
**     memory alike;
**   - a cached read (T_get) over a struct that holds a value gives the same
**     again, or HC_MISS with the struct as it was.
** For a list: the round trip, and a cached read of the cacheable that
** returns it, over a list that holds two items, gives the decoded list, or
** the loader's (empty) one when the bytes do not decode.
** Any mismatch aborts; ASan and UBSan catch the rest, LeakSanitizer leaks.
**
** The seeds in tests/fuzz-decode/corpus are encodings of typical values of
** each kind (nulls, empty and full texts and blobs, extreme numbers), each
** after the byte that picks its decoder (the order of targets[] below).
**
**   make fuzz-short                 a short run of every fuzz target
**   make fuzz-decode FUZZ_TIME=600  a long one (see tests/fuzz.mk)
**   build/fuzz/fuzz_decode FILE     replay one input
*/
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd.hc.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) fail(#cond, __LINE__); } while (0)

static void fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_decode.c:%d: invariant broken: %s\n", line, what);
    abort();
}

static hc_cache *cache(void)
{
    static hc_cache *c;
    if (!c) {
        hc_config cfg;
        hc_config_init(&cfg);
        cfg.name = "fuzz_decode";
        cfg.default_ttl_ms = HC_TTL_NEVER;
        if (hc_cache_open(&c, &cfg) != HC_OK) abort();
    }
    return c;
}

/* Store raw bytes under key: what a cached read then finds there. */
static void put_raw(const char *key, const void *p, size_t n, bool option)
{
    hc_buf v = HC_BUF_INIT;
    if (option) CHECK(hc_enc_option(&v, true) == HC_OK);
    CHECK(hc_buf_append(&v, p, n) == HC_OK);
    CHECK(hc_put(cache(), key, v.data, v.len, NULL) == HC_OK);
    hc_buf_free(&v);
}

/* ------------------------------------------------------------ equality */

static bool eq_i32(const int32_t *a, const int32_t *b) { return *a == *b; }
static bool eq_u64(const uint64_t *a, const uint64_t *b) { return *a == *b; }
static bool eq_bool(const bool *a, const bool *b) { return *a == *b; }

/* Bit for bit: a NaN is equal to itself, -0 is not 0. */
static bool eq_f64(const double *a, const double *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static bool eq_text(char *const *a, char *const *b)
{
    if (!*a || !*b) return *a == *b;
    return strcmp(*a, *b) == 0;
}

/* The length counts even without data: a stale one is the bug of issue 15. */
static bool eq_blob(const hc_bytes *a, const hc_bytes *b)
{
    if (a->len != b->len || !a->data != !b->data) return false;
    return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

static bool zero_blob(const hc_bytes *g)
{
    return g->data == NULL && g->len == 0;
}

static bool eq_plain(const fd_plain *x, const fd_plain *y)
{
    return x->a == y->a && x->b == y->b && x->c == y->c && x->d == y->d &&
           eq_f64(&x->e, &y->e) && x->f == y->f && eq_text(&x->t, &y->t) && eq_blob(&x->g, &y->g);
}

static bool eq_maybe(const fd_maybe *x, const fd_maybe *y)
{
    return eq_text(&x->k, &y->k) &&
           x->a == y->a && x->a_is_null == y->a_is_null &&
           x->b == y->b && x->b_is_null == y->b_is_null &&
           x->c == y->c && x->c_is_null == y->c_is_null &&
           x->d == y->d && x->d_is_null == y->d_is_null &&
           eq_f64(&x->e, &y->e) && x->e_is_null == y->e_is_null &&
           x->f == y->f && x->f_is_null == y->f_is_null &&
           eq_text(&x->t, &y->t) &&
           eq_blob(&x->g, &y->g) && x->g_is_null == y->g_is_null;
}

static bool eq_mixed(const fd_mixed *x, const fd_mixed *y)
{
    return x->id == y->id && eq_blob(&x->g1, &y->g1) && x->g1_is_null == y->g1_is_null &&
           eq_text(&x->t1, &y->t1) && eq_blob(&x->g2, &y->g2) &&
           x->n == y->n && x->n_is_null == y->n_is_null && eq_text(&x->t2, &y->t2) &&
           eq_blob(&x->g3, &y->g3) && x->g3_is_null == y->g3_is_null;
}

/* A decoded value's null fields are zero; a decoded text is never NULL
   unless nullable, and a blob has data exactly when it has a length. */
static bool sane_plain(const fd_plain *u)
{
    return u->t && !u->g.data == !u->g.len;
}

static bool sane_maybe(const fd_maybe *u)
{
    return u->k && (!u->a_is_null || u->a == 0) && (!u->b_is_null || u->b == 0) &&
           (!u->c_is_null || u->c == 0) && (!u->d_is_null || u->d == 0) &&
           (!u->e_is_null || memcmp(&u->e, &(double){0}, sizeof u->e) == 0) &&
           (!u->f_is_null || !u->f) && (!u->g_is_null || zero_blob(&u->g)) &&
           !u->g.data == !u->g.len;
}

static bool sane_mixed(const fd_mixed *u)
{
    return u->t2 && (!u->g1_is_null || zero_blob(&u->g1)) && (!u->n_is_null || u->n == 0) &&
           (!u->g3_is_null || zero_blob(&u->g3)) && !u->g1.data == !u->g1.len &&
           !u->g2.data == !u->g2.len && !u->g3.data == !u->g3.len;
}

/* ------------------------------------------------ values held before */

/* n bytes of c from malloc, NUL-terminated (as the decoders leave them). */
static char *filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static hc_bytes blob_of(size_t n, char c)
{
    hc_bytes b = {(uint8_t *)filled(n, c), n};
    return b;
}

/* Every field set, texts and blobs n bytes long. */
static void fill_plain(fd_plain *u, size_t n)
{
    memset(u, 0, sizeof *u);
    u->a = -1; u->b = 2; u->c = 3; u->d = 4; u->e = 5.5; u->f = true;
    u->t = filled(n, 't');
    u->g = blob_of(n, 'g');
}

static void fill_maybe(fd_maybe *u, size_t n)
{
    memset(u, 0, sizeof *u);
    u->k = filled(n, 'k');
    u->a = -1; u->b = 2; u->c = 3; u->d = 4; u->e = 5.5; u->f = true;
    u->t = filled(n, 't');
    u->g = blob_of(n, 'g');
}

static void fill_mixed(fd_mixed *u, size_t n)
{
    memset(u, 0, sizeof *u);
    u->id = 7;
    u->g1 = blob_of(n, '1');
    u->t1 = filled(n, 't');
    u->g2 = blob_of(n, '2');
    u->n = 9;
    u->t2 = filled(n, 'u');
    u->g3 = blob_of(n, '3');
}

/* -------------------------------------------------------------- entities */

/*
** The checks of one entity type T, whose cached read takes the primary
** value PK. The struct held before a decode is compared byte for byte
** (pointers, flags and padding: nothing may be written on failure) and by
** its encoding (the memory it points to).
*/
#define ENTITY_CHECKS(T, PK)                                                      \
static void over_##T(const uint8_t *p, size_t n, int rc, const fd_##T *want,      \
                     size_t fill)                                                 \
{                                                                                 \
    fd_##T held, before;                                                          \
    hc_buf snap = HC_BUF_INIT, again = HC_BUF_INIT;                               \
    fill_##T(&held, fill);                                                        \
    CHECK(fd_##T##_encode(&held, &snap) == HC_OK);                                \
    memcpy(&before, &held, sizeof held);                                          \
    CHECK(fd_##T##_decode(&held, p, n) == rc);                                    \
    if (rc == HC_OK) {                                                            \
        CHECK(eq_##T(&held, want));                                               \
    } else {                                                                      \
        CHECK(memcmp(&before, &held, sizeof held) == 0);                          \
        CHECK(fd_##T##_encode(&held, &again) == HC_OK);                           \
        CHECK(again.len == snap.len && memcmp(again.data, snap.data, snap.len) == 0); \
    }                                                                             \
    fd_##T##_clear(&held);                                                        \
                                                                                  \
    /* The same through the cache, which decodes over the caller's struct. */     \
    hc_buf key = HC_BUF_INIT;                                                     \
    CHECK(fd_##T##_key(&key, PK) == HC_OK);                                       \
    put_raw((const char *)key.data, p, n, true);                                  \
    fill_##T(&held, fill);                                                        \
    memcpy(&before, &held, sizeof held);                                          \
    int got = fd_##T##_get(cache(), PK, &held);                                   \
    if (rc == HC_OK) {                                                            \
        CHECK(got == HC_OK);                                                      \
        CHECK(eq_##T(&held, want));                                               \
    } else {                                                                      \
        CHECK(got == HC_MISS);                                                    \
        CHECK(memcmp(&before, &held, sizeof held) == 0);                          \
        CHECK(fd_##T##_encode(&held, &again) == HC_OK);                           \
        CHECK(again.len == snap.len && memcmp(again.data, snap.data, snap.len) == 0); \
    }                                                                             \
    fd_##T##_clear(&held);                                                        \
    hc_buf_free(&key);                                                            \
    hc_buf_free(&snap);                                                           \
    hc_buf_free(&again);                                                          \
}                                                                                 \
                                                                                  \
static void check_##T(const uint8_t *p, size_t n)                                 \
{                                                                                 \
    fd_##T u, v;                                                                  \
    memset(&u, 0, sizeof u);                                                      \
    memset(&v, 0, sizeof v);                                                      \
    int rc = fd_##T##_decode(&u, p, n);                                           \
    CHECK(rc == HC_OK || rc == HC_ECODEC);                                        \
    if (rc == HC_OK) {                                                            \
        hc_buf b = HC_BUF_INIT, b2 = HC_BUF_INIT;                                 \
        CHECK(sane_##T(&u));                                                      \
        CHECK(fd_##T##_encode(&u, &b) == HC_OK);                                  \
        CHECK(fd_##T##_decode(&v, b.data, b.len) == HC_OK);                       \
        CHECK(eq_##T(&u, &v));                                                    \
        CHECK(fd_##T##_encode(&v, &b2) == HC_OK);                                 \
        CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);            \
        hc_buf_free(&b);                                                          \
        hc_buf_free(&b2);                                                         \
    } else {                                                                      \
        fd_##T zero;                                                              \
        memset(&zero, 0, sizeof zero);                                            \
        CHECK(memcmp(&zero, &u, sizeof u) == 0);                                  \
    }                                                                             \
    over_##T(p, n, rc, &u, 64);                                                   \
    over_##T(p, n, rc, &u, 1);                                                    \
    fd_##T##_clear(&u);                                                           \
    fd_##T##_clear(&v);                                                           \
}

ENTITY_CHECKS(plain, 2)
ENTITY_CHECKS(maybe, "k")
ENTITY_CHECKS(mixed, 7)

/* ----------------------------------------------------------------- lists */

static unsigned loads;          /* calls of the cacheables' loaders */

/* The loaders run when a cached value does not decode: they count, and
   leave the zeroed list they are given empty. */
#define LOADER(NAME, L)                                                           \
int fd_##NAME##_load(int64_t n, fd_##L *out, hc_error *err)                       \
{                                                                                 \
    (void)n;                                                                      \
    (void)err;                                                                    \
    CHECK(out->len == 0 && out->items == NULL);                                   \
    loads++;                                                                      \
    return HC_OK;                                                                 \
}

LOADER(plains, plain_list)
LOADER(maybes, maybe_list)
LOADER(mixeds, mixed_list)
LOADER(i32s, i32_list)
LOADER(u64s, u64_list)
LOADER(f64s, f64_list)
LOADER(bools, bool_list)
LOADER(texts, text_list)
LOADER(blobs, blob_list)

/* Two items for a list to hold before a cached read replaces them. */
static void two_plain(fd_plain *it) { fill_plain(&it[0], 8); fill_plain(&it[1], 1); }
static void two_maybe(fd_maybe *it) { fill_maybe(&it[0], 8); fill_maybe(&it[1], 1); }
static void two_mixed(fd_mixed *it) { fill_mixed(&it[0], 8); fill_mixed(&it[1], 1); }
static void two_i32(int32_t *it) { it[0] = 1; it[1] = -1; }
static void two_u64(uint64_t *it) { it[0] = 1; it[1] = UINT64_MAX; }
static void two_f64(double *it) { it[0] = 1; it[1] = -0.0; }
static void two_bool(bool *it) { it[0] = true; it[1] = false; }
static void two_text(char **it) { it[0] = filled(8, 'a'); it[1] = filled(0, 0); }
static void two_blob(hc_bytes *it) { it[0] = blob_of(8, 'b'); it[1] = blob_of(1, 'c'); }

/*
** The checks of list type fd_L_list, whose items compare with eq_L, and of
** the cacheable NAME that returns it (key "fd:NAME:0").
*/
#define LIST_CHECKS(L, NAME)                                                      \
static bool eq_##L##_list(const fd_##L##_list *x, const fd_##L##_list *y)         \
{                                                                                 \
    if (x->len != y->len || !x->items != !y->items) return false;                 \
    for (size_t i = 0; i < x->len; i++)                                           \
        if (!eq_##L(&x->items[i], &y->items[i])) return false;                    \
    return true;                                                                  \
}                                                                                 \
                                                                                  \
static void check_##NAME(const uint8_t *p, size_t n)                              \
{                                                                                 \
    fd_##L##_list l, l2;                                                          \
    memset(&l, 0, sizeof l);                                                      \
    memset(&l2, 0, sizeof l2);                                                    \
    hc_dec d;                                                                     \
    hc_dec_init(&d, p, n);                                                        \
    int rc = fd_##L##_list__dec(&d, &l);                                          \
    if (rc == HC_OK) rc = hc_dec_finish(&d);                                      \
    CHECK(rc == HC_OK || rc == HC_ECODEC);                                        \
    if (rc == HC_OK) {                                                            \
        hc_buf b = HC_BUF_INIT;                                                   \
        CHECK(fd_##L##_list__enc(&b, &l) == HC_OK);                               \
        hc_dec_init(&d, b.data, b.len);                                           \
        CHECK(fd_##L##_list__dec(&d, &l2) == HC_OK);                              \
        CHECK(hc_dec_finish(&d) == HC_OK);                                        \
        CHECK(eq_##L##_list(&l, &l2));                                            \
        hc_buf_free(&b);                                                          \
    } else {                                                                      \
        fd_##L##_list_clear(&l);      /* what a failed decode leaves is freed */  \
    }                                                                             \
                                                                                  \
    /* A cached read over a list that holds two items. */                         \
    fd_##L##_list held;                                                           \
    held.len = 2;                                                                 \
    held.items = calloc(2, sizeof *held.items);                                   \
    if (!held.items) abort();                                                     \
    two_##L(held.items);                                                          \
    put_raw("fd:" #NAME ":0", p, n, false);                                       \
    unsigned before = loads;                                                      \
    hc_error err;                                                                 \
    CHECK(fd_##NAME(cache(), 0, &held, &err) == HC_OK);                           \
    if (rc == HC_OK) {                                                            \
        CHECK(loads == before);                                                   \
        CHECK(eq_##L##_list(&held, &l));                                          \
    } else {                                                                      \
        CHECK(loads == before + 1);                                               \
        CHECK(held.len == 0 && held.items == NULL);                               \
    }                                                                             \
    fd_##L##_list_clear(&held);                                                   \
    fd_##L##_list_clear(&l);                                                      \
    fd_##L##_list_clear(&l2);                                                     \
}

LIST_CHECKS(plain, plains)
LIST_CHECKS(maybe, maybes)
LIST_CHECKS(mixed, mixeds)
LIST_CHECKS(i32, i32s)
LIST_CHECKS(u64, u64s)
LIST_CHECKS(f64, f64s)
LIST_CHECKS(bool, bools)
LIST_CHECKS(text, texts)
LIST_CHECKS(blob, blobs)

/* ---------------------------------------------------------------- target */

static void (*const targets[])(const uint8_t *, size_t) = {
    check_plain, check_maybe, check_mixed,
    check_plains, check_maybes, check_mixeds,
    check_i32s, check_u64s, check_f64s, check_bools, check_texts, check_blobs,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t k = data[0] % (sizeof targets / sizeof targets[0]);
    /* A copy of exactly the bytes, so ASan sees a read past them. */
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return 0;
    if (n) memcpy(p, data + 1, n);
    targets[k](p, n);
    free(p);
    return 0;
}
