/*
** hydracache.h -- the public interface of libhydracache.
**
** libhydracache is a thread-safe in-process cache for C services: byte values
** under string keys, per-entry TTLs, a capacity bounded by entries and by
** bytes (an adaptive, scan-resistant eviction policy picks the victims), tag
** invalidation, single-flight loading that never stores a result an
** invalidation raced, and counters for everything it does.
**
** Conventions
**   - Every function that can fail returns an int status: HC_OK (0),
**     HC_MISS (1, lookups only; not an error) or a negative HC_E* code.
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
#ifndef HYDRACACHE_H
#define HYDRACACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HC_VERSION_MAJOR  0
#define HC_VERSION_MINOR  1
#define HC_VERSION_PATCH  0
#define HC_VERSION_STRING "0.1.0"
/* major * 1000000 + minor * 1000 + patch: generated code gates on this. */
#define HC_VERSION_NUMBER 1000

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
    XX(ENOTFOUND, -9, "no such row")                                           \
    XX(ELAGGED,  -10, "subscriber lagged; events were skipped")                \
    XX(ECLOSED,  -11, "closed")                                                \
    XX(ENOTSUP,  -12, "not supported")                                         \
    XX(EBUS,     -13, "invalidation bus error")                                \
    XX(ESYS,     -14, "system call failed")

enum {
    HC_OK = 0,
    HC_MISS = 1,
#define HC__ERRNO_ENUM(name, value, msg) HC_##name = (value),
    HC_ERRNO_MAP(HC__ERRNO_ENUM)
#undef HC__ERRNO_ENUM
};

/* "out of memory" for HC_ENOMEM, "ok", "miss"; "unknown error" otherwise. */
HC_API const char *hc_strerror(int code);
/* "HC_ENOMEM" for HC_ENOMEM, "HC_OK", "HC_MISS"; "HC_EUNKNOWN" otherwise. */
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
** Key builders: append one segment to key, joined with ':' when key is not
** empty. A segment is escaped so that distinct segment lists never build the
** same key: '%' becomes "%25" and ':' becomes "%3A". So ("a:b") and ("a","b")
** give "a%3Ab" and "a:b".
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
    unsigned event_buffer;          /* 1024 events per subscriber ring */
    bool     access_events;         /* false: hit/miss/load events are opt-in */
    hc_bus  *bus;                   /* NULL = no invalidation bus */
    const char *node_id;            /* NULL = generated; echo suppression on the bus */
} hc_config;

/* Fill cfg with the defaults shown above. */
HC_API void hc_config_init(hc_config *cfg);

/*
** Open a cache. cfg NULL means the defaults. The strings in cfg are copied;
** the allocator and bus must outlive the cache. The allocator may be called
** from any thread using the cache; a removed entry is freed a little later
** (in batches, once no reader can still see it) by a later write or by
** hc_cache_close. Returns HC_OK and sets *out, HC_EINVAL for a bad
** configuration, HC_ENOMEM.
*/
HC_API int hc_cache_open(hc_cache **out, const hc_config *cfg);

/*
** Close a cache and free everything it holds. No other call on c may run or
** start, and no load may be in flight. Accepts NULL. Returns HC_OK.
*/
HC_API int hc_cache_close(hc_cache *c);

/* The name given in hc_config (a copy owned by the cache). */
HC_API const char *hc_cache_name(const hc_cache *c);

/* --------------------------------------------------------------- entries */

