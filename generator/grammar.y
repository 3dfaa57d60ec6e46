/*
** grammar.y -- the .hcache language, for lemon (built with 3.40 and its
** lempar.c). Nothing here or in parse.c reads lemon's private tables or
** stack: a syntax error's expected tokens come from asking the parser
** (parse.c, hcg_syntax_error), so another lemon and its lempar.c do as well.
**
** Keywords are contextual: the lexer hands every word over as its keyword
** token when it spells one, and `ident` accepts any of them, so a field or
** parameter may be called `key` or `name`. One token of lookahead is enough
** to tell `key "user";` from `key : text;`.
**
** The rules only build the tree; every check on meaning is in check.c, where
** all declarations are known. A repeated clause is reported here because only
** here is the first one's value still at hand.
*/

%name hcg_Parse
%token_prefix TK_
%token_type {hcg_token}
%extra_argument {hcg_module *m}
%start_symbol file

%include {
#include <stdio.h>
#include <string.h>
#include "hcg.h"

/* lemon emits these without prototypes; give them one each. */
void hcg_ParseInit(void *p);
void hcg_ParseFinalize(void *p);
void hcg_ParseTrace(FILE *out, char *prefix);
int hcg_ParseFallback(int token);

static hcg_decl *new_decl(hcg_module *m)
{
    return hcg_alloc(m->arena, sizeof(hcg_decl));
}

static hcg_str str_of(hcg_token t)
{
    hcg_str s;
    s.off = t.off;
    s.s = t.str;
    return s;
}

static hcg_str *str_new(hcg_module *m, hcg_token t)
{
    hcg_str *s = hcg_alloc(m->arena, sizeof *s);
    *s = str_of(t);
    return s;
}

static const char *ident_of(hcg_module *m, hcg_token t)
{
    return hcg_strndup(m->arena, m->src->text + t.off, t.len);
}

/* Report a clause given twice; true if this is the first time. */
static bool once(hcg_module *m, bool seen, hcg_token at, const char *what)
{
    if (seen) hcg_error(m->src, at.off, "duplicate '%s' clause", what);
    return !seen;
}

static void set_str(hcg_module *m, hcg_str *dst, hcg_token kw, hcg_token s, const char *what)
{
    if (once(m, dst->s != NULL, kw, what)) *dst = str_of(s);
}

/* refresh D; and stale if error D; (a declaration's, or the module's
   defaults, what naming them). */
static void set_refresh(hcg_module *m, hcg_fresh *f, hcg_token kw, hcg_token d, const char *what)
{
    if (once(m, f->refresh_ms != 0, kw, what)) { f->refresh_ms = d.ms; f->refresh_off = kw.off; }
}

static void set_stale(hcg_module *m, hcg_fresh *f, hcg_token kw, hcg_token d, const char *what)
{
    if (once(m, f->stale_ms != 0, kw, what)) { f->stale_ms = d.ms; f->stale_off = kw.off; }
}
}

/* A syntax error: parse.c works out what would have fitted by asking
   parsers of its own (through hcg_Parse only: nothing here reads lemon's
   tables or stack, which change from one lemon to the next), then reports.
   While it asks, m->probing is set and an error only stops the probe.
   yymajor, the token's code (TOKEN.code has it too), is named only so
   that it counts as used, as in SQLite's own grammar. */
%syntax_error {
    (void)yymajor;
    if (!m->probing) hcg_syntax_error(m, &TOKEN);
    m->stop = true;
}
/* Tokens own nothing (strings live in the arena); this only tells the
   compiler that lemon's destructor uses its arguments. */
%token_destructor { (void)m; (void)$$; }

%parse_failure {
    m->stop = true;
}

%type ident {hcg_token}
%type type {hcg_type}
%type result {hcg_type}
%type ent_body {hcg_entity *}
%type params {hcg_vec}
%type param_list {hcg_vec}
%type param {hcg_field *}
%type clauses {hcg_decl *}
%type strings {hcg_vec}
%type names {hcg_vec}
%type infallible {hcg_token}

file ::= items.
items ::= .
/* Every token before the current one belongs to a whole item: parse.c's
   probes for a syntax error start from there (see hcg_syntax_error). */
items ::= items item. { m->item_start = m->fed; }

