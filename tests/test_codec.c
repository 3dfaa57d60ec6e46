/*
** test_codec.c -- the postcard codec (byte vectors from the postcard
** specification, round trips, truncated and malformed input) and the key
** template helpers.
*/
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "testutil.h"

/* The buffer's bytes as lowercase hex pairs separated by spaces. */
static const char *hex_of(const hc_buf *b, char *tmp, size_t size)
{
    size_t w = 0;
    tmp[0] = 0;
    for (size_t i = 0; i < b->len && w + 4 <= size; i++)
        w += (size_t)snprintf(tmp + w, size - w, i ? " %02x" : "%02x", b->data[i]);
    return tmp;
}

#define assert_bytes(b, hex) do {                                             \
        char tmp_[128];                                                       \
        assert_string_equal(hex_of((b), tmp_, sizeof tmp_), (hex));           \
    } while (0)

/* A copy of n bytes in a block of exactly n, so that ASan sees a read past
   the end. Free with free(). */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n) memcpy(c, p, n);
    return c;
}

/* ------------------------------------------------------------ encoding */

static void test_enc_unsigned_vectors(void **state)
{
    (void)state;
    static const struct { uint64_t v; const char *hex; } cases[] = {
        {0, "00"}, {1, "01"}, {127, "7f"}, {128, "80 01"}, {300, "ac 02"},
        {16383, "ff 7f"}, {16384, "80 80 01"},
        {UINT32_MAX, "ff ff ff ff 0f"},
        {(uint64_t)UINT32_MAX + 1, "80 80 80 80 10"},
        {UINT64_MAX, "ff ff ff ff ff ff ff ff ff 01"},
    };
    hc_buf b = HC_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hc_buf_reset(&b);
        assert_int_equal(hc_enc_u64(&b, cases[i].v), HC_OK);
        assert_bytes(&b, cases[i].hex);
        assert_int_equal(b.data[b.len], 0);
    }
    hc_buf_free(&b);
}

static void test_enc_signed_vectors(void **state)
{
    (void)state;
    static const struct { int64_t v; const char *hex; } cases[] = {
        {0, "00"}, {-1, "01"}, {1, "02"}, {-2, "03"}, {2, "04"},
        {-64, "7f"}, {64, "80 01"},
        {INT32_MAX, "fe ff ff ff 0f"}, {INT32_MIN, "ff ff ff ff 0f"},
        {INT64_MIN, "ff ff ff ff ff ff ff ff ff 01"},
        {INT64_MAX, "fe ff ff ff ff ff ff ff ff 01"},
    };
    hc_buf b = HC_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hc_buf_reset(&b);
        assert_int_equal(hc_enc_i64(&b, cases[i].v), HC_OK);
        assert_bytes(&b, cases[i].hex);
    }
    hc_buf_free(&b);
}

static void test_enc_other_vectors(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_enc_f64(&b, 1.5), HC_OK);
    assert_bytes(&b, "00 00 00 00 00 00 f8 3f");
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_f64(&b, -2.0), HC_OK);
    assert_bytes(&b, "00 00 00 00 00 00 00 c0");
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_bool(&b, false), HC_OK);
    assert_int_equal(hc_enc_bool(&b, true), HC_OK);
    assert_int_equal(hc_enc_option(&b, false), HC_OK);
    assert_int_equal(hc_enc_option(&b, true), HC_OK);
    assert_bytes(&b, "00 01 00 01");
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_text(&b, "hi"), HC_OK);
    assert_bytes(&b, "02 68 69");
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_text(&b, ""), HC_OK);
    assert_bytes(&b, "00");
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_bytes(&b, "\x00\xff", 2), HC_OK);
    assert_int_equal(hc_enc_bytes(&b, NULL, 0), HC_OK);
    assert_bytes(&b, "02 00 ff 00");

    /* A 200-byte blob: a two-byte length. */
    uint8_t big[200];
    memset(big, 0xab, sizeof big);
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_bytes(&b, big, sizeof big), HC_OK);
    assert_int_equal(b.len, 202);
    assert_int_equal(b.data[0], 0xc8);
    assert_int_equal(b.data[1], 0x01);
    assert_memory_equal(b.data + 2, big, sizeof big);
    hc_buf_free(&b);
}

