/*
** codec.c -- the postcard wire format, for the code hcachegen writes.
**
** Postcard is serde's compact format, the one the original HydraCache stores
** its values in; its specification is the reference for every byte here.
** The decoder follows postcard's own rules, no stricter and no looser: a
** varint may be longer than it needs to be (80 00 is 0) but not longer than
** its type allows, and its last possible byte may carry only the bits the
** type has left.
*/
#include <stdlib.h>
#include <string.h>

#include "hc_int.h"

_Static_assert(sizeof(double) == 8, "f64 is an 8-byte IEEE 754 double");

/* The most bytes a varint takes: ceil(64 / 7) for a u64, ceil(32 / 7) for
   a u32; and what the last of those may hold: the bits left, 64 - 9 * 7
   and 32 - 4 * 7. */
#define VARINT64_MAX  10
#define VARINT64_LAST 0x01u
#define VARINT32_MAX  5
#define VARINT32_LAST 0x0fu

/* ---------------------------------------------------------------- encode */

/* Write v as a LEB128 varint into w (VARINT64_MAX bytes); returns its length. */
static size_t put_varint(uint8_t *w, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        w[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w[n++] = (uint8_t)v;
    return n;
}

int hc_enc_u64(hc_buf *out, uint64_t v)
{
    uint8_t tmp[VARINT64_MAX];
    return hc_buf_append(out, tmp, put_varint(tmp, v));
}

/*
** Zigzag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ..., so that small negative
** numbers stay short. This is (v << 1) ^ (v >> 63), computed on unsigned
** bits because shifting a negative signed value is undefined or
** implementation-defined: 0 - (u >> 63) is the all-ones mask of the sign.
*/
int hc_enc_i64(hc_buf *out, int64_t v)
{
    uint64_t u = (uint64_t)v;
    return hc_enc_u64(out, (u << 1) ^ (0 - (u >> 63)));
}

/* Little-endian whatever the host's byte order. */
int hc_enc_f64(hc_buf *out, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(bits >> (8 * i));
    return hc_buf_append(out, tmp, sizeof tmp);
}

int hc_enc_bool(hc_buf *out, bool v)
{
    uint8_t b = v ? 1 : 0;
    return hc_buf_append(out, &b, 1);
}

int hc_enc_option(hc_buf *out, bool present)
{
    return hc_enc_bool(out, present);
}

/*
** The length and the bytes go in together: room for both is reserved
** first, so that a failure cannot leave a length without its bytes.
*/
int hc_enc_bytes(hc_buf *out, const void *p, size_t n)
{
    if (!p && n) return HC_EINVAL;
    uint8_t len[VARINT64_MAX];
    size_t k = put_varint(len, n);
    if (n > SIZE_MAX - k) return HC_ENOMEM;
    int rc = hc_buf_reserve(out, k + n);
    if (rc != HC_OK) return rc;
    memcpy(out->data + out->len, len, k);
    if (n) memcpy(out->data + out->len + k, p, n);
    out->len += k + n;
    out->data[out->len] = 0;
    return HC_OK;
}

int hc_enc_text(hc_buf *out, const char *s)
{
    if (!s) return HC_EINVAL;
    return hc_enc_bytes(out, s, strlen(s));
}

/* ---------------------------------------------------------------- decode */

/*
** Every decoder checks before it reads and moves d->p only once the whole
** value is good, so a failure leaves both the decoder and the output as
** they were.
*/
void hc_dec_init(hc_dec *d, const void *data, size_t len)
{
    d->p = data;
    d->end = len ? d->p + len : d->p;   /* NULL + 0 is undefined */
}

static size_t left(const hc_dec *d)
{
    return (size_t)(d->end - d->p);
}

/* Consume n bytes, n <= left(d); returns where they start. */
static const uint8_t *take(hc_dec *d, size_t n)
{
    const uint8_t *p = d->p;
    if (n) d->p += n;
    return p;
}

/* A varint of at most max bytes, the last of which may not exceed last. */
static int get_varint(hc_dec *d, int max, unsigned last, uint64_t *v)
{
    const uint8_t *p = d->p;
    if (p != d->end && *p < 0x80) {         /* one byte: lengths, small numbers */
        d->p = p + 1;
        *v = *p;
        return HC_OK;
    }
    uint64_t x = 0;
    for (int i = 0; i < max; i++) {
        if (p == d->end) return HC_ECODEC;              /* truncated */
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == max - 1 && b > last) return HC_ECODEC;  /* overflow */
            d->p = p;
            *v = x;
            return HC_OK;
        }
    }
    return HC_ECODEC;                                   /* too long */
}

