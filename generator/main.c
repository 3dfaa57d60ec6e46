/*
** main.c -- hcachegen, the .hcache compiler: the command line, reading the
** input, and writing the outputs the way a build step must (atomically,
** only when they change, nothing at all when there is an error).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hcg.h"

static const char hint[] = "Try 'hcachegen --help' for more information.\n";

static const char usage[] =
    "usage: hcachegen [options] -o OUTDIR FILE.hcache\n"
    "Writes OUTDIR/FILE.hc.h and OUTDIR/FILE.hc.c from FILE.hcache.\n"
    "\n"
    "  -o OUTDIR          where the outputs go (required unless --check)\n"
    "  --depfile F        also write a make dependency file\n"
    "  --stamp F          touch F after every successful run, and make it the\n"
    "                     depfile's target (for make: see hydracache.mk)\n"
    "  --templates DIR    use the templates in DIR instead of the built-in ones\n"
    "  --no-line          no #line directives back to the .hcache file\n"
    "  --check            parse and check only; write nothing\n"
    "  --schema F.sql     load F.sql into an in-memory SQLite database and\n"
    "                     prepare every query and exec there (the depfile\n"
    "                     lists F.sql)\n"
    "  --pg-check INFO    prepare every query and exec on the PostgreSQL\n"
    "                     server that the libpq connection string INFO names\n"
    "                     (with either: every exec must invalidate a tag of\n"
    "                     each query whose data it writes)\n"
    "  --version          print the version\n"
    "  --help             print this help\n"
    "\n"
    "Errors go to stderr as file:line:col: error: message; the exit status\n"
    "is 1 when the input has errors (statements that fail --schema or\n"
    "--pg-check included), 2 for a bad command line, an I/O error or a\n"
    "PostgreSQL server that cannot be reached.\n";

/*
** Whether path is a regular file that holds exactly text (len bytes). Only
** a regular file of that very size is opened, and never through a link:
** whatever else sits there (a FIFO, which would block the read, a device, a
** symlink to /dev/urandom) is not an output of ours and gets replaced.
*/
static bool holds(const char *path, const char *text, size_t len)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len) return false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    /* It may have changed between the lstat and the open. */
    bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len;
    char buf[65536];
    size_t at = 0;
    while (same) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            same = k == 0 && at == len;
            break;
        }
        same = (size_t)k <= len - at && memcmp(buf, text + at, (size_t)k) == 0;
        at += (size_t)k;
    }
    close(fd);
    return same;
}

/* All of text to fd; 0, or -1 with errno set. */
static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, text, len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        text += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Sync the directory that holds path, so that a rename into it lasts. A
   file system that cannot sync a directory (EINVAL) has nothing to do. */
static int sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);
    if (rc != 0 && errno == EINVAL) rc = 0;
    if (rc != 0) fprintf(stderr, "hcachegen: cannot sync directory '%s': %s\n", dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return rc;
}

/*
** Write text to path through a temporary file and rename(), unless path
** already holds exactly text (then it is left alone, timestamps and all).
** The rename replaces what path names, a symlink included, not its target.
** The temporary file is synced before the rename and the directory after
** it, so that a power loss right after a build leaves the old output or
** the new one, never an empty or partial file.
*/
static int write_if_changed(const char *path, const char *text)
{
    size_t len = strlen(text);
    if (holds(path, text, len)) return 0;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return -1;
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "hcachegen: cannot create %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; an output gets what the umask allows. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    bool ok = write_all(fd, text, len) == 0 && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        fprintf(stderr, "hcachegen: cannot write %s: %s\n", path, strerror(err));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return sync_dir_of(path);
}

/* "dir/shop.hcache" -> "shop" (malloc'd). */
static char *stem_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 7 && strcmp(base + n - 7, ".hcache") == 0) n -= 7;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, base, n);
    s[n] = 0;
    return s;
}

