# tests/fuzz.mk -- fuzzing hcachegen and the code it writes with libFuzzer
# (clang only).
#
# Included by the top Makefile, which defines GEN, HCG_SRC, HCG_GENC, CSTD,
# WARN, Q and msg (and the rules that make $(HCG_GENC) and $(GEN)/grammar.h),
# LIB_SRC, DB_CFLAGS, DB_LIBS and HCACHEGEN.
#
#   make fuzz-build           build/fuzz/fuzz_hcachegen and build/fuzz/fuzz_decode
#                             (ASan + UBSan + libFuzzer)
#   make fuzz-short           each target for a few seconds (FUZZ_SHORT_TIME, 20,
#                             for hcachegen; FUZZ_DECODE_SHORT_TIME, 10, for the
#                             decoders) over a scratch copy of its corpus; fails on
#                             any crash, leak, timeout or memory blow-up; appends
#                             "fuzz fuzz_hcachegen P F S" and "fuzz fuzz_decode P F S"
#                             to build/fuzz/test-results.txt (and why one failed
#                             to build/fuzz/test-failures.txt)
#   make fuzz FUZZ_TIME=3600  a long run of hcachegen (default 600 s) that keeps
#                             what it finds in build/fuzz/corpus; prints how to
#                             minimise
#   make fuzz-decode FUZZ_TIME=600   the same for the decoders (build/fuzz/corpus-decode)
#
# tests/fuzz_hcachegen.c runs parse, check and, for a valid module, emit on
# each input. tests/fuzz_decode.c runs every decoder hcachegen writes for
# tests/fuzz-decode/fd.hcache (its header says which invariants it checks);
# it is compiled with the generated source and the runtime library, all
# under the fuzzer's sanitizers. The checked-in corpora (tests/fuzz-corpus,
# tests/fuzz-decode/corpus) are never written to: copy an input worth
# keeping there by hand (minimised, see `make fuzz`).

FUZZ_CC         ?= clang
FUZZ_TIME       ?= 600
FUZZ_SHORT_TIME ?= 20
FUZZ_DIR        := build/fuzz
FUZZER          := $(FUZZ_DIR)/fuzz_hcachegen
FUZZ_DICT       := $(FUZZ_DIR)/hcache.dict
FUZZ_RESULTS    := $(FUZZ_DIR)/test-results.txt
FUZZ_SEEDS      := tests/fuzz-corpus
# Every generator source but main.c (the target replaces it) and schema.c
# (it needs a database; the fuzz target never asks for one), plus the
# generated lexer, parser and template table.
FUZZ_SRC        := tests/fuzz_hcachegen.c $(filter-out generator/main.c generator/schema.c,$(HCG_SRC)) $(HCG_GENC)
FUZZ_CFLAGS     := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer $(CSTD) $(WARN) -Igenerator -I$(GEN) -Iruntime/include
# Per input at most 5 s and 2 GB; a slower or bigger one is a finding.
FUZZ_FLAGS      := -timeout=5 -rss_limit_mb=2048 -dict=$(FUZZ_DICT)

.PHONY: fuzz-build fuzz-short fuzz-short-hcachegen fuzz-short-decode fuzz fuzz-decode

# The decoders: fd.hcache's generated code and the runtime library, built
# for the fuzzer (no libFuzzer main in the library's objects).
FUZZ_DECODE_SHORT_TIME ?= 10
FUZZ_DEC        := $(FUZZ_DIR)/fuzz_decode
FUZZ_DEC_GEN    := $(FUZZ_DIR)/decode
FUZZ_DEC_SEEDS  := tests/fuzz-decode/corpus
FUZZ_DEC_FLAGS  := -timeout=5 -rss_limit_mb=2048
FUZZ_LIB_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer $(CSTD) $(WARN) -pthread -DHC_BUILDING_LIBRARY \
                   -Iruntime/include -Iruntime/core -MMD -MP
FUZZ_LIB_OBJ    := $(CORE_SRC:%.c=$(FUZZ_DIR)/%.o)

$(FUZZ_DIR)/runtime/%.o: runtime/%.c tests/fuzz.mk
	$(call msg,FUZZCC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_LIB_CFLAGS) -c $< -o $@

$(FUZZ_DEC_GEN)/fd.hc.c $(FUZZ_DEC_GEN)/fd.hc.h &: tests/fuzz-decode/fd.hcache $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(FUZZ_DEC_GEN)
	$(Q)$(HCACHEGEN) -o $(FUZZ_DEC_GEN) $<

$(FUZZ_DEC): tests/fuzz_decode.c $(FUZZ_DEC_GEN)/fd.hc.c $(FUZZ_DEC_GEN)/fd.hc.h $(FUZZ_LIB_OBJ) tests/fuzz.mk
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer $(CSTD) $(WARN) -pthread -Iruntime/include -I$(FUZZ_DEC_GEN) \
	    tests/fuzz_decode.c $(FUZZ_LIB_OBJ) -o $@ -lm

-include $(FUZZ_LIB_OBJ:.o=.d)

fuzz-build: $(FUZZER) $(FUZZ_DICT) $(FUZZ_DEC)

$(FUZZER): $(FUZZ_SRC) generator/hcg.h runtime/include/hydracache/core.h $(GEN)/grammar.h tests/fuzz.mk
	$(call msg,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SRC) -o $@

