/*
** emit.c -- fill the templates from a checked module.
**
** The templates (the .tmpl files in templates/, built into hcachegen, or
** --templates DIR) hold the shape of the output; this file computes the
** pieces that depend on the declarations (fields, codecs, key building,
** parameter lists) and substitutes them for $name$ placeholders, as
** protobuf's printer does. "$$" is a dollar sign. A template line that is
** nothing but one $name$ is replaced by the value's lines, and disappears
** when the value is empty.
**
** Each kind of declaration has its emitter: emit_entity, emit_lists,
** emit_rows, emit_query (with emit_direct), emit_exec, emit_policy and
** emit_cacheable. A query, policy or cacheable becomes an arguments
** struct, a key and a tags builder, a loader call and a constant
** hc_cached descriptor, which hc_cached_call (runtime/core/cached.c) runs:
** the cached read itself is the runtime's, not the output's.
**
** #line, as bison and re2c use it: only the code and data that come from
** the user's text (a key or tag template, an SQL string, an entity's
** fields) are attributed to the .hcache line they come from, and the very
** next line goes back to the output's own numbering. A "#line @OUT@" line
** does that; it is numbered once the whole file is known.
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
    static struct { char name[64]; char *text; } loaded[64];
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
    if (nloaded < 64) {
        snprintf(loaded[nloaded].name, sizeof loaded[nloaded].name, "%s", name);
        loaded[nloaded++].text = text;
    }
    return text;
}

/* The value of $name$ (n bytes at name), or NULL after reporting. */
static const char *lookup(emitter *e, const char *tmpl, const vars *vs, const char *name, size_t n)
{
    for (int i = 0; i < vs->n; i++)
        if (strlen(vs->v[i].name) == n && memcmp(vs->v[i].name, name, n) == 0) return vs->v[i].value;
    fprintf(stderr, "hcachegen: template %s: unknown variable $%.*s$\n", tmpl, (int)n, name);
    e->failed = 1;
    return NULL;
}

/*
** Append template `name` to out with every $var$ replaced. A line that is
** exactly one $var$ stands for the value's lines: it is left out when the
** value is empty, and ended with a newline when the value is not.
*/
static void expand(emitter *e, sb *out, const char *name, const vars *vs)
{
    const char *t = template_text(e, name);
    bool line_start = true;
    while (*t) {
        if (line_start && t[0] == '$' && t[1] != '$') {
            const char *end = strchr(t + 1, '$');
            if (end && end > t + 1 && (end[1] == '\n' || end[1] == 0)) {
                const char *v = lookup(e, name, vs, t + 1, (size_t)(end - t - 1));
                if (v && *v) {
                    sb_puts(out, v);
                    if (v[strlen(v) - 1] != '\n') sb_puts(out, "\n");
                }
                t = end[1] ? end + 2 : end + 1;
                continue;
            }
        }
        const char *d = strpbrk(t, "$\n");
        if (!d) {
            sb_puts(out, t);
            break;
        }
        if (*d == '\n') {
            sb_add(out, t, (size_t)(d - t) + 1);
            t = d + 1;
            line_start = true;
            continue;
        }
        line_start = false;
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
            const char *v = lookup(e, name, vs, d + 1, n);
            if (v) sb_puts(out, v);
        }
        t = end + 1;
    }
}

/* Expand template `name` into a variable of its own. */
static char *expanded(emitter *e, const char *name, const vars *vs)
{
    sb b = {0};
    expand(e, &b, name, vs);
    return sb_take(&b);
}

/* ------------------------------------------------------------- #line */

/* "#line N "SOURCE"" for the .hcache line holding off; nothing without
   #line. */
static void src_line(const emitter *e, sb *b, size_t off)
{
    if (!e->o->lines) return;
    sb_printf(b, "#line %d ", hcg_line_of(e->m->src, off));
    sb_cstr(b, e->o->source_path);
    sb_puts(b, "\n");
}

/* Back to the output's own lines. */
static void out_line(const emitter *e, sb *b)
{
    if (e->o->lines) sb_puts(b, "#line @OUT@\n");
}

static char *src_line_var(const emitter *e, size_t off)
{
    sb b = {0};
    src_line(e, &b, off);
    return sb_take(&b);
}

static char *out_line_var(const emitter *e)
{
    sb b = {0};
    out_line(e, &b);
    return sb_take(&b);
}

/* Number the "#line @OUT@" lines: each names the line after it. */
static char *finish_lines(char *text, const char *out_name)
{
    sb b = {0};
    int line = 1;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 11 && memcmp(p, "#line @OUT@", 11) == 0) {
            sb_printf(&b, "#line %d ", line + 1);
            sb_cstr(&b, out_name);
            sb_puts(&b, "\n");
        } else {
            sb_add(&b, p, n);
            if (nl) sb_puts(&b, "\n");
        }
        line++;
        if (!nl) break;
        p = nl + 1;
    }
    free(text);
    return sb_take(&b);
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

