#!/usr/bin/env bash
#
# test/run.sh: the body of `make test`.  On a fresh Debian 12 machine it
# installs what is missing, builds and installs the extension, starts a
# throwaway PostgreSQL 15 cluster and a MongoDB-compatible server (FerretDB)
# on 127.0.0.1, loads the fixtures, runs the pg_regress suite and stops the
# servers again.  Exits non-zero on any failure.
#
# MONGO_URI=...            run the suite against that MongoDB instead of
#                          the FerretDB this script starts
# MONGO_ETL_SERVER=documentdb
#                          run it against Microsoft's DocumentDB, built
#                          from source by test/documentdb.sh (cached
#                          under /var/tmp/mongo_etl/documentdb), with TLS
#                          and SCRAM-SHA-256; default ferretdb
# PG=17, PG=18            run it all on that PostgreSQL, built from Debian's
#                          source package by test/build_postgres.sh (cached
#                          under /var/tmp/mongo_etl/pg); default: Debian
#                          12's PostgreSQL 15
# MONGO_ETL_VALGRIND=1     run the PostgreSQL server under valgrind, and
#                          fail if valgrind reports an error in mongo_etl,
#                          libmongoc or libbson
#
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${MONGO_ETL_VALGRIND:-}" ]; then
	command -v valgrind >/dev/null || {
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
	}
	valgrind_logs=$(mktemp -d /tmp/mongo_etl_valgrind.XXXXXX)
	chmod 777 "$valgrind_logs"
	# the suite's helper programs (python via COPY FROM PROGRAM) run natively
	vg="valgrind --quiet --trace-children=yes --num-callers=40 --error-limit=no"
	vg="$vg --trace-children-skip=*/python3*,*/sh,*/bash"
	# PostgreSQL's own padding bytes; full source paths, so that a frame
	# of this repository's write.c is not glibc's
	vg="$vg --suppressions=$(pwd)/test/valgrind.supp --fullpath-after="
	export MONGO_ETL_PG_WRAPPER="$vg --log-file=$valgrind_logs/%p.log"
fi

if [ -n "${PG:-}" ]; then
	PG_CONFIG=$(bash test/build_postgres.sh "$PG")
	export PG_CONFIG
fi

# servers.sh prints only export lines on stdout; everything else is stderr
exports=$(bash test/servers.sh start)
eval "$exports"
trap 'bash test/servers.sh stop' EXIT
echo "PostgreSQL: $(psql -XAtc 'SELECT version()')"

# objects built against another PostgreSQL must not be linked in
make clean >/dev/null
make COPT="-Wall -Wextra -Wno-unused-parameter -Werror"
make install

fixtures=(test/fixtures/*.json)
/usr/bin/python3 test/fixtures.py load "$MONGO_URI" mongo_etl_regress "${fixtures[@]}"
/usr/bin/python3 test/fixtures.py big "$MONGO_URI" mongo_etl_regress big 20000
/usr/bin/python3 test/fixtures.py load "$MONGO_URI" mongo_etl_import \
	test/fixtures/import/*.json
# mongodump-style files, readable by the server's operating system user
# (fixtures/dump-only holds values the test server cannot store)
/usr/bin/python3 test/fixtures.py dump "$MONGO_ETL_TEST_DIR/dump/regress" \
	"${fixtures[@]}" test/fixtures/dump-only/*.json
chown -R postgres: "$MONGO_ETL_TEST_DIR/dump"
# DocumentDB stores what FerretDB cannot: sql/dump.sql then also reads
# those files' documents, copied byte for byte, through the server
export MONGO_ETL_SERVER=${MONGO_ETL_SERVER:-ferretdb}
if [ "$MONGO_ETL_SERVER" = documentdb ]; then
	/usr/bin/python3 test/fixtures.py load "$MONGO_URI" mongo_etl_dumped \
		"$MONGO_ETL_TEST_DIR"/dump/regress/{special,numbers_special,exotic,everytype,jsonbshapes}.bson
fi

# the cron test needs pg_cron in this PostgreSQL; without it that test
# alone is skipped, and counted as skipped
regress=$(make -s print-regress)
skipped=0
if ! psql -XAtc "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'" |
	grep -qx 1; then
	regress=$(tr ' ' '\n' <<<"$regress" | grep -vx cron | tr '\n' ' ')
	skipped=1
	echo "skipped: cron (no pg_cron for $(psql -XAtc 'SHOW server_version'):" \
		"test/build_postgres.sh could not download Debian's pg-cron source" \
		"package)"
fi
if ! make installcheck REGRESS="$regress"; then
	cat regression.diffs >&2 || true
	exit 1
fi
# pg_regress succeeded, so every test whose output it wrote passed
passed=$(find results -name '*.out' | wc -l)

# the MongoDB server failing under a scan: stopped, killed, frozen,
# restarted; then SCRAM and TLS against a server that enforces both
# (timing bounds, so not under valgrind)
if [ -z "${MONGO_ETL_VALGRIND:-}" ]; then
	/usr/bin/python3 test/faults.py
	/usr/bin/python3 test/security.py
	# new connections after parallel loads and scans, and replies that
	# come in pieces (issue 30)
	/usr/bin/python3 test/reconnect.py
fi
# DocumentDB's own authentication: SCRAM-SHA-256 only, and the salts
# PostgreSQL makes, which libmongoc refuses
if [ "${MONGO_ETL_SERVER:-ferretdb}" = documentdb ]; then
	/usr/bin/python3 test/documentdb_auth.py
fi
echo "Covered through the MongoDB server ($MONGO_ETL_SERVER):" \
	"options, connections, scans, writes, and the types it stores" \
	"(sql/types.sql, scan.sql, write.sql, connection.sql)."
if [ "$MONGO_ETL_SERVER" = documentdb ]; then
	through="mongodump files and, copied byte for byte, through DocumentDB"
else
	through="mongodump files (FerretDB cannot store them)"
fi
echo "Covered through $through:" \
	"Decimal128, NaN and infinite doubles, nested arrays, repeated keys," \
	"symbols, undefined, dbPointer, zero bytes in strings, out-of-range dates" \
	"(sql/dump.sql)."


if [ -n "${MONGO_ETL_VALGRIND:-}" ]; then
	bash test/servers.sh stop
	trap - EXIT
	logs=("$valgrind_logs"/*.log)
	[ -e "${logs[0]}" ] || { echo "valgrind: no logs in $valgrind_logs" >&2; exit 1; }
	# a frame in one of this repository's files, or in its libraries
	ours=$(grep -l -F -e "($(pwd)/" -e libmongoc -e libbson "${logs[@]}" || true)
	others=$(grep -l -E '^==[0-9]+== [A-Z]' "${logs[@]}" | wc -l)
	echo "valgrind: $others processes with reports in PostgreSQL itself or glibc (see $valgrind_logs)"
	if [ -n "$ours" ]; then
		echo "valgrind: errors in mongo_etl, libmongoc or libbson:" >&2
		# shellcheck disable=SC2086
		cat $ours >&2
		exit 1
	fi
	echo "valgrind: no errors in mongo_etl, libmongoc or libbson"
fi
echo "pg_regress: $passed passed, 0 failed, $skipped skipped"
