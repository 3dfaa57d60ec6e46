/*
** hcache-replay.c -- replay a key trace through libhydracache and report
** its hit ratio next to an exact LRU.
**
**   hcache-replay TRACE CAP[,CAP...]
**   hcache-replay --version | --help
**
** TRACE holds one key per line (integers or any other text). Lines holding
** only `*` and blank lines are skipped; trailing spaces and \r are ignored,
** so CRLF traces read like LF ones. A name ending in .gz is read through
** `gzip -dc`; `-` reads standard input. A line the cache cannot take as a
** key (a NUL byte in it, more than 65535 bytes) is an error that names the
** line: `hcache-replay: TRACE:LINE: ...`.
**
** For each capacity the trace goes through a fresh cache, the way an
** application would use one: hc_get, and on a miss hc_put the value. An exact
** LRU of the same capacity sees the same keys in the same run, so the two
** hit ratios can be compared directly. Output, one line per capacity:
**
**   capacity=1000 hydracache=54.18 lru=54.41
**
** (percent of all lookups, the first ones included). What was read goes to
** standard error first, so that the output stays one line per capacity:
**
**   hcache-replay: TRACE: 1000000 requests, 12345 distinct keys
**
** This file doubles as a
** small example of the API: see replay_hydracache().
*/
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hydracache.h"

#define EXIT_USAGE 2
#define KEY_MAX 65535    /* the longest key hc_put takes */

static const char *prog = "hcache-replay";

static void usage(FILE *to)
{
    fprintf(to,
            "usage: %s TRACE CAP[,CAP...]\n"
            "       %s --version\n"
            "\n"
            "Replay TRACE (one key per line; `*` and blank lines skipped;\n"
            "TRACE.gz is read through gzip -dc; - is standard input) through\n"
            "a HydraCache and an exact LRU holding at most CAP entries, and\n"
            "print each one's hit ratio in percent:\n"
            "\n"
            "  capacity=CAP hydracache=NN.NN lru=NN.NN\n"
            "\n"
            "The number of requests and distinct keys read goes to standard\n"
            "error first.\n",
            prog, prog);
}

/* Complain about the command line ("what 'arg'"), show the usage, exit 2. */
static _Noreturn void die_usage(const char *what, const char *arg)
{
    if (arg) fprintf(stderr, "%s: %s '%s'\n", prog, what, arg);
    else fprintf(stderr, "%s: %s\n", prog, what);
    fprintf(stderr, "usage: %s TRACE CAP[,CAP...]   (--help for details)\n", prog);
    exit(EXIT_USAGE);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    return q;
}

/* ------------------------------------------------------------ the trace */

/*
** The trace in memory: each distinct key once (NUL-terminated, in one
** text buffer), and the sequence of accesses as key numbers. Numbering the
** keys lets the LRU use plain arrays, and reading the file once means every
** capacity replays exactly the same sequence.
*/
typedef struct trace {
    char     *text;        /* the distinct keys, back to back */
    size_t    text_len, text_cap;
    size_t   *key_off;     /* key i starts at text + key_off[i] */
    uint32_t  nkeys, keys_cap;
    uint32_t *seq;         /* the accesses, as key numbers */
    size_t    nseq, seq_cap;
    uint32_t *index;       /* open addressing: key number + 1, 0 = empty */
    uint32_t  index_mask;
} trace;

/* FNV-1a: the tool only needs a decent hash to number keys once. */
static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static void index_grow(trace *t)
{
    uint32_t n = t->index ? (t->index_mask + 1) * 2 : 1024;
    uint32_t *idx = xrealloc(NULL, (size_t)n * sizeof *idx);
    memset(idx, 0, (size_t)n * sizeof *idx);
    for (uint32_t k = 0; k < t->nkeys; k++) {
        const char *s = t->text + t->key_off[k];
        uint32_t i = (uint32_t)hash_str(s, strlen(s)) & (n - 1);
        while (idx[i]) i = (i + 1) & (n - 1);
        idx[i] = k + 1;
    }
    free(t->index);
    t->index = idx;
    t->index_mask = n - 1;
}

