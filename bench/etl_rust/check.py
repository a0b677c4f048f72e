#!/usr/bin/python3
"""bench/etl_rust/check.py: a correctness check of etl_rust, not part of
`make bench`.  Writes N documents of each shape (flat, user, orders) to a
MongoDB-compatible server, loads them with etl_rust into PostgreSQL, loads
the same documents from Python into a reference table, and compares the
two: row count, an md5 of all rows in _id order, and EXCEPT both ways.

    eval "$(bash test/servers.sh start)"     # PGHOST ... MONGO_URI
    /usr/bin/python3 bench/etl_rust/check.py --rows 20000

FerretDB has no Decimal128, so the balance field is left out of the
documents unless --decimal is given (for a real MongoDB); the Decimal128
conversion is tested on its own by `cargo test` (see src/main.rs).
The shapes' generators here are a reference for the bench's; the column
lists are the program's (src/main.rs, one impl per shape).
"""

import argparse
import datetime
import os
import random
import subprocess
import sys

import bson
import psycopg2
import psycopg2.extras
import pymongo
from bson.decimal128 import Decimal128
from bson.int64 import Int64

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import bench  # noqa: E402  (bench/bench.py: the orders shape)

START = datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc)

COLUMNS = {
    "flat": """_id text, seq int, name text, email text, city text, age int,
        visits bigint, score float8, active bool, created timestamptz""",
    "user": """_id text, seq int, name text, email text, age int,
        created timestamptz, score float8, active bool, balance numeric,
        city text, tags jsonb""",
    "orders": bench.COLUMNS,
}


def oid(seq):
    return bson.ObjectId((1500000000 + seq // 10).to_bytes(4, "big")
                         + seq.to_bytes(8, "big"))


def person(rng, seq):
    first, last = rng.choice(bench.FIRST), rng.choice(bench.LAST)
    return first, last, {
        "_id": oid(seq), "seq": seq, "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{seq}@example.com"}


def flat_documents(count, with_decimal):
    rng = random.Random(11)
    for seq in range(count):
        _, _, doc = person(rng, seq)
        doc.update({
            "city": rng.choice(bench.CITIES),
            "age": rng.randint(18, 90),
            "visits": Int64(rng.randint(0, 10**12)),
            "score": rng.randint(0, 50000) / 100,
            "active": rng.random() < 0.8,
            "created": START + datetime.timedelta(
                milliseconds=rng.randint(0, 10 * 365 * 86400 * 1000)),
        })
        yield doc


def user256_documents(count, with_decimal):
    rng = random.Random(13)
    for seq in range(count):
        _, _, doc = person(rng, seq)
        doc.update({
            "age": rng.randint(18, 90),
            "created": START + datetime.timedelta(
                milliseconds=rng.randint(0, 10 * 365 * 86400 * 1000)),
            "score": rng.randint(0, 50000) / 100,
            "active": rng.random() < 0.8,
        })
        if with_decimal:
            doc["balance"] = Decimal128(
                f"{rng.randint(-10**7, 10**9) / 100:.2f}")
        doc["address"] = {"street": f"{rng.randint(1, 999)} Main Street",
                          "city": rng.choice(bench.CITIES),
                          "zip": f"{rng.randint(0, 99999):05d}"}
        doc["tags"] = rng.sample(bench.TAGS, 2)
        yield doc


GENERATORS = {"flat": flat_documents, "user": user256_documents,
              "orders": bench.user_documents}


def relaxed(value):
    """Subdocument values as etl_rust writes them to jsonb."""
    if isinstance(value, list):
        return [relaxed(v) for v in value]
    if isinstance(value, dict):
        return {k: relaxed(v) for k, v in value.items()}
    if isinstance(value, datetime.datetime):
        return {"$date": value.isoformat().replace("+00:00", "Z")}
    return value


def expected_row(shape, doc):
    """The row etl_rust should write for doc, as Python values."""
    d = dict(doc)
    d["_id"] = str(d["_id"])
    if "balance" in d:
        d["balance"] = d["balance"].to_decimal()
    address = d.pop("address", {}) or {}
    for key in ("street", "city", "zip"):
        if shape != "flat":
            d.setdefault(key, address.get(key))
    for key in ("tags", "orders"):
        if key in d:
            d[key] = psycopg2.extras.Json(relaxed(d[key]))
    names = [c.split()[0] for c in COLUMNS[shape].replace("\n", " ").split(",")]
    return [d.get(n) for n in names], names


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--shapes", default="flat,user,orders")
    p.add_argument("--decimal", action="store_true",
                   help="store balance as Decimal128 (not on FerretDB)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--binary", default=os.path.join(
        HERE, "target", "release", "etl_rust"))
    args = p.parse_args()
    uri = os.environ["MONGO_URI"]
    conninfo = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} "
                f"user={os.environ['PGUSER']} "
                f"dbname={os.environ.get('PGDATABASE', 'postgres')}")
    mongo = pymongo.MongoClient(uri).etl_rust_check
    pg = psycopg2.connect(conninfo)
    pg.autocommit = True
    cur = pg.cursor()
    failed = 0

    for shape in args.shapes.split(","):
        docs = list(GENERATORS[shape](args.rows, args.decimal))
        coll = mongo[shape]
        coll.drop()
        for i in range(0, len(docs), 5000):
            coll.insert_many(docs[i:i + 5000])
        size = sum(len(bson.BSON.encode(d)) for d in docs) / len(docs)

        cur.execute(f"DROP TABLE IF EXISTS rust_{shape}, ref_{shape};"
                    f"CREATE TABLE rust_{shape} ({COLUMNS[shape]});"
                    f"CREATE TABLE ref_{shape} ({COLUMNS[shape]})")
        out = subprocess.run(
            [args.binary, "--mongo-uri", uri, "--db", "etl_rust_check",
             "--collection", shape, "--pg", conninfo,
             "--table", f"public.rust_{shape}", "--shape", shape,
             "--workers", str(args.workers), "--batch", str(args.batch)],
            check=True, capture_output=True, text=True).stdout.strip()

        rows = [expected_row(shape, d) for d in docs]
        names = rows[0][1]
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO ref_{shape} ({', '.join(names)}) VALUES %s",
            [r[0] for r in rows], page_size=1000)

        sums = []
        for table in (f"rust_{shape}", f"ref_{shape}"):
            cur.execute(f"SELECT count(*), count(DISTINCT _id), "
                        f"md5(string_agg(t::text, '|' ORDER BY _id)) "
                        f"FROM {table} t")
            sums.append(cur.fetchone())
        cur.execute(f"SELECT (SELECT count(*) FROM (TABLE rust_{shape} "
                    f"EXCEPT ALL TABLE ref_{shape}) a), (SELECT count(*) FROM "
                    f"(TABLE ref_{shape} EXCEPT ALL TABLE rust_{shape}) b)")
        diff = cur.fetchone()
        ok = sums[0] == sums[1] and sums[0][0] == args.rows \
            and sums[0][1] == args.rows and diff == (0, 0)
        failed += not ok
        print(f"{shape}: {size:.0f} bytes/doc; etl_rust: {out}")
        print(f"  loaded count={sums[0][0]} distinct_id={sums[0][1]} "
              f"md5={sums[0][2]}; reference count={sums[1][0]} "
              f"md5={sums[1][2]}; rows only in one: {diff} -> "
              f"{'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
