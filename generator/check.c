/*
** check.c -- meaning: resolve types and entities, split templates, and
** enforce every rule of the language that the grammar cannot. Each check
** reports and goes on, so one run lists every error in the file.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcg.h"

static const struct { const char *name; hcg_base base; } scalars[] = {
    {"i32", HCG_I32}, {"i64", HCG_I64}, {"u32", HCG_U32}, {"u64", HCG_U64},
    {"f64", HCG_F64}, {"bool", HCG_BOOL}, {"text", HCG_TEXT}, {"blob", HCG_BLOB},
};

/* C's keywords and names a generated declaration must not take. */
static const char *const c_words[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
    "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
    "void", "volatile", "while", "bool", "true", "false", "NULL",
    "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
    "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
};

/* Parameter names the generated functions use themselves: reserved for
   parameters (and primary fields, which become parameters) only. */
static const char *const param_words[] = {"c", "db", "out", "err", "load", "ctx", "changes"};

static void check_param_name(hcg_module *m, size_t off, const char *name, const char *what)
{
    for (size_t i = 0; i < sizeof param_words / sizeof param_words[0]; i++)
        if (strcmp(name, param_words[i]) == 0)
            hcg_error(m->src, off, "%s '%s' would clash with the generated function's own parameter; rename it",
                      what, name);
}

static const char *kind_name(hcg_kind k)
{
    switch (k) {
    case HCG_QUERY: return "query";
    case HCG_EXEC: return "exec";
    case HCG_POLICY: return "policy";
    case HCG_CACHEABLE: return "cacheable";
    }
    return "?";
}

static hcg_entity *find_entity(const hcg_module *m, const char *name)
{
    for (size_t i = 0; i < m->entities.n; i++) {
        hcg_entity *e = m->entities.v[i];
        if (strcmp(e->name, name) == 0) return e;
    }
    return NULL;
}

/* ------------------------------------------------------- did you mean */

/*
** The known name closest to an unknown one, for "did you mean": a guess
** keeps the best candidate offered so far by edit distance (insertions,
** deletions, substitutions and swaps of neighbours, so "emial" is 1 from
** "email"), and gives it only when it is close: at most a quarter of the
** longer name's length (at least 1), and less than the unknown name's.
*/
typedef struct guess {
    const char *name;        /* the unknown name, len bytes */
    size_t len;
    const char *best;
    size_t dist;
} guess;

#define GUESS_MAX 64         /* longer names get no guess: the cost is len^2 */

