/*
** test_codegen.c -- the code hcachegen writes, compiled and run: codecs
** (byte vectors, round trips, every truncation), keys, typed entity views,
** policies with caller loaders, cacheable functions of both kinds, and
** invalidation through the tags the declarations name.
**
** The generated module is tests/codegen/cg.hcache; the Makefile runs
** hcachegen on it and compiles cg.hc.c with this file.
*/
#include <stdio.h>

#include "testutil.h"
#include "cg.hc.h"

static hc_cache *open_cache(void)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "codegen";
    hc_cache *c = NULL;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    return c;
}

static void fill_user(cg_user *u, int64_t id, const char *name, const char *email)
{
    memset(u, 0, sizeof *u);
    u->id = id;
    u->name = strdup(name);
    u->email = email ? strdup(email) : NULL;
    u->score = 1.5;
    u->active = true;
}

/* ------------------------------------------------------------ codecs */

static void test_user_bytes(void **state)
{
    (void)state;
    cg_user u;
    fill_user(&u, 42, "ann", NULL);
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(cg_user_encode(&u, &b), HC_OK);
    /* zigzag(42)=84; "ann"; None; 1.5 as f64 LE; true */
    static const uint8_t want[] = {0x54, 0x03, 'a', 'n', 'n', 0x00,
                                   0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x01};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);

    free(u.email);
    u.email = strdup("a@b");
    assert_int_equal(cg_user_encode(&u, &b), HC_OK);
    static const uint8_t want2[] = {0x54, 0x03, 'a', 'n', 'n', 0x01, 0x03, 'a', '@', 'b',
                                    0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x01};
    assert_int_equal(b.len, sizeof want2);
    assert_memory_equal(b.data, want2, sizeof want2);

    cg_user v = {0};
    assert_int_equal(cg_user_decode(&v, b.data, b.len), HC_OK);
    assert_int_equal(v.id, 42);
    assert_string_equal(v.name, "ann");
    assert_string_equal(v.email, "a@b");
    assert_true(v.score == 1.5);
    assert_true(v.active);

    /* Every strict prefix is truncated input: HC_ECODEC, v untouched. */
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        assert_int_equal(cg_user_decode(&v, copy, n), HC_ECODEC);
        free(copy);
        assert_string_equal(v.name, "ann");
    }
    /* A trailing byte is malformed too. */
    assert_int_equal(hc_buf_append(&b, "x", 1), HC_OK);
    assert_int_equal(cg_user_decode(&v, b.data, b.len), HC_ECODEC);
    assert_string_equal(v.name, "ann");

    /* Decoding over a value reuses its text memory where the new text
       fits, and takes the new NULLs. */
    char *name_mem = v.name;
    cg_user w = {0};
    fill_user(&w, 43, "al", NULL);
    assert_int_equal(cg_user_encode(&w, &b), HC_OK);
    assert_int_equal(cg_user_decode(&v, b.data, b.len), HC_OK);
    assert_ptr_equal(v.name, name_mem);
    assert_string_equal(v.name, "al");
    assert_null(v.email);
    assert_int_equal(v.id, 43);
    cg_user_clear(&w);

    /* A NULL in a text field that is not nullable cannot be encoded. */
    free(u.name);
    u.name = NULL;
    assert_int_equal(cg_user_encode(&u, &b), HC_EINVAL);
    cg_user_clear(&u);
    cg_user_clear(&v);
    assert_null(v.name);
    hc_buf_free(&b);
}

