/*
** error.c -- status codes, hc_error, versions and names.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "hc_int.h"

unsigned hc_version_number(void) { return HC_VERSION_NUMBER; }
const char *hc_version_string(void) { return HC_VERSION_STRING; }

const char *hc_strerror(int code)
{
    switch (code) {
    case HC_OK: return "ok";
    case HC_MISS: return "miss";
    case HC_DONE: return "done";
#define XX(name, value, msg) case HC_##name: return msg;
    HC_ERRNO_MAP(XX)
#undef XX
    default: return "unknown error";
    }
}

const char *hc_err_name(int code)
{
    switch (code) {
    case HC_OK: return "HC_OK";
    case HC_MISS: return "HC_MISS";
    case HC_DONE: return "HC_DONE";
#define XX(name, value, msg) case HC_##name: return "HC_" #name;
    HC_ERRNO_MAP(XX)
#undef XX
    default: return "HC_EUNKNOWN";
    }
}

int hc_error_set(hc_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->message, sizeof err->message, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->message, sizeof err->message, "%s", hc_strerror(code));
        }
    }
    return code;
}

void hc_error_clear(hc_error *err)
{
    if (err) {
        err->code = HC_OK;
        err->message[0] = '\0';
    }
}

static void *sys_alloc(void *ud, size_t n) { HC_UNUSED(ud); return malloc(n); }
static void *sys_realloc(void *ud, void *p, size_t n) { HC_UNUSED(ud); return realloc(p, n); }
static void sys_free(void *ud, void *p) { HC_UNUSED(ud); free(p); }

const hc_allocator hc__system_allocator = {sys_alloc, sys_realloc, sys_free, NULL};
