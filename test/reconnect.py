#!/usr/bin/env python3
"""test/reconnect.py: new connections after parallel loads and scans, and
a server whose replies come in small pieces.

Run by test/run.sh after the pg_regress suite, against the test cluster
(PGHOST, PGPORT, PGUSER from the environment) and the suite's MongoDB
server (MONGO_URI, credentials included).  Issue 30: after parallel loads
from DocumentDB's gateway without TLS, new backends failed with "socket
timeout calling hello" after connectTimeoutMS.  The gateway writes a reply
in several pieces (the header's four fields, the flags, the document: one
write each, TCP_NODELAY), and the hello that opens a connection reads with
a zero timeout: libmongoc's buffer stream asked the socket for the whole
rest of the reply, and a read that got only part of it returned -1 with
the part dropped, so the reply never completed.  Two cases:

- two parallel loads and a parallel scan in a row, then new backends,
  each of which must connect and read a document within 5 s;
- new backends through a relay that passes a connection's first replies
  on in pieces of at most 7 bytes, 2 ms apart: each must connect and read
  a document within 5 s.

Prints one line per case; exits non-zero on the first failure.
"""

import os
import socket
import threading
import time
import urllib.parse

import psycopg2
import pymongo

URI = os.environ["MONGO_URI"]
PROXY_PORT = int(os.environ.get("MONGO_ETL_RECONNECT_PORT", "27148"))
DOCUMENTS = 50000
BOUND = 5.0


def split_uri(uri):
    """The uri without credentials, and the user and password (or None)."""
    parts = urllib.parse.urlsplit(uri)
    user = password = None
    host = parts.netloc
    if "@" in host:
        credentials, host = host.rsplit("@", 1)
        user, _, password = credentials.partition(":")
        user = urllib.parse.unquote(user)
        password = urllib.parse.unquote(password)
    return parts._replace(netloc=host).geturl(), host, user, password


class SplittingProxy:
    """A TCP relay that passes the server's first replies on a connection
    (the hello and authentication) on in pieces of at most 7 bytes, 2 ms
    apart, as a server that writes a reply in several calls does when the
    client reads between them; the rest whole."""

    def __init__(self, port, target_host, target_port):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.target = (target_host, target_port)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.pump, args=(client, server, False),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, True),
                             daemon=True).start()

    def pump(self, source, sink, replies):
        try:
            pieces = 4 if replies else 0
            while data := source.recv(65536):
                # the hello's and authentication's replies are short
                if pieces == 0 or len(data) > 4096:
                    sink.sendall(data)
                    continue
                pieces -= 1
                for i in range(0, len(data), 7):
                    sink.sendall(data[i:i + 7])
                    time.sleep(0.002)
        except OSError:
            pass
        for s in (source, sink):
            s.close()


def connect():
    conn = psycopg2.connect("dbname=mongo_etl_reconnect")
    conn.autocommit = True
    return conn


def fail(message):
    print(f"FAILED: {message}", flush=True)
    raise SystemExit(1)


def new_backend_reads(table, what):
    """A new backend connects and reads a document (the limit is sent:
    one document travels, so that the time is the connection's, also on
    a slow server), within BOUND seconds."""
    started = time.monotonic()
    try:
        conn = connect()
        with conn.cursor() as cur:
            cur.execute(f"SELECT n FROM {table} LIMIT 1")
            rows = cur.fetchall()
        conn.close()
    except psycopg2.Error as e:
        fail(f"{what}: {e.pgerror or e}")
    took = time.monotonic() - started
    if len(rows) != 1 or not 0 <= rows[0][0] < DOCUMENTS:
        fail(f"{what}: {rows}")
    if took > BOUND:
        fail(f"{what}: {took:.1f} s (connectTimeoutMS waited out?)")
    return took


def main():
    plain_uri, host, user, password = split_uri(URI)
    target_host, _, target_port = host.partition(",")[0].partition(":")
    client = pymongo.MongoClient(URI)
    client.mongo_etl_reconnect.docs.drop()
    client.mongo_etl_reconnect.docs.insert_many(
        {"n": n, "s": "x" * 20} for n in range(DOCUMENTS))

    admin = psycopg2.connect("dbname=postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS mongo_etl_reconnect")
        cur.execute("CREATE DATABASE mongo_etl_reconnect")
    admin.close()

    # the relay passes bytes on, TLS's records as well
    SplittingProxy(PROXY_PORT, target_host, int(target_port or 27017))
    proxy_uri = plain_uri.replace(host, f"127.0.0.1:{PROXY_PORT}")
    mapping = ""
    if user is not None:
        mapping = " OPTIONS (username %s, password %s)"
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION mongo_etl")
        for name, uri in (("direct", plain_uri), ("split", proxy_uri)):
            cur.execute(f"CREATE SERVER {name} FOREIGN DATA WRAPPER mongo_etl"
                        " OPTIONS (uri %s)", (uri,))
            cur.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER {name}"
                        + mapping, (user, password) if user else None)
            cur.execute(f"CREATE FOREIGN TABLE docs_{name} (_id text"
                        " OPTIONS (bson_type 'objectId'), n int, s text)"
                        f" SERVER {name} OPTIONS (database"
                        " 'mongo_etl_reconnect', collection 'docs')")
        cur.execute("CREATE TABLE target (_id text, n int, s text)")

    # two parallel loads and a parallel scan in a row, then new backends
    started = time.monotonic()
    with conn.cursor() as cur:
        for _ in range(2):
            cur.execute("CALL mongo_etl.load('docs_direct', 'target',"
                        " truncate => true, workers => 2)")
            cur.execute("SELECT count(*) FROM target")
            if cur.fetchone()[0] != DOCUMENTS:
                fail("parallel load: wrong count")
        cur.execute("ALTER FOREIGN TABLE docs_direct"
                    " OPTIONS (ADD parallel_workers '2')")
        cur.execute("SET parallel_setup_cost = 0")
        cur.execute("SET parallel_tuple_cost = 0")
        cur.execute("SET max_parallel_workers_per_gather = 2")
        cur.execute("EXPLAIN SELECT count(*), sum(n) FROM docs_direct")
        if "Parallel Foreign Scan" not in str(cur.fetchall()):
            fail("the scan is not parallel")
        cur.execute("SELECT count(*), sum(n) FROM docs_direct")
        if cur.fetchone() != (DOCUMENTS, DOCUMENTS * (DOCUMENTS - 1) // 2):
            fail("parallel scan: wrong count or sum")
        cur.execute("ALTER FOREIGN TABLE docs_direct"
                    " OPTIONS (DROP parallel_workers)")
    conn.close()
    worst = max(new_backend_reads("docs_direct", f"new backend {i}")
                for i in range(3))
    print(f"two parallel loads and a parallel scan, then 3 new backends:"
          f" ok ({time.monotonic() - started:.1f} s, a new backend's read"
          f" at most {worst:.1f} s)", flush=True)

    worst = max(new_backend_reads("docs_split", f"replies in pieces {i}")
                for i in range(5))
    print(f"replies in 7-byte pieces, 5 new backends: ok (at most"
          f" {worst:.1f} s each)", flush=True)


if __name__ == "__main__":
    main()