static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][GUESS_MAX + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t d = prev[j - 1] + cost;
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

static void guess_init(guess *g, const char *name, size_t len)
{
    g->name = name;
    g->len = len;
    g->best = NULL;
    g->dist = (size_t)-1;
}

static void guess_try(guess *g, const char *cand)
{
    size_t m = strlen(cand);
    if (g->len == 0 || g->len > GUESS_MAX || m > GUESS_MAX) return;
    size_t d = edit_distance(g->name, g->len, cand, m);
    size_t longer = g->len > m ? g->len : m, limit = longer / 4 ? longer / 4 : 1;
    if (d == 0 || d > limit || d >= g->len || d >= g->dist) return;
    g->best = cand;
    g->dist = d;
}

/* "; did you mean 'X'?" for a close guess (with prefix before X, such as
   ":"), or "", in buf. */
static const char *did_you_mean(const guess *g, const char *prefix, char *buf, size_t cap)
{
    if (!g->best) return "";
    snprintf(buf, cap, "; did you mean '%s%s'?", prefix, g->best);
    return buf;
}

/* A guess among d's parameters. */
static const char *param_guess(const hcg_decl *d, const char *name, size_t n, const char *prefix,
                               char *buf, size_t cap)
{
    guess g;
    guess_init(&g, name, n);
    for (size_t i = 0; i < d->params.n; i++) guess_try(&g, ((hcg_field *)d->params.v[i])->name);
    return did_you_mean(&g, prefix, buf, cap);
}

/*
** Whether name is a macro of a header generated code includes (stdbool.h,
** stddef.h, stdint.h, stdlib.h, string.h, hydracache.h): a field or
** parameter so named would be replaced by the preprocessor, silently or
** not. hydracache.h's own are the HC_ names.
*/
static bool header_macro(const char *name)
{
    static const char *const names[] = {
        "SIZE_MAX", "PTRDIFF_MIN", "PTRDIFF_MAX", "SIG_ATOMIC_MIN", "SIG_ATOMIC_MAX", "WCHAR_MIN",
        "WCHAR_MAX", "WINT_MIN", "WINT_MAX", "EXIT_SUCCESS", "EXIT_FAILURE", "RAND_MAX", "MB_CUR_MAX",
        "offsetof", "errno",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return true;
    if (strncmp(name, "HC_", 3) == 0) return true;
    /* [U]INT{N,_LEASTN,_FASTN,PTR,MAX}_{MIN,MAX,C} */
    const char *p = name + (name[0] == 'U');
    if (strncmp(p, "INT", 3) != 0) return false;
    p += 3;
    if (strncmp(p, "PTR", 3) == 0 || strncmp(p, "MAX", 3) == 0) {
        p += 3;
    } else {
        if (strncmp(p, "_LEAST", 6) == 0) p += 6;
        else if (strncmp(p, "_FAST", 5) == 0) p += 5;
        if (!(*p >= '0' && *p <= '9')) return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    return strcmp(p, "_MIN") == 0 || strcmp(p, "_MAX") == 0 || strcmp(p, "_C") == 0;
}

/* A name that becomes a C identifier in the output. */
static void check_c_name(hcg_module *m, size_t off, const char *name, const char *what)
{
    for (size_t i = 0; i < sizeof c_words / sizeof c_words[0]; i++)
        if (strcmp(name, c_words[i]) == 0) {
            hcg_error(m->src, off, "%s '%s' is reserved in the generated C; rename it", what, name);
            return;
        }
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z')))
        hcg_error(m->src, off, "%s '%s' is a name reserved by C; rename it", what, name);
    else if (strncmp(name, "hc_", 3) == 0)
        hcg_error(m->src, off, "%s '%s': names starting with hc_ are reserved for the generated code", what, name);
    else if (strstr(name, "__"))
        hcg_error(m->src, off, "%s '%s': names holding '__' are reserved for the generated code (x__key, "
                  "x__args, ...); rename it", what, name);
    else if (header_macro(name))
        hcg_error(m->src, off, "%s '%s' is a macro of a header the generated code includes; rename it", what, name);
}

/* Resolve t; entity types allowed only where entities are. */
static void resolve_type(hcg_module *m, hcg_type *t, bool entity_ok, const char *where)
{
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (strcmp(t->name, scalars[i].name) == 0) {
            t->base = scalars[i].base;
            return;
        }
    hcg_entity *e = find_entity(m, t->name);
    if (e && entity_ok) {
        t->base = HCG_ENTITY;
        t->entity = e;
    } else if (e) {
        hcg_error(m->src, t->off, "%s cannot be the entity '%s': use a scalar type", where, t->name);
    } else {
        guess g;
        char dym[GUESS_MAX + 32];
        guess_init(&g, t->name, strlen(t->name));
        for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) guess_try(&g, scalars[i].name);
        for (size_t i = 0; entity_ok && i < m->entities.n; i++)
            guess_try(&g, ((hcg_entity *)m->entities.v[i])->name);
        hcg_error(m->src, t->off, "unknown type '%s' (types: i32 i64 u32 u64 f64 bool text blob%s)%s",
                  t->name, entity_ok ? ", or an entity" : "", did_you_mean(&g, "", dym, sizeof dym));
    }
}

/* ------------------------------------------------------------ freshness */

/* A jitter is a share of the TTL it is written on: 1% to 99%. */
static void check_jitter(hcg_module *m, uint64_t percent, size_t off)
{
    if (!off || (percent >= 1 && percent <= 99)) return;
    size_t n = strspn(m->src->text + off, "0123456789");      /* as written */
    hcg_error(m->src, off, "jitter %.*s%% is out of range: give 1%% to 99%% of the ttl", (int)n,
              m->src->text + off);
}

/* ms as written in the language: the largest unit that divides it. */
static const char *duration_text(uint64_t ms, char *buf, size_t cap)
{
    static const struct { uint64_t ms; const char *unit; } units[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
    };
    size_t i = 0;
    while (ms % units[i].ms) i++;
    snprintf(buf, cap, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
    return buf;
}

/* ------------------------------------------------------------- entities */

static void check_entity(hcg_module *m, hcg_entity *e)
{
    check_c_name(m, e->off, e->name, "entity");
    check_jitter(m, e->ttl_jitter, e->jitter_off);
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (strcmp(e->name, scalars[i].name) == 0)
            hcg_error(m->src, e->off, "entity '%s' has the name of a type; rename it", e->name);
    if (e->fields.n == 0) {
        hcg_error(m->src, e->off, "entity '%s' has no fields", e->name);
        return;
    }
    for (size_t i = 0; i < e->fields.n; i++) {
        hcg_field *f = e->fields.v[i];
        check_c_name(m, f->off, f->name, "field");
        resolve_type(m, &f->type, false, "a field");
        for (size_t j = 0; j < i; j++) {
            hcg_field *g = e->fields.v[j];
            if (strcmp(f->name, g->name) == 0) {
                hcg_error(m->src, f->off, "duplicate field '%s' in entity '%s'", f->name, e->name);
                hcg_note(m->src, g->off, "'%s' was declared here", g->name);
            }
        }
        /* email? makes email_is_null: no field may take that name. */
        for (size_t j = 0; j < e->fields.n; j++) {
            hcg_field *g = e->fields.v[j];
            size_t n = strlen(g->name);
            if (g != f && g->type.nullable && strncmp(f->name, g->name, n) == 0 &&
                strcmp(f->name + n, "_is_null") == 0)
                hcg_error(m->src, f->off, "field '%s' clashes with the null flag of nullable field '%s'",
                          f->name, g->name);
        }
        if (f->primary) {
            if (e->primary) {
                hcg_error(m->src, f->off, "entity '%s' has two primary fields", e->name);
                hcg_note(m->src, e->primary->off, "'%s' is primary already", e->primary->name);
            } else {
                e->primary = f;
            }
        }
    }
    if (!e->primary) e->primary = e->fields.v[0];
    hcg_field *p = e->primary;
    check_param_name(m, p->off, p->name, "primary field");
    if (p->type.base == HCG_F64 || p->type.base == HCG_BLOB || p->type.base == HCG_BOOL)
        hcg_error(m->src, p->off, "primary field '%s' must be an integer or text, not %s",
                  p->name, p->type.name);
    if (p->type.nullable)
        hcg_error(m->src, p->off, "primary field '%s' cannot be nullable", p->name);
    if (e->key.s && (e->key.s[0] == 0 || strpbrk(e->key.s, "{}")))
        hcg_error(m->src, e->key.off, "an entity key is a plain prefix such as \"user\" (no '{' '}', not empty)");
    if (e->collection.s && (e->collection.s[0] == 0 || strpbrk(e->collection.s, "{}")))
        hcg_error(m->src, e->collection.off,
                  "the collection tag is a plain tag such as \"users\" (no '{' '}', not empty): it is "
                  "taken literally, so it would never be what a template with a parameter makes");
}

/* ------------------------------------------------------------ templates */

static hcg_field *find_param(const hcg_decl *d, const char *name, size_t n)
{
    for (size_t i = 0; i < d->params.n; i++) {
        hcg_field *p = d->params.v[i];
        if (strlen(p->name) == n && memcmp(p->name, name, n) == 0) return p;
    }
    return NULL;
}

static void add_piece(hcg_module *m, hcg_template *t, const char *text, size_t n, hcg_field *param)
{
    hcg_piece *p = hcg_alloc(m->arena, sizeof *p);
    if (text) p->text = hcg_strndup(m->arena, text, n);
    p->param = param;
    hcg_vec_push(m->arena, &t->pieces, p);
}

/* Split "team:{team}:users" into pieces; report unknown parameters. */
static void split_template(hcg_module *m, hcg_decl *d, const hcg_str *src, hcg_template *t,
                           const char *what)
{
    t->src = *src;
    const char *s = src->s;
    if (!s[0]) {
        hcg_error(m->src, src->off, "empty template: %s cannot be empty", what);
        return;
    }
    size_t lit = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] == '}') {
            hcg_error(m->src, hcg_str_at(m, src, i), "'}' without '{' in %s", what);
            return;
        }
        if (s[i] != '{') {
            i++;
            continue;
        }
        if (i > lit) add_piece(m, t, s + lit, i - lit, NULL);
        const char *close = strchr(s + i, '}');
        if (!close) {
            hcg_error(m->src, hcg_str_at(m, src, i), "'{' without '}' in %s", what);
            return;
        }
        size_t n = (size_t)(close - (s + i + 1));
        hcg_field *p = find_param(d, s + i + 1, n);
        if (!p) {
            char dym[GUESS_MAX + 32];
            hcg_error(m->src, hcg_str_at(m, src, i + 1), "unknown parameter '%.*s' in %s of %s '%s'%s",
                      (int)n, s + i + 1, what, kind_name(d->kind), d->name,
                      param_guess(d, s + i + 1, n, "", dym, sizeof dym));
        } else if (p->type.nullable) {
            hcg_error(m->src, hcg_str_at(m, src, i + 1), "nullable parameter '%s' cannot go in %s", p->name, what);
        } else {
            add_piece(m, t, NULL, 0, p);
        }
        i += n + 2;
        lit = i;
    }
    if (s[lit]) add_piece(m, t, s + lit, strlen(s + lit), NULL);
}