/* The scalar's name in the runtime and the statement API: "i64". */
static const char *scalar_name(hcg_base b)
{
    static const char *const name[] = {
        [HCG_I32] = "i32", [HCG_I64] = "i64", [HCG_U32] = "u32", [HCG_U64] = "u64",
        [HCG_F64] = "f64", [HCG_BOOL] = "bool", [HCG_TEXT] = "text", [HCG_BLOB] = "blob",
    };
    return b >= HCG_I32 && b <= HCG_BLOB ? name[b] : "?";
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

/* The C type followed by a space unless it ends in '*': "int64_t ",
   "char *", for declarations. */
static char *result_decl(const emitter *e, const hcg_type *t)
{
    sb b = {0};
    result_c(e, &b, t);
    sb_puts(&b, t->base == HCG_TEXT && !t->list ? "" : " ");
    return sb_take(&b);
}

/* A pointer to the result: "shop_user *", "char **". */
static char *result_ptr(const emitter *e, const hcg_type *t)
{
    sb b = {0};
    result_c(e, &b, t);
    sb_puts(&b, t->base == HCG_TEXT && !t->list ? "*" : " *");
    return sb_take(&b);
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

/* Statements that free what a value owns, for a value reached both as the
   lvalue lv and the pointer ptr ("hc_v" and "&hc_v", "*out" and "out"). */
static void clear_value(const emitter *e, sb *b, const hcg_type *t, const char *lv, const char *ptr,
                        const char *indent)
{
    if (t->list) {
        sb_printf(b, "%s", indent);
        list_c(e, b, t);
        sb_printf(b, "_clear(%s);\n", ptr);
    } else if (t->base == HCG_ENTITY) {
        sb_printf(b, "%s%s_%s_clear(%s);\n", indent, e->m->name, t->entity->name, ptr);
    } else if (t->base == HCG_TEXT) {
        sb_printf(b, "%sfree(%s);\n%s%s = NULL;\n", indent, lv, indent, lv);
    } else if (t->base == HCG_BLOB) {
        sb_printf(b, "%sfree(%s.data);\n%s%s.data = NULL;\n%s%s.len = 0;\n", indent, lv, indent, lv, indent, lv);
    }
}

/* The hc_cached_type of a result: the runtime's for a scalar. */
static char *cached_type(const emitter *e, const hcg_type *t)
{
    sb b = {0};
    sb_puts(&b, "&");
    if (t->list) list_c(e, &b, t);
    else if (t->base == HCG_ENTITY) sb_printf(&b, "%s_%s", e->m->name, t->entity->name);
    else sb_printf(&b, "hc_cached_%s", scalar_name(t->base));
    if (t->list || t->base == HCG_ENTITY) sb_puts(&b, "__type");
    return sb_take(&b);
}

/* ------------------------------------------------------------- keys */

/* One guarded statement of a template's line, after those before it. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void step(sb *b, const char *fmt, ...)
{
    if (b->len && b->s[b->len - 1] != '\n' && b->s[b->len - 1] != ' ') sb_puts(b, " ");
    sb_puts(b, "if (hc_rc == HC_OK) hc_rc = ");
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
    sb_puts(b, ";");
}

/* Append parameter p, reached through via ("" for a parameter in scope,
   "hc_a->" for one in an arguments struct), to buffer expression k. */
static void key_param(sb *b, const hcg_field *p, const char *k, const char *via)
{
    const char *x = p->name;
    switch (p->type.base) {
    case HCG_I32: case HCG_I64: step(b, "hc_key_piece_i64(%s, (int64_t)%s%s)", k, via, x); break;
    case HCG_U32: case HCG_U64: step(b, "hc_key_piece_u64(%s, (uint64_t)%s%s)", k, via, x); break;
    case HCG_F64: step(b, "hc_key_piece_f64(%s, %s%s)", k, via, x); break;
    case HCG_BOOL: step(b, "hc_buf_append_str(%s, %s%s ? \"true\" : \"false\")", k, via, x); break;
    case HCG_TEXT: step(b, "hc_key_piece_text(%s, %s%s, strlen(%s%s))", k, via, x, via, x); break;
    case HCG_BLOB: step(b, "hc_key_piece_hex(%s, %s%s.data, %s%s.len)", k, via, x, via, x); break;
    default: break;
    }
}

/* Append literal text to k. Its length is written out: a key is built on
   every read, hits included, and a strlen of each literal was 3 % of a
   cached read. A literal may hold 0 bytes (the end of a tag), n counts
   them. */
static void key_literal(sb *b, const char *k, const char *text, size_t n)
{
    if (!n) return;
    if (b->len && b->s[b->len - 1] != '\n' && b->s[b->len - 1] != ' ') sb_puts(b, " ");
    sb_printf(b, "if (hc_rc == HC_OK) hc_rc = hc_buf_append(%s, \"", k);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '"' || ch == '\\') sb_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f || (ch == '?' && i + 1 < n && text[i + 1] == '?')) sb_printf(b, "\\%03o", ch);
        else sb_add(b, (const char *)&ch, 1);
    }
    sb_printf(b, "\", %zu);", n);
}

/* Statements building template t into k, after a prefix literal; with
   nul, the 0 byte that ends a tag after it. */