static void test_every_type_round_trip(void **state)
{
    (void)state;
    uint8_t blob[] = {0, 1, 2, 0xff};
    cg_thing t = {0}, back = {0};
    t.a = INT32_MIN;
    t.b_is_null = true;
    t.c32 = UINT32_MAX;
    t.d = UINT64_MAX;
    t.e = -0.25;
    t.f = false;
    t.code = strdup("k:1%");
    t.g.data = blob;
    t.g.len = sizeof blob;
    t.h_is_null = true;
    t.i = -7;
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(cg_thing_encode(&t, &b), HC_OK);
    assert_int_equal(cg_thing_decode(&back, b.data, b.len), HC_OK);
    assert_int_equal(back.a, INT32_MIN);
    assert_true(back.b_is_null);
    assert_int_equal(back.c32, UINT32_MAX);
    assert_false(back.d_is_null);
    assert_true(back.d == UINT64_MAX);
    assert_true(back.e == -0.25);
    assert_false(back.f_is_null);
    assert_false(back.f);
    assert_string_equal(back.code, "k:1%");
    assert_int_equal(back.g.len, sizeof blob);
    assert_memory_equal(back.g.data, blob, sizeof blob);
    assert_true(back.h_is_null);
    assert_null(back.h.data);
    assert_int_equal(back.i, -7);

    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        cg_thing x = {0};
        assert_int_equal(cg_thing_decode(&x, copy, n), HC_ECODEC);
        assert_null(x.code);
        free(copy);
    }
    free(t.code);
    cg_thing_clear(&back);
    hc_buf_free(&b);
}

/* Decoding a value whose nullable fields are null over a struct where
   they held values leaves every one of them as a null field must be:
   zero, with its flag set (a blob? kept its old length once, issue 15). */
static void test_decode_null_over_value(void **state)
{
    (void)state;
    uint8_t bytes[] = {9, 8, 7};
    cg_thing full = {0}, nulls = {0}, u = {0};
    full.b = 5;
    full.d = 6;
    full.e = 7.5;
    full.f = true;
    full.code = strdup("full");
    full.g.data = bytes;
    full.g.len = sizeof bytes;
    full.h.data = bytes;
    full.h.len = sizeof bytes;
    full.i = 8;
    nulls.b_is_null = nulls.d_is_null = nulls.e_is_null = true;
    nulls.f_is_null = nulls.h_is_null = nulls.i_is_null = true;
    nulls.code = strdup("");
    hc_buf b = HC_BUF_INIT, nb = HC_BUF_INIT;
    assert_int_equal(cg_thing_encode(&full, &b), HC_OK);
    assert_int_equal(cg_thing_encode(&nulls, &nb), HC_OK);
    assert_int_equal(cg_thing_decode(&u, b.data, b.len), HC_OK);
    assert_int_equal(u.h.len, sizeof bytes);
    assert_int_equal(cg_thing_decode(&u, nb.data, nb.len), HC_OK);
    assert_true(u.b_is_null && u.d_is_null && u.e_is_null && u.f_is_null && u.i_is_null);
    assert_true(u.b == 0 && u.d == 0 && u.e == 0 && !u.f && u.i == 0);
    assert_true(u.h_is_null);
    assert_null(u.h.data);
    assert_int_equal(u.h.len, 0);
    assert_null(u.g.data);                  /* an empty blob */
    assert_int_equal(u.g.len, 0);
    assert_string_equal(u.code, "");

    /* The same with a cached read, which decodes over the caller's struct. */
    hc_cache *c = open_cache();
    cg_thing got = {0};
    assert_int_equal(cg_thing_put(c, &full), HC_OK);
    assert_int_equal(cg_thing_get(c, "full", &got), HC_OK);
    free(nulls.code);
    nulls.code = strdup("full");
    assert_int_equal(cg_thing_put(c, &nulls), HC_OK);
    assert_int_equal(cg_thing_get(c, "full", &got), HC_OK);
    assert_true(got.h_is_null);
    assert_null(got.h.data);
    assert_int_equal(got.h.len, 0);
    cg_thing_clear(&got);
    hc_cache_close(c);

    /* A nullable text: NULL again, over one that held a string. */
    cg_user a, nu, v = {0};
    fill_user(&a, 1, "a", "a@x");
    fill_user(&nu, 1, "a", NULL);
    assert_int_equal(cg_user_encode(&a, &b), HC_OK);
    assert_int_equal(cg_user_decode(&v, b.data, b.len), HC_OK);
    assert_string_equal(v.email, "a@x");
    assert_int_equal(cg_user_encode(&nu, &b), HC_OK);
    assert_int_equal(cg_user_decode(&v, b.data, b.len), HC_OK);
    assert_null(v.email);
    cg_user_clear(&a);
    cg_user_clear(&nu);
    cg_user_clear(&v);

    free(full.code);
    cg_thing_clear(&nulls);
    cg_thing_clear(&u);
    hc_buf_free(&b);
    hc_buf_free(&nb);
}

