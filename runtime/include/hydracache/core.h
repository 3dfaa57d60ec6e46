/*
** hydracache/core.h -- the application API of libhydracache: the cache,
** its events, the invalidation bus as an application uses it, and the
** database handle that generated code runs on. Include <hydracache.h>,
** which includes this and the other parts.
**
** libhydracache is a thread-safe in-process cache for C services: byte values
** under string keys, per-entry TTLs, a capacity bounded by entries and by
** bytes (an adaptive, scan-resistant eviction policy picks the victims), tag
** invalidation, single-flight loading that never stores a result an
** invalidation raced, and counters for everything it does.
**
** Conventions
**   - Every function that can fail returns an int status: HC_OK (0),
**     HC_MISS (1, lookups only; not an error), HC_DONE (2, a statement
**     with no more rows; not an error) or a negative HC_E* code.
**     hc_strerror() and hc_err_name() describe a code.
**   - The library never exits or aborts on bad input or out-of-memory: an
**     allocation failure returns HC_ENOMEM and leaves the cache consistent.
**   - Every hc_cache function may be called from any thread at once. Loaders
**     and other callbacks never run with a cache lock held. Hits take no
**     lock: a thread's first read registers it as an RCU reader, which is
**     undone when the thread exits. The library installs a pthread_atfork
**     handler so that a forked child does not wait for its parent's
**     threads.
**   - Keys are NUL-terminated strings; values are byte strings. The cache
**     stores copies of both; hc_get copies the value out into an hc_buf the
**     caller owns.
**
** Quick start
**
**     hc_cache *c;
**     if (hc_cache_open(&c, NULL) != HC_OK) ...;           // defaults
**     hc_put(c, "user:42", "alice", 5, NULL);
**     hc_buf v = HC_BUF_INIT;
**     if (hc_get(c, "user:42", &v) == HC_OK) printf("%s\n", (char *)v.data);
**     hc_buf_free(&v);
**     hc_cache_close(c);
*/
#ifndef HYDRACACHE_CORE_H
#define HYDRACACHE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version's one home: the three numbers below. Everything else (the
   string and number here, hcachegen --version, the generated code's gate,
   the libraries' sonames, the pkg-config and CMake files) derives from
   them. */
#define HC_VERSION_MAJOR  0
#define HC_VERSION_MINOR  2
#define HC_VERSION_PATCH  0
#define HC_VERSION_STR_(x) #x
#define HC_VERSION_STR(x) HC_VERSION_STR_(x)
/* "0.2.0" */
#define HC_VERSION_STRING                                                         \
    HC_VERSION_STR(HC_VERSION_MAJOR) "." HC_VERSION_STR(HC_VERSION_MINOR) "."     \
    HC_VERSION_STR(HC_VERSION_PATCH)
/* major * 1000000 + minor * 1000 + patch (2000 for 0.2.0), usable in #if:
   generated code gates on this. */
#define HC_VERSION_NUMBER                                                         \
    (HC_VERSION_MAJOR * 1000000 + HC_VERSION_MINOR * 1000 + HC_VERSION_PATCH)

#if defined(__GNUC__) && defined(HC_BUILDING_LIBRARY)
#  define HC_API __attribute__((visibility("default")))
#else
#  define HC_API
#endif

/*
** A few small functions on the path of every cached read (hc_buf_append,
** the decoders of fixed-size values) are defined here, inline. They are C99
** inline definitions: libhydracache holds the external ones, so a build
** without optimization, or a pointer to one of them, still links. (A C99
** inline definition is one only if no declaration of the function in the
** unit lacks `inline`, so these have no other declaration.)
*/
#if defined(__GNUC__) && defined(__GNUC_GNU_INLINE__) && !defined(__cplusplus)
#  define HC_INLINE_DEF extern __inline__ __attribute__((__gnu_inline__))  /* -std=gnu89 */
#else
#  define HC_INLINE_DEF inline
#endif

/* Runtime version, to compare with the HC_VERSION_* the caller built with. */
HC_API unsigned hc_version_number(void);
HC_API const char *hc_version_string(void);

/* ---------------------------------------------------------------- errors */

/*
** HC_ERRNO_MAP(XX) is the one list of error codes: XX(NAME, value, message).
** It makes the enum, hc_strerror() and hc_err_name(). Values are fixed: they
** are part of the ABI.
*/
#define HC_ERRNO_MAP(XX)                                                       \
    XX(ENOMEM,    -1, "out of memory")                                         \
    XX(EINVAL,    -2, "invalid argument")                                      \
    XX(ETOOBIG,   -3, "entry larger than the cache accepts")                   \
    XX(ETIMEDOUT, -4, "timed out")                                             \
    XX(EBUSY,     -5, "key is being loaded by this thread")                    \
    XX(ECODEC,    -6, "malformed encoded value")                               \
    XX(ELOAD,     -7, "loader failed")                                         \
    XX(EDB,       -8, "database error")                                        \
    XX(ENOTFOUND, -9, "not found")                                             \
    XX(ELAGGED,  -10, "subscriber lagged; events were skipped")                \
    XX(ECLOSED,  -11, "closed")                                                \
    XX(ENOTSUP,  -12, "not supported")                                         \
    XX(EBUS,     -13, "invalidation bus error")                                \
    XX(ESYS,     -14, "system call failed")                                    \
    XX(EEXIST,   -15, "already exists")                                        \
    XX(ECONN,    -16, "database connection lost or failed")