static void build_template(sb *b, const hcg_template *t, const char *k, const char *prefix,
                           const char *via, bool nul)
{
    sb lit = {0};
    sb_add(&lit, prefix, strlen(prefix));
    for (size_t i = 0; i < t->pieces.n; i++) {
        const hcg_piece *p = t->pieces.v[i];
        if (p->text) {
            sb_puts(&lit, p->text);
            continue;
        }
        key_literal(b, k, lit.s, lit.len);
        lit.len = 0;
        key_param(b, p->param, k, via);
    }
    if (nul) sb_add(&lit, "", 1);
    key_literal(b, k, lit.s, lit.len);
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

/* Where an entity's key comes from: its key clause, or its name. */
static size_t entity_key_off(const hcg_entity *en)
{
    return en->key.s ? en->key.off : en->off;
}

/* Statements appending an entity's key ("shop:user:" then the parameter)
   or, without the namespace, its tag ("user:" then the parameter) to k. */
static void entity_key_code(sb *b, const hcg_module *m, const hcg_entity *en,
                            const hcg_field *param, const char *k, bool physical, const char *via)
{
    char *prefix = physical ? key_prefix(m) : NULL;
    sb lit = {0};
    sb_printf(&lit, "%s%s:", prefix ? prefix : "", entity_key(en));
    key_literal(b, k, lit.s, lit.len);
    key_param(b, param, k, via);
    free(lit.s);
    free(prefix);
}

/* One line of key or tag code from the .hcache line holding off: the
   #line, the statements, and no way back yet (the caller ends the run
   with out_line). */
static void code_line(const emitter *e, sb *b, size_t off, const sb *code)
{
    src_line(e, b, off);
    sb_puts(b, "    ");
    sb_add(b, code->s ? code->s : "", code->len);
    sb_puts(b, "\n");
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
    /* The struct's fields come from the entity's field lines: each is
       attributed to its own, with a #line only where the numbering jumps. */
    int at = hcg_line_of(m->src, en->off) + 1;
    for (size_t i = 0; i < en->fields.n; i++) {
        const hcg_field *f = en->fields.v[i];
        sb xb = {0}, vb = {0};
        sb_printf(&xb, "u->%s", f->name);
        sb_printf(&vb, "hc_v.%s", f->name);
        const char *x = xb.s;
        bool viewed = f->type.base == HCG_TEXT || f->type.base == HCG_BLOB;
        bool flag = f->type.nullable && f->type.base != HCG_TEXT;
        int fl = hcg_line_of(m->src, f->off);
        if (fl != at) src_line(e, &fields, f->off);
        if (f->type.base == HCG_TEXT)
            sb_printf(&fields, "    char *%s;%s\n", f->name, f->type.nullable ? "              /* NULL: null */" : "");
        else
            sb_printf(&fields, "    %s %s;\n", scalar_c(f->type.base), f->name);
        at = fl + 1;
        if (flag) {
            src_line(e, &fields, f->off);
            sb_printf(&fields, "    bool %s_is_null;\n", f->name);
        }

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
    sb kc = {0}, tc = {0};
    entity_key_code(&kc, m, en, pk, "hc_key", true, "");
    entity_key_code(&tc, m, en, pk, "hc_tag", false, "");
    code_line(e, &key, entity_key_off(en), &kc);
    out_line(e, &key);
    code_line(e, &tag, entity_key_off(en), &tc);
    out_line(e, &tag);
    free(kc.s);
    free(tc.s);

    sb pp = {0};
    param_decl(&pp, pk);
    setf(&vs, "name", "%s", en->name);
    setf(&vs, "T", "%s_%s", m->name, en->name);
    set(&vs, "line", src_line_var(e, en->off));
    set(&vs, "fields", sb_take(&fields));
    set(&vs, "endline", out_line_var(e));
    set(&vs, "encode", sb_take(&enc));
    set(&vs, "clear", sb_take(&clr));
    set(&vs, "key", sb_take(&key));
    set(&vs, "tag", sb_take(&tag));
    set(&vs, "pk_param", sb_take(&pp));
    setf(&vs, "pk", "%s", pk->name);
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
    uint64_t jitter = en->has_ttl ? en->ttl_jitter : m->has_ttl ? m->ttl_jitter : 0;
    setf(&vs, "ttl_jitter", "%llu", (unsigned long long)jitter);
    if (pk->type.base == HCG_TEXT) {
        setf(&vs, "check_pk", "    if (!%s) return HC_EINVAL;", pk->name);
        setf(&vs, "check_upk", "    if (!u->%s) return HC_EINVAL;", pk->name);
    } else {
        set(&vs, "check_pk", xstrdup(""));
        set(&vs, "check_upk", xstrdup(""));
    }
    expand(e, h, "entity.h.tmpl", &vs);
    expand(e, c, "entity.c.tmpl", &vs);
    free(prefix);
    vars_free(&vs);
}

/* ------------------------------------------------------- scalar lists */

/* Results of the form T[] get a list type each, made once: scalar lists
   their struct and clear, every list its codec and hc_cached_type. */
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
            setf(&vs, "what", "%s values", t->entity->name);
            setf(&vs, "item_ptr", "%s_%s *", m->name, t->entity->name);
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
        setf(&vs, "item_ptr", "%s%s*", scalar_c(t->base), t->base == HCG_TEXT ? "" : " ");
        sb ci = {0}, ei = {0}, di = {0};
        if (t->base == HCG_TEXT)
            sb_puts(&ci, "    for (size_t i = 0; i < l->len; i++) free(l->items[i]);");
        else if (t->base == HCG_BLOB)
            sb_puts(&ci, "    for (size_t i = 0; i < l->len; i++) free(l->items[i].data);");
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
    return scalar_name(b);
}

/* The statement's constants, from sql.c.tmpl: the two dialects' texts,
   each attributed to the line of the clause it comes from. */
static char *statement(emitter *e, const hcg_decl *d)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    sb t = {0}, text = {0};
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        sb_printf(&t, "%s%s", i ? ", " : "", sql_type(p->type.base));
    }
    if (!d->params.n) sb_puts(&t, "0");
    const hcg_str *lite = hcg_sql_for(d, HCG_SQLITE), *pg = hcg_sql_for(d, HCG_POSTGRES);
    src_line(e, &text, lite->off);
    sb_puts(&text, "    ");
    sb_cstr(&text, hcg_sql_rewrite(m, d, lite->s, HCG_SQLITE, NULL));
    sb_puts(&text, ",\n");
    src_line(e, &text, pg->off);
    sb_puts(&text, "    ");
    sb_cstr(&text, hcg_sql_rewrite(m, d, pg->s, HCG_POSTGRES, NULL));
    sb_puts(&text, ",\n");
    out_line(e, &text);
    setf(&vs, "F", "%s_%s", m->name, d->name);
    set(&vs, "types", sb_take(&t));
    set(&vs, "sql", sb_take(&text));
    setf(&vs, "nparams", "%zu", d->params.n);
    char *text_c = expanded(e, "sql.c.tmpl", &vs);
    vars_free(&vs);
    return text_c;
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
   fields by position, and the statement learns the fields' names, so that
   a NULL in a field that is not nullable names the field. */
