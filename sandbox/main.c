/*
** main.c -- hcache-sandbox: settings, start, stop.
**
**     hcache-sandbox [--profile P] [--bind ADDR:PORT] [options]
**
** Each setting comes from the first of: a flag, a HYDRACACHE_SANDBOX_*
** variable of the environment, the env file (sandbox.env in the data
** directory unless --env-file says otherwise), the default. The first line
** printed on stdout is the server's URL (flushed at once), so a script that
** binds port 0 learns the port; GET /ready answers 200 once everything is
** set up. SIGINT or SIGTERM stops it cleanly.
*/
#define _XOPEN_SOURCE 700     /* realpath */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#ifndef SB_SOURCE_DIR
#define SB_SOURCE_DIR "sandbox"
#endif

sb_settings sb_config;
sb_lab *sb_main_lab;
hc_registry *sb_registry;

static const char usage[] =
    "usage: hcache-sandbox [options]\n"
    "\n"
    "  --profile P            memory (default), sqlite-memory, sqlite-file, postgres\n"
    "  --bind ADDR:PORT       where to listen (default 127.0.0.1:3000; port 0: any free port)\n"
    "  --sqlite-path FILE     the sqlite-file profile's database\n"
    "  --database-url INFO    the postgres profile's connection (a URL or key=value conninfo)\n"
    "  --event-log PATH       also append every event to PATH as JSON Lines\n"
    "  --token T              every route but /ready then needs 'Authorization: Bearer T'\n"
    "                         (the console's pages load without it, and ask for it)\n"
    "  --env-file FILE        settings file (default: DATA_DIR/sandbox.env; 'none' for none)\n"
    "  --data-dir DIR         scenarios, migrations, seeds, the client and the console's pages\n"
    "                         (default: found)\n"
    "  --pg-schema NAME       the postgres profile's schema (default hcache_sandbox)\n"
    "  --threads N            HTTP threads (default 8)\n"
    "  --max-body BYTES       the largest request body (default 1048576)\n"
    "  --print-openapi        print the OpenAPI document and exit\n"
    "  --print-client         print the JavaScript client made from it and exit\n"
    "  --version, --help\n"
    "\n"
    "The first six are also HYDRACACHE_SANDBOX_PROFILE, _BIND, _SQLITE_PATH,\n"
    "_DATABASE_URL, _EVENT_LOG_PATH and _TOKEN, in the environment or the env\n"
    "file; a flag wins over the environment, which wins over the file.\n";

/* The settings a flag, a variable and the env file can all give. */
static const struct {
    const char *flag, *var;
    int which;
} shared_settings[] = {
    {"--profile", "HYDRACACHE_SANDBOX_PROFILE", SB_SET_PROFILE},
    {"--bind", "HYDRACACHE_SANDBOX_BIND", SB_SET_BIND},
    {"--sqlite-path", "HYDRACACHE_SANDBOX_SQLITE_PATH", SB_SET_SQLITE_PATH},
    {"--database-url", "HYDRACACHE_SANDBOX_DATABASE_URL", SB_SET_DATABASE_URL},
    {"--event-log", "HYDRACACHE_SANDBOX_EVENT_LOG_PATH", SB_SET_EVENT_LOG_PATH},
    {"--token", "HYDRACACHE_SANDBOX_TOKEN", SB_SET_TOKEN},
};

static char *slot(sb_settings *s, int which, size_t *size)
{
    switch (which) {
    case SB_SET_PROFILE: *size = sizeof s->profile; return s->profile;
    case SB_SET_BIND: *size = sizeof s->bind; return s->bind;
    case SB_SET_SQLITE_PATH: *size = sizeof s->sqlite_path; return s->sqlite_path;
    case SB_SET_DATABASE_URL: *size = sizeof s->database_url; return s->database_url;
    case SB_SET_EVENT_LOG_PATH: *size = sizeof s->event_log_path; return s->event_log_path;
    default: *size = sizeof s->token; return s->token;
    }
}

static int set(sb_settings *s, int which, const char *value, const char *source)
{
    size_t size;
    char *dst = slot(s, which, &size);
    if (strlen(value) >= size) {
        fprintf(stderr, "hcache-sandbox: %s: value too long for '%s'\n", source, shared_settings[which].var);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    s->source[which] = source;
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the scenarios and the rest are: installed beside the program, or
   the source tree it was built from. */
static void find_data_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/../share/hydracache/sandbox", exe);
            char scen[PATH_MAX + 80];
            snprintf(scen, sizeof scen, "%s/scenarios", cand);
            if (is_dir(scen) && realpath(cand, exe)) {
                sb_strf(out, size, "%s", exe);
                return;
            }
        }
    }
    snprintf(out, size, "%s", is_dir(SB_SOURCE_DIR "/scenarios") ? SB_SOURCE_DIR : "sandbox");
}

