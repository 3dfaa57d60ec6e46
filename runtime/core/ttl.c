/*
** ttl.c -- a hierarchical timer wheel that reclaims expired entries without
** waiting for a read of them.
**
** Level i has 64 buckets of 64^i ms each: 1 ms, 64 ms, 4.1 s, 4.4 min,
** 4.7 h and 12.4 days, so level 5 reaches about 2.2 years; anything later
** waits in level 5's farthest bucket and is rescheduled when it comes round.
** An entry sits in the bucket of the lowest level whose range holds its
** remaining time; when a higher-level bucket comes due, its entries expire
** or move down ("cascade"). Scheduling and unscheduling are O(1); advancing
** visits at most 64 buckets per level however far the clock moved, plus the
** entries in them. A cache has one wheel per partition (part.c); all of it
** runs under that partition's lock.
*/
#include <stddef.h>

#include "hc_int.h"

#define LEVEL_SHIFT(level) ((unsigned)(level) * HC_WHEEL_BITS)

/* The entry whose hc__ttl holds link l: the header follows the hc__ttl. */
static hc__entry *entry_of_tl(hc__link *l)
{
    hc__ttl *t = (hc__ttl *)(void *)((char *)l - offsetof(hc__ttl, tl));
    return (hc__entry *)(void *)(t + 1);
}

void hc__wheel_init(hc__wheel *w, uint64_t now)
{
    w->now = now;
    w->scheduled = 0;
    for (int i = 0; i < HC_WHEEL_LEVELS; i++)
        for (unsigned j = 0; j < HC_WHEEL_SIZE; j++)
            w->bucket[i][j].prev = w->bucket[i][j].next = &w->bucket[i][j];
}

/* The bucket for a deadline t > w->now. */
static hc__link *bucket_for(hc__wheel *w, uint64_t t)
{
    uint64_t delta = t - w->now;
    int level = 0;
    while (level < HC_WHEEL_LEVELS - 1 &&
           delta >= ((uint64_t)1 << LEVEL_SHIFT(level + 1)))
        level++;
    uint64_t tick = t >> LEVEL_SHIFT(level);
    if (delta >= ((uint64_t)1 << LEVEL_SHIFT(HC_WHEEL_LEVELS))) {
        /* Beyond the wheel: the bucket that comes due last, in 64 ticks,
           where it is looked at again. */
        tick = (w->now >> LEVEL_SHIFT(level)) + HC_WHEEL_SIZE;
    }
    return &w->bucket[level][tick & (HC_WHEEL_SIZE - 1)];
}

static void link_before(hc__link *head, hc__link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

void hc__wheel_schedule(hc__wheel *w, hc__entry *e)
{
    if (!hc__entry_has_ttl(e)) return;
    hc__ttl *x = hc__entry_ttl(e);
    /* The wheel reclaims an entry at its deadline, or at the end of its
       stale-if-error window when it has one (until then it is expired for
       reads, but kept to stand in for a failed load). A time already
       reached goes to the next tick's bucket, so that the next advance
       reclaims it. */
    uint64_t at = hc__entry_reclaim(e);
    uint64_t t = at > w->now ? at : w->now + 1;
    link_before(bucket_for(w, t), &x->tl);
    w->scheduled++;
}

void hc__wheel_unschedule(hc__wheel *w, hc__entry *e)
{
    if (!hc__entry_has_ttl(e)) return;
    hc__link *l = &hc__entry_ttl(e)->tl;
    if (!l->next) return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
    w->scheduled--;
}

/*
** Process bucket b at time w->now: expired entries are unscheduled and
** handed to expire(); the others cascade to the bucket their remaining
** time calls for, which is never b itself (it lies in the future of every
** level's current tick).
*/
static void process(hc__wheel *w, hc__link *b, hc__expire_fn expire, void *ctx)
{
    hc__link list = *b;
    if (list.next == b) return;
    /* Detach the bucket's chain first: cascading may append to other buckets
       and, for entries beyond the wheel, to this one. */
    list.next->prev = &list;
    list.prev->next = &list;
    b->prev = b->next = b;
    while (list.next != &list) {
        hc__link *l = list.next;
        hc__entry *e = entry_of_tl(l);
        list.next = l->next;
        l->next->prev = &list;
        uint64_t at = hc__entry_reclaim(e);
        if (at <= w->now) {
            l->prev = l->next = NULL;
            w->scheduled--;
            expire(ctx, e);
        } else {
            link_before(bucket_for(w, at), l);
        }
    }
}

void hc__wheel_advance(hc__wheel *w, uint64_t now, hc__expire_fn expire, void *ctx)
{
    if (now <= w->now) return;
    uint64_t before = w->now;
    w->now = now;
    if (w->scheduled == 0) return;
    for (int level = 0; level < HC_WHEEL_LEVELS; level++) {
        uint64_t prev = before >> LEVEL_SHIFT(level);
        uint64_t cur = now >> LEVEL_SHIFT(level);
        if (cur == prev) break;     /* higher levels have not ticked either */
        uint64_t n = cur - prev < HC_WHEEL_SIZE ? cur - prev : HC_WHEEL_SIZE;
        for (uint64_t t = prev + 1; t <= prev + n; t++)
            process(w, &w->bucket[level][t & (HC_WHEEL_SIZE - 1)], expire, ctx);
    }
}
