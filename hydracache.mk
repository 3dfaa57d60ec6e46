# hydracache.mk -- make rules for .hcache files (installed in
# PREFIX/share/hydracache). Include it and list FOO.hc.c among your sources:
#
#     include $(shell pkg-config --variable=mkfile hydracache)
#     app: app.o shop.hc.o
#     app.o: shop.hc.h
#
# shop.hc.c and shop.hc.h are made from shop.hcache, beside it, by one run of
# hcachegen. hcachegen leaves an output alone when its content would not
# change, so nothing that includes it is rebuilt needlessly; the stamp file
# (shop.hc.stamp) records the run instead, and the dependency file
# (shop.hc.d) remakes it when the .hcache file or hcachegen changes.
#
#   HCACHEGEN        the generator (default: the installed one)
#   HCACHEGEN_FLAGS  extra options, e.g. --no-line

HCACHEGEN ?= $(or $(shell pkg-config --variable=hcachegen hydracache 2>/dev/null),hcachegen)
HCACHEGEN_FLAGS ?=

%.hc.c %.hc.h: %.hc.stamp ;

%.hc.stamp: %.hcache
	$(HCACHEGEN) $(HCACHEGEN_FLAGS) --stamp $@ --depfile $*.hc.d -o $(@D) $<

.PRECIOUS: %.hc.stamp

# The dependency files hold rules; they must not become the default goal.
hc__goal := $(.DEFAULT_GOAL)
-include $(wildcard *.hc.d)
.DEFAULT_GOAL := $(hc__goal)
