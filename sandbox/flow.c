/*
** flow.c -- what one flow did, as events.
**
** A flow subscribes to its lab's cache for as long as it runs. The cache
** publishes an event into every subscription before the call that caused
** it returns, so draining the subscription after an operation finds that
** operation's events, and those of whatever else ran meanwhile: the flow
** keeps the ones about the keys and tags its operations named (all of them
** once it flushed, or named too many to list) and leaves the rest to the
** flows they belong to.
**
** The sandbox's own events (loader calls, resets, scenario runs) go in
** through sb_flow_note, which first drains the subscription, so the log
** keeps the order in which things happened. Loaders run on whichever
** thread leads a load, so the flow has a mutex.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

bool sb_flow_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!(s[n] >= 'a' && s[n] <= 'z') && !(s[n] >= 'A' && s[n] <= 'Z') && !(s[n] >= '0' && s[n] <= '9') &&
            !strchr("._:-", s[n]))
            return false;
    return n >= 1 && n < SB_FLOW_ID_MAX;
}

void sb_flow_new_id(char out[SB_FLOW_ID_MAX])
{
    static atomic_uint_fast64_t next = 1;
    static unsigned salt;
    if (!salt) salt = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    uint64_t n = atomic_fetch_add(&next, 1);
    snprintf(out, SB_FLOW_ID_MAX, "flow-%llu-%04x", (unsigned long long)n,
             (unsigned)((n * 2654435761u) ^ salt) & 0xffff);
}

int sb_flow_begin(sb_flow *f, sb_lab *lab, const char *flow_id, sb_err *e)
{
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", flow_id);
    f->lab = lab;
    f->events = json_array();
    pthread_mutex_t *mu = malloc(sizeof *mu);
    if (!mu || !f->events) {
        free(mu);
        json_decref(f->events);
        return sb_fail(e, 500, "internal", "out of memory");
    }
    pthread_mutex_init(mu, NULL);
    f->mu = mu;
    if (lab != sb_main_lab) f->profile = sb_lab_profile(lab);
    int rc = hc_subscribe(sb_lab_cache(lab), NULL, &f->sub);
    if (rc != HC_OK) {
        pthread_mutex_destroy(mu);
        free(mu);
        json_decref(f->events);
        return sb_fail(e, 500, "internal", "cannot subscribe to the cache: %s", hc_strerror(rc));
    }
    return 0;
}

void sb_flow_end(sb_flow *f)
{
    if (!f->mu) return;
    sb_flow_collect(f);
    hc_subscription_close(f->sub);
    for (size_t i = 0; i < f->ntouched; i++) free(f->touched[i]);
    json_decref(f->events);
    pthread_mutex_destroy(f->mu);
    free(f->mu);
    memset(f, 0, sizeof *f);
}

void sb_flow_touch(sb_flow *f, const char *key_or_tag)
{
    if (!key_or_tag) return;
    pthread_mutex_lock(f->mu);
    bool known = f->any;
    for (size_t i = 0; i < f->ntouched && !known; i++) known = strcmp(f->touched[i], key_or_tag) == 0;
    if (!known) {
        if (f->ntouched == SB_FLOW_TOUCH_MAX || !(f->touched[f->ntouched] = strdup(key_or_tag)))
            f->any = true;
        else
            f->ntouched++;
    }
    pthread_mutex_unlock(f->mu);
}

void sb_flow_touch_all(sb_flow *f)
{
    pthread_mutex_lock(f->mu);
    f->any = true;
    pthread_mutex_unlock(f->mu);
}

static bool touched(const sb_flow *f, const char *s, size_t len)
{
    for (size_t i = 0; i < f->ntouched; i++)
        if (strlen(f->touched[i]) == len && memcmp(f->touched[i], s, len) == 0) return true;
    return false;
}

static bool wanted(const sb_flow *f, const hc_event *ev)
{
    if (f->any) return true;
    if (ev->key && touched(f, ev->key, ev->key_len)) return true;
    for (size_t i = 0; i < ev->ntags; i++)
        if (touched(f, ev->tags[i], strlen(ev->tags[i]))) return true;
    return false;
}

#define FLOW_EVENTS_MAX 20000

/* Append ev to the log and to the flow's own list, which keeps the latest
   FLOW_EVENTS_MAX (a long suite would otherwise hold all it did). Called
   with f->mu held. */