/* A path as make reads it in a rule: spaces, '#' and '$' escaped. */
static void dep_escaped(FILE *f, const char *p)
{
    for (; *p; p++) {
        if (*p == ' ' || *p == '#') fputc('\\', f);
        if (*p == '$') fputc('$', f);
        fputc(*p, f);
    }
}

static void dep_path(FILE *f, const char *p)
{
    fputc(' ', f);
    dep_escaped(f, p);
}

static char *depfile_text(const char *h, const char *c, const char *stamp, const char *input,
                          const char *schema, const char *self, const char *templates)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    if (stamp) {
        dep_escaped(f, stamp);
    } else {
        dep_escaped(f, h);
        dep_path(f, c);
    }
    fputs(":", f);
    dep_path(f, input);
    if (schema) dep_path(f, schema);
    if (self) dep_path(f, self);
    if (templates) {
        /* The same names the built-in table holds. */
        for (const hcg_builtin *b = hcg_builtin_templates; b->name; b++) {
            fputs(" \\\n ", f);
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", templates, b->name);
            dep_path(f, p);
        }
    }
    fputs("\n", f);
    /* An empty rule per prerequisite, so a deleted one does not break make. */
    fputs("\n", f);
    dep_escaped(f, input);
    fputs(":\n", f);
    if (schema) {
        fputs("\n", f);
        dep_escaped(f, schema);
        fputs(":\n", f);
    }
    fclose(f);
    return buf;
}

