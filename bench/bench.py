#!/usr/bin/python3
"""bench/bench.py: measures mongo_etl against COPY and against the
client-side ETL it replaces, side by side on the same data in one run, and
writes bench/RESULTS.md.  Run by bench/run.sh, which starts the servers and
builds the client; see README.md.  Timings are measured, never asserted.

Every figure is the median of --runs runs.  CPU times are read from
/proc/<pid>/schedstat (nanoseconds on a CPU) of the PostgreSQL backend, the
MongoDB server and the client; peak memory is the backend's VmHWM, each
statement running in a fresh backend.
"""

import argparse
import datetime
import os
import platform
import random
import statistics
import subprocess
import sys
import time

import bson
import psycopg2
import pymongo
from bson.decimal128 import Decimal128

HERE = os.path.dirname(os.path.abspath(__file__))

FIRST = ["Ann", "Bo", "Chloé", "Dev", "Eve", "Femi", "Gus", "Hana", "Ivo",
         "Jun", "Kai", "Lea", "Maya", "Nils", "Omar", "Pia"]
LAST = ["Lee", "Chen", "Durand", "Patel", "Okafor", "Sato", "Silva", "Berg",
        "Novak", "Rossi", "Kim", "Moreau"]
CITIES = ["Oslo", "Boston", "Paris", "Zürich", "Lagos", "Osaka", "Lima",
          "Pune", "Porto", "Austin"]
TAGS = ["vip", "beta", "newsletter", "wholesale", "churn-risk", "staff"]

COLUMNS = """_id text, seq int, name text, email text, age int,
  created timestamptz, score float8, active bool, balance numeric,
  street text, city text, zip text, tags jsonb, orders jsonb"""
FOREIGN_COLUMNS = """_id text, seq int, name text, email text, age int,
  created timestamptz, score float8, active bool, balance numeric,
  street text OPTIONS (field 'address.street'),
  city text OPTIONS (field 'address.city'),
  zip text OPTIONS (field 'address.zip'),
  tags jsonb, orders jsonb"""


def user_documents(count, with_decimal):
    """count user-like documents, the same for the same count."""
    rng = random.Random(7)
    start = datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc)
    for seq in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        doc = {
            "_id": bson.ObjectId(),
            "seq": seq,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{seq}@example.com",
            "age": rng.randint(18, 90),
            "created": start + datetime.timedelta(
                milliseconds=rng.randint(0, 10 * 365 * 86400 * 1000)),
            "score": rng.randint(0, 50000) / 100,
            "active": rng.random() < 0.8,
        }
        if with_decimal:
            doc["balance"] = Decimal128(f"{rng.randint(-10**7, 10**9) / 100:.2f}")
        doc["address"] = {"street": f"{rng.randint(1, 999)} Main Street",
                          "city": rng.choice(CITIES),
                          "zip": f"{rng.randint(0, 99999):05d}"}
        doc["tags"] = rng.sample(TAGS, rng.randint(0, 3))
        doc["orders"] = [{"sku": f"SKU-{rng.randint(1, 9999):04d}",
                          "qty": rng.randint(1, 5),
                          "price": rng.randint(100, 99999) / 100}
                         for _ in range(rng.randint(0, 5))]
        yield doc


def write_dump(path, count):
    """A mongodump-style .bson file of count documents (with Decimal128)."""
    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for doc in user_documents(count, with_decimal=True):
            f.write(bson.BSON.encode(doc))
    os.rename(tmp, path)


def load_server(uri, collection, count):
    """The same documents, without Decimal128 (FerretDB lacks it)."""
    coll = pymongo.MongoClient(uri).bench[collection]
    if coll.estimated_document_count() == count:
        return
    coll.drop()
    batch = []
    for doc in user_documents(count, with_decimal=False):
        batch.append(doc)
        if len(batch) == 5000:
            coll.insert_many(batch)
            batch = []
    if batch:
        coll.insert_many(batch)


