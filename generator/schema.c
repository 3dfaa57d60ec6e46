/*
** schema.c -- --schema and --pg-check: prepare every query and exec
** statement against a real database at build time, so that a misspelled
** table or column, a stray placeholder, a column count that does not match
** the result, or a column type that cannot fill a field is an error at the
** statement's line instead of a failure at run time.
**
** --schema loads a schema file into an in-memory SQLite database and
** prepares each statement's SQLite text there. --pg-check prepares each
** statement's PostgreSQL text on a live server (in a session of its own,
** with no parameter types, so the server infers them) and describes it.
** Nothing is ever executed: a prepared statement is only compiled.
**
** Errors point into the .hcache file: the database's offset into the text
** it was given goes back through hcg_sql_rewrite's map to the :name text,
** then through hcg_str_at to the byte as written in the string literal.
*/
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "hcg.h"

/* ---------------------------------------------------------- both kinds */

static const char *kind_name(hcg_kind k)
{
    return k == HCG_QUERY ? "query" : "exec";
}

static bool ident_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool ident_char(char ch)
{
    return ident_start(ch) || (ch >= '0' && ch <= '9');
}

static bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* "no columns", "1 column", "3 columns", written into buf. */
static const char *columns(size_t n, char *buf, size_t cap)
{
    if (n == 0) snprintf(buf, cap, "no columns");
    else snprintf(buf, cap, "%zu column%s", n, n == 1 ? "" : "s");
    return buf;
}

/*
** The first placeholder in s that hcachegen did not write: for SQLite a
** '?' or '?N', '@x', '$x', '#x' or ':N'; for PostgreSQL a '$N'. Its index,
** or (size_t)-1; *len is its length. It skips what hcg_sql_next skips
** (literals, quoted names, comments, '::') and the :names it rewrites.
*/
static size_t foreign_param(const char *s, hcg_dialect dialect, size_t *len)
{
    size_t i = 0;
    while (s[i]) {
        char ch = s[i];
        if (ch == '\'' || ch == '"' || (dialect == HCG_SQLITE && (ch == '`' || ch == '['))) {
            const char *end = strchr(s + i + 1, ch == '[' ? ']' : ch);
            if (!end) break;
            i = (size_t)(end - s) + 1;
        } else if (ch == '-' && s[i + 1] == '-') {
            while (s[i] && s[i] != '\n') i++;
        } else if (ch == '/' && s[i + 1] == '*') {
            const char *end = strstr(s + i + 2, "*/");
            if (!end) break;
            i = (size_t)(end - s) + 2;
        } else if (ch == ':' && s[i + 1] == ':') {
            i += 2;
        } else if (ch == ':' && ident_start(s[i + 1])) {
            for (i++; ident_char(s[i]); i++) {}
        } else if (dialect == HCG_POSTGRES ? ch == '$' && digit(s[i + 1])
                   : ch == '?' || (ch == ':' && digit(s[i + 1])) ||
                     ((ch == '@' || ch == '$' || ch == '#') && ident_char(s[i + 1]))) {
            size_t n = 1;
            while (ident_char(s[i + n])) n++;
            *len = n;
            return i;
        } else {
            i++;
        }
    }
    return (size_t)-1;
}

/* The first :name of parameter p in the statement, or the literal's start. */
static size_t param_use(const hcg_module *m, const hcg_str *sql, const hcg_field *p)
{
    size_t pos = 0, start, len;
    while (hcg_sql_next(sql->s, &pos, &start, &len) == HCG_SQL_PARAM)
        if (strlen(p->name) == len && memcmp(p->name, sql->s + start + 1, len) == 0)
            return hcg_str_at(m, sql, start);
    return sql->off;
}

/* Where output byte i of a rewritten statement came from in the .hcache. */
static size_t source_of(const hcg_module *m, const hcg_str *sql, const size_t *map,
                        const char *text, size_t i)
{
    return i <= strlen(text) ? hcg_str_at(m, sql, map[i]) : sql->off;
}

/*
** The placeholders of the statement against the declared parameters:
** nparams is what the database counted. A literal '?' or '$1' in the SQL
** is counted there but bound by nobody.
*/
static void check_params(hcg_module *m, const hcg_decl *d, const hcg_str *sql,
                         hcg_dialect dialect, size_t nparams)
{
    size_t flen = 0, foreign = foreign_param(sql->s, dialect, &flen);
    size_t at = foreign != (size_t)-1 ? hcg_str_at(m, sql, foreign) : sql->off;
    const char *how = dialect == HCG_SQLITE ? "'?', '?N', '@x' or '$x'" : "'$N'";
    if (nparams != d->params.n) {
        if (foreign != (size_t)-1)
            hcg_error(m->src, at, "in %s '%s': the statement takes %zu parameter%s but '%s' declares %zu "
                      "('%.*s' is not a declared parameter: write parameters as :name)",
                      kind_name(d->kind), d->name, nparams, nparams == 1 ? "" : "s", d->name,
                      d->params.n, (int)flen, sql->s + foreign);
        else
            hcg_error(m->src, at, "in %s '%s': the statement takes %zu parameter%s but '%s' declares %zu",
                      kind_name(d->kind), d->name, nparams, nparams == 1 ? "" : "s", d->name, d->params.n);
    } else if (foreign != (size_t)-1) {
        hcg_error(m->src, at, "in %s '%s': '%.*s' is a placeholder hcachegen does not bind "
                  "(write parameters as :name, not %s)",
                  kind_name(d->kind), d->name, (int)flen, sql->s + foreign, how);
    }
}

/* How many columns the declaration's result takes: 0 for an exec. */
static size_t wanted_columns(const hcg_decl *d)
{
    if (d->kind == HCG_EXEC || !d->has_result) return 0;
    return d->result.base == HCG_ENTITY && d->result.entity ? d->result.entity->fields.n : 1;
}