enum {
    HC_OK = 0,
    HC_MISS = 1,    /* a lookup found nothing */
    HC_DONE = 2,    /* hc_stmt_step: the statement has no (more) rows */
#define HC__ERRNO_ENUM(name, value, msg) HC_##name = (value),
    HC_ERRNO_MAP(HC__ERRNO_ENUM)
#undef HC__ERRNO_ENUM
};

/* "out of memory" for HC_ENOMEM, "ok", "miss", "done"; "unknown error"
   otherwise. */
HC_API const char *hc_strerror(int code);
/* "HC_ENOMEM" for HC_ENOMEM, "HC_OK", "HC_MISS", "HC_DONE"; "HC_EUNKNOWN"
   otherwise. */
HC_API const char *hc_err_name(int code);

/*
** An error with a message, filled by loaders and database calls. A function
** that takes an hc_error * accepts NULL when the caller does not want it.
*/
typedef struct hc_error {
    int  code;          /* the HC_E* code, or HC_OK */
    char message[256];  /* NUL-terminated, truncated to fit */
} hc_error;

/* Set err (if not NULL) to code and a printf-style message; returns code. */
HC_API int hc_error_set(hc_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Reset err (if not NULL) to HC_OK and an empty message. */
HC_API void hc_error_clear(hc_error *err);

/* ------------------------------------------------------------ byte buffer */

/*
** A growable byte buffer owned by the caller, allocated with the C library's
** malloc/realloc/free. While data is not NULL it holds cap bytes of which len
** are used, and data[len] is 0, so text values can be read as C strings.
*/
typedef struct hc_buf {
    uint8_t *data;
    size_t   len, cap;
} hc_buf;
#define HC_BUF_INIT {NULL, 0, 0}

HC_API void hc_buf_init(hc_buf *b);
/* Free the memory and reset to empty. Accepts NULL. */
HC_API void hc_buf_free(hc_buf *b);
/* Make room for len + extra bytes and the terminating 0. HC_ENOMEM leaves
   the buffer as it was. It reallocates only when cap is short, so every
   function here may be used on a buffer set to caller storage,
   {array, 0, sizeof array} with array[0] = 0, as long as what is written
   provably fits (generated code builds bounded keys that way); such a
   buffer is never passed to hc_buf_free. */
HC_API int hc_buf_reserve(hc_buf *b, size_t extra);
/* Replace the contents with n bytes of p. */
HC_API int hc_buf_set(hc_buf *b, const void *p, size_t n);
/* Append a NUL-terminated string (without its terminator). */
HC_API int hc_buf_append_str(hc_buf *b, const char *s);
/* Set len to 0 and keep the memory. */
HC_API void hc_buf_reset(hc_buf *b);
/* Append n bytes of p. */
HC_API HC_INLINE_DEF int hc_buf_append(hc_buf *b, const void *p, size_t n)
{
    if (n >= b->cap - b->len) {                 /* no room for them and the 0 */
        int rc = hc_buf_reserve(b, n);
        if (rc != HC_OK) return rc;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return HC_OK;
}

/* Variable-length byte string, used by generated code for blob fields. */
typedef struct hc_bytes {
    uint8_t *data;
    size_t   len;
} hc_bytes;

/* ------------------------------------------------------------------ keys */

/*
** Key builders: append one whole segment to key, joined with ':' when key
** is not empty. A segment is escaped so that distinct segment lists never
** build the same key: '%' becomes "%25" and ':' becomes "%3A". So ("a:b")
** and ("a","b") give "a%3Ab" and "a:b". (Generated code builds keys from
** templates with the hc_key_piece_* calls of hydracache/gen.h, which add
** no separator.)
*/
HC_API int hc_key_append(hc_buf *key, const char *segment);
HC_API int hc_key_append_n(hc_buf *key, const char *segment, size_t n);
HC_API int hc_key_append_i64(hc_buf *key, int64_t v);
HC_API int hc_key_append_u64(hc_buf *key, uint64_t v);

/* ---------------------------------------------------------------- config */

typedef struct hc_cache hc_cache;
typedef struct hc_bus   hc_bus;    /* invalidation transport (see the bus API) */

typedef struct hc_allocator {
    void *(*alloc)(void *ud, size_t n);
    void *(*realloc)(void *ud, void *p, size_t n);
    void  (*free)(void *ud, void *p);
    void  *ud;
} hc_allocator;

#define HC_TTL_DEFAULT 0            /* hc_options.ttl_ms: the cache's default */
#define HC_TTL_NEVER   UINT64_MAX   /* never expires */

/*
** The bounds, max_entries and max_bytes, hold whenever no write is running.
** While writes run they may be exceeded by what those writes add and have
** not yet evicted for: at most one entry (and its key + value bytes) per
** hc_put, loaded value being stored or other write in progress, never more.
** A write evicts for its own entry before it returns.
*/
typedef struct hc_config {
    const char *name;               /* "main": registry and diagnostics name */
    uint64_t max_entries;           /* 10000; 0 = unbounded (see the bounds above) */
    uint64_t max_bytes;             /* 0 = unbounded; an entry weighs key + value bytes */
    uint64_t default_ttl_ms;        /* 300000; HC_TTL_NEVER = no expiry */
    size_t   max_entry_bytes;       /* 16 MiB; a larger put fails with HC_ETOOBIG */
    uint64_t load_wait_timeout_ms;  /* 0 = joiners wait as long as the load runs */
    uint64_t (*clock_ms)(void *ctx);/* NULL = the monotonic clock; tests inject one */
    void    *clock_ctx;
    const hc_allocator *allocator;  /* NULL = malloc, realloc, free */
    unsigned event_buffer;          /* 1024 events per subscriber ring, at most
                                       HC_EVENT_BUFFER_MAX */
    bool     access_events;         /* false: hit/miss/load events are opt-in */
    hc_bus  *bus;                   /* NULL = no invalidation bus */
    const char *node_id;            /* NULL = generated; echo suppression on the bus */
    unsigned refresh_threads;       /* 1: threads that run refresh-ahead loads
                                       (hc_options.refresh_ms), started on the
                                       first one; 0 = the caller that finds an
                                       entry due runs its refresh itself */
    unsigned refresh_queue;         /* 1024: refreshes waiting for a thread, at
                                       most HC_REFRESH_QUEUE_MAX; more are dropped
                                       (refresh_drops) */
} hc_config;

/* The largest hc_config.refresh_threads and refresh_queue. */
#define HC_REFRESH_THREADS_MAX 64u
#define HC_REFRESH_QUEUE_MAX   (1u << 20)

/* The largest hc_config.event_buffer: a ring of pointers, 8 MiB. */
#define HC_EVENT_BUFFER_MAX (1u << 20)

/* Fill cfg with the defaults shown above. */
HC_API void hc_config_init(hc_config *cfg);

/*
** Open a cache. cfg NULL means the defaults. The strings in cfg are copied;
** the allocator and bus must outlive the cache. The allocator may be called
** from any thread using the cache; a removed entry is freed a little later
** (in batches, once no reader can still see it) by a later write or by
** hc_cache_close. No thread is started here: the refresh threads start
** with the first refresh that needs one. Returns HC_OK and sets *out,
** HC_EINVAL for a bad configuration (refresh_threads or refresh_queue
** above their maximum too), HC_ENOMEM.
*/
HC_API int hc_cache_open(hc_cache **out, const hc_config *cfg);

/*
** Close a cache and free everything it holds. No other call on c may run or
** start, and no load may be in flight. Refreshes still queued are dropped
** (their context copies freed with ctx_free); one that is running is waited
** for, so its loader must not wait for anything the closing thread holds.
** Accepts NULL. Returns HC_OK.
*/
HC_API int hc_cache_close(hc_cache *c);

/* The name given in hc_config (a copy owned by the cache). */
HC_API const char *hc_cache_name(const hc_cache *c);

/* --------------------------------------------------------------- entries */

/*
** Per-call options; NULL means "default TTL, no tags" and nothing else.
** Initialise them with designated initializers (or zero the struct first):
** fields are added at the end over time.
**
**     hc_options o = {.ttl_ms = 60000, .tags = tags, .ntags = 2,
**                     .refresh_ms = 30000, .stale_if_error_ms = 600000};
**
** Freshness (docs/RUNTIME.md, "Serving stale on purpose"), stored with the
** entry whoever stores it, used by the calls that can load:
**   refresh_ms          an entry older than this is still returned, and the
**                       first hc_get_or_load to find it so starts one reload
**                       (single-flight with any load of the key), on one of
**                       the cache's refresh threads when it can (see ctx_copy)
**                       or else on the calling thread after it has the value.
**                       Its result is stored like a load's: not if an
**                       invalidation raced it. A refresh that fails, or is
**                       dropped because the queue is full, is tried again
**                       refresh_ms later. Only an entry that is due before it
**                       expires is ever refreshed (refresh_ms < its TTL).
**   stale_if_error_ms   once the entry has expired it is a miss like any
**                       other, but it is kept this much longer: if the load
**                       that follows fails, its value is returned instead of
**                       the error (HC_OK; see hc_get_or_load). An invalidation,
**                       hc_remove, hc_flush or hc_put of the key removes it for
**                       good. It counts against the bounds until it goes.
**   ttl_jitter_percent  0 to 99: each entry's TTL is drawn uniformly from
**                       [ttl - ttl * p / 100, ttl], so that entries loaded
**                       together do not expire together. Never longer than
**                       the TTL asked for. Applies to the default TTL too.
** A background refresh outlives the call that found the entry due, so it
** cannot use that call's ctx: ctx_copy makes a copy it owns (NULL on out of
** memory, and then the refresh runs on the calling thread), which ctx_free
** frees after the refresh (or when the refresh is dropped, or the cache
** closed). Without ctx_copy, a loader whose ctx is not NULL refreshes on the
** calling thread. A NULL ctx needs no copy: its refresh runs in the
** background. Whatever the loader uses through ctx (a database handle...)
** must outlive the cache, or at least every refresh: hc_cache_close waits
** for the running one and drops the queued ones.
*/
typedef struct hc_options {
    uint64_t ttl_ms;                /* HC_TTL_DEFAULT, HC_TTL_NEVER or milliseconds */
    const char *const *tags;        /* ntags tag names, copied by the cache */
    size_t ntags;
    uint64_t refresh_ms;            /* 0: no refresh-ahead */
    uint64_t stale_if_error_ms;     /* 0: an expired entry is not kept */
    unsigned ttl_jitter_percent;    /* 0: every entry gets the TTL exactly */
    void  *(*ctx_copy)(void *ctx);  /* for a background refresh; NULL: none */
    void   (*ctx_free)(void *copy); /* frees what ctx_copy made; NULL: nothing */
} hc_options;

/*
** Store a copy of len bytes at val under key, replacing any entry (and racing
** loads of key: their results are not stored). If the cache is full, the
** eviction policy removes entries first, and it may decide that the new
** entry is the least worth keeping, in which case it is evicted at once
** (counted and reported like any eviction). Returns HC_OK, HC_ETOOBIG when
** key + value exceed max_entry_bytes or max_bytes or the key is longer than
** 65535 bytes, HC_EINVAL (also for more than 255 tags), HC_ENOMEM.
*/
HC_API int hc_put(hc_cache *c, const char *key, const void *val, size_t len,
                  const hc_options *opts);

/*
** Copy the value under key into out (replacing its contents). Returns HC_OK,
** HC_MISS when there is no live entry (an expired one is removed, unless it
** is kept for stale_if_error_ms: it is a miss all the same), HC_ENOMEM when
** out cannot grow, HC_EINVAL. It never starts a refresh (it has no loader).
*/
HC_API int hc_get(hc_cache *c, const char *key, hc_buf *out);

/*
** hc_get without the copy, for a caller that goes on to hc_get_or_load
** when it misses (generated code builds an entry's tags only then): on a
** hit, fn(ctx, data, len) reads the value where it lies and hc_try_visit
** returns what fn returns. fn runs where the entry cannot be freed under
** it (an RCU read-side section, or a private copy): it may allocate and
** free memory, but it must not call any hc_cache function, and it should
** be short, since a cache write waiting to reclaim memory waits for it. A
** hit is counted (and reported) as hc_get counts it; a miss is not, since
** the hc_get_or_load that follows counts it once. klen is strlen(key),
** which the caller building the key knows (key[klen] must be its 0).
** Returns fn's result, HC_MISS, HC_ENOMEM, HC_EINVAL.
*/
typedef int (*hc_visit_fn)(void *ctx, const void *data, size_t len);
HC_API int hc_try_visit(hc_cache *c, const char *key, size_t klen, hc_visit_fn fn, void *ctx);

/* True if key has a live entry. Does not count as a hit or miss. */
HC_API bool hc_contains(hc_cache *c, const char *key);

/*
** A loader: fill out with the value to cache and return HC_OK, or return a
** negative HC_E* code and describe the failure in err (which is never NULL
** here). A positive return is treated as HC_ELOAD. A loader may use the cache
** for other keys.
*/
typedef int (*hc_load_fn)(void *ctx, hc_buf *out, hc_error *err);

/*
** Return the value under key, loading it with load(ctx, ...) on a miss.
**
** Concurrent calls that miss the same key run one loader (single-flight):
** the others wait (at most load_wait_timeout_ms, then HC_ETIMEDOUT) and get
** the same bytes, or the same error code and message. A failed load stores
** nothing; the next call loads again. The loaded value is stored with opts'
** TTL and tags unless the key, one of the tags or the whole cache was
** invalidated, or the key was put, while the load ran: then the callers
** still get the value but it is not stored (stale_load_discards), and calls
** that start after the invalidation run a fresh load instead of joining.
** Calling it for a key from inside that key's own loader returns HC_EBUSY.
**
** A hit on an entry stored with refresh_ms that is older than that returns
** the value as any hit does; the first such call claims the entry's
** refresh and starts it (see hc_options), so load(ctx, ...) may then run on
** a refresh thread, with ctx_copy's copy of ctx, after this call returned.
**
** A failed load (or a load joined that failed) when the key still holds an
** expired entry kept by stale_if_error_ms returns HC_OK with that entry's
** value in out (stale_served), and err (if not NULL) with code HC_OK and a
** message naming the failure: "stale value served: <the loader's
** message>". The failure is counted (load_failures) all the same.
**
** Returns HC_OK with the value in out, the loader's error (err filled), or
** HC_ETIMEDOUT, HC_EBUSY, HC_ENOMEM, HC_EINVAL. err may be NULL.
*/
HC_API int hc_get_or_load(hc_cache *c, const char *key, const hc_options *opts,
                          hc_load_fn load, void *ctx, hc_buf *out,
                          hc_error *err);

/*
** Remove the entry under key, and make a load of key that is running
** stale (its result is not stored). The two differ only in what they
** report:
**   hc_remove          HC_EVENT_REMOVED, only when an entry was removed;
**   hc_invalidate_key  HC_EVENT_KEY_INVALIDATED, also when nothing was
**                      cached (a running load may have been made stale).
** Both count a removed entry in `invalidations`, publish the key on the
** cache's bus (where the other caches apply it as hc_invalidate_key, with
** origin bus), and return HC_OK, HC_MISS when there was no entry, HC_EBUS
** when the publish failed (the local removal happened), HC_EINVAL.
*/
HC_API int hc_remove(hc_cache *c, const char *key);
HC_API int hc_invalidate_key(hc_cache *c, const char *key);

/*
** Remove every entry carrying tag and mark loads that will store it stale.
** *removed (if not NULL) gets the number of entries removed. Returns HC_OK.
*/
HC_API int hc_invalidate_tag(hc_cache *c, const char *tag, uint64_t *removed);

/* Remove every entry and mark every running load stale. Returns HC_OK. */
HC_API int hc_flush(hc_cache *c);

/* ----------------------------------------------------------------- stats */

/*
** Counters since the cache was opened. HC_STATS_MAP(XX) is the one list of
** them, XX(name, description), in the order of hc_stats' fields: it makes
** the struct, and lets code that exports the counters (JSON, Prometheus)
** name and describe each one without a list of its own.
*/
#define HC_STATS_MAP(XX)                                                       \
    XX(hits,                    "lookups that found a live entry")             \
    XX(misses,                  "lookups that found no live entry")            \
    XX(loads,                   "loader calls that succeeded")                 \
    XX(load_failures,           "loader calls that failed")                    \
    XX(single_flight_joins,     "callers that waited for another caller's load") \
    XX(stale_load_discards,     "loaded values not stored: invalidated while loading") \
    XX(inserts,                 "entries stored by puts and loads")            \
    XX(invalidations,           "entries removed by remove, invalidate and flush") \
    XX(evictions,               "entries removed to respect the capacity")     \
    XX(expirations,             "entries removed because their TTL passed")    \
    XX(events_published,        "events published to subscribers")             \
    XX(event_subscriber_lagged, "events lost by subscribers that fell behind") \
    XX(bus_published,           "invalidations published on the bus")          \
    XX(bus_received,            "bus messages received for this cache")        \
    XX(bus_applied,             "bus messages applied to this cache")          \
    XX(bus_lagged,              "bus messages lost on the way (each flushed the cache)") \
    XX(bus_publish_failures,    "invalidations that could not be published on the bus") \
    XX(bus_receiver_closed,     "bus connections lost (each flushed the cache)") \
    XX(bus_malformed,           "bus messages that did not parse (each flushed the cache)") \
    XX(refreshes,               "refresh-ahead loads that succeeded (counted in loads too)") \
    XX(refresh_failures,        "refresh-ahead loads that failed (counted in load_failures too)") \
    XX(refresh_drops,           "refreshes not run: the refresh queue was full") \
    XX(stale_served,            "calls answered with an expired value because its load failed")

typedef struct hc_stats {
#define HC__STATS_FIELD(name, desc) uint64_t name;
    HC_STATS_MAP(HC__STATS_FIELD)
#undef HC__STATS_FIELD
} hc_stats;

/* A consistent-enough snapshot: each counter is exact, read at one moment. */
HC_API void hc_stats_get(hc_cache *c, hc_stats *out);
/* hits / (hits + misses); NAN when there were no requests. */
HC_API double hc_stats_hit_ratio(const hc_stats *s);
/* hits + misses. */
HC_API uint64_t hc_stats_total_requests(const hc_stats *s);

typedef struct hc_diagnostics {
    hc_stats stats;
    uint64_t entries;           /* entries (expired ones are reclaimed first, but for
                                   those kept for stale_if_error_ms, until it ends) */
    uint64_t weighted_bytes;    /* sum of key + value bytes of the entries */
    uint64_t tags;              /* distinct tags carried by entries */
    uint64_t loads_in_flight;   /* loads running now */
    uint64_t max_entries;       /* the configured bounds, 0 = unbounded */
    uint64_t max_bytes;
    uint64_t window_entries;    /* the eviction policy's adaptive window size */
} hc_diagnostics;

/* Fill out with the stats and the cache's current shape. Returns HC_OK. */
HC_API int hc_diagnostics_get(hc_cache *c, hc_diagnostics *out);

/* ----------------------------------------------------- stats helpers */

/* True when some caller waited for another caller's load (joins > 0). */
HC_API bool hc_stats_has_single_flight_activity(const hc_stats *s);
/* True when some loaded value was not stored because an invalidation
   raced its load. */
HC_API bool hc_stats_has_stale_load_discards(const hc_stats *s);
/* True when some subscriber fell behind and lost events. */
HC_API bool hc_stats_has_subscriber_lag(const hc_stats *s);
/* True when the cache published, received or applied bus messages. */
HC_API bool hc_stats_has_bus_activity(const hc_stats *s);
/* True when the bus lost messages or a connection, failed to publish, or
   carried a message that did not parse: each of these flushed the cache
   or left other caches stale. */
HC_API bool hc_stats_has_bus_issues(const hc_stats *s);

/* HC_OK when c can do its work: today, when its bus (if any) is up
   (hc_bus_health); HC_EBUS with the reason in err otherwise. HC_EINVAL
   for NULL. */
HC_API int hc_cache_health(hc_cache *c, hc_error *err);

/* -------------------------------------------- per-declaration counters */

/*
** What the code hcachegen writes counts for each cached declaration
** (query, policy, cacheable) on each cache: calls, hits, misses, loader
** runs, failures, stale discards, and the loader's time in a fixed
** histogram. A declaration is an hc_decl, a static of the generated file:
**
**     static hc_decl shop_user_by_id__decl = {"shop", "user_by_id", HC_DECL_QUERY, 0};
**
** The runtime numbers it on first use (id) and keeps a copy of its names
** for the life of the process; two descriptors with the same module, name
** and kind (one file linked twice) count as one. A process counts at most
** HC_DECL_MAX declarations; the ones beyond are not counted.
**
** A hit costs a few loads and one store to a counter only the calling
** thread writes (the per-thread slots of hc_stats' hits); no lock and no
** shared atomic read-modify-write. Misses and loads count with atomics: they
** take locks and run loaders anyway. A counter that cannot be allocated
** (out of memory) loses that count; the call itself is unaffected.
*/
typedef enum hc_decl_kind {
    HC_DECL_QUERY     = 1,  /* a cached SQL query */
    HC_DECL_POLICY    = 2,  /* a policy: the caller passes the loader */
    HC_DECL_CACHEABLE = 3   /* a cacheable function */
} hc_decl_kind;


#define HC_DECL_MAX 1023

/* "query", "policy", "cacheable"; "unknown" otherwise. */
HC_API const char *hc_decl_kind_name(int kind);

/*
** HC_DECL_STATS_MAP(XX) is the one list of per-declaration counters,
** XX(name, description), in the order of hc_decl_stats' fields. calls
** counts each call once, after its arguments were checked; hits and misses
** count lookups, so a call whose cached bytes did not decode, and that
** loaded them again, counts a hit or a miss and then a miss.
*/
#define HC_DECL_STATS_MAP(XX)                                                  \
    XX(calls,          "calls of the generated function")                     \
    XX(hits,           "lookups answered from the cache")                     \
    XX(misses,         "lookups that found nothing and loaded or joined a load") \
    XX(loads,          "loader runs that succeeded")                          \
    XX(load_failures,  "loader runs that failed")                             \
    XX(stale_discards, "loaded values not stored: invalidated while loading") \
    XX(refreshes,      "refresh-ahead loader runs that succeeded (in loads too)") \
    XX(refresh_failures, "refresh-ahead loader runs that failed (in load_failures too)") \
    XX(stale_served,   "calls answered with an expired value because the load failed")

/* The loader's time is counted in HC_DECL_BUCKETS buckets with fixed upper
   bounds, 1 us to 10 s in 1-2.5-5 steps (hc_decl_bucket_bound_ns), and
   one more for longer runs. */
#define HC_DECL_BUCKETS 22

typedef struct hc_decl_stats {
    const char  *module;    /* the runtime's copies: valid while the process runs */
    const char  *name;
    hc_decl_kind kind;
#define HC__DECL_STATS_FIELD(name, desc) uint64_t name;
    HC_DECL_STATS_MAP(HC__DECL_STATS_FIELD)
#undef HC__DECL_STATS_FIELD
    uint64_t load_ns_sum;   /* the loader's time over all runs, ns */
    /* Loader runs by duration, not cumulative: [i] counts runs longer than
       bound i-1 and at most bound i; [HC_DECL_BUCKETS] those longer than
       every bound. They add up to loads + load_failures. */
    uint64_t load_buckets[HC_DECL_BUCKETS + 1];
} hc_decl_stats;

/* The upper bound of bucket i in ns; UINT64_MAX for i >= HC_DECL_BUCKETS. */
HC_API uint64_t hc_decl_bucket_bound_ns(unsigned i);

/*
** An estimate of the q quantile (0 <= q <= 1) of the loader's time, in
** seconds, interpolated inside the bucket that holds it (the last, open
** bucket answers its lower bound). NAN when nothing loaded.
*/
HC_API double hc_decl_stats_quantile(const hc_decl_stats *s, double q);

/*
** Iterate the declarations counted on c: fn(ctx, s) for each one that has
** been called on c, in the order the process first used them. s is a
** snapshot, valid during the call; each counter is exact as read, the set
** a moment's view. Stops at the first non-zero return of fn and returns
** it; HC_OK otherwise, HC_EINVAL for NULL. fn may call the cache. Must not
** run concurrently with hc_cache_close(c).
**
**     static int show(void *ctx, const hc_decl_stats *s)
**     {
**         printf("%s.%s: %llu calls, %llu hits\n", s->module, s->name,
**                (unsigned long long)s->calls, (unsigned long long)s->hits);
**         return 0;
**     }
**     ...
**     hc_decl_stats_each(cache, show, NULL);
*/
typedef int (*hc_decl_stats_fn)(void *ctx, const hc_decl_stats *s);
HC_API int hc_decl_stats_each(hc_cache *c, hc_decl_stats_fn fn, void *ctx);

/* The counters of one declaration on c by module and name. HC_OK,
   HC_ENOTFOUND when it was never called on c, HC_EINVAL. */
HC_API int hc_decl_stats_get(hc_cache *c, const char *module, const char *name,
                             hc_decl_stats *out);

/* ---------------------------------------------------------------- events */

/*
** Every change to a cache, and (when hc_config.access_events is on) every
** access, is an event. Subscribers receive the events published after they
** subscribed, each through a bounded ring of hc_config.event_buffer events:
** the cache never waits for a subscriber, so one that falls behind loses the
** oldest events and is told so (HC_ELAGGED). With nobody subscribed,
** publishing costs one relaxed load and a branch.
*/
typedef enum hc_event_kind {
    HC_EVENT_HIT,                   /* access: hc_get, hc_try_*, hits of get_or_load */
    HC_EVENT_MISS,                  /* access */
    HC_EVENT_SINGLE_FLIGHT_JOINED,  /* access: a caller waits for another's load */
    HC_EVENT_LOAD_STARTED,          /* access */
    HC_EVENT_LOAD_COMPLETED,        /* access */
    HC_EVENT_LOAD_FAILED,           /* access */
    HC_EVENT_STORED,                /* an entry stored by hc_put or a load */
    HC_EVENT_REMOVED,               /* hc_remove */
    HC_EVENT_KEY_INVALIDATED,       /* hc_invalidate_key, local or from the bus */
    HC_EVENT_TAG_INVALIDATED,       /* hc_invalidate_tag: key is the tag */
    HC_EVENT_FLUSHED,               /* hc_flush: key is NULL */
    HC_EVENT_STALE_LOAD_DISCARDED,  /* a load's result not stored, see hc_get_or_load */
    HC_EVENT_EXPIRED,               /* TTL passed */
    HC_EVENT_EVICTED,               /* removed to respect the capacity */
    HC_EVENT_REFRESHED,             /* a refresh-ahead load succeeded (after its
                                       store's stored or stale_load_discarded) */
    HC_EVENT_REFRESH_FAILED,        /* a refresh-ahead load failed */
    HC_EVENT_STALE_SERVED           /* access: a caller got an expired value
                                       because its load failed (stale_if_error_ms) */
} hc_event_kind;
#define HC_EVENT_KIND_COUNT 17

typedef enum hc_origin {
    HC_ORIGIN_LOCAL,          /* a call on this cache */
    HC_ORIGIN_LOADER,         /* a load this cache ran */
    HC_ORIGIN_SINGLE_FLIGHT,  /* a caller that joined a load */
    HC_ORIGIN_BACKEND,        /* the cache's own maintenance: TTL, capacity */
    HC_ORIGIN_BUS             /* a message from another cache or process */
} hc_origin;
#define HC_ORIGIN_COUNT 5

HC_API const char *hc_event_kind_name(hc_event_kind k);  /* "hit", "evicted", ... */
HC_API const char *hc_origin_name(hc_origin o);          /* "local", "bus", ... */

/* Bit sets for hc_event_filter. */
#define HC_EVENT_BIT(kind)     (1u << (kind))
#define HC_ORIGIN_BIT(origin)  (1u << (origin))
/* Access kinds are published only with hc_config.access_events on; the
   refresh kinds are not access kinds: a refresh runs for no caller, and is
   at most one per entry and refresh interval. */
#define HC_EVENTS_ACCESS  0x1003fu  /* hit .. load_failed, stale_served */
#define HC_EVENTS_CHANGES 0xffc0u   /* stored .. evicted, refreshed, refresh_failed */

/*
** One event. The pointers stay valid until the subscription's next
** hc_subscription_recv or its close (for a listener: until the callback
** returns); copy what you keep.
*/
typedef struct hc_event {
    hc_event_kind kind;
    hc_origin     origin;
    uint64_t      seq;          /* the cache's event number, from 1, in publishing order */
    const char   *key;          /* the key; the tag for tag_invalidated; NULL for flushed */
    size_t        key_len;
    const char *const *tags;    /* stored: the entry's tags; otherwise none */
    size_t        ntags;
    uint64_t      count;        /* tag_invalidated, flushed: entries removed */
    uint64_t      skipped;      /* with HC_ELAGGED: events this subscriber lost */
} hc_event;

/*
** What a subscriber wants; an all-zero filter (or NULL) wants everything
** published. Each set member narrows:
**   kinds        HC_EVENT_BIT()s, 0 = every kind (access kinds are only
**                published when hc_config.access_events is on)
**   origins      HC_ORIGIN_BIT()s, 0 = every origin
**   key_prefix   events whose key starts with it (flushed has no key, so
**                it never matches)
**   tag          tag_invalidated of that tag, and stored events of
**                entries carrying it
** The strings are copied.
*/
typedef struct hc_event_filter {
    unsigned    kinds;
    unsigned    origins;
    const char *key_prefix;
    const char *tag;
} hc_event_filter;

typedef struct hc_subscription hc_subscription;

/*
** Subscribe to c's events from now on. Returns HC_OK and sets *out,
** HC_EINVAL, HC_ENOMEM, HC_ESYS.
*/
HC_API int hc_subscribe(hc_cache *c, const hc_event_filter *filter,
                        hc_subscription **out);

/*
** Take the oldest event not yet received into *ev, waiting at most
** timeout_ms for one (0: do not wait; UINT64_MAX: wait as long as it takes).
** Returns HC_OK; HC_ELAGGED with ev->skipped set when the ring overflowed
** and events were lost since the last call (the next call returns the
** oldest one kept); HC_ETIMEDOUT; HC_ECLOSED once the cache was closed and
** every event was received; HC_EINVAL. One thread at a time per
** subscription.
*/
HC_API int hc_subscription_recv(hc_subscription *sub, hc_event *ev,
                                uint64_t timeout_ms);

/*
** Stop receiving and free sub. Events not received are dropped. Accepts
** NULL. May be called after the cache is closed, but not while another
** thread is inside hc_subscription_recv on sub.
*/
HC_API void hc_subscription_close(hc_subscription *sub);

/*
** A listener: fn(ctx, ev) is called for each event that passes filter, in
** order, on a thread of the listener's own (never with a cache lock held,
** never on the thread whose call caused the event). When events were lost,
** the next event delivered has skipped set to how many. fn may call the
** cache (and should not be slow: a listener that falls behind loses events
** like any subscriber). Returns HC_OK and sets *out, HC_EINVAL, HC_ENOMEM,
** HC_ESYS.
*/
typedef void (*hc_event_fn)(void *ctx, const hc_event *ev);
typedef struct hc_listener hc_listener;
HC_API int hc_listen(hc_cache *c, const hc_event_filter *filter,
                     hc_event_fn fn, void *ctx, hc_listener **out);

/*
** Stop the listener: waits for a callback that is running to return (so ctx
** may be freed afterwards), then frees it. Events not yet delivered are
** dropped. Called from inside its own callback, it stops the listener
** after that callback returns, without waiting. Accepts NULL.
*/
HC_API void hc_listener_close(hc_listener *l);

/* ------------------------------------------------------ invalidation bus */

/*
** An invalidation bus carries invalidations between caches: in one process
** (hc_bus_memory_new) or between processes (hc_bus_pg_new: PostgreSQL
** LISTEN/NOTIFY). Caches opened with the same hc_config.bus form a group;
** hc_invalidate_key, hc_remove, hc_invalidate_tag and hc_flush apply
** locally, then publish, and every other cache of the same name on the bus
** applies the message (origin HC_ORIGIN_BUS; counted as bus_received and
** bus_applied; never published again). A cache ignores the messages it
** published itself (by node_id). Values never travel, only invalidations.
**
** A message lost on the way (a ring that overflowed, a connection that
** broke) cannot be named, so every cache of the bus flushes when it learns
** of a loss (counted once the flush is done, as bus_lagged, or
** bus_receiver_closed for a lost connection). A failed publish is counted (bus_publish_failures) and the
** call returns HC_EBUS, after the local invalidation was applied.
*/

/*
** An in-process bus: published messages wait in a ring of capacity messages
** (0: 1024) for its delivery thread. A publisher never waits for delivery;
** if the ring is full the oldest message is dropped and the caches flush.
*/
HC_API int hc_bus_memory_new(hc_bus **out, unsigned capacity);

/* Close the transport and free bus. Every cache using it must be closed
   first. Accepts NULL. */
HC_API void hc_bus_free(hc_bus *bus);

/*
** Whether bus can carry messages now, as its transport last said
** (hc_bus_set_health): HC_OK, or HC_EBUS with the reason in err (may be
** NULL), e.g. "bus: connection to PostgreSQL lost; reconnecting", then the
** server's own message while reconnecting fails. A transport that never
** says is always HC_OK. HC_EINVAL for a NULL bus.
*/
HC_API int hc_bus_health(hc_bus *bus, hc_error *err);

/* -------------------------------------------------------------- database */

/*
** Database handles. An hc_db wraps a connection the application opened and
** still owns: hc_db_free never closes it. The adapters that make one are
** libraries of their own: hc_db_sqlite (hydracache/sqlite.h,
** libhydracache-sqlite) and hc_db_pg (hydracache/pg.h, libhydracache-pg).
** The code hcachegen writes for query and exec declarations runs through
** it: each statement is prepared once per hc_db (on first use), parameters
** are bound with their types (nothing is ever spliced into SQL text) and
** result columns are mapped by position.
**
** Threads: every statement runs with the hc_db's mutex held, from
** hc_db_begin to hc_db_end, so one hc_db may be shared by threads and its
** calls are serialized on the one connection. Use one hc_db per connection
** (and several connections for queries in parallel). The application must
** not use the connection itself while a call on its hc_db runs: when other
** threads share the hc_db, hold hc_db_lock while using the connection
** directly, and to run several statements as one transaction.
**
** Errors: a statement the database refused is HC_EDB, with the database's
** own message in hc_error, prefixed with the statement's name
** ("shop_user_by_id: no such table: users"; on PostgreSQL the primary
** message and its detail). A connection that was lost or failed is
** HC_ECONN instead ("...: connection lost: ..."; on SQLite a database file
** that cannot be opened or read), so that retry logic can tell the two
** apart: a lost PostgreSQL connection is reset by the next call (PQreset,
** which blocks while it reconnects, and loses the session's settings),
** which prepares its statements again, so service resumes once the server
** is back. A statement the session lost otherwise (DEALLOCATE ALL, DISCARD
** ALL) is prepared again and run once more. SQLite statements are
** re-prepared by SQLite itself when the schema changes.
*/
typedef struct hc_db   hc_db;

typedef enum hc_db_kind {
    HC_DB_SQLITE   = 1,
    HC_DB_POSTGRES = 2
} hc_db_kind;

/* Finalize (SQLite) or deallocate (PostgreSQL) the prepared statements and
   free db. The connection stays open. No call on db may be running. Accepts
   NULL. */
HC_API void hc_db_free(hc_db *db);
HC_API hc_db_kind hc_db_get_kind(const hc_db *db);

/*
** Hold db's lock across several statements, so that no other thread's call
** on db runs in between: a transaction (BEGIN, statements, COMMIT, each
** through hc_db_begin/hc_db_end on this thread), or the application's own
** use of the connection. Holds nest; each hc_db_lock needs an hc_db_unlock
** on the same thread. While a hold lasts, a broken PostgreSQL connection is
** not reset (its calls keep failing with HC_ECONN), so the statements of a
** transaction never continue on a new session; the first hc_db_begin after
** the last unlock resets it. Inside a hold, call the _direct functions,
** not the cached ones: a cached call that joins another thread's load of
** the same key would wait for a loader that waits for this hold.
** hc_db_lock returns HC_OK, HC_EINVAL, HC_ESYS;
** hc_db_unlock HC_OK, or HC_EINVAL when this thread holds no hc_db_lock.
*/
HC_API int hc_db_lock(hc_db *db);
HC_API int hc_db_unlock(hc_db *db);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_CORE_H */