item ::= MODULE(K) ident(N) SEMI. {
    if (m->name) hcg_error(m->src, K.off, "duplicate 'module' declaration");
    else { m->name = ident_of(m, N); m->name_off = N.off; }
}
item ::= NAMESPACE(K) STRING(S) SEMI. {
    set_str(m, &m->ns, K, S, "namespace");
}
item ::= DEFAULT(K) TTL DURATION(D) SEMI. {
    if (once(m, m->has_ttl, K, "default ttl")) {
        m->has_ttl = true; m->ttl_ms = D.ms; m->ttl_off = D.off;
    }
}
/* ------------------------------------------------ freshness (issue 22) */
/* ttl D jitter P%; refresh D; stale if error D; on declarations and as
   the module's defaults; jitter on an entity's ttl too. Kept together so
   that grammars adding clauses of their own merge without a conflict. */
item ::= DEFAULT(K) TTL DURATION(D) JITTER PERCENT(P) SEMI. {
    if (once(m, m->has_ttl, K, "default ttl")) {
        m->has_ttl = true; m->ttl_ms = D.ms; m->ttl_off = D.off;
        m->ttl_jitter = P.ms; m->jitter_off = P.off;
    }
}
item ::= DEFAULT(K) REFRESH DURATION(D) SEMI. {
    set_refresh(m, &m->fresh, K, D, "default refresh");
}
item ::= DEFAULT(K) STALE IF ERROR DURATION(D) SEMI. {
    set_stale(m, &m->fresh, K, D, "default stale if error");
}
ent_body(A) ::= ent_body(B) TTL(K) DURATION(D) JITTER PERCENT(P) SEMI. {
    A = B;
    if (once(m, A->has_ttl, K, "ttl")) {
        A->has_ttl = true; A->ttl_ms = D.ms; A->ttl_off = D.off;
        A->ttl_jitter = P.ms; A->jitter_off = P.off;
    }
}
clauses(A) ::= clauses(B) TTL(K) DURATION(D) JITTER PERCENT(P) SEMI. {
    A = B;
    if (once(m, A->has_ttl, K, "ttl")) {
        A->has_ttl = true; A->ttl_ms = D.ms; A->ttl_off = D.off;
        A->ttl_jitter = P.ms; A->jitter_off = P.off;
    }
}
clauses(A) ::= clauses(B) REFRESH(K) DURATION(D) SEMI. {
    A = B; set_refresh(m, &A->fresh, K, D, "refresh");
}
clauses(A) ::= clauses(B) STALE(K) IF ERROR DURATION(D) SEMI. {
    A = B; set_stale(m, &A->fresh, K, D, "stale if error");
}
ident(A) ::= REFRESH(T). { A = T; }
ident(A) ::= IF(T). { A = T; }
ident(A) ::= ERROR(T). { A = T; }
ident(A) ::= JITTER(T). { A = T; }
item ::= ENTITY ident(N) LBRACE ent_body(E) RBRACE. {
    E->name = ident_of(m, N);
    E->off = N.off;
    E->index = m->entities.n;
    hcg_vec_push(m->arena, &m->entities, E);
}
item ::= QUERY ident(N) LPAREN params(P) RPAREN ARROW result(R) infallible(I) LBRACE clauses(C) RBRACE. {
    C->kind = HCG_QUERY; C->name = ident_of(m, N); C->off = N.off; C->params = P;
    C->has_result = true; C->result = R;
    C->infallible = I.code != 0; C->infallible_off = I.off;
    hcg_vec_push(m->arena, &m->decls, C);
}
item ::= EXEC ident(N) LPAREN params(P) RPAREN infallible(I) LBRACE clauses(C) RBRACE. {
    C->kind = HCG_EXEC; C->name = ident_of(m, N); C->off = N.off; C->params = P;
    C->infallible = I.code != 0; C->infallible_off = I.off;
    hcg_vec_push(m->arena, &m->decls, C);
}
item ::= POLICY ident(N) LPAREN params(P) RPAREN ARROW result(R) infallible(I) LBRACE clauses(C) RBRACE. {
    C->kind = HCG_POLICY; C->name = ident_of(m, N); C->off = N.off; C->params = P;
    C->has_result = true; C->result = R;
    C->infallible = I.code != 0; C->infallible_off = I.off;
    hcg_vec_push(m->arena, &m->decls, C);
}
item ::= CACHEABLE ident(N) LPAREN params(P) RPAREN ARROW result(R) infallible(I) LBRACE clauses(C) RBRACE. {
    C->kind = HCG_CACHEABLE; C->name = ident_of(m, N); C->off = N.off; C->params = P;
    C->has_result = true; C->result = R;
    C->infallible = I.code != 0; C->infallible_off = I.off;
    hcg_vec_push(m->arena, &m->decls, C);
}

