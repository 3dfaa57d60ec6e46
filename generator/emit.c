/*
** emit.c -- fill the templates from a checked module.
**
** The templates (the .tmpl files in templates/, built into hcachegen, or --templates DIR)
** hold the shape of the output; this file computes the pieces that depend on
** the declarations (fields, codecs, key building) and substitutes them for
** $name$ placeholders, as protobuf's printer does. "$$" is a dollar sign.
**
** #line directives point each declaration's code back at the .hcache line;
** a "#line @OUT@" line returns to the output file and is numbered once the
** whole file is known.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcg.h"

/* ------------------------------------------------------ string builder */

typedef struct sb {
    char *s;
    size_t len, cap;
} sb;

/* Room for n more bytes and the terminating NUL. */
static void sb_reserve(sb *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
        fprintf(stderr, "hcachegen: out of memory\n");
        exit(2);
    }
    b->s = p;
    b->cap = cap;
}

static void sb_add(sb *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_puts(sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void sb_vprintf(sb *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    sb_reserve(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, again);
    va_end(again);
    b->len += (size_t)n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Take the text out of b (the caller frees it); b is empty again. */
static char *sb_take(sb *b)
{
    char *s = b->s ? b->s : calloc(1, 1);
    memset(b, 0, sizeof *b);
    return s;
}

/* s as a C string literal. */
static void sb_cstr(sb *b, const char *s)
{
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
        else if (*p == '\n') sb_puts(b, "\\n");
        else if (*p == '\t') sb_puts(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f || (*p == '?' && p[1] == '?')) sb_printf(b, "\\%03o", *p);  /* no trigraphs */
        else sb_add(b, (const char *)p, 1);
    }
    sb_puts(b, "\"");
}

/* Text from the .hcache file that goes into a C comment: a star and a slash
   in either order would end the comment or trip -Wcomment, so a backslash
   goes between them. Takes ownership of s. */
static char *comment_safe(char *s)
{
    sb b = {0};
    for (const char *p = s; *p; p++) {
        sb_add(&b, p, 1);
        if ((p[0] == '*' && p[1] == '/') || (p[0] == '/' && p[1] == '*')) sb_puts(&b, "\\");
    }
    free(s);
    return sb_take(&b);
}

/* ----------------------------------------------------------- templates */

typedef struct emitter {
    const hcg_module *m;
    const hcg_emit_opts *o;
    int failed;
} emitter;

typedef struct var {
    const char *name;
    char *value;          /* owned */
} var;

#define MAXVARS 48

typedef struct vars {
    var v[MAXVARS];
    int n;
} vars;

static void set(vars *vs, const char *name, char *value)
{
    for (int i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0) {
            free(vs->v[i].value);
            vs->v[i].value = value;
            return;
        }
    if (vs->n == MAXVARS) abort();      /* a bug in this file */
    vs->v[vs->n].name = name;
    vs->v[vs->n++].value = value;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        fprintf(stderr, "hcachegen: out of memory\n");
        exit(2);
    }
    return memcpy(d, s, n);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void setf(vars *vs, const char *name, const char *fmt, ...)
{
    sb b = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    set(vs, name, sb_take(&b));
}

static void vars_free(vars *vs)
{
    for (int i = 0; i < vs->n; i++) free(vs->v[i].value);
    vs->n = 0;
}

/* A template's text: from --templates DIR, else built in. Cached. */
static const char *template_text(emitter *e, const char *name)
{
    static struct { char name[64]; char *text; } loaded[32];
    static int nloaded;
    if (!e->o->templates_dir) {
        for (const hcg_builtin *b = hcg_builtin_templates; b->name; b++)
            if (strcmp(b->name, name) == 0) return b->text;
        fprintf(stderr, "hcachegen: no built-in template %s\n", name);
        e->failed = 1;
        return "";
    }
    for (int i = 0; i < nloaded; i++)
        if (strcmp(loaded[i].name, name) == 0) return loaded[i].text;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", e->o->templates_dir, name);
    FILE *f = fopen(path, "rb");
    sb b = {0};
    if (!f) {
        fprintf(stderr, "hcachegen: cannot read template %s\n", path);
        e->failed = 1;
        return "";
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_add(&b, buf, n);
    fclose(f);
    char *text = sb_take(&b);
    if (nloaded < 32) {
        snprintf(loaded[nloaded].name, sizeof loaded[nloaded].name, "%s", name);
        loaded[nloaded++].text = text;
    }
    return text;
}

/* Append template `name` to out with every $var$ replaced. */
static void expand(emitter *e, sb *out, const char *name, const vars *vs)
{
    const char *t = template_text(e, name);
    while (*t) {
        const char *d = strchr(t, '$');
        if (!d) {
            sb_puts(out, t);
            break;
        }
        sb_add(out, t, (size_t)(d - t));
        const char *end = strchr(d + 1, '$');
        if (!end) {
            fprintf(stderr, "hcachegen: template %s: unmatched '$'\n", name);
            e->failed = 1;
            return;
        }
        size_t n = (size_t)(end - d - 1);
        if (n == 0) {
            sb_puts(out, "$");
        } else {
            int i;
            for (i = 0; i < vs->n; i++)
                if (strlen(vs->v[i].name) == n && memcmp(vs->v[i].name, d + 1, n) == 0) break;
            if (i == vs->n) {
                fprintf(stderr, "hcachegen: template %s: unknown variable $%.*s$\n", name, (int)n, d + 1);
                e->failed = 1;
            } else {
                sb_puts(out, vs->v[i].value);
            }
        }
        t = end + 1;
    }
}

/* ------------------------------------------------------------- C types */

static const char *scalar_c(hcg_base b)
{
    switch (b) {
    case HCG_I32: return "int32_t";
    case HCG_I64: return "int64_t";
    case HCG_U32: return "uint32_t";
    case HCG_U64: return "uint64_t";
    case HCG_F64: return "double";
    case HCG_BOOL: return "bool";
    case HCG_TEXT: return "char *";
    case HCG_BLOB: return "hc_bytes";
    default: return "?";
    }
}

static bool owned(hcg_base b)
{
    return b == HCG_TEXT || b == HCG_BLOB || b == HCG_ENTITY;
}

/* "shop_user", or the scalar's C type. */
static void type_c(const emitter *e, sb *b, const hcg_type *t)
{
    if (t->base == HCG_ENTITY) sb_printf(b, "%s_%s", e->m->name, t->entity->name);
    else sb_puts(b, scalar_c(t->base));
}

/* The list type of a result T[]: shop_user_list, shop_i64_list. */
static void list_c(const emitter *e, sb *b, const hcg_type *t)
{
    if (t->base == HCG_ENTITY) sb_printf(b, "%s_%s_list", e->m->name, t->entity->name);
    else sb_printf(b, "%s_%s_list", e->m->name, t->name);
}

/* The C type a result is held in. */
static void result_c(const emitter *e, sb *b, const hcg_type *t)
{
    if (t->list) list_c(e, b, t);
    else type_c(e, b, t);
}

/* A parameter's declaration: "int64_t id", "const char *name". */
static void param_decl(sb *b, const hcg_field *p)
{
    if (p->type.base == HCG_TEXT) sb_printf(b, "const char *%s", p->name);
    else if (p->type.nullable) sb_printf(b, "const %s *%s", scalar_c(p->type.base), p->name);  /* NULL: null */
    else sb_printf(b, "%s %s", scalar_c(p->type.base), p->name);
}

/* Encode the scalar expression x (of base b) onto `out`. */
static void enc_scalar(sb *b, hcg_base base, const char *x)
{
    switch (base) {
    case HCG_I32: case HCG_I64: sb_printf(b, "hc_enc_i64(out, (int64_t)%s)", x); break;
    case HCG_U32: case HCG_U64: sb_printf(b, "hc_enc_u64(out, (uint64_t)%s)", x); break;
    case HCG_F64: sb_printf(b, "hc_enc_f64(out, %s)", x); break;
    case HCG_BOOL: sb_printf(b, "hc_enc_bool(out, %s)", x); break;
    case HCG_TEXT: sb_printf(b, "hc_enc_text(out, %s)", x); break;
    case HCG_BLOB: sb_printf(b, "hc_enc_bytes(out, %s.data, %s.len)", x, x); break;
    default: break;
    }
}

/* Decode into the lvalue x (of base b) from decoder pointer d. */
static void dec_scalar(sb *b, hcg_base base, const char *d, const char *x)
{
    static const char *const fn[] = {
        [HCG_I32] = "i32", [HCG_I64] = "i64", [HCG_U32] = "u32", [HCG_U64] = "u64",
        [HCG_F64] = "f64", [HCG_BOOL] = "bool", [HCG_TEXT] = "text", [HCG_BLOB] = "bytes",
    };
    sb_printf(b, "hc_dec_%s(%s, &%s)", fn[base], d, x);
}

/* Statements that free what the lvalue x owns. */
static void clear_value(const emitter *e, sb *b, const hcg_type *t, const char *x, const char *indent)
{
    if (t->list) {
        sb_printf(b, "%s", indent);
        list_c(e, b, t);
        sb_printf(b, "_clear(&%s);\n", x);
    } else if (t->base == HCG_ENTITY) {
        sb_printf(b, "%s%s_%s_clear(&%s);\n", indent, e->m->name, t->entity->name, x);
    } else if (t->base == HCG_TEXT) {
        sb_printf(b, "%sfree(%s);\n%s%s = NULL;\n", indent, x, indent, x);
    } else if (t->base == HCG_BLOB) {
        sb_printf(b, "%sfree(%s.data);\n%s%s.data = NULL;\n%s%s.len = 0;\n", indent, x, indent, x, indent, x);
    }
}

/* Encode a whole value (entity, list or scalar) held in the lvalue x. */
static void enc_value(const emitter *e, sb *b, const hcg_type *t, const char *x)
{
    if (t->list) {
        list_c(e, b, t);
        sb_printf(b, "__enc(out, &%s)", x);
    } else if (t->base == HCG_ENTITY) {
        sb_printf(b, "%s_%s__enc(out, &%s)", e->m->name, t->entity->name, x);
    } else {
        enc_scalar(b, t->base, x);
    }
}

static void dec_value(const emitter *e, sb *b, const hcg_type *t, const char *d, const char *x)
{
    if (t->list) {
        list_c(e, b, t);
        sb_printf(b, "__dec(%s, &%s)", d, x);
    } else if (t->base == HCG_ENTITY) {
        sb_printf(b, "%s_%s__dec_into(%s, &%s, false)", e->m->name, t->entity->name, d, x);
    } else {
        dec_scalar(b, t->base, d, x);
    }
}

/* ------------------------------------------------------------ #line */

static char *line_of(const emitter *e, size_t off)
{
    sb b = {0};
    if (e->o->lines) {
        sb_printf(&b, "#line %d ", hcg_line_of(e->m->src, off));
        sb_cstr(&b, e->o->source_path);
    }
    return sb_take(&b);
}

static char *end_line(const emitter *e)
{
    return xstrdup(e->o->lines ? "#line @OUT@" : "");
}

/* Number the "#line @OUT@" lines; without #line, squeeze the blank lines
   the empty $line$ placeholders leave. */
static char *finish_lines(char *text, const char *out_name, bool lines)
{
    sb b = {0};
    int line = 1;
    bool prev_blank = false;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 11 && memcmp(p, "#line @OUT@", 11) == 0) {
            sb_printf(&b, "#line %d ", line + 1);
            sb_cstr(&b, out_name);
            sb_puts(&b, "\n");
        } else if (!(!lines && n == 0 && prev_blank)) {
            sb_add(&b, p, n);
            if (nl) sb_puts(&b, "\n");
        }
        prev_blank = n == 0;
        line++;
        if (!nl) break;
        p = nl + 1;
    }
    free(text);
    return sb_take(&b);
}

/* ------------------------------------------------------------- keys */

/* Statements appending one interpolated parameter (C expression x) to
   buffer expression k. */
static void key_param(sb *b, const hcg_field *p, const char *k, const char *x)
{
    sb_puts(b, "    if (hc_rc == HC_OK) hc_rc = ");
    switch (p->type.base) {
    case HCG_I32: case HCG_I64: sb_printf(b, "hc_key_piece_i64(%s, (int64_t)%s);\n", k, x); break;
    case HCG_U32: case HCG_U64: sb_printf(b, "hc_key_piece_u64(%s, (uint64_t)%s);\n", k, x); break;
    case HCG_F64: sb_printf(b, "hc_key_piece_f64(%s, %s);\n", k, x); break;
    case HCG_BOOL: sb_printf(b, "hc_buf_append_str(%s, %s ? \"true\" : \"false\");\n", k, x); break;
    case HCG_TEXT: sb_printf(b, "hc_key_piece_text(%s, %s, strlen(%s));\n", k, x, x); break;
    case HCG_BLOB: sb_printf(b, "hc_key_piece_hex(%s, %s.data, %s.len);\n", k, x, x); break;
    default: break;
    }
}

/* The literal's length is written out: a key is built on every read, hits
   included, and a strlen of each literal was 3 % of a cached read. */
static void key_literal(sb *b, const char *k, const char *text)
{
    if (!*text) return;
    sb_printf(b, "    if (hc_rc == HC_OK) hc_rc = hc_buf_append(%s, ", k);
    sb_cstr(b, text);
    sb_printf(b, ", %zu);\n", strlen(text));
}

/* Statements appending parameter p, reached through via ("" for a
   parameter in scope, "hc_a->" for one in an args struct), to k. */
static void key_param_via(sb *b, const hcg_field *p, const char *k, const char *via)
{
    sb x = {0};
    sb_printf(&x, "%s%s", via, p->name);
    key_param(b, p, k, x.s);
    free(x.s);
}

/* Statements building template t into k, after a prefix literal; its
   parameters are reached through via (see key_param_via). */
static void build_template(sb *b, const hcg_template *t, const char *k, const char *prefix,
                           const char *via)
{
    sb lit = {0};
    sb_puts(&lit, prefix);
    for (size_t i = 0; i < t->pieces.n; i++) {
        const hcg_piece *p = t->pieces.v[i];
        if (p->text) {
            sb_puts(&lit, p->text);
            continue;
        }
        if (lit.len) key_literal(b, k, lit.s);
        lit.len = 0;
        if (lit.s) lit.s[0] = 0;
        key_param_via(b, p->param, k, via);
    }
    if (lit.len) key_literal(b, k, lit.s);
    free(lit.s);
}

/* The physical key prefix: "shop:" (or "" for namespace ""). */
static char *key_prefix(const hcg_module *m)
{
    sb b = {0};
    const char *ns = m->ns.s ? m->ns.s : m->name;
    if (*ns) sb_printf(&b, "%s:", ns);
    else sb_puts(&b, "");
    return sb_take(&b);
}

/* A template as the documentation shows it. */
static void template_doc(sb *b, const hcg_template *t)
{
    for (size_t i = 0; i < t->pieces.n; i++) {
        const hcg_piece *p = t->pieces.v[i];
        if (p->text) sb_puts(b, p->text);
        else sb_printf(b, "{%s}", p->param->name);
    }
}

static const char *entity_key(const hcg_entity *en)
{
    return en->key.s ? en->key.s : en->name;
}

/* Statements appending an entity's key ("shop:user:" then the parameter)
   or, without the namespace, its tag ("user:" then the parameter) to k. */
static void entity_key_code(sb *b, const hcg_module *m, const hcg_entity *en,
                            const hcg_field *param, const char *k, bool physical, const char *via)
{
    char *prefix = physical ? key_prefix(m) : NULL;
    sb lit = {0};
    sb_printf(&lit, "%s%s:", prefix ? prefix : "", entity_key(en));
    key_literal(b, k, lit.s);
    key_param_via(b, param, k, via);
    free(lit.s);
    free(prefix);
}

/* The collection tag: given, or "<key>:all". */
static char *collection_of(const hcg_entity *en)
{
    sb b = {0};
    if (en->collection.s) sb_puts(&b, en->collection.s);
    else sb_printf(&b, "%s:all", entity_key(en));
    return sb_take(&b);
}

static char *ttl_expr(uint64_t ms, bool has)
{
    sb b = {0};
    if (has) sb_printf(&b, "UINT64_C(%llu)", (unsigned long long)ms);
    else sb_puts(&b, "HC_TTL_DEFAULT");
    return sb_take(&b);
}

/* ----------------------------------------------------------- entities */

static void emit_entity(emitter *e, const hcg_entity *en, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    sb fields = {0}, enc = {0}, clr = {0}, key = {0}, tag = {0};
    sb decv = {0}, vfield = {0}, vback = {0}, vkind = {0};
    size_t nviews = 0;
    bool nullables = false;
    for (size_t i = 0; i < en->fields.n; i++) {
        const hcg_field *f = en->fields.v[i];
        sb xb = {0}, vb = {0};
        sb_printf(&xb, "u->%s", f->name);
        sb_printf(&vb, "hc_v.%s", f->name);
        const char *x = xb.s;
        bool viewed = f->type.base == HCG_TEXT || f->type.base == HCG_BLOB;
        bool flag = f->type.nullable && f->type.base != HCG_TEXT;
        if (f->type.base == HCG_TEXT)
            sb_printf(&fields, "    char *%s;%s\n", f->name, f->type.nullable ? "              /* NULL: null */" : "");
        else
            sb_printf(&fields, "    %s %s;\n", scalar_c(f->type.base), f->name);
        if (flag) sb_printf(&fields, "    bool %s_is_null;\n", f->name);

        if (f->type.nullable) {
            nullables = true;
            if (flag) sb_printf(&enc, "    if (hc_rc == HC_OK) hc_rc = hc_enc_option(out, !u->%s_is_null);\n", f->name);
            else sb_printf(&enc, "    if (hc_rc == HC_OK) hc_rc = hc_enc_option(out, u->%s != NULL);\n", f->name);
            if (flag) sb_printf(&enc, "    if (hc_rc == HC_OK && !u->%s_is_null) hc_rc = ", f->name);
            else sb_printf(&enc, "    if (hc_rc == HC_OK && u->%s) hc_rc = ", f->name);
        } else {
            sb_puts(&enc, "    if (hc_rc == HC_OK) hc_rc = ");
        }
        /* hc_enc_* write to "out". */
        enc_scalar(&enc, f->type.base, x);
        sb_puts(&enc, ";\n");

        /* Decoding: text and blobs as views, scalars into hc_v. */
        if (f->type.nullable) {
            sb_puts(&decv, "    if (hc_rc == HC_OK) hc_rc = hc_dec_option(d, &hc_some);\n");
            sb_puts(&decv, "    if (hc_rc == HC_OK && hc_some) hc_rc = ");
        } else {
            sb_puts(&decv, "    if (hc_rc == HC_OK) hc_rc = ");
        }
        if (viewed) {
            sb_printf(&decv, "hc_dec_%s_view(d, &hc_tv[%zu]);\n", f->type.base == HCG_TEXT ? "text" : "bytes", nviews);
            sb_printf(&vfield, "%s&u->%s", nviews ? ", " : "", f->name);
            /* hc_view_commit tells a blob from a text by the view's flag,
               which hc_dec_bytes_view sets; a null blob? is never decoded,
               so its view says so up front: otherwise the commit would
               clear the hc_bytes as a char * and leave its old len. */
            if (f->type.nullable && f->type.base == HCG_BLOB)
                sb_printf(&vkind, "    hc_tv[%zu].blob = true;\n", nviews);
            nviews++;
        } else {
            dec_scalar(&decv, f->type.base, "d", vb.s);
            sb_puts(&decv, ";\n");
            sb_printf(&vback, "        u->%s = hc_v.%s;\n", f->name, f->name);
        }
        if (flag) sb_printf(&decv, "    if (hc_rc == HC_OK) hc_v.%s_is_null = !hc_some;\n", f->name);
        if (flag) sb_printf(&vback, "        u->%s_is_null = hc_v.%s_is_null;\n", f->name, f->name);
        if (f->type.base == HCG_TEXT) sb_printf(&clr, "    free(u->%s);\n", f->name);
        if (f->type.base == HCG_BLOB) sb_printf(&clr, "    free(u->%s.data);\n", f->name);
        free(xb.s);
        free(vb.s);
    }
    {
        /* __dec_into: declarations, the decoding, then the commit. The
           scalars are copied one by one: a copy of the whole struct read
           the text pointers hc_view_commit had just stored with loads
           wider than those stores, which the CPU cannot forward from its
           store buffer (a stall of about 10 ns per read on the DAO
           benchmark). */
        sb di = {0};
        if (nviews) sb_printf(&di, "    hc_view hc_tv[%zu];\n", nviews);
        if (nullables) sb_puts(&di, "    bool hc_some = false;\n");
        sb_puts(&di, "    int hc_rc = HC_OK;\n    memset(&hc_v, 0, sizeof hc_v);\n");
        if (nviews) sb_puts(&di, "    memset(hc_tv, 0, sizeof hc_tv);\n");
        sb_add(&di, vkind.s ? vkind.s : "", vkind.len);
        sb_add(&di, decv.s ? decv.s : "", decv.len);
        sb_puts(&di, "    if (hc_rc == HC_OK && whole) hc_rc = hc_dec_finish(d);\n");
        if (nviews) {
            sb_printf(&di, "    if (hc_rc == HC_OK) {\n        void *const hc_f[%zu] = {%s};\n"
                           "        hc_rc = hc_view_commit(hc_f, hc_tv, %zu);\n    }\n"
                           "    if (hc_rc == HC_OK) {\n",
                      nviews, vfield.s, nviews);
        } else {
            sb_puts(&di, "    if (hc_rc == HC_OK) {\n");
        }
        sb_add(&di, vback.s ? vback.s : "", vback.len);
        sb_puts(&di, "    }\n");
        free(decv.s);
        free(vkind.s);
        free(vfield.s);
        free(vback.s);
        set(&vs, "decode_into", sb_take(&di));
    }
    const hcg_field *pk = en->primary;
    char *prefix = key_prefix(m);
    entity_key_code(&key, m, en, pk, "hc_key", true, "");
    entity_key_code(&tag, m, en, pk, "hc_tag", false, "");

    sb pp = {0};
    param_decl(&pp, pk);
    setf(&vs, "name", "%s", en->name);
    setf(&vs, "T", "%s_%s", m->name, en->name);
    set(&vs, "fields", sb_take(&fields));
    set(&vs, "encode", sb_take(&enc));
    set(&vs, "clear", sb_take(&clr));
    set(&vs, "key", sb_take(&key));
    set(&vs, "tag", sb_take(&tag));
    set(&vs, "pk_param", sb_take(&pp));
    setf(&vs, "pk", "%s", pk->name);
    setf(&vs, "pkname", "%s", pk->name);
    sb ke = {0}, te = {0};
    sb_printf(&ke, "%s%s:{%s}", prefix, entity_key(en), pk->name);
    sb_printf(&te, "%s:{%s}", entity_key(en), pk->name);
    set(&vs, "key_example", comment_safe(sb_take(&ke)));
    set(&vs, "tag_example", comment_safe(sb_take(&te)));
    char *coll = collection_of(en);
    sb cc = {0};
    sb_cstr(&cc, coll);
    set(&vs, "collection_c", sb_take(&cc));
    set(&vs, "collection", comment_safe(coll));
    set(&vs, "ttl", ttl_expr(en->has_ttl ? en->ttl_ms : m->ttl_ms, en->has_ttl || m->has_ttl));
    if (pk->type.base == HCG_TEXT) {
        setf(&vs, "check_pk", "    if (!%s) return HC_EINVAL;\n", pk->name);
        setf(&vs, "check_upk", "    if (!u->%s) return HC_EINVAL;\n", pk->name);
    } else {
        set(&vs, "check_pk", xstrdup(""));
        set(&vs, "check_upk", xstrdup(""));
    }
    set(&vs, "line", line_of(e, en->off));
    set(&vs, "endline", end_line(e));
    expand(e, h, "entity.h.tmpl", &vs);
    expand(e, c, "entity.c.tmpl", &vs);
    free(prefix);
    vars_free(&vs);
}

/* ------------------------------------------------------- scalar lists */

/* Results of the form T[] with T scalar get a list type each, made once. */
static void emit_lists(emitter *e, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    bool done_scalar[HCG_ENTITY + 1] = {false};
    bool *done_entity = calloc(m->entities.n + 1, sizeof *done_entity);
    if (!done_entity) {
        fprintf(stderr, "hcachegen: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < m->decls.n; i++) {
        const hcg_decl *d = m->decls.v[i];
        if (!d->has_result || !d->result.list) continue;
        const hcg_type *t = &d->result;
        vars vs = {{{0}}, 0};
        sb L = {0};
        list_c(e, &L, t);
        set(&vs, "L", sb_take(&L));
        if (t->base == HCG_ENTITY) {
            if (done_entity[t->entity->index]) { vars_free(&vs); continue; }
            done_entity[t->entity->index] = true;
            setf(&vs, "enc_item", "%s_%s__enc(out, &l->items[i])", m->name, t->entity->name);
            setf(&vs, "dec_item", "%s_%s__dec_into(d, &l->items[l->len], false)", m->name, t->entity->name);
            expand(e, c, "listcodec.c.tmpl", &vs);
            vars_free(&vs);
            continue;
        }
        if (done_scalar[t->base]) { vars_free(&vs); continue; }
        done_scalar[t->base] = true;
        setf(&vs, "what", "%s values", t->name);
        setf(&vs, "item", "%s%s", scalar_c(t->base), t->base == HCG_TEXT ? "" : " ");
        sb ci = {0}, ei = {0}, di = {0};
        if (t->base == HCG_TEXT)
            sb_puts(&ci, "    for (size_t i = 0; i < l->len; i++) free(l->items[i]);\n");
        else if (t->base == HCG_BLOB)
            sb_puts(&ci, "    for (size_t i = 0; i < l->len; i++) free(l->items[i].data);\n");
        enc_scalar(&ei, t->base, "l->items[i]");
        dec_scalar(&di, t->base, "d", "l->items[l->len]");
        set(&vs, "clear_items", sb_take(&ci));
        set(&vs, "enc_item", sb_take(&ei));
        set(&vs, "dec_item", sb_take(&di));
        expand(e, h, "list.h.tmpl", &vs);
        expand(e, c, "list.c.tmpl", &vs);
        expand(e, c, "listcodec.c.tmpl", &vs);
        vars_free(&vs);
    }
    free(done_entity);
}

/* ------------------------------------------- policies and cacheables */

/* Is the stored value an option (0x00 absent, 0x01 then the value)? Entity
   keys always hold one, so every declaration sharing the key agrees. */
static bool stored_as_option(const hcg_decl *d)
{
    return d->result.nullable || d->entity != NULL;
}

/* The out-parameter: "int64_t *out", "char **out", "shop_user *out". */
static void out_param(const emitter *e, sb *b, const hcg_decl *d)
{
    result_c(e, b, &d->result);
    sb_puts(b, d->result.base == HCG_TEXT && !d->result.list ? "*out" : " *out");
}

/* The comma-separated parameter declarations, with a leading ", ". */
static void params_tail(sb *b, const hcg_decl *d)
{
    for (size_t i = 0; i < d->params.n; i++) {
        sb_puts(b, ", ");
        param_decl(b, d->params.v[i]);
    }
}

/* The parameter names as a call passes them from struct a. */
static void args_from(sb *b, const hcg_decl *d, bool leading_comma)
{
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        sb_printf(b, "%shc_a->%s", i || leading_comma ? ", " : "", p->name);
    }
}

/* Is the user's infallible loader a function returning T? (Scalars and
   text are returned; entities, lists and blobs are filled through out.) */
static bool returns_value(const hcg_decl *d)
{
    return !d->result.list && d->result.base != HCG_ENTITY && d->result.base != HCG_BLOB;
}

/* Checks of the parameters a caller passes: text that must not be NULL,
   blobs whose length has no data. */
static void check_args(sb *b, const hcg_decl *d)
{
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        if (p->type.nullable) continue;
        if (p->type.base == HCG_TEXT)
            sb_printf(b, "    if (!%s) return hc_error_set(err, HC_EINVAL, \"%s is NULL\");\n", p->name, p->name);
        if (p->type.base == HCG_BLOB)
            sb_printf(b, "    if (!%s.data && %s.len) return hc_error_set(err, HC_EINVAL, \"%s has no data\");\n",
                      p->name, p->name, p->name);
    }
}