static void emit_rows(emitter *e, sb *c)
{
    const hcg_module *m = e->m;
    for (size_t i = 0; i < m->entities.n; i++) {
        const hcg_entity *en = m->entities.v[i];
        if (!entity_read(m, en)) continue;
        vars vs = {{{0}}, 0};
        sb cols = {0}, names = {0};
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
            sb_printf(&names, "%s\"%s\"", k ? ", " : "", f->name);
        }
        setf(&vs, "T", "%s_%s", m->name, en->name);
        setf(&vs, "name", "%s", en->name);
        setf(&vs, "nfields", "%zu", en->fields.n);
        set(&vs, "field_names", sb_take(&names));
        set(&vs, "null_dummy", xstrdup(dummy ? "    bool hc_null;" : ""));
        set(&vs, "cols", sb_take(&cols));
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

/* The comma-separated parameter declarations, with a leading ", ". */
static void params_tail(sb *b, const hcg_decl *d)
{
    for (size_t i = 0; i < d->params.n; i++) {
        sb_puts(b, ", ");
        param_decl(b, d->params.v[i]);
    }
}

/* The out-parameter: "int64_t *out", "char **out", "shop_user *out". */
static void out_param(const emitter *e, sb *b, const hcg_decl *d)
{
    result_c(e, b, &d->result);
    sb_puts(b, d->result.base == HCG_TEXT && !d->result.list ? "*out" : " *out");
}

/* Checks of the parameters a caller passes, worded by the runtime: text
   that must not be NULL, blobs whose length has no data. err names the
   hc_error (NULL for an infallible cacheable, which has none). */
static void check_args(sb *b, const hcg_decl *d, const char *F, const char *err)
{
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        if (p->type.nullable) continue;
        if (p->type.base == HCG_TEXT)
            sb_printf(b, "    if (!%s) return hc_arg_null(%s, \"%s\", \"%s\");\n", p->name, err, F, p->name);
        if (p->type.base == HCG_BLOB)
            sb_printf(b, "    if (!%s.data && %s.len) return hc_arg_blob(%s, \"%s\", \"%s\");\n",
                      p->name, p->name, err, F, p->name);
    }
}

/* A query's uncached function, <name>_direct: direct.c.tmpl for one row,
   direct_list.c.tmpl for every row. */
static void emit_direct(emitter *e, const hcg_decl *d, sb *c)
{
    const hcg_module *m = e->m;
    const hcg_type *t = &d->result;
    vars vs = {{{0}}, 0};
    sb fb = {0};
    sb_printf(&fb, "%s_%s", m->name, d->name);
    const char *F = fb.s;
    setf(&vs, "F", "%s", F);
    setf(&vs, "name", "%s", d->name);
    sb dp = {0}, cp = {0}, bind = {0}, read = {0}, fin = {0}, L = {0};
    sb_puts(&dp, "hc_db *db");
    params_tail(&dp, d);
    sb_puts(&dp, ", ");
    out_param(e, &dp, d);
    sb_puts(&dp, ", hc_error *err");
    sb_printf(&cp, "    if (!db) return hc_arg_null(err, \"%s_direct\", \"db\");\n", F);
    sb_printf(&cp, "    if (!out) return hc_arg_null(err, \"%s_direct\", \"out\");\n", F);
    {
        sb dname = {0};
        sb_printf(&dname, "%s_direct", F);
        check_args(&cp, d, dname.s, "err");
        free(dname.s);
    }
    bind_params(&bind, d);
    if (t->list) {
        list_c(e, &L, t);
        read_value(e, &read, t, "hc_v.items[hc_v.len++]", "        ");
        set(&vs, "L", sb_take(&L));
        if (t->base == HCG_ENTITY) setf(&vs, "item_ptr", "%s_%s *", m->name, t->entity->name);
        else setf(&vs, "item_ptr", "%s%s*", scalar_c(t->base), t->base == HCG_TEXT ? "" : " ");
        set(&vs, "read_item", sb_take(&read));
    } else {
        if (t->base != HCG_ENTITY && t->nullable) sb_puts(&read, "    bool hc_null = false;\n");
        read_value(e, &read, t, "hc_v", "    ");
        if (t->base != HCG_ENTITY && t->nullable)
            sb_puts(&read, "    if (hc_rc == HC_OK && hc_null) hc_rc = HC_MISS;   /* a NULL is \"none\" */\n");
        sb co = {0}, cv = {0};
        /* "(*out)": a blob's members follow it (out->data, not *out.data). */
        clear_value(e, &co, t, "(*out)", "out", "        ");
        clear_value(e, &cv, t, "hc_v", "&hc_v", "        ");
        sb_printf(&fin, "    if (hc_rc == HC_OK) {\n%s        *out = hc_v;\n    }", co.s ? co.s : "");
        if (cv.len || !t->nullable) {
            sb_printf(&fin, " else {\n%s", cv.s ? cv.s : "");
            if (!t->nullable) sb_printf(&fin, "        if (hc_rc == HC_MISS) hc_rc = hc_no_row(err, \"%s\");\n", F);
            sb_puts(&fin, "    }\n");
        } else {
            sb_puts(&fin, "\n");
        }
        free(co.s);
        free(cv.s);
        set(&vs, "read", sb_take(&read));
        set(&vs, "finish", sb_take(&fin));
        set(&vs, "R", result_decl(e, t));
    }
    set(&vs, "dparams", sb_take(&dp));
    set(&vs, "check_dparams", sb_take(&cp));
    set(&vs, "bind", sb_take(&bind));
    set(&vs, "statement", statement(e, d));
    expand(e, c, t->list ? "direct_list.c.tmpl" : "direct.c.tmpl", &vs);
    vars_free(&vs);
    free(fb.s);
}

