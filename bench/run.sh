#!/usr/bin/env bash
#
# bench/run.sh: the body of `make bench`.  Starts its own PostgreSQL on
# 127.0.0.1 (another port and directory than the tests; no FerretDB: the
# network path reads from bench/replay-server, which bench.py starts, one
# per document shape), builds and installs mongo_etl and the client-side
# ETL baselines (etl_client.c, and etl_rust with cargo when cargo is
# there), runs bench/bench.py, which prints and writes bench/RESULTS.md and
# bench/results.png, and stops the servers.  Generated data is kept in
# $MONGO_ETL_BENCH_DATA for the next run.
#
# BENCH_ROWS (1000000 documents per shape), BENCH_RUNS (3), BENCH_SLOW_RUNS
# (runs of the two INSERT x100 clients, the slowest; BENCH_RUNS) and
# BENCH_SHAPES (flat,user,orders) size it; BENCH_WRITE_ROWS (100000, at
# most BENCH_ROWS) and BENCH_WRITE_BATCH (10000) the write benchmark.
# BENCH_ONLY=write runs only the write benchmark and prints its section
# without writing RESULTS.md (for trials).  BENCH_ONLY=versions measures
# only the parallel load against COPY BINARY and rewrites that table of
# RESULTS.md, keeping the other versions' rows: with PG=18 (or 17) it runs
# on that PostgreSQL, built by test/build_postgres.sh.
# BENCH_ONLY=documentdb also starts DocumentDB (test/servers.sh with
# MONGO_ETL_SERVER=documentdb: its gateway on MONGO_ETL_BENCH_MONGOPORT,
# 27141, its cluster on MONGO_ETL_BENCH_DOCUMENTDB_PGPORT, 54317, apart
# from the bench's PostgreSQL), fills it with the BENCH_ROWS documents of
# each shape, reads it next to the replay server and rewrites that section
# of RESULTS.md.  BENCH_ONLY=pushdown starts DocumentDB likewise, fills it
# with BENCH_ROWS (200000 for it) documents of each shape and a smaller
# collection of each shape's first 10,000, and measures GROUP BY and joins
# sent to the server against not sent (bench.py's PUSHDOWN_QUERIES; the
# replay server's count(*) by age too), rewriting that section.
# BENCH_ONLY=citus makes the bench's PostgreSQL a Citus coordinator with two
# worker nodes (test/servers.sh with MONGO_ETL_CITUS=1, test/citus.sh; the
# workers on MONGO_ETL_BENCH_CITUS_PORT and the next, default the bench's
# port + 20: 54336 and 54337, clear of the tests' Citus workers), loads
# BENCH_ROWS documents of each shape into a distributed table by COPY and
# by mongo_etl.load with one worker and two, with every node's CPU, and
# rewrites that section of RESULTS.md.
#
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

data=${MONGO_ETL_BENCH_DATA:-/var/tmp/mongo_etl/bench-data}
export MONGO_ETL_TEST_DIR=${MONGO_ETL_BENCH_DIR:-/tmp/mongo_etl_bench}
export MONGO_ETL_PGPORT=${MONGO_ETL_BENCH_PGPORT:-54316}
replay_port=${MONGO_ETL_BENCH_REPLAYPORT:-27131}

packages=(libpq-dev python3-psycopg2 python3-pymongo python3-matplotlib
	linux-perf)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ -n "${PG:-}" ]; then
	PG_CONFIG=$(bash test/build_postgres.sh "$PG")
	export PG_CONFIG
fi
case ${BENCH_ONLY:-} in
documentdb|pushdown) with_documentdb=1 ;;
*) with_documentdb= ;;
esac
if [ "${BENCH_ONLY:-}" = citus ]; then
	# the bench's cluster becomes the coordinator; its workers on ports
	# of their own, not the tests' (the coordinator's port + 10)
	export MONGO_ETL_CITUS=1
	export MONGO_ETL_CITUS_PORT=${MONGO_ETL_BENCH_CITUS_PORT:-$((MONGO_ETL_PGPORT + 20))}
fi
if [ -n "$with_documentdb" ]; then
	unset MONGO_URI
	exports=$(MONGO_ETL_SERVER=documentdb \
		MONGO_ETL_MONGOPORT=${MONGO_ETL_BENCH_MONGOPORT:-27141} \
		MONGO_ETL_DOCUMENTDB_PGPORT=${MONGO_ETL_BENCH_DOCUMENTDB_PGPORT:-54317} \
		bash test/servers.sh start)
else
	exports=$(bash test/servers.sh start --postgres-only)
fi
eval "$exports"
trap 'bash test/servers.sh stop' EXIT

# objects built against another PostgreSQL must not be linked in
make --quiet clean
make --quiet
make --quiet install
gcc -O2 -Wall -Wextra -Werror -o bench/etl_client bench/etl_client.c \
	$(pkg-config --cflags --libs libmongoc-1.0) -I"$(pg_config --includedir)" \
	-lpq -lpthread

# the Rust client, where cargo is installed (bench.py reports it as not
# built otherwise); the DocumentDB, pushdown and Citus sections do not run
# it
cargo=$(command -v cargo || true)
[ -n "$cargo" ] || [ ! -x "$HOME/.cargo/bin/cargo" ] || cargo=$HOME/.cargo/bin/cargo
if [ -n "$with_documentdb" ] || [ "${BENCH_ONLY:-}" = citus ]; then
	:
elif [ -f bench/etl_rust/Cargo.toml ] && [ -n "$cargo" ]; then
	"$cargo" build --release --quiet --manifest-path bench/etl_rust/Cargo.toml
elif [ -f bench/etl_rust/Cargo.toml ]; then
	echo "bench/run.sh: no cargo: the Rust client is not built" >&2
fi

rows=1000000
[ "${BENCH_ONLY:-}" != pushdown ] || rows=200000
mkdir -p "$data"
chmod 755 "$(dirname "$data")"
chown postgres: "$data"
/usr/bin/python3 bench/bench.py --data "$data" \
	--rows "${BENCH_ROWS:-$rows}" --runs "${BENCH_RUNS:-3}" \
	--slow-runs "${BENCH_SLOW_RUNS:-${BENCH_RUNS:-3}}" \
	--shapes "${BENCH_SHAPES:-flat,user,orders}" \
	--write-rows "${BENCH_WRITE_ROWS:-100000}" \
	--write-batch "${BENCH_WRITE_BATCH:-10000}" \
	${BENCH_ONLY:+--only "$BENCH_ONLY"} \
	--replay-port "$replay_port" --started "$started"