/* KEY=VALUE lines, # comments; values may be quoted. Only the sandbox's
   own variables: anything else is a mistake worth hearing about. */
static int read_env_file(sb_settings *s, const char *path, bool must_exist)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!must_exist && errno == ENOENT) return 0;
        fprintf(stderr, "hcache-sandbox: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        size_t n = strlen(p);
        while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ')) p[--n] = 0;
        if (!*p || *p == '#') continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "%s:%d: error: expected KEY=VALUE\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *value = eq + 1;
        size_t vl = strlen(value);
        if (vl >= 2 && (value[0] == '"' || value[0] == '\'') && value[vl - 1] == value[0]) {
            value[vl - 1] = 0;
            value++;
        }
        int which = -1;
        for (size_t i = 0; i < 6; i++)
            if (strcmp(p, shared_settings[i].var) == 0) which = shared_settings[i].which;
        if (which < 0) {
            fprintf(stderr, "%s:%d: error: unknown setting '%s' (HYDRACACHE_SANDBOX_PROFILE, _BIND, "
                            "_SQLITE_PATH, _DATABASE_URL, _EVENT_LOG_PATH, _TOKEN)\n", path, lineno, p);
            rc = -1;
            break;
        }
        rc = set(s, which, value, "file");
    }
    fclose(f);
    return rc;
}

static int parse_args(int argc, char **argv, sb_settings *s, const char **flags, int *print)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("hcache-sandbox %s (libhydracache %s)\n", SB_VERSION, hc_version_string());
            exit(0);
        }
        if (strcmp(a, "--print-openapi") == 0 || strcmp(a, "--print-client") == 0) {
            *print = a[8] == 'o' ? 1 : 2;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < 6; k++)
            if (strcmp(a, shared_settings[k].flag) == 0) {
                if (i + 1 >= argc) goto missing;
                flags[shared_settings[k].which] = argv[++i];
                known = true;
            }
        if (known) continue;
        if (i + 1 >= argc) goto unknown;
        if (strcmp(a, "--env-file") == 0) snprintf(s->env_file, sizeof s->env_file, "%s", argv[++i]);
        else if (strcmp(a, "--data-dir") == 0) snprintf(s->data_dir, sizeof s->data_dir, "%s", argv[++i]);
        else if (strcmp(a, "--pg-schema") == 0) snprintf(s->pg_schema, sizeof s->pg_schema, "%s", argv[++i]);
        else if (strcmp(a, "--threads") == 0) {
            long n = strtol(argv[++i], NULL, 10);
            if (n < 1 || n > 256) {
                fprintf(stderr, "hcache-sandbox: --threads: 1 to 256\n");
                return -1;
            }
            s->threads = (unsigned)n;
        } else if (strcmp(a, "--max-body") == 0) {
            long long n = strtoll(argv[++i], NULL, 10);
            if (n < 1024 || n > (64LL << 20)) {
                fprintf(stderr, "hcache-sandbox: --max-body: 1024 to 67108864 bytes\n");
                return -1;
            }
            s->max_body = (size_t)n;
        } else goto unknown;
        continue;
    missing:
        fprintf(stderr, "hcache-sandbox: %s needs a value\n", a);
        return -1;
    unknown:
        fprintf(stderr, "hcache-sandbox: unknown option '%s' (see --help)\n", a);
        return -1;
    }
    return 0;
}

