# hydracache.mk -- make rules for .hcache files (installed in
# PREFIX/share/hydracache). Include it and list FOO.hc.c among your sources:
#
#     include $(shell pkg-config --variable=mkfile hydracache)
#     app: app.o shop.hc.o
#     app.o: shop.hc.h
#
# shop.hc.c and shop.hc.h are made from shop.hcache, beside it (in the same
# directory, wherever that is), by one run of hcachegen. hcachegen leaves an
# output alone when its content would not change, so nothing that includes
# it is rebuilt needlessly; the stamp file (shop.hc.stamp) records the run
# instead, and the dependency file (shop.hc.d) remakes it when the .hcache
# file, the --schema file or hcachegen changes. Deleting an output remakes
# it too (its stamp is then out of date).
#
#   HCACHEGEN        the generator (default: the installed one)
#   HCACHEGEN_FLAGS  extra options, e.g. --no-line, --schema db/schema.sql
#   HCACHE_DEPFILES  more dependency files to read, as wildcard patterns:
#                    those in this directory and up to three levels below
#                    it (*/*/*/*.hc.d) are read already; a .hcache file
#                    deeper down needs e.g. HCACHE_DEPFILES = src/*/*/*/*.hc.d
#                    (set it before the include)

HCACHEGEN ?= $(or $(shell pkg-config --variable=hcachegen hydracache 2>/dev/null),hcachegen)
HCACHEGEN_FLAGS ?=
HCACHE_DEPFILES ?=

%.hc.c %.hc.h: %.hc.stamp ;

%.hc.stamp: %.hcache
	$(HCACHEGEN) $(HCACHEGEN_FLAGS) --stamp $@ --depfile $*.hc.d -o $(@D) $<

.PRECIOUS: %.hc.stamp

# Where the dependency files and stamps are looked for.
hc__dirs := . * */* */*/*
hc__depfiles := $(sort $(wildcard $(hc__dirs:%=%/*.hc.d) $(HCACHE_DEPFILES)))
hc__stamps := $(sort $(wildcard $(hc__dirs:%=%/*.hc.stamp) $(HCACHE_DEPFILES:.hc.d=.hc.stamp)))
# A stamp whose outputs are not both there (one was deleted since) is out of
# date whatever its time: hc__force, which never exists, makes it so.
hc__orphans := $(foreach s,$(hc__stamps),$(if $(and $(wildcard $(s:.stamp=.c)),$(wildcard $(s:.stamp=.h))),,$(s)))

# The rules below and in the dependency files must not become the default
# goal.
hc__goal := $(.DEFAULT_GOAL)
-include $(hc__depfiles)
ifneq ($(hc__orphans),)
$(hc__orphans): hc__force
endif
.PHONY: hc__force
hc__force: ;
.DEFAULT_GOAL := $(hc__goal)