/* ------------------------------------------------------------- keys */

static void test_keys(void **state)
{
    (void)state;
    hc_buf k = HC_BUF_INIT;
    assert_int_equal(cg_user_key(&k, -42), HC_OK);
    assert_string_equal((char *)k.data, "app:user:-42");
    assert_int_equal(cg_thing_key(&k, "a:b%c"), HC_OK);
    assert_string_equal((char *)k.data, "app:thing:a%3Ab%25c");
    assert_int_equal(cg_thing_key(&k, NULL), HC_EINVAL);
    hc_buf_free(&k);
}

/* ------------------------------------------------------ entity views */

static void test_entity_get_put_invalidate(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    cg_user u, out = {0};
    fill_user(&u, 7, "bob", "b@x");
    assert_int_equal(cg_user_get(c, 7, &out), HC_MISS);
    assert_int_equal(cg_user_put(c, &u), HC_OK);
    assert_true(hc_contains(c, "app:user:7"));
    assert_int_equal(cg_user_get(c, 7, &out), HC_OK);
    assert_string_equal(out.name, "bob");
    assert_int_equal(cg_user_get(c, 7, &out), HC_OK);    /* reuse: no leak */
    assert_int_equal(cg_user_invalidate(c, 7), HC_OK);
    assert_int_equal(cg_user_get(c, 7, &out), HC_MISS);
    assert_int_equal(cg_user_put(c, &u), HC_OK);
    assert_int_equal(cg_user_invalidate_all(c), HC_OK);
    assert_false(hc_contains(c, "app:user:7"));

    /* Bytes that do not decode are dropped: a miss, and the key is gone. */
    assert_int_equal(hc_put(c, "app:user:7", "\x01\xff", 2, NULL), HC_OK);
    assert_int_equal(cg_user_get(c, 7, &out), HC_MISS);
    assert_false(hc_contains(c, "app:user:7"));

    cg_user_clear(&u);
    cg_user_clear(&out);
    hc_cache_close(c);
}

/* ---------------------------------------------------------- policies */

typedef struct loader_state {
    int calls;
    int rc;                /* what the loader returns */
    int64_t id;
} loader_state;

static int user_loader(void *ctx, int64_t user_id, cg_user *out, hc_error *err)
{
    loader_state *ls = ctx;
    ls->calls++;
    if (ls->rc == HC_OK) fill_user(out, user_id, "loaded", NULL);
    if (ls->rc < 0) return hc_error_set(err, ls->rc, "loader says no for %lld", (long long)user_id);
    return ls->rc;
}

static void test_policy_caches_absence(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    loader_state ls = {0, HC_MISS, 0};
    cg_user out = {0};
    hc_error err;
    assert_int_equal(cg_load_user(c, 5, user_loader, &ls, &out, &err), HC_MISS);
    assert_int_equal(cg_load_user(c, 5, user_loader, &ls, &out, &err), HC_MISS);
    assert_int_equal(ls.calls, 1);                    /* absence was cached */
    assert_int_equal(cg_user_get(c, 5, &out), HC_MISS);
    /* The non-optional policy on the same key reads the cached absence. */
    assert_int_equal(cg_must_user(c, 5, user_loader, &ls, &out, &err), HC_ENOTFOUND);
    assert_int_equal(ls.calls, 1);

    /* The entity put shares the key: both policies now see it. */
    cg_user u;
    fill_user(&u, 5, "put", NULL);
    assert_int_equal(cg_user_put(c, &u), HC_OK);
    assert_int_equal(cg_load_user(c, 5, user_loader, &ls, &out, &err), HC_OK);
    assert_string_equal(out.name, "put");
    assert_int_equal(cg_must_user(c, 5, user_loader, &ls, &out, &err), HC_OK);
    assert_int_equal(ls.calls, 1);

    /* Invalidating the entity tag makes the next call load. */
    assert_int_equal(cg_user_invalidate(c, 5), HC_OK);
    ls.rc = HC_OK;
    assert_int_equal(cg_load_user(c, 5, user_loader, &ls, &out, &err), HC_OK);
    assert_string_equal(out.name, "loaded");
    assert_int_equal(ls.calls, 2);
    cg_user_clear(&u);
    cg_user_clear(&out);
    hc_cache_close(c);
}

