/*
** hcache-stat -- watch the caches of a running process through its
** HydraCache actuator, as varnishstat or `redis-cli --stat` do.
**
**     hcache-stat [--token T] [--interval S] [--once] [--json] [--decl]
**                 [--base-path P] URL
**
** URL is the actuator's address, e.g. http://127.0.0.1:8080. Every S
** seconds (1) it reads {URL}{P}/caches and prints, per cache, what
** happened during the interval: requests/s, hit ratio, loads/s,
** evictions/s, with the entries and loads in flight now; --decl adds a
** table per declaration. --once prints one interval and exits; --json
** prints each report as one JSON object per line. The token may also come
** from the environment, HCACHE_STAT_TOKEN, which keeps it out of ps.
**
** Exit status: 0, 1 when the actuator cannot be read (unreachable, 401,
** a body that is not the actuator's), 2 for bad arguments.
*/
#define _GNU_SOURCE                 /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_BODY (64u << 20)        /* a response larger than this is not ours */

static const char *prog = "hcache-stat";

typedef struct opts {
    const char *token, *base, *url;
    double      interval;
    bool        once, json, decl;
} opts;

/* ------------------------------------------------------------ fetching */

typedef struct body {
    char  *p;
    size_t n;
} body;

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
    body *b = ctx;
    size_t n = size * nmemb;
    if (n > MAX_BODY - b->n) return 0;          /* curl reports a write error */
    char *p = realloc(b->p, b->n + n + 1);
    if (!p) return 0;
    memcpy(p + b->n, data, n);
    b->p = p;
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

/* GET url; the body in *out. Prints the reason and returns false on any
   failure, including a status other than 200. */
static bool get(const opts *o, const char *url, body *out)
{
    out->p = NULL;
    out->n = 0;
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "%s: cannot initialize libcurl\n", prog);
        return false;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *auth = NULL;
    if (o->token) {
        size_t n = strlen(o->token) + sizeof "Authorization: Bearer ";
        auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", o->token);
            headers = curl_slist_append(headers, auth);
        }
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(auth);
    bool ok = false;
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status == 401) {
        fprintf(stderr, "%s: %s: 401 Unauthorized: %s\n", prog, url,
                o->token ? "the actuator refused the token" : "the actuator wants a token (--token)");
    } else if (status == 404) {
        fprintf(stderr, "%s: %s: 404 Not Found: no HydraCache actuator there (is the base path %s?)\n",
                prog, url, o->base);
    } else if (status != 200) {
        fprintf(stderr, "%s: %s: HTTP status %ld\n", prog, url, status);
    } else {
        ok = true;
    }
    if (!ok) {
        free(out->p);
        out->p = NULL;
    }
    return ok;
}

/* ------------------------------------------------------------ samples */

typedef struct decl_row {
    char    *decl;
    uint64_t calls, hits, misses, loads, load_failures, stale_discards;
    double   p50, p99;              /* seconds; NAN when nothing loaded */
} decl_row;

typedef struct cache_row {
    char     *name;
    uint64_t  hits, misses, loads, evictions, entries, in_flight;
    decl_row *decls;
    size_t    ndecls;
} cache_row;

typedef struct sample {
    double     at;                  /* monotonic seconds */
    cache_row *caches;
    size_t     n;
} sample;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sample_free(sample *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->caches[i].name);
        for (size_t k = 0; k < s->caches[i].ndecls; k++) free(s->caches[i].decls[k].decl);
        free(s->caches[i].decls);
    }
    free(s->caches);
    memset(s, 0, sizeof *s);
}

/* A counter of o: false when it is missing or not a non-negative integer. */
static bool num(json_t *o, const char *key, uint64_t *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < 0) return false;
    *v = (uint64_t)json_integer_value(j);
    return true;
}

static double quantile(json_t *t, const char *key)
{
    json_t *j = json_object_get(t, key);
    return json_is_number(j) ? json_number_value(j) : (double)NAN;
}

