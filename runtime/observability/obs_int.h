/*
** obs_int.h -- what the observability library's files share.
**
** Every document is written from a snapshot: the numbers of one or more
** caches, read under the registry's lock (so that hc_registry_remove can
** promise that nobody reads a removed cache), then formatted without it.
*/
#ifndef HC_OBS_INT_H
#define HC_OBS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hydracache.h"

/* One cache, read at one moment. */
typedef struct hc__obs_cache {
    char           *name;
    hc_diagnostics  d;
    bool            up;
    char            reason[256];     /* why not up */
    hc_decl_stats  *decls;           /* ndecls, in the order the process first used them */
    size_t          ndecls, cap;
} hc__obs_cache;

typedef struct hc__obs_snap {
    hc__obs_cache *v;
    size_t         n;
} hc__obs_snap;

/* registry.c: read c into *out. HC_OK or HC_ENOMEM (*out freed). */
int  hc__obs_read(hc_cache *c, hc__obs_cache *out);
void hc__obs_cache_free(hc__obs_cache *oc);
/* Read every cache of r, sorted by name; or only the cache named only (not
   there: HC_ENOTFOUND). HC_OK, HC_ENOMEM. */
int  hc__obs_snap_take(hc_registry *r, const char *only, hc__obs_snap *out);
void hc__obs_snap_free(hc__obs_snap *s);

/* json.c: the documents as jansson values (new references; NULL when out
   of memory). */
json_t *hc__json_str(const char *s);             /* bad UTF-8 bytes become U+FFFD */
json_t *hc__json_stats(const hc__obs_cache *oc, bool named);
json_t *hc__json_diagnostics(const hc__obs_cache *oc);
json_t *hc__json_declarations(const hc__obs_cache *oc);
json_t *hc__json_cache(const hc__obs_cache *oc);  /* one element of hc_registry_json */
json_t *hc__json_registry(const hc__obs_snap *s);
/* Write j into out (replacing it) and drop the reference. HC_OK, HC_ENOMEM
   (also for j NULL). */
int hc__json_dump(json_t *j, hc_buf *out);

/* prometheus.c */
int hc__prometheus(const hc__obs_snap *s, hc_buf *out);

/* Valid UTF-8 for s: bad bytes replaced by U+FFFD. A copy from malloc, or
   NULL when out of memory. */
char *hc__utf8_clean(const char *s);

#endif
