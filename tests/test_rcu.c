/*
** test_rcu.c -- lock-free hits against every kind of write.
**
** Readers call hc_get, hc_contains and hc_get_or_load with no lock while a
** writer grows the tables from their first 16 buckets, replaces, removes,
** invalidates tags, flushes and lets entries expire. Every value encodes
** its key and a version, and every hit is checked byte for byte, so a read
** of a half-written, reused or wrong entry fails the test; a read of freed
** memory fails it under ASan, and a race under TSan (`make check` runs this
** suite under both). The counting allocator checks that every deferred free
** has happened once hc_cache_close returns, and the stats that each read is
** counted exactly once, however many threads count.
*/
#include <stdio.h>

#include "testutil.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hc_int.h"             /* the read side itself, hc__rcu_use_fences */

#define READERS   3
#define KEYS      3000      /* about 94 per shard: tables grow 16 -> 128 */
#define ROUNDS    3
#define CHURN     6000      /* writes after the growth phase, per round */

/* Values: "<key>#<version>#" then filler bytes derived from both, a length
   that varies with them (so readers' buffers grow too). */
static size_t make_value(unsigned k, unsigned ver, char *out, size_t cap)
{
    int n = snprintf(out, cap, "k%u#%u#", k, ver);
    size_t len = (size_t)n + (k * 7u + ver * 13u) % 180u;
    for (size_t i = (size_t)n; i < len && i < cap; i++)
        out[i] = (char)('a' + (k + ver + i) % 26u);
    return len;
}

/* Whether b holds a value make_value could have made for key k. */
static int value_ok(unsigned k, const hc_buf *b)
{
    unsigned kk, ver;
    if (b->len == 0 || sscanf((const char *)b->data, "k%u#%u#", &kk, &ver) != 2) return 0;
    char want[256];
    size_t len = make_value(k, ver, want, sizeof want);
    return kk == k && b->len == len && memcmp(b->data, want, len) == 0 &&
           b->data[b->len] == '\0';
}

static void key_of(unsigned k, char *out, size_t cap)
{
    snprintf(out, cap, "k%u", k);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct reader {
    pthread_t  thread;
    hc_cache  *c;
    atomic_int *stop;
    uint64_t   seed;
    long       bad, reads, uncounted;
} reader;

typedef struct load_ctx {
    unsigned k;
} load_ctx;

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    (void)err;
    char val[256];
    size_t len = make_value(((load_ctx *)ctx)->k, 0, val, sizeof val);
    return hc_buf_set(out, val, len);
}

static int visit_copy(void *ctx, const void *data, size_t len)
{
    return hc_buf_set(ctx, data, len);
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    char key[32];
    while (!atomic_load(r->stop)) {
        uint64_t x = next_rand(&r->seed);
        unsigned k = (unsigned)(x >> 16) % KEYS;
        key_of(k, key, sizeof key);
        int rc;
        switch (x % 8) {
        case 0:
            (void)hc_contains(r->c, key);
            continue;
        case 1: {
            load_ctx lc = {k};
            rc = hc_get_or_load(r->c, key, NULL, load_fn, &lc, &b, &err);
            if (rc != HC_OK || !value_ok(k, &b)) r->bad++;
            break;
        }
        case 2: {
            /* Read in place: the visitor copies, and checks the copy. */
            hc_buf_reset(&b);
            rc = hc_try_visit(r->c, key, strlen(key), visit_copy, &b);
            if (rc == HC_OK && !value_ok(k, &b)) r->bad++;
            if (rc != HC_OK && rc != HC_MISS) r->bad++;
            if (rc == HC_MISS) r->uncounted++;       /* a visit counts no miss */
            break;
        }
        default:
            rc = hc_get(r->c, key, &b);
            if (rc == HC_OK && !value_ok(k, &b)) r->bad++;
            if (rc != HC_OK && rc != HC_MISS) r->bad++;
            break;
        }
        r->reads++;
        /* Start some reads with an empty buffer: the read grows it. */
        if (x % 64 == 0) hc_buf_free(&b);
    }
    hc_buf_free(&b);
    return NULL;
}