/* The number of key s (len bytes), giving it the next one if it is new. */
static uint32_t intern(trace *t, const char *s, size_t len)
{
    if (!t->index || (uint64_t)t->nkeys * 2 >= t->index_mask) index_grow(t);
    uint32_t i = (uint32_t)hash_str(s, len) & t->index_mask;
    for (; t->index[i]; i = (i + 1) & t->index_mask) {
        const char *k = t->text + t->key_off[t->index[i] - 1];
        if (strncmp(k, s, len) == 0 && k[len] == '\0') return t->index[i] - 1;
    }
    if (t->nkeys == UINT32_MAX - 1) {
        fprintf(stderr, "%s: too many distinct keys\n", prog);
        exit(1);
    }
    if (t->nkeys == t->keys_cap) {
        t->keys_cap = t->keys_cap ? t->keys_cap * 2 : 1024;
        t->key_off = xrealloc(t->key_off, (size_t)t->keys_cap * sizeof *t->key_off);
    }
    while (t->text_cap - t->text_len < len + 1) {
        t->text_cap = t->text_cap ? t->text_cap * 2 : 65536;
        t->text = xrealloc(t->text, t->text_cap);
    }
    memcpy(t->text + t->text_len, s, len);
    t->text[t->text_len + len] = '\0';
    t->key_off[t->nkeys] = t->text_len;
    t->text_len += len + 1;
    t->index[i] = t->nkeys + 1;
    return t->nkeys++;
}

static void add_access(trace *t, uint32_t key)
{
    if (t->nseq == t->seq_cap) {
        t->seq_cap = t->seq_cap ? t->seq_cap * 2 : 65536;
        t->seq = xrealloc(t->seq, t->seq_cap * sizeof *t->seq);
    }
    t->seq[t->nseq++] = key;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
** Open the trace. A .gz file goes through gzip, but only after checking that
** it can be opened at all, so that a mistyped name gets our message rather
** than gzip's. Sets *piped when the stream must be closed with pclose().
*/
static FILE *open_trace(const char *path, bool *piped)
{
    *piped = false;
    if (strcmp(path, "-") == 0) return stdin;
    FILE *f = fopen(path, "r");
    if (!f || !ends_with(path, ".gz")) return f;
    fclose(f);

    /* Single-quote the name for the shell: ' becomes '\''. */
    size_t n = strlen(path), len = 0;
    char *cmd = xrealloc(NULL, n * 4 + sizeof "gzip -dc -- ''");
    len += (size_t)sprintf(cmd, "gzip -dc -- '");
    for (size_t i = 0; i < n; i++) {
        if (path[i] == '\'') {
            memcpy(cmd + len, "'\\''", 4);
            len += 4;
        } else {
            cmd[len++] = path[i];
        }
    }
    memcpy(cmd + len, "'", 2);
    f = popen(cmd, "r");
    free(cmd);
    *piped = f != NULL;
    return f;
}

/* Read the whole trace into t. Returns 0, or -1 with a message printed. */
static int read_trace(const char *path, trace *t)
{
    bool piped;
    errno = 0;
    FILE *f = open_trace(path, &piped);
    if (!f) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path,
                errno ? strerror(errno) : "cannot start gzip");
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        if (len == 0 || (len == 1 && line[0] == '*')) continue;
        /* hc_get takes C strings: a NUL would silently cut the key. A key
           the cache refuses would stop the replay far from its line. */
        const char *bad = memchr(line, '\0', len) ? "a key with a NUL byte"
                        : len > KEY_MAX ? "a key longer than 65535 bytes" : NULL;
        if (bad) {
            fprintf(stderr, "%s: %s:%zu: %s\n", prog, path, lineno, bad);
            free(line);
            if (piped) pclose(f); else if (f != stdin) fclose(f);
            return -1;
        }
        add_access(t, intern(t, line, len));
    }
    int read_err = ferror(f) ? errno : 0;
    free(line);
    int status = 0;
    if (piped) status = pclose(f);
    else if (f != stdin) fclose(f);
    if (read_err) {
        fprintf(stderr, "%s: error reading %s: %s\n", prog, path, strerror(read_err));
        return -1;
    }
    if (status != 0) {
        /* 127 is the shell's "command not found". */
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        fprintf(stderr, "%s: gzip -dc %s failed%s\n", prog, path,
                code == 127 ? ": is gzip installed?" : "");
        return -1;
    }
    if (t->nseq == 0) {
        fprintf(stderr, "%s: %s holds no keys\n", prog, path);
        return -1;
    }
    fprintf(stderr, "%s: %s: %zu request%s, %lu distinct key%s\n", prog, path, t->nseq,
            t->nseq == 1 ? "" : "s", (unsigned long)t->nkeys, t->nkeys == 1 ? "" : "s");
    return 0;
}

static void trace_free(trace *t)
{
    free(t->text);
    free(t->key_off);
    free(t->seq);
    free(t->index);
}

/* ------------------------------------------------------------ replays */

