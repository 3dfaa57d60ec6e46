/*
** test_torture.c -- every operation at once, for a while, against a model
** of the database behind the cache: no stale read, no deadlock, the bounds.
**
** A "database" keeps a version per key. Writers update a row the way an
** application does: under the row's lock they bump its version, then write
** the cache (hc_put of the new value, or hc_invalidate_key, hc_remove,
** hc_invalidate_tag of the key's group, hc_flush), and once that call has
** returned they record the version as committed. Loaders read the row's
** version with no lock, sometimes slowly, sometimes failing, and return a
** value that carries it. Every value read by anyone (hc_get, hc_try_get,
** hc_try_visit, hc_get_or_load, a listener, a subscriber) must be the key's
** own, and its version must be at least the version committed when the read
** began: a smaller one is a stale value the cache kept or stored after an
** invalidation that had completed (DESIGN's invalidation safety).
**
** Some writes and loads store with a refresh interval (refreshed on the
** cache's two refresh threads with a copy of the loader's context, or
** dropped when their queue of 8 is full), a stale-if-error window (the
** loader fails now and then) or a TTL jitter: the same check holds, since
** a value served stale on purpose is never older than an invalidation
** that completed.
**
** Alongside: loaders that ask for their own key (HC_EBUSY, also after
** invalidating it), hc_contains, stats and diagnostics (bounds: entries and
** bytes may exceed max_entries and max_bytes only by what the writers in
** progress add), a listener and a subscriber that read the cache, short
** TTLs on the real clock (stopped for the final checks), and a watchdog
** that fails the run if no operation completes for HC_STRESS_WATCHDOG
** seconds (a deadlock).
**
** Two configurations: a small cache (a few dozen entries, one policy
** partition) and a large one (several partitions, more keys than room).
** Each runs HC_STRESS_SECONDS (1 by default: `make check` runs it plain,
** with clang, under ASan and under TSan); `make stress` runs it longer.
*/
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

#define WORKERS     6
#define MAX_KEYS    6000
#define GROUPS      16
#define VAL_MAX     160         /* longest value a worker writes */

typedef struct config {
    const char *name;
    unsigned    keys;
    uint64_t    max_entries, max_bytes;
} config;

/* The run's shared state: the database model and the progress counter. */
static struct {
    hc_cache *c;
    const config *cfg;
    atomic_uint_fast64_t db[MAX_KEYS];         /* the row's version */
    atomic_uint_fast64_t committed[MAX_KEYS];  /* written and invalidated */
    pthread_mutex_t row[MAX_KEYS];
    atomic_uint_fast64_t progress;             /* operations completed */
    atomic_int stop;
    atomic_long stale, wrong, over, errors;    /* failures, by kind */
    atomic_long busy_ok, loads, reads_checked;
    char first_failure[256];
    pthread_mutex_t failure_lock;
} T;