static void emit_exec(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    sb fb = {0};
    sb_printf(&fb, "%s_%s", m->name, d->name);
    const char *F = fb.s;
    setf(&vs, "F", "%s", F);
    setf(&vs, "name", "%s", d->name);
    sb params = {0}, cp = {0}, bind = {0}, inv = {0}, doc = {0}, decl = {0};
    sb_puts(&params, "hc_cache *c, hc_db *db");
    params_tail(&params, d);
    sb_puts(&params, ", int64_t *changes, hc_error *err");
    sb_printf(&cp, "    if (!c) return hc_arg_null(err, \"%s\", \"c\");\n", F);
    sb_printf(&cp, "    if (!db) return hc_arg_null(err, \"%s\", \"db\");\n", F);
    check_args(&cp, d, F, "err");
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
        sb code = {0};
        build_template(&code, t, k, "", "", false);
        code_line(e, &inv, t->src.off, &code);
        free(code.s);
        sb_puts(&doc, i ? ", \"" : "\"");
        template_doc(&doc, t);
        sb_puts(&doc, "\"");
    }
    if (n) {
        out_line(e, &inv);
        for (size_t i = 0; i < n; i++) sb_printf(&inv, "    hc_tags[%zu] = (const char *)hc_tag[%zu].data;\n", i, i);
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
    set(&vs, "statement", statement(e, d));
    expand(e, h, "exec.h.tmpl", &vs);
    expand(e, c, "exec.c.tmpl", &vs);
    vars_free(&vs);
    free(fb.s);
}

/* ------------------------------------- queries, policies and cacheables */

/* Is the stored value an option (0x00 absent, 0x01 then the value)? Entity
   keys always hold one, so every declaration sharing the key agrees. */
static bool stored_as_option(const hcg_decl *d)
{
    return d->result.nullable || d->entity != NULL;
}

/* Is the user's infallible loader a function returning T? (Scalars and
   text are returned; entities, lists and blobs are filled through out.) */
