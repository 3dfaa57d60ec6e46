/*
** policy.c -- W-TinyLFU with a ghost-steered window, in CLOCK form.
**
** New entries enter a window queue. When the window overflows, its oldest
** entry becomes a candidate for the main space, and is admitted only if a
** frequency sketch says it is requested more often than the main space's
** victim (TinyLFU). The main space is a segmented queue: probation for
** entries not hit since they entered main, protected for the rest.
**
** No single window size suits every workload: a big window behaves like
** LRU (recency-heavy traces such as sprite), a small one like LFU (loops,
** scans). Caffeine climbs the hit rate to size it, but here hits are only
** seen late (below), so the signal is too noisy on short traces. Instead
** the window is steered like ARC's target: ghosts of recently evicted
** entries say which side, window or main, would have kept the key that
** just missed, and the window moves a little that way.
**
** Hits never reorder anything: they only mark the node as hit
** (hc__policy_touch). The queues are FIFO with second chance: when a node
** reaches the end of its queue and has been hit since last examined, the
** hit is folded into the sketch and it moves on (back to the window's
** front, from probation to protected, or to protected's front) instead of
** leaving. That approximates the LRU order of the original design with
** writes only under the policy's (its partition's) lock.
**
** See docs/POLICY.md for the measurements behind the parameters.
*/
#include "policy.h"

#include <stddef.h>
#include "hc_mem.h"

/* Tunables (overridable with -D for experiments). */
#ifndef HC_POLICY_WINDOW_PCT
#define HC_POLICY_WINDOW_PCT 1.0        /* initial window, % of max weight */
#endif
#ifndef HC_POLICY_PROTECTED_PCT
#define HC_POLICY_PROTECTED_PCT 80.0    /* protected share of main, % */
#endif
#ifndef HC_POLICY_SAMPLE_MUL
#define HC_POLICY_SAMPLE_MUL 10         /* sketch halves after this x entries adds */
#endif
#ifndef HC_POLICY_DELTA
#define HC_POLICY_DELTA 2               /* window change per ghost hit, x weight */
#endif
#ifndef HC_POLICY_GHOST_REACH
#define HC_POLICY_GHOST_REACH 0.2       /* a ghost counts if evicted within this
                                           fraction of the entry count */
#endif
#ifndef HC_POLICY_STRICT_CAP
#define HC_POLICY_STRICT_CAP 0.1        /* how far the ghost pull may go past a
                                           0 window, x max weight (see ghost_adapt) */
#endif
#ifndef HC_POLICY_ADMIT_JITTER
#define HC_POLICY_ADMIT_JITTER 5        /* min candidate freq for random admit (visits
                                           with a hit, see fold) */
#endif

#ifndef HC_POLICY_SKETCH_WPE
#define HC_POLICY_SKETCH_WPE 1.0        /* sketch words (8 bytes) per entry */
#endif

#define SKETCH_MIN_WORDS  16u
#define SKETCH_INIT_WORDS 4096u         /* grown later if entries outnumber it */

/* ------------------------------------------------------------ queues */

/* Make q an empty circular list: the sentinel links to itself, so link and
   unlink need no end cases. */
static void queue_init(struct hc__pqueue *q)
{
    q->head.prev = q->head.next = &q->head;
    q->weight = q->count = 0;
}

static uint64_t weight_of(const hc__policy *p, const hc__pnode *n)
{
    return p->weigh ? p->weigh(n) : 1;
}

/* Put n at the front (newest end) of queue i. */
static void push_front(hc__policy *p, int i, hc__pnode *n)
{
    struct hc__pqueue *q = &p->q[i];
    n->next = q->head.next;
    n->prev = &q->head;
    q->head.next->prev = n;
    q->head.next = n;
    n->queue = (uint8_t)i;
    q->weight += weight_of(p, n);
    q->count++;
}

/* Take n out of whatever queue it is in. */
static void unlink_node(hc__policy *p, hc__pnode *n)
{
    struct hc__pqueue *q = &p->q[n->queue];
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    q->weight -= weight_of(p, n);
    q->count--;
}

/* The oldest node of queue i, or NULL. */
static hc__pnode *back(hc__policy *p, int i)
{
    hc__pnode *n = p->q[i].head.prev;
    return n == &p->q[i].head ? NULL : n;
}

/* Move n to the front of queue i (possibly its own queue). */
static void move_front(hc__policy *p, int i, hc__pnode *n)
{
    unlink_node(p, n);
    push_front(p, i, n);
}