/* The default key: "<name>:{p1}:{p2}...". */
static void default_key(hcg_module *m, hcg_decl *d)
{
    d->key_tmpl.src.off = d->off;
    add_piece(m, &d->key_tmpl, d->name, strlen(d->name), NULL);
    for (size_t i = 0; i < d->params.n; i++) {
        hcg_field *p = d->params.v[i];
        if (p->type.nullable) {
            hcg_error(m->src, p->off, "nullable parameter '%s' cannot go in the default key; give a 'key'",
                      p->name);
            continue;
        }
        add_piece(m, &d->key_tmpl, ":", 1, NULL);
        add_piece(m, &d->key_tmpl, NULL, 0, p);
    }
}

char *hcg_check_shape(hcg_module *m, const hcg_template *t)
{
    size_t n = 1;
    for (size_t i = 0; i < t->pieces.n; i++) {
        const hcg_piece *p = t->pieces.v[i];
        n += p->text ? strlen(p->text) : 2;
    }
    char *s = hcg_alloc(m->arena, n), *w = s;
    for (size_t i = 0; i < t->pieces.n; i++) {
        const hcg_piece *p = t->pieces.v[i];
        const char *x = p->text ? p->text : "{}";
        size_t k = strlen(x);
        memcpy(w, x, k);
        w += k;
    }
    *w = 0;
    return s;
}