static void put_version(hc_cache *c, unsigned k, unsigned ver, uint64_t ttl)
{
    char key[32], val[256], tag[16];
    key_of(k, key, sizeof key);
    snprintf(tag, sizeof tag, "t%u", k % 8);
    const char *tags[] = {tag};
    hc_options o = {.ttl_ms = ttl, .tags = tags, .ntags = 1};
    size_t len = make_value(k, ver, val, sizeof val);
    assert_int_equal(hc_put(c, key, val, len, &o), HC_OK);
}

/* With the test clock, or with the built-in one (which lock-free reads
   consult only for entries with a deadline). */
static void hammer(uint64_t max_entries, bool real_clock)
{
    test_alloc ta;
    memset(&ta, 0, sizeof ta);
    hc_allocator alloc = test_allocator(&ta);
    test_clock tc;
    atomic_init(&tc.now, 1000);
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.max_entries = max_entries;
    cfg.default_ttl_ms = HC_TTL_NEVER;
    if (!real_clock) {
        cfg.clock_ms = test_clock_ms;
        cfg.clock_ctx = &tc;
    }
    cfg.allocator = &alloc;

    for (int round = 0; round < ROUNDS; round++) {
        hc_cache *c;
        assert_int_equal(hc_cache_open(&c, &cfg), HC_OK);
        atomic_int stop = 0;
        reader r[READERS];
        for (int i = 0; i < READERS; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].c = c;
            r[i].stop = &stop;
            r[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1 + round * READERS);
            assert_int_equal(pthread_create(&r[i].thread, NULL, reader_main, &r[i]), 0);
        }

        /* Growth: every key in turn, so each shard's table doubles three
           times under the readers. */
        for (unsigned k = 0; k < KEYS; k++) put_version(c, k, 1, HC_TTL_NEVER);

        /* Churn: replace (also with TTLs of a few ms, which the moving
           clock expires), remove, invalidate tags, flush. */
        uint64_t seed = 0xD1B54A32D192ED03ull + (uint64_t)round;
        char key[32], tag[16];
        for (unsigned i = 0; i < CHURN; i++) {
            uint64_t x = next_rand(&seed);
            unsigned k = (unsigned)(x >> 16) % KEYS;
            key_of(k, key, sizeof key);
            switch (x % 100) {
            case 0:
                assert_int_equal(hc_flush(c), HC_OK);
                break;
            case 1: case 2:
                snprintf(tag, sizeof tag, "t%u", k % 8);
                assert_int_equal(hc_invalidate_tag(c, tag, NULL), HC_OK);
                break;
            default:
                if (x % 100 < 20) {
                    int rc = hc_remove(c, key);
                    assert_true(rc == HC_OK || rc == HC_MISS);
                } else {
                    put_version(c, k, 2 + i, x % 4 == 0 ? 1 + x % 5 : HC_TTL_NEVER);
                }
            }
            if (i % 16 == 0) test_clock_advance(&tc, 1);
        }

        atomic_store(&stop, 1);
        long reads = 0;
        for (int i = 0; i < READERS; i++) assert_int_equal(pthread_join(r[i].thread, NULL), 0);
        for (int i = 0; i < READERS; i++) {
            assert_int_equal(r[i].bad, 0);
            reads += r[i].reads - r[i].uncounted;
        }
        /* Each hc_get and hc_get_or_load counted one hit or one miss, each
           hc_try_visit a hit or nothing. */
        hc_stats st;
        hc_stats_get(c, &st);
        assert_int_equal(st.hits + st.misses, (uint64_t)reads);
        hc_diagnostics d = test_diag(c);
        if (max_entries) assert_true(d.entries <= max_entries);
        assert_int_equal(hc_cache_close(c), HC_OK);
        /* Everything freed, deferred frees included. */
        assert_int_equal(atomic_load(&ta.live), 0);
    }
}

