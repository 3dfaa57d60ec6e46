/*
** static.c -- the pages: the developer console (/demo/ui) and Swagger UI
** (/swagger-ui), served from files.
**
** The pages are not API routes: they are outside the route table, so the
** OpenAPI document does not list them, and they need no token (they hold
** no data; what they show comes from the API, which asks for the token).
** They answer GET and HEAD only.
**
**   /                          303 to /demo/ui
**   /demo/ui, /demo/ui/        DATA/ui/index.html
**   /demo/ui/client.js         DATA/openapi/client.js, the generated client
**   /demo/ui/lib/chart.js/F    Chart.js from Debian's libjs-chart.js
**   /demo/ui/F                 DATA/ui/F
**   /swagger-ui, /swagger-ui/  DATA/ui/swagger/index.html
**   /swagger-ui/swagger-ui.css, /swagger-ui/swagger-ui-bundle.js
**                              swagger-ui-dist: DATA/swagger-ui when
**                              installed, else DATA/node_modules/
**                              swagger-ui-dist (scripts/sandbox-npm.sh)
**   /swagger-ui/F              DATA/ui/swagger/F
**
** A name F is one to four segments of [A-Za-z0-9._-], none starting with
** a dot (so no "..", no hidden file): anything else under these prefixes
** is refused with 400 before the file system is asked. A name whose
** extension is not in the type table, or no such file, is 404. MHD hands
** the path over unescaped and NUL-terminated, so "%2e%2e" and "%2f" are
** checked as the dot and the slash they stand for, and a "%00" ends the
** name (whose type is then that of what came before it).
*/
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"

#ifndef SB_CHARTJS_DIR
#define SB_CHARTJS_DIR "/usr/share/javascript/chart.js"
#endif

/* The largest file served: swagger-ui-bundle.js is about 1.5 MB. */
#define MAX_FILE (32u << 20)

static char ui_dir[1100], client_path[1100], swagger_dir[1100];

/* Every page may load only what this server serves: the browser itself
   refuses anything else. Swagger UI sets inline styles and draws icons
   from data: URLs. */
static const char csp[] =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json"},
};

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void sb_static_init(const char *data_dir)
{
    sb_strf(ui_dir, sizeof ui_dir, "%s/ui", data_dir);
    sb_strf(client_path, sizeof client_path, "%s/openapi/client.js", data_dir);
    sb_strf(swagger_dir, sizeof swagger_dir, "%s/swagger-ui", data_dir);
    if (!is_dir(swagger_dir)) sb_strf(swagger_dir, sizeof swagger_dir, "%s/node_modules/swagger-ui-dist", data_dir);
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return NULL;
}

/* Is name made of segments a page name may have (see the top)? */
static bool name_ok(const char *name)
{
    size_t segments = 0, len = strlen(name);
    if (len == 0 || len > 200) return false;
    for (const char *p = name; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || p[0] == '.' || ++segments > 4) return false;
        for (size_t i = 0; i < n; i++) {
            char ch = p[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '-'))
                return false;
        }
        p += n;
        if (*p == '/') p++;
    }
    return name[len - 1] != '/';
}

static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
    sb_err e;
    sb_fail(&e, (int)status, code, "%s", msg);
    json_t *o = sb_err_json(&e);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == 405) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result res = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return res;
}

static enum MHD_Result not_found(struct MHD_Connection *c, const char *url)
{
    char msg[400];
    return answer_error(c, 404, "not_found", sb_strf(msg, sizeof msg, "no page %.300s", url));
}

/* Send dir/name. lib: a third party's file, which changes only with its
   package, so a browser may keep it a while; ours are checked each time. */
static enum MHD_Result send_file(struct MHD_Connection *c, const char *dir, const char *name, const char *url,
                                 bool lib)
{
    char path[1400];
    sb_strf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE) {
        if (fd >= 0) close(fd);
        return not_found(c, url);
    }
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    const char *type = type_of(name);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", lib ? "public, max-age=3600" : "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(type, "text/html", 9) == 0) {
        MHD_add_response_header(r, "Content-Security-Policy", csp);
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    enum MHD_Result res = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return res;
}

/* The rest of url after prefix when url is prefix or under it, else NULL. */
static const char *under(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0) return NULL;
    if (url[n] == 0) return url + n;
    if (url[n] == '/') return url + n + 1;
    return NULL;
}

int sb_static_serve(struct MHD_Connection *c, const char *method, const char *url)
{
    const char *ui = under(url, "/demo/ui"), *sw = under(url, "/swagger-ui");
    bool root = strcmp(url, "/") == 0;
    if (!ui && !sw && !root) return -1;
    char msg[400];
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_error(c, 405, "method_not_allowed",
                            sb_strf(msg, sizeof msg, "%.20s is not allowed here (allowed: GET, HEAD)", method));
    if (root) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Location", "/demo/ui");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        enum MHD_Result res = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
        MHD_destroy_response(r);
        return res;
    }
    const char *name = ui ? ui : sw;
    if (*name && !name_ok(name))
        return answer_error(c, 400, "bad_path",
                            sb_strf(msg, sizeof msg, "'%.300s' is not a page name: segments of letters, digits, "
                                    "'.', '_' and '-', none starting with '.'", name));
    if (*name && !type_of(name)) return not_found(c, url);
    if (ui) {
        if (!*ui) return send_file(c, ui_dir, "index.html", url, false);
        if (strcmp(ui, "client.js") == 0) {
            const char *slash = strrchr(client_path, '/');
            char dir[1100];
            sb_strf(dir, sizeof dir, "%.*s", (int)(slash - client_path), client_path);
            return send_file(c, dir, slash + 1, url, false);
        }
        const char *lib = under(ui, "lib/chart.js");
        if (lib) return send_file(c, SB_CHARTJS_DIR, lib, url, true);
        return send_file(c, ui_dir, ui, url, false);
    }
    if (!*sw) return send_file(c, ui_dir, "swagger/index.html", url, false);
    static const char *const dist[] = {"swagger-ui.css", "swagger-ui-bundle.js"};
    for (size_t i = 0; i < sizeof dist / sizeof dist[0]; i++)
        if (strcmp(sw, dist[i]) == 0) return send_file(c, swagger_dir, sw, url, true);
    char name_in_ui[256];
    sb_strf(name_in_ui, sizeof name_in_ui, "swagger/%s", sw);
    return send_file(c, ui_dir, name_in_ui, url, false);
}