/* ------------------------------------------------------------------ SQL */

/*
** Every :name in the statement must be a declared parameter, and every
** parameter must be used. String literals, quoted identifiers, comments and
** '::' casts are not parameters. (The database layer rewrites the same
** :names to ?N or $N, with the same rules.)
*/
static void check_sql(hcg_module *m, hcg_decl *d, const hcg_str *sql, const char *clause)
{
    const char *s = sql->s;
    bool *used = hcg_alloc(m->arena, d->params.n + 1);
    size_t pos = 0, i, n;
    for (int kind; (kind = hcg_sql_next(s, &pos, &i, &n)) != HCG_SQL_END;) {
        if (kind == HCG_SQL_OPEN_COMMENT) {
            hcg_error(m->src, hcg_str_at(m, sql, i), "unterminated comment in %s", clause);
            return;
        }
        if (kind != HCG_SQL_PARAM) {
            hcg_error(m->src, hcg_str_at(m, sql, i), "unterminated %s in %s",
                      kind == HCG_SQL_OPEN_STRING ? "string literal" : "quoted identifier", clause);
            return;
        }
        hcg_field *p = find_param(d, s + i + 1, n);
        if (!p) {
            char dym[GUESS_MAX + 32];
            hcg_error(m->src, hcg_str_at(m, sql, i), "unknown parameter ':%.*s' in %s of %s '%s'%s",
                      (int)n, s + i + 1, clause, kind_name(d->kind), d->name,
                      param_guess(d, s + i + 1, n, ":", dym, sizeof dym));
        } else {
            for (size_t k = 0; k < d->params.n; k++) used[k] |= d->params.v[k] == p;
        }
    }
    for (size_t k = 0; k < d->params.n; k++)
        if (!used[k]) {
            hcg_field *p = d->params.v[k];
            hcg_error(m->src, p->off, "parameter '%s' is not used in %s of %s '%s' (write :%s where it goes)",
                      p->name, clause, kind_name(d->kind), d->name, p->name);
        }
}

/* --------------------------------------------------------- declarations */

static void not_here(hcg_module *m, hcg_decl *d, bool given, size_t off, const char *clause,
                     const char *belongs)
{
    if (given)
        hcg_error(m->src, off, "'%s' has no meaning on %s '%s'%s%s", clause, kind_name(d->kind),
                  d->name, belongs ? ": " : "", belongs ? belongs : "");
}