/* Report a column count that does not fit. Returns whether it fits. */
static bool check_ncols(hcg_module *m, const hcg_decl *d, const hcg_str *sql, size_t ncols)
{
    size_t want = wanted_columns(d);
    if (ncols == want) return true;
    char b[64];
    if (d->kind == HCG_EXEC || !d->has_result) {
        hcg_error(m->src, sql->off, "in %s '%s': the statement returns %s, but an exec discards rows "
                  "(make it a query, or drop the RETURNING clause)",
                  kind_name(d->kind), d->name, columns(ncols, b, sizeof b));
    } else if (d->result.base == HCG_ENTITY && d->result.entity) {
        const hcg_entity *e = d->result.entity;
        hcg_error(m->src, sql->off, "in %s '%s': the statement returns %s but entity '%s' has %zu field%s "
                  "(columns fill fields by position)",
                  kind_name(d->kind), d->name, columns(ncols, b, sizeof b), e->name, e->fields.n,
                  e->fields.n == 1 ? "" : "s");
        hcg_note(m->src, e->off, "entity '%s' is declared here", e->name);
    } else {
        hcg_error(m->src, sql->off, "in %s '%s': the statement returns %s but the result (%s) takes 1",
                  kind_name(d->kind), d->name, columns(ncols, b, sizeof b), d->result.name);
    }
    return false;
}

/* A column type already reported at a field's declaration: once for the
   field, however many statements select that column (a list per database). */
typedef struct mismatch {
    const hcg_field *field;
    const char *coltype;
} mismatch;

/* Where column name stands in text, the statement as rewritten, as an
   offset in the .hcache; the string's opening quote when the text does
   not name it (SELECT *). */
static size_t column_at(const hcg_module *m, const hcg_str *sql, const size_t *map,
                        const char *text, const char *name)
{
    size_t at = name && *name ? hcg_sql_find_word(text, name) : (size_t)-1;
    return at == (size_t)-1 ? sql->off : source_of(m, sql, map, text, at);
}

/*
** Report that column i (name, described as coltype) cannot fill its field
** or the result. A column that fills the field of its own name says that
** the field's type is wrong, for every statement that selects it: that is
** reported once, at the field, with a note at the first statement. Any
** other column is the statement's mistake (columns in the wrong order, a
** wrong column): reported at the column in the SQL, noting the field.
*/
static void type_error(hcg_module *m, const hcg_decl *d, const hcg_str *sql, const size_t *map,
                       const char *text, size_t i, const char *name, const char *coltype,
                       hcg_vec *seen)
{
    size_t at = column_at(m, sql, map, text, name);
    if (d->result.base == HCG_ENTITY && d->result.entity) {
        const hcg_entity *e = d->result.entity;
        const hcg_field *f = e->fields.v[i];
        if (name && sqlite3_stricmp(name, f->name) == 0) {
            for (size_t k = 0; k < seen->n; k++) {
                const mismatch *s = seen->v[k];
                if (s->field == f && strcmp(s->coltype, coltype) == 0) return;
            }
            mismatch *s = hcg_alloc(m->arena, sizeof *s);
            s->field = f;
            s->coltype = hcg_strndup(m->arena, coltype, strlen(coltype));
            hcg_vec_push(m->arena, seen, s);
            hcg_error(m->src, f->off, "field '%s' (%s) of entity '%s' cannot hold column '%s' (%s): "
                      "change the field's type, or cast the column where it is selected",
                      f->name, f->type.name, e->name, name, coltype);
            hcg_note(m->src, at, "%s '%s' selects it here", kind_name(d->kind), d->name);
            return;
        }
        hcg_error(m->src, at, "in %s '%s': column '%s' (%s) cannot fill field '%s' (%s) of entity '%s'",
                  kind_name(d->kind), d->name, name, coltype, f->name, f->type.name, e->name);
        hcg_note(m->src, f->off, "field '%s' is declared here", f->name);
    } else {
        hcg_error(m->src, at, "in %s '%s': column '%s' (%s) cannot fill the result (%s)",
                  kind_name(d->kind), d->name, name, coltype, d->result.name);
        hcg_note(m->src, d->result.off, "the result type is declared here");
    }
}

/* The type column i of the result must fill. */
static hcg_base column_base(const hcg_decl *d, size_t i)
{
    if (d->result.base == HCG_ENTITY && d->result.entity)
        return ((const hcg_field *)d->result.entity->fields.v[i])->type.base;
    return d->result.base;
}

/* -------------------------------------------------------------- SQLite */

enum { AFF_INTEGER, AFF_TEXT, AFF_BLOB, AFF_REAL, AFF_NUMERIC };
static const char *const aff_names[] = {"INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC"};

static bool has(const char *s, const char *word)
{
    for (; *s; s++) {
        size_t k = 0;
        while (word[k] && (s[k] | 0x20) == (word[k] | 0x20)) k++;
        if (!word[k]) return true;
    }
    return false;
}

/* A declared type's affinity, by the rules of sqlite.org/datatype3.html
   section 3.1, in their order. */
static int affinity(const char *decl)
{
    if (has(decl, "INT")) return AFF_INTEGER;
    if (has(decl, "CHAR") || has(decl, "CLOB") || has(decl, "TEXT")) return AFF_TEXT;
    if (has(decl, "BLOB") || !*decl) return AFF_BLOB;
    if (has(decl, "REAL") || has(decl, "FLOA") || has(decl, "DOUB")) return AFF_REAL;
    return AFF_NUMERIC;
}

static bool affinity_fits(hcg_base b, int aff)
{
    switch (b) {
    case HCG_I32: case HCG_I64: case HCG_U32: case HCG_U64: case HCG_BOOL:
        return aff == AFF_INTEGER || aff == AFF_NUMERIC;
    case HCG_F64:
        return aff == AFF_REAL || aff == AFF_INTEGER || aff == AFF_NUMERIC;
    case HCG_TEXT:
        return aff == AFF_TEXT;
    case HCG_BLOB:
        return aff == AFF_BLOB;
    default:
        return true;
    }
}

