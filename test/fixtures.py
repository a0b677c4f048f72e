#!/usr/bin/python3
"""test/fixtures.py: the fixture loader and generator of mongo_etl's tests.

Runs with Debian's /usr/bin/python3 and python3-pymongo (3.11).

  load URI DB FILE...        drop and load one collection per file: .json
                             files hold MongoDB extended JSON, one document
                             per line or one array; .bson files hold raw
                             concatenated BSON (mongodump output), inserted
                             byte for byte, and checked to come back so
  big URI DB COLLECTION N    drop and load N generated documents whose every
                             value the regression suite can recompute
  demo URI DB N              drop and load a realistic shop: N users and
                             about 3 N orders
  drop URI DB COLLECTION     drop one collection
  dump DIR FILE.json...      write each .json file as DIR/<name>.bson and
                             DIR/<name>.bson.gz, as mongodump would, plus
                             damaged copies for the tests of the reader
"""

import datetime
import gzip
import math
import os
import random
import struct
import sys

import bson
import pymongo
from bson import json_util
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

BATCH = 1000


def read_json_documents(path):
    """Documents of an extended JSON file: an array, or one per line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    options = json_util.JSONOptions(tz_aware=True,
                                    tzinfo=datetime.timezone.utc)
    if text.lstrip().startswith("["):
        return json_util.loads(text, json_options=options)
    return [json_util.loads(line, json_options=options)
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("//")]


def read_bson_documents(path):
    """Raw documents of a .bson file, kept as bytes so that values Python
    cannot represent (dates past year 9999, say) load unchanged."""
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        yield RawBSONDocument(data[offset:offset + length])
        offset += length


def insert(collection, documents):
    """Insert in batches, in order."""
    batch = []
    for document in documents:
        batch.append(document)
        if len(batch) == BATCH:
            collection.insert_many(batch, ordered=True)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=True)


def load(db, paths):
    for path in paths:
        name, ext = os.path.splitext(os.path.basename(path))
        if ext == ".json":
            documents = read_json_documents(path)
        elif ext == ".bson":
            documents = read_bson_documents(path)
        else:
            sys.exit(f"fixtures.py: {path}: expected a .json or .bson file")
        db[name].drop()
        insert(db[name], documents)
        if ext == ".bson":
            same_bytes_back(db[name], path)
        print(f"loaded {db[name].count_documents({})} documents into "
              f"{db.name}.{name}", file=sys.stderr)


def same_bytes_back(collection, path):
    """Exit unless the server returns every document of a .bson file
    byte for byte: a test comparing what the server returns with what the
    file holds must not compare with what the server made of it."""
    raw = collection.with_options(codec_options=bson.CodecOptions(
        document_class=RawBSONDocument))
    stored = sorted(document.raw for document in raw.find())
    written = sorted(document.raw for document in read_bson_documents(path))
    if stored != written:
        sys.exit(f"fixtures.py: {collection.full_name} does not return the "
                 f"documents of {path} as they are")


def big(db, name, count):
    """Documents the suite recomputes with generate_series."""
    db[name].drop()
    insert(db[name], (big_document(n) for n in range(count)))
    # the parameterized scans of joins find their documents by it
    db[name].create_index("n")
    print(f"loaded {count} documents into {db.name}.{name}", file=sys.stderr)


CITIES = ["Oslo", "Boston", "Paris", "Zürich", "Lagos", "Osaka", "Lima",
          "Pune", "Porto", "Austin"]
FIRST = ["Ann", "Bo", "Chloé", "Dev", "Eve", "Femi", "Gus", "Hana", "Ivo",
         "Jun", "Kai", "Lea", "Maya", "Nils", "Omar", "Pia"]
LAST = ["Lee", "Chen", "Durand", "Patel", "Okafor", "Sato", "Silva", "Berg",
        "Novak", "Rossi", "Kim", "Moreau"]
TAGS = ["vip", "beta", "newsletter", "wholesale", "churn-risk", "staff"]
STATUSES = ["paid", "shipped", "cancelled", "pending"]


def demo(db, count):
    """A shop: users with nested addresses and tag arrays, and their
    orders with item arrays.  Seeded, so every run is the same."""
    rng = random.Random(42)
    start = datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc)
    users = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        users.append({
            "_id": bson.ObjectId(),
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{i}@example.com",
            "age": rng.randint(18, 90),
            "created": start + datetime.timedelta(
                seconds=rng.randint(0, 5 * 365 * 86400)),
            "score": round(rng.uniform(0, 5), 2),
            "active": rng.random() < 0.8,
            "address": {"street": f"{rng.randint(1, 200)} Main St",
                        "city": rng.choice(CITIES),
                        "zip": f"{rng.randint(0, 99999):05d}"},
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
        })
    orders = []
    for user in users:
        for _ in range(rng.randint(0, 6)):
            items = [{"sku": f"SKU-{rng.randint(1, 500):04d}",
                      "qty": rng.randint(1, 5),
                      "price": round(rng.uniform(2, 300), 2)}
                     for _ in range(rng.randint(1, 5))]
            orders.append({
                "_id": bson.ObjectId(),
                "user_id": user["_id"],
                "placed": user["created"] + datetime.timedelta(
                    days=rng.randint(0, 700)),
                "status": rng.choice(STATUSES),
                "total": round(sum(i["qty"] * i["price"] for i in items), 2),
                "items": items,
            })
    for name, documents in (("users", users), ("orders", orders)):
        db[name].drop()
        insert(db[name], documents)
        print(f"loaded {len(documents)} documents into {db.name}.{name}",
              file=sys.stderr)


def dump(directory, paths):
    """mongodump-style files from JSON fixtures, and damaged copies."""
    os.makedirs(directory, exist_ok=True)
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        data = b"".join(bson.BSON.encode(d) for d in read_json_documents(path))
        with open(os.path.join(directory, name + ".bson"), "wb") as f:
            f.write(data)
        with gzip.open(os.path.join(directory, name + ".bson.gz"), "wb") as f:
            f.write(data)
        first = int.from_bytes(data[:4], "little")
        # the last document cut short
        with open(os.path.join(directory, name + ".truncated.bson"), "wb") as f:
            f.write(data[:-10])
        # the second document's length prefix claims 2 GiB
        with open(os.path.join(directory, name + ".badlength.bson"), "wb") as f:
            f.write(data[:first] + (0x7fffffff).to_bytes(4, "little")
                    + data[first + 4:])
        # the gzip stream cut short
        with open(os.path.join(directory, name + ".cut.bson.gz"), "wb") as f:
            f.write(gzip.compress(data)[:-20])
    write_hostile(directory)
    write_big_file(directory, 20000)
    # over min_parallel_table_scan_size (8 MB): planned, never read
    write_big_file(directory, 120000, "big_large", gzipped=False)
    print(f"wrote dump files for {len(paths)} fixtures into {directory}",
          file=sys.stderr)


def big_document(n):
    return {"_id": n, "n": n, "name": "user-%05d" % n, "score": n * 0.5,
            "big": Int64(n * 1000000007), "even": n % 2 == 0}


def write_big_file(directory, count, name="big", gzipped=True):
    """The documents of big (see there) as big.bson and big.bson.gz, in an
    order that is not _id order, as a file may hold them."""
    order = list(range(count))
    random.Random(7).shuffle(order)
    data = b"".join(bson.BSON.encode(big_document(n)) for n in order)
    with open(os.path.join(directory, name + ".bson"), "wb") as f:
        f.write(data)
    if gzipped:
        with gzip.open(os.path.join(directory, name + ".bson.gz"), "wb") as f:
            f.write(data)
        # damaged far from the start: the last document cut short, and the
        # length prefix of the document at the middle claiming 2 GiB
        with open(os.path.join(directory, name + ".truncated.bson"), "wb") as f:
            f.write(data[:-10])
        middle = 0
        while middle < len(data) // 2:
            middle += int.from_bytes(data[middle:middle + 4], "little")
        with open(os.path.join(directory, name + ".badlength.bson"), "wb") as f:
            f.write(data[:middle] + (0x7fffffff).to_bytes(4, "little")
                    + data[middle + 4:])


def write_hostile(directory):
    """Documents no server would return, as a damaged or hostile file
    could hold them."""
    def write(name, data):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)

    good = bson.BSON.encode({"_id": 1, "name": "fine"})
    # a string that is not UTF-8
    write("badutf8.bson", good + bson.BSON.encode(
        {"_id": 2, "name": "abc"}).replace(b"abc", b"a\xffc"))
    # an element whose length runs past the end of its document
    damaged = bytearray(bson.BSON.encode({"_id": 3, "name": "hello"}))
    at = damaged.index(b"name\x00") + 5
    damaged[at:at + 4] = (1000).to_bytes(4, "little")
    write("badelement.bson", good + bytes(damaged))
    # an array whose first string holds a zero byte (an error that
    # on_type_mismatch may turn into NULL) and whose next element is a
    # boolean of value 5 (a damaged document, which stays an error)
    write("badarray.bson", good + raw_document(
        int32("_id", 5), array("doc", string("0", "x\x00y"),
                               element(0x08, "1", b"\x05"))))
    # 500 levels of nesting
    nested = {"v": 1}
    for _ in range(500):
        nested = {"a": nested}
    write("deep.bson", good + bson.BSON.encode({"_id": 4, "doc": nested}))
    # a document that does not end in a zero byte
    write("noterminator.bson", good + good[:-1] + b"\x01")
    # shapes jsonb encoding must get right: a repeated key, nested arrays,
    # more children than jsonb's offset stride (32), odd keys
    write("jsonbshapes.bson",
          raw_document(int32("_id", 1), document("doc",
              int32("b", 1), int32("a", 2), int32("b", 3),
              array("ccc", array("0", int32("0", 1), int32("1", 2)),
                    array("1", int32("0", 3), array("1", int32("0", 4)))),
              string("", "empty key"), string("é", "accented key"),
              document("empty"), array("none")))
          + raw_document(int32("_id", 2), array("doc", *(
              int32(str(i), i) for i in range(40))))
          + raw_document(int32("_id", 3), document("doc", *(
              string(f"k{i}", "v" * i) for i in range(40))))
          # arrays of strings, which are encoded from one walk up to 16
          # elements: 16, 17, strings then a number, empty, and inside an
          # object after a key of odd length (the array padded to 4 bytes)
          + raw_document(int32("_id", 4), array("doc", *(
              string(str(i), ["", "é", "日本", "tag"][i % 4] * (i // 4))
              for i in range(16))))
          + raw_document(int32("_id", 5), array("doc", *(
              string(str(i), f"s{i}") for i in range(17))))
          + raw_document(int32("_id", 6), array("doc", string("0", "a"),
              string("1", "b"), int32("2", 3), string("3", "d")))
          + raw_document(int32("_id", 7), array("doc"))
          + raw_document(int32("_id", 8), document("doc",
              string("k", "odd"), array("tags", string("0", "x"),
                                        string("1", "yz")),
              document("more", array("list", string("0", "é")),
                       array("none")))))
    # a field of every BSON type JSON has no value for, some of which
    # neither the test server nor pymongo can store
    uuid = bytes.fromhex("a0eebc999c0b4ef8bb6d6bb9bd380a11")
    write("exotic.bson", raw_document(
        int32("_id", 1),
        binary("binary", 0x00, b"\x01\x02\x03"),
        binary("uuid4", 0x04, uuid),
        binary("uuid3", 0x03, uuid),
        binary("user", 0x80, b"\xff"),
        element(0x0B, "regex", b"^a.*z$\x00im\x00"),
        element(0x11, "timestamp", (7).to_bytes(4, "little")
                + (1700000000).to_bytes(4, "little")),
        element(0x0D, "code", string_payload("function () { return 1; }")),
        element(0x0F, "codewscope", code_with_scope("x + y",
                                                    int32("x", 1))),
        element(0x0E, "symbol", string_payload("sym")),
        element(0xFF, "minkey", b""),
        element(0x7F, "maxkey", b""),
        element(0x06, "undefined", b""),
        element(0x0C, "dbpointer", string_payload("shop.users") + uuid[:12]),
        element(0x07, "oid", bytes.fromhex("64b7f0c2e4b0a1a2b3c4d5e6")),
        document("nested", array("list", binary("0", 0x00, b"\x01"),
                                 element(0xFF, "1", b""),
                                 element(0x06, "2", b""))),
        # arrays for PostgreSQL arrays, which the test server cannot nest
        array("matrix", array("0", int32("0", 1), int32("1", 2)),
              array("1", int32("0", 3), int32("1", 4))),
        array("ragged", array("0", int32("0", 1)),
              array("1", int32("0", 2), int32("1", 3))),
        array("mixed", int32("0", 1), array("1", int32("0", 2))),
        array("withnull", int32("0", 1), element(0x0A, "1", b""),
              int32("2", 3)),
        array("empty"),
        # a string with a zero byte inside, which no PostgreSQL string
        # holds, and an empty one
        string("with_nul", "a\x00b"),
        string("empty_string", ""),
        # dates Python cannot hold: year 10000, and the end of BSON's range
        date("year10000", 253402300800000),
        date("date_max", 2**63 - 1),
        date("date_min", -2**63)))
    write_every_type(write)
    write_known_steps(write)
    write_load_kinds(write)


def write_load_kinds(write):
    """Documents whose values mongo_etl.load lays out in heap tuples of
    its own (form_row in load.c): values of every width and alignment, a
    string too long for a 1-byte header, one long enough to be compressed,
    and documents lacking most fields, so that the null bitmap spans
    several bytes."""
    full = {"_id": 1, "flag": True, "big": Int64(-5000000000),
            "word": "abc", "n": 7, "score": 2.5,
            "uid": bson.Binary(bytes.fromhex(
                "a0eebc999c0b4ef8bb6d6bb9bd380a11"), 4),
            "label": "a name", "span": "1 day 02:03:04", "code": "xy",
            "plain": "stored with a 4-byte header", "amount":
            Decimal128("-12.50"), "doc": {"a": [1, "x"]},
            "raw": bson.Binary(b"\x00\x01\xff"), "long": "L" * 200,
            "huge": "compressible " * 400, "small": 3,
            "at": datetime.datetime(2024, 2, 29, 23, 59, 59, 123000)}
    write("load_kinds.bson", b"".join(bson.BSON.encode(d) for d in [
        full,
        {"_id": 2},
        {"_id": 3, "big": Int64(1), "n": -1, "label": "", "raw": b"",
         "huge": "x", "at": datetime.datetime(1999, 12, 31)},
        dict(full, _id=4, flag=False, word="é" * 126, long="é" * 64)]))


def write_known_steps(write):
    """Documents of one shape, whose values a scan converts, after the
    first document, as the one before had them at each position
    (convert_known_field in bson_convert.c), and what it must notice there:
    a value of another type, a reordered document, a repeated key, BSON
    null, a string that is not ASCII; and files whose second document has,
    where the first had a good value, a damaged boolean, a date beyond
    PostgreSQL's range, a string with a zero byte or not UTF-8."""
    oid = bytes.fromhex("64b7f0c2e4b0a1a2b3c4d5e6")

    def row(_id, n, b, day, s):
        return [int32("_id", _id), n, element(0x08, "b", b),
                date("d", day * 86400000), string("s", s),
                element(0x07, "o", oid)]

    def int64(key, value):
        return element(0x12, key, value.to_bytes(8, "little", signed=True))

    def double(key, value):
        return element(0x01, key, struct.pack("<d", value))

    reordered = row(5, int32("n", 5), b"\x01", 5, "five")
    write("steps.bson", b"".join([
        raw_document(*row(1, int32("n", 1), b"\x01", 1, "one")),
        raw_document(*row(2, int32("n", 2), b"\x00", 2, "two")),
        raw_document(*row(3, int64("n", 5000000000), b"\x01", 3, "drei ä")),
        raw_document(*row(4, double("n", 4.0), b"\x00", 4, "four")),
        raw_document(*reversed(reordered)),
        raw_document(*row(6, int32("n", 6), b"\x01", 6, "six")[:2],
                     int32("n", 66),
                     *row(6, int32("n", 6), b"\x01", 6, "six")[2:]),
        raw_document(int32("_id", 7), int32("n", 7), element(0x0A, "b", b""),
                     *row(7, int32("n", 7), b"\x01", 7, "seven")[3:]),
        raw_document(*row(8, int32("n", 8), b"\x00", 8, "eight"))]))
    good = raw_document(*row(1, int32("n", 1), b"\x01", 1, "one"))
    write("steps_bool.bson", good + raw_document(
        *row(2, int32("n", 2), b"\x02", 2, "two")))
    write("steps_date.bson", good + raw_document(
        *row(2, int32("n", 2), b"\x00", 2**63 // 86400000, "two")))
    write("steps_nul.bson", good + raw_document(
        *row(2, int32("n", 2), b"\x00", 2, "t\x00o")))
    write("steps_utf8.bson", good + raw_document(
        *row(2, int32("n", 2), b"\x00", 2, "two")).replace(b"two", b"t\xffo"))


def write_every_type(write):
    """One document per BSON type, and per edge of the values JSON writes
    differently (dates beyond the years 1 to 9999, zero bytes in strings),
    each in field v: every valid document must convert to json."""
    uuid = bytes.fromhex("a0eebc999c0b4ef8bb6d6bb9bd380a11")
    values = [
        ("double", element(0x01, "v", struct.pack("<d", 1.5))),
        ("double NaN", element(0x01, "v", struct.pack("<d", math.nan))),
        ("double -Infinity", element(0x01, "v", struct.pack("<d", -math.inf))),
        ("string", string("v", "plain")),
        ("string with a zero byte", string("v", "a\x00b")),
        ("document", document("v", int32("a", 1), string("b", "x"))),
        ("array", array("v", int32("0", 1), string("1", "x"))),
        ("binData", binary("v", 0x00, b"\x01\x02\x03")),
        ("binData uuid", binary("v", 0x04, uuid)),
        ("undefined", element(0x06, "v", b"")),
        ("objectId", element(0x07, "v",
                             bytes.fromhex("64b7f0c2e4b0a1a2b3c4d5e6"))),
        ("bool", element(0x08, "v", b"\x01")),
        ("date 1970", date("v", 0)),
        ("date at the int64 maximum", date("v", 2**63 - 1)),
        ("date at the int64 minimum", date("v", -2**63)),
        ("date in year 10000", date("v", 253402300800000)),
        ("date at the end of year 9999", date("v", 253402300799999)),
        ("date at the start of year 1", date("v", -62135596800000)),
        ("date before year 1", date("v", -62135596800001)),
        ("null", element(0x0A, "v", b"")),
        ("regex", element(0x0B, "v", b"^a.*z$\x00im\x00")),
        ("dbPointer", element(0x0C, "v", string_payload("shop.users")
                              + uuid[:12])),
        ("javascript", element(0x0D, "v", string_payload("return 1;"))),
        ("javascript with a zero byte",
         element(0x0D, "v", string_payload("a\x00b"))),
        ("symbol", element(0x0E, "v", string_payload("sym"))),
        ("javascriptWithScope", element(0x0F, "v", code_with_scope(
            "x + y", int32("x", 1)))),
        ("int", int32("v", -2**31)),
        ("timestamp", element(0x11, "v", (7).to_bytes(4, "little")
                              + (1700000000).to_bytes(4, "little"))),
        ("long", element(0x12, "v", (2**63 - 1).to_bytes(8, "little",
                                                          signed=True))),
        ("decimal", element(0x13, "v", Decimal128("-1.25E-20").bid)),
        ("decimal NaN", element(0x13, "v", Decimal128("NaN").bid)),
        ("minKey", element(0xFF, "v", b"")),
        ("maxKey", element(0x7F, "v", b"")),
        ("far dates and a zero byte inside a document",
         document("v", date("max", 2**63 - 1), string("s", "\x00"),
                  array("a", date("0", -2**63)))),
    ]
    write("everytype.bson", b"".join(
        raw_document(int32("_id", i + 1), string("what", what), value)
        for i, (what, value) in enumerate(values)))


def date(key, milliseconds):
    return element(0x09, key, milliseconds.to_bytes(8, "little", signed=True))


# Raw BSON, for documents pymongo cannot make (repeated keys, say).
def element(kind, key, payload):
    return bytes([kind]) + key.encode() + b"\x00" + payload


def raw_document(*elements):
    body = b"".join(elements) + b"\x00"
    return (len(body) + 4).to_bytes(4, "little") + body


def int32(key, value):
    return element(0x10, key, value.to_bytes(4, "little", signed=True))


def string_payload(value):
    data = value.encode() + b"\x00"
    return len(data).to_bytes(4, "little") + data


def string(key, value):
    return element(0x02, key, string_payload(value))


def binary(key, subtype, data):
    return element(0x05, key, len(data).to_bytes(4, "little")
                   + bytes([subtype]) + data)


def code_with_scope(code, *scope):
    body = string_payload(code) + raw_document(*scope)
    return (len(body) + 4).to_bytes(4, "little") + body


def document(key, *elements):
    return element(0x03, key, raw_document(*elements))


def array(key, *elements):
    return element(0x04, key, raw_document(*elements))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command = argv[1]
    if command == "dump":
        dump(argv[2], argv[3:])
        return
    if len(argv) < 4:
        sys.exit(__doc__)
    db = pymongo.MongoClient(argv[2], serverSelectionTimeoutMS=10000)[argv[3]]
    if command == "load":
        load(db, argv[4:])
    elif command == "big" and len(argv) == 6:
        big(db, argv[4], int(argv[5]))
    elif command == "demo" and len(argv) == 5:
        demo(db, int(argv[4]))
    elif command == "drop" and len(argv) == 5:
        db[argv[4]].drop()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