/* The most bytes a value of this parameter adds to a key, or 0 when there
   is no bound (text, blob). */
static size_t param_bound(const hcg_field *p)
{
    switch (p->type.base) {
    case HCG_I32: case HCG_I64: case HCG_U32: case HCG_U64: return 20;   /* "-9223372036854775808" */
    case HCG_F64: return 32;                                             /* %.17g, "-inf", "nan" */
    case HCG_BOOL: return 5;
    default: return 0;
    }
}

/* The size of a buffer that holds d's physical key and its terminator, or 0
   when the key's length has no bound. */
static size_t key_bound(const hcg_module *m, const hcg_decl *d)
{
    char *prefix = key_prefix(m);
    size_t n = strlen(prefix) + 1;
    free(prefix);
    if (d->entity) return param_bound(d->entity_param) ? n + strlen(entity_key(d->entity)) + 1 + param_bound(d->entity_param) : 0;
    for (size_t i = 0; i < d->key_tmpl.pieces.n; i++) {
        const hcg_piece *p = d->key_tmpl.pieces.v[i];
        size_t k = p->text ? strlen(p->text) : param_bound(p->param);
        if (!k && !p->text) return 0;
        n += k;
    }
    return n;
}

static void emit_decl(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    const char *kind = d->kind == HCG_POLICY ? "policy" : d->kind == HCG_QUERY ? "query" : "cacheable";
    sb fb = {0};
    sb_printf(&fb, "%s_%s", m->name, d->name);
    const char *F = fb.s;
    setf(&vs, "F", "%s", F);
    setf(&vs, "kind", "%s", kind);
    setf(&vs, "name", "%s", d->name);
    /* The per-declaration counters' descriptor (hc_decl). */
    setf(&vs, "module", "%s", m->name);
    setf(&vs, "decl_kind", "%s", d->kind == HCG_POLICY ? "HC_DECL_POLICY"
                                 : d->kind == HCG_QUERY ? "HC_DECL_QUERY" : "HC_DECL_CACHEABLE");
    sb lab = {0};
    if (d->label.s) sb_printf(&lab, " (\"%s\")", d->label.s);
    set(&vs, "label", comment_safe(sb_take(&lab)));
    sb R = {0};
    result_c(e, &R, &d->result);
    set(&vs, "R", sb_take(&R));

    /* ---- prototypes */
    sb pr = {0}, params = {0};
    sb_puts(&params, d->kind == HCG_QUERY ? "hc_cache *c, hc_db *db" : "hc_cache *c");
    params_tail(&params, d);
    if (d->kind == HCG_POLICY) sb_printf(&params, ", %s_loader load, void *ctx", F);
    sb_puts(&params, ", ");
    out_param(e, &params, d);
    if (!d->infallible) sb_puts(&params, ", hc_error *err");
    const char *absent = d->result.nullable ? " | HC_MISS" : "";
    if (d->kind == HCG_POLICY) {
        sb_printf(&pr, "/* The loader you pass: fill out and return HC_OK%s, or an HC_E* code\n"
                       "   with err filled. */\n", d->result.nullable ? ", return HC_MISS for \"none\" (cached too)" : "");
        sb_printf(&pr, "typedef int (*%s_loader)(void *ctx", F);
        params_tail(&pr, d);
        sb_puts(&pr, ", ");
        out_param(e, &pr, d);
        sb_puts(&pr, ", hc_error *err);\n");
        sb_printf(&pr, "/* HC_OK%s, or the loader's error, or a cache error (HC_ETIMEDOUT...). */\n", absent);
        sb_printf(&pr, "int %s(%s);", F, params.s);
    } else if (d->kind == HCG_QUERY) {
        sb_printf(&pr, "/* HC_OK%s, %sHC_EDB with the database's message, or a cache\n"
                       "   error (HC_ETIMEDOUT...). A failed query stores nothing. */\n",
                  d->result.nullable ? " | HC_MISS (no row: the absence is cached too)" : "",
                  d->result.list || d->result.nullable ? "" : "HC_ENOTFOUND (no row: nothing cached), ");
        sb_printf(&pr, "int %s(%s);\n", F, params.s);
        sb_puts(&pr, "/* The same statement without the cache: no key, no single-flight. */\n");
        sb_printf(&pr, "int %s_direct(hc_db *db", F);
        params_tail(&pr, d);
        sb_puts(&pr, ", ");
        out_param(e, &pr, d);
        sb_puts(&pr, ", hc_error *err);");
    } else if (!d->infallible) {
        sb_printf(&pr, "/* HC_OK%s, or the loader's error, or a cache error (HC_ETIMEDOUT...). */\n", absent);
        sb_printf(&pr, "int %s(%s);\n", F, params.s);
        sb_printf(&pr, "/* You write this one: fill out and return HC_OK%s, or an HC_E* code\n"
                       "   with err filled. It runs once per miss, under single-flight. */\n",
                  d->result.nullable ? " (HC_MISS for \"none\", cached too)" : "");
        sb_printf(&pr, "int %s_load(", F);
        for (size_t i = 0; i < d->params.n; i++) {
            if (i) sb_puts(&pr, ", ");
            param_decl(&pr, d->params.v[i]);
        }
        sb_puts(&pr, d->params.n ? ", " : "");
        out_param(e, &pr, d);
        sb_puts(&pr, ", hc_error *err);");
    } else {
        sb_printf(&pr, "/* HC_OK, or a cache error (HC_ENOMEM, HC_ETIMEDOUT). */\n");
        sb_printf(&pr, "int %s(%s);\n", F, params.s);
        sb_puts(&pr, "/* You write this one; it cannot fail. It runs once per miss. */\n");
        sb pl = {0};
        for (size_t i = 0; i < d->params.n; i++) {
            if (i) sb_puts(&pl, ", ");
            param_decl(&pl, d->params.v[i]);
        }
        if (returns_value(d)) {
            sb rt = {0};
            result_c(e, &rt, &d->result);
            sb_printf(&pr, "%s%s%s_load(%s);", rt.s, d->result.base == HCG_TEXT ? "" : " ", F,
                      d->params.n ? pl.s : "void");
            free(rt.s);
        } else {
            sb_printf(&pr, "void %s_load(%s%s", F, d->params.n ? pl.s : "", d->params.n ? ", " : "");
            out_param(e, &pr, d);
            sb_puts(&pr, ");");
        }
        free(pl.s);
    }
    set(&vs, "protos", sb_take(&pr));
    set(&vs, "params", sb_take(&params));

    /* ---- keys and tags */
    char *prefix = key_prefix(m);
    sb kd = {0}, bk = {0}, bt = {0}, td = {0};
    size_t ntags = d->tag_tmpls.n;
    if (d->entity) {
        const hcg_entity *en = d->entity;
        sb_printf(&kd, "%s%s:{%s}", prefix, entity_key(en), d->entity_param->name);
        entity_key_code(&bk, m, en, d->entity_param, "&hc_key", true, "");
        entity_key_code(&bt, m, en, d->entity_param, "&hc_tagb[0]", false, "hc_a->");
        char *coll = collection_of(en);
        key_literal(&bt, "&hc_tagb[1]", coll);
        sb_printf(&td, ", tags \"%s:{%s}\", \"%s\"", entity_key(en), d->entity_param->name, coll);
        free(coll);
        ntags += 2;
    } else {
        sb_puts(&kd, prefix);
        template_doc(&kd, &d->key_tmpl);
        build_template(&bk, &d->key_tmpl, "&hc_key", prefix, "");
    }
    size_t first = d->entity ? 2 : 0;
    for (size_t i = 0; i < d->tag_tmpls.n; i++) {
        char k[32];
        snprintf(k, sizeof k, "&hc_tagb[%zu]", first + i);
        build_template(&bt, d->tag_tmpls.v[i], k, "", "hc_a->");
        sb_puts(&td, i == 0 && !d->entity ? ", tags \"" : ", \"");
        template_doc(&td, d->tag_tmpls.v[i]);
        sb_puts(&td, "\"");
    }
    for (size_t i = 0; i < ntags; i++)
        sb_printf(&bt, "    hc_tags[%zu] = (const char *)hc_tagb[%zu].data;\n", i, i);
    set(&vs, "key_doc", comment_safe(sb_take(&kd)));
    set(&vs, "tags_doc", comment_safe(sb_take(&td)));
    set(&vs, "build_key", sb_take(&bk));
    /* A key whose length has a bound (no text or blob in it) is built in
       a stack array: hc_buf_reserve reallocates only when room runs short,
       which it cannot, so the buffer is neither grown nor freed. */
    size_t bound = key_bound(m, d);
    if (bound) {
        setf(&vs, "key_decl", "    uint8_t hc_kmem[%zu] = {0};         /* the longest key fits */\n"
                              "    hc_buf hc_key = {hc_kmem, 0, sizeof hc_kmem};\n", bound);
        set(&vs, "free_key", xstrdup(""));
    } else {
        set(&vs, "key_decl", xstrdup("    hc_buf hc_key = HC_BUF_INIT;\n"));
        set(&vs, "free_key", xstrdup("    hc_buf_free(&hc_key);\n"));
    }
    set(&vs, "build_tags", sb_take(&bt));
    setf(&vs, "ntags", "%zu", ntags);
    setf(&vs, "ntags_dim", "%zu", ntags ? ntags : 1);
    bool has_ttl = d->has_ttl || (d->entity && d->entity->has_ttl) || m->has_ttl;
    uint64_t ttl = d->has_ttl ? d->ttl_ms : d->entity && d->entity->has_ttl ? d->entity->ttl_ms : m->ttl_ms;
    set(&vs, "ttl", ttl_expr(ttl, has_ttl));
    free(prefix);

    /* ---- arguments and checks */
    sb af = {0}, sa = {0}, cp = {0};
    sb_puts(&cp, d->kind == HCG_POLICY ? "    if (!c || !out || !load) return hc_error_set(err, HC_EINVAL, NULL);\n"
                 : d->kind == HCG_QUERY ? "    if (!c || !db || !out) return hc_error_set(err, HC_EINVAL, NULL);\n"
                                        : "    if (!c || !out) return hc_error_set(err, HC_EINVAL, NULL);\n");
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        sb_puts(&af, "    ");
        param_decl(&af, p);
        sb_puts(&af, ";\n");
        sb_printf(&sa, "    hc_a.%s = %s;\n", p->name, p->name);
    }
    check_args(&cp, d);
    if (d->kind == HCG_POLICY) {
        sb_printf(&af, "    %s_loader load;\n    void *ctx;\n", F);
        sb_puts(&sa, "    hc_a.load = load;\n    hc_a.ctx = ctx;\n");
    }
    if (d->kind == HCG_QUERY) {
        sb_puts(&af, "    hc_db *db;\n");
        sb_puts(&sa, "    hc_a.db = db;\n");
    }
    if (!af.len) sb_puts(&af, "    char none;                  /* C has no empty structs */\n");
    set(&vs, "void_a", xstrdup(d->params.n || d->kind != HCG_CACHEABLE ? "" : "    (void)hc_a;\n"));
    set(&vs, "arg_fields", sb_take(&af));
    set(&vs, "set_args", sb_take(&sa));
    set(&vs, "check_params", sb_take(&cp));
    set(&vs, "err_setup", xstrdup(d->infallible ? "    hc_error hc_local, *err = &hc_local;\n"
                                                : "    hc_error hc_local;\n    if (!err) err = &hc_local;\n"));

    /* ---- the fill function's call */
    sb call = {0}, ev = {0}, cv = {0};
    bool opt = stored_as_option(d);
    if (opt) sb_puts(&ev, "hc_enc_option(out, true);\n    if (hc_rc == HC_OK) hc_rc = ");
    enc_value(e, &ev, &d->result, "hc_v");
    if (d->kind == HCG_POLICY) {
        sb_puts(&call, "    int hc_rc = hc_a->load(hc_a->ctx");
        args_from(&call, d, true);
        sb_puts(&call, ", &hc_v, err);\n");
    } else if (d->kind == HCG_QUERY) {
        sb_printf(&call, "    int hc_rc = %s_direct(hc_a->db", F);
        args_from(&call, d, true);
        sb_puts(&call, ", &hc_v, err);\n");
    } else if (!d->infallible) {
        sb_printf(&call, "    int hc_rc = %s_load(", F);
        args_from(&call, d, false);
        sb_printf(&call, "%s&hc_v, err);\n", d->params.n ? ", " : "");
    } else if (returns_value(d)) {
        sb_puts(&call, "    int hc_rc = HC_OK;\n    (void)err;\n");
        sb_printf(&call, "    hc_v = %s_load(", F);
        args_from(&call, d, false);
        sb_puts(&call, ");\n");
        if (d->result.base == HCG_TEXT)
            sb_printf(&call, "    if (!hc_v) hc_rc = hc_error_set(err, HC_ENOMEM, \"%s_load returned NULL\");\n", F);
    } else {
        sb_puts(&call, "    int hc_rc = HC_OK;\n    (void)err;\n");
        sb_printf(&call, "    %s_load(", F);
        args_from(&call, d, false);
        sb_printf(&call, "%s&hc_v);\n", d->params.n ? ", " : "");
    }
    if (!d->infallible) {
        sb_printf(&call, "    if (hc_rc == HC_OK) hc_rc = %s;\n", ev.s);
        if (d->result.nullable)
            sb_puts(&call, "    else if (hc_rc == HC_MISS) hc_rc = hc_enc_option(out, false);   /* absence is cached */\n");
        else
        {
            sb_puts(&call, "    else if (hc_rc == HC_MISS) hc_rc = hc_error_set(err, HC_ENOTFOUND, \"%s found nothing\", ");
            sb_cstr(&call, d->label.s ? d->label.s : d->name);
            sb_puts(&call, ");\n");
        }
    } else {
        sb_printf(&call, "    if (hc_rc == HC_OK) hc_rc = %s;\n", ev.s);
    }
    free(ev.s);
    if (d->result.list || owned(d->result.base)) clear_value(e, &cv, &d->result, "hc_v", "    ");
    set(&vs, "call", sb_take(&call));
    set(&vs, "clear_v", sb_take(&cv));
    setf(&vs, "loader_what", "%s", d->kind == HCG_POLICY ? "caller's loader"
                                    : d->kind == HCG_QUERY ? "query without the cache" : "user's function");

    /* ---- decoding what hc_get_or_load returned */
    sb dc = {0}, rt = {0}, co = {0}, cw = {0};
    result_c(e, &rt, &d->result);
    clear_value(e, &co, &d->result, "(*out)", "        ");
    clear_value(e, &cw, &d->result, "hc_v", "        ");
    if (d->result.base == HCG_ENTITY && !d->result.list) {
        /* A struct is decoded over *out, reusing its memory. */
        sb_puts(&dc, "    hc_dec hc_d;\n");
        if (opt) sb_puts(&dc, "    bool hc_some = false;\n");
        sb_puts(&dc, "    hc_dec_init(&hc_d, data, len);\n");
        if (opt) sb_puts(&dc, "    hc_rc = hc_dec_option(&hc_d, &hc_some);\n"
                              "    if (hc_rc == HC_OK && hc_some) return ");
        else sb_puts(&dc, "    hc_rc = ");
        sb_printf(&dc, "%s_%s__dec_into(&hc_d, out, true);\n", e->m->name, d->result.entity->name);
        if (opt) {
            sb_puts(&dc, "    if (hc_rc == HC_OK) hc_rc = hc_dec_finish(&hc_d);\n");
            if (d->result.nullable)
                sb_puts(&dc, "    if (hc_rc == HC_OK) hc_rc = HC_MISS;                /* cached absence */\n");
            else
                sb_printf(&dc, "    if (hc_rc == HC_OK) hc_rc = hc_error_set(err, HC_ENOTFOUND, \"no %s\");\n",
                          d->entity->name);
        }
        goto decoded;
    }
    sb_printf(&dc, "    hc_dec hc_d;\n    %s%shc_v;\n", rt.s, d->result.base == HCG_TEXT && !d->result.list ? "" : " ");
    if (opt) sb_puts(&dc, "    bool hc_some = false;\n");
    sb_puts(&dc, "    memset(&hc_v, 0, sizeof hc_v);\n    hc_dec_init(&hc_d, data, len);\n");
    if (opt) {
        sb_puts(&dc, "    hc_rc = hc_dec_option(&hc_d, &hc_some);\n    if (hc_rc == HC_OK && hc_some) hc_rc = ");
    } else {
        sb_puts(&dc, "    hc_rc = ");
    }
    dec_value(e, &dc, &d->result, "&hc_d", "hc_v");
    sb_puts(&dc, ";\n    if (hc_rc == HC_OK) hc_rc = hc_dec_finish(&hc_d);\n");
    sb_printf(&dc, "    if (hc_rc == HC_OK%s) {\n", opt ? " && hc_some" : "");
    sb_add(&dc, co.s ? co.s : "", co.len);
    sb_puts(&dc, "        *out = hc_v;\n    }");
    if (cw.len || opt) sb_puts(&dc, " else {\n");
    sb_add(&dc, cw.s ? cw.s : "", cw.len);
    if (opt) {
        if (d->result.nullable)
            sb_puts(&dc, "        if (hc_rc == HC_OK) hc_rc = HC_MISS;            /* cached absence */\n");
        else
            sb_printf(&dc, "        if (hc_rc == HC_OK) hc_rc = hc_error_set(err, HC_ENOTFOUND, \"no %s\");\n",
                      d->entity->name);
    }
    sb_puts(&dc, cw.len || opt ? "    }\n" : "\n");
