# Makefile for the lsm extension (PGXS).
#
# Ordinary targets: all, install, clean (from PGXS).
# Project targets:
#   make test       install deps if missing, build with -Werror, install, run
#                   every suite (pg_regress, isolation, TAP) in throwaway
#                   clusters; prints "N passed, M failed" last.
#   make demo       build, install, start a throwaway cluster, load a sample
#                   workload, print a side-by-side summary; leaves it running.
#   make demo-stop  stop the demo cluster.
#   make test-core [AM=lsm]   run PostgreSQL's own regression suite with
#                   default_table_access_method = AM (also: make test-core heap).
#   make bench      benchmark suite (see doc/benchmarks.md).

EXTENSION = lsm
MODULE_big = lsm
EXTVERSION = 0.1

SRCS = $(sort $(wildcard $(srcdir)/src/common/*.c)) \
	   $(sort $(wildcard $(srcdir)/src/lsm/*.c)) \
	   $(sort $(wildcard $(srcdir)/src/xhash/*.c)) \
	   $(sort $(wildcard $(srcdir)/src/zonemap/*.c)) \
	   $(sort $(wildcard $(srcdir)/src/bitmap/*.c))
OBJS = $(patsubst $(srcdir)/%.c,%.o,$(SRCS))

# The install script lives in src/ so that it cannot clash with sql/ tests.
DATA = src/lsm--$(EXTVERSION).sql
PGFILEDESC = "lsm - LSM table access method and index access methods"

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -llz4

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Stricter warnings for our own code; -Werror is added by "make test" via COPT.
override CFLAGS += -Wextra -Wno-unused-parameter

# The server's PGXS is built without dependency tracking (autodepend), so a
# changed header would leave stale objects behind: rebuild them all.
HEADERS_OWN = $(wildcard $(srcdir)/src/*/*.h)
$(OBJS) $(patsubst %.o,%.bc,$(OBJS)): $(HEADERS_OWN)

.PHONY: test demo demo-stop test-core bench
test:
	$(srcdir)/test/scripts/run_tests.sh

demo:
	$(srcdir)/test/scripts/demo.sh

demo-stop:
	$(srcdir)/test/scripts/demo.sh stop

# "make test-core" or "make test-core heap" or "make test-core AM=heap"
test-core:
	$(srcdir)/test/scripts/test_core.sh $(or $(AM),$(filter-out test-core,$(MAKECMDGOALS)),lsm)

bench:
	$(srcdir)/test/scripts/bench.sh $(SCALE)

# Allow "make test-core heap" without make complaining about a "heap" target.
ifneq ($(filter test-core,$(MAKECMDGOALS)),)
heap lsm:
	@:
endif