/* Skip whitespace, comments and empty statements. */
static const char *skip_blank(const char *p)
{
    for (;;) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v' || *p == ';') {
            p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end) return p;
            p = end + 2;
        } else {
            return p;
        }
    }
}

/* Where in text, the statement just prepared, the last error on db is; or
   (size_t)-1. SQLite gives an offset for most errors; for "no such table",
   which has none, the first place the name stands will do. */
static size_t error_at(sqlite3 *db, const char *text)
{
    int eo = sqlite3_error_offset(db);
    if (eo >= 0) return (size_t)eo;
    const char *msg = sqlite3_errmsg(db);
    return strncmp(msg, "no such table: ", 15) == 0 ? hcg_sql_find_word(text, msg + 15) : (size_t)-1;
}

/* Just past the ';' that ends the statement at p, or NULL. (After an error
   in sqlite3_prepare_v2, its tail points where parsing stopped.) */
static const char *statement_end(const char *p)
{
    for (const char *q = strchr(p, ';'); q; q = strchr(q + 1, ';')) {
        size_t n = (size_t)(q - p) + 1;
        char *s = malloc(n + 1);
        if (!s) return NULL;
        memcpy(s, p, n);
        s[n] = 0;
        int complete = sqlite3_complete(s);
        free(s);
        if (complete) return q + 1;
    }
    return NULL;
}

/*
** The schema is a trusted build input, but running it must not reach
** outside the in-memory database, and nothing a schema declares needs to:
** ATTACH opens or creates a database file at any path, DETACH goes with
** it, and VACUUM (VACUUM INTO writes a file) runs an ATTACH of its own,
** which is refused the same way. ctx records the refusal for the message.
*/
static int schema_authorizer(void *ctx, int action, const char *a, const char *b,
                             const char *c, const char *d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    if (action != SQLITE_ATTACH && action != SQLITE_DETACH) return SQLITE_OK;
    *(int *)ctx = action;
    return SQLITE_DENY;
}

/* Report the statement at p, refused by schema_authorizer (action). */
static void refused(hcg_src *src, const char *p, int action)
{
    static const char *const words[] = {"ATTACH", "DETACH", "VACUUM"};
    const char *word = action == SQLITE_DETACH ? "DETACH" : "ATTACH";
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (sqlite3_strnicmp(p, words[i], 6) == 0 && !ident_char(p[6])) word = words[i];
    hcg_error(src, (size_t)(p - src->text),
              "'%s' is not allowed in a --schema file: a schema never needs ATTACH, DETACH "
              "or VACUUM, and they can write files anywhere", word);
}

/* Report SQLite's error on the schema statement at p. A schema written
   for PostgreSQL (DEFAULT now(), '::' casts, CREATE EXTENSION) fails here
   in SQLite's words, which do not say that SQLite is what read it. */
static void schema_error(sqlite3 *db, hcg_src *src, const char *p)
{
    size_t at = (size_t)(p - src->text), eo = error_at(db, p);
    hcg_error(src, eo != (size_t)-1 ? at + eo : at,
              "%s (--schema runs the schema in SQLite; to check against PostgreSQL, use --pg-check)",
              sqlite3_errmsg(db));
}

/* load_schema's loop; *denied is set when schema_authorizer refused. */
static int run_schema(sqlite3 *db, hcg_src *src, const int *denied)
{
    const char *p = src->text;
    while (*(p = skip_blank(p))) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(db, p, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            /* `sqlite3 app.db .schema` prints the table SQLite makes for
               AUTOINCREMENT, which cannot be created by hand: it is made
               again by the first AUTOINCREMENT table, so skip it. */
            const char *end;
            if (strncmp(sqlite3_errmsg(db), "object name reserved for internal use: sqlite_", 46) == 0 &&
                (end = statement_end(p)) != NULL) {
                p = end;
                continue;
            }
            if (*denied) {
                refused(src, p, *denied);
                return 1;
            }
            schema_error(db, src, p);
            return 1;
        }
        if (!st) {
            if (!tail || tail == p) break;
            p = tail;
            continue;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
        if (rc != SQLITE_DONE && *denied) {
            refused(src, p, *denied);
            sqlite3_finalize(st);
            return 1;
        }
        if (rc != SQLITE_DONE) {
            schema_error(db, src, p);
            sqlite3_finalize(st);
            return 1;
        }
        sqlite3_finalize(st);
        p = tail;
    }
    return 0;
}

/*
** Run the schema file one statement at a time, so that an error can be
** reported at its line and column in the file. The first error stops the
** load: what follows may depend on what failed. Returns the errors (0 or 1).
*/
static int load_schema(sqlite3 *db, hcg_src *src)
{
    int denied = 0;
    sqlite3_set_authorizer(db, schema_authorizer, &denied);
    int errors = run_schema(db, src, &denied);
    sqlite3_set_authorizer(db, NULL, NULL);
    return errors;
}

/*
** What a statement reads and writes, from SQLite's authorizer, which
** prepare() calls for every table and column the statement touches: a
** read (SQLITE_READ, the column "" for a table read for its rows alone, as
** count(*) does), an UPDATE of each column it sets, an INSERT or DELETE of
** a table. It reports the statement's own accesses and those of the
** triggers it fires and the views it reads, naming the inner-most of
** those as the last argument; accesses to a view itself are left out (the
** tables under it are what writes change), and so are SQLite's own tables.
*/
typedef struct recorder {
    hcg_module *m;
    hcg_vec *access;                 /* the declaration's SQLite accesses */
    hcg_vec views, triggers;         /* the schema's, by name (arena) */
} recorder;

static bool listed(const hcg_vec *names, const char *name)
{
    for (size_t i = 0; name && i < names->n; i++)
        if (sqlite3_stricmp(names->v[i], name) == 0) return true;
    return false;
}