decoded:
    set(&vs, "absent_rc", xstrdup(!opt ? "" : d->result.nullable ? ", HC_MISS (a cached absence)"
                                                                 : ", HC_ENOTFOUND (a cached absence)"));
    free(rt.s);
    free(co.s);
    free(cw.s);
    set(&vs, "decode", sb_take(&dc));
    set(&vs, "line", line_of(e, d->off));
    set(&vs, "endline", end_line(e));
    expand(e, h, "cached.h.tmpl", &vs);
    expand(e, c, "cached.c.tmpl", &vs);
    vars_free(&vs);
    free(fb.s);
}

/* ------------------------------------------------------------ database */

static const char *sql_type(hcg_base b)
{
    static const char *const name[] = {
        [HCG_I32] = "HC_SQL_I32", [HCG_I64] = "HC_SQL_I64", [HCG_U32] = "HC_SQL_U32",
        [HCG_U64] = "HC_SQL_U64", [HCG_F64] = "HC_SQL_F64", [HCG_BOOL] = "HC_SQL_BOOL",
        [HCG_TEXT] = "HC_SQL_TEXT", [HCG_BLOB] = "HC_SQL_BLOB",
    };
    return name[b];
}

/* The suffix of the hc_stmt_col_* reader for a base type. */
static const char *col_fn(hcg_base b)
{
    static const char *const fn[] = {
        [HCG_I32] = "i32", [HCG_I64] = "i64", [HCG_U32] = "u32", [HCG_U64] = "u64",
        [HCG_F64] = "f64", [HCG_BOOL] = "bool", [HCG_TEXT] = "text", [HCG_BLOB] = "blob",
    };
    return fn[b];
}