static uint64_t total_count(const hc__policy *p)
{
    uint64_t c = 0;
    for (int i = 0; i < HC__Q_COUNT; i++) c += p->q[i].count;
    return c;
}

/* ------------------------------------------------------------ sketch */

/* A 64-bit finalizer (splitmix64's): the cache's 32-bit hash is good, but
   the four rows need independent positions, so each row remixes it with its
   own seed. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static const uint64_t row_seed[4] = {
    0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
    0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull,
};

/* Where row r keeps hash h's counter: the word index and the bit shift of
   its nibble inside the word. */
static void sketch_slot(const hc__policy *p, uint32_t h, int r,
                        uint64_t *word, unsigned *shift)
{
    uint64_t x = mix64((uint64_t)h + row_seed[r]);
    *word = ((x >> 32) * p->table_words) >> 32;     /* x's top half, scaled */
    *shift = (unsigned)(x & 15) << 2;
}

/* Estimated frequency of h: the smallest of its four counters (count-min),
   which over-counts only when all four collide. */
static unsigned sketch_estimate(const hc__policy *p, uint32_t h)
{
    const uint64_t *t = p->impl;
    unsigned best = 15;
    if (!t) return 0;
    for (int r = 0; r < 4; r++) {
        uint64_t w; unsigned s;
        sketch_slot(p, h, r, &w, &s);
        unsigned c = (unsigned)(t[w] >> s) & 15;
        if (c < best) best = c;
    }
    return best;
}

/* Halve every counter: the sketch then reflects recent popularity, and
   an entry that was hot long ago can be displaced (TinyLFU's aging). */
static void sketch_halve(hc__policy *p)
{
    uint64_t *t = p->impl;
    for (uint64_t i = 0; i < p->table_words; i++)
        t[i] = (t[i] >> 1) & 0x7777777777777777ull;
    p->additions /= 2;
}

/* Count one access to h in all four rows. (Conservative update, raising
   only the smallest counters, measured worse: on loop traces it let
   collisions decide admission contests between equally frequent keys.) */
static void sketch_add(hc__policy *p, uint32_t h)
{
    uint64_t *t = p->impl;
    uint64_t w[4]; unsigned s[4];
    bool added = false;
    if (!t) return;
    for (int r = 0; r < 4; r++) {
        sketch_slot(p, h, r, &w[r], &s[r]);
        if (((t[w[r]] >> s[r]) & 15) < 15) { t[w[r]] += 1ull << s[r]; added = true; }
    }
    /* A key saturated in every row adds nothing, so it does not hasten
       the next halving either. */
    if (added && ++p->additions >= p->reset_at) sketch_halve(p);
}

/* Size the sketch and the ghost table for about `entries` entries: one
   sketch word (16 counters, 8 bytes) and one ghost slot (4 bytes) per
   entry, in one allocation. Returns false (the old tables kept) if the
   allocation fails. Resizing forgets counts and ghosts: it happens only
   while a byte-bounded cache discovers how many entries it holds. */
static bool sketch_resize(hc__policy *p, uint64_t entries)
{
    uint64_t words = (uint64_t)((double)entries * HC_POLICY_SKETCH_WPE);
    if (words < SKETCH_MIN_WORDS) words = SKETCH_MIN_WORDS;
    uint64_t slots = entries < SKETCH_MIN_WORDS ? SKETCH_MIN_WORDS : entries;
    uint64_t *t = hc__calloc(p->alloc, 1, (size_t)(words * sizeof *t + slots * sizeof(uint32_t)));
    if (!t) return false;
    hc__free(p->alloc, p->impl);
    p->impl = t;
    p->table_words = words;
    p->ghost = (uint32_t *)(t + words);
    p->ghost_slots = slots;
    p->ghost_shift = 0;
    while ((2 * slots >> p->ghost_shift) >= 0x8000u) p->ghost_shift++;
    p->additions = 0;
    p->reset_at = HC_POLICY_SAMPLE_MUL * (entries > SKETCH_MIN_WORDS ? entries : SKETCH_MIN_WORDS);
    return true;
}

/* ------------------------------------------------------------ hit counts */

