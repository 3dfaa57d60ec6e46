# libhydracache-observability, hcache-stat and their tests: included by the
# top Makefile (one line), after its variables. Everything observability
# adds to the build is here, so that the core's rules stay its own.
#
#   libhydracache-observability.{a,so}   runtime/observability/*.c, linked
#                                        with libmicrohttpd and jansson
#   hcache-stat                          tools/hcache-stat.c, with libcurl
#   tests/test_decl, test_observability, test_actuator, test_obs_threads
#   bench/bench_decl                     the per-declaration counters' cost

OBS_SRC    := $(wildcard runtime/observability/*.c)
OBS_OBJ    := $(OBS_SRC:%.c=$(B)/%.o)
OBS_A      := $(B)/libhydracache-observability.a
OBS_SO     := $(B)/libhydracache-observability.so
OBS_SONAME := libhydracache-observability.so.0
OBS_LIBS   := -lmicrohttpd -ljansson
OBS_HEADER := runtime/include/hydracache/observability.h
HCSTAT     := $(B)/hcache-stat
# libcurl's headers are in the default path on Debian; pkg-config adds none.
CURL_LIBS  := -lcurl

all: $(OBS_A) $(OBS_SO) $(HCSTAT) obs-symbols-check

$(OBS_A): $(OBS_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Linked against the core's shared library: it records libhydracache.so.0
# as needed, so that both load together.
$(OBS_SO): $(OBS_OBJ) $(LIB_SO)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(OBS_SONAME) -o $@ $(OBS_OBJ) \
	    -L$(B) -l:libhydracache.so $(OBS_LIBS) $(LDLIBS)

# Only hc_ names leave it, and no hc__ one.
obs-symbols-check: $(OBS_SO)
	$(Q)bad=$$(nm -D --defined-only $(OBS_SO) | awk '$$2 ~ /[TDBR]/ {print $$3}' | grep -v '^hc_[a-z]'); \
	if [ -n "$$bad" ]; then echo "$(OBS_SO): exported non-hc_ symbols:" $$bad >&2; exit 1; fi

$(HCSTAT): tools/hcache-stat.c $(FLAGS_STAMP)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $< -o $@ -ljansson $(CURL_LIBS)

# ------------------------------------------------------------------ tests

OBS_TEST_LIBS = $(OBS_A) $(LIB_A) -lcmocka $(OBS_LIBS) $(CURL_LIBS) $(LDLIBS)

# test_decl: the counters through the code written for tests/decl/decl.hcache
# (queries on SQLite, a policy, a cacheable), compiled with -Wconversion.
DECL_DIR := $(B)/tests/decl
$(DECL_DIR)/decl.hc.c $(DECL_DIR)/decl.hc.h &: tests/decl/decl.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(DECL_DIR)
	$(Q)$(HCACHEGEN) -o $(DECL_DIR) $<

$(B)/tests/test_decl: tests/test_decl.c tests/testutil.h $(DECL_DIR)/decl.hc.c $(DECL_DIR)/decl.hc.h $(LIB_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(DECL_DIR) -c $(DECL_DIR)/decl.hc.c -o $(DECL_DIR)/decl.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(DECL_DIR) $< $(DECL_DIR)/decl.hc.o $(LIB_A) -o $@ -lcmocka $(LDLIBS)

# The HTTP suites run hcache-stat as a user would.
$(B)/tests/test_observability $(B)/tests/test_actuator $(B)/tests/test_obs_threads: \
$(B)/tests/%: tests/%.c tests/testutil.h tests/obs_testutil.h $(OBS_A) $(LIB_A) $(HCSTAT)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(TEST_CFLAGS) -DHCSTAT='"$(HCSTAT)"' $< -o $@ $(OBS_TEST_LIBS)

# The threaded suite runs under ThreadSanitizer in `make check` too.
TSAN_TESTS += test_decl test_obs_threads
test-run-tsan: $(B)/tests/test_decl $(B)/tests/test_obs_threads

# -------------------------------------------------------------- bench

# bench_decl: dao.hcache generated twice, as module dao (counting) and as
# module daonc compiled with -DHC_NO_DECL_STATS.
DAONC_DIR := $(B)/bench/daonc
$(DAONC_DIR)/daonc.hc.c $(DAONC_DIR)/daonc.hc.h &: tests/dao/dao.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$@)
	@mkdir -p $(DAONC_DIR)
	$(Q)sed 's/^module dao;/module daonc;/' $< > $(DAONC_DIR)/daonc.hcache
	$(Q)$(HCACHEGEN) -o $(DAONC_DIR) $(DAONC_DIR)/daonc.hcache

$(B)/bench/bench_decl: bench/bench_decl.c $(DAO_DIR)/dao.hc.c $(DAO_DIR)/dao.hc.h \
                       $(DAONC_DIR)/daonc.hc.c $(DAONC_DIR)/daonc.hc.h $(LIB_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include -DHC_NO_DECL_STATS -c $(DAONC_DIR)/daonc.hc.c -o $(DAONC_DIR)/daonc.hc.o
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -I$(DAO_DIR) -I$(DAONC_DIR) $< \
	    $(DAO_DIR)/dao.hc.c $(DAONC_DIR)/daonc.hc.o $(LIB_A) -o $@ $(LDLIBS)

# ------------------------------------------------------------- install

OBS_INSTALL_FILES := include/hydracache/observability.h lib/libhydracache-observability.a \
    lib/$(OBS_SONAME) lib/libhydracache-observability.so \
    lib/pkgconfig/hydracache-observability.pc bin/hcache-stat

install: install-observability
install-observability: $(OBS_A) $(OBS_SO) $(HCSTAT)
	install -d $(DESTDIR)$(PREFIX)/include/hydracache $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(OBS_HEADER) $(DESTDIR)$(PREFIX)/include/hydracache/
	install -m 644 $(OBS_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(OBS_SO) $(DESTDIR)$(PREFIX)/lib/$(OBS_SONAME)
	ln -sf $(OBS_SONAME) $(DESTDIR)$(PREFIX)/lib/libhydracache-observability.so
	install -m 755 $(HCSTAT) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|'$$(sed -n 's/^#define HC_VERSION_STRING "\(.*\)"/\1/p' runtime/include/hydracache.h)'|' \
	    runtime/observability/hydracache-observability.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hydracache-observability.pc

uninstall: uninstall-observability
uninstall-observability:
	rm -f $(OBS_INSTALL_FILES:%=$(DESTDIR)$(PREFIX)/%)
	-rmdir $(DESTDIR)$(PREFIX)/include/hydracache 2>/dev/null

.PHONY: obs-symbols-check install-observability uninstall-observability

-include $(OBS_OBJ:.o=.d)
