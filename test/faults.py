#!/usr/bin/env python3
"""test/faults.py: what a scan does when its MongoDB server fails, and
under load.

Run by test/run.sh after the pg_regress suite, against the test cluster
(PGHOST, PGPORT, PGUSER from the environment), with a FerretDB of its own
on 127.0.0.1 (port MONGO_ETL_FAULTPORT, default 27147) that it stops,
kills, freezes and restarts.  Each case checks the SQLSTATE, that the error
came within a bounded time, that the backend survived and that its open
file descriptors did not grow.  Then 1,000 short queries in one session
(its private memory and descriptors must stay flat), writes that fail
after libbson took memory for them (its private memory must stay flat)
and 8 sessions each scanning and loading at once (every result must be
right).  Prints one line per case; exits non-zero on the first failure.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import psycopg2
import pymongo

from ferretdb import FerretDB

PORT = int(os.environ.get("MONGO_ETL_FAULTPORT", "27147"))
URI = f"mongodb://127.0.0.1:{PORT}/"
# libmongoc's timeouts, in the server's uri: a frozen server fails a read
# after socketTimeoutMS
OPTIONS = "serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=3000"
DOCUMENTS = 20000
# A query whose scans last well past the faults' 1 to 2 s timers: three
# scans of the 20,000 documents (two finished in 0.9 s on PostgreSQL 18,
# before the server was killed)
LONG_SCAN = ("SELECT count(*) FROM big a, big b, big c "
             "WHERE a.n = b.n + 1 AND b.n = c.n + 1")

server = FerretDB(os.path.join(os.environ["MONGO_ETL_TEST_DIR"], "faults"), PORT)
check = server.check


class StallingProxy:
    """A TCP relay between the backend and FerretDB that, once stall() is
    called, passes on only the first 20 bytes of the server's next reply,
    in two pieces, and holds the rest until release(): a reply that stops
    half way, which freezing the server cannot produce on demand.  After
    cut_on(pattern), until mend(), it closes the connection instead of
    passing on a request holding pattern: a connection lost at a chosen
    request."""

    def __init__(self, port, target):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.target = target
        self.stall_next = threading.Event()
        self.released = threading.Event()
        self.cut_pattern = None
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(client, server, False),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, True),
                             daemon=True).start()

    def pump(self, source, sink, replies):
        try:
            while data := source.recv(65536):
                if not replies and self.cut_pattern is not None \
                        and self.cut_pattern in data:
                    break
                if replies and self.stall_next.is_set():
                    # the header and a little; then, once the backend waits
                    # for the rest, a little more, so that it is reading
                    # when the reply stops
                    self.stall_next.clear()
                    sink.sendall(data[:10])
                    time.sleep(0.3)
                    sink.sendall(data[10:20])
                    self.released.wait()
                    data = data[20:]
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            s.close()

    def stall(self):
        self.released.clear()
        self.stall_next.set()

    def release(self):
        self.released.set()

    def cut_on(self, pattern):
        self.cut_pattern = pattern

    def mend(self):
        self.cut_pattern = None


def connect():
    conn = psycopg2.connect("dbname=mongo_etl_faults")
    conn.autocommit = True
    return conn


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def anon_kb(pid):
    """The backend's private memory (RssAnon), shared buffers aside."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def attempt(cur, query):
    """Run query; return (SQLSTATE or None, seconds)."""
    started = time.monotonic()
    try:
        cur.execute(query)
        cur.fetchall()
        return None, time.monotonic() - started
    except psycopg2.Error as e:
        return e.pgcode, time.monotonic() - started


