#!/usr/bin/env bash
#
# test/run.sh: the body of `make test`.  On a fresh Debian 12 machine it
# installs what is missing, builds and installs the extension, starts a
# throwaway PostgreSQL 15 cluster and a MongoDB-compatible server (FerretDB)
# on 127.0.0.1, loads the fixtures, runs the pg_regress suite and stops the
# servers again.  Exits non-zero on any failure.
#
# Set MONGO_URI to run the suite against another MongoDB instead of the
# FerretDB this script starts.
#
set -euo pipefail
cd "$(dirname "$0")/.."

# servers.sh prints only export lines on stdout; everything else is stderr
exports=$(bash test/servers.sh start)
eval "$exports"
trap 'bash test/servers.sh stop' EXIT

make COPT="-Wall -Wextra -Wno-unused-parameter -Werror"
make install

fixtures=(test/fixtures/*.json)
/usr/bin/python3 test/fixtures.py load "$MONGO_URI" mongo_etl_regress "${fixtures[@]}"
/usr/bin/python3 test/fixtures.py big "$MONGO_URI" mongo_etl_regress big 20000

if ! make installcheck; then
	cat regression.diffs >&2 || true
	exit 1
fi