/* Encoders append; NULL where a pointer is required leaves out unchanged. */
static void test_enc_append_and_einval(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_buf_append_str(&b, "x"), HC_OK);
    assert_int_equal(hc_enc_u64(&b, 300), HC_OK);
    assert_bytes(&b, "78 ac 02");
    assert_int_equal(hc_enc_text(&b, NULL), HC_EINVAL);
    assert_int_equal(hc_enc_bytes(&b, NULL, 1), HC_EINVAL);
    assert_bytes(&b, "78 ac 02");
    assert_int_equal(hc_enc_bytes(&b, "", SIZE_MAX), HC_ENOMEM);
    assert_bytes(&b, "78 ac 02");
    hc_buf_free(&b);
}

/* ---------------------------------------------------------- round trips */

static void test_round_trip_integers(void **state)
{
    (void)state;
    static const uint64_t us[] = {
        0, 1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
        (uint64_t)1 << 56, ((uint64_t)1 << 63) - 1, (uint64_t)1 << 63, UINT64_MAX,
    };
    static const int64_t is[] = {
        0, 1, -1, 63, -64, 64, -65, INT32_MAX, INT32_MIN,
        (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN,
        INT64_MIN + 1,
    };
    hc_buf b = HC_BUF_INIT;
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
        assert_int_equal(hc_enc_u64(&b, us[i]), HC_OK);
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++)
        assert_int_equal(hc_enc_i64(&b, is[i]), HC_OK);

    hc_dec d;
    hc_dec_init(&d, b.data, b.len);
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
        uint64_t v = 0;
        assert_int_equal(hc_dec_u64(&d, &v), HC_OK);
        assert_true(v == us[i]);
    }
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
        int64_t v = 0;
        assert_int_equal(hc_dec_i64(&d, &v), HC_OK);
        assert_true(v == is[i]);
    }
    assert_int_equal(hc_dec_finish(&d), HC_OK);

    /* u32 and i32 values go through the 64-bit encoders. */
    static const uint32_t u32s[] = {0, 1, 128, UINT32_MAX - 1, UINT32_MAX};
    static const int32_t i32s[] = {0, -1, 1, INT32_MAX, INT32_MIN, INT32_MIN + 1};
    hc_buf_reset(&b);
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
        assert_int_equal(hc_enc_u64(&b, u32s[i]), HC_OK);
    for (size_t i = 0; i < sizeof i32s / sizeof i32s[0]; i++)
        assert_int_equal(hc_enc_i64(&b, i32s[i]), HC_OK);
    hc_dec_init(&d, b.data, b.len);
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v = 7;
        assert_int_equal(hc_dec_u32(&d, &v), HC_OK);
        assert_true(v == u32s[i]);
    }
    for (size_t i = 0; i < sizeof i32s / sizeof i32s[0]; i++) {
        int32_t v = 7;
        assert_int_equal(hc_dec_i32(&d, &v), HC_OK);
        assert_true(v == i32s[i]);
    }
    assert_int_equal(hc_dec_finish(&d), HC_OK);
    hc_buf_free(&b);
}

static void test_round_trip_f64(void **state)
{
    (void)state;
    const double vs[] = {
        0.0, -0.0, 1.5, -1.5, 0.1, DBL_MIN, DBL_MAX, -DBL_MAX, DBL_EPSILON,
        DBL_MIN / 4, INFINITY, -INFINITY, NAN,
    };
    hc_buf b = HC_BUF_INIT;
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        assert_int_equal(hc_enc_f64(&b, vs[i]), HC_OK);
    assert_int_equal(b.len, 8 * (sizeof vs / sizeof vs[0]));
    hc_dec d;
    hc_dec_init(&d, b.data, b.len);
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        double v = 42;
        assert_int_equal(hc_dec_f64(&d, &v), HC_OK);
        assert_memory_equal(&v, &vs[i], sizeof v);    /* same bits: -0, NaN */
    }
    assert_int_equal(hc_dec_finish(&d), HC_OK);
    hc_buf_free(&b);
}