/*
** An output whose content is unchanged keeps its old mtime, so make would
** run hcachegen again on every build after the .hcache is touched. The stamp
** is what make compares instead: it is touched on every successful run.
** Like the outputs, the stamp is ours: anything at its path but a regular
** file (a symlink, which would touch its target; a FIFO, which would block
** the open; a device) is replaced by an empty file, never opened. O_NOFOLLOW
** and O_NONBLOCK make one put there between the lstat and the open an
** error instead.
*/
static int touch(const char *path)
{
    struct stat st;
    /* Nothing there, a regular file, or something else that could be removed
       (a directory cannot: errno says so). */
    bool ready = lstat(path, &st) != 0 || S_ISREG(st.st_mode) || unlink(path) == 0;
    int fd = ready ? open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666) : -1;
    if (fd < 0 || futimens(fd, NULL) != 0) {
        fprintf(stderr, "hcachegen: cannot touch %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return close(fd);
}

int main(int argc, char **argv)
{
    const char *outdir = NULL, *depfile = NULL, *templates = NULL, *input = NULL, *stamp = NULL;
    const char *schema = NULL, *pg_check = NULL;
    bool lines = true, check_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("hcachegen %s\n", HCG_VERSION);
            return 0;
        } else if (strcmp(a, "-o") == 0 && more) {
            outdir = argv[++i];
        } else if (strcmp(a, "--depfile") == 0 && more) {
            depfile = argv[++i];
        } else if (strcmp(a, "--stamp") == 0 && more) {
            stamp = argv[++i];
        } else if (strcmp(a, "--templates") == 0 && more) {
            templates = argv[++i];
        } else if (strcmp(a, "--no-line") == 0) {
            lines = false;
        } else if (strcmp(a, "--check") == 0) {
            check_only = true;
        } else if (strcmp(a, "--schema") == 0 && more) {
            schema = argv[++i];
        } else if (strcmp(a, "--pg-check") == 0 && more) {
            pg_check = argv[++i];
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--depfile") == 0 || strcmp(a, "--stamp") == 0 ||
                   strcmp(a, "--templates") == 0 || strcmp(a, "--schema") == 0 ||
                   strcmp(a, "--pg-check") == 0) {
            fprintf(stderr, "hcachegen: option '%s' needs an argument\n%s", a, hint);
            return 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hcachegen: unknown option '%s'\n%s", a, hint);
            return 2;
        } else if (input) {
            fprintf(stderr, "hcachegen: one input file at a time ('%s' and '%s')\n%s", input, a, hint);
            return 2;
        } else {
            input = a;
        }
    }
    /* Say what is missing, each thing once, rather than the whole usage. */
    if (!input) fputs("hcachegen: no input file\n", stderr);
    if (!outdir && !check_only) fputs("hcachegen: no output directory (-o DIR)\n", stderr);
    if (!input || (!outdir && !check_only)) {
        fputs(hint, stderr);
        return 2;
    }
    /* Before any work: otherwise the first sign of a mistyped -o is that
       the temporary file next to the first output cannot be made. */
    if (!check_only) {
        struct stat st;
        int err = stat(outdir, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (err) {
            fprintf(stderr, "hcachegen: output directory '%s': %s\n", outdir, strerror(err));
            return 2;
        }
    }

    size_t len;
    char *text = hcg_read_file(input, &len);
    if (!text) {
        fprintf(stderr, "hcachegen: cannot read %s: %s\n", input, strerror(errno));
        return 2;
    }
    hcg_src src;
    hcg_src_init(&src, input, text, len);
    hcg_arena *arena = NULL;
    hcg_module m;
    memset(&m, 0, sizeof m);
    m.src = &src;
    m.arena = &arena;
    /* After a syntax error the tree is incomplete and checking it would
       only add noise; other errors (a bad escape, a repeated clause) leave
       it whole, and checking goes on to report everything else. */
    hcg_parse(&m);
    if (!m.stop) hcg_check(&m);
    /* The statements go to a database only once the file is sound: the
       rewriting to ?N and $N relies on the checks. Then both databases
       report, so one run lists everything. An error in the schema file
       counts with the input's errors; a schema file that cannot be read or
       a server that cannot be reached is an I/O error. */
    int errors = src.nerrors, status = 0;
    bool sound = errors == 0;
    if (sound && schema) {
        int k = hcg_check_schema(&m, schema);
        if (k < 0) status = 2;
        else errors += k;
    }
    if (sound && status == 0 && pg_check) {
        int k = hcg_check_pg(&m, pg_check);
        if (k < 0) status = 2;
        else errors += k;
    }
    /* What each statement reads and writes is known now: every exec must
       invalidate what it makes stale. Only over statements that all
       prepared, since one that failed tells nothing. */
    if (sound && status == 0 && errors == 0 && (schema || pg_check))
        errors += hcg_check_coverage(&m);
    if (status == 0 && errors) status = 1;
    if (errors)
        fprintf(stderr, "%s: %d error%s; nothing written\n", input, errors, errors == 1 ? "" : "s");

    if (status == 0 && !check_only) {
        char *stem = stem_of(input);
        size_t n = strlen(outdir) + strlen(stem) + 16;
        char *hpath = malloc(n), *cpath = malloc(n), *hname = malloc(n);
        snprintf(hpath, n, "%s/%s.hc.h", outdir, stem);
        snprintf(cpath, n, "%s/%s.hc.c", outdir, stem);
        snprintf(hname, n, "%s.hc.h", stem);
        hcg_emit_opts o = {hname, input, lines, templates, outdir};
        hcg_output out = {NULL, NULL};
        /* The depfile first: it does not depend on the outputs' text, and
           one that cannot be written then leaves the outputs as they were. */
        if (hcg_emit(&m, &o, &out) != 0) {
            status = 2;
        } else if (depfile) {
            char self[4096];
            ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
            if (k > 0) self[k] = 0;
            char *dep = depfile_text(hpath, cpath, stamp, input, schema, k > 0 ? self : NULL, templates);
            if (!dep || write_if_changed(depfile, dep) != 0) status = 2;
            free(dep);
        }
        if (status == 0 && (write_if_changed(hpath, out.header) != 0 || write_if_changed(cpath, out.source) != 0))
            status = 2;
        if (status == 0 && stamp && touch(stamp) != 0) status = 2;
        free(out.header);
        free(out.source);
        free(stem);
        free(hpath);
        free(cpath);
        free(hname);
    }
    hcg_arena_free(&arena);
    hcg_src_free(&src);
    free(text);
    return status;
}