static const char *dup(hcg_module *m, const char *s)
{
    return s ? hcg_strndup(m->arena, s, strlen(s)) : NULL;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether access holds a already. */
static bool recorded(const hcg_vec *access, const hcg_access *a)
{
    for (size_t i = 0; i < access->n; i++) {
        const hcg_access *b = access->v[i];
        if (a->op == b->op && strcmp(a->table, b->table) == 0 && same_text(a->column, b->column) &&
            same_text(a->via, b->via))
            return true;
    }
    return false;
}

static int record_access(void *ctx, int action, const char *table, const char *column,
                         const char *database, const char *via)
{
    (void)database;
    recorder *r = ctx;
    hcg_op op;
    switch (action) {
    case SQLITE_READ: op = HCG_READ; break;
    case SQLITE_INSERT: op = HCG_INSERT; column = NULL; break;
    case SQLITE_UPDATE: op = HCG_UPDATE; break;
    case SQLITE_DELETE: op = HCG_DELETE; column = NULL; break;
    default: return SQLITE_OK;
    }
    if (!table || sqlite3_strnicmp(table, "sqlite_", 7) == 0 || listed(&r->views, table)) return SQLITE_OK;
    if (op != HCG_INSERT && op != HCG_DELETE && !column) column = "";
    const char *kind = listed(&r->views, via) ? "view" : listed(&r->triggers, via) ? "trigger" : NULL;
    if (!kind) via = NULL;           /* a common table expression's name */
    hcg_access probe = {op, table, column, via, kind};
    if (recorded(r->access, &probe)) return SQLITE_OK;
    hcg_access *a = hcg_alloc(r->m->arena, sizeof *a);
    a->op = op;
    a->table = dup(r->m, table);
    a->column = dup(r->m, column);
    a->via = dup(r->m, via);
    a->via_kind = kind;
    hcg_vec_push(r->m->arena, r->access, a);
    return SQLITE_OK;
}

/* The names of the schema's objects of a type ("view", "trigger"). */
static void schema_objects(hcg_module *m, sqlite3 *db, const char *type, hcg_vec *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = ?1 "
                               "UNION ALL SELECT name FROM sqlite_temp_master WHERE type = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        hcg_vec_push(m->arena, out, (void *)dup(m, (const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
}

/*
** Prepare text with double-quoted strings off (see hcg_check_schema),
** recording its accesses into rec. An unknown column with no offset in
** text is in the body of a view or trigger, which belongs to the schema
** and its rules: try once more with them on. (A "name" of the statement's
** own that is also a string in the view then passes as well.)
*/
static int prepare(sqlite3 *db, const char *text, sqlite3_stmt **st, const char **tail, recorder *rec)
{
    sqlite3_set_authorizer(db, record_access, rec);
    rec->access->n = 0;
    int rc = sqlite3_prepare_v2(db, text, -1, st, tail);
    if (rc != SQLITE_OK && sqlite3_error_offset(db) < 0 &&
        strncmp(sqlite3_errmsg(db), "no such column: ", 16) == 0) {
        sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 1, (int *)NULL);
        rec->access->n = 0;
        rc = sqlite3_prepare_v2(db, text, -1, st, tail);
        sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    }
    sqlite3_set_authorizer(db, NULL, NULL);
    return rc;
}

/*
** A foreign key's ON DELETE or ON UPDATE action (CASCADE, SET NULL, SET
** DEFAULT) writes the child table too. SQLite compiles the actions into a
** statement only with foreign keys on, which the check leaves off: with
** them on, a key of the schema that does not fit its parent ("foreign key
** mismatch") fails every statement near it. So an exec is prepared once
** more with them on, for the record alone; where that fails, the first
** record stands.
*/
static void record_key_actions(sqlite3 *db, const char *text, recorder *rec)
{
    hcg_vec *first = rec->access, again = {NULL, 0, 0};
    rec->access = &again;
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    if (prepare(db, text, &st, NULL, rec) == SQLITE_OK && st) {
        /* What is new is the keys' doing (SQLite names no trigger for it). */
        for (size_t i = 0; i < again.n; i++) {
            hcg_access *a = again.v[i];
            if (!a->via && !recorded(first, a)) a->via_kind = "through a foreign key's action";
        }
        *first = again;
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
    rec->access = first;
}

/* Past the string, quoted name or comment that starts at p; p itself when
   none does. (A doubled quote inside reads as two strings in a row.) */
static const char *skip_quoted(const char *p)
{
    if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
        const char *e = strchr(p + 1, *p == '[' ? ']' : *p);
        return e ? e + 1 : p + strlen(p);
    }
    if (p[0] == '-' && p[1] == '-') {
        while (*p && *p != '\n') p++;
        return p;
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? e + 2 : p + strlen(p);
    }
    return p;
}

/* The ')' or (with commas) the ',' that ends the text from p at its own
   depth, or its end. */
static const char *text_end(const char *p, bool commas)
{
    int depth = 0;
    while (*p) {
        const char *q = skip_quoted(p);
        if (q != p) {
            p = q;
            continue;
        }
        if (*p == '(') depth++;
        else if (*p == ')' && depth-- == 0) return p;
        else if (*p == ',' && commas && depth == 0) return p;
        p++;
    }
    return p;
}

