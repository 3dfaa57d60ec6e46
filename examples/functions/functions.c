/*
** functions.c -- cacheable functions with hcachegen: the wrappers in
** functions.hc.h come from functions.hcache; this file writes the functions
** they cache and shows hits, misses, cached absence and invalidation.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions.hc.h"

static int fib_runs, slug_runs, weather_runs;

/* The functions the wrappers call on a miss. */
int fn_fib_load(uint32_t n, uint64_t *out, hc_error *err)
{
    fib_runs++;
    if (n > 93) return hc_error_set(err, HC_EINVAL, "fib(%u) does not fit in 64 bits", n);
    uint64_t a = 0, b = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    *out = a;
    return HC_OK;
}

char *fn_slugify_load(const char *title)
{
    slug_runs++;
    char *s = malloc(strlen(title) + 1), *w = s;
    if (!s) return NULL;
    for (const char *p = title; *p; p++) {
        if (isalnum((unsigned char)*p)) *w++ = (char)tolower((unsigned char)*p);
        else if (w > s && w[-1] != '-') *w++ = '-';
    }
    if (w > s && w[-1] == '-') w--;
    *w = 0;
    return s;
}

int fn_weather_load(const char *city, fn_forecast *out, hc_error *err)
{
    (void)err;
    weather_runs++;
    if (strcmp(city, "Atlantis") == 0) return HC_MISS;     /* no such place */
    out->city = strdup(city);
    out->celsius = strcmp(city, "Oslo") == 0 ? -3.5 : 21.0;
    out->summary = strdup(out->celsius < 0 ? "snow" : "sun");
    out->warning = out->celsius < 0 ? strdup("icy roads") : NULL;
    return HC_OK;
}

/* A loader the caller passes in, with its own context. */
static int name_from_directory(void *ctx, int64_t id, char **out, hc_error *err)
{
    int *lookups = ctx;
    (*lookups)++;
    if (id <= 0) return hc_error_set(err, HC_ENOTFOUND, "no user %lld", (long long)id);
    size_t n = 32;
    *out = malloc(n);
    if (!*out) return HC_ENOMEM;
    snprintf(*out, n, "user-%lld", (long long)id);
    return HC_OK;
}

static int check(int rc, const char *what)
{
    if (rc != HC_OK && rc != HC_MISS) {
        fprintf(stderr, "functions: %s: %s\n", what, hc_strerror(rc));
        exit(1);
    }
    return rc;
}

int main(void)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "functions";
    hc_cache *c;
    check(hc_cache_open(&c, &cfg), "open");
    hc_error err;

    uint64_t f = 0;
    for (int i = 0; i < 3; i++) check(fn_fib(c, 90, &f, &err), "fib");
    printf("fib(90) = %llu, computed %d time(s) for 3 calls\n", (unsigned long long)f, fib_runs);
    int rc = fn_fib(c, 100, &f, &err);
    printf("fib(100): %s (%s) -- errors are not cached\n", hc_err_name(rc), err.message);

    char *slug = NULL;
    check(fn_slugify(c, "Hello, Cache World!", &slug), "slugify");
    check(fn_slugify(c, "Hello, Cache World!", &slug), "slugify");
    printf("slugify -> \"%s\", computed %d time(s) for 2 calls\n", slug, slug_runs);
    uint64_t removed = 0;
    hc_invalidate_tag(c, "slugs", &removed);
    check(fn_slugify(c, "Hello, Cache World!", &slug), "slugify");
    printf("after invalidating tag \"slugs\" (%llu entry): computed %d times\n",
           (unsigned long long)removed, slug_runs);
    free(slug);

    fn_forecast w = {0};
    check(fn_weather(c, "Oslo", &w, &err), "weather");
    printf("weather(Oslo) = %.1f C, %s, warning: %s\n", w.celsius, w.summary, w.warning ? w.warning : "none");
    rc = check(fn_weather(c, "Atlantis", &w, &err), "weather");
    rc = check(fn_weather(c, "Atlantis", &w, &err), "weather");
    printf("weather(Atlantis): %s twice, looked up %d time(s) in all (absence is cached)\n",
           hc_err_name(rc), weather_runs - 1);
    /* The entity view reads the same key the cacheable stored. */
    check(fn_forecast_get(c, "Oslo", &w), "forecast_get");
    printf("fn_forecast_get(Oslo) hits the value fn_weather cached: %s\n", w.summary);
    fn_forecast_invalidate(c, "Oslo");
    printf("after fn_forecast_invalidate(Oslo): %s\n", hc_err_name(fn_forecast_get(c, "Oslo", &w)));
    fn_forecast_clear(&w);

    int lookups = 0;
    char *name = NULL;
    check(fn_user_name(c, 7, name_from_directory, &lookups, &name, &err), "user_name");
    check(fn_user_name(c, 7, name_from_directory, &lookups, &name, &err), "user_name");
    printf("user_name(7) = %s, %d directory lookup(s) for 2 calls\n", name, lookups);
    free(name);

    hc_stats st;
    hc_stats_get(c, &st);
    printf("stats: %llu hits, %llu misses, %llu loads, %llu failed loads, hit ratio %.0f%%\n",
           (unsigned long long)st.hits, (unsigned long long)st.misses,
           (unsigned long long)st.loads, (unsigned long long)st.load_failures,
           100 * hc_stats_hit_ratio(&st));
    hc_cache_close(c);
    return 0;
}