static void test_round_trip_text_bytes(void **state)
{
    (void)state;
    static const char *const texts[] = {"", "hi", "a:b%c", "caf\xc3\xa9"};
    char long_text[300];
    memset(long_text, 'z', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    hc_buf b = HC_BUF_INIT;
    for (size_t i = 0; i < 4; i++) assert_int_equal(hc_enc_text(&b, texts[i]), HC_OK);
    assert_int_equal(hc_enc_text(&b, long_text), HC_OK);
    assert_int_equal(hc_enc_bytes(&b, NULL, 0), HC_OK);
    assert_int_equal(hc_enc_bytes(&b, "\0\1\0", 3), HC_OK);
    assert_int_equal(hc_enc_option(&b, true), HC_OK);
    assert_int_equal(hc_enc_bool(&b, false), HC_OK);
    assert_int_equal(hc_enc_option(&b, false), HC_OK);

    hc_dec d;
    hc_dec_init(&d, b.data, b.len);
    for (size_t i = 0; i < 4; i++) {
        char *s = NULL;
        assert_int_equal(hc_dec_text(&d, &s), HC_OK);
        assert_non_null(s);
        assert_string_equal(s, texts[i]);
        free(s);
    }
    char *s = NULL;
    assert_int_equal(hc_dec_text(&d, &s), HC_OK);
    assert_string_equal(s, long_text);
    free(s);
    static uint8_t sentinel;
    hc_bytes bytes = {&sentinel, 99};
    assert_int_equal(hc_dec_bytes(&d, &bytes), HC_OK);
    assert_null(bytes.data);                       /* empty blob: NULL, 0 */
    assert_int_equal(bytes.len, 0);
    assert_int_equal(hc_dec_bytes(&d, &bytes), HC_OK);
    assert_int_equal(bytes.len, 3);
    assert_memory_equal(bytes.data, "\0\1\0", 3);
    free(bytes.data);
    bool present = false, flag = true;
    assert_int_equal(hc_dec_option(&d, &present), HC_OK);
    assert_true(present);
    assert_int_equal(hc_dec_bool(&d, &flag), HC_OK);
    assert_false(flag);
    assert_int_equal(hc_dec_option(&d, &present), HC_OK);
    assert_false(present);
    assert_int_equal(hc_dec_finish(&d), HC_OK);
    hc_buf_free(&b);
}

/* ------------------------------------------------ decoding over a value */

/* The ENOMEM case below asks malloc for 2^63 bytes; under ASan that must
   return NULL as it does in glibc, not stop the program (ASan still prints
   a warning that it "failed to allocate 0x8000000000000000 bytes"). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_views_and_commit(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    char long_text[300];
    memset(long_text, 'z', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    assert_int_equal(hc_enc_text(&b, "hello"), HC_OK);
    assert_int_equal(hc_enc_text(&b, long_text), HC_OK);
    assert_int_equal(hc_enc_bytes(&b, "\1\0\3", 3), HC_OK);
    assert_int_equal(hc_enc_bytes(&b, NULL, 0), HC_OK);
    assert_int_equal(hc_enc_text(&b, ""), HC_OK);

    hc_dec d;
    hc_view v[6];
    memset(v, 0, sizeof v);
    hc_dec_init(&d, b.data, b.len);
    assert_int_equal(hc_dec_text_view(&d, &v[0]), HC_OK);
    assert_int_equal(hc_dec_text_view(&d, &v[1]), HC_OK);
    assert_int_equal(hc_dec_bytes_view(&d, &v[2]), HC_OK);
    assert_int_equal(hc_dec_bytes_view(&d, &v[3]), HC_OK);
    assert_int_equal(hc_dec_text_view(&d, &v[4]), HC_OK);
    assert_int_equal(hc_dec_finish(&d), HC_OK);
    assert_int_equal(v[0].n, 5);
    assert_true(v[0].present && !v[0].blob);
    assert_true(v[2].present && v[2].blob);
    assert_false(v[3].present);                    /* an empty blob */
    assert_true(v[4].present);                     /* an empty text */
    /* v[5] stays zeroed: an absent text (NULL). */

    char *fits = strdup("an old string longer than hello");
    char *grows = strdup("x");
    hc_bytes blob = {malloc(1), 1}, empty = {malloc(8), 8};
    char *empty_text = NULL, *gone = strdup("to be freed");
    blob.data[0] = 9;
    char *kept = fits;
    void *const f[6] = {&fits, &grows, &blob, &empty, &empty_text, &gone};
    assert_int_equal(hc_view_commit(f, v, 6), HC_OK);
    assert_ptr_equal(fits, kept);                  /* reused */
    assert_string_equal(fits, "hello");
    assert_string_equal(grows, long_text);
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.data, "\1\0\3", 3);
    assert_null(empty.data);
    assert_int_equal(empty.len, 0);
    assert_non_null(empty_text);
    assert_string_equal(empty_text, "");
    assert_null(gone);

    /* All or nothing: the third view cannot get memory, so the first two
       (one reused, one newly allocated) must not be written either, and
       what was allocated for them is freed (LeakSanitizer checks). */
    hc_view w[3];
    w[0] = v[1];                                   /* 299 bytes into "hello": allocates */
    w[1] = v[0];                                   /* "hello" into long_text: fits */
    w[2] = v[0];
    w[2].n = SIZE_MAX / 2;                         /* needs 2^63 bytes */
    char *big = strdup("small"), *had_big = big;
    char *old_grows = grows;
    char *third = NULL;
    void *const g[3] = {&big, &grows, &third};
    assert_int_equal(hc_view_commit(g, w, 3), HC_ENOMEM);
    assert_ptr_equal(big, had_big);
    assert_string_equal(big, "small");
    assert_ptr_equal(grows, old_grows);
    assert_string_equal(grows, long_text);
    assert_null(third);

    /* Views check what hc_dec_text checks. */
    hc_buf_reset(&b);
    assert_int_equal(hc_enc_bytes(&b, "a\0b", 3), HC_OK);
    hc_dec_init(&d, b.data, b.len);
    hc_view x = v[0];
    assert_int_equal(hc_dec_text_view(&d, &x), HC_ECODEC);
    assert_ptr_equal(x.p, v[0].p);                 /* untouched */
    assert_int_equal(hc_dec_bytes_view(&d, &x), HC_OK);
    static const uint8_t forged[] = {0x05, 'a'};   /* says 5, holds 1 */
    hc_dec_init(&d, forged, sizeof forged);
    assert_int_equal(hc_dec_text_view(&d, &x), HC_ECODEC);
    assert_int_equal(hc_dec_bytes_view(&d, &x), HC_ECODEC);

    free(fits);
    free(grows);
    free(blob.data);
    free(empty_text);
    free(big);
    hc_buf_free(&b);
}