# The words of the language, for libFuzzer's mutations.
$(FUZZ_DICT): tests/fuzz.mk
	@mkdir -p $(dir $@)
	$(Q)printf '"%s"\n' module namespace default ttl entity key collection primary \
	    query exec policy cacheable infallible sql sql.sqlite sql.postgres sql.mysql \
	    tags invalidates nothing name context i32 i64 u32 u64 f64 bool text blob 'text?' \
	    'user[]' '->' '{' '}' '(' ')' '[' ']' ':' ';' ',' '?' '.' '//' '/*' '*/' \
	    '\"' '\\' '\\n' '\\q' '\x00' '\x01' '\xc3\xa9' 5m 10s 250ms 1h 7d 0s 300 \
	    '{id}' ':{' 'key \"' 'entity user(id);' 'invalidates nothing;' \
	    'module m;' 'entity user { id : i64 primary; }' > $@

# fuzz_short NAME,BINARY,SEEDS,SECONDS,FLAGS[,REPLAY-ENV]: a run over a scratch copy of
# SEEDS (libFuzzer adds what it finds to its first directory, and the
# checked-in one must stay as it is), one result line.
define fuzz_short
	@rm -rf $(FUZZ_DIR)/corpus-short-$(1) $(FUZZ_DIR)/artifacts-short-$(1)
	@mkdir -p $(FUZZ_DIR)/corpus-short-$(1) $(FUZZ_DIR)/artifacts-short-$(1)
	@cp $(3)/* $(FUZZ_DIR)/corpus-short-$(1)/
	@echo "  FUZZ   $(2) for $(4) s (log: $(FUZZ_DIR)/fuzz-short-$(1).log)"
	@if $(2) -max_total_time=$(4) $(5) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts-short-$(1)/ $(FUZZ_DIR)/corpus-short-$(1) \
	        > $(FUZZ_DIR)/fuzz-short-$(1).log 2>&1 && \
	    [ -z "$$(ls -A $(FUZZ_DIR)/artifacts-short-$(1))" ]; then \
	    echo "fuzz $(1) 1 0 0" >> $(FUZZ_RESULTS); \
	    echo "fuzz-short $(1): passed ($$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz-short-$(1).log) runs)"; \
	else \
	    echo "fuzz $(1) 0 1 0" >> $(FUZZ_RESULTS); \
	    { echo "fuzz $(1): FAILED on $$(ls $(FUZZ_DIR)/artifacts-short-$(1) | tr '\n' ' ')(the end of $(FUZZ_DIR)/fuzz-short-$(1).log):"; \
	      grep -E '==ERROR|runtime error|^ *#[0-9] |^SUMMARY' $(FUZZ_DIR)/fuzz-short-$(1).log | head -n 12 | sed 's/^/    /'; } \
	        >> $(FUZZ_RESULTS:results.txt=failures.txt); \
	    tail -n 40 $(FUZZ_DIR)/fuzz-short-$(1).log; \
	    echo "fuzz-short $(1): FAILED; the inputs that failed:"; \
	    ls $(FUZZ_DIR)/artifacts-short-$(1)/*; \
	    echo "replay one with: $(strip $(6) $(2)) FILE"; \
	    exit 1; \
	fi
endef

# Both targets run even when the first fails.
fuzz-short:
	@st=0; \
	$(MAKE) --no-print-directory fuzz-short-hcachegen || st=1; \
	$(MAKE) --no-print-directory fuzz-short-decode || st=1; \
	exit $$st

fuzz-short-hcachegen: $(FUZZER) $(FUZZ_DICT)
	$(call fuzz_short,fuzz_hcachegen,$(FUZZER),$(FUZZ_SEEDS),$(FUZZ_SHORT_TIME),$(FUZZ_FLAGS),HCG_FUZZ_STDERR=1)

fuzz-short-decode: $(FUZZ_DEC)
	$(call fuzz_short,fuzz_decode,$(FUZZ_DEC),$(FUZZ_DEC_SEEDS),$(FUZZ_DECODE_SHORT_TIME),$(FUZZ_DEC_FLAGS))

fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	@cp $(FUZZ_SEEDS)/* $(FUZZ_DIR)/corpus/
	@echo "  FUZZ   $(FUZZER) for $(FUZZ_TIME) s; new inputs go to $(FUZZ_DIR)/corpus"
	@st=0; \
	$(FUZZER) -max_total_time=$(FUZZ_TIME) $(FUZZ_FLAGS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/corpus || st=1; \
	echo; \
	echo "Failing inputs (crash-*, leak-*, timeout-*, oom-*) are in $(FUZZ_DIR)/artifacts/:"; \
	ls $(FUZZ_DIR)/artifacts/ 2>/dev/null; \
	echo "  replay:    HCG_FUZZ_STDERR=1 $(FUZZER) $(FUZZ_DIR)/artifacts/crash-..."; \
	echo "  minimise:  $(FUZZER) -minimize_crash=1 -runs=100000 \\"; \
	echo "                 -exact_artifact_path=tests/fuzz-corpus/DESCRIPTIVE-NAME.hcache $(FUZZ_DIR)/artifacts/crash-..."; \
	echo "Shrink the grown corpus before keeping any of it:"; \
	echo "  mkdir $(FUZZ_DIR)/corpus-min && $(FUZZER) -merge=1 $(FUZZ_DIR)/corpus-min $(FUZZ_DIR)/corpus"; \
	exit $$st

fuzz-decode: $(FUZZ_DEC)
	@mkdir -p $(FUZZ_DIR)/corpus-decode $(FUZZ_DIR)/artifacts-decode
	@cp $(FUZZ_DEC_SEEDS)/* $(FUZZ_DIR)/corpus-decode/
	@echo "  FUZZ   $(FUZZ_DEC) for $(FUZZ_TIME) s; new inputs go to $(FUZZ_DIR)/corpus-decode"
	@$(FUZZ_DEC) -max_total_time=$(FUZZ_TIME) $(FUZZ_DEC_FLAGS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts-decode/ $(FUZZ_DIR)/corpus-decode