/* The statement's constants: $types$, $sqlite$, $postgres$, $nparams$. */
static void set_sql(emitter *e, vars *vs, const hcg_decl *d)
{
    const hcg_module *m = e->m;
    sb t = {0}, lite = {0}, pg = {0};
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        sb_printf(&t, "%s%s", i ? ", " : "", sql_type(p->type.base));
    }
    if (!d->params.n) sb_puts(&t, "0");
    sb_cstr(&lite, hcg_sql_rewrite(m, d, hcg_sql_for(d, HCG_SQLITE)->s, HCG_SQLITE, NULL));
    sb_cstr(&pg, hcg_sql_rewrite(m, d, hcg_sql_for(d, HCG_POSTGRES)->s, HCG_POSTGRES, NULL));
    set(vs, "types", sb_take(&t));
    set(vs, "sqlite", sb_take(&lite));
    set(vs, "postgres", sb_take(&pg));
    setf(vs, "nparams", "%zu", d->params.n);
}

/* Statements binding every parameter, in declaration order, to hc_s. */
static void bind_params(sb *b, const hcg_decl *d)
{
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        const char *x = p->name;
        unsigned n = (unsigned)i + 1;
        bool ptr = p->type.nullable && p->type.base != HCG_TEXT;   /* const T *x, NULL: null */
        sb_puts(b, "    if (hc_rc == HC_OK) hc_rc = ");
        if (ptr) sb_printf(b, "!%s ? hc_stmt_bind_null(hc_s, %u) : ", x, n);
        const char *v = x;
        char deref[128];
        if (ptr) {
            snprintf(deref, sizeof deref, "*%s", x);
            v = deref;
        }
        switch (p->type.base) {
        case HCG_I32: case HCG_I64: sb_printf(b, "hc_stmt_bind_i64(hc_s, %u, (int64_t)%s);\n", n, v); break;
        case HCG_U32: case HCG_U64: sb_printf(b, "hc_stmt_bind_u64(hc_s, %u, (uint64_t)%s);\n", n, v); break;
        case HCG_F64: sb_printf(b, "hc_stmt_bind_f64(hc_s, %u, %s);\n", n, v); break;
        case HCG_BOOL: sb_printf(b, "hc_stmt_bind_bool(hc_s, %u, %s);\n", n, v); break;
        case HCG_TEXT: sb_printf(b, "hc_stmt_bind_text(hc_s, %u, %s);\n", n, x); break;
        case HCG_BLOB:
            if (ptr) sb_printf(b, "hc_stmt_bind_blob(hc_s, %u, %s->data, %s->len);\n", n, x, x);
            else sb_printf(b, "hc_stmt_bind_blob(hc_s, %u, %s.data, %s.len);\n", n, x, x);
            break;
        default: break;
        }
    }
}

