# Makefile for mongo_etl: a PGXS build of the extension, plus the two
# commands README.md documents (make demo, make test).

MODULE_big = mongo_etl
OBJS = \
	$(WIN32RES) \
	aggregate.o \
	analyze.o \
	bson_convert.o \
	bson_encode.o \
	bson_json.o \
	bson_value.o \
	bson_walk.o \
	connection.o \
	deparse.o \
	dump.o \
	estimate.o \
	import.o \
	library.o \
	load.o \
	lookup.o \
	modify.o \
	mongo_fdw_etl.o \
	option.o \
	parallel.o \
	prefetch.o \
	scan_parallel.o \
	scan_source.o \
	split.o \
	write.o
PGFILEDESC = "mongo_etl - MongoDB foreign data wrapper and loader"

EXTENSION = mongo_etl
DATA = mongo_etl--1.0.sql mongo_etl--1.0--1.1.sql mongo_etl--1.1--1.2.sql \
	mongo_etl--1.2--1.3.sql mongo_etl--1.3--1.4.sql

REGRESS = setup options upgrade types scan pushdown join analyze group lookup write modify encoding load parallel parallel_scan sync cron import dump connection
REGRESS_OPTS = --dbname=mongo_etl_regress

# libmongoc and libbson flags come from pkg-config; the first build on a
# fresh machine runs before they are installed, so stay quiet about that.
MONGOC_CFLAGS := $(shell pkg-config --cflags libmongoc-1.0 2>/dev/null)
MONGOC_LIBS := $(shell pkg-config --libs libmongoc-1.0 2>/dev/null)
PG_CPPFLAGS = $(MONGOC_CFLAGS)
SHLIB_LINK = $(MONGOC_LIBS) -lz

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# Link-time optimization with gcc (the compiler PostgreSQL was built
# with): converting a document calls from bson_convert.c into
# bson_value.c and bson_json.c for every value, which without it costs
# 1.4% more instructions than when the three were one file (callgrind,
# bench/RESULTS.md)
ifneq ($(findstring gcc,$(CC)),)
override CFLAGS += -flto=auto
endif

# every object depends on the shared declarations
$(OBJS): mongo_etl.h compat.h

.PHONY: test test-citus demo bench fuzz print-regress

# The regression tests' names, for test/run.sh
print-regress:
	@echo $(REGRESS)

# Installs missing packages, builds, installs, starts the test servers,
# runs the regression suite and stops the servers.  PG=17 or PG=18 does it
# all on that PostgreSQL, built from Debian's source package (cached under
# /var/tmp/mongo_etl/pg); the default is Debian 12's PostgreSQL 15.
test:
	PG=$(PG) bash test/run.sh

# Loads into distributed and reference tables on a Citus coordinator with
# two workers (MONGO_ETL_CITUS=1; Citus built from source once and cached
# under /var/tmp/mongo_etl/citus): sql/citus.sql, alone.
test-citus:
	PG=$(PG) bash test/run_citus.sh

# Runs the end-to-end demo on a fresh machine.
demo:
	bash test/demo.sh

# Measures mongo_etl against COPY and client-side ETL; writes
# bench/RESULTS.md.
bench:
	PG=$(PG) bash bench/run.sh

# Fuzzes the mongodump reader and the BSON converter with libFuzzer inside a
# single-user backend for FUZZ_SECONDS (default 300); fails on any crash.
fuzz:
	bash fuzz/run.sh