/* Per-call options; NULL means "default TTL, no tags". */
typedef struct hc_options {
    uint64_t ttl_ms;                /* HC_TTL_DEFAULT, HC_TTL_NEVER or milliseconds */
    const char *const *tags;        /* ntags tag names, copied by the cache */
    size_t ntags;
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
** HC_MISS when there is no live entry (an expired one is removed), HC_ENOMEM
** when out cannot grow, HC_EINVAL.
*/
HC_API int hc_get(hc_cache *c, const char *key, hc_buf *out);

/*
** hc_get for a caller that goes on to hc_get_or_load when it misses: a hit
** is counted and copied out as by hc_get, but a miss is not counted (the
** hc_get_or_load that follows counts it once). It lets generated code build
** an entry's tags only on a miss. Returns HC_OK, HC_MISS, HC_ENOMEM,
** HC_EINVAL.
*/
HC_API int hc_try_get(hc_cache *c, const char *key, hc_buf *out);

/*
** hc_try_get without the copy: on a hit, fn(ctx, data, len) reads the value
** where it lies and hc_try_visit returns what fn returns. fn runs where the
** entry cannot be freed under it (an RCU read-side section, or a private
** copy): it may allocate and free memory, but it must not call any
** hc_cache function, and it should be short, since a cache write waiting to
** reclaim memory waits for it. Counted as hc_try_get counts: a hit, and no
** miss. klen is strlen(key), which the caller building the key knows
** (key[klen] must be its 0). Returns fn's result, HC_MISS, HC_ENOMEM,
** HC_EINVAL.
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
** Returns HC_OK with the value in out, the loader's error (err filled), or
** HC_ETIMEDOUT, HC_EBUSY, HC_ENOMEM, HC_EINVAL. err may be NULL.
*/
HC_API int hc_get_or_load(hc_cache *c, const char *key, const hc_options *opts,
                          hc_load_fn load, void *ctx, hc_buf *out,
                          hc_error *err);

/* Remove the entry under key. Returns HC_OK, or HC_MISS if there was none. */
HC_API int hc_remove(hc_cache *c, const char *key);
/* Same as hc_remove; named for symmetry with the invalidation calls. */
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
    XX(bus_malformed,           "bus messages that did not parse (each flushed the cache)")

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
    uint64_t entries;           /* live entries (expired ones are reclaimed first) */
    uint64_t weighted_bytes;    /* sum of key + value bytes of the entries */
    uint64_t tags;              /* distinct tags carried by entries */
    uint64_t loads_in_flight;   /* loads running now */
    uint64_t max_entries;       /* the configured bounds, 0 = unbounded */
    uint64_t max_bytes;
    uint64_t window_entries;    /* the eviction policy's adaptive window size */
} hc_diagnostics;

/* Fill out with the stats and the cache's current shape. Returns HC_OK. */
HC_API int hc_diagnostics_get(hc_cache *c, hc_diagnostics *out);

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
    HC_EVENT_EVICTED                /* removed to respect the capacity */
} hc_event_kind;
#define HC_EVENT_KIND_COUNT 14

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
#define HC_EVENTS_ACCESS  0x3fu     /* hit .. load_failed */
#define HC_EVENTS_CHANGES 0x3fc0u   /* stored .. evicted */

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
typedef enum hc_bus_op {
    HC_BUS_KEY   = 1,       /* invalidate the key value */
    HC_BUS_TAG   = 2,       /* invalidate the tag value */
    HC_BUS_FLUSH = 3        /* flush; value is NULL */
} hc_bus_op;

typedef struct hc_bus_msg {
    hc_bus_op   op;
    const char *node_id;    /* the publishing cache's hc_config.node_id */
    const char *cache;      /* its name: only caches of that name apply it */
    const char *value;      /* the key or the tag */
} hc_bus_msg;

/*
** A transport: how messages travel. hc_bus_new calls start once, and from
** then on the transport calls hc_bus_deliver for each message it receives
** (its own ones included: the bus drops them), hc_bus_lost when messages
** were lost, from one thread of its own. publish may be called from any
** thread at once and returns HC_OK or a negative code with err filled.
** close stops the delivery (no hc_bus_deliver runs once it returns) and
** frees the transport.
*/
typedef struct hc_bus_transport {
    int  (*publish)(void *impl, const hc_bus_msg *m, hc_error *err);
    int  (*start)(void *impl, hc_bus *bus, hc_error *err);
    void (*close)(void *impl);
} hc_bus_transport;

/* Make a bus over a transport (t must outlive it). On failure impl is closed
   through t->close. Returns HC_OK, HC_ENOMEM, HC_ESYS, or start's error. */