/* Does some query return this entity (so it needs a row reader)? */
static bool entity_read(const hcg_module *m, const hcg_entity *en)
{
    for (size_t i = 0; i < m->decls.n; i++) {
        const hcg_decl *d = m->decls.v[i];
        if (d->kind == HCG_QUERY && d->result.base == HCG_ENTITY && d->result.entity == en) return true;
    }
    return false;
}

/* Each entity a query returns gets a reader of one row: columns map to the
   fields by position. */
static void emit_rows(emitter *e, sb *c)
{
    const hcg_module *m = e->m;
    for (size_t i = 0; i < m->entities.n; i++) {
        const hcg_entity *en = m->entities.v[i];
        if (!entity_read(m, en)) continue;
        vars vs = {{{0}}, 0};
        sb cols = {0};
        bool dummy = false;
        for (size_t k = 0; k < en->fields.n; k++) {
            const hcg_field *f = en->fields.v[k];
            const char *flag = "NULL";
            char fb[160];
            if (f->type.nullable && f->type.base == HCG_TEXT) {
                flag = "&hc_null";           /* a NULL text reads as NULL */
                dummy = true;
            } else if (f->type.nullable) {
                snprintf(fb, sizeof fb, "&u->%s_is_null", f->name);
                flag = fb;
            }
            sb_printf(&cols, "    if (hc_rc == HC_OK) hc_rc = hc_stmt_col_%s(hc_s, %zu, &u->%s, %s);\n",
                      col_fn(f->type.base), k, f->name, flag);
        }
        setf(&vs, "T", "%s_%s", m->name, en->name);
        setf(&vs, "name", "%s", en->name);
        set(&vs, "null_dummy", xstrdup(dummy ? "    bool hc_null;\n" : ""));
        set(&vs, "cols", sb_take(&cols));
        set(&vs, "line", line_of(e, en->off));
        set(&vs, "endline", end_line(e));
        expand(e, c, "row.c.tmpl", &vs);
        vars_free(&vs);
    }
}

