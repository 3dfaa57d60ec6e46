/*
** lexer.re -- the .hcache tokenizer, for re2c 3.0.
**
** The source is a NUL-terminated copy of the file, so the NUL after the last
** byte is the sentinel that ends every rule; a NUL before it is an error.
** Each keyword has its own token (grammar.y lets them stand as names too).
** Strings are decoded here (escapes \" \\ \n \t \r); durations are turned
** into milliseconds and percentages into numbers here, so the parser only
** sees finished values.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcg.h"
#include "grammar.h"

/* Decode the string literal [s, e) (quotes excluded) into the arena. A bad
   escape or control byte is reported and left out, so checking goes on
   with the rest of the string. */
static char *decode_string(hcg_lexer *lx, const unsigned char *s, const unsigned char *e)
{
    char *out = hcg_alloc(lx->arena, (size_t)(e - s) + 1), *w = out;
    for (const unsigned char *p = s; p < e; p++) {
        if (*p < 0x20 && *p != '\t') {
            hcg_error(lx->src, (size_t)((const char *)p - lx->src->text),
                      "control byte 0x%02x in a string (write \\n or \\t)", *p);
        } else if (*p != '\\') {
            *w++ = (char)*p;
        } else {
            switch (*++p) {
            case '"':  *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case 'n':  *w++ = '\n'; break;
            case 't':  *w++ = '\t'; break;
            case 'r':  *w++ = '\r'; break;
            default:
                hcg_error(lx->src, (size_t)((const char *)p - 1 - lx->src->text),
                          "unknown escape '\\%c' in a string (use \\\" \\\\ \\n \\t \\r)",
                          *p >= 0x20 && *p < 0x7f ? *p : '?');
            }
        }
    }
    *w = 0;
    return out;
}

/* A duration: digits then a unit. Returns false after reporting. */
static bool decode_duration(hcg_lexer *lx, const unsigned char *s, const unsigned char *e,
                            uint64_t *ms)
{
    size_t off = (size_t)((const char *)s - lx->src->text);
    const unsigned char *u = s;
    uint64_t n = 0;
    for (; u < e && *u >= '0' && *u <= '9'; u++) {
        if (n > (UINT64_MAX - 9) / 10) {
            hcg_error(lx->src, off, "duration '%.*s' is too large", (int)(e - s), (const char *)s);
            return false;
        }
        n = n * 10 + (uint64_t)(*u - '0');
    }
    size_t ulen = (size_t)(e - u);
    uint64_t scale = 0;
    if (ulen == 2 && memcmp(u, "ms", 2) == 0) scale = 1;
    else if (ulen == 1 && *u == 's') scale = 1000;
    else if (ulen == 1 && *u == 'm') scale = 60000;
    else if (ulen == 1 && *u == 'h') scale = 3600000;
    else if (ulen == 1 && *u == 'd') scale = 86400000;
    if (!scale) {
        if (ulen == 0)
            hcg_error(lx->src, off, "duration '%.*s' needs a unit: ms, s, m, h or d",
                      (int)(e - s), (const char *)s);
        else
            hcg_error(lx->src, off, "bad duration '%.*s': the unit must be ms, s, m, h or d",
                      (int)(e - s), (const char *)s);
        return false;
    }
    if (n > UINT64_MAX / scale / 2) {
        hcg_error(lx->src, off, "duration '%.*s' is too large", (int)(e - s), (const char *)s);
        return false;
    }
    if (n == 0) {
        hcg_error(lx->src, off, "duration '%.*s' is zero: leave the ttl out for the default",
                  (int)(e - s), (const char *)s);
        return false;
    }
    *ms = n * scale;
    return true;
}

/* A percentage: digits then '%'. Its range is check.c's business (it says
   what the number is for); here only a number too long to mean anything
   is capped, so that check.c reports it as out of range. */
static uint64_t decode_percent(const unsigned char *s, const unsigned char *e)
{
    uint64_t n = 0;
    for (; s < e && *s >= '0' && *s <= '9'; s++) n = n < 100000 ? n * 10 + (uint64_t)(*s - '0') : n;
    return n;
}

