/*
** coverage.c -- build-time invalidation coverage. With --schema or
** --pg-check, schema.c records what each statement reads and writes while
** the database prepares it; here every exec is held against every query:
** an exec that writes a table or column the query reads must invalidate
** one of the query's tags, or name the query in 'leaves stale ... until
** ttl;' to say that the query may stay stale until its TTL. Otherwise the
** cache would serve the old value after the write, with nothing to show
** for it until someone notices.
**
** Tags match by shape: a template with every {param} made one placeholder,
** so an exec's "user:{id}" covers a query's "user:{user_id}". Which values
** the parameters take is not known here: the check says that some tag of
** the query is invalidated, not that it is the right one.
*/
#include <stdio.h>
#include <string.h>

#include "hcg.h"

static bool same(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a | 0x20) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b | 0x20) : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

/* A tag a query's values carry: as the user wrote it, and its shape. */
typedef struct qtag {
    const char *text;
    const char *shape;
} qtag;

static void add_tag(hcg_module *m, hcg_vec *tags, const char *text, const char *shape)
{
    qtag *t = hcg_alloc(m->arena, sizeof *t);
    t->text = text;
    t->shape = shape;
    hcg_vec_push(m->arena, tags, t);
}

/* q's tags in the order the generated code gives them: an entity's two
   ("<key>:{p}" and its collection, taken literally), then its own. */
static void query_tags(hcg_module *m, const hcg_decl *q, hcg_vec *tags)
{
    const hcg_entity *e = q->entity;
    if (e && q->entity_param) {
        const char *key = e->key.s ? e->key.s : e->name;
        size_t n = strlen(key) + strlen(q->entity_param->name) + 4;
        char *text = hcg_alloc(m->arena, n), *shape = hcg_alloc(m->arena, n);
        snprintf(text, n, "%s:{%s}", key, q->entity_param->name);
        snprintf(shape, n, "%s:{}", key);
        add_tag(m, tags, text, shape);
        if (e->collection.s) {
            add_tag(m, tags, e->collection.s, e->collection.s);
        } else {
            n = strlen(key) + 5;
            char *all = hcg_alloc(m->arena, n);
            snprintf(all, n, "%s:all", key);
            add_tag(m, tags, all, all);
        }
    }
    for (size_t i = 0; i < q->tag_tmpls.n; i++) {
        const hcg_template *t = q->tag_tmpls.v[i];
        add_tag(m, tags, t->src.s, hcg_check_shape(m, t));
    }
}

/* The first of e's invalidated tags that is one of tags, as e writes it;
   or NULL. */
static const char *shared_tag(hcg_module *m, const hcg_decl *e, const hcg_vec *tags)
{
    for (size_t i = 0; i < e->inv_tmpls.n; i++) {
        const hcg_template *t = e->inv_tmpls.v[i];
        const char *s = hcg_check_shape(m, t);
        for (size_t k = 0; k < tags->n; k++)
            if (strcmp(s, ((const qtag *)tags->v[k])->shape) == 0) return t->src.s;
    }
    return NULL;
}

/* ------------------------------------------------------------- accesses */

/*
** Whether write w changes what read r saw. An INSERT or a DELETE changes
** every read of its table, a count of its rows included. An UPDATE changes
** the reads of the columns it sets, and no count: SQLite names both, so a
** query reading other columns of the table is not affected. PostgreSQL
** names tables only, so there every write changes every read.
*/
static bool changes(const hcg_access *w, const hcg_access *r)
{
    if (w->op == HCG_READ || r->op != HCG_READ || !same(w->table, r->table)) return false;
    if (w->op != HCG_UPDATE || !w->column || !r->column) return true;
    return r->column[0] && same(w->column, r->column);
}

/* Whether, in dialect, e writes table and q reads it (any columns). */
static bool share_table(const hcg_decl *e, const hcg_decl *q, hcg_dialect dialect, const char *table)
{
    bool writes = false, reads = false;
    for (size_t i = 0; i < e->access[dialect].n; i++) {
        const hcg_access *a = e->access[dialect].v[i];
        writes |= a->op != HCG_READ && same(a->table, table);
    }
    for (size_t i = 0; i < q->access[dialect].n; i++) {
        const hcg_access *a = q->access[dialect].v[i];
        reads |= a->op == HCG_READ && same(a->table, table);
    }
    return writes && reads;
}

/* Whether e writes a table that q reads, whatever the columns, in any
   database that prepared both. This, not find_hits, is what keeps a
   'leaves stale' in place: PostgreSQL sees tables only, and an opt-out
   that one database needs must not be an error in the other. */
