#!/usr/bin/env bash
#
# test/servers.sh start [--postgres-only] | stop
#
# Starts (or stops) the servers mongo_etl's tests and demo run against: a
# throwaway PostgreSQL cluster and a MongoDB-compatible server, both
# listening on 127.0.0.1 only.  The MongoDB server is FerretDB 1.24.2 with
# its SQLite backend, or with MONGO_ETL_SERVER=documentdb Microsoft's
# DocumentDB, built from source by test/documentdb.sh (cached), which
# enforces TLS and SCRAM-SHA-256: its MONGO_URI carries the test user's
# name and password and names the CA file, as PyMongo and libmongoc take
# them (the tests move the credentials into user mappings).  `start`
# first installs whatever is missing on a Debian 12 machine, and then prints
# only `export` lines on stdout, so that
#
#     eval "$(test/servers.sh start)"
#
# sets PGHOST PGPORT PGUSER PGDATABASE MONGO_URI and MONGO_ETL_TEST_DIR.
# A MONGO_URI already set by the caller is kept, and no FerretDB is started:
# that runs everything against another MongoDB.  With --postgres-only, no
# FerretDB is started and MONGO_URI is not printed (the benchmark, which
# reads from its own replay servers, needs only PostgreSQL).
#
# The cluster is of the PostgreSQL whose pg_config is $PG_CONFIG (as
# test/build_postgres.sh prints it), else Debian's PostgreSQL 15.
#
# With MONGO_ETL_CITUS=1 that cluster is a Citus coordinator with two
# worker clusters of the same PostgreSQL (test/citus.sh: Citus built from
# source once, cached under /var/tmp/mongo_etl/citus), the citus extension
# created and the workers registered in database postgres, and mongo_etl
# created there too when it is installed; the export lines point at the
# coordinator.
#
# Settings: MONGO_ETL_SERVER (ferretdb or documentdb), MONGO_ETL_TEST_DIR
# (state, default /tmp/mongo_etl_test), MONGO_ETL_PGPORT (54315),
# MONGO_ETL_MONGOPORT (27117), MONGO_ETL_DOCUMENTDB_PGPORT (DocumentDB's
# own PostgreSQL cluster, 54316), MONGO_ETL_CITUS (1: Citus),
# MONGO_ETL_CITUS_PORT (the first Citus worker's port, the next one the
# second's; default MONGO_ETL_PGPORT + 10, 54325), MONGO_ETL_TOOLS
# (where the FerretDB binary is kept, /var/tmp/mongo_etl/bin), and
# MONGO_ETL_PG_WRAPPER (a command to run postgres under, e.g. valgrind).
#
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${MONGO_ETL_TEST_DIR:-/tmp/mongo_etl_test}
pgport=${MONGO_ETL_PGPORT:-54315}
mongoport=${MONGO_ETL_MONGOPORT:-27117}
tools=${MONGO_ETL_TOOLS:-/var/tmp/mongo_etl/bin}
pgbin=/usr/lib/postgresql/15/bin
pglib=/usr/lib/postgresql/15/lib
if [ -n "${PG_CONFIG:-}" ] && [ "$PG_CONFIG" != pg_config ]; then
	pgbin=$("$PG_CONFIG" --bindir)
	pglib=$("$PG_CONFIG" --pkglibdir)
fi
ferretdb_version=v1.24.2
server=${MONGO_ETL_SERVER:-ferretdb}
citus=${MONGO_ETL_CITUS:-}
case "$server" in
ferretdb | documentdb) ;;
*)
	echo "servers.sh: MONGO_ETL_SERVER must be ferretdb or documentdb, not $server" >&2
	exit 2
	;;
esac
packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libmongoc-dev libbson-dev python3-pymongo python3-psycopg2 pkg-config
	make gcc zlib1g-dev openssl)

log() { echo "servers.sh: $*" >&2; }

# shellcheck source=packages.sh
source "$(dirname "$0")/packages.sh"

# FerretDB, built from the Go module proxy.  The module's zip lacks the
# generated build/version/version.txt, without which the binary panics at
# start; vendoring the module and adding the file is the supported way to
# build it outside its own repository.
# (its --version output is read whole: grep -q closing the pipe early
# would fail the pipeline under pipefail)
ferretdb_installed() {
	local out
	out=$("$tools/ferretdb" --version 2>/dev/null) || return 1
	grep -qx "version: $ferretdb_version" <<<"$out"
}

install_ferretdb() {
	if ferretdb_installed; then
		return
	fi
	if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
		export PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null || { log "go is needed to build FerretDB"; exit 1; }
	log "building FerretDB $ferretdb_version (about a minute)"
	local build
	build=$(mktemp -d)
	cp "$here/ferretdb/go.mod" "$here/ferretdb/go.sum" "$build/"
	(
		cd "$build"
		export GOFLAGS=-mod=mod
		grep -q '^tool github.com/FerretDB/FerretDB/cmd/ferretdb' go.mod ||
			go get -tool "github.com/FerretDB/FerretDB/cmd/ferretdb@$ferretdb_version"
		go mod vendor
		echo "$ferretdb_version" >vendor/github.com/FerretDB/FerretDB/build/version/version.txt
		mkdir -p "$tools"
		GOFLAGS=-mod=vendor GOBIN="$tools" go install github.com/FerretDB/FerretDB/cmd/ferretdb
	) >&2
	rm -rf "$build"
	ferretdb_installed || { log "the FerretDB build does not run"; exit 1; }
}