/* Read and zero n's hit mark and feed a hit to the sketch. This is
   the only place hits become visible to the policy, so it runs whenever
   the policy examines or drops a node. Returns whether it was hit.
   However many hits a node took since it was last examined, the sketch
   counts one: hits between two visits are one burst of correlated
   references (LRU-K's "correlated reference period"), which says the key
   is in use now, not that it will come back after it leaves. Counting
   each visit with a hit measures reuse across visits, which is what an
   admission contest needs, and keeps one burst from pinning a key in
   main until the next halving. */
static unsigned fold(hc__policy *p, hc__pnode *n)
{
    unsigned f = atomic_exchange_explicit(&n->freq, 0, memory_order_relaxed);
    if (f) sketch_add(p, n->hash);
    return f;
}

/* Fixed-seed xorshift64*: deterministic admission jitter. */
static uint64_t next_rand(hc__policy *p)
{
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return p->rng * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------------------ main space */

static uint64_t protected_max(const hc__policy *p)
{
    uint64_t main_max = p->max_weight > p->window_max ? p->max_weight - p->window_max : 0;
    return (uint64_t)((double)main_max * (HC_POLICY_PROTECTED_PCT / 100.0));
}

/* Keep protected within its share: its oldest entries go back to
   probation, unless hit since last examined (second chance: they return to
   protected's front). */
static void shrink_protected(hc__policy *p)
{
    uint64_t limit = protected_max(p);
    hc__pnode *n;
    while (p->q[HC__Q_PROTECTED].weight > limit && (n = back(p, HC__Q_PROTECTED))) {
        if (fold(p, n)) move_front(p, HC__Q_PROTECTED, n);
        else move_front(p, HC__Q_PROBATION, n);
    }
}

/* The main space's victim, left linked: the oldest probation entry not hit
   since it was last examined. Hit probation entries are promoted on the
   way; if probation runs dry, protected's oldest are demoted into it. NULL
   when main is empty. Each node examined loses its hit count, so the loop
   ends after at most one pass over main. */
static hc__pnode *main_victim(hc__policy *p)
{
    for (;;) {
        hc__pnode *n = back(p, HC__Q_PROBATION);
        if (n) {
            if (!fold(p, n)) return n;
            move_front(p, HC__Q_PROTECTED, n);
            shrink_protected(p);
            continue;
        }
        n = back(p, HC__Q_PROTECTED);
        if (!n) return NULL;
        if (fold(p, n)) move_front(p, HC__Q_PROTECTED, n);
        else move_front(p, HC__Q_PROBATION, n);
    }
}

/* TinyLFU admission: does candidate c deserve victim v's place? Ties go to
   the victim (an incumbent has proved itself once). While the ghosts pull
   past a 0 window (p->strict, see ghost_adapt), a candidate must win by 2:
   its estimate already holds the access that brought it in, while the
   victim's next access may be just ahead, so "victim + 1" is what a key as
   frequent as the victim shows, and admitting it only churns main (loops).
   A small random chance for warm candidates stops an attacker, or a stale
   hot victim, from blocking admission forever. */
static bool admit(hc__policy *p, const hc__pnode *c, const hc__pnode *v)
{
    unsigned cf = sketch_estimate(p, c->hash), vf = sketch_estimate(p, v->hash);
    if (cf > vf + (p->strict ? 1u : 0u)) return true;
    if (cf < HC_POLICY_ADMIT_JITTER) return false;
    return (next_rand(p) & 127) == 0;
}

/* ------------------------------------------------------------ window */

/* Move window overflow to the candidates queue. The window's oldest entry
   gets a second chance (back to the front) if hit since last examined, so
   the window acts like a small LRU. */
static void drain_window(hc__policy *p, int dest)
{
    hc__pnode *n;
    while (p->q[HC__Q_WINDOW].weight > p->window_max && (n = back(p, HC__Q_WINDOW))) {
        if (fold(p, n) && p->q[HC__Q_WINDOW].count > 1) {
            move_front(p, HC__Q_WINDOW, n);
        } else {
            move_front(p, dest, n);
            p->window_exits++;
        }
    }
}

/* Candidates left over from the last eviction round were not needed as
   victims: the cache had room, so they join main without a contest (as in
   Caffeine, where they simply stay in probation). */
static void admit_leftovers(hc__policy *p)
{
    hc__pnode *n;
    while ((n = back(p, HC__Q_CANDIDATE))) move_front(p, HC__Q_PROBATION, n);
}

/* ------------------------------------------------------------ ghosts */

/*
** The window adapts like ARC's target size, from "ghosts": the hashes of
** recently evicted entries, tagged with where they lost and when. A miss
** on an entry that lost as a window candidate, evicted fewer window exits
** ago than main holds entries, would have been a hit had the window been
** that much bigger (taken from main): grow the window. A miss on an entry
** evicted from main, fewer main evictions ago than the window holds, would
** have been a hit with a bigger main: shrink the window. The two pulls
** balance where an extra entry of window and of main are worth the same.
**
** At a 0 window the pull towards main has nowhere left to go, yet main's
** ghosts still say main is losing keys it should have kept: main is being
** churned by admissions. The pull then continues past 0 into p->strict (at
** most HC_POLICY_STRICT_CAP x max weight), and while strict > 0 admission
** demands a margin (admit()). Window ghosts pay strict back before the
** window grows again, so window size and admission margin are one knob.
**
** A ghost slot is 32 bits in a direct-mapped table (one slot per entry of
** capacity): a 15-bit fingerprint, the side, and a 16-bit coarse stamp. A
** collision just forgets the older ghost.
*/
#define GHOST_MAIN 0x10000u

static void ghost_slot(const hc__policy *p, uint32_t h, uint64_t *idx, uint32_t *fp)
{
    uint64_t x = mix64((uint64_t)h ^ 0x5851f42d4c957f2dull);
    *idx = ((x >> 32) * p->ghost_slots) >> 32;
    *fp = ((uint32_t)x & 0xfffe0000u) | 0x20000u;  /* never 0: 0 is empty */
}

/* Remember n, just evicted from the window side or the main side. */
static void ghost_add(hc__policy *p, const hc__pnode *n, bool from_main)
{
    uint64_t idx; uint32_t fp;
    if (!p->ghost) return;
    ghost_slot(p, n->hash, &idx, &fp);
    uint64_t clock = from_main ? p->main_evictions : p->window_exits;
    p->ghost[idx] = fp | (from_main ? GHOST_MAIN : 0) | ((uint32_t)(clock >> p->ghost_shift) & 0xffffu);
}

/* A miss on n: if it is a recent ghost, move the window towards the side
   that would have kept it. Only recent ghosts count (evicted within the
   last fifth of a cache's worth of that side's departures): an entry that
   comes back much later is not evidence that a slightly different split
   would have kept it, and counting such ghosts let loops slightly larger
   than the cache drag the window up for nothing. */
static void ghost_adapt(hc__policy *p, const hc__pnode *n)
{
    uint64_t idx; uint32_t fp;
    if (!p->ghost) return;
    ghost_slot(p, n->hash, &idx, &fp);
    uint32_t g = p->ghost[idx];
    if ((g & 0xfffe0000u) != fp) return;
    p->ghost[idx] = 0;
    bool from_main = g & GHOST_MAIN;
    uint64_t clock = from_main ? p->main_evictions : p->window_exits;
    uint64_t age = (((clock >> p->ghost_shift) - g) & 0xffffu) << p->ghost_shift;
    if ((double)age > HC_POLICY_GHOST_REACH * (double)total_count(p)) return;
    uint64_t delta = (uint64_t)HC_POLICY_DELTA * weight_of(p, n);
    if (!from_main) {
        uint64_t d = p->strict < delta ? p->strict : delta;
        p->strict -= d;
        delta -= d;
        p->window_max = p->max_weight - p->window_max > delta ? p->window_max + delta : p->max_weight;
    } else {
        if (p->window_max < delta) {
            uint64_t cap = (uint64_t)(HC_POLICY_STRICT_CAP * (double)p->max_weight);
            p->strict += delta - p->window_max;
            if (p->strict > cap) p->strict = cap;
        }
        p->window_max = p->window_max > delta ? p->window_max - delta : 0;
    }
}

/* ------------------------------------------------------------ interface */

/* Reset the adaptive state to its starting point: used by init and by
   clear, so a flushed cache adapts afresh. */
static void reset_adaptive(hc__policy *p)
{
    p->window_max = (uint64_t)((double)p->max_weight * (HC_POLICY_WINDOW_PCT / 100.0));
    if (p->max_weight && !p->window_max) p->window_max = 1;
    p->strict = 0;
    p->window_exits = p->main_evictions = 0;
    p->rng = 0x853c49e6748fea9bull;
    if (p->impl) {
        uint64_t *t = p->impl;
        memset(t, 0, (size_t)(p->table_words * sizeof *t + p->ghost_slots * sizeof(uint32_t)));
        p->additions = 0;
    }
}

/* The sketch starts at most SKETCH_INIT_WORDS words (32 KiB) and grows with
   the entry count: in a byte-bounded cache max_weight says nothing about
   how many entries there will be, so sizing by it could waste memory. */
int hc__policy_init(hc__policy *p, uint64_t max_weight, hc__weigh_fn weigh,
                    const hc_allocator *alloc)
{
    memset(p, 0, sizeof *p);
    p->alloc = alloc;
    p->weigh = weigh;
    p->max_weight = max_weight;
    for (int i = 0; i < HC__Q_COUNT; i++) queue_init(&p->q[i]);
    if (max_weight) {
        uint64_t e = max_weight < SKETCH_INIT_WORDS ? max_weight : SKETCH_INIT_WORDS;
        if (!sketch_resize(p, e)) return HC_ENOMEM;
    }
    reset_adaptive(p);
    return HC_OK;
}

void hc__policy_destroy(hc__policy *p)
{
    hc__free(p->alloc, p->impl);
    p->impl = NULL;
}

/* A miss: record it in the sketch, let its ghost (if any) steer the
   window, put the node in the window. Leftover candidates join main, and window overflow becomes the
   new candidates that evict() will weigh against main's victims. The
   sketch doubles when entries outnumber twice its words (an allocation
   failure just keeps the smaller, less precise sketch). */
void hc__policy_add(hc__policy *p, hc__pnode *n)
{
    atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
    push_front(p, HC__Q_WINDOW, n);
    if (!p->max_weight) return;

    uint64_t c = total_count(p);
    if ((double)c > 2 * (double)p->table_words / HC_POLICY_SKETCH_WPE) sketch_resize(p, c);
    sketch_add(p, n->hash);
    ghost_adapt(p, n);

    admit_leftovers(p);
    drain_window(p, HC__Q_CANDIDATE);
}

/* Drop n from its queue. Its pending hits still count: they are real
   accesses the sketch should know about. No ghost: the entry was not
   evicted, so its return says nothing about the window size. */
void hc__policy_remove(hc__policy *p, hc__pnode *n)
{
    fold(p, n);
    unlink_node(p, n);
}

/* In place, like Caffeine's update of a present key, rather than removal
   and a new add: the key keeps the standing it earned (protected stays
   protected), and its new value does not enter through the window as if
   it had never been seen. What old was hit for and the put itself are one
   visit's accesses, which the sketch counts once, when the node is next
   examined (fold). Nothing else is touched but old's neighbours, so a put
   over a present key costs the policy O(1) and no sketch or ghost lookup. */
void hc__policy_replace(hc__policy *p, hc__pnode *old, hc__pnode *n)
{
    struct hc__pqueue *q = &p->q[old->queue];
    n->prev = old->prev;
    n->next = old->next;
    n->prev->next = n;
    n->next->prev = n;
    n->queue = old->queue;
    atomic_store_explicit(&n->freq, 1, memory_order_relaxed);
    q->weight += weight_of(p, n);
    q->weight -= weight_of(p, old);
    old->prev = old->next = NULL;
}

/* One victim per call. If the window has pushed out candidates, the oldest
   one contests main's victim and the loser goes; otherwise main's victim
   goes; if main is empty, the window's oldest. */
hc__pnode *hc__policy_evict(hc__policy *p)
{
    hc__pnode *c = back(p, HC__Q_CANDIDATE);
    hc__pnode *v = main_victim(p);
    hc__pnode *out;

    if (c && v) {
        if (admit(p, c, v)) {
            move_front(p, HC__Q_PROBATION, c);
            out = v;
        } else {
            out = c;
        }
    } else if (v) {
        out = v;
    } else if (c) {
        out = c;
    } else {
        out = back(p, HC__Q_WINDOW);
        if (!out) return NULL;
    }
    fold(p, out);
    bool from_main = out->queue == HC__Q_PROBATION || out->queue == HC__Q_PROTECTED;
    ghost_add(p, out, from_main);
    if (from_main) p->main_evictions++;
    unlink_node(p, out);
    return out;
}

void hc__policy_clear(hc__policy *p)
{
    for (int i = 0; i < HC__Q_COUNT; i++) queue_init(&p->q[i]);
    reset_adaptive(p);
}

uint64_t hc__policy_window(const hc__policy *p)
{
    return p->window_max;
}