static void test_policy_errors_store_nothing(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    loader_state ls = {0, HC_MISS, 0};
    cg_user out = {0};
    hc_error err;
    /* A required result that is missing: HC_ENOTFOUND, nothing cached. */
    assert_int_equal(cg_must_user(c, 9, user_loader, &ls, &out, &err), HC_ENOTFOUND);
    assert_int_equal(err.code, HC_ENOTFOUND);
    assert_false(hc_contains(c, "app:user:9"));
    /* A failing loader: its code and message, nothing cached. */
    ls.rc = HC_EDB;
    assert_int_equal(cg_load_user(c, 9, user_loader, &ls, &out, &err), HC_EDB);
    assert_string_equal(err.message, "loader says no for 9");
    assert_false(hc_contains(c, "app:user:9"));
    assert_int_equal(ls.calls, 2);
    /* NULL arguments. */
    assert_int_equal(cg_load_user(c, 9, NULL, &ls, &out, &err), HC_EINVAL);
    assert_int_equal(cg_load_user(NULL, 9, user_loader, &ls, &out, NULL), HC_EINVAL);
    hc_cache_close(c);
}

static int team_loader(void *ctx, int64_t team, cg_user_list *out, hc_error *err)
{
    loader_state *ls = ctx;
    (void)err;
    ls->calls++;
    if (team == 0) return HC_OK;                          /* empty list */
    out->items = calloc(2, sizeof *out->items);
    out->len = 2;
    fill_user(&out->items[0], team * 10, "x", NULL);
    fill_user(&out->items[1], team * 10 + 1, "y", "y@y");
    return HC_OK;
}

static int ids_loader(void *ctx, int64_t team, cg_i64_list *out, hc_error *err)
{
    loader_state *ls = ctx;
    (void)err;
    ls->calls++;
    out->items = calloc(3, sizeof *out->items);
    out->len = 3;
    for (size_t i = 0; i < 3; i++) out->items[i] = team + (int64_t)i;
    return HC_OK;
}

static int count_loader(void *ctx, const char *kind, uint32_t *out, hc_error *err)
{
    loader_state *ls = ctx;
    (void)err;
    ls->calls++;
    if (strcmp(kind, "none") == 0) return HC_MISS;
    *out = (uint32_t)strlen(kind);
    return HC_OK;
}

