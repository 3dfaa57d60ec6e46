/*
** hcg.h -- the insides of hcachegen: tokens, the syntax tree, diagnostics,
** and the passes (lex, parse, check, emit) that turn a .hcache file into C.
**
** Every node is allocated from one arena that lives as long as the run, so
** nothing in the tree is freed on its own. Positions are byte offsets into
** the source; diagnostics turn them into line:column when they print.
*/
#ifndef HCG_H
#define HCG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hydracache/core.h"   /* HC_VERSION_*: the version has one home */
#define HCG_VERSION HC_VERSION_STRING

/* ------------------------------------------------------------ the arena */

typedef struct hcg_arena hcg_arena;
void *hcg_alloc(hcg_arena **a, size_t n);         /* zeroed; exits on OOM */
char *hcg_strndup(hcg_arena **a, const char *s, size_t n);
void  hcg_arena_free(hcg_arena **a);

/* A growable array of pointers, allocated from the arena. */
typedef struct hcg_vec {
    void **v;
    size_t n, cap;
} hcg_vec;
void hcg_vec_push(hcg_arena **a, hcg_vec *vec, void *p);

/* ---------------------------------------------------------- diagnostics */

typedef struct hcg_src {
    const char *path;        /* as given on the command line */
    const char *text;        /* NUL-terminated copy of the file */
    size_t len;
    int nerrors;
    bool quiet;              /* count errors, print nothing */
    size_t *line_starts;     /* offset of each line's first byte (malloc'd) */
    size_t nlines;
} hcg_src;

/* All of path in a NUL-terminated buffer from malloc, its length in *len;
   NULL with errno set when it cannot be read. (parse.c) */
char *hcg_read_file(const char *path, size_t *len);

/* Set up src for text (which it does not own); hcg_src_free releases the
   line index. */
void hcg_src_init(hcg_src *src, const char *path, const char *text, size_t len);
void hcg_src_free(hcg_src *src);