static bool returns_value(const hcg_decl *d)
{
    return !d->result.list && d->result.base != HCG_ENTITY && d->result.base != HCG_BLOB;
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

/* Does the template read any parameter? */
static bool template_reads(const hcg_template *t)
{
    for (size_t i = 0; i < t->pieces.n; i++)
        if (!((const hcg_piece *)t->pieces.v[i])->text) return true;
    return false;
}

/* The line that gives a function its arguments struct, or says it needs
   none. */
static char *unpack(const char *F, bool used)
{
    sb b = {0};
    if (used) sb_printf(&b, "    const %s__args *hc_a = (const %s__args *)hc_args;", F, F);
    else sb_puts(&b, "    (void)hc_args;");
    return sb_take(&b);
}

/* The arguments as the loader's call passes them from hc_a: ", hc_a->id". */
static void args_from(sb *b, const hcg_decl *d)
{
    for (size_t i = 0; i < d->params.n; i++)
        sb_printf(b, ", hc_a->%s", ((const hcg_field *)d->params.v[i])->name);
}

/* A duration as the language writes it, for comments: the largest unit
   that divides it. */
static void duration_doc(sb *b, uint64_t ms)
{
    static const struct { uint64_t ms; const char *unit; } units[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
    };
    size_t i = 0;
    while (ms % units[i].ms) i++;
    sb_printf(b, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
}

/*
** Freshness (LANGUAGE.md, "Freshness"): each clause the declaration's own,
** else the module's default; the jitter goes with the TTL chosen (its own,
** its entity's, the module's). The descriptor's refresh, stale and jitter
** fields, and with a refresh the arguments' copy for a background
** refresh, which only arguments that hold no caller ctx can have: a
** policy and a cacheable with `context;` refresh on the calling thread.
*/
static void cached_fresh(emitter *e, const hcg_decl *d, vars *vs, const char *F)
{
    const hcg_module *m = e->m;
    uint64_t refresh = d->fresh.refresh_ms ? d->fresh.refresh_ms : m->fresh.refresh_ms;
    uint64_t stale = d->fresh.stale_ms ? d->fresh.stale_ms : m->fresh.stale_ms;
    uint64_t jitter = d->has_ttl ? d->ttl_jitter
                    : d->entity && d->entity->has_ttl ? d->entity->ttl_jitter
                    : m->has_ttl ? m->ttl_jitter : 0;
    bool copyable = d->kind == HCG_QUERY || (d->kind == HCG_CACHEABLE && !d->has_context);
    sb doc = {0};
    if (jitter) sb_printf(&doc, ", ttl jitter %llu%%", (unsigned long long)jitter);
    if (refresh) {
        sb_puts(&doc, ", refresh ");
        duration_doc(&doc, refresh);
        sb_puts(&doc, copyable ? " (in the background)" : " (on the calling thread)");
    }
    if (stale) {
        sb_puts(&doc, ", stale if error ");
        duration_doc(&doc, stale);
    }
    set(vs, "fresh_doc", sb_take(&doc));
    set(vs, "refresh", refresh ? ttl_expr(refresh, true) : xstrdup("0"));
    set(vs, "stale", stale ? ttl_expr(stale, true) : xstrdup("0"));
    setf(vs, "jitter", "%llu", (unsigned long long)jitter);
    if (!refresh || !copyable) {
        set(vs, "args_copy_fn", xstrdup(""));
        set(vs, "args_copy", xstrdup("NULL"));
        set(vs, "args_free", xstrdup("NULL"));
        return;
    }
    /* Text and blob arguments are copied after the struct, in one
       allocation that free() releases. */
    sb size = {0}, copy = {0};
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        if (p->type.base == HCG_TEXT) {
            sb_printf(&size, " + strlen(hc_a->%s) + 1", p->name);
            sb_printf(&copy, "    hc_c->%s = (const char *)memcpy(hc_at, hc_a->%s, strlen(hc_a->%s) + 1);\n"
                             "    hc_at += strlen(hc_a->%s) + 1;\n", p->name, p->name, p->name, p->name);
        } else if (p->type.base == HCG_BLOB) {
            sb_printf(&size, " + hc_a->%s.len", p->name);
            sb_printf(&copy, "    hc_c->%s.data = hc_a->%s.len ? (uint8_t *)memcpy(hc_at, hc_a->%s.data, hc_a->%s.len) : NULL;\n"
                             "    hc_at += hc_a->%s.len;\n", p->name, p->name, p->name, p->name, p->name);
        }
    }
    if (copy.len) {
        sb at = {0};
        sb_puts(&at, "    char *hc_at = (char *)(hc_c + 1);\n");
        sb_add(&at, copy.s, copy.len);
        free(copy.s);
        copy = at;
    } else {
        sb_puts(&copy, "");
    }
    set(vs, "copy_size", sb_take(&size));
    set(vs, "copy_args", sb_take(&copy));
    set(vs, "args_copy_fn", expanded(e, "args_copy.c.tmpl", vs));
    setf(vs, "args_copy", "%s__args_copy", F);
    set(vs, "args_free", xstrdup("free"));
}

/*
** What every query, policy and cacheable has (cached.c.tmpl): the
** arguments struct, the key and tags builders, the descriptor and the
** function the application calls. extra are the arguments that are not
** parameters (db; load and ctx; ctx), as struct fields; err is "err" or,
** for an infallible cacheable, "NULL". The kind's emitter has set F,
** params, check_params and load_fn.
*/
static void cached_common(emitter *e, const hcg_decl *d, vars *vs, const char *extra_fields,
                          const char *extra_set, const char *err)
{
    const hcg_module *m = e->m;
    const char *F = NULL;
    for (int i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, "F") == 0) F = vs->v[i].value;
    setf(vs, "name", "%s", d->name);
    setf(vs, "module", "%s", m->name);
    setf(vs, "kind", "%s", d->kind == HCG_POLICY ? "policy" : d->kind == HCG_QUERY ? "query" : "cacheable");
    setf(vs, "decl_kind", "%s", d->kind == HCG_POLICY ? "HC_DECL_POLICY"
                                : d->kind == HCG_QUERY ? "HC_DECL_QUERY" : "HC_DECL_CACHEABLE");
    sb lab = {0};
    if (d->label.s) sb_printf(&lab, " (\"%s\")", d->label.s);
    set(vs, "label", comment_safe(sb_take(&lab)));
    set(vs, "R_ptr", result_ptr(e, &d->result));

    /* ---- the arguments struct */
    sb af = {0}, sa = {0};
    sb_puts(&af, extra_fields);
    sb_puts(&sa, extra_set);
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        sb_puts(&af, "    ");
        param_decl(&af, p);
        sb_puts(&af, ";\n");
        sb_printf(&sa, "    hc_a.%s = %s;\n", p->name, p->name);
    }
    if (!af.len) {
        sb_puts(&af, "    char none;                  /* C has no empty structs */\n");
        sb_puts(&sa, "    hc_a.none = 0;\n");
    }
    set(vs, "arg_fields", sb_take(&af));
    set(vs, "set_args", sb_take(&sa));

    /* ---- key and tags */
    char *prefix = key_prefix(m);
    sb kd = {0}, kc = {0}, bk = {0}, tc = {0}, bt = {0}, td = {0};
    size_t ntags = d->tag_tmpls.n;
    bool key_args, tag_args = false;
    if (d->entity) {
        const hcg_entity *en = d->entity;
        sb_printf(&kd, "%s%s:{%s}", prefix, entity_key(en), d->entity_param->name);
        entity_key_code(&kc, m, en, d->entity_param, "hc_key", true, "hc_a->");
        code_line(e, &bk, d->entity_off, &kc);
        /* Its entity clause brings the entity's tag and collection. */
        char *coll = collection_of(en);
        entity_key_code(&tc, m, en, d->entity_param, "hc_tags", false, "hc_a->");
        sb cl = {0};
        sb_add(&cl, "", 1);                         /* the end of the entity's tag */
        sb_add(&cl, coll, strlen(coll) + 1);
        key_literal(&tc, "hc_tags", cl.s, cl.len);
        free(cl.s);
        code_line(e, &bt, d->entity_off, &tc);
        sb_printf(&td, ", tags \"%s:{%s}\", \"%s\"", entity_key(en), d->entity_param->name, coll);
        free(coll);
        ntags += 2;
        key_args = tag_args = true;
    } else {
        sb_puts(&kd, prefix);
        template_doc(&kd, &d->key_tmpl);
        build_template(&kc, &d->key_tmpl, "hc_key", prefix, "hc_a->", false);
        code_line(e, &bk, d->key.s ? d->key.off : d->off, &kc);
        key_args = template_reads(&d->key_tmpl);
    }
    out_line(e, &bk);
    for (size_t i = 0; i < d->tag_tmpls.n; i++) {
        const hcg_template *t = d->tag_tmpls.v[i];
        sb code = {0};
        build_template(&code, t, "hc_tags", "", "hc_a->", true);
        code_line(e, &bt, t->src.off, &code);
        free(code.s);
        tag_args |= template_reads(t);
        sb_puts(&td, i == 0 && !d->entity ? ", tags \"" : ", \"");
        template_doc(&td, t);
        sb_puts(&td, "\"");
    }
    if (ntags) out_line(e, &bt);
    free(kc.s);
    free(tc.s);
    set(vs, "key_doc", comment_safe(sb_take(&kd)));
    set(vs, "tags_doc", comment_safe(sb_take(&td)));
    set(vs, "build_key", sb_take(&bk));
    set(vs, "unpack_key", unpack(F, key_args));
    setf(vs, "key_max", "%zu", key_bound(m, d));
    setf(vs, "ntags", "%zu", ntags);
    if (ntags) {
        set(vs, "build_tags", sb_take(&bt));
        set(vs, "unpack_tags", unpack(F, tag_args));
        set(vs, "tags_fn", expanded(e, "tags.c.tmpl", vs));
        setf(vs, "tags_ref", "%s__tags", F);
    } else {
        free(bt.s);
        set(vs, "tags_fn", xstrdup(""));
        set(vs, "tags_ref", xstrdup("NULL"));
    }
    bool has_ttl = d->has_ttl || (d->entity && d->entity->has_ttl) || m->has_ttl;
    uint64_t ttl = d->has_ttl ? d->ttl_ms : d->entity && d->entity->has_ttl ? d->entity->ttl_ms : m->ttl_ms;
    set(vs, "ttl", ttl_expr(ttl, has_ttl));
    cached_fresh(e, d, vs, F);
    free(prefix);

    /* ---- the descriptor */
    sb lc = {0}, ec = {0};
    sb_cstr(&lc, d->label.s ? d->label.s : d->name);
    if (d->entity) sb_cstr(&ec, d->entity->name);
    else sb_puts(&ec, "NULL");
    set(vs, "label_c", sb_take(&lc));
    set(vs, "entity_c", sb_take(&ec));
    set(vs, "type", cached_type(e, &d->result));
    sb fl = {0};
    if (stored_as_option(d)) sb_puts(&fl, "HC_CACHED_OPTION");
    if (d->result.nullable) sb_printf(&fl, "%sHC_CACHED_NULLABLE", fl.len ? " | " : "");
    if (d->infallible && returns_value(d) && d->result.base == HCG_TEXT)
        sb_printf(&fl, "%sHC_CACHED_TEXT_RETURNED", fl.len ? " | " : "");
    if (!fl.len) sb_puts(&fl, "0");
    set(vs, "flags", sb_take(&fl));
    set(vs, "err", xstrdup(err));
}