/* Zigzag back, written so that nothing overflows: u >> 1 <= INT64_MAX. */
static int64_t unzigzag(uint64_t u)
{
    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

int hc_dec_u64(hc_dec *d, uint64_t *v)
{
    return get_varint(d, VARINT64_MAX, VARINT64_LAST, v);
}

int hc_dec_u32(hc_dec *d, uint32_t *v)
{
    uint64_t x;
    int rc = get_varint(d, VARINT32_MAX, VARINT32_LAST, &x);
    if (rc == HC_OK) *v = (uint32_t)x;
    return rc;
}

int hc_dec_i64(hc_dec *d, int64_t *v)
{
    uint64_t x;
    int rc = hc_dec_u64(d, &x);
    if (rc == HC_OK) *v = unzigzag(x);
    return rc;
}

/*
** Postcard reads an i32 as a zigzagged u32, so the range check is the u32
** one: a zigzagged value that fits in 32 bits unzigzags into int32_t, and a
** value outside int32_t zigzags to more than 32 bits.
*/
int hc_dec_i32(hc_dec *d, int32_t *v)
{
    uint64_t x;
    int rc = get_varint(d, VARINT32_MAX, VARINT32_LAST, &x);
    if (rc == HC_OK) *v = (int32_t)unzigzag(x);
    return rc;
}

int hc_dec_f64(hc_dec *d, double *v)
{
    if (left(d) < 8) return HC_ECODEC;
    const uint8_t *p = take(d, 8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= (uint64_t)p[i] << (8 * i);
    memcpy(v, &bits, sizeof *v);
    return HC_OK;
}

int hc_dec_bool(hc_dec *d, bool *v)
{
    if (left(d) < 1 || *d->p > 1) return HC_ECODEC;
    *v = *take(d, 1) == 1;
    return HC_OK;
}

int hc_dec_option(hc_dec *d, bool *present)
{
    return hc_dec_bool(d, present);
}

/*
** A length or a count, which can never exceed the bytes left: checking that
** first means a forged length fails here instead of in malloc.
*/
int hc_dec_count(hc_dec *d, size_t *n)
{
    hc_dec t = *d;
    uint64_t x;
    int rc = hc_dec_u64(&t, &x);
    if (rc != HC_OK) return rc;
    if (x > left(&t)) return HC_ECODEC;
    *d = t;
    *n = (size_t)x;
    return HC_OK;
}

/* A C string cannot hold a NUL, so text with one is malformed. */
int hc_dec_text(hc_dec *d, char **s)
{
    hc_dec t = *d;
    size_t n;
    int rc = hc_dec_count(&t, &n);
    if (rc != HC_OK) return rc;
    if (n && memchr(t.p, 0, n)) return HC_ECODEC;
    char *c = malloc(n + 1);
    if (!c) return HC_ENOMEM;
    if (n) memcpy(c, take(&t, n), n);
    c[n] = 0;
    *d = t;
    *s = c;
    return HC_OK;
}

int hc_dec_bytes(hc_dec *d, hc_bytes *b)
{
    hc_dec t = *d;
    size_t n;
    int rc = hc_dec_count(&t, &n);
    if (rc != HC_OK) return rc;
    uint8_t *c = NULL;
    if (n) {
        c = malloc(n);
        if (!c) return HC_ENOMEM;
        memcpy(c, take(&t, n), n);
    }
    *d = t;
    b->data = c;
    b->len = n;
    return HC_OK;
}

int hc_dec_finish(const hc_dec *d)
{
    return d->p == d->end ? HC_OK : HC_ECODEC;
}
