# HydraCache for C.
#
#   make                 the libraries (libhydracache, libhydracache-sqlite,
#                        libhydracache-pg: each .a and .so), hcachegen,
#                        hcache-replay
#   make demo            build everything and run the main example
#   make sandbox         the lab server, hcache-sandbox (sandbox-pg: on PostgreSQL)
#   make check           every test (plain, ASan+UBSan, TSan), installing
#                        missing Debian packages through scripts/deps.sh
#   make bench           the benchmarks (docs/BENCHMARKS.md has the figures),
#                        with each one's wall time; QUICK=1 for a short run
#   make bench-static    bench_scaling as a static binary, for a bigger machine
#   make stress          the torture test for longer (STRESS_SECONDS=60), plain and TSan
#   make install PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address|undefined|thread|address,undefined
#   make V=1             show full commands
#
# Objects go to build/<variant>/, one directory per sanitizer setting, so
# sanitized and plain builds never mix.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
SANITIZE ?=

# --------------------------------------------------------------- packages
#
# The Debian packages that the goals on the command line need are installed
# (scripts/deps.sh, which does nothing when they are all there) while make
# reads this file, before it starts any job. A prerequisite such as
# `all: deps ...` would not do: under -j, objects compile while apt-get is
# still installing. The groups of scripts/deps.sh:
#   build   any goal but those of DEPS_NONE_GOALS (make, cc, re2c, lemon,
#           the SQLite and libpq headers)
#   test    the goals of DEPS_TEST_GOALS and any path with /tests/ in it too
#           (clang, cmocka, groff, ...)
#   pg      the goals of DEPS_PG_GOALS too (the PostgreSQL server)
# A Makefile fragment with goals of its own adds them to these lists here
# (this runs before any fragment is read, so that a fragment's own
# $(shell pkg-config ...) finds its packages), and its packages to a group
# of scripts/deps.sh. Nothing is installed under make -n, nor with
# HC_NO_DEPS=1; a sub-make finds the groups already done in HC_DEPS_DONE
# and does not ask again. `make deps` and `make test-deps` run the script
# alone.
DEPS_NONE_GOALS := clean distclean uninstall deps test-deps
DEPS_TEST_GOALS := check check-run test-run test-run-tsan golden-update fuzz fuzz-short fuzz-build \
                   sandbox-check-run sandbox-browser-run sandbox-screenshots stress
DEPS_PG_GOALS   := check bench multiprocess-run sandbox-pg

DEPS_GOALS  := $(or $(MAKECMDGOALS),all)
DEPS_GROUPS := $(if $(filter-out $(DEPS_NONE_GOALS),$(DEPS_GOALS)),build) \
               $(if $(filter $(DEPS_TEST_GOALS),$(DEPS_GOALS))$(findstring /tests/,$(DEPS_GOALS)),test) \
               $(if $(filter $(DEPS_PG_GOALS),$(DEPS_GOALS)),pg)
DEPS_TODO   := $(filter-out $(HC_DEPS_DONE),$(strip $(DEPS_GROUPS)))
ifneq ($(DEPS_TODO),)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
DEPS_OUT := $(shell scripts/deps.sh $(DEPS_TODO) >&2)
ifneq ($(.SHELLSTATUS),0)
$(error scripts/deps.sh $(DEPS_TODO) failed (HC_NO_DEPS=1 skips it))
endif
export HC_DEPS_DONE := $(sort $(HC_DEPS_DONE) $(DEPS_TODO))
endif
endif

comma   := ,
VARIANT := $(if $(SANITIZE),$(subst $(comma),-,$(SANITIZE)),release)$(if $(filter clang%,$(notdir $(CC))),-clang)
B       := build/$(VARIANT)

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wundef -Werror
OPT     ?= -O2
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L
CFLAGS  ?= $(OPT) -g
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -DHC_SANITIZE
endif
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(SANFLAGS) -pthread -MMD -MP
LIB_CFLAGS = $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DHC_BUILDING_LIBRARY \
             -Iruntime/include -Iruntime/core
