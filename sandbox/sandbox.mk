# sandbox/sandbox.mk -- hcache-sandbox, the lab server. Included by the
# Makefile; uses its variables (B, ALL_CFLAGS, ALL_LIBS_A, OBS_A, HCACHEGEN,
# LDLIBS).
#
#   make sandbox            build it and start it on the memory profile
#   make sandbox-pg         the same on a throwaway PostgreSQL (scripts/pg.sh)
#   make sandbox-client     write sandbox/openapi/client.js again from the
#                           server's OpenAPI document (commit the result)
#   make sandbox-check-run  the HTTP test suite and the browser tests (make
#                           check runs them)
#   make sandbox-browser-run  the browser tests alone (chromium, playwright-core)
#   make sandbox-screenshots  the README's pictures of the console, written
#                           again into docs/images (commit them)
#
# The domain (sandbox/sandbox.hcache) is turned into C by the hcachegen just
# built, checked against the SQLite migration, into $(B)/sandbox/gen.

SB_SRC     := $(wildcard sandbox/*.c)
SB_GEN     := $(B)/sandbox/gen
SB_OBJ     := $(SB_SRC:%.c=$(B)/%.o) $(SB_GEN)/sandbox.hc.o
SANDBOX    := $(B)/hcache-sandbox
SB_SCHEMA  := sandbox/migrations/sqlite/001_init.sql
# libmicrohttpd-dev, libjansson-dev, libyaml-dev (scripts/deps.sh build).
SB_LIBS    := -lmicrohttpd -ljansson -lyaml
# The source tree's sandbox/ is where an uninstalled server finds its
# scenarios, migrations and seeds; an installed one looks beside itself.
SB_CFLAGS   = $(ALL_CFLAGS) -Iruntime/include -Isandbox -I$(SB_GEN) $(DB_CFLAGS) \
              -DSB_SOURCE_DIR='"$(abspath sandbox)"'
SB_SHARE   := share/hydracache/sandbox
# The pages (static.c serves them): the console under ui/, its Swagger UI
# page under ui/swagger/, and the two files of swagger-ui-dist it uses
# (npm: scripts/sandbox-npm.sh), with that package's licence and notice.
SB_UI         := $(wildcard sandbox/ui/*.html sandbox/ui/*.css sandbox/ui/*.svg)
SB_UI_JS      := $(wildcard sandbox/ui/js/*.js)
SB_UI_SWAGGER := $(wildcard sandbox/ui/swagger/*)
SB_SWAGGER    := sandbox/node_modules/swagger-ui-dist
SB_SWAGGER_FILES := swagger-ui.css swagger-ui-bundle.js LICENSE NOTICE

.PHONY: sandbox sandbox-pg sandbox-bin sandbox-client sandbox-check-run sandbox-install sandbox-uninstall \
        sandbox-npm sandbox-browser-run sandbox-screenshots

all: $(SANDBOX)
install: sandbox-install
uninstall: sandbox-uninstall

sandbox-bin: $(SANDBOX)

$(SB_GEN)/sandbox.hc.c $(SB_GEN)/sandbox.hc.h &: sandbox/sandbox.hcache $(SB_SCHEMA) $(HCACHEGEN)
	$(call msg,HCGEN,$<)
	@mkdir -p $(SB_GEN)
	$(Q)$(HCACHEGEN) --schema $(SB_SCHEMA) -o $(SB_GEN) $<

$(B)/sandbox/%.o: sandbox/%.c $(SB_GEN)/sandbox.hc.h $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SB_CFLAGS) -c $< -o $@

# Generated code is held to -Wconversion as well.
$(SB_GEN)/sandbox.hc.o: $(SB_GEN)/sandbox.hc.c $(SB_GEN)/sandbox.hc.h $(FLAGS_STAMP)
	$(call msg,CC,$<)
	$(Q)$(CC) $(SB_CFLAGS) -Wconversion -c $< -o $@

$(SANDBOX): $(SB_OBJ) $(OBS_A) $(ALL_LIBS_A)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SB_OBJ) $(OBS_A) $(ALL_LIBS_A) -o $@ $(SB_LIBS) $(LDLIBS)

# Swagger UI comes from npm (Debian does not ship it): without npm, or
# offline, the sandbox still runs and /swagger-ui says what is missing.
sandbox-npm:
	@scripts/sandbox-npm.sh || echo "sandbox: Swagger UI is not installed (scripts/sandbox-npm.sh failed); the console works without it" >&2

sandbox: all sandbox-npm
	@exec $(SANDBOX) --profile memory

sandbox-pg: all sandbox-npm
	@scripts/deps.sh pg
	@scripts/pg.sh run sh -c 'exec $(SANDBOX) --profile postgres --database-url "$$HC_PG_CONNINFO"'

sandbox-client: $(SANDBOX)
	$(Q)$(SANDBOX) --print-client > sandbox/openapi/client.js.tmp && mv sandbox/openapi/client.js.tmp sandbox/openapi/client.js
	@echo "sandbox/openapi/client.js written"

# The suite starts the release server on memory, sqlite-file and (with
# HC_PG_CONNINFO) PostgreSQL, and the ASan+UBSan and TSan builds under load; it also
# validates the OpenAPI document with the npm validator of sandbox/package.json
# and checks that the committed client is current. Also compiles the server
# with clang. One results line for scripts/test-summary.sh. Then the
# browser tests (sandbox-browser-run), their own results line.
sandbox-check-run: $(SANDBOX)
	@st=0; failed=""; \
	$(MAKE) --no-print-directory CC=clang sandbox-bin || { st=1; failed="$$failed --failed-step clang-build"; }; \
	$(MAKE) --no-print-directory SANITIZE=address,undefined OPT=-O1 sandbox-bin || \
	    { st=1; failed="$$failed --failed-step asan-build"; }; \
	$(MAKE) --no-print-directory SANITIZE=thread OPT=-O1 sandbox-bin || \
	    { st=1; failed="$$failed --failed-step tsan-build"; }; \
	scripts/sandbox-npm.sh || { st=1; failed="$$failed --failed-step npm-install"; }; \
	python3 sandbox/tests/http_test.py --server $(SANDBOX) \
	    --asan-server build/address-undefined/hcache-sandbox \
	    --tsan-server build/thread/hcache-sandbox \
	    --results build/release/sandbox-results.txt $$failed || st=1; \
	$(MAKE) --no-print-directory sandbox-browser-run || st=1; \
	exit $$st

# The pages in Debian's chromium, headless, driven by playwright-core
# (sandbox/tests/browser_test.mjs): about half a minute.
sandbox-browser-run: $(SANDBOX)
	@rm -f build/release/browser-results.txt build/release/browser-failures.txt
	@scripts/sandbox-npm.sh
	@node sandbox/tests/browser_test.mjs --server $(SANDBOX) --results build/release/browser-results.txt

sandbox-screenshots: $(SANDBOX)
	@scripts/sandbox-npm.sh
	@node sandbox/tests/browser_test.mjs --server $(SANDBOX) --screenshots docs/images

sandbox-install: $(SANDBOX)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/$(SB_SHARE)/scenarios \
	    $(DESTDIR)$(PREFIX)/$(SB_SHARE)/migrations/sqlite $(DESTDIR)$(PREFIX)/$(SB_SHARE)/migrations/postgres \
	    $(DESTDIR)$(PREFIX)/$(SB_SHARE)/seeds/sqlite $(DESTDIR)$(PREFIX)/$(SB_SHARE)/seeds/postgres \
	    $(DESTDIR)$(PREFIX)/$(SB_SHARE)/openapi
	install -m 755 $(SANDBOX) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 sandbox/sandbox.env $(DESTDIR)$(PREFIX)/$(SB_SHARE)/
	install -m 644 sandbox/openapi/client.js $(DESTDIR)$(PREFIX)/$(SB_SHARE)/openapi/
	install -m 644 $(wildcard sandbox/scenarios/*.json sandbox/scenarios/*.yaml) $(DESTDIR)$(PREFIX)/$(SB_SHARE)/scenarios/
	for d in migrations/sqlite migrations/postgres seeds/sqlite seeds/postgres; do \
	    install -m 644 sandbox/$$d/*.sql $(DESTDIR)$(PREFIX)/$(SB_SHARE)/$$d/ || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/$(SB_SHARE)/ui/js $(DESTDIR)$(PREFIX)/$(SB_SHARE)/ui/swagger
	install -m 644 $(SB_UI) $(DESTDIR)$(PREFIX)/$(SB_SHARE)/ui/
	install -m 644 $(SB_UI_JS) $(DESTDIR)$(PREFIX)/$(SB_SHARE)/ui/js/
	install -m 644 $(SB_UI_SWAGGER) $(DESTDIR)$(PREFIX)/$(SB_SHARE)/ui/swagger/
	@if scripts/sandbox-npm.sh; then \
	    install -d $(DESTDIR)$(PREFIX)/$(SB_SHARE)/swagger-ui && \
	    for f in $(SB_SWAGGER_FILES); do \
	        install -m 644 $(SB_SWAGGER)/$$f $(DESTDIR)$(PREFIX)/$(SB_SHARE)/swagger-ui/ || exit 1; done; \
	else \
	    echo "sandbox-install: warning: Swagger UI not installed (scripts/sandbox-npm.sh failed); /swagger-ui will say so" >&2; \
	fi

sandbox-uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/hcache-sandbox
	rm -rf $(DESTDIR)$(PREFIX)/$(SB_SHARE)

-include $(SB_OBJ:.o=.d)
