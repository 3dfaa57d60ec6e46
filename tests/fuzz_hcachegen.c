/*
** fuzz_hcachegen.c -- a libFuzzer target for hcachegen's front end and
** emitter: any bytes go through hcg_parse and hcg_check and, when they are
** a valid module, hcg_emit with the built-in templates, exactly as
** hcachegen's main() runs them, minus the file system.
**
**   make fuzz-short                 a short run over tests/fuzz-corpus
**   make fuzz FUZZ_TIME=3600        a long one (see tests/fuzz.mk)
**   build/fuzz/fuzz_hcachegen FILE  replay one input
**
** The diagnostics of hcachegen go to stderr; printing thousands of them a
** second would slow the fuzzer down, so they are sent to /dev/null once at
** startup. libFuzzer prints through the same FILE (it keeps the value of
** stderr from before main), so freopen() on stderr would silence it too,
** progress, timeouts and "artifact written to" included. With glibc, stderr
** is an ordinary variable (the glibc manual shows assigning it), so it is
** pointed at a FILE on /dev/null of its own and libFuzzer keeps the real
** one. Elsewhere, freopen() is the fallback, with the sanitizers' reports
** sent to a copy of the real descriptor 2. Set HCG_FUZZ_STDERR=1 to see the
** diagnostics while replaying an input.
**
** hcg_alloc exits on out-of-memory; under -rss_limit_mb libFuzzer reports
** an input that needs too much memory before that matters.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "hcg.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *keep = getenv("HCG_FUZZ_STDERR");
    if (keep && *keep && strcmp(keep, "0") != 0) return 0;
#if defined(__GLIBC__)
    FILE *null = fopen("/dev/null", "w");
    if (!null) abort();
    stderr = null;
#else
    int fd = dup(2);
    if (fd >= 0) __sanitizer_set_report_fd((void *)(intptr_t)fd);
    if (!freopen("/dev/null", "w", stderr)) abort();
#endif
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* hcachegen reads a file into a NUL-terminated buffer; do the same.
       NUL bytes inside the data stay: the lexer must report them. */
    char *text = malloc(size + 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = 0;

    hcg_src src;
    hcg_src_init(&src, "fuzz.hcache", text, size);

    hcg_arena *arena = NULL;
    hcg_module m;
    memset(&m, 0, sizeof m);
    m.src = &src;
    m.arena = &arena;

    /* As main.c does: check whenever parsing did not stop, and emit only a
       module without errors. */
    hcg_parse(&m);
    if (!m.stop) hcg_check(&m);
    if (src.nerrors == 0) {
        hcg_emit_opts o;
        memset(&o, 0, sizeof o);
        o.header_name = "fuzz.hc.h";
        o.source_path = "fuzz.hcache";
        o.lines = true;
        o.templates_dir = NULL;
        hcg_output out = {NULL, NULL};
        /* A checked module always emits with the built-in templates: a
           failure here is an emitter bug (it printed why on stderr). */
        if (hcg_emit(&m, &o, &out) != 0 || !out.header || !out.source) abort();
        /* Both outputs are NUL-terminated text; read every byte so a
           missing terminator or a freed buffer shows up here. */
        if (strlen(out.header) == 0 || strlen(out.source) == 0) abort();
        free(out.header);
        free(out.source);
    }
    hcg_arena_free(&arena);
    hcg_src_free(&src);
    free(text);
    return 0;
}