static void keep(sb_flow *f, json_t *ev)
{
    json_object_set_new(ev, "flow_id", json_string(f->id));
    if (f->profile) json_object_set_new(ev, "profile", json_string(f->profile));
    json_incref(ev);
    sb_log_add(ev);                 /* numbers it: the flow's copy shows the seq */
    if (json_array_size(f->events) >= FLOW_EVENTS_MAX) {
        json_t *rest = json_array();
        for (size_t i = FLOW_EVENTS_MAX / 2; i < json_array_size(f->events); i++)
            json_array_append(rest, json_array_get(f->events, i));
        json_decref(f->events);
        f->events = rest;
        f->base += FLOW_EVENTS_MAX / 2;
    }
    json_array_append_new(f->events, ev);
}

static void collect_locked(sb_flow *f)
{
    hc_event ev;
    for (;;) {
        int rc = hc_subscription_recv(f->sub, &ev, 0);
        if (rc == HC_ELAGGED) {
            json_t *o = json_pack("{s:s, s:s, s:I}", "kind", "events-lost", "source", "sandbox", "count",
                                  (json_int_t)ev.skipped);
            keep(f, o);
            continue;
        }
        if (rc != HC_OK) break;
        if (!wanted(f, &ev)) continue;
        char kind[32];
        json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "kind", sb_kebab(hc_event_kind_name(ev.kind), kind, sizeof kind),
                              "source", "cache", "origin", hc_origin_name(ev.origin), "cache_seq",
                              (json_int_t)ev.seq);
        if (ev.key) sb_set(o, "key", json_stringn(ev.key, ev.key_len));
        if (ev.ntags) {
            json_t *tags = json_array();
            for (size_t i = 0; i < ev.ntags; i++) json_array_append_new(tags, json_string(ev.tags[i]));
            sb_set(o, "tags", tags);
        }
        if (ev.kind == HC_EVENT_TAG_INVALIDATED || ev.kind == HC_EVENT_FLUSHED)
            sb_set(o, "count", json_integer((json_int_t)ev.count));
        keep(f, o);
    }
}

void sb_flow_collect(sb_flow *f)
{
    if (!f || !f->mu) return;
    pthread_mutex_lock(f->mu);
    collect_locked(f);
    pthread_mutex_unlock(f->mu);
}

size_t sb_flow_mark(sb_flow *f)
{
    pthread_mutex_lock(f->mu);
    collect_locked(f);
    size_t n = f->base + json_array_size(f->events);
    pthread_mutex_unlock(f->mu);
    return n;
}

bool sb_flow_saw(sb_flow *f, size_t mark, const char *kind, const char *key)
{
    pthread_mutex_lock(f->mu);
    collect_locked(f);
    bool found = false;
    for (size_t i = mark > f->base ? mark - f->base : 0; i < json_array_size(f->events) && !found; i++) {
        json_t *ev = json_array_get(f->events, i);
        const char *k = json_string_value(json_object_get(ev, "kind"));
        const char *k2 = json_string_value(json_object_get(ev, "key"));
        found = k && strcmp(k, kind) == 0 && (!key || (k2 && strcmp(k2, key) == 0));
    }
    pthread_mutex_unlock(f->mu);
    return found;
}

json_t *sb_flow_events_since(sb_flow *f, size_t mark, size_t max, size_t *omitted)
{
    json_t *out = json_array();
    pthread_mutex_lock(f->mu);
    collect_locked(f);
    size_t from = mark > f->base ? mark - f->base : 0, n = json_array_size(f->events);
    for (size_t i = from; i < n && i - from < max; i++)
        json_array_append_new(out, json_deep_copy(json_array_get(f->events, i)));
    /* max may be SIZE_MAX (everything): n - from cannot wrap, from + max can. */
    *omitted = n > from && n - from > max ? n - from - max : 0;
    pthread_mutex_unlock(f->mu);
    return out;
}

void sb_flow_note(sb_flow *f, const char *kind, json_t *fields)
{
    json_t *o = json_pack("{s:s, s:s}", "kind", kind, "source", "sandbox");
    if (fields) {
        json_object_update(o, fields);
        json_decref(fields);
    }
    if (!f || !f->mu) {
        sb_log_add(o);
        return;
    }
    pthread_mutex_lock(f->mu);
    collect_locked(f);
    keep(f, o);
    pthread_mutex_unlock(f->mu);
}
