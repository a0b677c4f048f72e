#!/usr/bin/env python3
"""test/documentdb_auth.py: authenticating to DocumentDB, which accepts
SCRAM-SHA-256 only and keeps its users as PostgreSQL roles.

Run by test/run.sh after the pg_regress suite when MONGO_ETL_SERVER is
documentdb, against the test cluster (PGHOST, PGPORT, PGUSER) and the
DocumentDB that test/documentdb.sh started (MONGO_URI, with TLS; its own
PostgreSQL cluster is found through MONGO_ETL_TEST_DIR).  Cases:

- a role whose password was set in SQL, so that PostgreSQL salted it with
  16 bytes, which libmongoc refuses: the error names the cause and what
  to do;
- a user made through the MongoDB interface (createUser, 28-byte salt):
  it reads;
- auth_mechanism SCRAM-SHA-256 reads; SCRAM-SHA-1 is refused, with the
  server's reason.

Prints one line per case; exits non-zero on the first failure.
"""

import os
import re
import subprocess
import sys

import psycopg2
import pymongo

URI = os.environ["MONGO_URI"]
STATE = os.path.join(os.environ["MONGO_ETL_TEST_DIR"], "documentdb")
PLAIN_URI = re.sub(r"^mongodb://[^@/]*@", "mongodb://", URI)
# names of their own in each run: the gateway remembers users it has seen
SQL_USER = f"mongo_etl_sql_{os.getpid()}"
API_USER = f"mongo_etl_api_{os.getpid()}"
PASSWORD = "S4lt-and-pepper"


def check(name, ok, what):
    print(f"{'ok' if ok else 'FAILED'}: {name}: {what}")
    if not ok:
        sys.exit(1)


def documentdb_sql(statement):
    """Runs a statement in DocumentDB's own cluster, found by the port and
    socket folder its postmaster.pid records."""
    with open(os.path.join(STATE, "pg", "postmaster.pid")) as f:
        lines = f.read().splitlines()
    port, socket_dir = lines[3], lines[4]
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q",
                    "-v", "ON_ERROR_STOP=1", "-h", socket_dir, "-p", port,
                    "-d", "postgres", "-c", statement],
                   check=True, cwd="/tmp")


def attempt(cur, query):
    try:
        cur.execute(query)
        return cur.fetchall(), None
    except psycopg2.Error as e:
        return None, e


def main():
    conn = psycopg2.connect("dbname=postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP DATABASE IF EXISTS mongo_etl_documentdb_auth")
    cur.execute("CREATE DATABASE mongo_etl_documentdb_auth")
    conn.close()
    conn = psycopg2.connect("dbname=mongo_etl_documentdb_auth")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION mongo_etl")
    cur.execute("CREATE SERVER ddb FOREIGN DATA WRAPPER mongo_etl "
                "OPTIONS (uri %s)", (PLAIN_URI,))
    cur.execute("CREATE FOREIGN TABLE users (name text) SERVER ddb "
                "OPTIONS (database 'mongo_etl_regress', collection 'users')")
    expected = pymongo.MongoClient(URI).mongo_etl_regress.users.count_documents({})

    def map_user(user, mechanism=None):
        cur.execute("DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER ddb")
        options = "username %s, password %s"
        args = [user, PASSWORD]
        if mechanism:
            options += ", auth_mechanism %s"
            args.append(mechanism)
        cur.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER ddb "
                    f"OPTIONS ({options})", args)

    # a password set in SQL: PostgreSQL's 16-byte salt
    documentdb_sql(f"CREATE ROLE {SQL_USER} LOGIN PASSWORD '{PASSWORD}' "
                   f"IN ROLE documentdb_readonly_role")
    map_user(SQL_USER)
    rows, error = attempt(cur, "SELECT count(*) FROM users")
    d = error.diag if error else None
    check("password set in SQL (16-byte salt)",
          d is not None and d.sqlstate == "HV00N"
          and "could not authenticate" in d.message_primary
          and "invalid salt length of 16" in (d.message_detail or "")
          and "28 bytes" in (d.message_detail or "")
          and "createUser" in (d.message_hint or ""),
          f"{d.sqlstate} {d.message_primary} | {d.message_detail} | "
          f"{d.message_hint}" if d else f"read {rows}")

    # the same through the MongoDB interface: 28 bytes
    admin = pymongo.MongoClient(URI).admin
    admin.command({"createUser": API_USER, "pwd": PASSWORD,
                   "roles": [{"role": "readAnyDatabase", "db": "admin"}]})
    for mechanism in (None, "SCRAM-SHA-256"):
        map_user(API_USER, mechanism)
        rows, error = attempt(cur, "SELECT count(*) FROM users")
        check(f"user made by createUser, auth_mechanism {mechanism or 'negotiated'}",
              error is None and rows == [(expected,)],
              f"read {rows}" if error is None else str(error).strip())

    # SCRAM-SHA-1, which DocumentDB does not offer
    map_user(API_USER, "SCRAM-SHA-1")
    rows, error = attempt(cur, "SELECT count(*) FROM users")
    d = error.diag if error else None
    check("auth_mechanism SCRAM-SHA-1",
          d is not None and d.sqlstate == "HV00N"
          and "could not authenticate" in d.message_primary
          and "SCRAM-SHA-256" in (d.message_detail or ""),
          f"{d.sqlstate} {d.message_primary} | {d.message_detail}" if d
          else f"read {rows}")

    conn.close()
    documentdb_sql(f"DROP ROLE {SQL_USER}")
    # (the gateway refuses dropUser with the $readPreference PyMongo adds
    # on a direct connection: the user is dropped as the role it is)
    documentdb_sql(f"DROP ROLE {API_USER}")


if __name__ == "__main__":
    main()