int hcg_lex(hcg_lexer *lx, hcg_token *t)
{
    const unsigned char *YYMARKER, *start;
    const unsigned char *lim = (const unsigned char *)lx->src->text + lx->src->len;
#define RET(c) do { t->code = (c); t->len = (size_t)(lx->cur - start); return (c); } while (0)
    for (;;) {
        start = lx->cur;
        memset(t, 0, sizeof *t);
        t->off = (size_t)((const char *)start - lx->src->text);
        const unsigned char *YYCURSOR = lx->cur;
/*!re2c
        re2c:define:YYCTYPE = "unsigned char";
        re2c:yyfill:enable = 0;
        re2c:flags:tags = 0;

        id    = [a-zA-Z_][a-zA-Z0-9_]*;
        strch = [^"\\\n\x00] | "\\" [^\n\x00];

        "\x00" {
            if (start < lim) {
                lx->cur = YYCURSOR;
                hcg_error(lx->src, t->off, "NUL byte in the input (is this a binary file?)");
                return t->code = -1;
            }
            lx->cur = start;
            return t->code = 0;
        }
        [ \t\r\n]+  { lx->cur = YYCURSOR; continue; }
        "//" [^\n\x00]*  { lx->cur = YYCURSOR; continue; }
        "/*" {
            const unsigned char *p = YYCURSOR;
            while (p < lim && !(p[0] == '*' && p[1] == '/')) p++;
            if (p >= lim) {
                lx->cur = lim;
                hcg_error(lx->src, t->off, "unterminated comment: '/*' without '*/'");
                return t->code = -1;
            }
            lx->cur = p + 2;
            continue;
        }
        ["] strch* ["] {
            lx->cur = YYCURSOR;
            t->str = decode_string(lx, start + 1, YYCURSOR - 1);
            RET(TK_STRING);
        }
        ["] strch* {
            lx->cur = YYCURSOR;
            hcg_error(lx->src, t->off, "unterminated string: '\"' without a closing '\"' on its line");
            return t->code = -1;
        }
        [0-9]+ "%" {
            lx->cur = YYCURSOR;
            t->ms = decode_percent(start, YYCURSOR - 1);
            RET(TK_PERCENT);
        }
        [0-9]+ [a-zA-Z0-9_]* {
            lx->cur = YYCURSOR;
            if (!decode_duration(lx, start, YYCURSOR, &t->ms)) t->ms = 1;  /* reported */
            RET(TK_DURATION);
        }
        "module"      { lx->cur = YYCURSOR; RET(TK_MODULE); }
        "namespace"   { lx->cur = YYCURSOR; RET(TK_NAMESPACE); }
        "default"     { lx->cur = YYCURSOR; RET(TK_DEFAULT); }
        "ttl"         { lx->cur = YYCURSOR; RET(TK_TTL); }
        "entity"      { lx->cur = YYCURSOR; RET(TK_ENTITY); }
        "key"         { lx->cur = YYCURSOR; RET(TK_KEY); }
        "collection"  { lx->cur = YYCURSOR; RET(TK_COLLECTION); }
        "primary"     { lx->cur = YYCURSOR; RET(TK_PRIMARY); }
        "query"       { lx->cur = YYCURSOR; RET(TK_QUERY); }
        "exec"        { lx->cur = YYCURSOR; RET(TK_EXEC); }
        "policy"      { lx->cur = YYCURSOR; RET(TK_POLICY); }
        "cacheable"   { lx->cur = YYCURSOR; RET(TK_CACHEABLE); }
        "infallible"  { lx->cur = YYCURSOR; RET(TK_INFALLIBLE); }
        "sql"         { lx->cur = YYCURSOR; RET(TK_SQL); }
        "tags"        { lx->cur = YYCURSOR; RET(TK_TAGS); }
        "invalidates" { lx->cur = YYCURSOR; RET(TK_INVALIDATES); }
        "nothing"     { lx->cur = YYCURSOR; RET(TK_NOTHING); }
        "name"        { lx->cur = YYCURSOR; RET(TK_NAME); }
        "leaves"      { lx->cur = YYCURSOR; RET(TK_LEAVES); }
        "stale"       { lx->cur = YYCURSOR; RET(TK_STALE); }
        "until"       { lx->cur = YYCURSOR; RET(TK_UNTIL); }
        "context"     { lx->cur = YYCURSOR; RET(TK_CONTEXT); }   /* the context clause */
        "refresh"     { lx->cur = YYCURSOR; RET(TK_REFRESH); }   /* freshness clauses */
        "if"          { lx->cur = YYCURSOR; RET(TK_IF); }
        "error"       { lx->cur = YYCURSOR; RET(TK_ERROR); }
        "jitter"      { lx->cur = YYCURSOR; RET(TK_JITTER); }
        id            { lx->cur = YYCURSOR; RET(TK_IDENT); }
        "->"          { lx->cur = YYCURSOR; RET(TK_ARROW); }
        ";"           { lx->cur = YYCURSOR; RET(TK_SEMI); }
        "{"           { lx->cur = YYCURSOR; RET(TK_LBRACE); }
        "}"           { lx->cur = YYCURSOR; RET(TK_RBRACE); }
        "("           { lx->cur = YYCURSOR; RET(TK_LPAREN); }
        ")"           { lx->cur = YYCURSOR; RET(TK_RPAREN); }
        "["           { lx->cur = YYCURSOR; RET(TK_LBRACKET); }
        "]"           { lx->cur = YYCURSOR; RET(TK_RBRACKET); }
        ":"           { lx->cur = YYCURSOR; RET(TK_COLON); }
        ","           { lx->cur = YYCURSOR; RET(TK_COMMA); }
        "?"           { lx->cur = YYCURSOR; RET(TK_QUESTION); }
        "."           { lx->cur = YYCURSOR; RET(TK_DOT); }
        * {
            lx->cur = YYCURSOR;
            if (*start >= 0x21 && *start < 0x7f)
                hcg_error(lx->src, t->off, "unexpected character '%c'", *start);
            else if (*start >= 0x80)
                hcg_error(lx->src, t->off, "unexpected byte 0x%02x: non-ASCII text belongs in strings and comments", *start);
            else
                hcg_error(lx->src, t->off, "unexpected control byte 0x%02x (is this a binary file?)", *start);
            return t->code = -1;
        }