/* The context clause belongs to cacheables: a query's loader is its SQL,
   a policy's loader takes a context already, an exec loads nothing. */
static void check_context(hcg_module *m, hcg_decl *d)
{
    static const char *const why[] = {
        [HCG_QUERY] = "a query loads with its SQL, through the hc_db it is given",
        [HCG_EXEC] = "an exec loads nothing",
        [HCG_POLICY] = "a policy's loader takes a ctx already",
    };
    if (d->kind != HCG_CACHEABLE) not_here(m, d, d->has_context, d->context_off, "context", why[d->kind]);
}

/*
** refresh and stale if error: not on an exec (it caches nothing); stale if
** error not on an infallible cacheable (its loader cannot fail); and a
** refresh, the declaration's own or the module's default, shorter than the
** shortest TTL its entries can get (the TTL less its jitter), or they
** would expire before they are due for one. A TTL left to the cache's
** default is not known here: the runtime then refreshes only entries whose
** refresh comes first.
*/
static void check_fresh(hcg_module *m, hcg_decl *d)
{
    if (d->kind == HCG_EXEC) {
        not_here(m, d, d->fresh.refresh_ms != 0, d->fresh.refresh_off, "refresh", "an exec caches nothing");
        not_here(m, d, d->fresh.stale_ms != 0, d->fresh.stale_off, "stale if error",
                 "an exec caches nothing");
        return;
    }
    check_jitter(m, d->ttl_jitter, d->jitter_off);
    if (d->infallible && d->fresh.stale_ms)
        hcg_error(m->src, d->fresh.stale_off,
                  "'stale if error' has no meaning on infallible cacheable '%s': its loader cannot fail",
                  d->name);
    bool own = d->fresh.refresh_ms != 0;
    uint64_t refresh = own ? d->fresh.refresh_ms : m->fresh.refresh_ms;
    uint64_t ttl = 0, jitter = 0;
    if (d->has_ttl) ttl = d->ttl_ms, jitter = d->ttl_jitter;
    else if (d->entity && d->entity->has_ttl) ttl = d->entity->ttl_ms, jitter = d->entity->ttl_jitter;
    else if (m->has_ttl) ttl = m->ttl_ms, jitter = m->ttl_jitter;
    if (!refresh || !ttl || jitter > 99) return;
    uint64_t shortest = ttl - (ttl / 100 * jitter + ttl % 100 * jitter / 100);
    if (refresh < shortest) return;
    char r[32], t[32], sh[32], j[64] = "";
    if (jitter)
        snprintf(j, sizeof j, " jitter %llu%%, so as short as %s", (unsigned long long)jitter,
                 duration_text(shortest, sh, sizeof sh));
    if (own)
        hcg_error(m->src, d->fresh.refresh_off,
                  "refresh %s is not shorter than the ttl of %s '%s' (%s%s): its entries would expire before a refresh",
                  duration_text(refresh, r, sizeof r), kind_name(d->kind), d->name,
                  duration_text(ttl, t, sizeof t), j);
    else
        hcg_error(m->src, d->off,
                  "the module's default refresh %s is not shorter than the ttl of %s '%s' (%s%s): give it a shorter 'refresh'",
                  duration_text(refresh, r, sizeof r), kind_name(d->kind), d->name,
                  duration_text(ttl, t, sizeof t), j);
}