start_postgres() {
	mkdir -p "$state"
	chmod 755 "$state"
	chown postgres: "$state"
	runuser -u postgres -- "$pgbin/initdb" -D "$state/pg" -U postgres \
		--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log"
	cat >>"$state/pg/postgresql.conf" <<-EOF
		port = $pgport
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$state'
		fsync = off
		full_page_writes = off
		synchronous_commit = off
		max_worker_processes = 16
	EOF
	# pg_cron, for the test that schedules mongo_etl.sync: its jobs run in
	# their own database, as background workers.  Citus must come first.
	local preload=()
	if [ -n "$citus" ]; then
		preload+=(citus)
	fi
	if [ -e "$pglib/pg_cron.so" ]; then
		preload+=(pg_cron)
		cat >>"$state/pg/postgresql.conf" <<-EOF
			cron.database_name = 'mongo_etl_cron'
			cron.use_background_workers = on
		EOF
	fi
	if [ ${#preload[@]} -gt 0 ]; then
		# (IFS in a subshell: a local one would split every later
		# word of this function on commas)
		(
			IFS=,
			echo "shared_preload_libraries = '${preload[*]}'"
		) >>"$state/pg/postgresql.conf"
	fi
	local wrapper=()
	if [ -n "${MONGO_ETL_PG_WRAPPER:-}" ]; then
		read -r -a wrapper <<<"$MONGO_ETL_PG_WRAPPER"
		# the wrapper runs postgres itself, in the background
		runuser -u postgres -- setsid "${wrapper[@]}" "$pgbin/postgres" \
			-D "$state/pg" >"$state/postgres.log" 2>&1 </dev/null &
		for _ in $(seq 1 120); do
			if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pgport"; then
				create_cron_database
				return
			fi
			sleep 1
		done
		log "PostgreSQL did not start under $MONGO_ETL_PG_WRAPPER"
		tail -20 "$state/postgres.log" >&2
		exit 1
	fi
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$state/pg" -w \
		-l "$state/postgres.log" start >&2
	create_cron_database
}

# pg_cron's launcher waits for its database and connects once it exists
create_cron_database() {
	runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" \
		mongo_etl_cron >&2
}

start_ferretdb() {
	mkdir -p "$state/ferretdb"
	(
		cd "$state/ferretdb"
		DO_NOT_TRACK=1 setsid "$tools/ferretdb" --handler=sqlite \
			--sqlite-url="file:$state/ferretdb/" \
			--listen-addr="127.0.0.1:$mongoport" --debug-addr=- \
			--telemetry=disable --state-dir="$state/ferretdb" \
			--log-level=warn >"$state/ferretdb.log" 2>&1 </dev/null &
		echo $! >"$state/ferretdb.pid"
	)
	for _ in $(seq 1 30); do
		if /usr/bin/python3 -c "import pymongo, sys
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command('ping')" \
			"mongodb://127.0.0.1:$mongoport/" 2>/dev/null; then
			return
		fi
		sleep 1
	done
	log "FerretDB did not answer on 127.0.0.1:$mongoport"
	tail -20 "$state/ferretdb.log" >&2
	exit 1
}

# DocumentDB's gateway on the MongoDB port and its PostgreSQL cluster;
# prints the MONGO_URI of its test user
documentdb() {
	MONGO_ETL_TEST_DIR=$state MONGO_ETL_MONGOPORT=$mongoport \
		bash "$here/documentdb.sh" "$@"
}

# Citus's workers next to the coordinator
citus() {
	MONGO_ETL_TEST_DIR=$state MONGO_ETL_PGPORT=$pgport bash "$here/citus.sh" "$@"
}

stop() {
	if [ -d "$state/documentdb" ]; then
		documentdb stop
	fi
	if [ -d "$state/citus" ]; then
		citus stop
	fi
	# by signal, so that a cluster of another version stops too
	if [ -f "$state/pg/postmaster.pid" ]; then
		local pid
		pid=$(head -1 "$state/pg/postmaster.pid")
		kill -INT "$pid" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
	fi
	if [ -f "$state/ferretdb.pid" ]; then
		kill "$(cat "$state/ferretdb.pid")" 2>/dev/null || true
		for _ in $(seq 1 20); do
			kill -0 "$(cat "$state/ferretdb.pid")" 2>/dev/null || break
			sleep 0.5
		done
	fi
	rm -rf "$state"
}

case "${1:-}" in
start)
	install_packages "${packages[@]}"
	stop
	if [ -n "$citus" ]; then
		# built (or found in the cache) and installed into this
		# PostgreSQL before the coordinator starts with it preloaded
		citus build
	fi
	start_postgres
	if [ -n "$citus" ]; then
		citus start
	fi
	if [ "${2:-}" != --postgres-only ] && [ -z "${MONGO_URI:-}" ]; then
		if [ "$server" = documentdb ]; then
			MONGO_URI=$(documentdb start)
			# test/faults.py and test/security.py start FerretDBs of
			# their own, whichever server the suite reads
			install_ferretdb
		else
			install_ferretdb
			start_ferretdb
			MONGO_URI="mongodb://127.0.0.1:$mongoport/"
		fi
	fi
	cat <<-EOF
		export PGHOST=127.0.0.1
		export PGPORT=$pgport
		export PGUSER=postgres
		export PGDATABASE=postgres
		export MONGO_ETL_TEST_DIR='$state'
	EOF
	if [ "${2:-}" != --postgres-only ]; then
		echo "export MONGO_URI='$MONGO_URI'"
	fi
	;;
stop)
	stop
	;;
*)
	echo "usage: $0 start [--postgres-only] | stop" >&2
	exit 2
	;;
esac