def main():
    server.start()
    client = pymongo.MongoClient(URI)
    client.faults.big.drop()
    client.faults.big.insert_many({"_id": n, "n": n} for n in range(DOCUMENTS))
    client.faults.small.drop()
    client.faults.small.insert_many({"_id": n, "n": n} for n in range(10))
    client.faults.written.drop()
    client.faults.written.insert_many({"_id": f"w{n}", "n": n, "s": "s"}
                                      for n in range(3))
    client.close()

    subprocess.run(["dropdb", "--if-exists", "mongo_etl_faults"], check=True)
    subprocess.run(["createdb", "mongo_etl_faults"], check=True)
    setup = connect()
    setup.cursor().execute(f"""
        CREATE EXTENSION mongo_etl;
        CREATE SERVER faulty FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (uri '{URI}?{OPTIONS}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER faulty;
        CREATE FOREIGN TABLE big (_id int, n int) SERVER faulty
          OPTIONS (database 'faults', batch_size '500',
                   use_remote_estimate 'false');
        CREATE FOREIGN TABLE small (_id int, n int) SERVER faulty
          OPTIONS (database 'faults');
        CREATE FOREIGN TABLE written (_id text, n int, s text, ts timestamp)
          SERVER faulty OPTIONS (database 'faults');
        CREATE FOREIGN TABLE written_doc (_id text, doc jsonb OPTIONS (field '$$ROOT'))
          SERVER faulty OPTIONS (database 'faults', collection 'written');
        CREATE SERVER stalling FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (uri 'mongodb://127.0.0.1:{PORT + 1}/?socketTimeoutMS=10000');
        CREATE USER MAPPING FOR CURRENT_USER SERVER stalling;
        CREATE FOREIGN TABLE stalling (_id int, n int) SERVER stalling
          OPTIONS (database 'faults', collection 'big');
        CREATE SERVER patient FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (uri '{URI}?serverSelectionTimeoutMS=10000&connectTimeoutMS=10000&socketTimeoutMS=10000');
        CREATE USER MAPPING FOR CURRENT_USER SERVER patient;
        CREATE FOREIGN TABLE planned (_id int, n int) SERVER patient
          OPTIONS (database 'faults', collection 'small');
        CREATE FOREIGN TABLE big_patient (_id int, n int) SERVER patient
          OPTIONS (database 'faults', collection 'big', batch_size '500',
                   use_remote_estimate 'false');
        """)
    setup.close()
    proxy = StallingProxy(PORT + 1, PORT)

    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute("SELECT sum(n) FROM big")
    check("first query", cur.fetchone()[0] == DOCUMENTS * (DOCUMENTS - 1) // 2,
          "sum of 20,000 documents")
    cur.execute("SELECT count(*) FROM stalling")
    cur.fetchall()
    fds = fd_count(pid)

    # stopped before a query: a connection error, quickly
    server.stop()
    state, seconds = attempt(cur, "SELECT sum(n) FROM big")
    check("server stopped before a query", state == "HV00N" and seconds < 10,
          f"SQLSTATE {state} after {seconds:.1f} s")

    # restarted: the same session reaches it again at once, not after
    # libmongoc's 5 s cooldown of a server it saw fail (the failed client
    # is rebuilt)
    server.start()
    state, seconds = attempt(cur, "SELECT count(*) FROM big")
    check("server restarted between queries", state is None,
          f"SQLSTATE {state} after {seconds:.1f} s")

    # killed in the middle of a scan: an error, and the next query works
    timer = threading.Timer(1.0, server.stop, args=(signal.SIGKILL,))
    timer.start()
    state, seconds = attempt(cur, LONG_SCAN)
    timer.join()
    check("server killed mid-scan", state in ("HV00N", "HV000") and seconds < 20,
          f"SQLSTATE {state} after {seconds:.1f} s")
    server.start()
    time.sleep(6)
    state, _ = attempt(cur, "SELECT count(*) FROM big")
    check("next query after the kill", state is None, f"SQLSTATE {state}")

    # frozen (SIGSTOP) mid-scan: socketTimeoutMS ends the wait
    timer = threading.Timer(1.0, server.send_signal, args=(signal.SIGSTOP,))
    timer.start()
    state, seconds = attempt(cur, LONG_SCAN)
    timer.join()
    server.send_signal(signal.SIGCONT)
    check("server frozen mid-scan", state in ("HV00N", "HV000") and seconds < 20,
          f"SQLSTATE {state} after {seconds:.1f} s")
    time.sleep(6)
    state, _ = attempt(cur, "SELECT count(*) FROM big")
    check("next query after the freeze", state is None, f"SQLSTATE {state}")

    # frozen, with statement_timeout shorter than the socket timeout: the
    # backend waiting for the reply notices the timeout at once
    cur.execute("SET statement_timeout = '1500ms'")
    server.send_signal(signal.SIGSTOP)
    state, seconds = attempt(cur, "SELECT count(*) FROM big")
    server.send_signal(signal.SIGCONT)
    cur.execute("RESET statement_timeout")
    check("statement_timeout (1.5 s) while frozen", state == "57014"
          and seconds < 2.5, f"SQLSTATE {state} after {seconds:.1f} s")
    # no pause: the interrupted client is rebuilt, so libmongoc's wait
    # before it tries a failed server again does not apply
    state, _ = attempt(cur, "SELECT count(*) FROM big")
    check("next query after the timeout", state is None, f"SQLSTATE {state}")

    # frozen mid-scan, and pg_cancel_backend from another session
    canceller = connect()
    timer = threading.Timer(1.0, server.send_signal, args=(signal.SIGSTOP,))
    cancel = threading.Timer(2.0, canceller.cursor().execute,
                             args=(f"SELECT pg_cancel_backend({pid})",))
    timer.start()
    cancel.start()
    state, seconds = attempt(cur, LONG_SCAN)
    timer.join()
    cancel.join()
    server.send_signal(signal.SIGCONT)
    canceller.close()
    check("pg_cancel_backend 1 s into a freeze", state == "57014"
          and seconds < 3.0, f"SQLSTATE {state} after {seconds:.1f} s")
    state, _ = attempt(cur, "SELECT count(*) FROM big")
    check("next query after the cancel", state is None, f"SQLSTATE {state}")

    # frozen, and pg_terminate_backend: the waiting backend exits at once
    victim = connect()
    vcur = victim.cursor()
    vcur.execute("SELECT pg_backend_pid()")
    vpid = vcur.fetchone()[0]
    attempt(vcur, "SELECT count(*) FROM small")
    server.send_signal(signal.SIGSTOP)
    terminate = threading.Timer(1.0, cur.execute,
                                args=(f"SELECT pg_terminate_backend({vpid})",))
    terminate.start()
    started = time.monotonic()
    try:
        vcur.execute("SELECT count(*) FROM big")
        outcome = "the query returned"
    except psycopg2.Error as e:
        outcome = f"{type(e).__name__} {e.pgcode or ''}".strip()
    seconds = time.monotonic() - started
    terminate.join()
    server.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    check("pg_terminate_backend 1 s into a freeze",
          outcome.startswith(("AdminShutdown", "OperationalError"))
          and seconds < 2.0 and not os.path.exists(f"/proc/{vpid}"),
          f"{outcome} after {seconds:.1f} s, backend gone")
    time.sleep(6)

    # a reply that stops half way: the backend, reading the rest, still
    # obeys statement_timeout (the socket timeout here is 10 s)
    cur.execute("SET statement_timeout = '1s'")
    proxy.stall()
    state, seconds = attempt(cur, "SELECT sum(n) FROM stalling")
    proxy.release()
    cur.execute("RESET statement_timeout")
    check("statement_timeout (1 s) while a reply stops half way",
          state == "57014" and seconds < 1.5,
          f"SQLSTATE {state} after {seconds:.1f} s")
    state, _ = attempt(cur, "SELECT count(*) FROM stalling")
    check("next query after the stalled reply", state is None,
          f"SQLSTATE {state}")

    after = fd_count(pid)
    check("file descriptors of the backend", after <= fds,
          f"{fds} before the faults, {after} after")

    # frozen while a query is planned: the row estimate gives up after 1 s
    # (the uri's timeouts are 10 s) and planning goes on with the default
    # 1,000 rows; in a session whose client is connected, and in a new one
    def planned_rows(c):
        c.execute("EXPLAIN (FORMAT JSON) SELECT * FROM planned")
        return c.fetchone()[0][0]["Plan"]["Plan Rows"]

    cur.execute("SELECT count(*) FROM planned")
    cur.fetchall()
    cur.execute("SET mongo_etl.estimate_cache_seconds = 0")
    server.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    rows = planned_rows(cur)
    seconds = time.monotonic() - started
    fresh = connect()
    started = time.monotonic()
    fresh_rows = planned_rows(fresh.cursor())
    fresh_seconds = time.monotonic() - started
    fresh.close()
    server.send_signal(signal.SIGCONT)
    check("planning while frozen", rows == 1000 and seconds < 2.5
          and fresh_rows == 1000 and fresh_seconds < 2.5,
          f"{rows} rows after {seconds:.1f} s; in a new session "
          f"{fresh_rows} rows after {fresh_seconds:.1f} s")
    # no pause: the client cut short is rebuilt
    state, _ = attempt(cur, "SELECT count(*) FROM planned")
    check("next query after planning while frozen", state is None
          and planned_rows(cur) == 10, f"SQLSTATE {state}")
    cur.execute("RESET mongo_etl.estimate_cache_seconds")

    # 1,000 short queries: memory and descriptors stay flat
    for i in range(100):
        cur.execute("SELECT n FROM small WHERE n = %s", (i % 10,))
        cur.fetchall()
    rss, fds = anon_kb(pid), fd_count(pid)
    for i in range(1000):
        cur.execute("SELECT n FROM small WHERE n = %s", (i % 10,))
        if cur.fetchall() != [(i % 10,)]:
            check("1,000 short queries", False, f"wrong result for {i}")
    check("1,000 short queries", anon_kb(pid) - rss < 2048 and fd_count(pid) <= fds,
          f"private memory {rss} kB before, {anon_kb(pid)} kB after; "
          f"descriptors {fds} and {fd_count(pid)}")

    # writes that fail once libbson holds 10 kB for them: the transaction's
    # abort frees no memory libbson mallocs, so each failure would leave
    # its documents behind (before the fix, 7 MB over 500 of each)
    failing = {
        "direct UPDATEs": ("22008", "UPDATE written SET s = repeat('x', 10000), "
                           "ts = 'infinity' WHERE n = 1"),
        "row-by-row UPDATEs": ("22008", "UPDATE written SET s = s || "
                               "repeat('x', 10000), ts = 'infinity' WHERE n = 1"),
        "INSERTs of a $$ROOT document": (
            "HV004", "INSERT INTO written_doc VALUES ('a', jsonb_build_object("
            "'_id', 'b', 'pad', repeat('p', 10000)))"),
    }
    for name, (expected, query) in failing.items():
        for _ in range(50):
            attempt(cur, query)
        rss = anon_kb(pid)
        states = {attempt(cur, query)[0] for _ in range(500)}
        check(f"500 failed {name}", states == {expected}
              and anon_kb(pid) - rss < 2048,
              f"SQLSTATE {', '.join(sorted(map(str, states)))}; private "
              f"memory {rss} kB before, {anon_kb(pid)} kB after")
    conn.close()

    # 8 sessions at once, each scanning and loading
    results = {}

    def session(k):
        c = connect()
        q = c.cursor()
        q.execute(f"DROP TABLE IF EXISTS copy_{k}; CREATE TABLE copy_{k} (_id int, n int)")
        q.execute(f"CALL mongo_etl.load('big', 'copy_{k}')")
        q.execute(f"SELECT count(*), sum(n) FROM copy_{k}")
        loaded = q.fetchone()
        q.execute("SELECT count(*), sum(n) FROM big WHERE n %% 8 = %s", (k,))
        results[k] = (loaded, q.fetchone())
        q.execute(f"DROP TABLE copy_{k}")
        c.close()

    threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = DOCUMENTS * (DOCUMENTS - 1) // 2
    right = all(
        results.get(k) == ((DOCUMENTS, total),
                           (DOCUMENTS // 8, sum(range(k, DOCUMENTS, 8))))
        for k in range(8))
    check("8 sessions scanning and loading at once", right,
          f"{time.monotonic() - started:.1f} s")

    parallel_load_error()
    parallel_load_split_cut(proxy, total)
    parallel_load_killed(total)
    parallel_load_without_room(total)
    parallel_scan_cancel(total)
    server.stop()
    subprocess.run(["dropdb", "mongo_etl_faults"], check=True)


def load_workers(cur):
    cur.execute("SELECT pid FROM pg_stat_activity "
                "WHERE backend_type = 'mongo_etl load worker' ORDER BY pid")
    return [row[0] for row in cur.fetchall()]


def wait_for_workers(cur, wanted, seconds=20):
    """Wait until exactly wanted load workers run (or seconds pass)."""
    deadline = time.monotonic() + seconds
    while len(load_workers(cur)) != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return load_workers(cur)


def call_in_thread(query, outcome):
    """Run query in a session of its own, in a thread; outcome gets the
    session's pid, its SQLSTATE (None: no error) and its NOTICEs."""
    def run():
        c = connect()
        q = c.cursor()
        q.execute("SELECT pg_backend_pid()")
        outcome["pid"] = q.fetchone()[0]
        try:
            q.execute(query)
            outcome["state"] = None
        except psycopg2.Error as e:
            outcome["state"] = e.pgcode or "connection lost"
        outcome["notices"] = list(c.notices)
        try:
            c.close()
        except psycopg2.Error:
            pass
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def scan_workers(cur):
    cur.execute("SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'parallel worker'")
    return cur.fetchone()[0]


def parallel_scan_cancel(total):
    """pg_cancel_backend of a parallel scan of the collection once its
    workers read: the query ends with 57014, every worker with it, and the
    session's next parallel scan reads everything.  Through the server
    with 10 s timeouts: each range's first batch waits for FerretDB to sort
    the collection, which can take longer than 3 s on a busy machine."""
    watcher = connect()
    wcur = watcher.cursor()
    outcome = {}
    forced = ("SET max_parallel_workers_per_gather = 2; "
              "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
              "SET min_parallel_table_scan_size = 0; ")
    thread = call_in_thread(forced + "SELECT sum(n) FROM big_patient",
                            outcome)
    deadline = time.monotonic() + 30
    while scan_workers(wcur) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    reading = scan_workers(wcur)
    started = time.monotonic()
    if "pid" in outcome:
        wcur.execute(f"SELECT pg_cancel_backend({outcome['pid']})")
    thread.join()
    ended = time.monotonic() - started
    deadline = time.monotonic() + 10
    while scan_workers(wcur) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    left = scan_workers(wcur)
    check("pg_cancel_backend of a parallel scan", reading > 0
          and outcome.get("state") == "57014" and ended < 3.0 and left == 0,
          f"{reading} workers reading; SQLSTATE {outcome.get('state')} after "
          f"{ended:.1f} s; {left} workers left")
    wcur.execute(forced + "SELECT count(*), sum(n) FROM big_patient")
    rows = wcur.fetchone()
    check("next parallel scan after the cancel", rows == (DOCUMENTS, total),
          f"rows {rows}")
    watcher.close()


def parallel_load_killed(total):
    """A parallel load from the server: one worker terminated mid-load,
    then the coordinator; every worker is gone, and resuming gives the
    target exactly the source's rows."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS par; "
                "CREATE TABLE par (_id int PRIMARY KEY, n int)")
    outcome = {}
    thread = call_in_thread("CALL mongo_etl.load('big', 'par', workers => 2)",
                            outcome)
    workers = wait_for_workers(cur, 2)
    time.sleep(0.5)
    cur.execute("SELECT pg_terminate_backend(%s)", (workers[0],))
    time.sleep(1.0)
    cur.execute("SELECT pg_terminate_backend(%s)", (outcome["pid"],))
    thread.join()
    left = wait_for_workers(cur, 0)
    cur.execute("SELECT count(*), count(*) FILTER (WHERE done) "
                "FROM mongo_etl.load_ranges WHERE target = 'par'::regclass")
    ranges, done = cur.fetchone()
    cur.execute("SELECT count(*) FROM par")
    loaded = cur.fetchone()[0]
    check("parallel load: a worker, then the coordinator, terminated",
          len(workers) == 2 and outcome["state"] is not None and not left
          and 0 < ranges and done < ranges,
          f"coordinator: {outcome['state']}; {done} of {ranges} ranges done, "
          f"{loaded} rows; workers left {left}")
    cur.execute("CALL mongo_etl.load('big', 'par', resume => true, workers => 2)")
    cur.execute("SELECT count(*), count(DISTINCT _id), sum(n) FROM par")
    rows = cur.fetchone()
    cur.execute("SELECT count(*) FROM mongo_etl.load_ranges "
                "WHERE target = 'par'::regclass")
    check("parallel load resumed after the kills",
          rows == (DOCUMENTS, DOCUMENTS, total) and cur.fetchone()[0] == 0,
          f"count, distinct _id, sum: {rows}")
    cur.execute("DROP TABLE par")
    conn.close()


def parallel_load_error():
    """A worker's error reaches the caller with its SQLSTATE, message and
    context, which names the worker."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS par_check; CREATE TABLE par_check "
                "(_id int, n int CHECK (n < 15000))")
    try:
        cur.execute("CALL mongo_etl.load('big', 'par_check', workers => 2)")
        state, message, context = None, "", ""
    except psycopg2.Error as e:
        state, message, context = e.pgcode, e.diag.message_primary or "", \
            e.diag.context or ""
    check("parallel load: a worker's error raised by the caller",
          state == "23514" and "violates check constraint" in message
          and context.count("mongo_etl load worker") == 1,
          f"SQLSTATE {state}: {message}; context {context!r}")
    cur.execute("DROP TABLE par_check")
    conn.close()


def parallel_load_split_cut(proxy, total):
    """The connection lost while a parallel load splits the collection into
    _id ranges (the relay closes it at the first query with a skip, which
    only the split sends): an error naming the server, the backend lives
    on, and once the connection is whole again the same load succeeds."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute("DROP TABLE IF EXISTS split_cut; "
                "CREATE TABLE split_cut (_id int, n int)")
    proxy.cut_on(b"skip\x00")
    try:
        cur.execute("CALL mongo_etl.load('stalling', 'split_cut', workers => 2)")
        state, message = None, ""
    except psycopg2.Error as e:
        state, message = e.pgcode, e.diag.message_primary or str(e)
    proxy.mend()
    check("parallel load: connection lost while splitting the collection",
          state == "HV00N" and 'server "stalling"' in message
          and os.path.exists(f"/proc/{pid}"),
          f"SQLSTATE {state}: {message}")
    time.sleep(0.5)
    try:
        cur.execute("CALL mongo_etl.load('stalling', 'split_cut', "
                    "workers => 2, progress_rows => 0)")
        state = None
    except psycopg2.Error as e:
        state = e.pgcode
    cur.execute("SELECT count(*), sum(n) FROM split_cut")
    loaded = cur.fetchone()
    check("parallel load after the lost connection", state is None
          and loaded == (DOCUMENTS, total), f"SQLSTATE {state}, {loaded}")
    cur.execute("DROP TABLE split_cut")
    conn.close()


def parallel_load_without_room(total):
    """A parallel load asking for more workers than max_worker_processes
    has room for gets fewer; one that finds no room at all loads in its
    own backend.  The first load's workers are kept busy by a trigger."""
    conn = connect()
    cur = conn.cursor()
    dump_dir = os.path.join(os.environ["MONGO_ETL_TEST_DIR"], "dump")
    cur.execute(f"""
        DROP SERVER IF EXISTS files CASCADE;
        CREATE SERVER files FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (dump_dir '{dump_dir}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER files;
        CREATE FOREIGN TABLE big_file (_id int, n int) SERVER files
          OPTIONS (file 'regress/big.bson');
        DROP TABLE IF EXISTS slow, quick;
        CREATE TABLE slow (_id int PRIMARY KEY, n int);
        CREATE TABLE quick (_id int PRIMARY KEY, n int);
        CREATE FUNCTION slowly() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM pg_sleep(0.004); RETURN NULL; END $$;
        CREATE TRIGGER slowly AFTER INSERT ON slow
          FOR EACH ROW EXECUTE FUNCTION slowly();""")
    busy = {}
    thread = call_in_thread(
        "CALL mongo_etl.load('big_file', 'slow', workers => 16, "
        "progress_rows => 0)", busy)
    deadline = time.monotonic() + 20
    running = []
    while time.monotonic() < deadline:
        running = load_workers(cur)
        cur.execute("SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'mongo_etl load worker' "
                    "AND state = 'active'")
        if running and cur.fetchone()[0] == len(running):
            break
        time.sleep(0.05)
    cur.execute("SELECT count(*) FROM pg_stat_progress_copy p "
                "JOIN pg_stat_activity a USING (pid) "
                "WHERE a.backend_type = 'mongo_etl load worker' "
                "AND p.command = 'COPY FROM'")
    progress_rows = cur.fetchone()[0]
    check("parallel load workers in pg_stat_progress_copy",
          progress_rows > 0, f"{progress_rows} of {len(running)} workers")
    cur.execute("CALL mongo_etl.load('big_file', 'quick', workers => 2)")
    notices = "".join(conn.notices)
    cur.execute("SELECT count(*), count(DISTINCT _id), sum(n) FROM quick")
    quick = cur.fetchone()
    thread.join()
    cur.execute("SELECT count(*), count(DISTINCT _id), sum(n) FROM slow")
    slow = cur.fetchone()
    started = re.search(r"started (\d+) of 16 workers",
                        "".join(busy.get("notices", [])))
    check("parallel load with fewer workers than asked for",
          busy.get("state") is None and slow == (DOCUMENTS, DOCUMENTS, total)
          and started is not None and 0 < int(started.group(1)) < 16,
          f"{started.group(1) if started else 'no NOTICE of'} workers "
          f"started; rows {slow}")
    check("parallel load with no worker: loaded by the calling backend",
          "no background worker could start" in notices
          and quick == (DOCUMENTS, DOCUMENTS, total), f"rows {quick}")
    cur.execute("DROP TABLE slow, quick; DROP FUNCTION slowly(); "
                "DROP SERVER files CASCADE")
    conn.close()


if __name__ == "__main__":
    main()