/*
** The expression of generated column col in the CREATE TABLE statement
** sql, between the parentheses after the AS of its definition (arena); or
** NULL. Each column definition runs to a ',' outside parentheses; its
** first word (quoted or not) is its name.
*/
static const char *generated_expr(hcg_module *m, const char *sql, const char *col)
{
    const char *p = sql;
    while (*p && *p != '(') {
        const char *q = skip_quoted(p);
        p = q != p ? q : p + 1;
    }
    while (*p == '(' || *p == ',') {
        const char *def = skip_blank(p + 1), *end = text_end(def, true);
        const char *name = def;
        size_t n = 0;
        if (*def == '"' || *def == '`' || *def == '[') {
            name = def + 1;
            while (name[n] && name[n] != (*def == '[' ? ']' : *def)) n++;
        } else {
            while (ident_char(def[n])) n++;
        }
        if (n == strlen(col) && sqlite3_strnicmp(name, col, (int)n) == 0) {
            for (const char *q = def; q < end;) {
                const char *r = skip_quoted(q);
                if (r != q) {
                    q = r;
                } else if (*q == '(') {
                    q = text_end(q + 1, false) + 1;       /* CHECK (CAST(x AS ...)) */
                } else if ((q == def || !ident_char(q[-1])) && sqlite3_strnicmp(q, "AS", 2) == 0 &&
                           !ident_char(q[2]) && *skip_blank(q + 2) == '(') {
                    const char *open = skip_blank(q + 2) + 1;
                    return hcg_strndup(m->arena, open, (size_t)(text_end(open, false) - open));
                } else {
                    q++;
                }
            }
            return NULL;
        }
        p = end;
    }
    return NULL;
}

/* Whether access holds an UPDATE of column in table through via. */
static bool updates(const hcg_vec *access, const char *table, const char *column, const char *via)
{
    hcg_access probe = {HCG_UPDATE, table, column, via, NULL};
    return recorded(access, &probe);
}

/*
** A generated column changes with the columns it is computed from, but
** the authorizer names only the columns an UPDATE sets. So a generated
** column of a table an exec updates counts as updated too when its
** expression (from the table's CREATE statement) names an updated column,
** one generated from one included; one whose expression cannot be found
** always counts.
*/
static void add_generated(hcg_module *m, sqlite3 *db, hcg_vec *access)
{
    size_t n = access->n;
    for (size_t i = 0; i < n; i++) {
        const hcg_access *a = access->v[i];
        bool done = a->op != HCG_UPDATE;
        for (size_t k = 0; k < i && !done; k++) {
            const hcg_access *b = access->v[k];
            done = b->op == HCG_UPDATE && strcmp(a->table, b->table) == 0 && same_text(a->via, b->via);
        }
        sqlite3_stmt *st = NULL;
        if (done || sqlite3_prepare_v2(db, "SELECT x.name, (SELECT sql FROM sqlite_master WHERE type = 'table' "
                                       "AND name = ?1 UNION ALL SELECT sql FROM sqlite_temp_master WHERE "
                                       "type = 'table' AND name = ?1) FROM pragma_table_xinfo(?1) AS x "
                                       "WHERE x.hidden IN (2, 3)", -1, &st, NULL) != SQLITE_OK)
            continue;
        sqlite3_bind_text(st, 1, a->table, -1, SQLITE_STATIC);
        hcg_vec names = {NULL, 0, 0}, exprs = {NULL, 0, 0};
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            const char *create = (const char *)sqlite3_column_text(st, 1);
            if (!name) continue;
            hcg_vec_push(m->arena, &names, (void *)dup(m, name));
            hcg_vec_push(m->arena, &exprs, (void *)(create ? generated_expr(m, create, name) : NULL));
        }
        sqlite3_finalize(st);
        /* Until nothing more changes: b AS (a + 1), c AS (b * 2). */
        for (bool more = true; more;) {
            more = false;
            for (size_t k = 0; k < names.n; k++) {
                const char *g = names.v[k], *expr = exprs.v[k];
                if (updates(access, a->table, g, a->via)) continue;
                bool changed = !expr;
                for (size_t u = 0; u < access->n && !changed; u++) {
                    const hcg_access *w = access->v[u];
                    changed = w->op == HCG_UPDATE && strcmp(w->table, a->table) == 0 && same_text(w->via, a->via) &&
                              w->column && *w->column && hcg_sql_find_word(expr, w->column) != (size_t)-1;
                }
                if (!changed) continue;
                hcg_access *copy = hcg_alloc(m->arena, sizeof *copy);
                *copy = *a;
                copy->column = g;
                if (!copy->via) copy->via_kind = "(generated)";
                hcg_vec_push(m->arena, access, copy);
                more = true;
            }
        }
    }
}

/*
** Whether the words of the SQL text (quotes, identifiers in quotes and
** comments skipped; case ignored) hold seq, n words in a row.
*/
static bool has_words(const char *text, const char *const *seq, size_t n)
{
    size_t matched = 0;
    for (const char *p = text; *p;) {
        if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
            char close = *p == '[' ? ']' : *p;
            for (p++; *p && *p != close; p++) {}
            if (*p) p++;
            matched = 0;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if (isalnum((unsigned char)*p) || *p == '_') {
            const char *w = p;
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '$') p++;
            size_t len = (size_t)(p - w);
            if (strlen(seq[matched]) == len && sqlite3_strnicmp(w, seq[matched], (int)len) == 0) {
                if (++matched == n) return true;
            } else {
                matched = strlen(seq[0]) == len && sqlite3_strnicmp(w, seq[0], (int)len) == 0;
            }
        } else {
            if (!isspace((unsigned char)*p)) matched = 0;
            p++;
        }
    }
    return false;
}

/* Whether table's own constraints resolve a conflict by REPLACE. */
static bool table_replaces(sqlite3 *db, const char *table)
{
    static const char *const words[] = {"CONFLICT", "REPLACE"};
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        found = has_words((const char *)sqlite3_column_text(st, 0), words, 2);
    sqlite3_finalize(st);
    return found;
}

