# HydraCache for C.
#
#   make                 libhydracache.a, libhydracache.so, hcache-replay
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
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(SANFLAGS) -pthread -MMD -MP
LIB_CFLAGS = $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DHC_BUILDING_LIBRARY \
             -Iruntime/include -Iruntime/src
# liburcu (Debian's liburcu-dev): the memb flavour's read-side critical
# sections make hits lock-free (docs/RUNTIME.md). Static links need
# -lurcu-common after -lurcu-memb.
LDLIBS  := -lurcu-memb -lurcu-common -pthread -lm

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

LIB_SRC := $(wildcard runtime/src/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB_A   := $(B)/libhydracache.a
LIB_SO  := $(B)/libhydracache.so
SONAME  := libhydracache.so.0
HEADERS := runtime/include/hydracache.h

REPLAY  := $(B)/hcache-replay

TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Suites that exercise threads run under ThreadSanitizer in `make check`.
TSAN_TESTS := test_singleflight test_stress test_rcu

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all deps test-deps check test-run test-run-tsan bench demo install \
        uninstall clean symbols-check
.DEFAULT_GOAL := all

all: deps $(LIB_A) $(LIB_SO) $(REPLAY) symbols-check

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(B)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

# Only hc_ names may leave the shared library: everything else is internal.
symbols-check: $(LIB_SO)
	$(Q)bad=$$(nm -D --defined-only $(LIB_SO) | awk '$$2 ~ /[TDBR]/ {print $$3}' | grep -v '^hc_' || true); \
	if [ -n "$$bad" ]; then echo "exported non-hc_ symbols:" $$bad >&2; exit 1; fi

$(REPLAY): tools/hcache-replay.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include $< $(LIB_A) -o $@ $(LDLIBS)

# ------------------------------------------------------------------ tests

TEST_CFLAGS = $(ALL_CFLAGS) -Iruntime/include -Iruntime/src -Itests

$(B)/tests/%: tests/%.c tests/testutil.h $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(TEST_CFLAGS) $< $(LIB_A) -o $@ -lcmocka $(LDLIBS)

# check runs every suite plain with gcc and with clang, every suite but the
# slow trace replay under ASan+UBSan, the threaded suites under TSan, and the
# install test; then one summary. A failing step does not stop the others.
CHECK_RESULTS := build/release/test-results.txt build/release-clang/test-results.txt \
                 build/address-undefined/test-results.txt build/thread/test-results.txt \
                 build/release/install-results.txt
check: test-deps
	@rm -f $(CHECK_RESULTS)
	@$(MAKE) --no-print-directory all
	@st=0; \
	$(MAKE) --no-print-directory test-run || st=1; \
	$(MAKE) --no-print-directory CC=clang test-run || st=1; \
	$(MAKE) --no-print-directory SANITIZE=address,undefined OPT=-O1 test-run \
	    HC_TEST_SKIP="test_hitratio" || st=1; \
	$(MAKE) --no-print-directory SANITIZE=thread OPT=-O1 test-run-tsan || st=1; \
	tests/install-test.sh > build/release/install.log 2>&1 || st=1; \
	sed -n 's/^install: \([0-9]*\) passed, \([0-9]*\) failed$$/release install \1 \2 0/p' \
	    build/release/install.log > build/release/install-results.txt; \
	grep FAILED build/release/install.log || true; \
	scripts/test-summary.sh $(CHECK_RESULTS) || st=1; \
	exit $$st

test-run: $(TESTS) $(REPLAY)
	@scripts/run-tests.sh $(B) "$(filter-out $(HC_TEST_SKIP),$(TESTS:$(B)/tests/%=%))"

test-run-tsan: $(TSAN_TESTS:%=$(B)/tests/%)
	@scripts/run-tests.sh $(B) "$(TSAN_TESTS)"

# ------------------------------------------------------------ benchmarks

$(B)/bench/%: bench/%.c $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include -Iruntime/src $< $(LIB_A) -o $@ $(LDLIBS)

bench: all $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done
	@scripts/replay-table.sh $(REPLAY)

# ------------------------------------------------------------------ demo

demo: all
	@$(MAKE) --no-print-directory -C examples/quickstart run

# --------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hydracache
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libhydracache.so
	install -m 755 $(REPLAY) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|'$$(sed -n 's/^#define HC_VERSION_STRING "\(.*\)"/\1/p' runtime/include/hydracache.h)'|' \
	    hydracache.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydracache.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/hydracache.h \
	    $(DESTDIR)$(PREFIX)/lib/libhydracache.a \
	    $(DESTDIR)$(PREFIX)/lib/libhydracache.so $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	    $(DESTDIR)$(PREFIX)/bin/hcache-replay \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydracache.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)