HC_API int hc_bus_new(hc_bus **out, const hc_bus_transport *t, void *impl,
                      hc_error *err);
/* For transports: apply m to every other cache of its name on the bus. */
HC_API void hc_bus_deliver(hc_bus *bus, const hc_bus_msg *m);
/* For transports: n messages (0: an unknown number) were lost; every cache
   flushes. reconnected says they were lost to a broken connection. */
HC_API void hc_bus_lost(hc_bus *bus, uint64_t n, bool reconnected);
/* For transports: a message arrived that does not parse (not ours, forged
   or damaged). Every cache flushes, the safe reading of any message, and
   counts it as bus_malformed, apart from bus_received and bus_applied, so
   that an operator can tell garbage on the channel from real flushes. */
HC_API void hc_bus_malformed(hc_bus *bus);

/*
** An in-process bus: published messages wait in a ring of capacity messages
** (0: 1024) for its delivery thread. A publisher never waits for delivery;
** if the ring is full the oldest message is dropped and the caches flush.
*/
HC_API int hc_bus_memory_new(hc_bus **out, unsigned capacity);

/*
** A bus between processes over PostgreSQL: a connection of its own (opened
** here with conninfo, with TCP keepalives) LISTENs on channel (a plain
** identifier: letters, digits, '_', at most 63 bytes) and a thread of its
** own waits on its socket. Messages are published with pg_notify on the
** same connection. The payload format is in docs/RUNTIME.md ("The
** invalidation bus"); one over PostgreSQL's 8000-byte limit is sent as a
** flush of that cache. A lost connection is retried with backoff (50 ms
** doubling to 5 s); once back, it LISTENs again and every cache of the bus
** flushes, since notifications sent meanwhile are lost. Publishing while
** the connection is down fails with HC_EBUS. A payload that does not parse
** flushes every cache of the bus (counted as bus_malformed). Returns HC_OK, HC_EINVAL (bad channel),
** HC_EBUS with the server's message when it cannot connect or LISTEN,
** HC_ENOMEM, HC_ESYS.
*/
HC_API int hc_bus_pg_new(hc_bus **out, const char *conninfo,
                         const char *channel, hc_error *err);

/* Close the transport and free bus. Every cache using it must be closed
   first. Accepts NULL. */
HC_API void hc_bus_free(hc_bus *bus);

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
    bool     blob;          /* which hc_dec_*_view filled it */
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
** go in with hc_buf_append_str; each interpolated value with one of these,
** which add no separator. Text is escaped as a key segment ('%' -> %25,
** ':' -> %3A); numbers are written in decimal (f64 with %.17g), bool as
** true/false, blobs in lowercase hex.
*/
HC_API int hc_key_append_escaped(hc_buf *key, const char *s, size_t n);
HC_API int hc_key_append_int(hc_buf *key, int64_t v);
HC_API int hc_key_append_uint(hc_buf *key, uint64_t v);
HC_API int hc_key_append_f64(hc_buf *key, double v);
HC_API int hc_key_append_hex(hc_buf *key, const void *p, size_t n);

/* -------------------------------------------------------------- database */