/* ----------------------------------------------------------- truncation */

/*
** One record of every kind, as generated code would write it. decode_record
** reads it back and returns the first failure, or what hc_dec_finish says.
*/
static void encode_record(hc_buf *b)
{
    assert_int_equal(hc_enc_u64(b, UINT64_MAX), HC_OK);
    assert_int_equal(hc_enc_i64(b, INT64_MIN), HC_OK);
    assert_int_equal(hc_enc_u64(b, 70000), HC_OK);
    assert_int_equal(hc_enc_i64(b, -70000), HC_OK);
    assert_int_equal(hc_enc_f64(b, 1.5), HC_OK);
    assert_int_equal(hc_enc_bool(b, true), HC_OK);
    assert_int_equal(hc_enc_option(b, true), HC_OK);
    assert_int_equal(hc_enc_text(b, "hello"), HC_OK);
    assert_int_equal(hc_enc_bytes(b, "\1\2\3", 3), HC_OK);
    assert_int_equal(hc_enc_u64(b, 2), HC_OK);            /* a list of two */
    assert_int_equal(hc_enc_u64(b, 5), HC_OK);
    assert_int_equal(hc_enc_u64(b, 600), HC_OK);
}

static int decode_record(hc_dec *d)
{
    uint64_t u;
    int64_t i;
    uint32_t u32;
    int32_t i32;
    double f;
    bool flag, present;
    char *s = NULL;
    hc_bytes blob = {NULL, 0};
    size_t n;
    int rc;
    if ((rc = hc_dec_u64(d, &u)) != HC_OK) return rc;
    assert_true(u == UINT64_MAX);
    if ((rc = hc_dec_i64(d, &i)) != HC_OK) return rc;
    assert_true(i == INT64_MIN);
    if ((rc = hc_dec_u32(d, &u32)) != HC_OK) return rc;
    assert_int_equal(u32, 70000);
    if ((rc = hc_dec_i32(d, &i32)) != HC_OK) return rc;
    assert_int_equal(i32, -70000);
    if ((rc = hc_dec_f64(d, &f)) != HC_OK) return rc;
    assert_true(f == 1.5);
    if ((rc = hc_dec_bool(d, &flag)) != HC_OK) return rc;
    assert_true(flag);
    if ((rc = hc_dec_option(d, &present)) != HC_OK) return rc;
    assert_true(present);
    if ((rc = hc_dec_text(d, &s)) != HC_OK) return rc;
    assert_string_equal(s, "hello");
    free(s);
    if ((rc = hc_dec_bytes(d, &blob)) != HC_OK) return rc;
    assert_memory_equal(blob.data, "\1\2\3", 3);
    free(blob.data);
    if ((rc = hc_dec_count(d, &n)) != HC_OK) return rc;
    assert_int_equal(n, 2);
    for (size_t k = 0; k < n; k++)
        if ((rc = hc_dec_u64(d, &u)) != HC_OK) return rc;
    assert_true(u == 600);
    return hc_dec_finish(d);
}

