# libhydracache-observability, hcache-stat and their tests: included by the
# top Makefile (one line), after its variables. Everything observability
# adds to the build is here, so that the core's rules stay its own.
#
#   hcache-stat                          tools/hcache-stat.c, with libcurl
#   tests/test_decl, test_observability, test_actuator, test_obs_threads
#   bench/bench_decl                     the per-declaration counters' cost

# The library itself (libhydracache-observability.{a,so}: OBS_A, OBS_SO),
# its pkg-config file and its installation are the top Makefile's, like
# every library's; here are its tool, tests and benchmark.
HCSTAT     := $(B)/hcache-stat
# libcurl's headers are in the default path on Debian; pkg-config adds none.
CURL_LIBS  := -lcurl

all: $(HCSTAT)

$(HCSTAT): tools/hcache-stat.c $(FLAGS_STAMP)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $< -o $@ -ljansson $(CURL_LIBS)

# ------------------------------------------------------------------ tests

OBS_TEST_LIBS = $(OBS_A) $(ALL_LIBS_A) -lcmocka $(OBS_LIBS) $(CURL_LIBS) $(LDLIBS)

# test_decl: the counters through the code written for tests/decl/decl.hcache
# (queries on SQLite, a policy, a cacheable), compiled with -Wconversion.
DECL_DIR := $(B)/tests/decl
$(DECL_DIR)/decl.hc.c $(DECL_DIR)/decl.hc.h &: tests/decl/decl.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(DECL_DIR)
	$(Q)$(HCACHEGEN) -o $(DECL_DIR) $<

$(B)/tests/test_decl: tests/test_decl.c tests/testutil.h $(DECL_DIR)/decl.hc.c $(DECL_DIR)/decl.hc.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	$(Q)$(CC) $(TEST_CFLAGS) -Wconversion -I$(DECL_DIR) -c $(DECL_DIR)/decl.hc.c -o $(DECL_DIR)/decl.hc.o
	$(Q)$(CC) $(TEST_CFLAGS) -I$(DECL_DIR) $< $(DECL_DIR)/decl.hc.o $(ALL_LIBS_A) -o $@ -lcmocka $(LDLIBS)

# The HTTP suites run hcache-stat as a user would.
$(B)/tests/test_observability $(B)/tests/test_actuator $(B)/tests/test_obs_threads: \
$(B)/tests/%: tests/%.c tests/testutil.h tests/obs_testutil.h $(OBS_A) $(ALL_LIBS_A) $(HCSTAT)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(TEST_CFLAGS) -DHCSTAT='"$(HCSTAT)"' $< -o $@ $(OBS_TEST_LIBS) $(TEST_LDFLAGS_$(notdir $@))

# test_observability fails the library's allocations one by one (its
# __wrap_malloc, __wrap_calloc and __wrap_realloc).
TEST_LDFLAGS_test_observability := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc

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
                       $(DAONC_DIR)/daonc.hc.c $(DAONC_DIR)/daonc.hc.h $(ALL_LIBS_A)
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Iruntime/include -DHC_NO_DECL_STATS -c $(DAONC_DIR)/daonc.hc.c -o $(DAONC_DIR)/daonc.hc.o
	$(Q)$(CC) $(ALL_CFLAGS) $(DB_CFLAGS) -Iruntime/include -I$(DAO_DIR) -I$(DAONC_DIR) $< \
	    $(DAO_DIR)/dao.hc.c $(DAONC_DIR)/daonc.hc.o $(ALL_LIBS_A) -o $@ $(LDLIBS)