/*
** An UPDATE that may take rows away as well as change columns: one whose
** conflicts resolve by REPLACE (UPDATE OR REPLACE, or a UNIQUE or PRIMARY
** KEY of the table's own with ON CONFLICT REPLACE) deletes the rows it
** collides with, and one that sets the rowid (rowid, oid, _rowid_: SQLite
** names that column ROWID, and the reads of an INTEGER PRIMARY KEY by its
** own name) moves a row to another key. Both count as deleting from the
** table, which changes every read of it (a count of its rows too).
*/
static void add_row_replacements(hcg_module *m, sqlite3 *db, const char *text, hcg_vec *access)
{
    static const char *const update_or_replace[] = {"UPDATE", "OR", "REPLACE"};
    bool or_replace = has_words(text, update_or_replace, 3);
    size_t n = access->n;
    for (size_t i = 0; i < n; i++) {
        const hcg_access *a = access->v[i];
        if (a->op != HCG_UPDATE || !a->column) continue;
        const char *why = NULL;
        if (sqlite3_stricmp(a->column, "rowid") == 0 || sqlite3_stricmp(a->column, "oid") == 0 ||
            sqlite3_stricmp(a->column, "_rowid_") == 0)
            why = "(it sets the rowid)";
        else if ((or_replace && !a->via) || table_replaces(db, a->table))
            why = "(a conflict resolved by REPLACE)";
        if (!why) continue;
        hcg_access probe = {HCG_DELETE, a->table, NULL, a->via, why};
        if (recorded(access, &probe)) continue;
        hcg_access *d = hcg_alloc(m->arena, sizeof *d);
        *d = probe;
        hcg_vec_push(m->arena, access, d);
    }
}

static void check_sqlite(hcg_module *m, sqlite3 *db, hcg_decl *d, hcg_vec *seen, recorder *rec)
{
    const hcg_str *sql = hcg_sql_for(d, HCG_SQLITE);
    if (!sql->s) return;
    size_t *map;
    const char *text = hcg_sql_rewrite(m, d, sql->s, HCG_SQLITE, &map);
    const char *what = kind_name(d->kind);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    rec->access = &d->access[HCG_SQLITE];
    if (prepare(db, text, &st, &tail, rec) != SQLITE_OK) {
        size_t eo = error_at(db, text);
        hcg_error(m->src, eo != (size_t)-1 ? source_of(m, sql, map, text, eo) : sql->off,
                  "in %s '%s': %s", what, d->name, sqlite3_errmsg(db));
        return;
    }
    if (!st) {
        hcg_error(m->src, sql->off, "in %s '%s': the SQL holds no statement", what, d->name);
        return;
    }
    d->analysed[HCG_SQLITE] = true;
    const char *rest = tail ? skip_blank(tail) : "";
    if (*rest)
        hcg_error(m->src, source_of(m, sql, map, text, (size_t)(rest - text)),
                  "in %s '%s': a second statement: only one statement runs per %s",
                  what, d->name, what);
    check_params(m, d, sql, HCG_SQLITE, (size_t)sqlite3_bind_parameter_count(st));
    size_t ncols = (size_t)sqlite3_column_count(st);
    if (check_ncols(m, d, sql, ncols)) {
        for (size_t i = 0; i < ncols; i++) {
            const char *decl = sqlite3_column_decltype(st, (int)i);
            if (!decl) continue;              /* an expression: no declared type */
            int aff = affinity(decl);
            if (affinity_fits(column_base(d, i), aff)) continue;
            char desc[256];
            if (strlen(decl) == strlen(aff_names[aff]) && has(decl, aff_names[aff]))
                snprintf(desc, sizeof desc, "%s", decl);
            else
                snprintf(desc, sizeof desc, "%s, %s affinity", decl, aff_names[aff]);
            type_error(m, d, sql, map, text, i, sqlite3_column_name(st, (int)i), desc, seen);
        }
    }
    sqlite3_finalize(st);
    if (d->kind == HCG_EXEC) {
        record_key_actions(db, text, rec);
        add_generated(m, db, &d->access[HCG_SQLITE]);
        add_row_replacements(m, db, text, &d->access[HCG_SQLITE]);
    }
}

int hcg_check_schema(hcg_module *m, const char *schema_path)
{
    size_t len;
    char *text = hcg_read_file(schema_path, &len);
    if (!text) {
        fprintf(stderr, "hcachegen: cannot read %s: %s\n", schema_path, strerror(errno));
        return -1;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "hcachegen: cannot open an in-memory SQLite database: %s\n",
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        free(text);
        return -1;
    }
    hcg_src src;
    hcg_src_init(&src, schema_path, text, len);
    int before = m->src->nerrors;
    hcg_vec seen = {NULL, 0, 0};
    int errors = load_schema(db, &src);
    /* In a statement, a "quoted name" that names no column is an error, not
       the string SQLite would quietly make of it (a misfeature its own
       documentation advises turning off). The schema keeps the old rule,
       views and triggers included: old dumps use "" for strings. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    recorder rec;
    memset(&rec, 0, sizeof rec);
    rec.m = m;
    if (errors == 0) {
        schema_objects(m, db, "view", &rec.views);
        schema_objects(m, db, "trigger", &rec.triggers);
        for (size_t i = 0; i < m->decls.n; i++) {
            hcg_decl *d = m->decls.v[i];
            if (d->kind == HCG_QUERY || d->kind == HCG_EXEC) check_sqlite(m, db, d, &seen, &rec);
        }
    }
    errors += m->src->nerrors - before;
    hcg_src_free(&src);
    sqlite3_close(db);
    free(text);
    return errors;
}

/* ---------------------------------------------------------- PostgreSQL */

/* Type OIDs (pg_type.h's values, fixed since PostgreSQL 7). */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21,
    OID_INT4 = 23, OID_TEXT = 25, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
    OID_UNKNOWN = 705, OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_NUMERIC = 1700
};

static bool is_int(hcg_base b)
{
    return b == HCG_I32 || b == HCG_I64 || b == HCG_U32 || b == HCG_U64;
}

/* Whether a value of type oid and a C value of type b convert both ways;
   -1 for an oid this table does not know. */
