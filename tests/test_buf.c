/*
** test_buf.c -- hc_buf, the key builders and their escaping, error names.
*/
#include <inttypes.h>
#include <stdio.h>

#include "testutil.h"

static void test_buf_basics(void **state)
{
    (void)state;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_buf_append_str(&b, "abc"), HC_OK);
    assert_int_equal(b.len, 3);
    assert_true(b.cap > 3);
    assert_string_equal((char *)b.data, "abc");
    assert_int_equal(hc_buf_append(&b, "de", 2), HC_OK);
    assert_string_equal((char *)b.data, "abcde");
    assert_int_equal(hc_buf_set(&b, "x", 1), HC_OK);
    assert_string_equal((char *)b.data, "x");
    hc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.data, "");
    for (int i = 0; i < 1000; i++) assert_int_equal(hc_buf_append(&b, "0123456789", 10), HC_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[10000], 0);
    assert_int_equal(hc_buf_reserve(&b, SIZE_MAX), HC_ENOMEM);
    assert_int_equal(b.len, 10000);                  /* unchanged on failure */
    hc_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    hc_buf_free(NULL);
    hc_buf_init(&b);
    assert_int_equal(hc_buf_append(&b, NULL, 0), HC_OK);
    assert_non_null(b.data);
    assert_int_equal(b.data[0], 0);
    hc_buf_free(&b);
}

static const char *key_of(hc_buf *k, int n, const char *const *segs)
{
    hc_buf_reset(k);
    k->len = 0;
    for (int i = 0; i < n; i++) assert_int_equal(hc_key_append(k, segs[i]), HC_OK);
    return k->data ? (const char *)k->data : "";
}

static void test_keys(void **state)
{
    (void)state;
    hc_buf k = HC_BUF_INIT;
    assert_int_equal(hc_key_append(&k, "shop"), HC_OK);
    assert_int_equal(hc_key_append(&k, "user"), HC_OK);
    assert_int_equal(hc_key_append_i64(&k, 42), HC_OK);
    assert_string_equal((char *)k.data, "shop:user:42");
    hc_buf_reset(&k);
    assert_int_equal(hc_key_append_i64(&k, INT64_MIN), HC_OK);
    assert_int_equal(hc_key_append_u64(&k, UINT64_MAX), HC_OK);
    assert_string_equal((char *)k.data, "-9223372036854775808:18446744073709551615");
    /* Digits two at a time: every length and both ends of each, against
       printf, through all four number appenders. */
    for (uint64_t p = 1, i = 0; i < 20; i++, p *= 10) {
        const uint64_t vs[] = {p - 1, p, p + 1, p * 9 + (p - 1)};
        for (size_t j = 0; j < sizeof vs / sizeof vs[0]; j++) {
            uint64_t u = vs[j];
            int64_t n = -(int64_t)(u & INT64_MAX);
            char want[128];
            snprintf(want, sizeof want, "%" PRIu64 "%" PRId64 ":%" PRIu64 ":%" PRId64, u, n, u, n);
            hc_buf_reset(&k);
            assert_int_equal(hc_key_piece_u64(&k, u), HC_OK);
            assert_int_equal(hc_key_piece_i64(&k, n), HC_OK);
            assert_int_equal(hc_key_append_u64(&k, u), HC_OK);
            assert_int_equal(hc_key_append_i64(&k, n), HC_OK);
            assert_string_equal((char *)k.data, want);
        }
    }
    hc_buf_reset(&k);
    assert_int_equal(hc_key_append(&k, ""), HC_OK);        /* empty first segment */
    assert_int_equal(hc_key_append(&k, "x"), HC_OK);
    assert_string_equal((char *)k.data, "x");
    hc_buf_reset(&k);
    assert_int_equal(hc_key_append_n(&k, "a:b%c", 5), HC_OK);
    assert_string_equal((char *)k.data, "a%3Ab%25c");
    hc_buf_free(&k);
}

/* Distinct segment lists never build the same key. */
static void test_key_escaping_collisions(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"a:b", NULL, NULL}, {"a", "b", NULL},
        {"a%3Ab", NULL, NULL}, {"a%", "3Ab", NULL},
        {"%", NULL, NULL}, {"%25", NULL, NULL}, {":", NULL, NULL},
        {"%3A", NULL, NULL}, {"a", ":b", NULL}, {"a:", "b", NULL},
        {"a", "b", "c"}, {"a:b", "c", NULL}, {"a", "b:c", NULL},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    char built[N][64];
    hc_buf k = HC_BUF_INIT;
    for (int i = 0; i < N; i++) {
        int n = 0;
        while (n < 3 && cases[i][n]) n++;
        snprintf(built[i], sizeof built[i], "%s", key_of(&k, n, cases[i]));
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (strcmp(built[i], built[j]) == 0)
                fail_msg("cases %d and %d both build '%s'", i, j, built[i]);
    assert_string_equal(built[0], "a%3Ab");
    assert_string_equal(built[1], "a:b");
    assert_string_equal(built[2], "a%253Ab");
    hc_buf_free(&k);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(hc_strerror(HC_OK), "ok");
    assert_string_equal(hc_strerror(HC_MISS), "miss");
    assert_string_equal(hc_strerror(HC_ENOMEM), "out of memory");
    assert_string_equal(hc_err_name(HC_ENOMEM), "HC_ENOMEM");
    assert_string_equal(hc_err_name(HC_ETIMEDOUT), "HC_ETIMEDOUT");
    assert_string_equal(hc_err_name(-999), "HC_EUNKNOWN");
    assert_string_equal(hc_strerror(-999), "unknown error");
    /* Every code has a distinct name and a message. */
#define XX(name, value, msg) \
    assert_string_equal(hc_err_name(value), "HC_" #name); \
    assert_string_equal(hc_strerror(value), msg); \
    assert_true((value) < 0);
    HC_ERRNO_MAP(XX)
#undef XX
    hc_error e;
    assert_int_equal(hc_error_set(&e, HC_EDB, "table '%s' is gone", "users"), HC_EDB);
    assert_int_equal(e.code, HC_EDB);
    assert_string_equal(e.message, "table 'users' is gone");
    hc_error_set(&e, HC_EINVAL, NULL);
    assert_string_equal(e.message, "invalid argument");
    char longmsg[600];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    hc_error_set(&e, HC_ELOAD, "%s", longmsg);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
    hc_error_clear(&e);
    assert_int_equal(e.code, HC_OK);
    assert_string_equal(e.message, "");
    assert_int_equal(hc_error_set(NULL, HC_EBUSY, "x"), HC_EBUSY);
    hc_error_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_basics),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_key_escaping_collisions),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