static void test_readers_against_writes(void **state)
{
    (void)state;
    hammer(0, false);
}

static void test_readers_against_evictions(void **state)
{
    (void)state;
    hammer(KEYS / 4, true);
}

/*
** A lock-free miss is trusted only when no resize rewrote the chains it
** walked, and a put swaps the new entry into the old one's place in one
** store: so a key that is always present is always found, while the tables
** grow under the readers and the key itself is replaced again and again.
*/
#define PINNED 64

typedef struct pin_reader {
    pthread_t  thread;
    hc_cache  *c;
    atomic_int *stop;
    long       bad, reads, uncounted;
} pin_reader;

static void *pin_reader_main(void *arg)
{
    pin_reader *r = arg;
    hc_buf b = HC_BUF_INIT;
    char key[32];
    for (unsigned i = 0; !atomic_load(r->stop); i++) {
        unsigned k = i % PINNED;
        key_of(k, key, sizeof key);
        if (i % 4 == 0) {
            if (!hc_contains(r->c, key)) r->bad++;
        } else if (hc_get(r->c, key, &b) != HC_OK || !value_ok(k, &b)) {
            r->bad++;
        }
        r->reads++;
    }
    hc_buf_free(&b);
    return NULL;
}

static void test_present_keys_always_hit(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        hc_cache *c = test_open(0, NULL);
        for (unsigned k = 0; k < PINNED; k++) put_version(c, k, 1, HC_TTL_NEVER);
        atomic_int stop = 0;
        pin_reader r[READERS];
        for (int i = 0; i < READERS; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].c = c;
            r[i].stop = &stop;
            assert_int_equal(pthread_create(&r[i].thread, NULL, pin_reader_main, &r[i]), 0);
        }
        /* Grow every shard's table from 16 to 512 buckets, replacing the
           pinned keys in between, and remove what is not pinned. */
        char key[32];
        for (unsigned k = PINNED; k < 20000; k++) {
            put_version(c, k, 1, HC_TTL_NEVER);
            put_version(c, k % PINNED, k, HC_TTL_NEVER);
            if (k % 3 == 0) {
                key_of(k - 1, key, sizeof key);
                assert_int_equal(hc_remove(c, key), HC_OK);
            }
        }
        atomic_store(&stop, 1);
        for (int i = 0; i < READERS; i++) assert_int_equal(pthread_join(r[i].thread, NULL), 0);
        for (int i = 0; i < READERS; i++) {
            assert_int_equal(r[i].bad, 0);
            assert_true(r[i].reads > 0);
        }
        hc_cache_close(c);
    }
}

/*
** Hit counters: more threads at once than there are per-thread slots (the
** rest share one), and threads that come and go (slots are reused). The
** total must be exact.
*/
#define MANY   72
#define EACH   50

typedef struct hitter {
    pthread_t  thread;
    hc_cache  *c;
    test_gate *gate;
    int        bad;
} hitter;

static void *hitter_main(void *arg)
{
    hitter *h = arg;
    hc_buf b = HC_BUF_INIT;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < EACH; i++)
            if (hc_get(h->c, "hot", &b) != HC_OK || strcmp((char *)b.data, "value") != 0) h->bad++;
        /* All MANY threads are alive here at once. */
        if (round == 0 && h->gate) test_gate_wait(h->gate);
    }
    hc_buf_free(&b);
    return NULL;
}