/*
** The library, used the way an application uses it: look the key up, and on
** a miss store a value. The value's bytes do not matter to the policy; a
** small one keeps the replay fast. Returns the number of hits, or -1.
*/
static long long replay_hydracache(const trace *t, uint64_t capacity)
{
    hc_config cfg;
    hc_config_init(&cfg);
    cfg.name = "replay";
    cfg.max_entries = capacity;
    cfg.default_ttl_ms = HC_TTL_NEVER;   /* a replay has no notion of time */

    hc_cache *c;
    int rc = hc_cache_open(&c, &cfg);
    if (rc != HC_OK) {
        fprintf(stderr, "%s: hc_cache_open: %s\n", prog, hc_strerror(rc));
        return -1;
    }
    hc_buf value = HC_BUF_INIT;         /* reused: hc_get grows it as needed */
    long long hits = 0;
    for (size_t i = 0; i < t->nseq && rc >= 0; i++) {
        const char *key = t->text + t->key_off[t->seq[i]];
        rc = hc_get(c, key, &value);
        if (rc == HC_OK) hits++;
        else if (rc == HC_MISS) rc = hc_put(c, key, "v", 1, NULL);
    }
    if (rc < 0) fprintf(stderr, "%s: %s\n", prog, hc_strerror(rc));
    hc_buf_free(&value);
    hc_cache_close(c);
    return rc < 0 ? -1 : hits;
}

/*
** Exact LRU over key numbers: a doubly-linked list in arrays, most recent
** first, with slot nkeys as the list's head so that no end needs a test.
*/
static long long replay_lru(const trace *t, uint64_t capacity)
{
    uint32_t n = t->nkeys, head = n;
    uint32_t *prev = xrealloc(NULL, ((size_t)n + 1) * sizeof *prev);
    uint32_t *next = xrealloc(NULL, ((size_t)n + 1) * sizeof *next);
    unsigned char *resident = xrealloc(NULL, (size_t)n + 1);
    memset(resident, 0, (size_t)n + 1);
    prev[head] = next[head] = head;
    uint64_t size = 0;
    long long hits = 0;

    for (size_t i = 0; i < t->nseq; i++) {
        uint32_t k = t->seq[i];
        if (resident[k]) {
            hits++;
            next[prev[k]] = next[k];          /* unlink, to relink at the front */
            prev[next[k]] = prev[k];
        } else {
            if (size == capacity) {           /* evict the least recent */
                uint32_t v = prev[head];
                next[prev[v]] = head;
                prev[head] = prev[v];
                resident[v] = 0;
                size--;
            }
            resident[k] = 1;
            size++;
        }
        next[k] = next[head];
        prev[k] = head;
        prev[next[head]] = k;
        next[head] = k;
    }
    free(prev);
    free(next);
    free(resident);
    return hits;
}

/* ------------------------------------------------------------ main */

/* Parse "250,500,1000" into caps; exits with a usage error when malformed. */
static size_t parse_caps(const char *arg, uint64_t **caps)
{
    size_t n = 0;
    *caps = NULL;
    const char *p = arg;
    for (;;) {
        if (*p < '0' || *p > '9') die_usage("bad capacity list", arg);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        /* 0 would mean "unbounded" to the library: not a capacity. */
        if (errno || v == 0 || v > UINT32_MAX)
            die_usage("capacities must be between 1 and 4294967295:", arg);
        *caps = xrealloc(*caps, (n + 1) * sizeof **caps);
        (*caps)[n++] = v;
        if (*end == '\0') return n;
        if (*end != ',') die_usage("bad capacity list", arg);
        p = end + 1;
    }
}

int main(int argc, char **argv)
{
    const char *args[2];
    int nargs = 0;
    bool no_more_options = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!no_more_options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        if (!no_more_options && strcmp(a, "--version") == 0) {
            printf("%s %s\n", prog, hc_version_string());
            return 0;
        }
        if (!no_more_options && strcmp(a, "--") == 0) {
            no_more_options = true;
        } else if (!no_more_options && a[0] == '-' && a[1] != '\0') {
            die_usage("unknown option", a);
        } else if (nargs == 2) {
            die_usage("too many arguments:", a);
        } else {
            args[nargs++] = a;
        }
    }
    if (nargs != 2) die_usage("expected TRACE and CAP[,CAP...]", NULL);

    uint64_t *caps;
    size_t ncaps = parse_caps(args[1], &caps);

    trace t;
    memset(&t, 0, sizeof t);
    if (read_trace(args[0], &t) != 0) {
        trace_free(&t);
        free(caps);
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < ncaps && status == 0; i++) {
        long long hc = replay_hydracache(&t, caps[i]);
        long long lru = replay_lru(&t, caps[i]);
        if (hc < 0) {
            status = 1;
            break;
        }
        printf("capacity=%llu hydracache=%.2f lru=%.2f\n", (unsigned long long)caps[i],
               100.0 * (double)hc / (double)t.nseq, 100.0 * (double)lru / (double)t.nseq);
        fflush(stdout);
    }
    trace_free(&t);
    free(caps);
    return status;
}
