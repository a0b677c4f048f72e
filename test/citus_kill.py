#!/usr/bin/env python3
"""test/citus_kill.py: a parallel load into a Citus distributed table, one
of its workers terminated mid-load, then resumed (issue 28).

Run by test/run_citus.sh after sql/citus.sql, on the Citus coordinator
(PGHOST, PGPORT, PGUSER from the environment, database postgres), from
the collection mongo_etl_citus.big (20,000 documents, less the 10 that
sql/citus.sql deleted).  Each range of a parallel load commits on its
own: the load fails naming the ranges the terminated worker left, and the
resumed load must then bring the shards exactly the source's rows: as many
as the collection, none twice (the primary key would refuse them, and
count(DISTINCT _id) says so), none in the coordinator's shell table.  Prints one line per
check; exits non-zero on the first failure.
"""

import os
import sys
import threading
import time

import psycopg2


def connect():
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    return conn


def check(name, ok, detail):
    print(f"{'ok' if ok else 'FAILED'}: {name}: {detail}")
    if not ok:
        sys.exit(1)


def load_workers(cur):
    cur.execute("SELECT pid FROM pg_stat_activity "
                "WHERE backend_type = 'mongo_etl load worker' ORDER BY pid")
    return [row[0] for row in cur.fetchall()]


def wait_for_workers(cur, wanted, seconds=30):
    """Wait until exactly wanted load workers run (or seconds pass)."""
    deadline = time.monotonic() + seconds
    while len(load_workers(cur)) != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return load_workers(cur)


def main():
    conn = connect()
    cur = conn.cursor()
    uri = os.environ["MONGO_URI"]
    cur.execute(f"""
        DROP SERVER IF EXISTS citus_kill CASCADE;
        CREATE SERVER citus_kill FOREIGN DATA WRAPPER mongo_etl
          OPTIONS (uri '{uri}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER citus_kill;
        CREATE FOREIGN TABLE kill_src (_id int, n int)
          SERVER citus_kill
          OPTIONS (database 'mongo_etl_citus', collection 'big');
        DROP TABLE IF EXISTS kill_dist;
        CREATE TABLE kill_dist (_id int PRIMARY KEY, n int);
        SELECT create_distributed_table('kill_dist', '_id');""")
    cur.execute("SELECT count(*), sum(n) FROM kill_src")
    source = cur.fetchone()

    outcome = {}

    def run():
        c = connect()
        q = c.cursor()
        try:
            q.execute("CALL mongo_etl.load('kill_src', 'kill_dist', "
                      "workers => 2)")
            outcome["state"] = None
        except psycopg2.Error as e:
            outcome["state"] = e.pgcode or "connection lost"
        c.close()

    thread = threading.Thread(target=run)
    thread.start()
    workers = wait_for_workers(cur, 2)
    # a range committed, the others not yet: the first worker is
    # terminated in the middle of the load
    deadline = time.monotonic() + 60
    done = 0
    while done == 0 and time.monotonic() < deadline:
        cur.execute("SELECT count(*) FILTER (WHERE done) "
                    "FROM mongo_etl.load_ranges "
                    "WHERE target = 'kill_dist'::regclass")
        done = cur.fetchone()[0]
        time.sleep(0.01)
    # one that is loading a range (not one that has found none left)
    cur.execute("SELECT pid FROM pg_stat_activity "
                "WHERE backend_type = 'mongo_etl load worker' "
                "AND query LIKE 'mongo_etl.load range%%' ORDER BY pid LIMIT 1")
    loading = cur.fetchone()
    if len(workers) == 2 and loading:
        cur.execute("SELECT pg_terminate_backend(%s)", (loading[0],))
    thread.join()
    left = wait_for_workers(cur, 0)
    cur.execute("SELECT count(*), count(*) FILTER (WHERE done) "
                "FROM mongo_etl.load_ranges "
                "WHERE target = 'kill_dist'::regclass")
    ranges, done = cur.fetchone()
    cur.execute("SELECT count(*) FROM kill_dist")
    partial = cur.fetchone()[0]
    check("a worker of a parallel load terminated",
          len(workers) == 2 and outcome.get("state") == "55000"
          and not left and 0 < ranges and done < ranges
          and 0 < partial < source[0],
          f"load: SQLSTATE {outcome.get('state')}; {done} of {ranges} "
          f"ranges done; {partial} rows in the shards; workers left {left}")

    del conn.notices[:]
    cur.execute("CALL mongo_etl.load('kill_src', 'kill_dist', "
                "resume => true, workers => 2)")
    summary = [n for n in conn.notices if "rows into" in n]
    check("the summary names the path: the coordinator reads, Citus routes",
          len(summary) == 1 and "(read on the coordinator, routed by Citus)"
          in summary[0], f"{summary}")
    cur.execute("SELECT count(*), count(DISTINCT _id), sum(n) "
                "FROM kill_dist")
    rows = cur.fetchone()
    cur.execute("SELECT sum(result::bigint) FROM run_command_on_shards("
                "'kill_dist', 'SELECT count(*) FROM %s')")
    in_shards = cur.fetchone()[0]
    cur.execute("SELECT pg_relation_size('kill_dist')")
    shell = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM mongo_etl.load_ranges "
                "WHERE target = 'kill_dist'::regclass")
    ranges_left = cur.fetchone()[0]
    check("resumed: the shards hold the source's rows, none twice",
          rows == (source[0], source[0], source[1])
          and source[0] > 0 and in_shards == source[0]
          and shell == 0 and ranges_left == 0,
          f"count, distinct _id, sum: {rows} (source {source}); "
          f"{in_shards} in the shards; shell {shell} bytes; "
          f"{ranges_left} ranges left")
    cur.execute("DROP TABLE kill_dist; DROP SERVER citus_kill CASCADE")
    conn.close()


if __name__ == "__main__":
    main()
