#!/usr/bin/env bash
#
# fuzz/run.sh: the body of `make fuzz`.  Builds the extension with clang's
# libFuzzer coverage and UndefinedBehaviorSanitizer into one library with
# fuzz/fuzz_dump.c (see there why not AddressSanitizer), and fuzzes the mongodump reader and
# the BSON converter inside a single-user PostgreSQL backend for
# FUZZ_SECONDS (default 300), starting from fuzz/corpus.  New inputs that
# reach new code go to $MONGO_ETL_FUZZ_DIR/corpus; an input that crashes,
# or that a sanitizer reports, is saved there as crash-* and fails the run.
#
# FUZZ_SECONDS=N           the time budget
# FUZZ_KEEP=1              afterwards, add the inputs that reached new code
#                          to fuzz/corpus
#
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

seconds=${FUZZ_SECONDS:-300}
state=${MONGO_ETL_FUZZ_DIR:-/tmp/mongo_etl_fuzz}
pgbin=/usr/lib/postgresql/15/bin
clang=clang-14
packages=(clang-14 postgresql-15 postgresql-server-dev-15 libmongoc-dev
	libbson-dev pkg-config zlib1g-dev python3-pymongo)

log() { echo "fuzz: $*" >&2; }

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

rm -rf "$state"
mkdir -p "$state/build" "$state/corpus"
build=$state/build

# the extension's C files and the target, instrumented
cflags=(-g -O1 -fPIC -fno-omit-frame-pointer
	-fsanitize=fuzzer-no-link,undefined -fno-sanitize-recover=undefined
	-Wno-ignored-attributes
	-I. -I"$($pgbin/pg_config --includedir-server)"
	$(pkg-config --cflags libmongoc-1.0))
for src in *.c fuzz/fuzz_dump.c; do
	"$clang" "${cflags[@]}" -c "$src" -o "$build/$(basename "${src%.c}").o"
done
sanitizer_runtime=$("$clang" -print-file-name=libclang_rt.ubsan_standalone-x86_64.so)
"$clang" -shared -shared-libsan -fsanitize=undefined \
	-o "$build/mongo_etl_fuzz.so" "$build"/*.o \
	-Wl,--whole-archive \
	"$("$clang" -print-file-name=libclang_rt.fuzzer_no_main-x86_64.a)" \
	-Wl,--no-whole-archive -Wl,-rpath,"$(dirname "$sanitizer_runtime")" \
	-lstdc++ $(pkg-config --libs libmongoc-1.0) -lz

# a throwaway cluster for the single-user backend
cp fuzz/corpus/* "$state/corpus/"
chown -R postgres: "$state"
runuser -u postgres -- "$pgbin/initdb" -D "$state/pg" -U postgres \
	--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log"

log "fuzzing for $seconds s (libFuzzer output in $state/fuzz.log)"
set +e
runuser -u postgres -- env UBSAN_OPTIONS=print_stacktrace=1 \
	"$pgbin/postgres" --single -j -D "$state/pg" -c max_stack_depth=7MB postgres \
	>"$state/fuzz.log" 2>&1 <<-SQL
	CREATE FUNCTION mongo_etl_fuzz_dump(text, text[]) RETURNS int
	  AS '$build/mongo_etl_fuzz.so' LANGUAGE C STRICT;

	SELECT mongo_etl_fuzz_dump('$state/input.bson',
	  ARRAY['-max_total_time=$seconds', '-timeout=30', '-rss_limit_mb=4096',
	        '-max_len=1048576', '-print_final_stats=1',
	        '-artifact_prefix=$state/', '$state/corpus']);

SQL
status=$?
set -e

grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::new_units_added)' \
	"$state/fuzz.log" >&2 || true
crashes=("$state"/crash-* "$state"/timeout-* "$state"/oom-*)
found=()
for f in "${crashes[@]}"; do
	[ -e "$f" ] && found+=("$f")
done
# libFuzzer ends the process itself, after "Done N runs" when all went well
if [ ${#found[@]} -gt 0 ] || [ $status -ne 0 ] ||
	! grep -q '^Done [0-9]* runs' "$state/fuzz.log"; then
	log "FAILED (exit $status); inputs: ${found[*]:-none}"
	grep -E -A30 'ERROR: libFuzzer|runtime error|deadly signal' \
		"$state/fuzz.log" | head -60 >&2 || true
	exit 1
fi

# libFuzzer keeps only the inputs that reached new code, each cut down to
# what matters (its -merge mode would start the program again by argv[0],
# which a backend cannot be)
if [ -n "${FUZZ_KEEP:-}" ]; then
	cp "$state/corpus"/* fuzz/corpus/
	log "fuzz/corpus now holds $(ls fuzz/corpus | wc -l) inputs"
fi
log "no crash, no sanitizer report in $seconds s"