def cpu_ns(pid):
    """Nanoseconds process pid has spent on a CPU, all its threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, args):
        self.args = args
        self.mongo_pid = args.mongo_pid
        self.results = {}

    def connect(self):
        conn = psycopg2.connect("")
        conn.autocommit = True
        return conn

    def sql(self, statement):
        conn = self.connect()
        conn.cursor().execute(statement)
        conn.close()

    def measure(self, name, statement, setup=None):
        """Run statement in a fresh backend; record wall, backend CPU,
        MongoDB server CPU and the backend's peak memory."""
        if setup:
            self.sql(setup)
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        mongo0 = cpu_ns(self.mongo_pid) if self.mongo_pid else 0
        cpu0 = cpu_ns(pid)
        t0 = time.perf_counter()
        cur.execute(statement)
        wall = time.perf_counter() - t0
        cpu = cpu_ns(pid) - cpu0
        mongo = cpu_ns(self.mongo_pid) - mongo0 if self.mongo_pid else 0
        hwm = vm_hwm_kb(pid)
        conn.close()
        self.record(name, wall=wall, backend_cpu=cpu / 1e9,
                    server_cpu=mongo / 1e9, hwm_kb=hwm)

    def measure_client(self, name, mode, table, workers, batch):
        """The client-side ETL program, as a separate process."""
        self.sql(f"TRUNCATE {table}")
        mongo0 = cpu_ns(self.mongo_pid)
        before = os.times()
        t0 = time.perf_counter()
        out = subprocess.run(
            [self.args.client, "--mongo", self.args.mongo_uri, "--db", "bench",
             "--collection", "users", "--pg", self.args.conninfo,
             "--table", table, "--workers", str(workers), "--mode", mode,
             "--batch", str(batch)],
            check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = os.times()
        mongo = cpu_ns(self.mongo_pid) - mongo0
        client = (after.children_user - before.children_user
                  + after.children_system - before.children_system)
        rows = int(out.stdout.split("rows=")[1].split()[0])
        if rows != self.args.net_rows:
            sys.exit(f"{name}: client loaded {rows} rows, expected "
                     f"{self.args.net_rows}")
        self.record(name, wall=wall, client_cpu=client,
                    server_cpu=mongo / 1e9)

    def record(self, name, **values):
        entry = self.results.setdefault(name, {})
        for key, value in values.items():
            entry.setdefault(key, []).append(value)

    def median(self, name, key):
        values = self.results.get(name, {}).get(key)
        return statistics.median(values) if values else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--net-rows", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data", default=os.path.join(HERE, "data"))
    p.add_argument("--mongo-uri", default=os.environ.get("MONGO_URI"))
    p.add_argument("--mongo-pid", type=int, default=0)
    p.add_argument("--client", default=os.path.join(HERE, "etl_client"))
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    args = p.parse_args()
    args.conninfo = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} "
                     f"user={os.environ['PGUSER']} "
                     f"dbname={os.environ.get('PGDATABASE', 'postgres')}")

    os.makedirs(args.data, exist_ok=True)
    os.chmod(args.data, 0o755)
    small = max(args.rows // 10, 1)
    dump_big = os.path.join(args.data, f"users_{args.rows}.bson")
    dump_small = os.path.join(args.data, f"users_{small}.bson")
    copy_file = os.path.join(args.data, f"users_{args.rows}.copy")
    print(f"generating {args.rows} and {small} documents", file=sys.stderr)
    write_dump(dump_big, args.rows)
    write_dump(dump_small, small)
    print(f"loading {args.net_rows} and {args.net_rows // 10} documents "
          f"into the server", file=sys.stderr)
    load_server(args.mongo_uri, "users", args.net_rows)
    load_server(args.mongo_uri, "users_small", args.net_rows // 10)
    bench_bytes = os.path.getsize(dump_big)

    b = Bench(args)
    b.sql(f"""
        DROP EXTENSION IF EXISTS mongo_etl CASCADE;
        CREATE EXTENSION mongo_etl;
        CREATE SERVER files FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (dump_dir '{args.data}');
        CREATE SERVER mongo FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (uri '{args.mongo_uri}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER files;
        CREATE USER MAPPING FOR CURRENT_USER SERVER mongo;
        CREATE FOREIGN TABLE users_file ({FOREIGN_COLUMNS}) SERVER files
          OPTIONS (file '{os.path.basename(dump_big)}');
        CREATE FOREIGN TABLE users_file_small ({FOREIGN_COLUMNS}) SERVER files
          OPTIONS (file '{os.path.basename(dump_small)}');
        CREATE FOREIGN TABLE users_net ({FOREIGN_COLUMNS}) SERVER mongo
          OPTIONS (database 'bench', collection 'users');
        CREATE FOREIGN TABLE users_net_small ({FOREIGN_COLUMNS}) SERVER mongo
          OPTIONS (database 'bench', collection 'users_small');
        DROP TABLE IF EXISTS target, target_pk;
        CREATE TABLE target ({COLUMNS});
        CREATE TABLE target_pk ({COLUMNS}, PRIMARY KEY (_id));
        """)
    # the binary COPY file holds exactly the rows the dump file converts to
    if not os.path.exists(copy_file):
        b.sql(f"COPY (SELECT * FROM users_file) TO '{copy_file}' (FORMAT binary)")

    for run in range(args.runs):
        print(f"run {run + 1} of {args.runs}", file=sys.stderr)
        for table in ("target", "target_pk"):
            b.measure(f"copy_binary/{table}",
                      f"COPY {table} FROM '{copy_file}' (FORMAT binary)",
                      setup=f"TRUNCATE {table}; CHECKPOINT")
            b.measure(f"insert_dump/{table}",
                      f"INSERT INTO {table} SELECT * FROM users_file",
                      setup=f"TRUNCATE {table}; CHECKPOINT")
            b.measure(f"insert_net/{table}",
                      f"INSERT INTO {table} SELECT * FROM users_net",
                      setup=f"TRUNCATE {table}; CHECKPOINT")
            b.measure_client(f"client_insert/{table}", "insert", table, 2, 100)
            b.measure_client(f"client_copy/{table}", "copy", table, 2, 10000)
        # reading and converting alone, without the heap insert
        b.measure("read_dump", "SELECT count(*) FROM "
                  "(SELECT * FROM users_file OFFSET 0) s")
        b.measure("read_dump_small", "SELECT count(*) FROM "
                  "(SELECT * FROM users_file_small OFFSET 0) s")
        b.measure("read_net_small", "SELECT count(*) FROM "
                  "(SELECT * FROM users_net_small OFFSET 0) s")
        b.measure("read_net", "SELECT count(*) FROM "
                  "(SELECT * FROM users_net OFFSET 0) s")
        # the same query reading no field: the cost of the scan itself
        b.measure("read_dump_nothing", "SELECT count(*) FROM users_file")

    write_results(args, b, bench_bytes, small)


def write_results(args, b, bench_bytes, small):
    m = b.median
    n, nn = args.rows, args.net_rows
    mb = bench_bytes / 1e6

    def row(label, name, rows, megabytes=None):
        wall = m(name, "wall")
        if wall is None:
            return ""
        cpu = m(name, "backend_cpu")
        client = m(name, "client_cpu")
        server = m(name, "server_cpu")
        cells = [label, f"{rows / wall:,.0f}",
                 f"{megabytes / wall:,.1f}" if megabytes else "",
                 f"{wall:.3f}",
                 f"{cpu * 1e6 / rows:.2f}" if cpu is not None else "",
                 f"{client * 1e6 / rows:.2f}" if client is not None else "",
                 f"{server:.2f}" if server else ""]
        return "| " + " | ".join(cells) + " |\n"

    ratio = lambda a, b_: (f"{m(a, 'wall') / m(b_, 'wall'):.2f}"
                           if m(a, 'wall') and m(b_, 'wall') else "n/a")
    read_cpu = m("read_dump", "backend_cpu") * 1e6 / n
    nothing_cpu = m("read_dump_nothing", "backend_cpu") * 1e6 / n
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    pg = subprocess.run(["psql", "-XAtc", "SHOW server_version"],
                        capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    header = ("| measurement | rows/s | MB/s of BSON | wall s | backend CPU "
              "µs/row | client CPU µs/row | MongoDB server CPU s |\n"
              "|---|---:|---:|---:|---:|---:|---:|\n")
    text = f"""# Benchmark results

Written by `make bench` (bench/run.sh) on {datetime.date.today()}: every
figure is the median of {args.runs} runs, all measured side by side in one
run on the same data. Machine: {cpu_model}, {os.cpu_count()} cores,
{mem:.0f} GiB, {platform.platform()}; PostgreSQL {pg}; MongoDB-compatible
server FerretDB 1.24.2 (SQLite backend) on 127.0.0.1.

Data: {n:,} user documents in a mongodump file ({mb:.0f} MB of BSON,
{bench_bytes / n:.0f} bytes per document: ObjectId, name, email, int32 age,
date, double score, bool, Decimal128 balance, address document, tag array,
0–5 order documents), and the same generator's first {nn:,} documents
(without Decimal128, which FerretDB lacks) on the server. Target: a heap
table with matching columns (tags and orders as jsonb), without and with a
primary key on _id.

## Loading from a file: {n:,} rows

{header}{row("1. COPY FROM binary file", "copy_binary/target", n, mb)}{row("2. INSERT … SELECT from the dump file", "insert_dump/target", n, mb)}{row("1. COPY FROM binary file, with PK", "copy_binary/target_pk", n, mb)}{row("2. INSERT … SELECT from the dump file, with PK", "insert_dump/target_pk", n, mb)}
Ratio (2)/(1), wall time: **{ratio("insert_dump/target", "copy_binary/target")}**
without index, **{ratio("insert_dump/target_pk", "copy_binary/target_pk")}** with
the primary key (target: at most 1.0).

Reading and converting alone (`SELECT count(*) FROM (SELECT * FROM
users_file OFFSET 0) s`, no heap insert): **{read_cpu:.2f} µs** of backend
CPU per document (target: under 1.0), of which {nothing_cpu:.2f} µs is the
same scan converting no field (`SELECT count(*) FROM users_file`).

## Loading from the server: {nn:,} rows

{header}{row("3. INSERT … SELECT from the server", "insert_net/target", nn)}{row("4. client ETL, 2 workers, INSERT ×100", "client_insert/target", nn)}{row("4-best. client ETL, 2 workers, COPY binary ×10,000", "client_copy/target", nn)}{row("3. INSERT … SELECT from the server, with PK", "insert_net/target_pk", nn)}{row("4. client ETL, INSERT ×100, with PK", "client_insert/target_pk", nn)}{row("4-best. client ETL, COPY binary, with PK", "client_copy/target_pk", nn)}
Ratios of wall time: (3)/(4) **{ratio("insert_net/target", "client_insert/target")}**,
(3)/(4-best) **{ratio("insert_net/target", "client_copy/target")}** without index;
**{ratio("insert_net/target_pk", "client_insert/target_pk")}** and
**{ratio("insert_net/target_pk", "client_copy/target_pk")}** with the primary key
(below 1.0: mongo_etl is faster). The client's CPU is the client process
alone; its PostgreSQL backends' CPU is not counted.

## Peak backend memory (VmHWM)

| scan | at N | at N/10 |
|---|---:|---:|
| dump file, {n:,} and {small:,} documents | {m("read_dump", "hwm_kb") / 1024:.1f} MiB | {m("read_dump_small", "hwm_kb") / 1024:.1f} MiB |
| server, {nn:,} and {nn // 10:,} documents | {m("read_net", "hwm_kb") / 1024:.1f} MiB | {m("read_net_small", "hwm_kb") / 1024:.1f} MiB |
| INSERT … SELECT from the dump file, {n:,} rows | {m("insert_dump/target", "hwm_kb") / 1024:.1f} MiB | |
| INSERT … SELECT from the server, {nn:,} rows | {m("insert_net/target", "hwm_kb") / 1024:.1f} MiB | |
"""
    with open(args.results, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
