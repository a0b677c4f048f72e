#!/usr/bin/env bash
#
# test/citus.sh build | start | stop
#
# Citus, for the tests of loads into distributed tables (issue 28): the
# suite's PostgreSQL cluster becomes the coordinator and this script adds
# two worker clusters of the same PostgreSQL.  test/servers.sh calls it
# when MONGO_ETL_CITUS=1.
#
# build    builds Citus for the PostgreSQL whose pg_config is $PG_CONFIG
#          (else Debian's PostgreSQL 15), once per source: Citus 13.2.2
#          for PostgreSQL 15 to 17, 14.0.1 for 18, installed into a
#          staging tree kept under $MONGO_ETL_CACHE/citus/KEY, KEY a
#          checksum of the source, the PostgreSQL and this recipe's
#          revision; then copies its files into that PostgreSQL (citus.so,
#          citus_columnar.so, the extension scripts: files of their own,
#          next to mongo_etl's) unless they are there already.
# start    starts the two workers (ports $MONGO_ETL_CITUS_PORT and the
#          next), creates the citus extension in database postgres on the
#          coordinator (port $MONGO_ETL_PGPORT, already running) and on
#          both workers, registers the coordinator's address and the
#          workers, and creates mongo_etl there too if it is installed
#          (Citus creates it on the workers as well).
# stop     stops the workers.
#
# Sources come from $MONGO_ETL_VENDOR (default ../shared/vendor, next to
# the repository) when it holds them, else from the upstream release URLs,
# and are kept in $MONGO_ETL_CACHE/citus/downloads for later runs.
#
# Settings: MONGO_ETL_TEST_DIR (state; this script uses its citus/
# folder), MONGO_ETL_PGPORT (the coordinator, 54315),
# MONGO_ETL_CITUS_PORT (the first worker, default the coordinator's port
# + 10: 54325 and 54326, clear of DocumentDB's 54316 and the benchmark's
# 54316 and 54317), MONGO_ETL_CACHE (/var/tmp/mongo_etl),
# MONGO_ETL_VENDOR.
#
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
state=${MONGO_ETL_TEST_DIR:-/tmp/mongo_etl_test}/citus
pgport=${MONGO_ETL_PGPORT:-54315}
workerport=${MONGO_ETL_CITUS_PORT:-$((pgport + 10))}
workerports=("$workerport" "$((workerport + 1))")
cache=${MONGO_ETL_CACHE:-/var/tmp/mongo_etl}/citus
vendor=${MONGO_ETL_VENDOR:-$here/../../shared/vendor}
recipe_revision=2

pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
if [ "$pg_config" = pg_config ]; then
	pg_config=/usr/lib/postgresql/15/bin/pg_config
fi
pgbin=$("$pg_config" --bindir)
pgmajor=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

# Citus 13 supports PostgreSQL 15 to 17, Citus 14 16 to 18
if [ "$pgmajor" -ge 18 ]; then
	citus_version=14.0.1
else
	citus_version=13.2.2
fi
citus_tarball=citus-$citus_version.tar.gz
citus_url=https://github.com/citusdata/citus/archive/refs/tags/v$citus_version.tar.gz

# lz4 and zstd for columnar's compression, which Citus's configure wants
# unless told otherwise; it is built without libcurl (which only sends
# Citus's anonymous usage statistics)
packages=(build-essential pkg-config liblz4-dev libzstd-dev curl)
if [ "$pgmajor" = 15 ]; then
	packages+=(postgresql-15 postgresql-server-dev-15)
fi

log() { echo "citus.sh: $*" >&2; }

# shellcheck source=packages.sh
source "$here/packages.sh"

# the source tarball's path in the cache, put there the first time: copied
# from the vendor folder, or downloaded.  Kept, so that a clone of the
# project elsewhere on the machine, without the vendor folder next to it,
# finds the source too.
source_path() {
	mkdir -p "$cache/downloads"
	if [ ! -f "$cache/downloads/$citus_tarball" ]; then
		if [ -f "$vendor/$citus_tarball" ]; then
			cp "$vendor/$citus_tarball" "$cache/downloads/$citus_tarball.part"
		else
			log "downloading $citus_url"
			curl -fsSL -o "$cache/downloads/$citus_tarball.part" "$citus_url"
		fi
		mv "$cache/downloads/$citus_tarball.part" "$cache/downloads/$citus_tarball"
	fi
	echo "$cache/downloads/$citus_tarball"
}

# runs "$@" at low priority, its output into log file $1
quietly() {
	local logfile=$1
	shift
	if ! nice -n 10 "$@" >>"$logfile" 2>&1; then
		log "failed: $* (last lines of $logfile:)"
		tail -30 "$logfile" >&2
		exit 1
	fi
}