static bool writes_under(const hcg_decl *e, const hcg_decl *q)
{
    for (int dialect = 0; dialect < HCG_DIALECTS; dialect++) {
        if (!e->analysed[dialect] || !q->analysed[dialect]) continue;
        for (size_t i = 0; i < e->access[dialect].n; i++) {
            const hcg_access *w = e->access[dialect].v[i];
            if (w->op != HCG_READ && share_table(e, q, (hcg_dialect)dialect, w->table)) return true;
        }
    }
    return false;
}

/* A write of the exec that changes a read of the query. */
typedef struct hit {
    const hcg_access *w, *r;
    hcg_dialect dialect;
} hit;

/*
** Every write of e that changes a read of q, in each database that
** prepared both. Where both did, SQLite's answer, by column, stands for
** the tables it saw both statements touch; PostgreSQL's, by table, adds
** only the tables SQLite did not (their sql.sqlite and sql.postgres may
** differ).
*/
static void find_hits(hcg_module *m, const hcg_decl *e, const hcg_decl *q, hcg_vec *hits)
{
    for (int dialect = 0; dialect < HCG_DIALECTS; dialect++) {
        if (!e->analysed[dialect] || !q->analysed[dialect]) continue;
        bool lite = dialect == HCG_POSTGRES && e->analysed[HCG_SQLITE] && q->analysed[HCG_SQLITE];
        for (size_t i = 0; i < e->access[dialect].n; i++) {
            const hcg_access *w = e->access[dialect].v[i];
            for (size_t k = 0; k < q->access[dialect].n; k++) {
                const hcg_access *r = q->access[dialect].v[k];
                if (!changes(w, r)) continue;
                if (lite && share_table(e, q, HCG_SQLITE, w->table)) continue;
                hit *h = hcg_alloc(m->arena, sizeof *h);
                h->w = w;
                h->r = r;
                h->dialect = (hcg_dialect)dialect;
                hcg_vec_push(m->arena, hits, h);
            }
        }
    }
}

/* ------------------------------------------------------------ reporting */

/* "writes users.name", "inserts into audit through trigger 'log'". */
static void describe_write(const hcg_access *w, char *buf, size_t cap)
{
    int n;
    switch (w->op) {
    case HCG_INSERT: n = snprintf(buf, cap, "inserts into %s", w->table); break;
    case HCG_DELETE: n = snprintf(buf, cap, "deletes from %s", w->table); break;
    default:
        n = w->column ? snprintf(buf, cap, "writes %s.%s", w->table, w->column)
                      : snprintf(buf, cap, "updates %s", w->table);
    }
    if (w->via_kind && n >= 0 && (size_t)n < cap) {
        if (w->via) snprintf(buf + n, cap - (size_t)n, " through %s '%s'", w->via_kind, w->via);
        else snprintf(buf + n, cap - (size_t)n, " %s", w->via_kind);
    }
}

/* The different writes among hits, joined by ", ", with one "writes" for
   a run of columns set plainly: "writes users.name, users.email" (arena). */
static const char *writes_of(hcg_module *m, const hcg_vec *hits)
{
    size_t cap = 1;
    char one[512];
    const char **seen = hcg_alloc(m->arena, (hits->n + 1) * sizeof *seen);
    bool *plain = hcg_alloc(m->arena, hits->n + 1);
    size_t nseen = 0;
    for (size_t i = 0; i < hits->n; i++) {
        const hcg_access *w = ((const hit *)hits->v[i])->w;
        describe_write(w, one, sizeof one);
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++) dup = strcmp(seen[k], one) == 0;
        if (dup) continue;
        plain[nseen] = w->op == HCG_UPDATE && w->column && !w->via_kind;
        seen[nseen++] = hcg_strndup(m->arena, one, strlen(one));
        cap += strlen(one) + 2;
    }
    char *s = hcg_alloc(m->arena, cap);
    for (size_t k = 0; k < nseen; k++) {
        if (k) strcat(s, ", ");
        strcat(s, k && plain[k] && plain[k - 1] ? seen[k] + strlen("writes ") : seen[k]);
    }
    return s;
}

/* 'users', 'team:{team}' (arena). */
static const char *tag_list(hcg_module *m, const hcg_vec *tags)
{
    size_t cap = 1;
    for (size_t i = 0; i < tags->n; i++) cap += strlen(((const qtag *)tags->v[i])->text) + 4;
    char *s = hcg_alloc(m->arena, cap);
    for (size_t i = 0; i < tags->n; i++) {
        if (i) strcat(s, ", ");
        strcat(s, "'");
        strcat(s, ((const qtag *)tags->v[i])->text);
        strcat(s, "'");
    }
    return s;
}