# The database adapters link SQLite (libsqlite3-dev) and libpq (libpq-dev);
# nothing else does but hcachegen (--schema, --pg-check).
DB_CFLAGS := -I/usr/include/postgresql
DB_LIBS   := -lsqlite3 -lpq
CORE_LIBS := -pthread -lm
LDLIBS  := $(DB_LIBS) $(CORE_LIBS)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# One library per dependency (docs/DESIGN.md): the core needs only libc and
# pthreads; each adapter library adds its database's client library.
# $(1): the name (hydracache, hydracache-sqlite, ...), $(2): its sources.
# The version has one home, runtime/include/hydracache/core.h. The sonames
# carry the ABI series: in 0.x a minor release may change the API and the
# ABI (CHANGELOG.md), so 0.2.x is lib<name>.so.0.2 and a program linked
# against 0.1 does not load it; from 1.0 on, lib<name>.so.<major>.
VERSION   := $(shell sed -n 's/^\#define HC_VERSION_\(MAJOR\|MINOR\|PATCH\)  *\([0-9][0-9]*\).*/\2/p' \
                 runtime/include/hydracache/core.h | paste -sd. -)
VMAJOR    := $(word 1,$(subst ., ,$(VERSION)))
SOVERSION := $(if $(filter 0,$(VMAJOR)),0.$(word 2,$(subst ., ,$(VERSION))),$(VMAJOR))
CORE_SRC   := $(wildcard runtime/core/*.c)
SQLITE_SRC := $(wildcard runtime/sqlite/*.c)
PG_SRC     := $(wildcard runtime/pg/*.c)
OBS_SRC    := $(wildcard runtime/observability/*.c)
LIB_SRC    := $(CORE_SRC) $(SQLITE_SRC) $(PG_SRC) $(OBS_SRC)
LIB_OBJ    := $(LIB_SRC:%.c=$(B)/%.o)
LIB_A      := $(B)/libhydracache.a
LIB_SO     := $(B)/libhydracache.so
SQLITE_A   := $(B)/libhydracache-sqlite.a
SQLITE_SO  := $(B)/libhydracache-sqlite.so
PG_A       := $(B)/libhydracache-pg.a
PG_SO      := $(B)/libhydracache-pg.so
OBS_A      := $(B)/libhydracache-observability.a
OBS_SO     := $(B)/libhydracache-observability.so
# The observability library's HTTP server and JSON (libmicrohttpd, jansson).
OBS_LIBS   := -lmicrohttpd -ljansson
# What a program linked against everything in this tree needs, static.
ALL_LIBS_A := $(PG_A) $(SQLITE_A) $(LIB_A)
HEADERS    := runtime/include/hydracache.h
PART_HEADERS := $(wildcard runtime/include/hydracache/*.h)
PC_FILES   := hydracache hydracache-sqlite hydracache-pg hydracache-observability

REPLAY  := $(B)/hcache-replay

# hcachegen: the lexer (re2c), parser (lemon) and template table are
# generated into build/gen, then compiled under the same warnings as the rest.
GEN       := build/gen
LEMPAR    := /usr/share/lemon/lempar.c
HCG_SRC   := generator/parse.c generator/check.c generator/sql.c generator/schema.c generator/coverage.c generator/emit.c generator/main.c
HCG_GENC  := $(GEN)/lexer.c $(GEN)/grammar.c $(GEN)/templates.c
HCG_OBJ   := $(HCG_SRC:%.c=$(B)/%.o) $(HCG_GENC:$(GEN)/%.c=$(B)/gen/%.o)
HCACHEGEN := $(B)/hcachegen
TEMPLATES := $(sort $(wildcard templates/*.tmpl))

TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Suites that exercise threads run under ThreadSanitizer in `make check`.
TSAN_TESTS := test_singleflight test_stress test_torture test_rcu test_db test_events test_bus test_fresh

# The LIRS traces that test_hitratio and the replay table read are in
# tests/traces (its README says where they come from); HC_TRACES=DIR set by
# the caller points both at another folder.

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: FORCE all deps test-deps check check-run bench-run test-run test-run-tsan bench demo install \
        multiprocess-run stress bench-static \
        uninstall clean distclean symbols-check golden-update
.DEFAULT_GOAL := all

all: $(ALL_LIBS_A) $(OBS_A) $(LIB_SO) $(SQLITE_SO) $(PG_SO) $(OBS_SO) $(REPLAY) \
     $(HCACHEGEN) symbols-check

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test pg

# A build directory is named by SANITIZE and the compiler, not by OPT or
# CFLAGS (make check builds the sanitizers at -O1): it remembers the flags
# its objects were built with, and rebuilds them when those change.
FLAGS_STAMP := $(B)/.cflags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(B)
	@printf '%s\n' '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ 2>/dev/null \
	    || printf '%s\n' '$(CC) $(ALL_CFLAGS)' > $@
FORCE:

$(B)/%.o: %.c $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

# The PostgreSQL library needs libpq's headers; the core and SQLite do not.
$(PG_SRC:%.c=$(B)/%.o): LIB_CFLAGS += $(DB_CFLAGS)

$(LIB_A): $(CORE_SRC:%.c=$(B)/%.o)
$(SQLITE_A): $(SQLITE_SRC:%.c=$(B)/%.o)
$(PG_A): $(PG_SRC:%.c=$(B)/%.o)
$(OBS_A): $(OBS_SRC:%.c=$(B)/%.o)
$(ALL_LIBS_A) $(OBS_A):
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Each shared library has its own soname (lib<name>.so.$(SOVERSION), linked
# beside it so that programs linked here run here); the adapters need the
# core's.
$(LIB_SO): $(CORE_SRC:%.c=$(B)/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(notdir $@).$(SOVERSION) -o $@ $^ $(CORE_LIBS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)
$(SQLITE_SO): $(SQLITE_SRC:%.c=$(B)/%.o) $(LIB_SO)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(notdir $@).$(SOVERSION) -o $@ $(filter %.o,$^) \
	    -L$(B) -lhydracache -lsqlite3 $(CORE_LIBS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)
$(PG_SO): $(PG_SRC:%.c=$(B)/%.o) $(LIB_SO)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(notdir $@).$(SOVERSION) -o $@ $(filter %.o,$^) \
	    -L$(B) -lhydracache -lpq $(CORE_LIBS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)
$(OBS_SO): $(OBS_SRC:%.c=$(B)/%.o) $(LIB_SO)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(notdir $@).$(SOVERSION) -o $@ $(filter %.o,$^) \
	    -L$(B) -lhydracache $(OBS_LIBS) $(CORE_LIBS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)

# Only hc_ names may leave a shared library: everything else is internal.
# The core also exports the hc__ names that its adapter libraries and the
# inline decoders of hydracache/gen.h call (runtime/core/db_int.h says
# which), and needs no database library.
CORE_INTERNAL_EXPORTS := hc__dec_varint hc__db_new hc__db_forget hc__db_settle hc__sql_error \
                         hc__stmt_error hc__col_error hc__sql_type_name
exported = nm -D --defined-only $(1) | awk '$$2 ~ /[TDBR]/ {print $$3}'
symbols-check: $(LIB_SO) $(SQLITE_SO) $(PG_SO) $(OBS_SO)
	$(Q)bad=$$($(call exported,$(LIB_SO)) | grep -v '^hc_'; \
	     $(call exported,$(LIB_SO)) | grep '^hc__' | grep -vxF "$$(printf '%s\n' $(CORE_INTERNAL_EXPORTS))"; \
	     $(call exported,$(SQLITE_SO)) | grep -v '^hc_[^_]'; \
	     $(call exported,$(PG_SO)) | grep -v '^hc_[^_]'; \
	     $(call exported,$(OBS_SO)) | grep -v '^hc_[^_]'); \
	if [ -n "$$bad" ]; then echo "internal symbols exported:" $$bad >&2; exit 1; fi
	$(Q)if readelf -d $(LIB_SO) | grep -E 'NEEDED.*(sqlite|libpq)'; then \
	    echo "$(LIB_SO) must not need a database library" >&2; exit 1; fi

$(REPLAY): tools/hcache-replay.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include $< $(LIB_A) -o $@ $(CORE_LIBS)

# ------------------------------------------------------------- hcachegen

HCG_CFLAGS = $(ALL_CFLAGS) -Igenerator -I$(GEN) -Iruntime/include $(DB_CFLAGS)

$(GEN)/grammar.c $(GEN)/grammar.h &: generator/grammar.y
	$(call msg,LEMON,$<)
	@mkdir -p $(GEN)
	$(Q)lemon -q -T$(LEMPAR) -d$(GEN) $< && touch $(GEN)/grammar.h   # lemon keeps an unchanged header's old mtime

$(GEN)/lexer.c: generator/lexer.re
	$(call msg,RE2C,$<)
	@mkdir -p $(GEN)
	$(Q)re2c -W -Werror --no-version --no-generation-date -o $@ $<

$(GEN)/templates.c: $(TEMPLATES) generator/embed.c
	$(call msg,EMBED,$@)
	@mkdir -p $(GEN)
	$(Q)$(CC) $(CSTD) $(WARN) -O0 generator/embed.c -o $(GEN)/embed && $(GEN)/embed $@ $(TEMPLATES)

$(B)/generator/%.o: generator/%.c $(GEN)/grammar.h $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HCG_CFLAGS) -c $< -o $@

$(B)/gen/%.o: $(GEN)/%.c $(GEN)/grammar.h $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HCG_CFLAGS) -c $< -o $@

$(HCACHEGEN): $(HCG_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(HCG_OBJ) -o $@ $(DB_LIBS)

# ------------------------------------------------------------------ tests

TEST_CFLAGS = $(ALL_CFLAGS) -Iruntime/include -Iruntime/core -Itests $(DB_CFLAGS)

$(B)/tests/%: tests/%.c tests/testutil.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(TEST_CFLAGS) $< $(ALL_LIBS_A) -o $@ -lcmocka $(LDLIBS) $(TEST_LDFLAGS_$(notdir $@))

# test_fresh fails one realloc of the library's (an hc_buf growing) on
# demand: the library's calls go to its __wrap_realloc.
TEST_LDFLAGS_test_fresh := -Wl,--wrap=realloc

# test_codegen runs the code hcachegen writes for tests/codegen/cg.hcache,
# compiled with -Wconversion on top of the usual warnings.
CG_DIR := $(B)/tests/codegen
$(CG_DIR)/cg.hc.c $(CG_DIR)/cg.hc.h &: tests/codegen/cg.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(CG_DIR)
	$(Q)$(HCACHEGEN) -o $(CG_DIR) $<

$(B)/tests/test_codegen: tests/test_codegen.c tests/testutil.h $(CG_DIR)/cg.hc.c $(CG_DIR)/cg.hc.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(CG_DIR) -c $(CG_DIR)/cg.hc.c -o $(CG_DIR)/cg.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(CG_DIR) $< $(CG_DIR)/cg.hc.o $(ALL_LIBS_A) -o $@ -lcmocka $(LDLIBS)

# test_dao runs the query and exec code written for tests/dao/dao.hcache
# against SQLite and PostgreSQL, also compiled with -Wconversion.
DAO_DIR := $(B)/tests/dao
$(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h &: tests/dao/dao.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(DAO_DIR)
	$(Q)$(HCACHEGEN) -o $(DAO_DIR) $<

$(B)/tests/test_dao: tests/test_dao.c tests/testutil.h $(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(DAO_DIR) -c $(DAO_DIR)/dao.hc.c -o $(DAO_DIR)/dao.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(DAO_DIR) $< $(DAO_DIR)/dao.hc.o $(ALL_LIBS_A) -o $@ -lcmocka $(LDLIBS)

# check runs every suite plain with gcc and with clang, every suite but the
# slow trace replay under ASan+UBSan, the threaded suites under TSan, a short
# fuzz of hcachegen, the shell tests of CHECK_SCRIPTS and the multiprocess
# example; then one summary. Each test-run also runs hcachegen's golden
# tests, its #line test (tests/lines.sh) and bad-input corpus with that
# build. A failing step does not stop
# the others. sandbox-check-run (sandbox/sandbox.mk) is hcache-sandbox's
# HTTP suite, with its clang, ASan and TSan builds, and its pages' tests in
# a real browser (chromium).
#
# Every step writes a results file of "variant name passed failed skipped"
# lines, and the causes of its failures to a failures file beside it (the
# same name with failures.txt for results.txt): scripts/test-summary.sh
# prints the results as a table and repeats the causes under it.
#
# CHECK_SCRIPTS: tests/NAME-test.sh BUILD_DIR RESULTS for each NAME, run
# once with the release build, writing build/release/NAME-results.txt (a
# fragment with a test of that kind adds its NAME here):
#   install     make install into a temporary prefix, used as a user would
#               (pkg-config, rpath, hydracache.mk), and make uninstall
#   mk          hydracache.mk's rules in an application's Makefile
#   cmake       the CMake package: examples/cmake with Makefiles and Ninja
#   tree        make demo + make clean in a fresh copy; make -j and deps.sh
#   release     one version everywhere, LICENSE, CHANGELOG, man pages
#   bench       make bench QUICK=1: every benchmark answers right, timed
CHECK_SCRIPTS := install mk cmake tree release bench
CHECK_RESULTS := build/release/test-results.txt build/release-clang/test-results.txt \
                 build/address-undefined/test-results.txt build/thread/test-results.txt \
                 build/fuzz/test-results.txt build/release/multiprocess-results.txt \
                 build/release/sandbox-results.txt build/release/browser-results.txt \
                 $(CHECK_SCRIPTS:%=build/release/%-results.txt)
CHECK_FAILURES := $(CHECK_RESULTS:results.txt=failures.txt)
# PostgreSQL tests run against a throwaway server (scripts/pg.sh) started
# for the whole run; HC_SKIP_PG=1 skips them, and the summary counts them.
check:
	@rm -f $(CHECK_RESULTS) $(CHECK_FAILURES)
	@$(MAKE) --no-print-directory all
	@scripts/pg.sh run $(MAKE) --no-print-directory check-run

check-run:
	@st=0; \
	$(MAKE) --no-print-directory test-run || st=1; \
	$(MAKE) --no-print-directory CC=clang test-run || st=1; \
	$(MAKE) --no-print-directory SANITIZE=address,undefined OPT=-O1 test-run \
	    HC_TEST_SKIP="test_hitratio" || st=1; \
	$(MAKE) --no-print-directory SANITIZE=thread OPT=-O1 test-run-tsan || st=1; \
	$(MAKE) --no-print-directory fuzz-short || st=1; \
	for t in $(CHECK_SCRIPTS); do \
	    rm -f build/release/$$t-results.txt build/release/$$t-failures.txt; \
	    tests/$$t-test.sh build/release build/release/$$t-results.txt || st=1; \
	done; \
	$(MAKE) --no-print-directory multiprocess-run || st=1; \
	$(MAKE) --no-print-directory sandbox-check-run || st=1; \
	scripts/test-summary.sh $(CHECK_RESULTS) || st=1; \
	exit $$st

# examples/multiprocess doubles as an integration test of the PostgreSQL
# bus between two processes: one result line, skipped with HC_SKIP_PG=1.
multiprocess-run: all
	@r=build/release/multiprocess-results.txt; \
	f=build/release/multiprocess-failures.txt; rm -f $$f; \
	if [ -z "$$HC_PG_CONNINFO" ]; then \
	    echo "multiprocess: skipped (no PostgreSQL)"; echo "release multiprocess 0 0 1" > $$r; \
	elif $(MAKE) --no-print-directory -C examples/multiprocess run > build/release/multiprocess.log 2>&1; then \
	    echo "multiprocess: passed"; echo "release multiprocess 1 0 0" > $$r; \
	else \
	    cat build/release/multiprocess.log; echo "release multiprocess 0 1 0" > $$r; \
	    { echo "release multiprocess: FAILED (the end of build/release/multiprocess.log):"; \
	      tail -n 15 build/release/multiprocess.log | sed 's/^/    /'; } > $$f; \
	    exit 1; \
	fi

test-run: $(TESTS) $(REPLAY) $(HCACHEGEN)
	@st=0; \
	scripts/run-tests.sh $(B) "$(filter-out $(HC_TEST_SKIP),$(TESTS:$(B)/tests/%=%))" || st=1; \
	tests/golden.sh $(B) $(B)/test-results.txt || st=1; \
	tests/lines.sh $(B) $(B)/test-results.txt || st=1; \
	tests/bad-inputs.sh $(B) $(B)/test-results.txt || st=1; \
	tests/schema-check.sh $(B) $(B)/test-results.txt || st=1; \
	tests/cli.sh $(B) $(B)/test-results.txt || st=1; \
	exit $$st

# Regenerate tests/golden/*.hc.[ch] after a deliberate change to the output.
golden-update: $(HCACHEGEN)
	@tests/golden.sh $(B) --update

test-run-tsan: $(TSAN_TESTS:%=$(B)/tests/%)
	@scripts/run-tests.sh $(B) "$(TSAN_TESTS)"

# make stress: the torture suite for STRESS_SECONDS per configuration
# (HC_STRESS_SECONDS; `make check` runs it for 1), plain and under TSan.
STRESS_SECONDS ?= 60
stress:
	@$(MAKE) --no-print-directory build/release/tests/test_torture
	HC_STRESS_SECONDS=$(STRESS_SECONDS) build/release/tests/test_torture
	@$(MAKE) --no-print-directory SANITIZE=thread OPT=-O1 build/thread/tests/test_torture
	HC_STRESS_SECONDS=$(STRESS_SECONDS) build/thread/tests/test_torture

# ------------------------------------------------------------ benchmarks

$(B)/bench/%: bench/%.c $(ALL_LIBS_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -Iruntime/core $< $(ALL_LIBS_A) -o $@ $(LDLIBS)

# bench_dao measures the code written for tests/dao/dao.hcache.
$(B)/bench/bench_dao: bench/bench_dao.c $(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -I$(DAO_DIR) $< $(DAO_DIR)/dao.hc.c $(ALL_LIBS_A) -o $@ $(LDLIBS)

# bench_scaling linked statically (it needs only the cache, no database
# library), to carry to a machine with more cores and run there:
# build/release/bench/bench_scaling-static -t 1,2,4,8,16 (docs/BENCHMARKS.md).
bench-static: $(B)/bench/bench_scaling-static
$(B)/bench/bench_scaling-static: bench/bench_scaling.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -static -Iruntime/include $< $(LIB_A) -o $@ -pthread -lm

# The PostgreSQL figures come from a throwaway server (scripts/pg.sh).
# scripts/bench-run.sh says how long each benchmark took, and the total.
# make bench QUICK=1: one run of each benchmark instead of several
# (HC_BENCH_QUICK=1, read by bench/bench.h), and no compile of the code
# generated for 10,000 declarations (bench/bench_hcachegen.sh, minutes):
# a quick look, with noisier figures.
QUICK ?=
bench: all $(BENCHES) $(HCACHEGEN)
	@scripts/pg.sh run $(MAKE) --no-print-directory bench-run

bench-run: $(BENCHES) $(REPLAY) $(HCACHEGEN)
	@$(if $(filter-out 0,$(QUICK)),HC_BENCH_QUICK=1) scripts/bench-run.sh $(B) $(BENCHES)

# ------------------------------------------------------------------ demo

demo: all
	@$(MAKE) --no-print-directory -C examples/shop run
	@# the shop again, serving its cache over HTTP, seen by hcache-stat (observability)
	@$(MAKE) --no-print-directory -C examples/shop stat-demo
	@# the build-time invalidation check refusing a write that forgets a tag
	@$(MAKE) --no-print-directory -C examples/shop coverage-demo
	@$(MAKE) --no-print-directory -C examples/quickstart run
	@$(MAKE) --no-print-directory -C examples/functions run

# --------------------------------------------------------------- install

BINDIR   := $(DESTDIR)$(PREFIX)/bin
INCDIR   := $(DESTDIR)$(PREFIX)/include
LIBDIR   := $(DESTDIR)$(PREFIX)/lib
DATADIR  := $(DESTDIR)$(PREFIX)/share/hydracache
MAN1DIR  := $(DESTDIR)$(PREFIX)/share/man/man1
DOCDIR   := $(DESTDIR)$(PREFIX)/share/doc/hydracache
CMAKEDIR := $(LIBDIR)/cmake/hydracache
INSTALL_LIBS := hydracache hydracache-sqlite hydracache-pg hydracache-observability
# man/*.1 in plain roff; the documentation with the release's text files.
MAN1     := $(wildcard man/*.1)
DOCS     := README.md CHANGELOG.md LICENSE $(wildcard docs/*.md)
# The pictures docs/SANDBOX.md shows (images/, beside it when installed).
DOC_IMAGES := $(wildcard docs/images/*.png)
# The CMake package (find_package(hydracache)): the version file is made
# from its .in like the pkg-config files; the others go in as they are.
CMAKE_FILES := lib/cmake/hydracache-config.cmake lib/cmake/hydracache-generate.cmake
# The pointer size the libraries are built for (recorded in the version
# file, which refuses another); expanded only by install.
SIZEOF_VOID_P = $(shell printf '__SIZEOF_POINTER__\n' | $(CC) -E -P - 2>/dev/null)
LDCONFIG ?= ldconfig

# Each shared library goes in as lib<name>.so.$(VERSION), with the soname
# link (lib<name>.so.$(SOVERSION)) and the link for -l<name> beside it.
# Installed to the live system (no DESTDIR) as root, the dynamic linker's
# cache is refreshed ($(LDCONFIG)), so that programs find the libraries at
# once when PREFIX/lib is among its directories (/usr/local/lib is, on
# Debian); for any other prefix, see the README ("Installing").
install: all
	install -d $(INCDIR)/hydracache $(LIBDIR)/pkgconfig $(BINDIR) $(DATADIR) \
	    $(MAN1DIR) $(DOCDIR)/images $(CMAKEDIR)
	install -m 644 $(HEADERS) $(INCDIR)/
	install -m 644 $(PART_HEADERS) $(INCDIR)/hydracache/
	for l in $(INSTALL_LIBS); do \
	    install -m 644 $(B)/lib$$l.a $(LIBDIR)/ && \
	    install -m 755 $(B)/lib$$l.so $(LIBDIR)/lib$$l.so.$(VERSION) && \
	    ln -sf lib$$l.so.$(VERSION) $(LIBDIR)/lib$$l.so.$(SOVERSION) && \
	    ln -sf lib$$l.so.$(SOVERSION) $(LIBDIR)/lib$$l.so && \
	    sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	        lib/pkgconfig/$$l.pc.in > $(LIBDIR)/pkgconfig/$$l.pc || exit 1; \
	done
	install -m 755 $(REPLAY) $(HCACHEGEN) $(HCSTAT) $(BINDIR)/
	install -m 644 hydracache.mk $(DATADIR)/
	install -m 644 $(MAN1) $(MAN1DIR)/
	install -m 644 $(DOCS) $(DOCDIR)/
	install -m 644 $(DOC_IMAGES) $(DOCDIR)/images/
	install -m 644 $(CMAKE_FILES) $(CMAKEDIR)/
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|' \
	    lib/cmake/hydracache-config-version.cmake.in > $(CMAKEDIR)/hydracache-config-version.cmake
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v $(LDCONFIG) >/dev/null; then \
	    echo $(LDCONFIG); $(LDCONFIG); fi

uninstall:
	rm -f $(INCDIR)/hydracache.h $(PART_HEADERS:runtime/include/%=$(INCDIR)/%) \
	    $(foreach l,$(INSTALL_LIBS),$(LIBDIR)/lib$(l).a $(LIBDIR)/lib$(l).so \
	        $(LIBDIR)/lib$(l).so.$(SOVERSION) $(LIBDIR)/lib$(l).so.$(VERSION) \
	        $(LIBDIR)/pkgconfig/$(l).pc) \
	    $(BINDIR)/hcache-replay $(BINDIR)/hcachegen $(BINDIR)/hcache-stat $(DATADIR)/hydracache.mk \
	    $(MAN1:man/%=$(MAN1DIR)/%) $(addprefix $(DOCDIR)/,$(notdir $(DOCS))) \
	    $(DOC_IMAGES:docs/%=$(DOCDIR)/%) \
	    $(addprefix $(CMAKEDIR)/,$(notdir $(CMAKE_FILES)) hydracache-config-version.cmake)
	@# Our directories, then those install may have made for them, when empty.
	@for d in $(DATADIR) $(INCDIR)/hydracache $(DOCDIR)/images $(DOCDIR) $(CMAKEDIR) \
	          $(LIBDIR)/cmake $(MAN1DIR) $(DESTDIR)$(PREFIX)/share/doc; do \
	    rmdir $$d 2>/dev/null || true; done

# Everything a build, the examples (make demo, make check) and the tests
# write is under build/ or removed by an example's own clean rule.
EXAMPLE_DIRS := $(patsubst %/Makefile,%,$(wildcard examples/*/Makefile))
clean:
	rm -rf build
	@for d in $(EXAMPLE_DIRS); do $(MAKE) --no-print-directory -s -C $$d clean || exit 1; done

# clean, and the npm packages the sandbox's tests and pages were given
# (sandbox/node_modules, fetched again by scripts/sandbox-npm.sh).
distclean: clean
	rm -rf sandbox/node_modules

include tests/fuzz.mk
# libhydracache-observability, hcache-stat, their tests (the observability issue)
include runtime/observability/observability.mk
# hcache-sandbox, the lab server: its build (part of all), install,
# `make sandbox`, `make sandbox-pg`, and its test suite (sandbox-check-run).
include sandbox/sandbox.mk

-include $(LIB_OBJ:.o=.d) $(HCG_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)