/* Read the registry document into s: false when it is not one. */
static bool parse(const char *text, sample *s)
{
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    json_t *caches = json_object_get(root, "caches");
    bool ok = json_is_array(caches);
    size_t n = ok ? json_array_size(caches) : 0;
    s->caches = calloc(n ? n : 1, sizeof *s->caches);
    ok = ok && s->caches;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *c = json_array_get(caches, i), *st = json_object_get(c, "stats"),
               *dg = json_object_get(c, "diagnostics"), *ds = json_object_get(c, "declarations");
        json_t *name = json_object_get(c, "name");
        cache_row *r = &s->caches[s->n];
        ok = json_is_string(name) && json_is_object(st) && json_is_object(dg) && json_is_array(ds) &&
             num(st, "hits", &r->hits) && num(st, "misses", &r->misses) && num(st, "loads", &r->loads) &&
             num(st, "evictions", &r->evictions) && num(dg, "entries", &r->entries) &&
             num(dg, "loads_in_flight", &r->in_flight);
        if (!ok) break;
        r->name = strdup(json_string_value(name));
        size_t nd = json_array_size(ds);
        r->decls = calloc(nd ? nd : 1, sizeof *r->decls);
        s->n++;
        ok = r->name && r->decls;
        for (size_t k = 0; ok && k < nd; k++) {
            json_t *d = json_array_get(ds, k), *dn = json_object_get(d, "decl"),
                   *t = json_object_get(d, "load_seconds");
            decl_row *dr = &r->decls[r->ndecls];
            ok = json_is_string(dn) && json_is_object(t) && num(d, "calls", &dr->calls) &&
                 num(d, "hits", &dr->hits) && num(d, "misses", &dr->misses) &&
                 num(d, "loads", &dr->loads) && num(d, "load_failures", &dr->load_failures) &&
                 num(d, "stale_discards", &dr->stale_discards);
            if (!ok) break;
            dr->decl = strdup(json_string_value(dn));
            dr->p50 = quantile(t, "p50");
            dr->p99 = quantile(t, "p99");
            r->ndecls++;
            ok = dr->decl != NULL;
        }
    }
    json_decref(root);
    if (!ok) sample_free(s);
    return ok;
}

static bool take(const opts *o, const char *url, sample *s)
{
    memset(s, 0, sizeof *s);
    body b;
    if (!get(o, url, &b)) return false;
    s->at = now_s();
    bool ok = parse(b.p, s);
    if (!ok)
        fprintf(stderr, "%s: %s: not a HydraCache actuator (the answer is not its caches document)\n",
                prog, url);
    free(b.p);
    return ok;
}

/* ----------------------------------------------------------- reports */

static const cache_row *find_cache(const sample *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->caches[i].name, name) == 0) return &s->caches[i];
    return NULL;
}

static const decl_row *find_decl(const cache_row *c, const char *decl)
{
    for (size_t i = 0; c && i < c->ndecls; i++)
        if (strcmp(c->decls[i].decl, decl) == 0) return &c->decls[i];
    return NULL;
}

/* b - a, or b when the counter went back (the cache was reopened). */
static uint64_t delta(uint64_t a, uint64_t b) { return b >= a ? b - a : b; }

static double ratio(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : (double)NAN;
}

/* A name from the server as the table may print it: control characters
   (an escape sequence, a newline that would forge a row) become '?'. */