/* "path:line:col: error: message", then the line and a caret under off. */
void hcg_error(hcg_src *src, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Same, as a note attached to the error before it. */
void hcg_note(hcg_src *src, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int hcg_line_of(const hcg_src *src, size_t off);

/* --------------------------------------------------------------- tokens */

typedef struct hcg_token {
    int    code;             /* a TK_ constant from grammar.h; 0 at the end */
    size_t off, len;         /* where it is in the source */
    char  *str;              /* STRING: the decoded text (arena) */
    uint64_t ms;             /* DURATION: milliseconds; PERCENT: the number */
} hcg_token;

typedef struct hcg_lexer {
    hcg_src *src;
    hcg_arena **arena;
    const unsigned char *cur;
} hcg_lexer;

/* The next token; code 0 at the end of input, -1 after reporting an error. */
int hcg_lex(hcg_lexer *lx, hcg_token *t);
const char *hcg_token_name(int code);    /* "';'", "a string", ... */

/* ---------------------------------------------------------------- types */

typedef enum hcg_base {
    HCG_UNKNOWN, HCG_I32, HCG_I64, HCG_U32, HCG_U64, HCG_F64, HCG_BOOL,
    HCG_TEXT, HCG_BLOB, HCG_ENTITY
} hcg_base;

typedef struct hcg_entity hcg_entity;

typedef struct hcg_type {
    size_t off;
    const char *name;        /* as written: "i64", "user" */
    hcg_base base;           /* resolved by check */
    hcg_entity *entity;      /* HCG_ENTITY */
    bool nullable;           /* T? */
    bool list;               /* T[] */
} hcg_type;

/* A string literal where it was written, e.g. a template. */
typedef struct hcg_str {
    size_t off;
    char *s;                 /* NULL: not given */
} hcg_str;

/* --------------------------------------------------------------- syntax */

typedef struct hcg_field {           /* entity field or parameter */
    size_t off;
    const char *name;
    hcg_type type;
    bool primary;
} hcg_field;

struct hcg_entity {
    size_t index;                    /* position in the module's entities */
    size_t off;
    const char *name;
    hcg_str key;                     /* "user"; default: the entity name */
    hcg_str collection;              /* "users"; default: "<key>:all" */
    bool has_ttl;
    uint64_t ttl_ms;
    size_t ttl_off;
    uint64_t ttl_jitter;             /* ttl ... jitter N%: N, 0 without */
    size_t jitter_off;
    hcg_vec fields;                  /* hcg_field * */
    hcg_field *primary;              /* set by check */
};

typedef enum hcg_kind { HCG_QUERY, HCG_EXEC, HCG_POLICY, HCG_CACHEABLE } hcg_kind;

/* The freshness clauses, of a declaration or the module's defaults: a
   duration is never 0, so 0 says the clause was not written; each *_off
   is where it was. */
typedef struct hcg_fresh {
    uint64_t refresh_ms;             /* refresh 30s; */
    size_t refresh_off;
    uint64_t stale_ms;               /* stale if error 10m; */
    size_t stale_off;
} hcg_fresh;

typedef enum hcg_dialect { HCG_SQLITE, HCG_POSTGRES } hcg_dialect;
#define HCG_DIALECTS 2

/* What a statement does to a table, as the database reported it while
   preparing it (schema.c), for the coverage check (coverage.c). */
typedef enum hcg_op { HCG_READ, HCG_INSERT, HCG_UPDATE, HCG_DELETE } hcg_op;

typedef struct hcg_access {
    hcg_op op;
    const char *table;               /* a base table (never a view) */
    /* The column read or updated; "" for a read of the rows alone (SQLite's
       count(*)); NULL for the whole table: an INSERT or a DELETE, and
       everything PostgreSQL reports. */
    const char *column;
    const char *via;                 /* the view or trigger it went through, or NULL */
    /* "view" or "trigger" with via; alone, words that say what else
       made it: "through a foreign key's action", "(generated)" */
    const char *via_kind;
} hcg_access;

/* A template ("team:{team}") split into literal text and parameters. */
typedef struct hcg_piece {
    const char *text;                /* literal, or NULL for a parameter */
    hcg_field *param;
} hcg_piece;

typedef struct hcg_template {
    hcg_str src;
    hcg_vec pieces;                  /* hcg_piece * */
} hcg_template;

typedef struct hcg_decl {
    hcg_kind kind;
    size_t off;
    const char *name;
    hcg_vec params;                  /* hcg_field * */
    bool has_result;
    hcg_type result;
    bool infallible;
    size_t infallible_off;
    /* clauses; each *_off is where the clause was written (0: absent) */
    hcg_str sql, sql_sqlite, sql_postgres;
    hcg_str key;
    hcg_vec tags;                    /* hcg_str * */
    bool has_ttl;
    uint64_t ttl_ms;
    size_t ttl_off;
    uint64_t ttl_jitter;             /* ttl ... jitter N%: N, 0 without */
    size_t jitter_off;
    hcg_fresh fresh;                 /* refresh ...; stale if error ...; */
    const char *entity_name;         /* entity user(id) */
    size_t entity_off;
    hcg_vec entity_args;             /* hcg_str * (parameter names) */
    bool has_invalidates, invalidates_nothing;
    size_t invalidates_off;
    hcg_vec invalidates;             /* hcg_str * */
    hcg_str label;                   /* name "load-user" */
    bool has_stale;                  /* leaves stale q1, q2 until ttl; */
    size_t stale_off;
    hcg_vec stale;                   /* hcg_str * (query names) */
    bool has_context;                /* context; : the loader takes the caller's ctx */
    size_t context_off;
    /* filled by check */
    hcg_entity *entity;
    hcg_field *entity_param;
    hcg_template key_tmpl;
    hcg_vec tag_tmpls;               /* hcg_template * */
    hcg_vec inv_tmpls;               /* hcg_template * */
    hcg_vec stale_queries;           /* hcg_decl *, one per name in stale */
    /* filled by schema.c: what the statement reads and writes, per dialect,
       and whether that dialect prepared it (its accesses are known) */
    hcg_vec access[HCG_DIALECTS];    /* hcg_access * */
    bool analysed[HCG_DIALECTS];
} hcg_decl;

typedef struct hcg_module {
    hcg_src *src;
    hcg_arena **arena;
    const char *name;                /* module shop; */
    size_t name_off;
    hcg_str ns;                      /* namespace "shop"; */
    bool has_ttl;
    uint64_t ttl_ms;
    size_t ttl_off;
    uint64_t ttl_jitter;             /* default ttl ... jitter N%; */
    size_t jitter_off;
    hcg_fresh fresh;                 /* default refresh ...; default stale if error ...; */
    hcg_vec entities;                /* hcg_entity * */
    hcg_vec decls;                   /* hcg_decl * */
    bool stop;                       /* a syntax error: feed no more tokens */
    size_t prev_end;                 /* end of the token before the current one */
    /* The tokens fed to the parser so far (malloc'd, hcg_parse's), for
       working out what would fit at a syntax error. */
    hcg_token *fed_tokens;
    size_t fed;                      /* how many, the current one not counted */
    size_t fed_cap;
    size_t item_start;               /* fed_tokens[item_start] starts the item being read */
    bool probing;                    /* a parser of hcg_syntax_error's: stay quiet */
} hcg_module;

/* --------------------------------------------------------------- passes */

/* Lex and parse src into m. Returns the number of errors reported. */
int hcg_parse(hcg_module *m);
/* Resolve names and check every rule of the language. Returns errors. */
int hcg_check(hcg_module *m);
/* A template's shape: its text with each parameter as "{}", so that
   "user:{id}" and "user:{user_id}" have one shape (a literal cannot hold a
   brace). In m's arena. */
char *hcg_check_shape(hcg_module *m, const hcg_template *t);

/* ------------------------------------------------------------------ SQL */

/* What hcg_sql_next found. */
enum {
    HCG_SQL_END,             /* no more parameters */
    HCG_SQL_PARAM,           /* a :name at *start, the name *len bytes */
    HCG_SQL_OPEN_STRING,     /* a string literal from *start is not closed */
    HCG_SQL_OPEN_QUOTE,      /* a "quoted name" from *start is not closed */
    HCG_SQL_OPEN_COMMENT     /* a block comment from *start is not closed */
};
/* The next :name in s from *pos, skipping literals, quoted names, comments
   and '::' casts; *pos moves past it. (sql.c) */
int hcg_sql_next(const char *s, size_t *pos, size_t *start, size_t *len);

/* The statement a dialect runs: its sql.sqlite / sql.postgres, else sql. */
const hcg_str *hcg_sql_for(const hcg_decl *d, hcg_dialect dialect);
/* sql with each :name replaced by ?N or $N, N the parameter's position in
   d (from 1). If map is not NULL, (*map)[i] is the offset in sql of the byte
   that output byte i came from (arena memory, one more entry for the end).
   sql must have passed hcg_check. */
char *hcg_sql_rewrite(const hcg_module *m, const hcg_decl *d, const char *sql,
                      hcg_dialect dialect, size_t **map);
/* The source offset of byte i of a string literal's decoded text. */
size_t hcg_str_at(const hcg_module *m, const hcg_str *s, size_t i);

/* Validate every statement against a schema (schema.c): --schema loads
   schema_path into an in-memory SQLite database; --pg-check connects with
   conninfo. Each reports at the statement's position and returns the
   number of errors, or -1 after printing why when the schema file cannot
   be read or the server cannot be reached (an I/O error: exit status 2). */
int hcg_check_schema(hcg_module *m, const char *schema_path);
int hcg_check_pg(hcg_module *m, const char *conninfo);

/* Where name (or, for "main.t", just "t") first stands as a whole word in
   text, ignoring ASCII case and what string literals and comments hold;
   or (size_t)-1. (sql.c) */
size_t hcg_sql_find_word(const char *text, const char *name);

/* After hcg_check_schema and/or hcg_check_pg found no error: every exec
   that writes what a query reads must invalidate one of the query's tags,
   or name it in 'leaves stale' (coverage.c). Returns the errors. */
int hcg_check_coverage(hcg_module *m);

/* Where the emitter's templates come from. */
typedef struct hcg_templates {
    const char *dir;                 /* --templates DIR, or NULL: built-in */
} hcg_templates;

typedef struct hcg_output {
    char *header, *source;           /* malloc'd text of FILE.hc.h, FILE.hc.c */
} hcg_output;

typedef struct hcg_emit_opts {
    const char *header_name;         /* "shop.hc.h", for the #include */
    const char *source_path;         /* for #line, as given */
    bool lines;                      /* emit #line directives */
    const char *templates_dir;       /* NULL: built-in templates */
    const char *out_dir;             /* -o DIR as given: #line names the outputs
                                        DIR/NAME, as bison and re2c name theirs
                                        (NULL: NAME alone) */
} hcg_emit_opts;

/* Fill out from a checked module. Returns 0, or -1 after printing why. */
int hcg_emit(const hcg_module *m, const hcg_emit_opts *o, hcg_output *out);

/* Built-in templates (generated from templates/ at build time). */
typedef struct hcg_builtin {
    const char *name, *text;
} hcg_builtin;
extern const hcg_builtin hcg_builtin_templates[];

/* Report a syntax error at tok, naming the tokens that would have fitted. */
void hcg_syntax_error(hcg_module *m, const hcg_token *tok);

/* The lemon parser (grammar.y). */
void *hcg_ParseAlloc(void *(*malloc_fn)(size_t));
void  hcg_ParseFree(void *p, void (*free_fn)(void *));
void  hcg_Parse(void *p, int code, hcg_token tok, hcg_module *m);

#endif /* HCG_H */