static void test_policy_lists_and_tags(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    loader_state ls = {0, HC_OK, 0};
    cg_user_list l = {0};
    hc_error err;
    assert_int_equal(cg_team_users(c, 3, team_loader, &ls, &l, &err), HC_OK);
    assert_int_equal(l.len, 2);
    assert_int_equal(l.items[1].id, 31);
    assert_string_equal(l.items[1].email, "y@y");
    assert_int_equal(cg_team_users(c, 3, team_loader, &ls, &l, &err), HC_OK);
    assert_int_equal(ls.calls, 1);
    assert_true(hc_contains(c, "app:team:3:users"));
    /* The empty list is cached as well. */
    assert_int_equal(cg_team_users(c, 0, team_loader, &ls, &l, &err), HC_OK);
    assert_int_equal(l.len, 0);
    assert_null(l.items);
    assert_int_equal(cg_team_users(c, 0, team_loader, &ls, &l, &err), HC_OK);
    assert_int_equal(ls.calls, 2);

    /* Scalar lists; the tag "team:{team}" reaches both declarations. */
    cg_i64_list ids = {0};
    assert_int_equal(cg_team_ids(c, 3, ids_loader, &ls, &ids, &err), HC_OK);
    assert_int_equal(ids.len, 3);
    assert_int_equal(ids.items[2], 5);
    assert_true(hc_contains(c, "app:team_ids:3"));
    uint64_t removed = 0;
    assert_int_equal(hc_invalidate_tag(c, "team:3", &removed), HC_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(cg_team_users(c, 3, team_loader, &ls, &l, &err), HC_OK);
    assert_int_equal(ls.calls, 4);
    /* And "users" (the collection) reaches the list too. */
    assert_int_equal(cg_user_invalidate_all(c), HC_OK);
    assert_false(hc_contains(c, "app:team:3:users"));

    /* Optional scalar: absence cached, value returned. */
    uint32_t n = 0;
    assert_int_equal(cg_maybe_count(c, "none", count_loader, &ls, &n, &err), HC_MISS);
    assert_int_equal(cg_maybe_count(c, "none", count_loader, &ls, &n, &err), HC_MISS);
    assert_int_equal(cg_maybe_count(c, "four", count_loader, &ls, &n, &err), HC_OK);
    assert_int_equal(n, 4);
    assert_int_equal(ls.calls, 6);
    assert_int_equal(cg_maybe_count(c, NULL, count_loader, &ls, &n, &err), HC_EINVAL);

    cg_user_list_clear(&l);
    cg_i64_list_clear(&ids);
    hc_cache_close(c);
}

/* -------------------------------------------------------- cacheables */

static int fib_calls, fib_fail;

int cg_fib_load(int64_t n, int64_t *out, hc_error *err)
{
    fib_calls++;
    if (fib_fail) return hc_error_set(err, HC_ELOAD, "fib(%lld) refused", (long long)n);
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    *out = a;
    return HC_OK;
}

static int greeting_calls;

char *cg_greeting_load(const char *name)
{
    greeting_calls++;
    size_t n = strlen(name) + 8;
    char *s = malloc(n);
    if (s) snprintf(s, n, "hello, %s", name);
    return s;
}

int64_t cg_square_load(int32_t x)
{
    return (int64_t)x * x;
}

int cg_digest_load(hc_bytes data, uint64_t salt, hc_bytes *out, hc_error *err)
{
    (void)err;
    out->len = data.len;
    out->data = malloc(data.len ? data.len : 1);
    for (size_t i = 0; i < data.len; i++) out->data[i] = (uint8_t)(data.data[i] ^ salt);
    return HC_OK;
}

void cg_top_user_load(int64_t team, double min, bool active, cg_user *out)
{
    fill_user(out, team, active ? "active" : "idle", NULL);
    out->score = min;
}

int cg_labels_load(const char *prefix, cg_text_list *out, hc_error *err)
{
    (void)err;
    out->items = calloc(2, sizeof *out->items);
    out->len = 2;
    out->items[0] = strdup(prefix);
    out->items[1] = strdup("");
    return HC_OK;
}

int cg_answer_load(uint64_t *out, hc_error *err)
{
    (void)err;
    *out = 42;
    return HC_OK;
}

static void test_cacheable_fallible(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    int64_t v = 0;
    hc_error err;
    fib_calls = 0;
    fib_fail = 0;
    assert_int_equal(cg_fib(c, 50, &v, &err), HC_OK);
    assert_int_equal(v, 12586269025);
    assert_int_equal(cg_fib(c, 50, &v, NULL), HC_OK);
    assert_int_equal(fib_calls, 1);
    assert_true(hc_contains(c, "app:fib:50"));

    fib_fail = 1;
    assert_int_equal(cg_fib(c, 51, &v, &err), HC_ELOAD);
    assert_string_equal(err.message, "fib(51) refused");
    assert_false(hc_contains(c, "app:fib:51"));
    fib_fail = 0;
    assert_int_equal(cg_fib(c, 51, &v, &err), HC_OK);
    assert_int_equal(fib_calls, 3);

    /* A cached value that does not decode is dropped and loaded again. */
    assert_int_equal(hc_put(c, "app:fib:50", "\xff", 1, NULL), HC_OK);
    assert_int_equal(cg_fib(c, 50, &v, &err), HC_OK);
    assert_int_equal(v, 12586269025);
    assert_int_equal(fib_calls, 4);

    uint8_t in[] = {1, 2, 3};
    hc_bytes data = {in, sizeof in}, out = {0};
    assert_int_equal(cg_digest(c, data, 1, &out, &err), HC_OK);
    assert_int_equal(out.len, 3);
    assert_int_equal(out.data[2], 2);
    assert_true(hc_contains(c, "app:digest:010203:1"));
    free(out.data);

    cg_text_list labels = {0};
    assert_int_equal(cg_labels(c, "a:b", &labels, &err), HC_OK);
    assert_int_equal(labels.len, 2);
    assert_string_equal(labels.items[0], "a:b");
    assert_string_equal(labels.items[1], "");
    assert_true(hc_contains(c, "app:labels:a%3Ab"));
    cg_text_list_clear(&labels);

    uint64_t a = 0;
    assert_int_equal(cg_answer(c, &a, &err), HC_OK);
    assert_int_equal(a, 42);
    assert_true(hc_contains(c, "app:answer"));
    hc_cache_close(c);
}

/* ---------------------------------------------- cacheables with context */

typedef struct scale {
    int64_t factor;
    int calls;
} scale;

int cg_scaled_load(void *ctx, int64_t n, int64_t *out, hc_error *err)
{
    scale *s = ctx;
    if (!s) return hc_error_set(err, HC_ELOAD, "no context");
    s->calls++;
    *out = n * s->factor;
    return HC_OK;
}

char *cg_shout_load(void *ctx, const char *word)
{
    scale *s = ctx;
    s->calls++;
    size_t n = strlen(word);
    char *t = malloc(n + 2);
    if (t) {
        for (size_t i = 0; i < n; i++) t[i] = (char)(word[i] >= 'a' && word[i] <= 'z' ? word[i] - 32 : word[i]);
        memcpy(t + n, "!", 2);
    }
    return t;
}

/* The ctx of a call reaches the loader, as a policy's does; a hit does not
   run the loader, whatever ctx it is given. */
static void test_cacheable_context(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    scale s = {3, 0}, other = {100, 0};
    int64_t v = 0;
    hc_error err;
    assert_int_equal(cg_scaled(c, 7, &s, &v, &err), HC_OK);
    assert_int_equal(v, 21);
    assert_int_equal(cg_scaled(c, 7, &other, &v, &err), HC_OK);   /* a hit */
    assert_int_equal(v, 21);
    assert_int_equal(s.calls, 1);
    assert_int_equal(other.calls, 0);
    assert_int_equal(cg_scaled(c, 8, &other, &v, &err), HC_OK);
    assert_int_equal(v, 800);
    assert_int_equal(cg_scaled(c, 9, NULL, &v, &err), HC_ELOAD);
    assert_string_equal(err.message, "no context");

    char *w = NULL;
    assert_int_equal(cg_shout(c, "hey", &s, &w), HC_OK);
    assert_string_equal(w, "HEY!");
    assert_int_equal(cg_shout(c, "hey", &s, &w), HC_OK);
    assert_int_equal(s.calls, 2);
    assert_true(hc_contains(c, "app:shout:hey"));
    free(w);
    hc_cache_close(c);
}

/* Argument errors name the function and the argument. */
static void test_argument_messages(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    loader_state ls = {0, HC_OK, 0};
    cg_user out = {0};
    hc_error err;
    assert_int_equal(cg_load_user(NULL, 1, user_loader, &ls, &out, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_load_user: argument 'c' is NULL");
    assert_int_equal(cg_load_user(c, 1, NULL, &ls, &out, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_load_user: argument 'load' is NULL");
    assert_int_equal(cg_load_user(c, 1, user_loader, &ls, NULL, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_load_user: argument 'out' is NULL");
    uint32_t n = 0;
    assert_int_equal(cg_maybe_count(c, NULL, count_loader, &ls, &n, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_maybe_count: argument 'kind' is NULL");
    hc_bytes out_b = {0};
    assert_int_equal(cg_digest(c, (hc_bytes){NULL, 2}, 1, &out_b, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_digest: argument 'data' has a length and no data");
    int64_t v = 0;
    assert_int_equal(cg_fib(NULL, 1, &v, &err), HC_EINVAL);
    assert_string_equal(err.message, "cg_fib: argument 'c' is NULL");
    assert_int_equal(ls.calls, 0);
    hc_cache_close(c);
}

static void test_cacheable_infallible(void **state)
{
    (void)state;
    hc_cache *c = open_cache();
    char *g = NULL;
    greeting_calls = 0;
    assert_int_equal(cg_greeting(c, "ann", &g), HC_OK);
    assert_string_equal(g, "hello, ann");
    assert_int_equal(cg_greeting(c, "ann", &g), HC_OK);     /* frees the old g */
    assert_int_equal(greeting_calls, 1);
    uint64_t removed = 0;
    assert_int_equal(hc_invalidate_tag(c, "greetings", &removed), HC_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(cg_greeting(c, "ann", &g), HC_OK);
    assert_int_equal(greeting_calls, 2);
    assert_int_equal(cg_greeting(c, NULL, &g), HC_EINVAL);
    free(g);

    int64_t sq = 0;
    assert_int_equal(cg_square(c, -3000, &sq), HC_OK);
    assert_int_equal(sq, 9000000);
    assert_true(hc_contains(c, "app:square:-3000"));

    cg_user u = {0};
    assert_int_equal(cg_top_user(c, 4, 0.5, true, &u), HC_OK);
    assert_string_equal(u.name, "active");
    assert_true(u.score == 0.5);
    assert_true(hc_contains(c, "app:top_user:4:0.5:true"));
    cg_user_clear(&u);
    hc_cache_close(c);
}

/* ---------------------------------------------------------- freshness */

/* cg_quote's loader: "<symbol>#<n>/<salt bytes>", n counting calls; it
   waits at quote_gate when one is set, and fails with quote_fail. */
static atomic_int quote_calls, quote_fail;
static test_gate *quote_gate;

int cg_quote_load(const char *symbol, hc_bytes salt, char **out, hc_error *err)
{
    int n = atomic_fetch_add(&quote_calls, 1) + 1;
    if (quote_gate) test_gate_wait(quote_gate);
    int fail = atomic_load(&quote_fail);
    if (fail) return hc_error_set(err, fail, "exchange closed");
    char v[128];
    snprintf(v, sizeof v, "%s#%d/%zu", symbol, n, salt.len);
    *out = strdup(v);
    return *out ? HC_OK : HC_ENOMEM;
}

static bool quote_refreshed(void *arg)
{
    hc_stats s;
    hc_stats_get(arg, &s);
    return s.refreshes >= 1;
}

/*
** A generated cacheable with refresh, stale if error and jitter: a hit
** past the refresh time returns the value it found at once while its
** refresh waits at a gate on the refresh thread, with its own copy of the
** arguments (the caller's are freed meanwhile); a failed load past the
** TTL returns the old value, counted per declaration.
*/
static void test_fresh_cacheable(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    atomic_store(&quote_calls, 0);
    atomic_store(&quote_fail, 0);
    char *sym = strdup("ACME");
    uint8_t *salt = malloc(3);
    memcpy(salt, "abc", 3);
    char *q = NULL;
    hc_error err;
    assert_int_equal(cg_quote(c, sym, (hc_bytes){salt, 3}, &q, &err), HC_OK);
    assert_string_equal(q, "ACME#1/3");

    test_gate g;
    test_gate_init(&g);
    quote_gate = &g;
    test_clock_advance(&tc, 2000);
    assert_int_equal(cg_quote(c, sym, (hc_bytes){salt, 3}, &q, &err), HC_OK);
    assert_string_equal(q, "ACME#1/3");                 /* served; the refresh waits */
    test_gate_await_arrivals(&g, 1);
    /* The caller's arguments go away: the refresh has its own. */
    memset(sym, 'X', 4);
    free(sym);
    memset(salt, 0, 3);
    free(salt);
    assert_int_equal(cg_quote(c, "ACME", (hc_bytes){(uint8_t *)"abc", 3}, &q, &err), HC_OK);
    assert_string_equal(q, "ACME#1/3");
    test_gate_open(&g);
    if (!test_wait_until(quote_refreshed, c)) fail_msg("the refresh never ran");
    quote_gate = NULL;
    assert_int_equal(cg_quote(c, "ACME", (hc_bytes){(uint8_t *)"abc", 3}, &q, &err), HC_OK);
    assert_string_equal(q, "ACME#2/3");
    assert_int_equal(atomic_load(&quote_calls), 2);

    /* Past its TTL (at most 10 s after the refresh), the exchange down. */
    test_clock_advance(&tc, 10000);
    atomic_store(&quote_fail, HC_ECONN);
    assert_int_equal(cg_quote(c, "ACME", (hc_bytes){(uint8_t *)"abc", 3}, &q, &err), HC_OK);
    assert_string_equal(q, "ACME#2/3");
    assert_int_equal(err.code, HC_OK);
    assert_string_equal(err.message, "stale value served: exchange closed");
    hc_decl_stats ds;
    assert_int_equal(hc_decl_stats_get(c, "cg", "quote", &ds), HC_OK);
    assert_int_equal(ds.refreshes, 1);
    assert_int_equal(ds.refresh_failures, 0);
    assert_int_equal(ds.stale_served, 1);
    assert_int_equal(ds.loads, 2);
    assert_int_equal(ds.load_failures, 1);
    /* An invalidation takes the old value away for good. */
    assert_int_equal(hc_invalidate_tag(c, "quotes", NULL), HC_OK);
    assert_int_equal(cg_quote(c, "ACME", (hc_bytes){(uint8_t *)"abc", 3}, &q, &err), HC_ECONN);
    assert_string_equal(err.message, "exchange closed");
    free(q);
    test_gate_destroy(&g);
    hc_cache_close(c);
}

static int rate_loader(void *ctx, const char *pair, double *out, hc_error *err)
{
    (void)pair;
    (void)err;
    int *calls = ctx;
    *out = 1.0 + ++*calls;
    return HC_OK;
}

/* A policy's refresh runs on the calling thread, with the caller's ctx,
   after the value it returns was read. */
static void test_fresh_policy_inline(void **state)
{
    (void)state;
    test_clock tc = {0};
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.clock_ms = test_clock_ms;
    cfg.clock_ctx = &tc;
    hc_cache *c;
    assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
    int calls = 0;
    double r = 0;
    hc_error err;
    assert_int_equal(cg_rate(c, "EURUSD", rate_loader, &calls, &r, &err), HC_OK);
    assert_true(r == 2.0);
    test_clock_advance(&tc, 2000);
    assert_int_equal(cg_rate(c, "EURUSD", rate_loader, &calls, &r, &err), HC_OK);
    assert_true(r == 2.0);                              /* the value found */
    assert_int_equal(calls, 2);                         /* refreshed before returning */
    assert_int_equal(cg_rate(c, "EURUSD", rate_loader, &calls, &r, &err), HC_OK);
    assert_true(r == 3.0);
    hc_decl_stats ds;
    assert_int_equal(hc_decl_stats_get(c, "cg", "rate", &ds), HC_OK);
    assert_int_equal(ds.refreshes, 1);
    hc_cache_close(c);
}

/* Contextual keywords of the freshness clauses are names elsewhere. */
static void test_fresh_names(void **state)
{
    (void)state;
    cg_fresh_names n = {0};
    n.refresh = 7;
    n.error = true;
    n.jitter = 0.5;
    n.ttl = 3;
    n.stale = strdup("s");
    hc_buf b = HC_BUF_INIT;
    assert_int_equal(cg_fresh_names_encode(&n, &b), HC_OK);
    cg_fresh_names back = {0};
    assert_int_equal(cg_fresh_names_decode(&back, b.data, b.len), HC_OK);
    assert_int_equal(back.refresh, 7);
    assert_string_equal(back.stale, "s");
    cg_fresh_names_clear(&n);
    cg_fresh_names_clear(&back);
    hc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_bytes),
        cmocka_unit_test(test_every_type_round_trip),
        cmocka_unit_test(test_decode_null_over_value),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_entity_get_put_invalidate),
        cmocka_unit_test(test_policy_caches_absence),
        cmocka_unit_test(test_policy_errors_store_nothing),
        cmocka_unit_test(test_policy_lists_and_tags),
        cmocka_unit_test(test_cacheable_fallible),
        cmocka_unit_test(test_cacheable_infallible),
        cmocka_unit_test(test_cacheable_context),
        cmocka_unit_test(test_argument_messages),
        cmocka_unit_test(test_fresh_cacheable),
        cmocka_unit_test(test_fresh_policy_inline),
        cmocka_unit_test(test_fresh_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
