#!/usr/bin/env bash
#
# test/documentdb.sh build | start | stop
#
# Microsoft DocumentDB as the suite's second MongoDB server: its
# PostgreSQL extensions (pg_documentdb_core, pg_documentdb) in a
# PostgreSQL 15 cluster of their own, and its Rust gateway speaking the
# MongoDB wire protocol, with TLS and SCRAM-SHA-256 enforced.
# test/servers.sh calls it when MONGO_ETL_SERVER=documentdb.
#
# build  builds what is missing, once per source: libbson 1.28.0 (a
#        private prefix; mongo_etl itself links Debian's libmongoc),
#        pgvector 0.8.0, the two extensions and the gateway.  The
#        extensions are installed into a copy of Debian's PostgreSQL 15
#        tree (binaries, libraries, share), so the system's PostgreSQL is
#        left as it is.  All of it is kept under
#        $MONGO_ETL_CACHE/documentdb/KEY, KEY being a checksum of the
#        sources, the PostgreSQL version and this recipe's revision.
# start  builds if needed, makes a CA and a server certificate, starts
#        the cluster and the gateway, creates the test user, and prints
#        the MONGO_URI for it on stdout (all else goes to stderr).
# stop   stops both.
#
# Sources come from $MONGO_ETL_VENDOR (default ../shared/vendor, next to
# the repository) when it holds them, else from the upstream release URLs,
# and are kept in $MONGO_ETL_CACHE/documentdb/downloads for later runs;
# pgvector, which Debian 12 does not package, from Debian trixie's source
# package (apt with a sources list of its own), else from its release.
#
# Settings: MONGO_ETL_TEST_DIR (state; this script uses its documentdb/
# folder), MONGO_ETL_MONGOPORT (the gateway, 27117),
# MONGO_ETL_DOCUMENTDB_PGPORT (DocumentDB's own cluster, 54316),
# MONGO_ETL_CACHE (/var/tmp/mongo_etl), MONGO_ETL_VENDOR,
# MONGO_ETL_DOCUMENTDB_TLS (on, the default; off: the gateway without TLS,
# a MONGO_URI without tls=true).
#
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
state=${MONGO_ETL_TEST_DIR:-/tmp/mongo_etl_test}/documentdb
gwport=${MONGO_ETL_MONGOPORT:-27117}
pgport=${MONGO_ETL_DOCUMENTDB_PGPORT:-54316}
cache=${MONGO_ETL_CACHE:-/var/tmp/mongo_etl}/documentdb
vendor=${MONGO_ETL_VENDOR:-$here/../../shared/vendor}
mirror=${MONGO_ETL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# the gateway's TLS: on (enforced, the default) or off
tls=${MONGO_ETL_DOCUMENTDB_TLS:-on}

# what is built; a change to any of these builds again
documentdb_commit=b2e220c47d85ec6fed1651f03968da2317f71c10
documentdb_tarball=documentdb-b2e220c.tar.gz
documentdb_url=https://github.com/microsoft/documentdb/archive/$documentdb_commit.tar.gz
libbson_version=1.28.0
libbson_tarball=mongo-c-driver-$libbson_version.tar.gz
libbson_url=https://github.com/mongodb/mongo-c-driver/releases/download/$libbson_version/$libbson_tarball
pgvector_version=0.8.0
pgvector_debian=0.8.0-1
pgvector_url=https://github.com/pgvector/pgvector/archive/refs/tags/v$pgvector_version.tar.gz
recipe_revision=1

# Debian's PostgreSQL 15, copied: DocumentDB's extensions go into the copy
sys_pglib=/usr/lib/postgresql/15
sys_pgshare=/usr/share/postgresql/15

# the test user: its password is made at each start
db_user=mongo_etl

packages=(build-essential pkg-config cmake openssl libssl-dev libkrb5-dev
	libicu-dev libpcre2-dev libintelrdfpmath-dev postgresql-15
	postgresql-server-dev-15 postgresql-15-cron postgresql-15-rum
	postgresql-15-postgis-3 curl python3-pymongo)

log() { echo "documentdb.sh: $*" >&2; }

# shellcheck source=packages.sh
source "$here/packages.sh"

# the path of source tarball $1 in the cache, put there the first time:
# copied from the vendor folder, or downloaded from $2.  Kept, so that a
# clone of the project elsewhere on the machine, without the vendor folder
# next to it, finds the sources too.
cached_source() {
	local name=$1 url=$2
	mkdir -p "$cache/downloads"
	if [ ! -f "$cache/downloads/$name" ]; then
		if [ -f "$vendor/$name" ]; then
			cp "$vendor/$name" "$cache/downloads/$name.part"
		else
			log "downloading $url"
			curl -fsSL -o "$cache/downloads/$name.part" "$url"
		fi
		mv "$cache/downloads/$name.part" "$cache/downloads/$name"
	fi
	echo "$cache/downloads/$name"
}

# the cache key: checksums of the two tarballs (downloaded first if need
# be), the PostgreSQL copied, and the recipe's revision
cache_key() {
	local documentdb libbson
	documentdb=$(cached_source "$documentdb_tarball" "$documentdb_url")
	libbson=$(cached_source "$libbson_tarball" "$libbson_url")
	{
		sha256sum "$documentdb" "$libbson" | cut -d' ' -f1
		"$sys_pglib/bin/postgres" --version
		echo "pgvector $pgvector_version recipe $recipe_revision"
	} | sha256sum | cut -c1-16
}

# pgvector's source into $1: Debian trixie's source package, else the
# upstream release
fetch_pgvector() {
	local dest=$1 apt_dir=$cache/apt
	mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" \
		"$dest.download"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
		>"$apt_dir/sources.list"
	local a=(-o Dir::Etc::SourceList="$apt_dir/sources.list"
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State="$apt_dir/state"
		-o Dir::Cache="$apt_dir/cache" -o Dir::State::status=/var/lib/dpkg/status
		-o APT::Sandbox::User=root)
	local tarball
	if apt-get "${a[@]}" update -qq >&2 &&
		(cd "$dest.download" && apt-get "${a[@]}" source --download-only \
			"pgvector=$pgvector_debian" >&2); then
		tarball=$dest.download/pgvector_$pgvector_version.orig.tar.gz
	else
		log "no pgvector source package; downloading $pgvector_url"
		tarball=$dest.download/pgvector.tar.gz
		curl -fsSL -o "$tarball" "$pgvector_url"
	fi
	mkdir -p "$dest"
	tar -xzf "$tarball" -C "$dest" --strip-components=1
	rm -rf "$dest.download"
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

build() {
	install_packages "${packages[@]}"
	command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || {
		log "cargo (Rust) is needed to build DocumentDB's gateway (https://rustup.rs)"
		exit 1
	}
	PATH=$PATH:$HOME/.cargo/bin
	mkdir -p "$cache"
	local key
	key=$(cache_key)
	local dest=$cache/$key
	if [ -f "$dest/complete" ]; then
		echo "$dest"
		return
	fi
	local started=$SECONDS
	log "building DocumentDB $documentdb_commit into $dest (about 5 minutes on 2 cores)"
	local work=$cache/build
	rm -rf "$work" "$dest"
	mkdir -p "$work/src" "$work/libbson" "$work/prefix/lib/pkgconfig" "$dest"
	local buildlog=$work/build.log
	log "build log: $buildlog"

	cp "$(cached_source "$documentdb_tarball" "$documentdb_url")" \
		"$work/documentdb.tar.gz"
	cp "$(cached_source "$libbson_tarball" "$libbson_url")" \
		"$work/libbson.tar.gz"
	tar -xzf "$work/documentdb.tar.gz" -C "$work/src" --strip-components=1
	tar -xzf "$work/libbson.tar.gz" -C "$work/libbson" --strip-components=1
	fetch_pgvector "$work/pgvector"

	# libbson alone, static and position-independent, as DocumentDB links
	# it (the snapshot lacks one test file: no tests)
	log "libbson $libbson_version"
	mkdir -p "$work/libbson/build"
	quietly "$buildlog" cmake -S "$work/libbson" -B "$work/libbson/build" \
		-DENABLE_MONGOC=OFF -DENABLE_TESTS=OFF -DENABLE_EXAMPLES=OFF \
		-DENABLE_ICU=OFF -DMONGOC_ENABLE_ICU=OFF -DCMAKE_C_FLAGS=-fPIC \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/prefix"
	quietly "$buildlog" make -C "$work/libbson/build" -j2 install
	# Debian's libintelrdfpmath-dev is the Intel decimal library DocumentDB
	# builds itself; it needs only the pkg-config name
	cat >"$work/prefix/lib/pkgconfig/intelmathlib.pc" <<-'EOF'
		Name: intelmathlib
		Description: Intel decimal floating point library (Debian's libintelrdfpmath-dev)
		Version: 2.0
		Cflags: -I/usr/include
		Libs: -lbidgcc000
	EOF
	export PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig

	# the PostgreSQL tree DocumentDB's cluster runs from: PostgreSQL finds
	# its share and lib folders relative to its binaries
	mkdir -p "$dest/usr/lib/postgresql" "$dest/usr/share/postgresql"
	cp -a "$sys_pglib" "$dest/usr/lib/postgresql/"
	cp -a "$sys_pgshare" "$dest/usr/share/postgresql/"

	log "pgvector $pgvector_version"
	quietly "$buildlog" make -C "$work/pgvector" -j2 OPTFLAGS=
	quietly "$buildlog" make -C "$work/pgvector" install OPTFLAGS= DESTDIR="$dest"

	log "pg_documentdb_core and pg_documentdb"
	local ext
	for ext in pg_documentdb_core pg_documentdb; do
		quietly "$buildlog" make -C "$work/src/$ext" -j2
		quietly "$buildlog" make -C "$work/src/$ext" install DESTDIR="$dest"
	done

	# the gateway; its target folder is kept for the next build
	log "the gateway (cargo build --release, about 2 minutes)"
	(
		cd "$work/src/pg_documentdb_gw"
		CARGO_TARGET_DIR=$cache/cargo-target quietly "$buildlog" \
			cargo build --release --locked -j 2
	)
	mkdir -p "$dest/bin"
	cp "$cache/cargo-target/release/documentdb_gateway" "$dest/bin/"

	chmod -R go+rX "$dest"
	touch "$dest/complete"
	rm -rf "$work"
	# builds of other sources are not needed any more
	local old
	for old in "$cache"/*/complete; do
		[ "$(dirname "$old")" = "$dest" ] || rm -rf "$(dirname "$old")"
	done
	log "built in $((SECONDS - started)) s"
	echo "$dest"
}

# a CA, and a certificate it signs for 127.0.0.1 and localhost
make_certificates() {
	local tls=$state/tls
	mkdir -p "$tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mongo_etl test CA" \
		-keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$tls/server-key.pem" -out "$tls/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/ext.cnf"
	openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" \
		-CAkey "$tls/ca-key.pem" -CAcreateserial -days 30 \
		-extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
	# the CA is read by mongo_etl's PostgreSQL, which runs as postgres
	chmod 755 "$tls"
	chmod 644 "$tls/ca.pem"
}

# a SCRAM-SHA-256 verifier for password $1 with a 28-byte salt, the
# length MongoDB servers use: libmongoc refuses PostgreSQL's 16-byte
# salts (see README, "DocumentDB")
scram_verifier() {
	/usr/bin/python3 - "$1" <<-'EOF'
		import base64, hashlib, hmac, os, sys
		iterations, salt = 4096, os.urandom(28)
		salted = hashlib.pbkdf2_hmac("sha256", sys.argv[1].encode(), salt, iterations)
		client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
		server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
		b64 = lambda b: base64.b64encode(b).decode()
		print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}")
	EOF
}

start() {
	local tree pgbin
	tree=$(build)
	pgbin=$tree/usr/lib/postgresql/15/bin
	stop
	mkdir -p "$state/pg"
	chmod 755 "$state"
	chown postgres: "$state" "$state/pg"
	make_certificates

	# trust, on 127.0.0.1 only: the gateway opens its PostgreSQL sessions
	# as the user it has authenticated, without a password
	runuser -u postgres -- "$pgbin/initdb" -D "$state/pg" -U postgres \
		--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log"
	cat >>"$state/pg/postgresql.conf" <<-EOF
		port = $pgport
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$state'
		fsync = off
		full_page_writes = off
		synchronous_commit = off
		shared_preload_libraries = 'pg_cron, pg_documentdb_core, pg_documentdb'
		cron.database_name = 'postgres'
		documentdb.enableBackgroundWorker = true
		documentdb.enableBackgroundWorkerJobs = true
		# Debian 12's pg_cron 1.4 refuses DocumentDB's default schedule of
		# 2 seconds; every minute is the shortest it takes
		documentdb.indexBuildScheduleInSec = 60
		# A cursor's next batch resumes after the tuple id of the last
		# document sent, which is right only when the scan returns tuples
		# in tuple id order: a find without sort that reads through the
		# _id index a collection whose documents were updated starts over
		# at every getMore, without end (README, "DocumentDB").  Sequential
		# scans keep that order.
		enable_indexscan = off
		enable_bitmapscan = off
		# a collection's count (\$collStats, count without a filter) from the
		# table itself rather than from PostgreSQL's statistics, which lag
		# up to a second: sql/connection.sql checks when mongo_etl asks again
		documentdb.usePgStatsLiveTuplesForCount = off
	EOF
	# pg_documentdb.so needs pg_documentdb_core.so, which its run path
	# looks for in the system's PostgreSQL
	runuser -u postgres -- env LD_LIBRARY_PATH="$tree/usr/lib/postgresql/15/lib" \
		"$pgbin/pg_ctl" -D "$state/pg" -w -l "$state/postgres.log" start >&2
	local psql=(runuser -u postgres -- "$pgbin/psql" -X -q -v ON_ERROR_STOP=1
		-h 127.0.0.1 -p "$pgport" -d postgres)
	PGOPTIONS="-c client_min_messages=warning" \
		"${psql[@]}" -c "CREATE EXTENSION documentdb CASCADE" >&2

	local password
	password=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(12))')
	"${psql[@]}" >&2 <<-EOF
		CREATE ROLE $db_user LOGIN INHERIT IN ROLE documentdb_admin_role
		  PASSWORD '$(scram_verifier "$password")';
		ALTER ROLE $db_user CREATEROLE;
		GRANT $db_user TO postgres WITH ADMIN OPTION;
	EOF

	cat >"$state/gateway.json" <<-EOF
		{
		  "NodeHostName": "localhost",
		  "BlockedRolePrefixes": ["documentdb", "citus", "pg", "internal_role"],
		  "PostgresHostName": "127.0.0.1",
		  "PostgresPort": $pgport,
		  "PostgresSystemUser": "postgres",
		  "PostgresDatabase": "postgres",
		  "GatewayListenPort": $gwport,
		  "UseLocalHost": true,
		  "EnforceSslTcp": $([ "$tls" = off ] && echo false || echo true),
		  "TransactionTimeoutSecs": 30,
		  "CursorTimeoutSecs": 600,
		  "PostgresCommandTimeoutSecs": 120,
		  "CertificateOptions": {
		    "CertType": "pem_file",
		    "FilePath": "$state/tls/server.pem",
		    "KeyFilePath": "$state/tls/server-key.pem"
		  }
		}
	EOF
	setsid "$tree/bin/documentdb_gateway" "$state/gateway.json" \
		>"$state/gateway.log" 2>&1 </dev/null &
	echo $! >"$state/gateway.pid"

	local uri="mongodb://$db_user:$password@127.0.0.1:$gwport/?tls=true&tlsCAFile=$state/tls/ca.pem"
	if [ "$tls" = off ]; then
		uri="mongodb://$db_user:$password@127.0.0.1:$gwport/"
	fi
	for _ in $(seq 1 60); do
		if /usr/bin/python3 -c "import pymongo, sys
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command('ping')" \
			"$uri" 2>/dev/null; then
			echo "$uri"
			return
		fi
		sleep 1
	done
	log "DocumentDB's gateway did not answer on 127.0.0.1:$gwport"
	tail -20 "$state/gateway.log" >&2
	exit 1
}

stop() {
	if [ -f "$state/gateway.pid" ]; then
		local pid
		pid=$(cat "$state/gateway.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 20); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		rm -f "$state/gateway.pid"
	fi
	if [ -f "$state/pg/postmaster.pid" ]; then
		local pid
		pid=$(head -1 "$state/pg/postmaster.pid")
		kill -INT "$pid" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
	fi
	rm -rf "$state"
}

case "${1:-}" in
build)
	build >/dev/null
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
