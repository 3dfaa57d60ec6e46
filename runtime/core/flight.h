/*
** flight.h -- single-flight: the record of a load in flight (hc__flight,
** hc_int.h), how callers find and join it, how invalidations make it
** stale, and how its leader hands the result to the joiners.
**
** Owns: hc__flight records, each shard's list of them, and each thread's
** chain of the loads it leads (hc__thread.leading).
** May call: the allocator, pthread mutexes and condition variables of the
** flight itself, hc_buf and hc_error helpers. Never a loader, never an
** event, never another lock of the cache: the caller holds what each
** function below says, and hc_get_or_load (cache.c) runs the loader.
*/
#ifndef HC_FLIGHT_H
#define HC_FLIGHT_H

#include "hc_int.h"

/* The load of key attached to shard s, or NULL. Under the shard lock. */
hc__flight *hc__flight_find(hc__shard *s, uint64_t h, const char *key, size_t klen);

/* Take f out of its shard's list (if it is in it): callers from now on do
   not join it. Under the shard lock. */
void hc__flight_detach(hc__shard *s, hc__flight *f);

/* Mark f stale (its result will not be stored) and detach it. Under the
   shard lock and the lock of f's partition, which store() holds when it
   reads the mark. */
void hc__flight_stale(hc__shard *s, hc__flight *f);
/* Every load of s that would store tag (len bytes), or every load of s
   (tag NULL). Same locks. */
void hc__flight_stale_matching(hc__shard *s, const char *tag, size_t len);

/* A copy of key and of opts' tag names in one block: hc__key_tags_size is
   its size, to be allocated after a record; hc__key_tags_copy fills it at
   mem (the array of ntags pointers first, then the strings) and returns
   the key's copy, NUL-terminated. opts may be NULL (no tags). */
size_t hc__key_tags_size(size_t klen, const hc_options *opts);
char *hc__key_tags_copy(void *mem, const char *key, size_t klen, const hc_options *opts);

/* A new record for a load of key led by this thread, with opts' tags (a
   copy), one reference; NULL on out of memory. */
hc__flight *hc__flight_new(hc_cache *c, const char *key, size_t klen, uint64_t h,
                           const hc_options *opts);
/* Drop a reference; the last frees f. */
void hc__flight_unref(hc_cache *c, hc__flight *f);

/* Whether this thread is running the loader of key in c, at any depth of
   nested loads, attached or not. */
bool hc__flight_leads(hc_cache *c, uint64_t h, const char *key, size_t klen);
/* The thread starts and ends running f's loader. */
void hc__flight_enter(hc__flight *f);
void hc__flight_leave(hc__flight *f);

/* A caller joins f: HC_OK, or HC_ESYS if what joiners wait on could not
   be set up. Under the shard lock. */
int hc__flight_add_joiner(hc__flight *f);

/* A joiner's wait for f's result (at most c's load_wait_timeout_ms):
   the value into out, or the leader's error into err; *stale when the
   value is an expired one standing in for the load's failure (err then
   says so, with code HC_OK). Drops the joiner's reference. No lock held. */
int hc__flight_join(hc_cache *c, hc__flight *f, hc_buf *out, hc_error *err, bool *stale);

/* The leader, under the shard lock as it stores the result: detach f for
   good, and note the joiners it will hand the result to, so that
   hc__flight_finish need not lock the shard again. */
void hc__flight_settle(hc__shard *s, hc__flight *f);

/* The leader's end: detach f from s (unless settled), hand rc, out's
   bytes or err to the joiners that came (stale: the bytes stand in for a
   failed load, as err says), wake them, and drop the leader's reference.
   No lock held. */
void hc__flight_finish(hc_cache *c, hc__shard *s, hc__flight *f, int rc,
                       const hc_buf *out, const hc_error *err, bool stale);

#endif
