# HydraCache for C.
#
#   make                 the libraries (libhydracache, libhydracache-sqlite,
#                        libhydracache-pg: each .a and .so), hcachegen,
#                        hcache-replay
#   make demo            build everything and run the main example
#   make check           every test (plain, ASan+UBSan, TSan), installing
#                        missing Debian packages through scripts/deps.sh
#   make bench           the benchmarks (docs/BENCHMARKS.md has the figures)
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
SOVERSION := 0
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
HCG_SRC   := generator/parse.c generator/check.c generator/sql.c generator/schema.c generator/emit.c generator/main.c
HCG_GENC  := $(GEN)/lexer.c $(GEN)/grammar.c $(GEN)/templates.c
HCG_OBJ   := $(HCG_SRC:%.c=$(B)/%.o) $(HCG_GENC:$(GEN)/%.c=$(B)/gen/%.o)
HCACHEGEN := $(B)/hcachegen
TEMPLATES := $(sort $(wildcard templates/*.tmpl))

TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Suites that exercise threads run under ThreadSanitizer in `make check`.
TSAN_TESTS := test_singleflight test_stress test_rcu test_db test_events test_bus

# The LIRS traces that test_hitratio and the replay table read are in
# tests/traces (its README says where they come from); HC_TRACES=DIR set by
# the caller points both at another folder.

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: FORCE all deps test-deps check check-run bench-run test-run test-run-tsan bench demo install \
        multiprocess-run \
        uninstall clean symbols-check golden-update
.DEFAULT_GOAL := all

all: deps $(ALL_LIBS_A) $(OBS_A) $(LIB_SO) $(SQLITE_SO) $(PG_SO) $(OBS_SO) $(REPLAY) \
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
	$(Q)$(CC) $(TEST_CFLAGS) $< $(ALL_LIBS_A) -o $@ -lcmocka $(LDLIBS)

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
# fuzz of hcachegen, and the install test; then one summary. Each test-run
# also runs hcachegen's golden tests, its #line test (tests/lines.sh) and
# bad-input corpus with that build.
# A failing step does not stop the others.
CHECK_RESULTS := build/release/test-results.txt build/release-clang/test-results.txt \
                 build/address-undefined/test-results.txt build/thread/test-results.txt \
                 build/release/install-results.txt build/fuzz/test-results.txt \
                 build/release/multiprocess-results.txt
# PostgreSQL tests run against a throwaway server (scripts/pg.sh) started
# for the whole run; HC_SKIP_PG=1 skips them, and the summary counts them.
check: test-deps
	@rm -f $(CHECK_RESULTS)
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
	tests/install-test.sh > build/release/install.log 2>&1 || st=1; \
	sed -n 's/^install: \([0-9]*\) passed, \([0-9]*\) failed$$/release install \1 \2 0/p' \
	    build/release/install.log > build/release/install-results.txt; \
	grep FAILED build/release/install.log || true; \
	$(MAKE) --no-print-directory multiprocess-run || st=1; \
	scripts/test-summary.sh $(CHECK_RESULTS) || st=1; \
	exit $$st

# examples/multiprocess doubles as an integration test of the PostgreSQL
# bus between two processes: one result line, skipped with HC_SKIP_PG=1.
multiprocess-run: all
	@r=build/release/multiprocess-results.txt; \
	if [ -z "$$HC_PG_CONNINFO" ]; then \
	    echo "multiprocess: skipped (no PostgreSQL)"; echo "release multiprocess 0 0 1" > $$r; \
	elif $(MAKE) --no-print-directory -C examples/multiprocess run > build/release/multiprocess.log 2>&1; then \
	    echo "multiprocess: passed"; echo "release multiprocess 1 0 0" > $$r; \
	else \
	    cat build/release/multiprocess.log; echo "release multiprocess 0 1 0" > $$r; exit 1; \
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

# The PostgreSQL figures come from a throwaway server (scripts/pg.sh).
bench: all $(BENCHES) $(HCACHEGEN)
	@scripts/deps.sh pg
	@scripts/pg.sh run $(MAKE) --no-print-directory bench-run

bench-run:
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done
	@scripts/replay-table.sh $(REPLAY)
	@bench/bench_hcachegen.sh $(B)

# ------------------------------------------------------------------ demo

demo: all
	@$(MAKE) --no-print-directory -C examples/shop run
	@# the shop again, serving its cache over HTTP, seen by hcache-stat (observability)
	@$(MAKE) --no-print-directory -C examples/shop stat-demo
	@$(MAKE) --no-print-directory -C examples/quickstart run
	@$(MAKE) --no-print-directory -C examples/functions run

# --------------------------------------------------------------- install

# The version has one home, runtime/include/hydracache/core.h.
VERSION := $(shell sed -n 's/^\#define HC_VERSION_STRING "\(.*\)"/\1/p' runtime/include/hydracache/core.h)
LIBDIR  := $(DESTDIR)$(PREFIX)/lib
INSTALL_LIBS := hydracache hydracache-sqlite hydracache-pg hydracache-observability

# Each shared library goes in as lib<name>.so.$(VERSION), with the soname
# link (lib<name>.so.$(SOVERSION)) and the link for -l<name> beside it.
# Installed to the live system (no DESTDIR) as root, the dynamic linker's
# cache is refreshed, so programs find the libraries at once.
install: all
	install -d $(DESTDIR)$(PREFIX)/include/hydracache $(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hydracache
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(PART_HEADERS) $(DESTDIR)$(PREFIX)/include/hydracache/
	for l in $(INSTALL_LIBS); do \
	    install -m 644 $(B)/lib$$l.a $(LIBDIR)/ && \
	    install -m 755 $(B)/lib$$l.so $(LIBDIR)/lib$$l.so.$(VERSION) && \
	    ln -sf lib$$l.so.$(VERSION) $(LIBDIR)/lib$$l.so.$(SOVERSION) && \
	    ln -sf lib$$l.so.$(SOVERSION) $(LIBDIR)/lib$$l.so && \
	    sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	        lib/pkgconfig/$$l.pc.in > $(LIBDIR)/pkgconfig/$$l.pc || exit 1; \
	done
	install -m 755 $(REPLAY) $(HCACHEGEN) $(HCSTAT) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 hydracache.mk $(DESTDIR)$(PREFIX)/share/hydracache/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then \
	    echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/hydracache.h \
	    $(PART_HEADERS:runtime/include/%=$(DESTDIR)$(PREFIX)/include/%) \
	    $(foreach l,$(INSTALL_LIBS),$(LIBDIR)/lib$(l).a $(LIBDIR)/lib$(l).so \
	        $(LIBDIR)/lib$(l).so.$(SOVERSION) $(LIBDIR)/lib$(l).so.$(VERSION) \
	        $(LIBDIR)/pkgconfig/$(l).pc) \
	    $(DESTDIR)$(PREFIX)/bin/hcache-replay $(DESTDIR)$(PREFIX)/bin/hcachegen \
	    $(DESTDIR)$(PREFIX)/bin/hcache-stat \
	    $(DESTDIR)$(PREFIX)/share/hydracache/hydracache.mk
	-rmdir $(DESTDIR)$(PREFIX)/share/hydracache $(DESTDIR)$(PREFIX)/include/hydracache 2>/dev/null

clean:
	rm -rf build

include tests/fuzz.mk
# libhydracache-observability, hcache-stat, their tests (the observability issue)
include runtime/observability/observability.mk

-include $(LIB_OBJ:.o=.d) $(HCG_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)
