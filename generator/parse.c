/*
** parse.c -- reading files, the arena, diagnostics, and the loop that
** feeds tokens from the lexer to the lemon parser.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcg.h"
#include "grammar.h"

/* ---------------------------------------------------------------- files */

char *hcg_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        errno = bad ? EIO : ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* ------------------------------------------------------------ the arena */

struct hcg_arena {
    hcg_arena *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char mem[];
};

#define ARENA_BLOCK 65536u

void *hcg_alloc(hcg_arena **a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!*a || (*a)->cap - (*a)->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        hcg_arena *b = malloc(sizeof *b + cap);
        if (!b) {
            fprintf(stderr, "hcachegen: out of memory\n");
            exit(2);
        }
        b->next = *a;
        b->used = 0;
        b->cap = cap;
        *a = b;
    }
    void *p = (*a)->mem + (*a)->used;
    (*a)->used += n;
    memset(p, 0, n);
    return p;
}

char *hcg_strndup(hcg_arena **a, const char *s, size_t n)
{
    char *d = hcg_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void hcg_arena_free(hcg_arena **a)
{
    while (*a) {
        hcg_arena *next = (*a)->next;
        free(*a);
        *a = next;
    }
}

void hcg_vec_push(hcg_arena **a, hcg_vec *vec, void *p)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        void **v = hcg_alloc(a, cap * sizeof *v);
        if (vec->n) memcpy(v, vec->v, vec->n * sizeof *v);
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = p;
}

/* ---------------------------------------------------------- diagnostics */

void hcg_src_init(hcg_src *src, const char *path, const char *text, size_t len)
{
    memset(src, 0, sizeof *src);
    src->path = path;
    src->text = text;
    src->len = len;
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    src->line_starts = malloc(n * sizeof *src->line_starts);
    if (!src->line_starts) {
        fprintf(stderr, "hcachegen: out of memory\n");
        exit(2);
    }
    src->line_starts[0] = 0;
    src->nlines = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') src->line_starts[src->nlines++] = i + 1;
}

void hcg_src_free(hcg_src *src)
{
    free(src->line_starts);
    src->line_starts = NULL;
    src->nlines = 0;
}

/* The 1-based line holding off: a binary search over the line starts (the
   emitter asks once per declaration, so a scan would be quadratic). */
int hcg_line_of(const hcg_src *src, size_t off)
{
    size_t lo = 0, hi = src->nlines;          /* line_starts[lo] <= off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (src->line_starts[mid] <= off) lo = mid;
        else hi = mid;
    }
    return (int)lo + 1;
}

/* A long source line is shown as this many bytes around the column, and a
   message is cut at MSG_MAX bytes: a diagnostic stays a few lines however
   long a line of the input or a name in it is. */
#define SHOW_MAX 240
#define MSG_MAX  1024

static bool continuation(unsigned char ch)
{
    return (ch & 0xC0) == 0x80;
}

/* gcc's layout: the location, the message, the line, a caret under the
   column (tabs copied so the caret lines up). A line longer than SHOW_MAX
   shows only a window around the column, "..." where it is cut, the caret
   still under the byte it points at. The whole diagnostic goes out in one
   write: stderr is unbuffered, and a byte at a time was one system call
   per byte of a long line. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static void report(hcg_src *src, size_t off, const char *kind, const char *fmt, va_list ap)
{
    if (src->quiet) return;
    if (off > src->len) off = src->len;
    /* At the end of a file that ends in a newline: point after the last
       text, not at an empty line past it. */
    if (off == src->len)
        while (off > 0 && (src->text[off - 1] == '\n' || src->text[off - 1] == '\r')) off--;
    int line = hcg_line_of(src, off);
    size_t ls = src->line_starts[line - 1];
    const char *t = src->text;

    /* The window [from, to): the line if it fits, else SHOW_MAX bytes
       with the column in the middle, cut on character boundaries. */
    size_t from = ls, to = ls;
    while (to < src->len && t[to] != '\n' && t[to] != '\r' && to - ls <= SHOW_MAX) to++;
    if (to - ls > SHOW_MAX && off - ls > SHOW_MAX / 2) {
        from = off - SHOW_MAX / 2;
        while (from < off && continuation((unsigned char)t[from])) from++;
    }
    to = off;
    while (to < src->len && t[to] != '\n' && t[to] != '\r' && to - from < SHOW_MAX) to++;
    bool cut_right = to < src->len && t[to] != '\n' && t[to] != '\r';
    if (cut_right)
        while (to > off && continuation((unsigned char)t[to])) to--;
    bool cut_left = from > ls;

    char msg[MSG_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= (int)sizeof msg) memcpy(msg + sizeof msg - 4, "...", 4);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) f = stderr;                      /* no memory: unbuffered, but out */
    fprintf(f, "%s:%d:%zu: %s: %s\n ", src->path, line, off - ls + 1, kind, msg);
    if (cut_left) fputs("...", f);
    for (size_t i = from; i < to; i++) {
        unsigned char ch = (unsigned char)t[i];
        fputc(ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? ch : '?', f);
    }
    if (cut_right) fputs("...", f);
    fputs(cut_left ? "\n    " : "\n ", f);
    for (size_t i = from; i < off; i++) fputc(t[i] == '\t' ? '\t' : ' ', f);
    fputs("^\n", f);
    if (f != stderr) {
        fclose(f);
        if (buf) fwrite(buf, 1, len, stderr);
        free(buf);
    }
}

