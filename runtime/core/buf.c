/*
** buf.c -- hc_buf, the caller-owned byte buffer, and the key builders.
**
** hc_buf uses the C library's allocator, not a cache's: buffers belong to the
** caller and outlive any one cache.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

void hc_buf_init(hc_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void hc_buf_free(hc_buf *b)
{
    if (!b) return;
    free(b->data);
    hc_buf_init(b);
}

int hc_buf_reserve(hc_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len) return HC_ENOMEM;
    size_t need = b->len + extra + 1;       /* + the terminating 0 */
    if (need <= b->cap) return HC_OK;
    size_t cap = b->cap ? b->cap : 32;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return HC_ENOMEM;
    if (!b->data) p[0] = 0;
    b->data = p;
    b->cap = cap;
    return HC_OK;
}

/* Inline in hydracache.h; this is its external definition. */
extern inline int hc_buf_append(hc_buf *b, const void *p, size_t n);

int hc_buf_set(hc_buf *b, const void *p, size_t n)
{
    size_t old = b->len;
    b->len = 0;
    int rc = hc_buf_append(b, p, n);
    if (rc != HC_OK) b->len = old;
    return rc;
}

int hc_buf_append_str(hc_buf *b, const char *s)
{
    return hc_buf_append(b, s, strlen(s));
}

void hc_buf_reset(hc_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/*
** Escaping: '%' -> "%25" and ':' -> "%3A", so that the separator never
** appears inside a segment and escaped text never looks like another escape.
** Appends sep first when it is not 0. The key is left unchanged on failure.
*/
static int append_escaped(hc_buf *key, char sep, const char *s, size_t n)
{
    size_t extra = n + (sep != 0);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%' || s[i] == ':') extra += 2;
    int rc = hc_buf_reserve(key, extra);
    if (rc != HC_OK) return rc;
    uint8_t *w = key->data + key->len;
    if (sep) *w++ = (uint8_t)sep;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%' || ch == ':') {
            *w++ = '%';
            *w++ = ch == '%' ? '2' : '3';
            *w++ = ch == '%' ? '5' : 'A';
        } else {
            *w++ = (uint8_t)ch;
        }
    }
    key->len = (size_t)(w - key->data);
    key->data[key->len] = 0;
    return HC_OK;
}

int hc_key_append_n(hc_buf *key, const char *seg, size_t n)
{
    return append_escaped(key, key->len ? ':' : 0, seg, n);
}

int hc_key_append(hc_buf *key, const char *segment)
{
    return hc_key_append_n(key, segment, strlen(segment));
}

/* v in decimal, ending at end (exclusive); returns where it starts. Keys
   are built on every cached call, so this avoids printf, and takes two
   digits per division. */
static char *format_u64(char *end, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char *p = end;
    for (; v >= 100; v /= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (v % 100), 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

static char *format_i64(char *end, int64_t v)
{
    /* The magnitude as unsigned, so INT64_MIN works too. */
    char *p = format_u64(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    if (v < 0) *--p = '-';
    return p;
}

int hc_key_append_i64(hc_buf *key, int64_t v)
{
    char tmp[24], *p = format_i64(tmp + sizeof tmp, v);
    return hc_key_append_n(key, p, (size_t)(tmp + sizeof tmp - p));
}

int hc_key_append_u64(hc_buf *key, uint64_t v)
{
    char tmp[24], *p = format_u64(tmp + sizeof tmp, v);
    return hc_key_append_n(key, p, (size_t)(tmp + sizeof tmp - p));
}

/*
** The pieces of key templates: no separator. Numbers need no escaping (their
** text never holds '%' or ':'), so they go in with hc_buf_append.
*/
int hc_key_piece_text(hc_buf *key, const char *s, size_t n)
{
    return append_escaped(key, 0, s, n);
}

int hc_key_piece_i64(hc_buf *key, int64_t v)
{
    char tmp[24], *p = format_i64(tmp + sizeof tmp, v);
    return hc_buf_append(key, p, (size_t)(tmp + sizeof tmp - p));
}

int hc_key_piece_u64(hc_buf *key, uint64_t v)
{
    char tmp[24], *p = format_u64(tmp + sizeof tmp, v);
    return hc_buf_append(key, p, (size_t)(tmp + sizeof tmp - p));
}

/*
** %.17g round-trips every double. printf writes the locale's decimal point,
** and a program may have called setlocale(): a key must not depend on that,
** so whatever stands where the point goes (one byte or several) becomes '.'.
** The rest of the text is digits, a sign, 'e', or "inf"/"nan". -0.0 is
** written as 0, since it equals 0.0 and equal arguments must share a key.
*/
int hc_key_piece_f64(hc_buf *key, double v)
{
    char tmp[64], out[64];
    if (v == 0) v = 0.0;
    int n = snprintf(tmp, sizeof tmp, "%.17g", v);     /* at most 24 */
    size_t w = 0;
    for (int i = 0; i < n; i++) {
        if (strchr("0123456789+-eEinfa", tmp[i])) out[w++] = tmp[i];
        else if (w == 0 || out[w - 1] != '.') out[w++] = '.';
    }
    return hc_buf_append(key, out, w);
}

/* Lowercase hex, two digits per byte. */
int hc_key_piece_hex(hc_buf *key, const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (n > SIZE_MAX / 2) return HC_ENOMEM;
    int rc = hc_buf_reserve(key, 2 * n);
    if (rc != HC_OK) return rc;
    const uint8_t *s = p;
    uint8_t *w = key->data + key->len;
    for (size_t i = 0; i < n; i++) {
        *w++ = (uint8_t)digits[s[i] >> 4];
        *w++ = (uint8_t)digits[s[i] & 15];
    }
    key->len += 2 * n;
    key->data[key->len] = 0;
    return HC_OK;
}
