#!/usr/bin/env bash
#
# bench/run.sh: the body of `make bench`.  Starts its own PostgreSQL and
# FerretDB on 127.0.0.1 (other ports and directory than the tests), builds
# and installs mongo_etl and the client-side ETL baseline (etl_client.c),
# runs bench/bench.py, which prints and writes bench/RESULTS.md, and stops
# the servers.  Generated data is kept in $MONGO_ETL_BENCH_DATA for the
# next run.
#
# BENCH_ROWS (1000000), BENCH_NET_ROWS (20000) and BENCH_RUNS (3) size it.
#
set -euo pipefail
cd "$(dirname "$0")/.."

data=${MONGO_ETL_BENCH_DATA:-/var/tmp/mongo_etl/bench-data}
export MONGO_ETL_TEST_DIR=${MONGO_ETL_BENCH_DIR:-/tmp/mongo_etl_bench}
export MONGO_ETL_PGPORT=${MONGO_ETL_BENCH_PGPORT:-54316}
export MONGO_ETL_MONGOPORT=${MONGO_ETL_BENCH_MONGOPORT:-27127}

for p in libpq-dev python3-psycopg2 linux-perf; do
	dpkg -s "$p" >/dev/null 2>&1 || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpq-dev python3-psycopg2 linux-perf
		break
	}
done

exports=$(bash test/servers.sh start)
eval "$exports"
trap 'bash test/servers.sh stop' EXIT

make --quiet
make --quiet install
gcc -O2 -Wall -Wextra -Werror -o bench/etl_client bench/etl_client.c \
	$(pkg-config --cflags --libs libmongoc-1.0) -I"$(pg_config --includedir)" \
	-lpq -lpthread

mkdir -p "$data"
chmod 755 "$(dirname "$data")"
chown postgres: "$data"
/usr/bin/python3 bench/bench.py --data "$data" \
	--rows "${BENCH_ROWS:-1000000}" --net-rows "${BENCH_NET_ROWS:-20000}" \
	--runs "${BENCH_RUNS:-3}" --mongo-pid "$(cat "$MONGO_ETL_TEST_DIR/ferretdb.pid")"
