/*
** sql.c -- the :name parameters of SQL statements.
**
** One scanner finds them for the checker (every :name declared, every
** parameter used) and for the rewriting into each dialect's placeholders
** (?N for SQLite, $N for PostgreSQL, N the parameter's position in the
** declaration). It knows just enough SQL to leave alone what is not a
** parameter: 'string literals' (a doubled '' included), "quoted names",
** -- comments, block comments and '::' casts.
*/
#include <string.h>

#include "hcg.h"

static bool ident_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool ident_char(char ch)
{
    return ident_start(ch) || (ch >= '0' && ch <= '9');
}

int hcg_sql_next(const char *s, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    while (s[i]) {
        char ch = s[i];
        if (ch == '\'' || ch == '"') {
            const char *end = strchr(s + i + 1, ch);
            if (!end) {
                *start = i;
                return ch == '\'' ? HCG_SQL_OPEN_STRING : HCG_SQL_OPEN_QUOTE;
            }
            i = (size_t)(end - s) + 1;
        } else if (ch == '-' && s[i + 1] == '-') {
            while (s[i] && s[i] != '\n') i++;
        } else if (ch == '/' && s[i + 1] == '*') {
            const char *end = strstr(s + i + 2, "*/");
            if (!end) {
                *start = i;
                return HCG_SQL_OPEN_COMMENT;
            }
            i = (size_t)(end - s) + 2;
        } else if (ch == ':' && s[i + 1] == ':') {
            i += 2;
        } else if (ch == ':' && ident_start(s[i + 1])) {
            size_t n = 1;
            while (ident_char(s[i + 1 + n])) n++;
            *start = i;
            *len = n;
            *pos = i + 1 + n;
            return HCG_SQL_PARAM;
        } else {
            i++;
        }
    }
    *pos = i;
    return HCG_SQL_END;
}

const hcg_str *hcg_sql_for(const hcg_decl *d, hcg_dialect dialect)
{
    const hcg_str *own = dialect == HCG_SQLITE ? &d->sql_sqlite : &d->sql_postgres;
    return own->s ? own : &d->sql;
}

char *hcg_sql_rewrite(const hcg_module *m, const hcg_decl *d, const char *sql,
                      hcg_dialect dialect, size_t **map)
{
    /* "$65535" is 6 bytes for a ":x" of 2 at least, so 4 extra per
       parameter is more than enough. */
    size_t cap = strlen(sql) + 1;
    for (size_t i = 0; sql[i]; i++) cap += sql[i] == ':' ? 8 : 0;
    char *out = hcg_alloc(m->arena, cap);
    size_t *where = map ? hcg_alloc(m->arena, cap * sizeof *where) : NULL;
    size_t w = 0, pos = 0, start, len;
    for (;;) {
        size_t from = pos;
        int kind = hcg_sql_next(sql, &pos, &start, &len);
        size_t upto = kind == HCG_SQL_PARAM ? start : strlen(sql);
        for (size_t k = from; k < upto; k++) {
            if (where) where[w] = k;
            out[w++] = sql[k];
        }
        if (kind != HCG_SQL_PARAM) break;
        size_t n = 0;
        for (size_t k = 0; k < d->params.n; k++) {
            const hcg_field *p = d->params.v[k];
            if (strlen(p->name) == len && memcmp(p->name, sql + start + 1, len) == 0) n = k + 1;
        }
        char num[24];
        size_t nl = 0;
        for (size_t v = n; ; v /= 10) {
            num[nl++] = (char)('0' + v % 10);
            if (v < 10) break;
        }
        if (where) where[w] = start;
        out[w++] = dialect == HCG_SQLITE ? '?' : '$';
        while (nl) {
            if (where) where[w] = start;
            out[w++] = num[--nl];
        }
    }
    out[w] = 0;
    if (where) where[w] = strlen(sql);
    if (map) *map = where;
    return out;
}

size_t hcg_str_at(const hcg_module *m, const hcg_str *s, size_t i)
{
    const char *raw = m->src->text + s->off + 1;
    size_t r = 0;
    for (size_t k = 0; k < i && raw[r] && raw[r] != '"'; k++) r += raw[r] == '\\' && raw[r + 1] ? 2 : 1;
    return s->off + 1 + r;
}

/* Past the string literal or comment at text + i, or i when there is none
   (a quoted identifier is searched like any text). */
static size_t skip_literal(const char *text, size_t i)
{
    if (text[i] == '\'') {
        for (i++; text[i] && text[i] != '\''; i++) {}
        return text[i] ? i + 1 : i;
    }
    if (text[i] == '-' && text[i + 1] == '-') {
        while (text[i] && text[i] != '\n') i++;
        return i;
    }
    if (text[i] == '/' && text[i + 1] == '*') {
        const char *end = strstr(text + i + 2, "*/");
        return end ? (size_t)(end - text) + 2 : i + strlen(text + i);
    }
    return i;
}

size_t hcg_sql_find_word(const char *text, const char *name)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t n = strlen(name);
        for (size_t i = 0; n && text[i]; i++) {
            size_t past = skip_literal(text, i);
            if (past != i) {
                /* Strings and comments hold no names (a '' inside a string
                   ends it and starts the next). */
                i = past - 1;
                if (!text[past]) break;
                continue;
            }
            if (i > 0 && ident_char(text[i - 1])) continue;
            size_t k = 0;
            while (k < n && text[i + k] && (text[i + k] | 0x20) == (name[k] | 0x20)) k++;
            if (k == n && !ident_char(text[i + n])) return i;
        }
        const char *dot = strrchr(name, '.');
        if (!dot) break;
        name = dot + 1;
    }
    return (size_t)-1;
}