/* Every proper prefix of a valid encoding fails with HC_ECODEC. */
static void test_truncation(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    encode_record(&b);
    for (size_t len = 0; len <= b.len; len++) {
        uint8_t *copy = exact_copy(b.data, len);
        hc_dec d;
        hc_dec_init(&d, copy, len);
        int rc = decode_record(&d);
        if (len < b.len && rc != HC_ECODEC)
            fail_msg("prefix of %zu of %zu bytes: %s", len, b.len, hc_err_name(rc));
        if (len == b.len) assert_int_equal(rc, HC_OK);
        free(copy);
    }
    hc_buf_free(&b);
}

/* Nothing to read: every decoder fails, and finish succeeds. */
static void test_empty_input(void **state)
{
    (void)state;
    hc_dec d;
    hc_dec_init(&d, NULL, 0);
    uint64_t u = 7;
    double f = 7;
    bool flag = true;
    char *s = (char *)"untouched";
    hc_bytes blob = {NULL, 7};
    size_t n = 7;
    assert_int_equal(hc_dec_u64(&d, &u), HC_ECODEC);
    assert_int_equal(hc_dec_f64(&d, &f), HC_ECODEC);
    assert_int_equal(hc_dec_bool(&d, &flag), HC_ECODEC);
    assert_int_equal(hc_dec_text(&d, &s), HC_ECODEC);
    assert_int_equal(hc_dec_bytes(&d, &blob), HC_ECODEC);
    assert_int_equal(hc_dec_count(&d, &n), HC_ECODEC);
    assert_true(u == 7 && f == 7 && flag && n == 7 && blob.len == 7);
    assert_string_equal(s, "untouched");
    assert_int_equal(hc_dec_finish(&d), HC_OK);
}

/* ------------------------------------------------------ malformed input */

/* Decode n raw bytes as one u64 (u32) that must use them all. */
static int dec_u64_raw(const char *raw, size_t n, uint64_t *v)
{
    uint8_t *copy = exact_copy(raw, n);
    hc_dec d;
    hc_dec_init(&d, copy, n);
    const uint8_t *start = d.p;
    int rc = hc_dec_u64(&d, v);
    if (rc == HC_OK) rc = hc_dec_finish(&d);
    else assert_ptr_equal(d.p, start);             /* decoder not moved */
    free(copy);
    return rc;
}