static void test_hit_counts_are_exact(void **state)
{
    (void)state;
    hc_cache *c = test_open(100, NULL);
    test_put_str(c, "hot", "value", NULL);
    test_gate gate;
    test_gate_init(&gate);
    hitter h[MANY];
    for (int i = 0; i < MANY; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].c = c;
        h[i].gate = &gate;
        assert_int_equal(pthread_create(&h[i].thread, NULL, hitter_main, &h[i]), 0);
    }
    test_gate_await_arrivals(&gate, MANY);
    test_gate_open(&gate);
    for (int i = 0; i < MANY; i++) assert_int_equal(pthread_join(h[i].thread, NULL), 0);
    for (int i = 0; i < MANY; i++) assert_int_equal(h[i].bad, 0);
    /* Then threads one after another, each in a slot a dead one left. */
    for (int i = 0; i < MANY; i++) {
        h[i].gate = NULL;
        assert_int_equal(pthread_create(&h[i].thread, NULL, hitter_main, &h[i]), 0);
        assert_int_equal(pthread_join(h[i].thread, NULL), 0);
        assert_int_equal(h[i].bad, 0);
    }
    hc_stats st;
    hc_stats_get(c, &st);
    assert_int_equal(st.hits, (uint64_t)MANY * EACH * 2 * 2);
    assert_int_equal(st.misses, 0);
    test_gate_destroy(&gate);
    hc_cache_close(c);
}

/* ---- the primitive itself: a grace period waits for a reader inside its
   section, and only for that. */

typedef struct section {
    atomic_bool inside, leave, done;
} section;

static void *section_main(void *arg)
{
    section *x = arg;
    (void)hc__thread_get();
    hc__read_begin();
    hc__read_begin();                       /* nested: ends with the outer one */
    hc__read_end();
    atomic_store(&x->inside, true);
    while (!atomic_load(&x->leave)) test_nap_ms(1);
    hc__read_end();
    return NULL;
}

static void *sync_main(void *arg)
{
    section *x = arg;
    hc__synchronize();
    atomic_store(&x->done, true);
    return NULL;
}

static bool flag_set(void *arg) { return atomic_load((atomic_bool *)arg); }

static void test_grace_period_waits_for_reader(void **state)
{
    (void)state;
    section x = {false, false, false};
    pthread_t rd, writer;
    assert_int_equal(pthread_create(&rd, NULL, section_main, &x), 0);
    assert_true(test_wait_until(flag_set, &x.inside));
    assert_int_equal(pthread_create(&writer, NULL, sync_main, &x), 0);
    /* Finishing at any time while the reader is inside would be wrong, so
       this nap can only miss a bug, never invent one. */
    test_nap_ms(50);
    assert_false(atomic_load(&x.done));
    atomic_store(&x.leave, true);
    assert_true(test_wait_until(flag_set, &x.done));
    pthread_join(rd, NULL);
    pthread_join(writer, NULL);
    hc__synchronize();                      /* no reader inside: returns */
}

/* A child forked while another thread is inside a read-side section has
   only the forking thread: its grace periods must not wait for the
   parent's reader (the pthread_atfork handler in rcu.c). */
static void test_fork_while_reading(void **state)
{
    (void)state;
    section x = {false, false, false};
    pthread_t rd;
    assert_int_equal(pthread_create(&rd, NULL, section_main, &x), 0);
    assert_true(test_wait_until(flag_set, &x.inside));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);                          /* a hang fails as SIGALRM */
        hc__synchronize();
        hc_cache *c = test_open(100, NULL);
        char key[32];
        for (int i = 0; i < 2000; i++) {   /* evictions: deferred frees */
            snprintf(key, sizeof key, "k%d", i);
            test_put_str(c, key, "v", NULL);
        }
        hc_cache_close(c);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    atomic_store(&x.leave, true);
    pthread_join(rd, NULL);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_against_writes),
        cmocka_unit_test(test_readers_against_evictions),
        cmocka_unit_test(test_present_keys_always_hit),
        cmocka_unit_test(test_hit_counts_are_exact),
        cmocka_unit_test(test_grace_period_waits_for_reader),
        cmocka_unit_test(test_fork_while_reading),
    };
    int failed = cmocka_run_group_tests_name("rcu", tests, NULL, NULL);
    /* Again with readers fencing themselves, as on a kernel without
       membarrier(2) (rcu.c): no thread reads between the two groups. */
    hc__rcu_use_fences(true);
    failed += cmocka_run_group_tests_name("rcu, readers fencing", tests, NULL, NULL);
    hc__rcu_use_fences(false);
    return failed;
}