/* Statements reading one result value of the current row into the lvalue
   x: an entity's row, or column 0. */
static void read_value(const emitter *e, sb *b, const hcg_type *t, const char *x, const char *indent)
{
    if (t->base == HCG_ENTITY)
        sb_printf(b, "%sif (hc_rc == HC_OK) hc_rc = %s_%s__row(hc_s, &%s);\n", indent, e->m->name, t->entity->name, x);
    else
        sb_printf(b, "%sif (hc_rc == HC_OK) hc_rc = hc_stmt_col_%s(hc_s, 0, &%s, %s);\n", indent,
                  col_fn(t->base), x, t->nullable && !t->list ? "&hc_null" : "NULL");
}

/* A query's uncached function, <name>_direct. */
static void emit_direct(emitter *e, const hcg_decl *d, sb *c)
{
    const hcg_module *m = e->m;
    const hcg_type *t = &d->result;
    vars vs = {{{0}}, 0};
    setf(&vs, "F", "%s_%s", m->name, d->name);
    setf(&vs, "name", "%s", d->name);
    set_sql(e, &vs, d);
    sb dp = {0}, cp = {0}, bind = {0}, fetch = {0}, fin = {0}, R = {0};
    sb_puts(&dp, "hc_db *db");
    params_tail(&dp, d);
    sb_puts(&dp, ", ");
    out_param(e, &dp, d);
    sb_puts(&dp, ", hc_error *err");
    sb_puts(&cp, "    if (!db || !out) return hc_error_set(err, HC_EINVAL, NULL);\n");
    check_args(&cp, d);
    bind_params(&bind, d);
    result_c(e, &R, t);
    if (t->list) {
        sb_puts(&fetch, "    size_t hc_cap = 0;\n"
                        "    while (hc_rc == HC_OK && (hc_rc = hc_stmt_step(hc_s)) == HC_OK) {\n"
                        "        if (hc_v.len == hc_cap) {\n"
                        "            size_t hc_n = hc_cap ? 2 * hc_cap : 8;\n"
                        "            void *hc_p = hc_n <= SIZE_MAX / sizeof *hc_v.items ? realloc(hc_v.items, hc_n * sizeof *hc_v.items) : NULL;\n"
                        "            if (!hc_p) {\n"
                        "                hc_rc = hc_error_set(err, HC_ENOMEM, NULL);\n"
                        "                break;\n"
                        "            }\n"
                        "            hc_v.items = hc_p;\n"
                        "            hc_cap = hc_n;\n"
                        "        }\n"
                        "        memset(&hc_v.items[hc_v.len], 0, sizeof hc_v.items[0]);\n");
        read_value(e, &fetch, t, "hc_v.items[hc_v.len++]", "        ");
        sb_puts(&fetch, "    }\n    if (hc_rc == HC_DONE) hc_rc = HC_OK;        /* no more rows */\n");
    } else {
        if (t->base != HCG_ENTITY && t->nullable) sb_puts(&fetch, "    bool hc_null = false;\n");
        sb_puts(&fetch, "    if (hc_rc == HC_OK) hc_rc = hc_stmt_step(hc_s);\n"
                        "    if (hc_rc == HC_DONE) hc_rc = HC_MISS;        /* no row */\n");
        read_value(e, &fetch, t, "hc_v", "    ");
        if (t->base != HCG_ENTITY && t->nullable)
            sb_puts(&fetch, "    if (hc_rc == HC_OK && hc_null) hc_rc = HC_MISS;   /* a NULL is \"none\" */\n");
    }
    sb co = {0}, cv = {0};
    clear_value(e, &co, t, "(*out)", "        ");
    clear_value(e, &cv, t, "hc_v", "        ");
    sb_printf(&fin, "    if (hc_rc == HC_OK) {\n%s        *out = hc_v;\n    }", co.s ? co.s : "");
    if (cv.len || (!t->list && !t->nullable)) {
        sb_printf(&fin, " else {\n%s", cv.s ? cv.s : "");
        if (!t->list && !t->nullable) {
            sb_puts(&fin, "        if (hc_rc == HC_MISS) hc_rc = hc_error_set(err, HC_ENOTFOUND, \"%s: no row\", ");
            sb_cstr(&fin, vs.v[0].value);
            sb_puts(&fin, ");\n");
        }
        sb_puts(&fin, "    }\n");
    } else {
        sb_puts(&fin, "\n");
    }
    free(co.s);
    free(cv.s);
    set(&vs, "dparams", sb_take(&dp));
    set(&vs, "check_dparams", sb_take(&cp));
    set(&vs, "bind", sb_take(&bind));
    set(&vs, "fetch", sb_take(&fetch));
    set(&vs, "finish", sb_take(&fin));
    setf(&vs, "R", "%s%s", R.s, t->base == HCG_TEXT && !t->list ? "" : " ");
    free(R.s);
    set(&vs, "line", line_of(e, d->off));
    set(&vs, "endline", end_line(e));
    expand(e, c, "direct.c.tmpl", &vs);
    vars_free(&vs);
}