static int oid_fits(Oid oid, hcg_base b)
{
    switch (oid) {
    case OID_INT2: case OID_INT4: case OID_INT8: return is_int(b);
    case OID_NUMERIC: return is_int(b) || b == HCG_F64;
    case OID_FLOAT4: case OID_FLOAT8: return b == HCG_F64;
    case OID_BOOL: return b == HCG_BOOL;
    case OID_TEXT: case OID_VARCHAR: case OID_BPCHAR: case OID_NAME: return b == HCG_TEXT;
    case OID_BYTEA: return b == HCG_BLOB;
    case OID_UNKNOWN: return 1;
    default: return -1;
    }
}

/* One row, one column of a query with one oid parameter, or NULL. */
static PGresult *ask(PGconn *c, const char *q, Oid oid)
{
    char arg[16];
    snprintf(arg, sizeof arg, "%u", (unsigned)oid);
    const char *args[1] = {arg};
    PGresult *r = PQexecParams(c, q, 1, NULL, args, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) return r;
    PQclear(r);
    return NULL;
}

/* Whether oid fits b, looking through domains to their base type. */
static bool pg_fits(PGconn *c, Oid oid, hcg_base b)
{
    for (int depth = 0; depth < 16; depth++) {
        int fits = oid_fits(oid, b);
        if (fits >= 0) return fits;
        PGresult *r = ask(c, "SELECT typbasetype FROM pg_catalog.pg_type WHERE oid = $1::oid AND typtype = 'd'", oid);
        if (!r) return false;
        oid = (Oid)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    return false;
}

/* The server's name for a type ("integer", "timestamp with time zone"). */
static const char *pg_type_name(hcg_module *m, PGconn *c, Oid oid)
{
    PGresult *r = ask(c, "SELECT pg_catalog.format_type($1::oid, NULL)", oid);
    char buf[32];
    const char *s = r ? PQgetvalue(r, 0, 0) : buf;
    if (!r) snprintf(buf, sizeof buf, "type %u", (unsigned)oid);
    char *name = hcg_strndup(m->arena, s, strlen(s));
    PQclear(r);
    return name;
}

/* The byte offset of the n-th character (from 0) of UTF-8 text. */
static size_t char_offset(const char *text, size_t n)
{
    size_t i = 0;
    for (; text[i]; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80 && n-- == 0) return i;
    return i;
}

/* A libpq message without its trailing newline (arena copy). */
static const char *trimmed(hcg_module *m, const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
    return hcg_strndup(m->arena, s, n);
}

/*
** The tables the prepared statement name reads and writes, from its plan:
** EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE name(NULL, ...), planned generic
** (plan_cache_mode, set for the session), so that no parameter's NULL
** folds a scan away, and without partition pruning (also the session's),
** which would remove every partition for a NULL key. Explaining runs nothing. Every node with a "Relation
** Name" reads that table, but a ModifyTable node, whose "Operation" says
** how it writes it; views are gone from a plan (their tables are there),
** and a partition is counted as its partitioned table. The server digs
** the nodes out of its own JSON. Only tables: a plan does not say which
** columns an UPDATE sets, nor what a trigger or a foreign key's action
** writes. Returns -1 when the connection is lost, else 0.
*/
static const char pg_relations[] =
    "SELECT DISTINCT coalesce(root.relname, n->>'Relation Name'), n->>'Operation' "
    "FROM pg_catalog.jsonb_path_query($1::jsonb, 'strict $.**') AS n "
    "LEFT JOIN pg_catalog.pg_class root ON root.oid = pg_catalog.pg_partition_root("
    "pg_catalog.to_regclass(pg_catalog.quote_ident(n->>'Schema') || '.' || "
    "pg_catalog.quote_ident(n->>'Relation Name'))) "
    "WHERE pg_catalog.jsonb_typeof(n) = 'object' AND n ? 'Relation Name' ORDER BY 1, 2";

static int pg_accesses(hcg_module *m, PGconn *c, hcg_decl *d, const char *name, const hcg_str *sql)
{
    size_t cap = strlen(name) + 64 + 6 * d->params.n;
    char *q = hcg_alloc(m->arena, cap);
    int n = snprintf(q, cap, "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE %s", name);
    for (size_t i = 0; i < d->params.n; i++)
        n += snprintf(q + n, cap - (size_t)n, "%sNULL", i ? ", " : "(");
    if (d->params.n) snprintf(q + n, cap - (size_t)n, ")");
    PGresult *plan = PQexec(c, q);
    PGresult *r = NULL;
    if (PQresultStatus(plan) == PGRES_TUPLES_OK && PQntuples(plan) == 1) {
        const char *args[1] = {PQgetvalue(plan, 0, 0)};
        r = PQexecParams(c, pg_relations, 1, NULL, args, NULL, NULL, 0);
    }
    PGresult *bad = PQresultStatus(plan) != PGRES_TUPLES_OK ? plan : r;
    if (PQresultStatus(bad) != PGRES_TUPLES_OK) {
        if (PQstatus(c) == CONNECTION_BAD) {
            fprintf(stderr, "hcachegen: lost the connection to PostgreSQL: %s\n", trimmed(m, PQerrorMessage(c)));
            PQclear(plan);
            PQclear(r);
            return -1;
        }
        const char *msg = bad ? PQresultErrorField(bad, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        hcg_error(m->src, sql->off, "in %s '%s': PostgreSQL cannot plan the statement, which the coverage check "
                  "needs: %s", kind_name(d->kind), d->name, msg ? msg : trimmed(m, PQerrorMessage(c)));
        PQclear(plan);
        PQclear(r);
        return 0;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        hcg_access *a = hcg_alloc(m->arena, sizeof *a);
        const char *op = PQgetisnull(r, i, 1) ? "" : PQgetvalue(r, i, 1);
        a->op = !*op ? HCG_READ : strcmp(op, "Update") == 0 ? HCG_UPDATE
              : strcmp(op, "Delete") == 0 ? HCG_DELETE : HCG_INSERT;    /* Insert, Merge */
        a->table = dup(m, PQgetvalue(r, i, 0));
        hcg_vec_push(m->arena, &d->access[HCG_POSTGRES], a);
    }
    d->analysed[HCG_POSTGRES] = true;
    PQclear(plan);
    PQclear(r);
    return 0;
}

/* Returns -1 when the connection is lost, else 0. */
static int check_pg_decl(hcg_module *m, PGconn *c, hcg_decl *d, size_t index, hcg_vec *seen)
{
    const hcg_str *sql = hcg_sql_for(d, HCG_POSTGRES);
    if (!sql->s) return 0;
    int before = m->src->nerrors;
    size_t *map;
    const char *text = hcg_sql_rewrite(m, d, sql->s, HCG_POSTGRES, &map);
    const char *what = kind_name(d->kind);
    char name[48];
    snprintf(name, sizeof name, "hcachegen_check_%zu", index);
    if (!*skip_blank(text)) {
        hcg_error(m->src, sql->off, "in %s '%s': the SQL holds no statement", what, d->name);
        return 0;
    }

    PGresult *r = PQprepare(c, name, text, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (PQstatus(c) == CONNECTION_BAD) {
            fprintf(stderr, "hcachegen: lost the connection to PostgreSQL: %s\n", trimmed(m, PQerrorMessage(c)));
            PQclear(r);
            return -1;
        }
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
        const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
        size_t at = sql->off;
        if (pos) {
            unsigned long n = strtoul(pos, NULL, 10);
            if (n > 0) at = source_of(m, sql, map, text, char_offset(text, n - 1));
        }
        /* "could not determine data type of parameter $1", "inconsistent
           types deduced for parameter $1": say which :name $1 is, and
           point at its first use when the server gives no position. */
        const char *ref = msg ? strstr(msg, "parameter $") : NULL;
        unsigned long n;
        if (ref && sscanf(ref, "parameter $%lu", &n) == 1 && n >= 1 && n <= d->params.n) {
            const hcg_field *p = d->params.v[n - 1];
            if (!pos) at = param_use(m, sql, p);
            size_t k = strlen(msg) + strlen(p->name) + 8;
            char *s = hcg_alloc(m->arena, k);
            snprintf(s, k, "%s (:%s)", msg, p->name);
            msg = s;
        }
        hcg_error(m->src, at, "in %s '%s': %s", what, d->name, msg ? msg : trimmed(m, PQerrorMessage(c)));
        if (hint) hcg_note(m->src, at, "the server's hint: %s", hint);
        PQclear(r);
        return 0;
    }
    PQclear(r);

    r = PQdescribePrepared(c, name);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "hcachegen: cannot describe %s '%s' on PostgreSQL: %s\n", what, d->name,
                trimmed(m, PQerrorMessage(c)));
        PQclear(r);
        return -1;
    }
    size_t nparams = (size_t)PQnparams(r);
    check_params(m, d, sql, HCG_POSTGRES, nparams);
    for (size_t i = 0; i < nparams && i < d->params.n; i++) {
        const hcg_field *p = d->params.v[i];
        Oid oid = PQparamtype(r, (int)i);
        if (pg_fits(c, oid, p->type.base)) continue;
        hcg_error(m->src, param_use(m, sql, p), "in %s '%s': parameter '%s' is %s but PostgreSQL takes %s for it",
                  what, d->name, p->name, p->type.name, pg_type_name(m, c, oid));
        hcg_note(m->src, p->off, "parameter '%s' is declared here", p->name);
    }
    size_t ncols = (size_t)PQnfields(r);
    if (check_ncols(m, d, sql, ncols))
        for (size_t i = 0; i < ncols; i++) {
            Oid oid = PQftype(r, (int)i);
            if (!pg_fits(c, oid, column_base(d, i)))
                type_error(m, d, sql, map, text, i, PQfname(r, (int)i), pg_type_name(m, c, oid), seen);
        }
    PQclear(r);
    /* A statement with an error has been reported, and the coverage check
       will not run: its plan is of no use. */
    if (m->src->nerrors == before && pg_accesses(m, c, d, name, sql) < 0) return -1;

    char q[80];
    snprintf(q, sizeof q, "DEALLOCATE %s", name);
    PQclear(PQexec(c, q));
    return 0;
}

