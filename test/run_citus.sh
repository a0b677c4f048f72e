#!/usr/bin/env bash
#
# test/run_citus.sh: the body of `make test-citus` (issue 28).  Starts the
# test servers with MONGO_ETL_CITUS=1 (a Citus coordinator on the test
# PostgreSQL port and two workers, see test/citus.sh), builds and installs
# the extension, creates it on every node, loads the fixture and runs
# sql/citus.sql in database postgres, where the citus extension is, then
# test/citus_kill.py.
# Exits non-zero on any failure.
#
# PG=17                    run it on that PostgreSQL, built from Debian's
#                          source package by test/build_postgres.sh (with
#                          Citus 13.2.2; PG=18 with Citus 14.0.1); default:
#                          Debian 12's PostgreSQL 15
# The servers' settings (ports, MONGO_URI) are test/servers.sh's.
#
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PG:-}" ]; then
	PG_CONFIG=$(bash test/build_postgres.sh "$PG")
	export PG_CONFIG
fi

export MONGO_ETL_CITUS=1
exports=$(bash test/servers.sh start)
eval "$exports"
trap 'bash test/servers.sh stop' EXIT
echo "PostgreSQL: $(psql -XAtc 'SELECT version()')"
echo "Citus: $(psql -XAtc 'SELECT citus_version()')"

# objects built against another PostgreSQL must not be linked in
make clean >/dev/null
make COPT="-Wall -Wextra -Wno-unused-parameter -Werror"
make install
# the version just installed, on the coordinator and (by Citus) on the
# workers: servers.sh created the one installed before, if there was one
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "DROP EXTENSION IF EXISTS mongo_etl CASCADE" -c "CREATE EXTENSION mongo_etl"

/usr/bin/python3 test/fixtures.py big "$MONGO_URI" mongo_etl_citus big 20000

# the citus extension is in database postgres on every node: pg_regress
# uses it as it is rather than making a database of its own
if ! make installcheck REGRESS=citus REGRESS_OPTS="--use-existing --dbname=postgres"; then
	cat regression.diffs >&2 || true
	exit 1
fi
# a worker of a parallel load terminated, and the load resumed
/usr/bin/python3 test/citus_kill.py
echo "citus: passed"