static void check_entity_clause(hcg_module *m, hcg_decl *d)
{
    hcg_entity *e = find_entity(m, d->entity_name);
    if (!e) {
        guess g;
        char dym[GUESS_MAX + 32];
        guess_init(&g, d->entity_name, strlen(d->entity_name));
        for (size_t i = 0; i < m->entities.n; i++) guess_try(&g, ((hcg_entity *)m->entities.v[i])->name);
        hcg_error(m->src, d->entity_off, "unknown entity '%s'%s", d->entity_name,
                  did_you_mean(&g, "", dym, sizeof dym));
        return;
    }
    d->entity = e;
    if (d->key.s) {
        hcg_error(m->src, d->key.off, "give either 'key' or 'entity', not both");
        return;
    }
    if (d->entity_args.n != 1) {
        hcg_error(m->src, d->entity_off, "entity %s(...) takes one parameter: the value of its primary field '%s'",
                  e->name, e->primary ? e->primary->name : "?");
        return;
    }
    hcg_str *arg = d->entity_args.v[0];
    hcg_field *p = find_param(d, arg->s, strlen(arg->s));
    if (!p) {
        char dym[GUESS_MAX + 32];
        hcg_error(m->src, arg->off, "unknown parameter '%s' in entity %s(...)%s", arg->s, e->name,
                  param_guess(d, arg->s, strlen(arg->s), "", dym, sizeof dym));
        return;
    }
    d->entity_param = p;
    if (e->primary && p->type.base != e->primary->type.base && p->type.base != HCG_UNKNOWN)
        hcg_error(m->src, arg->off, "parameter '%s' is %s but the primary field '%s' of '%s' is %s",
                  p->name, p->type.name, e->primary->name, e->name, e->primary->type.name);
    if (d->has_result && (d->result.entity != e || d->result.list))
        hcg_error(m->src, d->result.off, "a declaration keyed by entity %s(...) must return '%s' or '%s?'",
                  e->name, e->name, e->name);
}

/*
** 'leaves stale q1, q2 until ttl;' names queries: each name must be one,
** once. Whether the exec writes what the query reads is known only with
** --schema or --pg-check (coverage.c); a name that rots is an error there.
*/
static void check_stale(hcg_module *m, hcg_decl *d)
{
    for (size_t i = 0; i < d->stale.n; i++) {
        const hcg_str *name = d->stale.v[i];
        hcg_decl *q = NULL;
        for (size_t k = 0; k < m->decls.n && !q; k++) {
            hcg_decl *e = m->decls.v[k];
            if (strcmp(e->name, name->s) == 0) q = e;
        }
        hcg_vec_push(m->arena, &d->stale_queries, q && q->kind == HCG_QUERY ? q : NULL);
        if (!q) {
            guess g;
            char dym[GUESS_MAX + 32];
            guess_init(&g, name->s, strlen(name->s));
            for (size_t k = 0; k < m->decls.n; k++) {
                const hcg_decl *e = m->decls.v[k];
                if (e->kind == HCG_QUERY) guess_try(&g, e->name);
            }
            hcg_error(m->src, name->off, "unknown query '%s' in 'leaves stale'%s", name->s,
                      did_you_mean(&g, "", dym, sizeof dym));
            continue;
        }
        if (q->kind != HCG_QUERY) {
            hcg_error(m->src, name->off, "'%s' is %s %s, not a query: 'leaves stale' names the queries an exec leaves stale",
                      name->s, q->kind == HCG_EXEC ? "an" : "a", kind_name(q->kind));
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(((const hcg_str *)d->stale.v[k])->s, name->s) == 0) {
                hcg_error(m->src, name->off, "query '%s' is named twice in 'leaves stale'", name->s);
                break;
            }
    }
}