static int dec_u32_raw(const char *raw, size_t n, uint32_t *v)
{
    uint8_t *copy = exact_copy(raw, n);
    hc_dec d;
    hc_dec_init(&d, copy, n);
    int rc = hc_dec_u32(&d, v);
    if (rc == HC_OK) rc = hc_dec_finish(&d);
    free(copy);
    return rc;
}

static void test_varint_malformed(void **state)
{
    (void)state;
    uint64_t u = 7;
    /* The largest u64, then one bit too many in the tenth byte. */
    assert_int_equal(dec_u64_raw("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, &u), HC_OK);
    assert_true(u == UINT64_MAX);
    u = 7;
    assert_int_equal(dec_u64_raw("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, &u), HC_ECODEC);
    assert_int_equal(dec_u64_raw("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 10, &u), HC_ECODEC);
    /* An eleventh byte: too long, even if the value would fit. */
    assert_int_equal(dec_u64_raw("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 11, &u), HC_ECODEC);
    assert_int_equal(dec_u64_raw("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11, &u), HC_ECODEC);
    assert_true(u == 7);                           /* output untouched */
    /* Longer than needed but within ten bytes: accepted, as postcard does. */
    assert_int_equal(dec_u64_raw("\x80\x00", 2, &u), HC_OK);
    assert_true(u == 0);
    assert_int_equal(dec_u64_raw("\xff\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10, &u), HC_OK);
    assert_true(u == 127);

    uint32_t v = 7;
    assert_int_equal(dec_u32_raw("\xff\xff\xff\xff\x0f", 5, &v), HC_OK);
    assert_true(v == UINT32_MAX);
    v = 7;
    assert_int_equal(dec_u32_raw("\xff\xff\xff\xff\x10", 5, &v), HC_ECODEC);
    assert_int_equal(dec_u32_raw("\x80\x80\x80\x80\x80\x00", 6, &v), HC_ECODEC);
    assert_int_equal(dec_u32_raw("\x80\x80\x80\x80\x00", 5, &v), HC_OK);
    assert_true(v == 0);

    /* Two bytes are read inline: both ends, a long form, and a first byte
       whose continuation is missing. */
    assert_int_equal(dec_u32_raw("\x80\x01", 2, &v), HC_OK);
    assert_true(v == 128);
    assert_int_equal(dec_u32_raw("\xff\x7f", 2, &v), HC_OK);
    assert_true(v == 16383);
    assert_int_equal(dec_u32_raw("\xff\x00", 2, &v), HC_OK);
    assert_true(v == 127);
    v = 7;
    u = 7;
    assert_int_equal(dec_u32_raw("\xff", 1, &v), HC_ECODEC);
    assert_int_equal(dec_u64_raw("\x80", 1, &u), HC_ECODEC);
    assert_true(v == 7 && u == 7);
}

/* A value that does not fit the narrower type is malformed. */
static void test_narrow_ranges(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    hc_dec d;
    uint32_t u32 = 7;
    assert_int_equal(hc_enc_u64(&b, (uint64_t)UINT32_MAX + 1), HC_OK);
    hc_dec_init(&d, b.data, b.len);
    assert_int_equal(hc_dec_u32(&d, &u32), HC_ECODEC);
    assert_true(u32 == 7);
    assert_ptr_equal(d.p, b.data);

    static const int64_t out_of_range[] = {
        (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN,
    };
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        int32_t i32 = 7;
        hc_buf_reset(&b);
        assert_int_equal(hc_enc_i64(&b, out_of_range[i]), HC_OK);
        hc_dec_init(&d, b.data, b.len);
        assert_int_equal(hc_dec_i32(&d, &i32), HC_ECODEC);
        assert_int_equal(i32, 7);
    }
    hc_buf_free(&b);
}

static void test_bad_tags(void **state)
{
    (void)state;
    static const uint8_t bad[] = {2, 0x80, 0xff};
    for (size_t i = 0; i < sizeof bad; i++) {
        hc_dec d;
        bool v = true;
        hc_dec_init(&d, &bad[i], 1);
        assert_int_equal(hc_dec_bool(&d, &v), HC_ECODEC);
        assert_true(v);
        assert_int_equal(hc_dec_option(&d, &v), HC_ECODEC);
        assert_true(v);
        assert_int_equal(hc_dec_finish(&d), HC_ECODEC);
    }
}

static void test_text_with_nul(void **state)
{
    (void)state;
    static const uint8_t enc[] = {3, 'a', 0, 'b'};
    hc_dec d;
    hc_dec_init(&d, enc, sizeof enc);
    char *s = (char *)"untouched";
    assert_int_equal(hc_dec_text(&d, &s), HC_ECODEC);
    assert_string_equal(s, "untouched");
    /* The same bytes are a fine blob. */
    hc_bytes blob;
    assert_int_equal(hc_dec_bytes(&d, &blob), HC_OK);
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.data, "a\0b", 3);
    free(blob.data);
    assert_int_equal(hc_dec_finish(&d), HC_OK);
}

/*
** A length or count larger than what is left fails before anything is
** allocated: with 2^64 - 1 or 2^62, malloc would fail (HC_ENOMEM) or the copy
** would read past the end, so HC_ECODEC shows the check came first.
*/
static void test_forged_lengths(void **state)
{
    (void)state;
    static const struct { const char *raw; size_t n; } forged[] = {
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "abc", 13},   /* 2^64 - 1 */
        {"\x80\x80\x80\x80\x80\x80\x80\x80\x40" "abc", 12},       /* 2^62 */
        {"\x80\x80\x40" "abc", 6},                                /* 1 MiB */
        {"\x04" "abc", 4},                                        /* one too many */
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        uint8_t *copy = exact_copy(forged[i].raw, forged[i].n);
        hc_dec d;
        char *s = NULL;
        hc_bytes blob = {NULL, 0};
        size_t n = 7;
        hc_dec_init(&d, copy, forged[i].n);
        assert_int_equal(hc_dec_text(&d, &s), HC_ECODEC);
        assert_int_equal(hc_dec_bytes(&d, &blob), HC_ECODEC);
        assert_int_equal(hc_dec_count(&d, &n), HC_ECODEC);
        assert_null(s);
        assert_null(blob.data);
        assert_int_equal(n, 7);
        assert_ptr_equal(d.p, copy);
        free(copy);
    }
    /* A count equal to what is left is fine: each item takes a byte. */
    static const uint8_t list[] = {3, 1, 2, 3};
    hc_dec d;
    size_t n = 0;
    hc_dec_init(&d, list, sizeof list);
    assert_int_equal(hc_dec_count(&d, &n), HC_OK);
    assert_int_equal(n, 3);
}

static void test_finish(void **state)
{
    (void)state;
    static const uint8_t enc[] = {0x2a, 0x00};
    hc_dec d;
    uint64_t v;
    hc_dec_init(&d, enc, sizeof enc);
    assert_int_equal(hc_dec_finish(&d), HC_ECODEC);
    assert_int_equal(hc_dec_u64(&d, &v), HC_OK);
    assert_true(v == 42);
    assert_int_equal(hc_dec_finish(&d), HC_ECODEC);   /* one byte left over */
    assert_int_equal(hc_dec_u64(&d, &v), HC_OK);
    assert_int_equal(hc_dec_finish(&d), HC_OK);
}

/* ---------------------------------------------------------- key helpers */

static void test_key_escaped(void **state)
{
    (void)state;
    hc_buf k = HC_BUF_INIT;
    /* "team:{team}:users" with team = "a:b%c": no separator is added. */
    assert_int_equal(hc_buf_append_str(&k, "team:"), HC_OK);
    assert_int_equal(hc_key_piece_text(&k, "a:b%c", 5), HC_OK);
    assert_int_equal(hc_buf_append_str(&k, ":users"), HC_OK);
    assert_string_equal((char *)k.data, "team:a%3Ab%25c:users");
    hc_buf_reset(&k);
    assert_int_equal(hc_key_piece_text(&k, "x:yz", 2), HC_OK);  /* n bytes only */
    assert_int_equal(hc_key_piece_text(&k, NULL, 0), HC_OK);
    assert_int_equal(hc_key_piece_text(&k, "%", 1), HC_OK);
    assert_string_equal((char *)k.data, "x%3A%25");
    assert_int_equal(k.len, 7);
    /* hc_key_append_n still adds its separator. */
    assert_int_equal(hc_key_append_n(&k, "%:", 2), HC_OK);
    assert_string_equal((char *)k.data, "x%3A%25:%25%3A");
    hc_buf_free(&k);
}

static void test_key_numbers(void **state)
{
    (void)state;
    hc_buf k = HC_BUF_INIT;
    assert_int_equal(hc_buf_append_str(&k, "u:"), HC_OK);
    assert_int_equal(hc_key_piece_i64(&k, -42), HC_OK);
    assert_string_equal((char *)k.data, "u:-42");
    hc_buf_reset(&k);
    assert_int_equal(hc_key_piece_i64(&k, INT64_MIN), HC_OK);
    assert_int_equal(hc_buf_append_str(&k, "/"), HC_OK);
    assert_int_equal(hc_key_piece_i64(&k, INT64_MAX), HC_OK);
    assert_int_equal(hc_buf_append_str(&k, "/"), HC_OK);
    assert_int_equal(hc_key_piece_u64(&k, UINT64_MAX), HC_OK);
    assert_int_equal(hc_buf_append_str(&k, "/"), HC_OK);
    assert_int_equal(hc_key_piece_u64(&k, 0), HC_OK);
    assert_string_equal((char *)k.data,
        "-9223372036854775808/9223372036854775807/18446744073709551615/0");

    static const struct { double v; const char *text; } fs[] = {
        {1.5, "1.5"}, {-2.0, "-2"}, {0.0, "0"}, {-0.0, "0"},
        {0.1, "0.10000000000000001"}, {1e300, "1.0000000000000001e+300"},
        {DBL_MAX, "1.7976931348623157e+308"}, {5e-324, "4.9406564584124654e-324"},
        {INFINITY, "inf"}, {-INFINITY, "-inf"},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        hc_buf_reset(&k);
        assert_int_equal(hc_key_piece_f64(&k, fs[i].v), HC_OK);
        assert_string_equal((char *)k.data, fs[i].text);
    }
    hc_buf_free(&k);
}

static void test_key_hex(void **state)
{
    (void)state;
    hc_buf k = HC_BUF_INIT;
    assert_int_equal(hc_buf_append_str(&k, "blob:"), HC_OK);
    assert_int_equal(hc_key_piece_hex(&k, "\x00\x01\xab\xff\x7f", 5), HC_OK);
    assert_string_equal((char *)k.data, "blob:0001abff7f");
    assert_int_equal(hc_key_piece_hex(&k, NULL, 0), HC_OK);
    assert_int_equal(k.len, 15);
    assert_int_equal(hc_key_piece_hex(&k, "", SIZE_MAX), HC_ENOMEM);
    assert_string_equal((char *)k.data, "blob:0001abff7f");
    hc_buf_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_unsigned_vectors),
        cmocka_unit_test(test_enc_signed_vectors),
        cmocka_unit_test(test_enc_other_vectors),
        cmocka_unit_test(test_enc_append_and_einval),
        cmocka_unit_test(test_round_trip_integers),
        cmocka_unit_test(test_round_trip_f64),
        cmocka_unit_test(test_round_trip_text_bytes),
        cmocka_unit_test(test_views_and_commit),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_varint_malformed),
        cmocka_unit_test(test_narrow_ranges),
        cmocka_unit_test(test_bad_tags),
        cmocka_unit_test(test_text_with_nul),
        cmocka_unit_test(test_forged_lengths),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_key_escaped),
        cmocka_unit_test(test_key_numbers),
        cmocka_unit_test(test_key_hex),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