void hcg_error(hcg_src *src, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(src, off, "error", fmt, ap);
    va_end(ap);
    src->nerrors++;
}

void hcg_note(hcg_src *src, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(src, off, "note", fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------- the parser */

static bool is_keyword(int code)
{
    return code != TK_IDENT && hcg_token_name(code)[0] == '\'' &&
           hcg_token_name(code)[1] >= 'a' && hcg_token_name(code)[1] <= 'z';
}

static void out_of_memory(void)
{
    fprintf(stderr, "hcachegen: out of memory\n");
    exit(2);
}

/*
** Whether the parser would take a token of kind code after the tokens m
** has fed it. A parser of its own is fed the tokens of the item being read
** (the ones before it form whole items, after which the parser is where a
** fresh one starts: file ::= items, items ::= items item), quietly, into a
** module of its own, then code: lemon calls %syntax_error at once when a
** token cannot come next. Only lemon's interface is used, no table of it.
*/
static bool accepts(const hcg_module *m, int code)
{
    hcg_src quiet = *m->src;
    quiet.quiet = true;
    hcg_arena *arena = NULL;
    hcg_module pm;
    memset(&pm, 0, sizeof pm);
    pm.src = &quiet;
    pm.arena = &arena;
    pm.probing = true;
    void *p = hcg_ParseAlloc(malloc);
    if (!p) out_of_memory();
    for (size_t i = m->item_start; i < m->fed && !pm.stop; i++)
        hcg_Parse(p, m->fed_tokens[i].code, m->fed_tokens[i], &pm);
    /* The prefix was taken once already; a probe that fails on it has
       been misled (about where the item starts): accept nothing. */
    bool ok = !pm.stop;
    if (ok) {
        hcg_token t;
        memset(&t, 0, sizeof t);
        t.code = code;
        t.off = m->fed ? m->fed_tokens[m->fed - 1].off : 0;
        hcg_Parse(p, code, t, &pm);
        ok = !pm.stop;
    }
    hcg_ParseFree(p, free);
    hcg_arena_free(&arena);
    return ok;
}

/* The most token codes there are: every code from 1 that hcg_token_name
   names is a terminal of the grammar. */
#define MAX_TOKEN 128

void hcg_syntax_error(hcg_module *m, const hcg_token *tok)
{
    int expected[MAX_TOKEN], n = 0;
    for (int code = 1; code < MAX_TOKEN; code++)
        if (strcmp(hcg_token_name(code), "a token") != 0 && accepts(m, code)) expected[n++] = code;

    /* Where a name fits, every keyword does too: say "a name" once. */
    bool name_ok = false;
    for (int i = 0; i < n; i++) if (expected[i] == TK_IDENT) name_ok = true;
    char list[512] = "";
    int shown = 0, total = 0;
    for (int i = 0; i < n; i++)
        if (!(name_ok && is_keyword(expected[i]))) total++;
    for (int i = 0; i < n; i++) {
        if (name_ok && is_keyword(expected[i])) continue;
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s",
                 shown == 0 ? "" : shown == total - 1 ? " or " : ", ",
                 hcg_token_name(expected[i]));
        shown++;
    }
    const char *found = tok->code == TK_IDENT ? NULL : hcg_token_name(tok->code);
    char what[96];
    if (found)
        snprintf(what, sizeof what, "%s", found);
    else
        snprintf(what, sizeof what, "'%.*s'", tok->len > 40 ? 40 : (int)tok->len,
                 m->src->text + tok->off);
    /* A missing ';' belongs after what came before it, as gcc puts it. */
    bool semi = false;
    for (int i = 0; i < n; i++) semi |= expected[i] == TK_SEMI;
    size_t at = semi && m->prev_end ? m->prev_end : tok->off;
    if (total)
        hcg_error(m->src, at, "expected %s before %s", list, what);
    else
        hcg_error(m->src, tok->off, "unexpected %s", what);
}

int hcg_parse(hcg_module *m)
{
    int before = m->src->nerrors;
    hcg_lexer lx = {m->src, m->arena, (const unsigned char *)m->src->text};
    void *p = hcg_ParseAlloc(malloc);
    if (!p) out_of_memory();
    hcg_token t;
    bool any = false;
    for (;;) {
        int code = hcg_lex(&lx, &t);
        if (code < 0) {               /* reported; the rest cannot be trusted */
            m->stop = true;
            break;
        }
        if (code == 0 && !any) {
            hcg_error(m->src, t.off, "empty file: a .hcache file starts with 'module NAME;'");
            m->stop = true;
            break;
        }
        any = true;
        hcg_Parse(p, code, t, m);
        if (m->stop || code == 0) break;
        m->prev_end = t.off + t.len;
        if (m->fed == m->fed_cap) {
            size_t cap = m->fed_cap ? m->fed_cap * 2 : 256;
            hcg_token *v = realloc(m->fed_tokens, cap * sizeof *v);
            if (!v) out_of_memory();
            m->fed_tokens = v;
            m->fed_cap = cap;
        }
        m->fed_tokens[m->fed++] = t;
    }
    hcg_ParseFree(p, free);
    free(m->fed_tokens);
    m->fed_tokens = NULL;
    m->fed = m->fed_cap = 0;
    return m->src->nerrors - before;
}