int hcg_check_pg(hcg_module *m, const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "hcachegen: --pg-check: cannot connect to PostgreSQL: %s\n",
                c ? trimmed(m, PQerrorMessage(c)) : "out of memory");
        PQfinish(c);
        return -1;
    }
    /* Error positions count characters; the map counts UTF-8 bytes. */
    PQsetClientEncoding(c, "UTF8");
    /* Plans for the coverage check keep their parameters (pg_accesses),
       and every partition: pruning at executor start, with the NULLs the
       check explains with, would remove them all from the plan, and with
       them the partitioned table's name. */
    PGresult *set = PQexec(c, "SET plan_cache_mode = force_generic_plan; SET enable_partition_pruning = off");
    if (PQresultStatus(set) != PGRES_COMMAND_OK) {
        fprintf(stderr, "hcachegen: --pg-check: cannot set plan_cache_mode (PostgreSQL 12 or later is needed): %s\n",
                trimmed(m, PQerrorMessage(c)));
        PQclear(set);
        PQfinish(c);
        return -1;
    }
    PQclear(set);
    int before = m->src->nerrors;
    hcg_vec seen = {NULL, 0, 0};
    for (size_t i = 0; i < m->decls.n; i++) {
        hcg_decl *d = m->decls.v[i];
        if ((d->kind == HCG_QUERY || d->kind == HCG_EXEC) && check_pg_decl(m, c, d, i, &seen) < 0) {
            PQfinish(c);
            return -1;
        }
    }
    PQfinish(c);
    return m->src->nerrors - before;
}