*/
    }
#undef RET
}

/* How a token is named in "expected ..." messages. */
const char *hcg_token_name(int code)
{
    switch (code) {
    case 0:              return "end of file";
    case TK_MODULE:      return "'module'";
    case TK_NAMESPACE:   return "'namespace'";
    case TK_DEFAULT:     return "'default'";
    case TK_TTL:         return "'ttl'";
    case TK_ENTITY:      return "'entity'";
    case TK_KEY:         return "'key'";
    case TK_COLLECTION:  return "'collection'";
    case TK_PRIMARY:     return "'primary'";
    case TK_QUERY:       return "'query'";
    case TK_EXEC:        return "'exec'";
    case TK_POLICY:      return "'policy'";
    case TK_CACHEABLE:   return "'cacheable'";
    case TK_INFALLIBLE:  return "'infallible'";
    case TK_SQL:         return "'sql'";
    case TK_TAGS:        return "'tags'";
    case TK_INVALIDATES: return "'invalidates'";
    case TK_NOTHING:     return "'nothing'";
    case TK_NAME:        return "'name'";
    case TK_LEAVES:      return "'leaves'";
    case TK_STALE:       return "'stale'";
    case TK_UNTIL:       return "'until'";
    case TK_CONTEXT:     return "'context'";
    case TK_REFRESH:     return "'refresh'";
    case TK_IF:          return "'if'";
    case TK_ERROR:       return "'error'";
    case TK_JITTER:      return "'jitter'";
    case TK_PERCENT:     return "a percentage";
    case TK_IDENT:       return "a name";
    case TK_STRING:      return "a string";
    case TK_DURATION:    return "a duration";
    case TK_ARROW:       return "'->'";
    case TK_SEMI:        return "';'";
    case TK_LBRACE:      return "'{'";
    case TK_RBRACE:      return "'}'";
    case TK_LPAREN:      return "'('";
    case TK_RPAREN:      return "')'";
    case TK_LBRACKET:    return "'['";
    case TK_RBRACKET:    return "']'";
    case TK_COLON:       return "':'";
    case TK_COMMA:       return "','";
    case TK_QUESTION:    return "'?'";
    case TK_DOT:         return "'.'";
    }
    return "a token";
}
