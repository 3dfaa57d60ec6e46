/*
** util.c -- errors, clocks, files and small JSON helpers.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"

/* The length of the valid UTF-8 sequence at p, or 0 (overlong forms,
   surrogates and code points past U+10FFFF are not valid). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;        /* the NUL of a cut one too */
        cp = cp << 6 | (p[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

char *sb_utf8_fix(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) *p++ = '?';
        else p += n;
    }
    return s;
}

size_t sb_utf8_count(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars;
}

int sb_fail(sb_err *e, int status, const char *code, const char *fmt, ...)
{
    if (!e) return -1;
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    sb_utf8_fix(e->message);
    e->line = e->column = 0;
    return -1;
}

int sb_fail_hc(sb_err *e, int rc, const hc_error *he, const char *what)
{
    const char *msg = he && he->message[0] ? he->message : hc_strerror(rc);
    if (rc == HC_EDB)
        return sb_fail(e, 503, "db_error", "%s: the database failed: %s", what, msg);
    if (rc == HC_ECONN)
        return sb_fail(e, 503, "db_unavailable", "%s: the database connection failed: %s", what, msg);
    if (rc == HC_ETIMEDOUT)
        return sb_fail(e, 504, "timed_out", "%s: %s", what, msg);
    return sb_fail(e, 500, "internal", "%s: %s (%s)", what, msg, hc_err_name(rc));
}

json_t *sb_err_json(const sb_err *e)
{
    /* A message written into e->message directly may not be valid UTF-8. */
    char msg[sizeof e->message];
    snprintf(msg, sizeof msg, "%s", e->message);
    json_t *o = json_pack("{s:i, s:s, s:s}", "status", e->status, "code", e->code,
                          "message", sb_utf8_fix(msg));
    if (o && e->line > 0) {
        sb_set(o, "line", json_integer(e->line));
        sb_set(o, "column", json_integer(e->column));
    }
    return json_pack("{s:o}", "error", o ? o : json_object());
}

char *sb_strf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return size ? sb_utf8_fix(buf) : buf;
}

uint64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double sb_now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sb_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

char *sb_iso_time(char buf[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    return buf;
}

char *sb_slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    size_t n = 0;
    char buf[8192];
    for (size_t r; (r = fread(buf, 1, sizeof buf, f)) > 0;) {
        if (n + r > max) {
            free(s);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        char *p = realloc(s, n + r + 1);
        if (!p) {
            free(s);
            fclose(f);
            return NULL;
        }
        s = p;
        memcpy(s + n, buf, r);
        n += r;
    }
    fclose(f);
    if (!s && !(s = malloc(1))) return NULL;
    s[n] = 0;
    if (len) *len = n;
    return s;
}

const char *sb_kebab(const char *name, char *buf, size_t size)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) buf[i] = name[i] == '_' ? '-' : name[i];
    buf[i] = 0;
    return buf;
}

void sb_set(json_t *obj, const char *key, json_t *value)
{
    if (obj && value) json_object_set_new(obj, key, value);
    else json_decref(value);
}

const char *sb_arg_str(const json_t *o, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

int64_t sb_arg_int(const json_t *o, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool sb_arg_bool(const json_t *o, const char *key, bool dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample at or above the p-th percentile. */
static double rank(const double *v, size_t n, double p)
{
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    return v[k ? k - 1 : 0];
}

static double round3(double x)
{
    return round(x * 1000.0) / 1000.0;
}

json_t *sb_summarize(double *v, size_t n)
{
    if (n == 0) return json_pack("{s:i}", "count", 0);
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)n,
                     "min_ms", round3(v[0]), "max_ms", round3(v[n - 1]),
                     "mean_ms", round3(sum / (double)n), "p50_ms", round3(rank(v, n, 50)),
                     "p95_ms", round3(rank(v, n, 95)), "p99_ms", round3(rank(v, n, 99)));
}