infallible(A) ::= . { memset(&A, 0, sizeof A); }
infallible(A) ::= INFALLIBLE(K). { A = K; }

/* ------------------------------------------------------------- entities */

ent_body(A) ::= . { A = hcg_alloc(m->arena, sizeof(hcg_entity)); }
ent_body(A) ::= ent_body(B) KEY(K) STRING(S) SEMI. {
    A = B; set_str(m, &A->key, K, S, "key");
}
ent_body(A) ::= ent_body(B) COLLECTION(K) STRING(S) SEMI. {
    A = B; set_str(m, &A->collection, K, S, "collection");
}
ent_body(A) ::= ent_body(B) TTL(K) DURATION(D) SEMI. {
    A = B;
    if (once(m, A->has_ttl, K, "ttl")) { A->has_ttl = true; A->ttl_ms = D.ms; A->ttl_off = D.off; }
}
ent_body(A) ::= ent_body(B) ident(N) COLON type(T) SEMI. {
    A = B;
    hcg_field *f = hcg_alloc(m->arena, sizeof *f);
    f->off = N.off; f->name = ident_of(m, N); f->type = T;
    hcg_vec_push(m->arena, &A->fields, f);
}
ent_body(A) ::= ent_body(B) ident(N) COLON type(T) PRIMARY SEMI. {
    A = B;
    hcg_field *f = hcg_alloc(m->arena, sizeof *f);
    f->off = N.off; f->name = ident_of(m, N); f->type = T; f->primary = true;
    hcg_vec_push(m->arena, &A->fields, f);
}

type(A) ::= ident(N). {
    memset(&A, 0, sizeof A); A.off = N.off; A.name = ident_of(m, N);
}
type(A) ::= ident(N) QUESTION. {
    memset(&A, 0, sizeof A); A.off = N.off; A.name = ident_of(m, N); A.nullable = true;
}
result(A) ::= type(T). { A = T; }
result(A) ::= ident(N) LBRACKET RBRACKET. {
    memset(&A, 0, sizeof A); A.off = N.off; A.name = ident_of(m, N); A.list = true;
}

/* ---------------------------------------------------------- declarations */

params(A) ::= . { memset(&A, 0, sizeof A); }
params(A) ::= param_list(B). { A = B; }
param_list(A) ::= param(P). { memset(&A, 0, sizeof A); hcg_vec_push(m->arena, &A, P); }
param_list(A) ::= param_list(B) COMMA param(P). { A = B; hcg_vec_push(m->arena, &A, P); }
param(A) ::= ident(N) COLON type(T). {
    A = hcg_alloc(m->arena, sizeof *A);
    A->off = N.off; A->name = ident_of(m, N); A->type = T;
}