static void emit_exec(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    setf(&vs, "F", "%s_%s", m->name, d->name);
    setf(&vs, "name", "%s", d->name);
    set_sql(e, &vs, d);
    sb params = {0}, cp = {0}, bind = {0}, inv = {0}, doc = {0}, decl = {0};
    sb_puts(&params, "hc_cache *c, hc_db *db");
    params_tail(&params, d);
    sb_puts(&params, ", int64_t *changes, hc_error *err");
    sb_puts(&cp, "    if (!c || !db) return hc_error_set(err, HC_EINVAL, NULL);\n");
    check_args(&cp, d);
    bind_params(&bind, d);
    /* The tags are built once the write is done, into hc_tag[i]; if one
       cannot be (out of memory), hc_exec_end_flush flushes instead. */
    size_t n = d->inv_tmpls.n;
    if (n) {
        sb_printf(&decl, "    hc_buf hc_tag[%zu] = {", n);
        for (size_t i = 0; i < n; i++) sb_puts(&decl, i ? ", HC_BUF_INIT" : "HC_BUF_INIT");
        sb_printf(&decl, "};\n    const char *hc_tags[%zu];\n    int hc_wrc;\n", n);
        sb_puts(&inv, "    hc_wrc = hc_rc;                            /* the write's result */\n");
    }
    for (size_t i = 0; i < n; i++) {
        const hcg_template *t = d->inv_tmpls.v[i];
        char k[32];
        snprintf(k, sizeof k, "&hc_tag[%zu]", i);
        build_template(&inv, t, k, "", "");
        sb_printf(&inv, "    hc_tags[%zu] = (const char *)hc_tag[%zu].data;\n", i, i);
        sb_puts(&doc, i ? ", \"" : "\"");
        template_doc(&doc, t);
        sb_puts(&doc, "\"");
    }
    if (n) {
        sb_printf(&inv, "    hc_rc = hc_rc == HC_OK ? hc_exec_end(c, db, hc_tx, hc_wrc, hc_tags, %zu, err)\n"
                        "                          : hc_exec_end_flush(c, db, hc_tx, hc_wrc, err);\n", n);
        for (size_t i = 0; i < n; i++) sb_printf(&inv, "    hc_buf_free(&hc_tag[%zu]);\n", i);
        sb_puts(&inv, "    return hc_rc;\n");
    } else {
        sb_puts(&doc, "nothing");
        sb_puts(&inv, "    return hc_exec_end(c, db, hc_tx, hc_rc, NULL, 0, err);\n");
    }
    set(&vs, "params", sb_take(&params));
    set(&vs, "check_params", sb_take(&cp));
    set(&vs, "bind", sb_take(&bind));
    set(&vs, "invalidate", sb_take(&inv));
    set(&vs, "tag_decls", sb_take(&decl));
    set(&vs, "inv_doc", comment_safe(sb_take(&doc)));
    set(&vs, "line", line_of(e, d->off));
    set(&vs, "endline", end_line(e));
    expand(e, h, "exec.h.tmpl", &vs);
    expand(e, c, "exec.c.tmpl", &vs);
    vars_free(&vs);
}