/* Flags over environment over file over defaults. */
static int configure(int argc, char **argv, sb_settings *s, int *print)
{
    memset(s, 0, sizeof *s);
    const char *flags[6] = {0};
    s->threads = 8;
    s->max_body = 1 << 20;
    if (parse_args(argc, argv, s, flags, print) != 0) return -1;
    set(s, SB_SET_PROFILE, "memory", "default");
    set(s, SB_SET_BIND, "127.0.0.1:3000", "default");
    set(s, SB_SET_SQLITE_PATH, "hcache-sandbox.sqlite", "default");
    set(s, SB_SET_DATABASE_URL, "", "default");
    set(s, SB_SET_EVENT_LOG_PATH, "", "default");
    set(s, SB_SET_TOKEN, "", "default");
    if (!s->data_dir[0]) {
        const char *d = getenv("HYDRACACHE_SANDBOX_DATA_DIR");
        if (d && *d) snprintf(s->data_dir, sizeof s->data_dir, "%s", d);
        else find_data_dir(s->data_dir, sizeof s->data_dir);
    }
    if (!s->pg_schema[0]) snprintf(s->pg_schema, sizeof s->pg_schema, "hcache_sandbox");
    bool explicit_file = s->env_file[0] != 0;
    if (!explicit_file) sb_strf(s->env_file, sizeof s->env_file, "%s/sandbox.env", s->data_dir);
    if (strcmp(s->env_file, "none") == 0) s->env_file[0] = 0;
    else if (read_env_file(s, s->env_file, explicit_file) != 0) return -1;
    for (size_t i = 0; i < 6; i++) {
        const char *v = getenv(shared_settings[i].var);
        if (v && set(s, shared_settings[i].which, v, "environment") != 0) return -1;
    }
    for (size_t i = 0; i < 6; i++)
        if (flags[i] && set(s, (int)i, flags[i], "flag") != 0) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int print = 0;
    if (configure(argc, argv, &sb_config, &print) != 0) return 2;
    sb_err e;
    if (sb_routes_init(&e) != 0) {
        fprintf(stderr, "hcache-sandbox: %s\n", e.message);
        return 1;
    }
    if (print) {
        json_t *doc = sb_openapi_document(&e);
        char *text = !doc ? NULL : print == 1 ? json_dumps(doc, JSON_INDENT(2)) : sb_openapi_client(doc);
        json_decref(doc);
        if (!text) {
            fprintf(stderr, "hcache-sandbox: cannot make the document\n");
            return 1;
        }
        fputs(text, stdout);
        if (print == 1) fputc('\n', stdout);
        free(text);
        sb_routes_free();
        return fflush(stdout) == 0 ? 0 : 1;
    }

    /* Signals: every thread started from here on blocks them, and main
       waits for them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    sb_api_started();
    if (sb_log_open(sb_config.event_log_path, 5000, &e) != 0) {
        fprintf(stderr, "hcache-sandbox: %s\n", e.message);
        return 1;
    }
    sb_backend_config bc = {sb_config.profile, sb_config.sqlite_path, sb_config.database_url, sb_config.pg_schema,
                            sb_config.data_dir};
    if (sb_lab_open(&sb_main_lab, "main", &bc, &e) != 0) {
        fprintf(stderr, "hcache-sandbox: profile '%s': %s\n", sb_config.profile, e.message);
        sb_log_close();
        return 1;
    }
    int rc = hc_registry_new(&sb_registry);
    if (rc == HC_OK) rc = hc_registry_add(sb_registry, sb_lab_cache(sb_main_lab));
    if (rc != HC_OK) {
        fprintf(stderr, "hcache-sandbox: the observability registry: %s\n", hc_strerror(rc));
        hc_registry_free(sb_registry);
        sb_lab_close(sb_main_lab);
        sb_log_close();
        return 1;
    }
    char url[200];
    sb_server *srv;
    if (sb_server_start(&srv, &sb_config, url, sizeof url, &e) != 0) {
        fprintf(stderr, "hcache-sandbox: %s\n", e.message);
        hc_registry_free(sb_registry);
        sb_lab_close(sb_main_lab);
        sb_log_close();
        return 1;
    }
    printf("%s\n", url);
    fflush(stdout);
    printf("hcache-sandbox %s: profile %s (%s), data in %s%s\n", SB_VERSION, sb_config.profile,
           sb_backend_kind(sb_lab_backend(sb_main_lab)), sb_config.data_dir,
           sb_config.token[0] ? ", token required" : "");
    printf("console: %s/demo/ui   Swagger UI: %s/swagger-ui\n", url, url);
    printf("try: curl -X POST %s/demo/load/42   (then again: \"source\": \"cache\")\n", url);
    printf("     %s/openapi.json lists every route; Ctrl-C stops\n", url);
    fflush(stdout);
    if (!sb_config.token[0] && strncmp(url, "http://127.", 11) != 0 && strncmp(url, "http://[::1]", 12) != 0)
        fprintf(stderr, "hcache-sandbox: warning: listening beyond loopback (%s) without a token: anyone who "
                        "reaches it can flush and reseed it\n", url);
    sb_flow_note(NULL, "server-started", json_pack("{s:s, s:s}", "profile", sb_config.profile, "url", url));
    sb_server_set_ready(true);

    int sig = 0;
    sigwait(&stop, &sig);
    sb_server_set_ready(false);
    fprintf(stderr, "hcache-sandbox: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    sb_server_stop(srv);
    hc_registry_free(sb_registry);
    sb_lab_close(sb_main_lab);
    sb_log_close();
    sb_routes_free();
    return 0;
}