/* What the headers add after "HC_OK" for a result that may be absent. */
static const char *absent_doc(const hcg_decl *d)
{
    return d->result.nullable ? " | HC_MISS" : "";
}

/* A query: the statement's constants and <name>_direct, then what every
   cached declaration has, loading through <name>_direct. */
static void emit_query(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    setf(&vs, "F", "%s_%s", m->name, d->name);
    const char *F = vs.v[0].value;          /* the first variable set */
    sb params = {0}, dparams = {0}, cp = {0}, args = {0};
    sb_puts(&params, "hc_cache *c, hc_db *db");
    params_tail(&params, d);
    sb_puts(&params, ", ");
    out_param(e, &params, d);
    sb_puts(&params, ", hc_error *err");
    sb_puts(&dparams, "hc_db *db");
    params_tail(&dparams, d);
    sb_puts(&dparams, ", ");
    out_param(e, &dparams, d);
    sb_puts(&dparams, ", hc_error *err");
    sb_printf(&cp, "    if (!db) return hc_arg_null(err, \"%s\", \"db\");\n", F);
    check_args(&cp, d, F, "err");
    args_from(&args, d);
    set(&vs, "params", sb_take(&params));
    set(&vs, "dparams", sb_take(&dparams));
    set(&vs, "check_params", sb_take(&cp));
    set(&vs, "args", sb_take(&args));
    setf(&vs, "returns", "%s", d->result.nullable ? " | HC_MISS (no row: the absence is cached too)"
                               : d->result.list ? "" : ", HC_ENOTFOUND (no row: nothing cached)");
    cached_common(e, d, &vs, "    hc_db *db;\n", "    hc_a.db = db;\n", "err");
    set(&vs, "load_fn", expanded(e, "load_query.c.tmpl", &vs));
    expand(e, h, "query.h.tmpl", &vs);
    expand(e, c, "cached.c.tmpl", &vs);
    emit_direct(e, d, c);
    vars_free(&vs);
}

