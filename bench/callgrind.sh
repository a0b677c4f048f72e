#!/usr/bin/env bash
#
# bench/callgrind.sh: the instructions mongo_etl spends reading and
# converting documents, counted by valgrind's callgrind, which gives the
# same count for the same build and input however busy the machine is: the
# way to compare two versions of the conversion (issue 29).
#
# For each shape of the bench (bench/bench.py's generators) and the
# held-out user documents, it writes a dump file of the first
# CALLGRIND_ROWS (50000) documents, then runs, in `postgres --single` on a
# scratch cluster, `SELECT * FROM <shape>_file OFFSET 100000000` (every
# column converted, no row returned, no heap insert) and prints the
# instructions under standard_ExecutorRun; then, for the three shapes, the
# instructions of COPY FROM a binary file of the same rows (DoCopy), of
# mongo_etl.load (ExecuteCallStmt) and of INSERT ... SELECT into a table
# without index, from the dump file and from a heap table of the same rows
# (the row-at-a-time insert with nothing to convert), and their ratios.
# Uses the PostgreSQL of $PG_CONFIG (default pg_config) with mongo_etl
# installed in it; files are kept in $MONGO_ETL_CALLGRIND_DIR
# (/var/tmp/mongo_etl/callgrind).
#
set -euo pipefail
cd "$(dirname "$0")"

rows=${CALLGRIND_ROWS:-50000}
dir=${MONGO_ETL_CALLGRIND_DIR:-/var/tmp/mongo_etl/callgrind}
bindir=$(${PG_CONFIG:-pg_config} --bindir)
run_as=()
if [ "$(id -u)" = 0 ]; then
	run_as=(runuser -u postgres --)
fi

mkdir -p "$dir"
chmod 755 "$dir"
if [ ${#run_as[@]} -gt 0 ]; then
	# the server writes callgrind's files here
	chown postgres: "$dir"
fi
/usr/bin/python3 - "$dir" "$rows" <<'EOF'
import os, sys
import bench
data, rows = sys.argv[1], int(sys.argv[2])
for s in bench.SHAPES:
    bench.write_dump(os.path.join(data, f"{s.name}_{rows}.bson"), s, rows)
bench.write_dump(os.path.join(data, f"heldout_{rows}.bson"), None, rows,
                 lambda n: bench.user_documents(n, bench.HELDOUT_SEED))
with open(os.path.join(data, "tables.sql"), "w") as f:
    f.write("CREATE EXTENSION mongo_etl;\n"
            f"CREATE SERVER files FOREIGN DATA WRAPPER mongo_etl "
            f"OPTIONS (dump_dir '{data}');\n"
            "CREATE USER MAPPING FOR CURRENT_USER SERVER files;\n")
    for s in bench.SHAPES + [bench.Shape("heldout", None, None,
                                         bench.SHAPES[1].foreign_columns,
                                         None)]:
        columns = " ".join(s.foreign_columns.split())
        f.write(f"CREATE FOREIGN TABLE {s.name}_file ({columns}) "
                f"SERVER files OPTIONS (file '{s.name}_{rows}.bson');\n")
    for s in bench.SHAPES:
        columns = " ".join(s.columns.split())
        f.write(f"CREATE TABLE {s.name}_target ({columns});\n"
                f"COPY (SELECT * FROM {s.name}_file) TO "
                f"'{data}/{s.name}_{rows}.copy' (FORMAT binary);\n"
                f"CREATE TABLE {s.name}_heap ({columns});\n"
                f"COPY {s.name}_heap FROM "
                f"'{data}/{s.name}_{rows}.copy' (FORMAT binary);\n"
                f"VACUUM (FREEZE, ANALYZE) {s.name}_heap;\n")
EOF

# a scratch cluster, made anew each run so that the extension's objects
# are those of the build being measured
cluster=$dir/cluster
rm -rf "$cluster"
mkdir -p "$cluster"
if [ ${#run_as[@]} -gt 0 ]; then
	chown postgres: "$cluster"
fi
"${run_as[@]}" "$bindir/initdb" -D "$cluster" -A trust >/dev/null
"${run_as[@]}" "$bindir/postgres" --single -D "$cluster" postgres \
	< "$dir/tables.sql" >/dev/null

# instructions: count <name> <function collected> <statement>, with the
# target table emptied and the library loaded first (outside what is
# counted: loading it is a fixed cost per backend, which COPY does not pay)
count() {
	local out=$dir/callgrind.$1
	printf "TRUNCATE %s_target;\nLOAD 'mongo_etl';\n%s\n" "${1%%.*}" "$3" |
		"${run_as[@]}" valgrind --tool=callgrind --toggle-collect="$2" \
		--callgrind-out-file="$out" \
		"$bindir/postgres" --single -D "$cluster" postgres \
		>/dev/null 2>"$out.log"
	sed -n 's/^summary: //p; s/^totals: //p' "$out" | head -1
}

echo "read and convert (SELECT * FROM <shape>_file OFFSET 100000000):"
printf '%-8s %15s %12s\n' shape instructions per_document
for shape in flat user orders heldout; do
	total=$(count "$shape" standard_ExecutorRun \
		"SELECT * FROM ${shape}_file OFFSET 100000000;")
	printf '%-8s %15s %12.0f\n' "$shape" "$total" \
		"$(echo "$total / $rows" | bc -l)"
done

echo "loads into a table without index, over COPY FROM of a binary file of the same rows:"
printf '%-8s %15s %15s %15s %15s %8s %8s %9s\n' shape copy load \
	insert_select insert_heap load/copy ins/copy heap/copy
for shape in flat user orders; do
	copy=$(count "$shape.copy" DoCopy \
		"COPY ${shape}_target FROM '$dir/${shape}_$rows.copy' (FORMAT binary);")
	load=$(count "$shape.load" ExecuteCallStmt \
		"CALL mongo_etl.load('${shape}_file', '${shape}_target');")
	insert=$(count "$shape.insert" standard_ExecutorRun \
		"INSERT INTO ${shape}_target SELECT * FROM ${shape}_file;")
	heap=$(count "$shape.heap" standard_ExecutorRun \
		"INSERT INTO ${shape}_target SELECT * FROM ${shape}_heap;")
	printf '%-8s %15s %15s %15s %15s %8.3f %8.3f %9.3f\n' "$shape" \
		"$copy" "$load" "$insert" "$heap" \
		"$(echo "$load / $copy" | bc -l)" \
		"$(echo "$insert / $copy" | bc -l)" \
		"$(echo "$heap / $copy" | bc -l)"
done
