# HydraCache for C.
#
#   make                 libhydracache.a, libhydracache.so, hcache-replay
#   make demo            build everything and run the main example
#   make check           every test (plain, ASan+UBSan, TSan), installing
#                        missing Debian packages through scripts/deps.sh
#   make bench           the benchmarks (docs/BENCHMARKS.md has the figures)
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
             -Iruntime/include -Iruntime/core $(DB_CFLAGS)
# The database adapters link SQLite (libsqlite3-dev) and libpq (libpq-dev).
DB_CFLAGS := -I/usr/include/postgresql
DB_LIBS   := -lsqlite3 -lpq
LDLIBS  := $(DB_LIBS) -pthread -lm

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

LIB_SRC := $(wildcard runtime/core/*.c runtime/sqlite/*.c runtime/pg/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB_A   := $(B)/libhydracache.a
LIB_SO  := $(B)/libhydracache.so
SONAME  := libhydracache.so.0
HEADERS := runtime/include/hydracache.h

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
TSAN_TESTS := test_singleflight test_stress test_torture test_rcu test_db test_events test_bus

# The LIRS traces that test_hitratio and the replay table read are in
# tests/traces (its README says where they come from); HC_TRACES=DIR set by
# the caller points both at another folder.

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: FORCE all deps test-deps check check-run bench-run test-run test-run-tsan bench demo install \
        multiprocess-run stress bench-static \
        uninstall clean symbols-check golden-update
.DEFAULT_GOAL := all

all: deps $(LIB_A) $(LIB_SO) $(REPLAY) $(HCACHEGEN) symbols-check

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

$(LIB_A): $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

# Only hc_ names may leave the shared library: everything else is internal,
# hc__ names too, but for hc__dec_varint, which the inline decoders in
# hydracache.h call.
symbols-check: $(LIB_SO)
	$(Q)bad=$$(nm -D --defined-only $(LIB_SO) | awk '$$2 ~ /[TDBR]/ {print $$3}' \
	    | grep -v '^hc_' ; nm -D --defined-only $(LIB_SO) | awk '$$2 ~ /[TDBR]/ {print $$3}' \
	    | grep '^hc__' | grep -vx 'hc__dec_varint'); \
	if [ -n "$$bad" ]; then echo "exported non-hc_ symbols:" $$bad >&2; exit 1; fi

$(REPLAY): tools/hcache-replay.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include $< $(LIB_A) -o $@ $(LDLIBS)

# ------------------------------------------------------------- hcachegen

HCG_CFLAGS = $(ALL_CFLAGS) -Igenerator -I$(GEN) $(DB_CFLAGS)

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

$(B)/tests/%: tests/%.c tests/testutil.h $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(TEST_CFLAGS) $< $(LIB_A) -o $@ -lcmocka $(LDLIBS)

# test_codegen runs the code hcachegen writes for tests/codegen/cg.hcache,
# compiled with -Wconversion on top of the usual warnings.
CG_DIR := $(B)/tests/codegen
$(CG_DIR)/cg.hc.c $(CG_DIR)/cg.hc.h &: tests/codegen/cg.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(CG_DIR)
	$(Q)$(HCACHEGEN) -o $(CG_DIR) $<

$(B)/tests/test_codegen: tests/test_codegen.c tests/testutil.h $(CG_DIR)/cg.hc.c $(CG_DIR)/cg.hc.h $(LIB_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(CG_DIR) -c $(CG_DIR)/cg.hc.c -o $(CG_DIR)/cg.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(CG_DIR) $< $(CG_DIR)/cg.hc.o $(LIB_A) -o $@ -lcmocka $(LDLIBS)

# test_dao runs the query and exec code written for tests/dao/dao.hcache
# against SQLite and PostgreSQL, also compiled with -Wconversion.
DAO_DIR := $(B)/tests/dao
$(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h &: tests/dao/dao.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(DAO_DIR)
	$(Q)$(HCACHEGEN) -o $(DAO_DIR) $<

$(B)/tests/test_dao: tests/test_dao.c tests/testutil.h $(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h $(LIB_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(DAO_DIR) -c $(DAO_DIR)/dao.hc.c -o $(DAO_DIR)/dao.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(DAO_DIR) $< $(DAO_DIR)/dao.hc.o $(LIB_A) -o $@ -lcmocka $(LDLIBS)

# check runs every suite plain with gcc and with clang, every suite but the
# slow trace replay under ASan+UBSan, the threaded suites under TSan, a short
# fuzz of hcachegen, and the install test; then one summary. Each test-run
# also runs hcachegen's golden tests and bad-input corpus with that build.
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
	tests/bad-inputs.sh $(B) $(B)/test-results.txt || st=1; \
	tests/schema-check.sh $(B) $(B)/test-results.txt || st=1; \
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

$(B)/bench/%: bench/%.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -Iruntime/core $< $(LIB_A) -o $@ $(LDLIBS)

# bench_dao measures the code written for tests/dao/dao.hcache.
$(B)/bench/bench_dao: bench/bench_dao.c $(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -I$(DAO_DIR) $< $(DAO_DIR)/dao.hc.c $(LIB_A) -o $@ $(LDLIBS)

# bench_scaling linked statically (it needs only the cache, no database
# library), to carry to a machine with more cores and run there:
# build/release/bench/bench_scaling-static -t 1,2,4,8,16 (docs/BENCHMARKS.md).
bench-static: $(B)/bench/bench_scaling-static
$(B)/bench/bench_scaling-static: bench/bench_scaling.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -static -Iruntime/include $< $(LIB_A) -o $@ -pthread -lm

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
	@$(MAKE) --no-print-directory -C examples/quickstart run
	@$(MAKE) --no-print-directory -C examples/functions run

# --------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hydracache
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libhydracache.so
	install -m 755 $(REPLAY) $(HCACHEGEN) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 hydracache.mk $(DESTDIR)$(PREFIX)/share/hydracache/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|'$$(sed -n 's/^#define HC_VERSION_STRING "\(.*\)"/\1/p' runtime/include/hydracache.h)'|' \
	    hydracache.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydracache.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/hydracache.h \
	    $(DESTDIR)$(PREFIX)/lib/libhydracache.a \
	    $(DESTDIR)$(PREFIX)/lib/libhydracache.so $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	    $(DESTDIR)$(PREFIX)/bin/hcache-replay $(DESTDIR)$(PREFIX)/bin/hcachegen \
	    $(DESTDIR)$(PREFIX)/share/hydracache/hydracache.mk \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydracache.pc
	-rmdir $(DESTDIR)$(PREFIX)/share/hydracache 2>/dev/null

clean:
	rm -rf build

include tests/fuzz.mk

-include $(LIB_OBJ:.o=.d) $(HCG_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)