/* A policy: the caller passes the loader and its context at each call. */
static void emit_policy(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    setf(&vs, "F", "%s_%s", m->name, d->name);
    const char *F = vs.v[0].value;          /* the first variable set */
    sb params = {0}, lparams = {0}, cp = {0}, args = {0};
    sb_puts(&params, "hc_cache *c");
    params_tail(&params, d);
    sb_printf(&params, ", %s_loader load, void *ctx, ", F);
    out_param(e, &params, d);
    sb_puts(&params, ", hc_error *err");
    sb_puts(&lparams, "void *ctx");
    params_tail(&lparams, d);
    sb_puts(&lparams, ", ");
    out_param(e, &lparams, d);
    sb_puts(&lparams, ", hc_error *err");
    sb_printf(&cp, "    if (!load) return hc_arg_null(err, \"%s\", \"load\");\n", F);
    check_args(&cp, d, F, "err");
    args_from(&args, d);
    set(&vs, "params", sb_take(&params));
    set(&vs, "loader_params", sb_take(&lparams));
    set(&vs, "check_params", sb_take(&cp));
    set(&vs, "args", sb_take(&args));
    set(&vs, "absent", xstrdup(absent_doc(d)));
    set(&vs, "none", xstrdup(d->result.nullable ? ", return HC_MISS for \"none\" (cached too)" : ""));
    sb extra = {0};
    sb_printf(&extra, "    %s_loader load;\n    void *ctx;\n", F);
    cached_common(e, d, &vs, extra.s, "    hc_a.load = load;\n    hc_a.ctx = ctx;\n", "err");
    free(extra.s);
    set(&vs, "load_fn", expanded(e, "load_policy.c.tmpl", &vs));
    expand(e, h, "policy.h.tmpl", &vs);
    expand(e, c, "cached.c.tmpl", &vs);
    vars_free(&vs);
}

/* A cacheable: the application writes <name>_load. Fallible ones return a
   code and fill out; infallible ones return the value (scalars, text) or
   fill out (blobs, entities, lists). With `context;` the loader takes the
   ctx the caller passes. */
static void emit_cacheable(emitter *e, const hcg_decl *d, sb *h, sb *c)
{
    const hcg_module *m = e->m;
    vars vs = {{{0}}, 0};
    setf(&vs, "F", "%s_%s", m->name, d->name);
    const char *F = vs.v[0].value;          /* the first variable set */
    bool ctx = d->has_context;
    const char *err = d->infallible ? "NULL" : "err";
    sb params = {0}, lparams = {0}, cp = {0}, call = {0};
    sb_puts(&params, "hc_cache *c");
    params_tail(&params, d);
    if (ctx) sb_puts(&params, ", void *ctx");
    sb_puts(&params, ", ");
    out_param(e, &params, d);
    if (!d->infallible) sb_puts(&params, ", hc_error *err");
    check_args(&cp, d, F, err);

    /* The loader's prototype, and the call of it. */
    sb_printf(&call, "%s_load(", F);
    if (ctx) {
        sb_puts(&lparams, "void *ctx");
        sb_puts(&call, "hc_a->ctx");
    }
    for (size_t i = 0; i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        if (lparams.len) sb_puts(&lparams, ", ");
        param_decl(&lparams, p);
        sb_printf(&call, "%shc_a->%s", i || ctx ? ", " : "", p->name);
    }
    char *rp = result_ptr(e, &d->result);
    bool any = ctx || d->params.n;
    if (!d->infallible) {
        sb_printf(&lparams, "%s", any ? ", " : "");
        out_param(e, &lparams, d);
        sb_puts(&lparams, ", hc_error *err");
        sb_printf(&call, "%s(%s)hc_out, err)", any ? ", " : "", rp);
    } else if (returns_value(d)) {
        sb rt = {0};
        sb_printf(&rt, "*(%s)hc_out = ", rp);
        sb_add(&rt, call.s, call.len);
        sb_puts(&rt, ")");
        free(call.s);
        call = rt;
        char *rd = result_decl(e, &d->result);
        setf(&vs, "load_proto", "%s%s_load(%s)", rd, F, any ? lparams.s : "void");
        free(rd);
    } else {
        sb_printf(&call, "%s(%s)hc_out)", any ? ", " : "", rp);
        sb lp = {0};
        sb_printf(&lp, "void %s_load(%s%s", F, any ? lparams.s : "", any ? ", " : "");
        out_param(e, &lp, d);
        sb_puts(&lp, ")");
        set(&vs, "load_proto", sb_take(&lp));
    }
    free(rp);
    set(&vs, "params", sb_take(&params));
    set(&vs, "loader_params", sb_take(&lparams));
    set(&vs, "check_params", sb_take(&cp));
    set(&vs, "call", sb_take(&call));
    set(&vs, "absent", xstrdup(absent_doc(d)));
    set(&vs, "none", xstrdup(d->result.nullable ? " (HC_MISS for \"none\", cached too)" : ""));
    cached_common(e, d, &vs, ctx ? "    void *ctx;\n" : "", ctx ? "    hc_a.ctx = ctx;\n" : "", err);
    set(&vs, "unpack_load", unpack(F, any));
    set(&vs, "load_fn", expanded(e, d->infallible ? "load_infallible.c.tmpl" : "load_cacheable.c.tmpl", &vs));
    expand(e, h, d->infallible ? "infallible.h.tmpl" : "cacheable.h.tmpl", &vs);
    expand(e, c, "cached.c.tmpl", &vs);
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
        switch (d->kind) {
        case HCG_QUERY: emit_query(&e, d, &h, &c); break;
        case HCG_EXEC: emit_exec(&e, d, &h, &c); break;
        case HCG_POLICY: emit_policy(&e, d, &h, &c); break;
        case HCG_CACHEABLE: emit_cacheable(&e, d, &h, &c); break;
        }
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
    setf(&vs, "api_version", "%ld.%ld", major, minor);
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
    /* The outputs by the path they are written to, as the compiler
       will be given them, so that a debugger finds them. */
    sb hn = {0}, cn = {0};
    if (o->out_dir) {
        sb_printf(&hn, "%s/", o->out_dir);
        sb_printf(&cn, "%s/", o->out_dir);
    }
    sb_puts(&hn, o->header_name);
    sb_add(&cn, o->header_name, strlen(o->header_name) - 1);
    sb_puts(&cn, "c");
    out->header = finish_lines(sb_take(&hdr), hn.s);
    out->source = finish_lines(sb_take(&src), cn.s);
    free(hn.s);
    free(cn.s);
    return 0;
}