/*
** Database adapters. An hc_db wraps a connection the application opened and
** still owns: hc_db_free never closes it. The code hcachegen writes for query
** and exec declarations runs through it: each statement is prepared once per
** hc_db (on first use), parameters are bound with their types (nothing is
** ever spliced into SQL text) and result columns are mapped by position.
**
** Threads: every statement runs with the hc_db's mutex held, from
** hc_db_begin to hc_db_end, so one hc_db may be shared by threads and its
** calls are serialized on the one connection. Use one hc_db per connection
** (and several connections for queries in parallel). The application must
** not use the connection itself while a call on its hc_db runs: when other
** threads share the hc_db, hold hc_db_lock while using the connection
** directly, and to run several statements as one transaction.
**
** Errors: a database failure is HC_EDB with the database's own message in
** hc_error, prefixed with the statement's name ("shop_user_by_id: no such
** table: users"; on PostgreSQL the primary message and its detail). A
** PostgreSQL connection that is found broken makes the call fail with
** HC_EDB; the next call resets it (PQreset, which blocks while it
** reconnects, and loses the session's settings) and prepares its
** statements again, so service resumes once the server is back. A
** statement the session lost otherwise (DEALLOCATE ALL, DISCARD ALL) is
** prepared again and run once more. SQLite statements are re-prepared by
** SQLite itself when the schema changes.
*/
typedef struct hc_db   hc_db;
typedef struct hc_stmt hc_stmt;
struct sqlite3;                     /* sqlite3.h: typedef struct sqlite3 sqlite3 */
struct pg_conn;                     /* libpq-fe.h: typedef struct pg_conn PGconn */

typedef enum hc_db_kind {
    HC_DB_SQLITE   = 1,
    HC_DB_POSTGRES = 2
} hc_db_kind;

/* Wrap an open connection. Returns HC_OK and sets *out, HC_EINVAL, HC_ENOMEM.
   Free the hc_db before closing the connection. */
HC_API int hc_db_sqlite(hc_db **out, struct sqlite3 *conn);
HC_API int hc_db_pg(hc_db **out, struct pg_conn *conn);
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
** not reset (its calls keep failing with HC_EDB), so the statements of a
** transaction never continue on a new session; the first hc_db_begin after
** the last unlock resets it. Inside a hold, call the _direct functions,
** not the cached ones: a cached call that joins another thread's load of
** the same key would wait for a loader that waits for this hold.
** hc_db_lock returns HC_OK, HC_EINVAL, HC_ESYS;
** hc_db_unlock HC_OK, or HC_EINVAL when this thread holds no hc_db_lock.
*/
HC_API int hc_db_lock(hc_db *db);
HC_API int hc_db_unlock(hc_db *db);

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
** row is available, HC_MISS when there are no (more) rows, HC_EDB. Once it
** has returned HC_MISS or an error it returns the same again: a statement
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
/* Rows inserted, updated or deleted by the statement, after it ran. */
HC_API int64_t hc_stmt_changes(hc_stmt *st);

/*
** What a generated exec runs around its statement, so that the tags it
** invalidates are invalidated everywhere if and only if the write commits.
**
** hc_exec_begin: when db is PostgreSQL and c's bus is a PostgreSQL bus, it
** takes hc_db_lock and runs BEGIN, unless the connection is inside a
** transaction already (the application's: then it joins it); otherwise it
** does nothing. NOTIFY reaches the listeners of one database only, so db
** and the bus must be connected to the same database. *tx tells hc_exec_end what was done. Returns HC_OK, or an
** error with nothing held.
**
** hc_exec_end, with rc the statement's result (and after hc_db_end):
**   - with a transaction: if rc is HC_OK, one pg_notify per tag runs in it
**     (the bus's payload, see docs/RUNTIME.md) and BEGIN's transaction is
**     committed, then the tags are invalidated in c; if anything failed the
**     transaction is rolled back, nothing is invalidated, and the error is
**     returned. Notifications made in the application's transaction carry
**     no node id, so this process's bus applies them too, at its commit.
**   - without: if rc is HC_OK, hc_invalidate_tag for each tag (published on
**     c's bus, if any); a failed publish returns HC_EBUS although the write
**     succeeded.
**   ntags HC_EXEC_FLUSH (tags NULL) flushes instead: what generated code
**   passes when it could not build a tag. A NULL tag is the empty tag.
** Returns rc when it is an error, else HC_OK, HC_EDB, HC_EBUS, HC_ENOMEM.
*/
#define HC_EXEC_FLUSH ((size_t)-1)
HC_API int hc_exec_begin(hc_cache *c, hc_db *db, int *tx, hc_error *err);
HC_API int hc_exec_end(hc_cache *c, hc_db *db, int tx, int rc,
                       const char *const *tags, size_t ntags, hc_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_H */
