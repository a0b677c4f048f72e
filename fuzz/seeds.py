#!/usr/bin/env python3
"""fuzz/seeds.py: write the starting corpus of fuzz_dump.c into a directory.

Each seed is a small mongodump-style file (concatenated BSON documents)
whose fields have the names of the fuzz target's columns and hold values
of every BSON type, fitting and not fitting, so that mutations start from
inputs that reach each conversion.  Usage: seeds.py <directory>
"""

import datetime
import gzip
import os
import sys
import uuid

import bson
from bson.binary import Binary
from bson.code import Code
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

UTC = datetime.timezone.utc
OID = ObjectId("64b7f3a2c1d4e5f6a7b8c9d0")

VALUES = [
    None, True, False, 0, 1, -1, 2**31 - 1, -2**31, Int64(2**63 - 1),
    Int64(-2**63), 32767, 32768, 0.5, -0.0, 1e308, float("inf"), float("nan"),
    Decimal128("1234.5678"), Decimal128("NaN"), Decimal128("-Infinity"),
    Decimal128("1E+6144"), "", "text", "123", "12.345", "true", "2024-01-02",
    "2024-01-02T03:04:05Z", "192.168.0.1/24", "a" * 300, "é\u0000x", "\u2603",
    "6f1e8c0e-4c1a-4b6e-9a57-3f3e1a2b4c5d", OID,
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    datetime.datetime(1, 1, 1, tzinfo=UTC), datetime.datetime(9999, 12, 31, tzinfo=UTC),
    Binary(b"\x00\x01\x02"), Binary(uuid.UUID(int=1).bytes, 4),
    Binary(b"\x01" * 16, 3), Binary(b"old", 2), Binary(b"user", 128),
    Regex("^a.*b$", "imsx"), Code("function () { return 1; }"),
    Code("function () { return x; }", {"x": 1}), Timestamp(1700000000, 7),
    MinKey(), MaxKey(), DBRef("coll", OID, "db"),
    [], [1, 2, 3], [1, "two", 3.0], [[1, 2], [3, 4]], [[1, 2], [3]],
    [None, 1], ["a", None, "c"], [{"x": 1}], {}, {"k": 1, "l": [1, {"m": 2}]},
]

COLUMNS = ["_id", "s", "i", "l", "r", "f", "n", "n2", "t", "v", "b", "ts",
           "tl", "d", "j", "js", "by", "u", "ai", "at", "aj", "ip"]


def documents():
    # every value in every column, a few columns per document
    for k, value in enumerate(VALUES):
        doc = {"_id": k}
        for c in COLUMNS[1:]:
            doc[c] = value
        yield doc
    # nested paths the target reads: a.b.c and a.0
    yield {"_id": "nested", "a": {"b": {"c": "deep"}}}
    yield {"_id": "array", "a": [7, 8, 9]}
    yield {"_id": OID, "a": [{"b": {"c": 1}}, {"b": [{"c": 2}]}]}
    # deep nesting
    doc = {"x": 1}
    for _ in range(120):
        doc = {"a": doc}
    yield {"_id": "deep", "j": doc, "a": doc}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for k, doc in enumerate(documents()):
        with open(os.path.join(out, f"seed-{k:03d}.bson"), "wb") as f:
            f.write(bson.BSON.encode(doc))
    # a file of several documents, and one with the same key twice
    with open(os.path.join(out, "seed-many.bson"), "wb") as f:
        for doc in list(documents())[:10]:
            f.write(bson.BSON.encode(doc))
    with gzip.open(os.path.join(out, "seed-gzip.bson"), "wb") as f:
        for doc in list(documents())[:3]:
            f.write(bson.BSON.encode(doc))
    with open(os.path.join(out, "seed-duplicate-keys.bson"), "wb") as f:
        body = (b"\x10i\x00\x01\x00\x00\x00" b"\x10i\x00\x02\x00\x00\x00"
                b"\x02t\x00\x02\x00\x00\x00a\x00")
        f.write((len(body) + 5).to_bytes(4, "little") + body + b"\x00")


if __name__ == "__main__":
    main()