#if defined(__GNUC__)
static void failure(atomic_long *counter, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif

static void failure(atomic_long *counter, const char *fmt, ...)
{
    va_list ap;
    atomic_fetch_add(counter, 1);
    pthread_mutex_lock(&T.failure_lock);
    if (!T.first_failure[0]) {
        va_start(ap, fmt);
        vsnprintf(T.first_failure, sizeof T.first_failure, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&T.failure_lock);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void key_of(unsigned k, char *out, size_t n) { snprintf(out, n, "k%u", k); }
static void group_of(unsigned k, char *out, size_t n) { snprintf(out, n, "g%u", k % GROUPS); }

/* "k<k>:v<version>:" padded to a length that varies with both. */
static size_t make_value(unsigned k, uint64_t v, char *out)
{
    int n = snprintf(out, VAL_MAX, "k%u:v%llu:", k, (unsigned long long)v);
    size_t len = (size_t)n + (k * 7u + (unsigned)v * 13u) % (VAL_MAX - 40);
    for (size_t i = (size_t)n; i < len; i++) out[i] = (char)('a' + (k + i) % 26u);
    return len;
}

/*
** Check a value read for key k by a read that began when committed[k] was
** `floor`: it must be one make_value made for k, of version >= floor.
*/
static void check_value(unsigned k, uint64_t floor, const void *data, size_t len,
                        const char *who)
{
    char buf[VAL_MAX + 1], want[VAL_MAX];
    unsigned kk;
    unsigned long long v;
    atomic_fetch_add(&T.reads_checked, 1);
    if (len > VAL_MAX) {
        failure(&T.wrong, "%s: k%u: value of %zu bytes", who, k, len);
        return;
    }
    memcpy(buf, data, len);
    buf[len] = 0;
    if (sscanf(buf, "k%u:v%llu:", &kk, &v) != 2 || kk != k ||
        make_value(k, v, want) != len || memcmp(want, buf, len) != 0) {
        failure(&T.wrong, "%s: k%u: wrong value '%.40s'", who, k, buf);
        return;
    }
    if (v < floor)
        failure(&T.stale, "%s: k%u: read version %llu after version %llu was committed",
                who, k, v, (unsigned long long)floor);
}

/* ------------------------------------------------------------ loaders */

typedef struct load_ctx {
    unsigned k;
    uint64_t r;             /* what to do: fail, be slow, re-enter */
} load_ctx;

/* A background refresh's copy of a load_ctx; the copies made and freed
   are counted, so that the run can wait for the refreshes to finish. */
static atomic_long ctx_copies, ctx_frees;

static void *ctx_copy(void *ctx)
{
    load_ctx *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *(load_ctx *)ctx;
    atomic_fetch_add(&ctx_copies, 1);
    return c;
}

static void ctx_free(void *copy)
{
    free(copy);
    atomic_fetch_add(&ctx_frees, 1);
}

static int inner_load(void *ctx, hc_buf *out, hc_error *err)
{
    (void)ctx; (void)err;
    return hc_buf_set(out, "never", 5);
}

static int load_fn(void *ctx, hc_buf *out, hc_error *err)
{
    load_ctx *l = ctx;
    char key[16], val[VAL_MAX];
    key_of(l->k, key, sizeof key);
    unsigned what = (unsigned)(l->r >> 20) % 100;
    if (what < 4) {
        /* Ask for our own key, after detaching our own load half the time. */
        if (what < 2) (void)hc_invalidate_key(T.c, key);
        hc_buf b = HC_BUF_INIT;
        hc_error e;
        int rc = hc_get_or_load(T.c, key, NULL, inner_load, NULL, &b, &e);
        hc_buf_free(&b);
        if (rc != HC_EBUSY) failure(&T.errors, "re-entry for %s returned %d", key, rc);
        else atomic_fetch_add(&T.busy_ok, 1);
    }
    /* Read the row, then take a while: an invalidation may land now. */
    uint64_t v = atomic_load(&T.db[l->k]);
    if (what >= 90) {
        struct timespec ts = {0, (long)(50000 + (l->r >> 40) % 200000)};
        nanosleep(&ts, NULL);
    } else if (what >= 80) {
        sched_yield();
    }
    if (what >= 4 && what < 9) return hc_error_set(err, HC_EDB, "row %u unavailable", l->k);
    atomic_fetch_add(&T.loads, 1);
    size_t len = make_value(l->k, v, val);
    return hc_buf_set(out, val, len);
}

/* ------------------------------------------------------------ workers */

typedef struct worker {
    pthread_t thread;
    uint64_t  seed;
} worker;

/* A visitor that copies the value into the hc_buf ctx. */
static int copy_fn(void *ctx, const void *data, size_t len)
{
    return hc_buf_set(ctx, data, len);
}

static int visit_fn(void *ctx, const void *data, size_t len)
{
    const uint64_t *kf = ctx;
    check_value((unsigned)kf[0], kf[1], data, len, "hc_try_visit");
    return HC_OK;
}

/* A row update: bump the version, write the cache one way or another, and
   commit once the cache call returned. */
static void update(unsigned k, uint64_t r, const hc_options *o)
{
    char key[16], group[16], val[VAL_MAX];
    key_of(k, key, sizeof key);
    group_of(k, group, sizeof group);
    pthread_mutex_lock(&T.row[k]);
    uint64_t v = atomic_fetch_add(&T.db[k], 1) + 1;
    int rc;
    unsigned how = (unsigned)(r >> 32) % 100;
    if (how < 60) {
        size_t len = make_value(k, v, val);
        rc = hc_put(T.c, key, val, len, o);
        if (rc != HC_OK) failure(&T.errors, "hc_put %s: %d", key, rc);
    } else if (how < 80) {
        rc = hc_invalidate_key(T.c, key);
        if (rc != HC_OK && rc != HC_MISS) failure(&T.errors, "hc_invalidate_key: %d", rc);
    } else if (how < 90) {
        rc = hc_remove(T.c, key);
        if (rc != HC_OK && rc != HC_MISS) failure(&T.errors, "hc_remove: %d", rc);
    } else if (how < 99) {
        rc = hc_invalidate_tag(T.c, group, NULL);
        if (rc != HC_OK) failure(&T.errors, "hc_invalidate_tag: %d", rc);
    } else {
        rc = hc_flush(T.c);
        if (rc != HC_OK) failure(&T.errors, "hc_flush: %d", rc);
    }
    atomic_store(&T.committed[k], v);
    pthread_mutex_unlock(&T.row[k]);
}

static void check_bounds(const hc_diagnostics *d)
{
    /* Writers in progress may each add one entry beyond the bound. */
    uint64_t slack = WORKERS + 2;
    if (T.cfg->max_entries && d->entries > T.cfg->max_entries + slack)
        failure(&T.over, "%llu entries, bound %llu", (unsigned long long)d->entries,
                (unsigned long long)T.cfg->max_entries);
    if (T.cfg->max_bytes && d->weighted_bytes > T.cfg->max_bytes + slack * (VAL_MAX + 8))
        failure(&T.over, "%llu bytes, bound %llu", (unsigned long long)d->weighted_bytes,
                (unsigned long long)T.cfg->max_bytes);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hc_buf b = HC_BUF_INIT;
    hc_error err;
    char key[16], group[16];
    while (!atomic_load_explicit(&T.stop, memory_order_relaxed)) {
        uint64_t r = next_rand(&w->seed);
        unsigned k = (unsigned)(r >> 8) % T.cfg->keys;
        key_of(k, key, sizeof key);
        group_of(k, group, sizeof group);
        const char *tags[] = {group, "all"};
        /* TTL: the default (50 ms), never, or 1 to 4 ms. */
        unsigned t = (unsigned)(r >> 56) % 8;
        hc_options o = {.ttl_ms = t < 5 ? HC_TTL_DEFAULT : t == 5 ? HC_TTL_NEVER : 1 + (r >> 44) % 4,
                        .tags = tags, .ntags = 2, .ctx_copy = ctx_copy, .ctx_free = ctx_free};
        /* Freshness on some: a refresh after 1 to 24 ms (of the default
           50), a stale window of 1 to 5 ms, a jitter of half the TTL. */
        uint64_t f = next_rand(&w->seed);
        if (f % 3 == 0) o.refresh_ms = 1 + (f >> 8) % 24;
        if ((f >> 16) % 3 == 0) o.stale_if_error_ms = 1 + (f >> 20) % 5;
        if ((f >> 28) % 4 == 0) o.ttl_jitter_percent = 50;
        uint64_t floor = atomic_load(&T.committed[k]);
        unsigned op = (unsigned)(r >> 24) % 100;
        int rc;
        if (op < 20) {
            update(k, r, &o);
        } else if (op < 40) {
            rc = hc_get(T.c, key, &b);
            if (rc == HC_OK) check_value(k, floor, b.data, b.len, "hc_get");
            else if (rc != HC_MISS) failure(&T.errors, "hc_get: %d", rc);
        } else if (op < 45) {
            rc = hc_try_visit(T.c, key, strlen(key), copy_fn, &b);   /* copied out, read after */
            if (rc == HC_OK) check_value(k, floor, b.data, b.len, "hc_try_visit (copy)");
            else if (rc != HC_MISS) failure(&T.errors, "hc_try_visit (copy): %d", rc);
        } else if (op < 50) {
            uint64_t kf[2] = {k, floor};
            rc = hc_try_visit(T.c, key, strlen(key), visit_fn, kf);
            if (rc != HC_OK && rc != HC_MISS) failure(&T.errors, "hc_try_visit: %d", rc);
        } else if (op < 80) {
            load_ctx l = {k, next_rand(&w->seed)};
            rc = hc_get_or_load(T.c, key, &o, load_fn, &l, &b, &err);
            if (rc == HC_OK) check_value(k, floor, b.data, b.len, "hc_get_or_load");
            else if (rc != HC_EDB) failure(&T.errors, "hc_get_or_load %s: %d %s", key, rc, err.message);
            if (rc == HC_OK && err.message[0] && strncmp(err.message, "stale value served: ", 20) != 0)
                failure(&T.errors, "hc_get_or_load %s: HC_OK with '%s'", key, err.message);
        } else if (op < 85) {
            (void)hc_contains(T.c, key);
        } else if (op < 90) {
            /* Cache-only removals: no row changes. */
            rc = (r & 1) ? hc_remove(T.c, key) : hc_invalidate_key(T.c, key);
            if (rc != HC_OK && rc != HC_MISS) failure(&T.errors, "remove: %d", rc);
        } else if (op < 92) {
            rc = hc_invalidate_tag(T.c, group, NULL);
            if (rc != HC_OK) failure(&T.errors, "hc_invalidate_tag: %d", rc);
        } else if (op < 96) {
            hc_stats s;
            hc_stats_get(T.c, &s);
        } else {
            hc_diagnostics d;
            rc = hc_diagnostics_get(T.c, &d);
            if (rc != HC_OK) failure(&T.errors, "hc_diagnostics_get: %d", rc);
            else check_bounds(&d);
        }
        atomic_fetch_add_explicit(&T.progress, 1, memory_order_relaxed);
    }
    hc_buf_free(&b);
    return NULL;
}

/* ------------------------------------------------------ event readers */

/* Read the key an event names, as any reader would, and check it. */
static void read_back(const hc_event *ev, const char *who)
{
    unsigned k;
    char key[16];
    if (!ev->key || ev->kind == HC_EVENT_TAG_INVALIDATED || ev->key_len >= sizeof key) return;
    memcpy(key, ev->key, ev->key_len);
    key[ev->key_len] = 0;
    if (sscanf(key, "k%u", &k) != 1 || k >= T.cfg->keys) return;
    uint64_t floor = atomic_load(&T.committed[k]);
    hc_buf b = HC_BUF_INIT;
    int rc = hc_get(T.c, key, &b);
    if (rc == HC_OK) check_value(k, floor, b.data, b.len, who);
    else if (rc != HC_MISS) failure(&T.errors, "%s: hc_get: %d", who, rc);
    hc_buf_free(&b);
}

static void listener_fn(void *ctx, const hc_event *ev)
{
    (void)ctx;
    read_back(ev, "listener");
    if (ev->seq % 64 == 0) {
        hc_diagnostics d;
        if (hc_diagnostics_get(T.c, &d) == HC_OK) check_bounds(&d);
    }
}

typedef struct subscriber {
    pthread_t thread;
    hc_subscription *sub;
} subscriber;

static void *subscriber_main(void *arg)
{
    subscriber *s = arg;
    hc_event ev;
    while (!atomic_load(&T.stop)) {
        int rc = hc_subscription_recv(s->sub, &ev, 10);
        if (rc == HC_OK) read_back(&ev, "subscriber");
        else if (rc != HC_ETIMEDOUT && rc != HC_ELAGGED)
            failure(&T.errors, "hc_subscription_recv: %d", rc);
    }
    return NULL;
}

/* ------------------------------------------------------------ watchdog */

static double env_seconds(const char *name, double dflt)
{
    const char *s = getenv(name);
    double v = s && *s ? atof(s) : 0;
    return v > 0 ? v : dflt;
}

typedef struct watchdog {
    pthread_t thread;
    double limit_s;
    atomic_int done;
} watchdog;

/* No completed operation for limit_s: something is deadlocked, and the
   threads stuck in it can never be joined, so end the process. */
static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    uint64_t last = atomic_load(&T.progress);
    double idle = 0;
    while (!atomic_load(&wd->done)) {
        test_nap_ms(50);
        uint64_t now = atomic_load(&T.progress);
        if (now != last || atomic_load(&T.stop)) {
            last = now;
            idle = 0;
            continue;
        }
        idle += 0.05;
        if (idle >= wd->limit_s) {
            fprintf(stderr, "test_torture: %s: no operation completed for %.0f s "
                    "(%llu done): deadlock\n", T.cfg->name, wd->limit_s,
                    (unsigned long long)now);
            abort();
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ the run */

/* The real clock while the run lasts, stopped for the final checks (so no
   entry expires between reading the entries and counting them). */
static atomic_uint_fast64_t frozen_at;

static uint64_t run_clock(void *ctx)
{
    (void)ctx;
    uint64_t f = atomic_load_explicit(&frozen_at, memory_order_relaxed);
    if (f) return f;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1;
}

static void torture(const config *cfg)
{
    memset(&T, 0, sizeof T);
    T.cfg = cfg;
    pthread_mutex_init(&T.failure_lock, NULL);
    for (unsigned k = 0; k < cfg->keys; k++) pthread_mutex_init(&T.row[k], NULL);

    hc_config cc;
    hc_config_init(&cc);
    cc.name = cfg->name;
    cc.max_entries = cfg->max_entries;
    cc.max_bytes = cfg->max_bytes;
    cc.default_ttl_ms = 50;
    cc.clock_ms = run_clock;
    atomic_store(&frozen_at, 0);
    cc.event_buffer = 64;
    cc.refresh_threads = 2;
    cc.refresh_queue = 8;
    atomic_store(&ctx_copies, 0);
    atomic_store(&ctx_frees, 0);
    assert_int_equal(hc_cache_open(&T.c, &cc), HC_OK);

    hc_listener *l;
    hc_event_filter changes = {HC_EVENTS_CHANGES, 0, NULL, NULL};
    assert_int_equal(hc_listen(T.c, &changes, listener_fn, NULL, &l), HC_OK);
    subscriber sub;
    hc_event_filter stored = {HC_EVENT_BIT(HC_EVENT_STORED), 0, NULL, NULL};
    assert_int_equal(hc_subscribe(T.c, &stored, &sub.sub), HC_OK);
    assert_int_equal(pthread_create(&sub.thread, NULL, subscriber_main, &sub), 0);

    watchdog wd;
    wd.limit_s = env_seconds("HC_STRESS_WATCHDOG", 60);
    atomic_init(&wd.done, 0);
    assert_int_equal(pthread_create(&wd.thread, NULL, watchdog_main, &wd), 0);

    worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + cfg->keys;
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    double seconds = env_seconds("HC_STRESS_SECONDS", 1);
    test_nap_ms((long)(seconds * 1000));
    atomic_store(&T.stop, 1);
    for (int i = 0; i < WORKERS; i++) assert_int_equal(pthread_join(w[i].thread, NULL), 0);
    assert_int_equal(pthread_join(sub.thread, NULL), 0);
    hc_listener_close(l);
    hc_subscription_close(sub.sub);
    atomic_store(&wd.done, 1);
    assert_int_equal(pthread_join(wd.thread, NULL), 0);

    /* The refreshes still queued or running finish (bounded wait). */
    for (int i = 0; i < 20000 && atomic_load(&ctx_frees) != atomic_load(&ctx_copies); i++)
        test_nap_ms(1);
    assert_int_equal(atomic_load(&ctx_frees), atomic_load(&ctx_copies));

    hc_stats fs;
    hc_stats_get(T.c, &fs);
    printf("  %s: %llu operations, %ld reads checked, %ld loads, %ld re-entries refused, "
           "%llu refreshes (%llu failed, %llu dropped), %llu stale served\n",
           cfg->name, (unsigned long long)atomic_load(&T.progress),
           atomic_load(&T.reads_checked), atomic_load(&T.loads), atomic_load(&T.busy_ok),
           (unsigned long long)fs.refreshes, (unsigned long long)fs.refresh_failures,
           (unsigned long long)fs.refresh_drops, (unsigned long long)fs.stale_served);
    if (T.first_failure[0]) printf("  first failure: %s\n", T.first_failure);
    assert_int_equal(atomic_load(&T.stale), 0);
    assert_int_equal(atomic_load(&T.wrong), 0);
    assert_int_equal(atomic_load(&T.over), 0);
    assert_int_equal(atomic_load(&T.errors), 0);

    /* Stopped past every deadline and stale window, so that no entry is
       kept expired (counted, but not readable). */
    atomic_store(&frozen_at, run_clock(NULL) + 60000);

    /* Quiet now: the bounds hold exactly, nothing is in flight, and every
       entry counted can be read and is current. */
    hc_diagnostics d = test_diag(T.c);
    if (cfg->max_entries) assert_true(d.entries <= cfg->max_entries);
    if (cfg->max_bytes) assert_true(d.weighted_bytes <= cfg->max_bytes);
    assert_int_equal(d.loads_in_flight, 0);
    hc_buf b = HC_BUF_INIT;
    char key[16];
    uint64_t found = 0, bytes = 0;
    for (unsigned k = 0; k < cfg->keys; k++) {
        key_of(k, key, sizeof key);
        uint64_t floor = atomic_load(&T.committed[k]);
        if (hc_get(T.c, key, &b) == HC_OK) {
            check_value(k, floor, b.data, b.len, "final read");
            found++;
            bytes += strlen(key) + b.len;
        }
    }
    assert_int_equal(atomic_load(&T.stale), 0);
    assert_int_equal(atomic_load(&T.wrong), 0);
    d = test_diag(T.c);
    assert_int_equal(found, d.entries);
    assert_int_equal(bytes, d.weighted_bytes);
    /* Every entry carries "all". */
    assert_int_equal(hc_invalidate_tag(T.c, "all", NULL), HC_OK);
    d = test_diag(T.c);
    assert_int_equal(d.entries, 0);
    assert_int_equal(d.weighted_bytes, 0);
    assert_int_equal(d.tags, 0);
    hc_buf_free(&b);
    hc_cache_close(T.c);
    for (unsigned k = 0; k < cfg->keys; k++) pthread_mutex_destroy(&T.row[k]);
    pthread_mutex_destroy(&T.failure_lock);
}

static void test_torture_small(void **state)
{
    (void)state;
    static const config small = {"small", 120, 48, 3000};
    torture(&small);
}

static void test_torture_large(void **state)
{
    (void)state;
    static const config large = {"large", MAX_KEYS, 4096, 0};
    torture(&large);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torture_small),
        cmocka_unit_test(test_torture_large),
    };
    return cmocka_run_group_tests_name("torture", tests, NULL, NULL);
}
