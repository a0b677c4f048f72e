#!/usr/bin/env bash
#
# bench/replay/check.sh [FILE]: verifies the replay server.  Runs its Go
# unit tests, starts bench/replay-server on FILE (by default 20,000 user
# documents written by bench.py's generator), checks with PyMongo
# (check.py) and with libmongoc, as mongo_etl uses it (testdata/check_mongoc.c),
# that it serves exactly the file's documents, measures a whole read with
# the built-in load client, and stops the server.  Not part of `make
# test`: the replay server is a measuring instrument for bench/ only.
#
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${REPLAY_CHECK_PORT:-27931}
work=${REPLAY_CHECK_DIR:-/var/tmp/mongo_etl/replay-check}
mkdir -p "$work"
file=${1:-$work/users_20000.bson}
if [ ! -f "$file" ]; then
	/usr/bin/python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import bench; bench.write_dump(sys.argv[2], 20000)" \
		"$here/.." "$file"
fi

go=$(command -v go || echo /usr/local/go/bin/go)
(cd "$here" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod "$go" vet . &&
	GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod "$go" test -count=1 .)

gcc -O2 -Wall -Wextra -Werror -o "$work/check_mongoc" "$here/testdata/check_mongoc.c" \
	$(pkg-config --cflags --libs libmongoc-1.0)

"$here/../replay-server" "$file" "$port" >"$work/server.out" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
	[ -s "$work/server.out" ] && break
	kill -0 $pid 2>/dev/null || { echo "check.sh: the replay server did not start" >&2; exit 1; }
	sleep 0.1
done
cat "$work/server.out"
/usr/bin/python3 "$here/check.py" "$file" "$port"
"$work/check_mongoc" "mongodb://127.0.0.1:$port/" "$file"
"$here/../replay-server" -load "$port" -pid $pid
"$here/../replay-server" -load "$port" -pid $pid -exhaust
echo "check.sh: all checks passed"