static void check_decl(hcg_module *m, hcg_decl *d)
{
    check_c_name(m, d->off, d->name, kind_name(d->kind));
    for (size_t i = 0; i < d->params.n; i++) {
        hcg_field *p = d->params.v[i];
        check_c_name(m, p->off, p->name, "parameter");
        check_param_name(m, p->off, p->name, "parameter");
        resolve_type(m, &p->type, false, "a parameter");
        for (size_t j = 0; j < i; j++) {
            hcg_field *q = d->params.v[j];
            if (strcmp(p->name, q->name) == 0)
                hcg_error(m->src, p->off, "duplicate parameter '%s'", p->name);
        }
        if (p->type.nullable && d->kind != HCG_EXEC)
            hcg_error(m->src, p->off, "parameter '%s' cannot be nullable: only an exec takes NULL", p->name);
    }
    if (d->has_result) resolve_type(m, &d->result, true, "a result");
    check_context(m, d);

    bool has_sql = d->sql.s || d->sql_sqlite.s || d->sql_postgres.s;
    size_t sql_off = d->sql.s ? d->sql.off : d->sql_sqlite.s ? d->sql_sqlite.off : d->sql_postgres.off;
    switch (d->kind) {
    case HCG_QUERY:
    case HCG_EXEC:
        if (!d->sql.s && !(d->sql_sqlite.s && d->sql_postgres.s))
            hcg_error(m->src, d->off, "%s '%s' has no SQL: give 'sql \"...\";' (or both sql.sqlite and sql.postgres)",
                      kind_name(d->kind), d->name);
        if (d->infallible)
            hcg_error(m->src, d->infallible_off, "'infallible' applies to cacheable functions only: %s '%s' runs SQL, which can fail",
                      kind_name(d->kind), d->name);
        if (d->sql.s) check_sql(m, d, &d->sql, "the sql");
        if (d->sql_sqlite.s) check_sql(m, d, &d->sql_sqlite, "sql.sqlite");
        if (d->sql_postgres.s) check_sql(m, d, &d->sql_postgres, "sql.postgres");
        break;
    case HCG_POLICY:
        if (d->infallible)
            hcg_error(m->src, d->infallible_off, "'infallible' applies to cacheable functions only: a policy's loader reports errors");
        /* fall through */
    case HCG_CACHEABLE:
        not_here(m, d, has_sql, sql_off, "sql", "SQL belongs to query and exec");
        break;
    }
    if (d->kind == HCG_EXEC) {
        if (!d->has_invalidates)
            hcg_error(m->src, d->off, "exec '%s' has no 'invalidates' clause: list the tags it makes stale, or write 'invalidates nothing;'",
                      d->name);
        not_here(m, d, d->key.s != NULL, d->key.off, "key", "an exec caches nothing");
        not_here(m, d, d->tags.n > 0, d->tags.n ? ((hcg_str *)d->tags.v[0])->off : 0, "tags",
                 "an exec caches nothing; use 'invalidates'");
        not_here(m, d, d->has_ttl, d->ttl_off, "ttl", "an exec caches nothing");
        not_here(m, d, d->entity_name != NULL, d->entity_off, "entity", "an exec caches nothing");
        for (size_t i = 0; i < d->invalidates.n; i++) {
            hcg_template *t = hcg_alloc(m->arena, sizeof *t);
            split_template(m, d, d->invalidates.v[i], t, "a tag");
            hcg_vec_push(m->arena, &d->inv_tmpls, t);
        }
        check_stale(m, d);
        check_fresh(m, d);
        return;
    }
    not_here(m, d, d->has_invalidates, d->invalidates_off, "invalidates", "only an exec invalidates");
    not_here(m, d, d->has_stale, d->stale_off, "leaves stale", "only an exec leaves a query stale");

    if (d->entity_name)
        check_entity_clause(m, d);
    else if (d->key.s)
        split_template(m, d, &d->key, &d->key_tmpl, "a key");
    else
        default_key(m, d);
    for (size_t i = 0; i < d->tags.n; i++) {
        hcg_template *t = hcg_alloc(m->arena, sizeof *t);
        split_template(m, d, d->tags.v[i], t, "a tag");
        hcg_vec_push(m->arena, &d->tag_tmpls, t);
    }
    check_fresh(m, d);
}

/* ---------------------------------------------------------- uniqueness */

typedef struct sym {
    const char *name;
    size_t off;
    const char *owner;
} sym;

static int sym_cmp(const void *x, const void *y)
{
    const sym *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->off > b->off) - (a->off < b->off);
}

/* Every C name the output defines, so that two declarations cannot both
   define one (entity user's shop_user_key and a query called user_key). */
