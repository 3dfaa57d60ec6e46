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
#ifdef __GLIBC__
#include <malloc.h>          /* malloc_usable_size */
#endif

#include "hc_int.h"

_Static_assert(sizeof(double) == 8, "f64 is an 8-byte IEEE 754 double");

/* The most bytes a u64 varint takes: ceil(64 / 7). */
#define VARINT64_MAX  10

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
** they were. The fixed-size ones are inline in hydracache.h; these are
** their external definitions.
*/
extern inline void hc_dec_init(hc_dec *d, const void *data, size_t len);
extern inline int hc_dec_u64(hc_dec *d, uint64_t *v);
extern inline int hc_dec_u32(hc_dec *d, uint32_t *v);
extern inline int hc_dec_i64(hc_dec *d, int64_t *v);
extern inline int hc_dec_i32(hc_dec *d, int32_t *v);
extern inline int hc_dec_f64(hc_dec *d, double *v);
extern inline int hc_dec_bool(hc_dec *d, bool *v);
extern inline int hc_dec_option(hc_dec *d, bool *present);
extern inline int hc_dec_count(hc_dec *d, size_t *n);
extern inline int hc_dec_finish(const hc_dec *d);
extern inline int hc_dec_text_view(hc_dec *d, hc_view *v);
extern inline int hc_dec_bytes_view(hc_dec *d, hc_view *v);

/* The inline decoders take a varint of one or two bytes themselves and
   call this for the rest: at most max bytes, the last of which may not
   exceed last. */
int hc__dec_varint(hc_dec *d, unsigned max, unsigned last, uint64_t *v)
{
    const uint8_t *p = d->p;
    size_t n = (size_t)(d->end - p);
    if (n > max) n = max;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] < 0x80) {
            if (i == max - 1 && p[i] > last) return HC_ECODEC;     /* overflow */
            d->p = p + i + 1;
            *v = x;
            return HC_OK;
        }
    }
    return HC_ECODEC;                           /* truncated, or too long */
}

/* hc_dec_text and hc_dec_bytes: the view, then a copy from malloc. */
int hc_dec_text(hc_dec *d, char **s)
{
    hc_dec t = *d;
    hc_view v;
    int rc = hc_dec_text_view(&t, &v);
    if (rc != HC_OK) return rc;
    char *c = malloc(v.n + 1);
    if (!c) return HC_ENOMEM;
    if (v.n) memcpy(c, v.p, v.n);
    c[v.n] = 0;
    *d = t;
    *s = c;
    return HC_OK;
}

int hc_dec_bytes(hc_dec *d, hc_bytes *b)
{
    hc_dec t = *d;
    hc_view v;
    int rc = hc_dec_bytes_view(&t, &v);
    if (rc != HC_OK) return rc;
    uint8_t *c = NULL;
    if (v.n) {
        c = malloc(v.n);
        if (!c) return HC_ENOMEM;
        memcpy(c, v.p, v.n);
    }
    *d = t;
    b->data = c;
    b->len = v.n;
    return HC_OK;
}

/* --------------------------------------------------- decoding over a value */

/*
** How many bytes old, a text's or a blob's (b) block from malloc, holds.
** glibc can say; elsewhere what is known to be in use is a safe answer (the
** text and its 0, the blob's length), which reuses less often.
*/
static size_t room(const void *old, const hc_bytes *b)
{
#ifdef __GLIBC__
    (void)b;
    return malloc_usable_size((void *)old);
#else
    return b ? b->len : strlen(old) + 1;
#endif
}

/*
** v[i].blob is all that says whether field[i] is a char * or an hc_bytes:
** hc_dec_bytes_view sets it, and a view that none filled (a null blob?
** field, whose option said None) must have it set by its caller, as the
** generated decoders do.
*/
int hc_view_commit(void *const *field, hc_view *v, size_t n)
{
    /* Every allocation first: a failure must leave every field as it was. */
    for (size_t i = 0; i < n; i++) {
        v[i].mem = NULL;
        if (!v[i].present) continue;
        size_t need = v[i].blob ? v[i].n : v[i].n + 1;
        const hc_bytes *b = v[i].blob ? field[i] : NULL;
        const void *old = b ? (const void *)b->data : *(char *const *)field[i];
        if (old && room(old, b) >= need) continue;      /* fits: reused */
        v[i].mem = malloc(need);
        if (!v[i].mem) {
            while (i-- > 0) free(v[i].mem);
            return HC_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].blob) {
            hc_bytes *b = field[i];
            uint8_t *m = v[i].present ? (v[i].mem ? v[i].mem : b->data) : NULL;
            if (m != b->data) free(b->data);
            if (m) memcpy(m, v[i].p, v[i].n);
            b->data = m;
            b->len = v[i].present ? v[i].n : 0;
        } else {
            char **s = field[i];
            char *m = v[i].present ? (v[i].mem ? (char *)v[i].mem : *s) : NULL;
            if (m != *s) free(*s);
            if (m) {
                if (v[i].n) memcpy(m, v[i].p, v[i].n);
                m[v[i].n] = 0;
            }
            *s = m;
        }
        v[i].mem = NULL;
    }
    return HC_OK;
}