clauses(A) ::= . { A = new_decl(m); }
clauses(A) ::= clauses(B) SQL(K) STRING(S) SEMI. {
    A = B; set_str(m, &A->sql, K, S, "sql");
}
clauses(A) ::= clauses(B) SQL(K) DOT ident(D) STRING(S) SEMI. {
    A = B;
    if (D.len == 6 && memcmp(m->src->text + D.off, "sqlite", 6) == 0)
        set_str(m, &A->sql_sqlite, K, S, "sql.sqlite");
    else if (D.len == 8 && memcmp(m->src->text + D.off, "postgres", 8) == 0)
        set_str(m, &A->sql_postgres, K, S, "sql.postgres");
    else
        hcg_error(m->src, D.off, "unknown SQL dialect '%.*s': use sql.sqlite or sql.postgres",
                  (int)D.len, m->src->text + D.off);
}
clauses(A) ::= clauses(B) KEY(K) STRING(S) SEMI. {
    A = B; set_str(m, &A->key, K, S, "key");
}
clauses(A) ::= clauses(B) TAGS(K) strings(L) SEMI. {
    A = B;
    if (once(m, A->tags.n > 0, K, "tags")) A->tags = L;
}
clauses(A) ::= clauses(B) TTL(K) DURATION(D) SEMI. {
    A = B;
    if (once(m, A->has_ttl, K, "ttl")) { A->has_ttl = true; A->ttl_ms = D.ms; A->ttl_off = D.off; }
}
clauses(A) ::= clauses(B) ENTITY(K) ident(N) LPAREN names(L) RPAREN SEMI. {
    A = B;
    if (once(m, A->entity_name != NULL, K, "entity")) {
        A->entity_name = ident_of(m, N); A->entity_off = N.off; A->entity_args = L;
    }
}
clauses(A) ::= clauses(B) INVALIDATES(K) strings(L) SEMI. {
    A = B;
    if (once(m, A->has_invalidates, K, "invalidates")) {
        A->has_invalidates = true; A->invalidates_off = K.off; A->invalidates = L;
    }
}
clauses(A) ::= clauses(B) INVALIDATES(K) NOTHING SEMI. {
    A = B;
    if (once(m, A->has_invalidates, K, "invalidates")) {
        A->has_invalidates = true; A->invalidates_off = K.off; A->invalidates_nothing = true;
    }
}
clauses(A) ::= clauses(B) NAME(K) STRING(S) SEMI. {
    A = B; set_str(m, &A->label, K, S, "name");
}
/* leaves stale q1, q2 until ttl; -- the queries an exec knowingly leaves
   stale (coverage.c), named so that the opt-out is per pair and explicit. */
clauses(A) ::= clauses(B) LEAVES(K) STALE names(L) UNTIL TTL SEMI. {
    A = B;
    if (once(m, A->has_stale, K, "leaves stale")) {
        A->has_stale = true; A->stale_off = K.off; A->stale = L;
    }
}

/* ------------------------------------------------------ the context clause */
/* `context;` on a cacheable: its loader takes the void *ctx its caller
   passes, as a policy's loader does (issue 16, 18). check.c refuses it on
   the other kinds. Kept apart from the clauses above so that grammars
   adding clauses of their own merge without a conflict. */
clauses(A) ::= clauses(B) CONTEXT(K) SEMI. {
    A = B;
    if (once(m, A->has_context, K, "context")) { A->has_context = true; A->context_off = K.off; }
}
ident(A) ::= CONTEXT(T). { A = T; }

strings(A) ::= STRING(S). { memset(&A, 0, sizeof A); hcg_vec_push(m->arena, &A, str_new(m, S)); }
strings(A) ::= strings(B) COMMA STRING(S). { A = B; hcg_vec_push(m->arena, &A, str_new(m, S)); }

names(A) ::= ident(N). {
    memset(&A, 0, sizeof A);
    hcg_str *s = hcg_alloc(m->arena, sizeof *s);
    s->off = N.off; s->s = (char *)ident_of(m, N);
    hcg_vec_push(m->arena, &A, s);
}
names(A) ::= names(B) COMMA ident(N). {
    A = B;
    hcg_str *s = hcg_alloc(m->arena, sizeof *s);
    s->off = N.off; s->s = (char *)ident_of(m, N);
    hcg_vec_push(m->arena, &A, s);
}

/* Every keyword is also a name where a name is expected. */
ident(A) ::= IDENT(T). { A = T; }
ident(A) ::= MODULE(T). { A = T; }
ident(A) ::= NAMESPACE(T). { A = T; }
ident(A) ::= DEFAULT(T). { A = T; }
ident(A) ::= TTL(T). { A = T; }
ident(A) ::= ENTITY(T). { A = T; }
ident(A) ::= KEY(T). { A = T; }
ident(A) ::= COLLECTION(T). { A = T; }
ident(A) ::= PRIMARY(T). { A = T; }
ident(A) ::= QUERY(T). { A = T; }
ident(A) ::= EXEC(T). { A = T; }
ident(A) ::= POLICY(T). { A = T; }
ident(A) ::= CACHEABLE(T). { A = T; }
ident(A) ::= INFALLIBLE(T). { A = T; }
ident(A) ::= SQL(T). { A = T; }
ident(A) ::= TAGS(T). { A = T; }
ident(A) ::= INVALIDATES(T). { A = T; }
ident(A) ::= NOTHING(T). { A = T; }
ident(A) ::= NAME(T). { A = T; }
ident(A) ::= LEAVES(T). { A = T; }
ident(A) ::= STALE(T). { A = T; }
ident(A) ::= UNTIL(T). { A = T; }