static void check_symbols(hcg_module *m)
{
    static const char *const ent_sfx[] = {"", "_list", "_clear", "_list_clear", "_encode",
                                          "_decode", "_key", "_get", "_put", "_invalidate",
                                          "_invalidate_all"};
    size_t cap = m->entities.n * 11 + m->decls.n * 3, n = 0;
    sym *syms = hcg_alloc(m->arena, (cap + 1) * sizeof *syms);
    char buf[512];
    for (size_t i = 0; i < m->entities.n; i++) {
        hcg_entity *e = m->entities.v[i];
        for (size_t k = 0; k < 11; k++) {
            snprintf(buf, sizeof buf, "%s_%s%s", m->name, e->name, ent_sfx[k]);
            syms[n++] = (sym){hcg_strndup(m->arena, buf, strlen(buf)), e->off, e->name};
        }
    }
    for (size_t i = 0; i < m->decls.n; i++) {
        hcg_decl *d = m->decls.v[i];
        const char *sfx2 = d->kind == HCG_QUERY ? "_direct" : d->kind == HCG_POLICY ? "_loader"
                         : d->kind == HCG_CACHEABLE ? "_load" : NULL;
        snprintf(buf, sizeof buf, "%s_%s", m->name, d->name);
        syms[n++] = (sym){hcg_strndup(m->arena, buf, strlen(buf)), d->off, d->name};
        if (sfx2) {
            snprintf(buf, sizeof buf, "%s_%s%s", m->name, d->name, sfx2);
            syms[n++] = (sym){hcg_strndup(m->arena, buf, strlen(buf)), d->off, d->name};
        }
    }
    /* Sorted by name, equal names are neighbours: n log n for 10,000s. */
    qsort(syms, n, sizeof *syms, sym_cmp);
    /* One error per declaration, however many of its names clash (the
       list of those reported stays short: only clashing ones are in it). */
    size_t *reported = hcg_alloc(m->arena, (n + 1) * sizeof *reported), nrep = 0;
    for (size_t i = 1; i < n; i++) {
        const sym *a = &syms[i - 1], *b = &syms[i];
        if (strcmp(a->name, b->name) != 0) continue;
        bool seen = false;
        for (size_t k = 0; k < nrep && !seen; k++) seen = reported[k] == b->off;
        if (seen) continue;
        reported[nrep++] = b->off;
        if (strcmp(a->owner, b->owner) != 0) {
            hcg_error(m->src, b->off, "'%s' would define %s, which '%s' defines already",
                      b->owner, b->name, a->owner);
            hcg_note(m->src, a->off, "'%s' is declared here", a->owner);
        } else {
            hcg_error(m->src, b->off, "duplicate name '%s'", b->owner);
            hcg_note(m->src, a->off, "'%s' was declared here", a->owner);
        }
    }
}

/* Two declarations with one key template would overwrite each other's
   values (of different types). Entity-keyed declarations share the entity's
   key on purpose: they all store that entity. */
typedef struct keyshape {
    const char *shape;
    size_t off;
    const char *owner;
} keyshape;

static int shape_cmp(const void *x, const void *y)
{
    const keyshape *a = x, *b = y;
    int c = strcmp(a->shape, b->shape);
    return c ? c : (a->off > b->off) - (a->off < b->off);
}

static void check_keys(hcg_module *m)
{
    size_t n = m->entities.n + m->decls.n, k = 0;
    keyshape *ks = hcg_alloc(m->arena, (n + 1) * sizeof *ks);
    for (size_t i = 0; i < m->entities.n; i++) {
        hcg_entity *e = m->entities.v[i];
        const char *key = e->key.s ? e->key.s : e->name;
        char *s = hcg_alloc(m->arena, strlen(key) + 4);
        sprintf(s, "%s:{}", key);
        ks[k++] = (keyshape){s, e->key.s ? e->key.off : e->off, e->name};
    }
    for (size_t i = 0; i < m->decls.n; i++) {
        hcg_decl *d = m->decls.v[i];
        if (d->kind == HCG_EXEC || d->entity_name || !d->key_tmpl.pieces.n) continue;
        ks[k++] = (keyshape){hcg_check_shape(m, &d->key_tmpl), d->key.s ? d->key.off : d->off, d->name};
    }
    qsort(ks, k, sizeof *ks, shape_cmp);
    /* Two with the same name are one duplicate, which check_symbols has
       reported: that they also share a key is no news. */
    for (size_t i = 1; i < k; i++)
        if (strcmp(ks[i].shape, ks[i - 1].shape) == 0 && strcmp(ks[i].owner, ks[i - 1].owner) != 0) {
            hcg_error(m->src, ks[i].off, "'%s' has the same key template as '%s' (\"%s\"): their values would overwrite each other",
                      ks[i].owner, ks[i - 1].owner, ks[i].shape);
            hcg_note(m->src, ks[i - 1].off, "'%s' declares it here", ks[i - 1].owner);
        }
}

int hcg_check(hcg_module *m)
{
    int before = m->src->nerrors;
    if (!m->name) {
        hcg_error(m->src, 0, "missing 'module NAME;': it names the generated symbols");
        return m->src->nerrors - before;
    }
    check_c_name(m, m->name_off, m->name, "module");
    check_jitter(m, m->ttl_jitter, m->jitter_off);
    for (size_t i = 0; i < m->entities.n; i++) check_entity(m, m->entities.v[i]);
    for (size_t i = 0; i < m->decls.n; i++) check_decl(m, m->decls.v[i]);
    check_symbols(m);
    check_keys(m);
    return m->src->nerrors - before;
}
