# tests/fuzz.mk -- fuzzing hcachegen with libFuzzer (clang only).
#
# Included by the top Makefile, which defines GEN, HCG_SRC, HCG_GENC, CSTD,
# WARN, Q and msg (and the rules that make $(HCG_GENC) and $(GEN)/grammar.h).
#
#   make fuzz-build           build/fuzz/fuzz_hcachegen (ASan + UBSan + libFuzzer)
#   make fuzz-short           FUZZ_SHORT_TIME (20) seconds over a scratch copy of
#                             tests/fuzz-corpus; fails on any crash, leak, timeout
#                             or memory blow-up; appends "fuzz fuzz_hcachegen P F S"
#                             to build/fuzz/test-results.txt (and why it failed
#                             to build/fuzz/test-failures.txt)
#   make fuzz FUZZ_TIME=3600  a long run (default 600 s) that keeps what it finds
#                             in build/fuzz/corpus; prints how to minimise
#
# The target (tests/fuzz_hcachegen.c) runs parse, check and, for a valid
# module, emit on each input. The checked-in corpus is never written to:
# copy an input worth keeping there by hand (minimised, see `make fuzz`).

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

.PHONY: fuzz-build fuzz-short fuzz

fuzz-build: $(FUZZER) $(FUZZ_DICT)

$(FUZZER): $(FUZZ_SRC) generator/hcg.h runtime/include/hydracache/core.h $(GEN)/grammar.h tests/fuzz.mk
	$(call msg,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SRC) -o $@

# The words of the language, for libFuzzer's mutations.
$(FUZZ_DICT): tests/fuzz.mk
	@mkdir -p $(dir $@)
	$(Q)printf '"%s"\n' module namespace default ttl entity key collection primary \
	    query exec policy cacheable infallible sql sql.sqlite sql.postgres sql.mysql \
	    tags invalidates nothing name i32 i64 u32 u64 f64 bool text blob 'text?' \
	    'user[]' '->' '{' '}' '(' ')' '[' ']' ':' ';' ',' '?' '.' '//' '/*' '*/' \
	    '\"' '\\' '\\n' '\\q' '\x00' '\x01' '\xc3\xa9' 5m 10s 250ms 1h 7d 0s 300 \
	    '{id}' ':{' 'key \"' 'entity user(id);' 'invalidates nothing;' \
	    'module m;' 'entity user { id : i64 primary; }' > $@

# A scratch copy of the corpus: libFuzzer adds what it finds to its first
# directory, and the checked-in one must stay as it is.
fuzz-short: fuzz-build
	@rm -rf $(FUZZ_DIR)/corpus-short $(FUZZ_DIR)/artifacts-short
	@mkdir -p $(FUZZ_DIR)/corpus-short $(FUZZ_DIR)/artifacts-short
	@cp $(FUZZ_SEEDS)/* $(FUZZ_DIR)/corpus-short/
	@echo "  FUZZ   $(FUZZER) for $(FUZZ_SHORT_TIME) s (log: $(FUZZ_DIR)/fuzz-short.log)"
	@if $(FUZZER) -max_total_time=$(FUZZ_SHORT_TIME) $(FUZZ_FLAGS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts-short/ $(FUZZ_DIR)/corpus-short \
	        > $(FUZZ_DIR)/fuzz-short.log 2>&1 && \
	    [ -z "$$(ls -A $(FUZZ_DIR)/artifacts-short)" ]; then \
	    echo "fuzz fuzz_hcachegen 1 0 0" >> $(FUZZ_RESULTS); \
	    echo "fuzz-short: passed ($$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz-short.log) runs)"; \
	else \
	    echo "fuzz fuzz_hcachegen 0 1 0" >> $(FUZZ_RESULTS); \
	    { echo "fuzz fuzz_hcachegen: FAILED on $$(ls $(FUZZ_DIR)/artifacts-short | tr '\n' ' ')(the end of $(FUZZ_DIR)/fuzz-short.log):"; \
	      grep -E '==ERROR|runtime error|^ *#[0-9] |^SUMMARY' $(FUZZ_DIR)/fuzz-short.log | head -n 12 | sed 's/^/    /'; } \
	        >> $(FUZZ_RESULTS:results.txt=failures.txt); \
	    tail -n 40 $(FUZZ_DIR)/fuzz-short.log; \
	    echo "fuzz-short: FAILED; the inputs that failed:"; \
	    ls $(FUZZ_DIR)/artifacts-short/*; \
	    echo "replay one with: HCG_FUZZ_STDERR=1 $(FUZZER) FILE"; \
	    exit 1; \
	fi

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