/* ------------------------------------------------------------- files */

int hcg_emit(const hcg_module *m, const hcg_emit_opts *o, hcg_output *out)
{
    emitter e = {m, o, 0};
    sb h = {0}, c = {0};
    for (size_t i = 0; i < m->entities.n; i++) emit_entity(&e, m->entities.v[i], &h, &c);
    emit_lists(&e, &h, &c);
    emit_rows(&e, &c);
    for (size_t i = 0; i < m->decls.n; i++) {
        const hcg_decl *d = m->decls.v[i];
        if (d->kind == HCG_EXEC) {
            emit_exec(&e, d, &h, &c);
            continue;
        }
        if (d->kind == HCG_QUERY) emit_direct(&e, d, &c);
        emit_decl(&e, d, &h, &c);
    }

    vars vs = {{{0}}, 0};
    setf(&vs, "version", "%s", HCG_VERSION);
    const char *base = strrchr(o->source_path, '/');
    set(&vs, "source", comment_safe(xstrdup(base ? base + 1 : o->source_path)));
    setf(&vs, "header", "%s", o->header_name);
    sb g = {0};
    for (const char *p = o->header_name; *p; p++)
        sb_printf(&g, "%c", (*p >= 'a' && *p <= 'z') ? *p - 'a' + 'A'
                            : ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ? *p : '_');
    if (g.s[0] >= '0' && g.s[0] <= '9') {
        sb g2 = {0};
        sb_printf(&g2, "HC_%s", g.s);
        free(g.s);
        g = g2;
    }
    set(&vs, "guard", sb_take(&g));
    /* The runtimes this code compiles against: in 0.x a minor release may
       change the API, so [0.minor.0, 0.(minor+1).0); from 1.0 on, the same
       major: [major.minor.0, (major+1).0.0). */
    long major = HC_VERSION_MAJOR, minor = HC_VERSION_MINOR;
    setf(&vs, "min_version", "%ld", major * 1000000 + minor * 1000);
    setf(&vs, "max_version", "%ld", major == 0 ? (minor + 1) * 1000 : (major + 1) * 1000000);
    set(&vs, "body", sb_take(&h));
    sb hdr = {0};
    expand(&e, &hdr, "header.h.tmpl", &vs);
    set(&vs, "body", sb_take(&c));
    sb src = {0};
    expand(&e, &src, "source.c.tmpl", &vs);
    vars_free(&vs);
    if (e.failed) {
        free(hdr.s);
        free(src.s);
        return -1;
    }
    out->header = finish_lines(sb_take(&hdr), o->header_name, o->lines);
    char *cname = xstrdup(o->header_name);
    cname[strlen(cname) - 1] = 'c';
    out->source = finish_lines(sb_take(&src), cname, o->lines);
    free(cname);
    return 0;
}