# builds into $cache/KEY/root (the files at their installed paths) unless
# there already; prints $cache/KEY
build() {
	install_packages "${packages[@]}"
	local tarball key
	tarball=$(source_path)
	# the PostgreSQL's version and where it lives: the staging tree holds
	# absolute paths
	key=$({
		sha256sum "$tarball" | cut -d' ' -f1
		"$pg_config" --version
		"$pg_config" --pkglibdir
		echo "recipe $recipe_revision"
	} | sha256sum | cut -c1-16)
	local dest=$cache/$key
	if [ -f "$dest/complete" ]; then
		echo "$dest"
		return
	fi
	local started=$SECONDS
	log "building Citus $citus_version for $("$pg_config" --version) into $dest (about 2 minutes on 2 cores)"
	local work=$cache/build-$key
	rm -rf "$work" "$dest"
	mkdir -p "$work/src" "$dest"
	local buildlog=$work/build.log
	log "build log: $buildlog"
	tar -xzf "$tarball" -C "$work/src" --strip-components=1
	# PostgreSQL 15.20 (Debian 12's) declares have_createdb_privilege(),
	# which Citus 13.2.2 defines as a static function of its own below 16,
	# and the build fails ("static declaration follows non-static"): where
	# the server declares it, Citus's copy is renamed out of the way
	if grep -q 'extern bool have_createdb_privilege' \
		"$("$pg_config" --includedir-server)/commands/dbcommands.h"; then
		sed -i 's/^have_createdb_privilege(void)$/citus_unused_have_createdb_privilege(void)/' \
			"$work/src/src/include/pg_version_compat.h"
	fi
	(
		cd "$work/src"
		quietly "$buildlog" ./configure PG_CONFIG="$pg_config" --without-libcurl
		quietly "$buildlog" make -j2
		quietly "$buildlog" make install DESTDIR="$dest/root"
	)
	chmod -R go+rX "$dest"
	touch "$dest/complete"
	rm -rf "$work"
	log "built in $((SECONDS - started)) s"
	echo "$dest"
}

# copies the staged files into the PostgreSQL they were built for, unless
# each is there already
install() {
	local dest root file
	dest=$(build)
	root=$dest/root
	while IFS= read -r -d '' file; do
		file=${file#"$root"}
		if ! cmp -s "$root$file" "$file"; then
			mkdir -p "$(dirname "$file")"
			cp "$root$file" "$file"
		fi
	done < <(find "$root" -type f -print0)
}

psql_at() {
	local port=$1
	shift
	runuser -u postgres -- "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$port" -d postgres "$@"
}

start() {
	stop
	mkdir -p "$state"
	chmod 755 "$state"
	chown postgres: "$state"
	local i port
	for i in 0 1; do
		port=${workerports[$i]}
		local dir=$state/worker$((i + 1))
		runuser -u postgres -- "$pgbin/initdb" -D "$dir" -U postgres \
			--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log"
		cat >>"$dir/postgresql.conf" <<-EOF
			port = $port
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$state'
			fsync = off
			full_page_writes = off
			synchronous_commit = off
			max_worker_processes = 16
			shared_preload_libraries = 'citus'
		EOF
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir" -w \
			-l "$state/worker$((i + 1)).log" start >&2
	done
	# every node has the extension in the database the shell starts in;
	# the coordinator knows its own address (for the workers' connections
	# back to it, and for reference tables it keeps a copy of) and the
	# workers'
	for port in "$pgport" "${workerports[@]}"; do
		PGOPTIONS="-c client_min_messages=warning" \
			psql_at "$port" -c "CREATE EXTENSION citus" >&2
	done
	psql_at "$pgport" -c \
		"SELECT citus_set_coordinator_host('127.0.0.1', $pgport)" >/dev/null
	for port in "${workerports[@]}"; do
		psql_at "$pgport" -c \
			"SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
	done
	# mongo_etl where it is installed already (test/run_citus.sh then
	# builds, installs and creates it anew); Citus creates it on the
	# workers
	if psql_at "$pgport" -Atc \
		"SELECT 1 FROM pg_available_extensions WHERE name = 'mongo_etl'" |
		grep -qx 1; then
		psql_at "$pgport" -c "CREATE EXTENSION mongo_etl" >&2
	else
		log "mongo_etl is not installed in this PostgreSQL: not created"
	fi
	log "Citus $citus_version: coordinator on $pgport, workers on ${workerports[*]}"
}

stop() {
	local dir
	for dir in "$state"/worker*; do
		[ -f "$dir/postmaster.pid" ] || continue
		local pid
		pid=$(head -1 "$dir/postmaster.pid")
		kill -INT "$pid" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
	done
	rm -rf "$state"
}

case "${1:-}" in
build)
	install
	;;
start)
	start
	;;
stop)
	stop
	;;
*)
	echo "usage: $0 build | start | stop" >&2
	exit 2
	;;
esac