static const char *printable(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static void pct(char *buf, size_t n, double v)
{
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f", v);
}

static void ms(char *buf, size_t n, double seconds)
{
    if (isnan(seconds)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.3f", seconds * 1e3);
}

static json_t *jnum(double v) { return isnan(v) ? json_null() : json_real(v); }

static void report(const opts *o, const sample *prev, const sample *cur, unsigned *lines)
{
    double dt = cur->at - prev->at;
    if (dt <= 0) dt = 1e-9;
    json_t *doc = o->json ? json_pack("{sfs[]}", "interval_s", dt, "caches") : NULL;
    if (!o->json && (*lines % 20 == 0 || o->decl)) {
        printf("%-24s %10s %6s %7s %9s %9s %10s %9s\n", "cache", "req/s", "hit%", "hit%all", "loads/s",
               "evict/s", "entries", "in-flight");
    }
    for (size_t i = 0; i < cur->n; i++) {
        const cache_row *c = &cur->caches[i];
        const cache_row *p = find_cache(prev, c->name);
        cache_row zero = {0};
        if (!p) p = &zero;
        uint64_t hits = delta(p->hits, c->hits), req = hits + delta(p->misses, c->misses);
        double req_s = (double)req / dt, loads_s = (double)delta(p->loads, c->loads) / dt;
        double evict_s = (double)delta(p->evictions, c->evictions) / dt;
        double hr = ratio(hits, req), hr_all = ratio(c->hits, c->hits + c->misses);
        json_t *jc = NULL, *jd = NULL;
        if (o->json) {
            jc = json_pack("{sssfsososososIsIs[]}", "name", c->name, "requests_per_s", req_s,
                           "hit_ratio", jnum(hr / 100), "hit_ratio_total", jnum(hr_all / 100),
                           "loads_per_s", json_real(loads_s), "evictions_per_s", json_real(evict_s),
                           "entries", (json_int_t)c->entries, "loads_in_flight", (json_int_t)c->in_flight,
                           "declarations");
            jd = json_object_get(jc, "declarations");
            json_array_append_new(json_object_get(doc, "caches"), jc);
        } else {
            char a[16], b[16], name[256];
            pct(a, sizeof a, hr);
            pct(b, sizeof b, hr_all);
            printf("%-24s %10.1f %6s %7s %9.1f %9.1f %10llu %9llu\n", printable(c->name, name, sizeof name),
                   req_s, a, b, loads_s,
                   evict_s, (unsigned long long)c->entries, (unsigned long long)c->in_flight);
            (*lines)++;
        }
        if (!o->decl) continue;
        if (!o->json && c->ndecls)
            printf("  %-32s %10s %6s %9s %8s %6s %9s %9s\n", "declaration", "calls/s", "hit%", "loads/s",
                   "fail/s", "stale", "p50 ms", "p99 ms");
        for (size_t k = 0; k < c->ndecls; k++) {
            const decl_row *d = &c->decls[k], *pd = find_decl(p, d->decl);
            decl_row dz = {0};
            if (!pd) pd = &dz;
            uint64_t dh = delta(pd->hits, d->hits), dl = dh + delta(pd->misses, d->misses);
            double calls_s = (double)delta(pd->calls, d->calls) / dt;
            double dloads_s = (double)delta(pd->loads, d->loads) / dt;
            double fail_s = (double)delta(pd->load_failures, d->load_failures) / dt;
            uint64_t stale = delta(pd->stale_discards, d->stale_discards);
            if (o->json) {
                json_array_append_new(jd, json_pack("{sssfsosfsfsIsoso}", "decl", d->decl, "calls_per_s", calls_s,
                                                    "hit_ratio", jnum(ratio(dh, dl) / 100), "loads_per_s", dloads_s,
                                                    "load_failures_per_s", fail_s, "stale_discards",
                                                    (json_int_t)stale, "load_p50_s", jnum(d->p50),
                                                    "load_p99_s", jnum(d->p99)));
            } else {
                char h[16], p50[24], p99[24], name[256];
                pct(h, sizeof h, ratio(dh, dl));
                ms(p50, sizeof p50, d->p50);
                ms(p99, sizeof p99, d->p99);
                printf("  %-32s %10.1f %6s %9.1f %8.1f %6llu %9s %9s\n", printable(d->decl, name, sizeof name),
                       calls_s, h, dloads_s, fail_s,
                       (unsigned long long)stale, p50, p99);
                (*lines)++;
            }
        }
    }
    if (o->json) {
        char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(doc);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: %s [--token T] [--interval S] [--once] [--json] [--decl] [--base-path P] URL\n"
               "  URL            the actuator's address, e.g. http://127.0.0.1:8080\n"
               "  --token T      bearer token (or HCACHE_STAT_TOKEN in the environment)\n"
               "  --interval S   seconds between reports (1)\n"
               "  --once         print one interval and exit\n"
               "  --json         one JSON object per report\n"
               "  --decl         per-declaration table\n"
               "  --base-path P  the actuator's base path (/actuator/hydracache)\n",
            prog);
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int main(int argc, char **argv)
{
    opts o = {getenv("HCACHE_STAT_TOKEN"), "/actuator/hydracache", NULL, 1.0, false, false, false};
    static const struct option longs[] = {
        {"token", required_argument, NULL, 't'}, {"interval", required_argument, NULL, 'i'},
        {"once", no_argument, NULL, '1'},        {"json", no_argument, NULL, 'j'},
        {"decl", no_argument, NULL, 'd'},        {"base-path", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    for (int ch; (ch = getopt_long(argc, argv, "t:i:1jdb:h", longs, NULL)) != -1;) {
        char *end;
        switch (ch) {
        case 't': o.token = optarg; break;
        case 'i':
            o.interval = strtod(optarg, &end);
            if (*end || !(o.interval > 0 && o.interval <= 86400)) {
                fprintf(stderr, "%s: --interval wants seconds, more than 0: '%s'\n", prog, optarg);
                return 2;
            }
            break;
        case '1': o.once = true; break;
        case 'j': o.json = true; break;
        case 'd': o.decl = true; break;
        case 'b': o.base = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (o.token && !*o.token) o.token = NULL;
    o.url = argv[optind];
    size_t ulen = strlen(o.url);
    while (ulen && o.url[ulen - 1] == '/') ulen--;
    size_t blen = strlen(o.base);
    while (blen && o.base[blen - 1] == '/') blen--;
    size_t n = ulen + blen + sizeof "/caches" + 1;
    char *url = malloc(n);
    if (!url) return 1;
    snprintf(url, n, "%.*s%s%.*s/caches", (int)ulen, o.url, blen && o.base[0] != '/' ? "/" : "",
             (int)blen, o.base);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "%s: cannot initialize libcurl\n", prog);
        return 1;
    }
    int st = 1;
    unsigned lines = 0;
    sample prev, cur;
    if (take(&o, url, &prev)) {
        for (;;) {
            nap(o.interval);
            if (!take(&o, url, &cur)) break;
            report(&o, &prev, &cur, &lines);
            sample_free(&prev);
            prev = cur;
            if (o.once) {
                st = 0;
                break;
            }
        }
        sample_free(&prev);
    }
    curl_global_cleanup();
    free(url);
    return st;
}