/* "shop.hcache:50:7": where d is declared, for a message. */
static const char *where_is(hcg_module *m, const hcg_decl *d)
{
    int line = hcg_line_of(m->src, d->off);
    size_t col = d->off - m->src->line_starts[line - 1] + 1;
    size_t n = strlen(m->src->path) + 48;
    char *s = hcg_alloc(m->arena, n);
    snprintf(s, n, "%s:%d:%zu", m->src->path, line, col);
    return s;
}

/* The note at the query: where its statement reads what the write changes
   (the view it reads through, the column, or the table, as the text names
   it; the string's quote when it names none of them, as in SELECT *). */
static void note_read(hcg_module *m, const hcg_decl *q, const hit *h)
{
    const hcg_access *r = h->r;
    const hcg_str *sql = hcg_sql_for(q, h->dialect);
    const char *look[3] = {r->via, r->column && r->column[0] ? r->column : NULL, r->table};
    size_t at = (size_t)-1;
    for (int i = 0; i < 3 && at == (size_t)-1; i++)
        if (look[i]) at = hcg_sql_find_word(sql->s, look[i]);
    size_t off = at == (size_t)-1 ? sql->off : hcg_str_at(m, sql, at);
    char what[512];
    int n = r->column && r->column[0] ? snprintf(what, sizeof what, "%s.%s", r->table, r->column)
                                      : snprintf(what, sizeof what, "%s", r->table);
    if (r->via && n >= 0 && (size_t)n < sizeof what)
        snprintf(what + n, sizeof what - (size_t)n, " through %s '%s'", r->via_kind, r->via);
    hcg_note(m->src, off, "query '%s' reads %s here", q->name, what);
}

/* The name in e's 'leaves stale' that is q, or NULL. */
static const hcg_str *left_stale(const hcg_decl *e, const hcg_decl *q)
{
    for (size_t i = 0; i < e->stale_queries.n; i++)
        if (e->stale_queries.v[i] == q) return e->stale.v[i];
    return NULL;
}

static void check_pair(hcg_module *m, hcg_decl *e, hcg_decl *q)
{
    hcg_vec hits = {NULL, 0, 0}, tags = {NULL, 0, 0};
    find_hits(m, e, q, &hits);
    const hcg_str *stale = left_stale(e, q);
    if (!hits.n && !stale) return;   /* most pairs: nothing allocated */
    query_tags(m, q, &tags);
    const char *tag = shared_tag(m, e, &tags);
    if (stale) {
        /* An opt-out that no longer opts out of anything is an error, so
           that none outlives the write it was written for. */
        if (!writes_under(e, q))
            hcg_error(m->src, stale->off, "exec '%s' writes no table that query '%s' reads: remove '%s' from 'leaves stale'",
                      e->name, q->name, q->name);
        else if (tag)
            hcg_error(m->src, stale->off, "exec '%s' invalidates '%s', a tag of query '%s', so it does not leave it stale: "
                      "remove '%s' from 'leaves stale'", e->name, tag, q->name, q->name);
        return;
    }
    if (!hits.n || tag) return;
    const hit *h = hits.v[0];
    if (!tags.n)
        hcg_error(m->src, e->invalidates_off, "exec '%s' %s, read by query '%s' (%s), which has no tags: "
                  "give it one (such as 'tags \"%s\";') and invalidate it here, or write 'leaves stale %s until ttl;'",
                  e->name, writes_of(m, &hits), q->name, where_is(m, q), h->w->table, q->name);
    else
        hcg_error(m->src, e->invalidates_off, "exec '%s' %s, read by query '%s' (%s), but invalidates none of its tags (%s): "
                  "invalidate one, or write 'leaves stale %s until ttl;'",
                  e->name, writes_of(m, &hits), q->name, where_is(m, q), tag_list(m, &tags), q->name);
    note_read(m, q, h);
}

int hcg_check_coverage(hcg_module *m)
{
    int before = m->src->nerrors;
    for (size_t i = 0; i < m->decls.n; i++) {
        hcg_decl *e = m->decls.v[i];
        if (e->kind != HCG_EXEC) continue;
        for (size_t k = 0; k < m->decls.n; k++) {
            hcg_decl *q = m->decls.v[k];
            if (q->kind == HCG_QUERY) check_pair(m, e, q);
        }
    }
    return m->src->nerrors - before;
}
