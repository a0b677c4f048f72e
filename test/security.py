#!/usr/bin/env python3
"""test/security.py: SCRAM authentication and TLS against a server that
enforces both, and no password in any message, plan or log line.

Run by test/run.sh after the pg_regress suite, against the test cluster
(PGHOST, PGPORT, PGUSER from the environment).  It makes a throwaway
certificate authority with openssl, a server certificate for 127.0.0.1
signed by it and a second, unrelated authority; then starts a FerretDB of
its own (port MONGO_ETL_SECURITYPORT, default 27167, and TLS on the next
port) that requires authentication (SCRAM-SHA-256, user etl_reader of
database etl).  Prints one line per case; exits non-zero on the first
failure.
"""

import os
import signal
import subprocess
import time
from urllib.parse import quote_plus

import psycopg2
import pymongo

from ferretdb import FerretDB

PORT = int(os.environ.get("MONGO_ETL_SECURITYPORT", "27167"))
TLS_PORT = PORT + 1
STATE = os.path.join(os.environ["MONGO_ETL_TEST_DIR"], "security")
CERTS = os.path.join(STATE, "certs")
PG_LOG = os.path.join(os.environ["MONGO_ETL_TEST_DIR"], "postgres.log")
USER = "etl_reader"
# characters a uri would have to escape, so that a password reaching
# libmongoc mangled fails to authenticate
PASSWORD = "Tr0ub4dor&3:p@ss/w?rd#"
WRONG_PASSWORD = "Wr0ng-Tr0ub4dor&3"
DOCUMENTS = 1000
# libmongoc gives up on a server after these, so every failure is quick
TIMEOUTS = "serverSelectionTimeoutMS=3000&connectTimeoutMS=2000&socketTimeoutMS=5000"


def make_certificates():
    """A test CA, a server certificate it signs for 127.0.0.1, and a
    second CA that signed nothing.  The CA files must be readable by the
    PostgreSQL server's operating system user."""
    os.makedirs(CERTS, exist_ok=True)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def path(name):
        return os.path.join(CERTS, name)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=mongo_etl test {ca}",
                "-keyout", path(f"{ca}.key"), "-out", path(f"{ca}.pem"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", path("server.key"), "-out", path("server.csr"))
    with open(path("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", path("server.csr"), "-days", "2",
            "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
            "-CAcreateserial", "-extfile", path("server.ext"),
            "-out", path("server.pem"))
    os.chmod(STATE, 0o755)
    os.chmod(CERTS, 0o755)
    for ca in ("ca", "other-ca"):
        os.chmod(path(f"{ca}.pem"), 0o644)
    return path


certificate = make_certificates()
server = FerretDB(
    os.path.join(STATE, "ferretdb"), PORT,
    ["--test-enable-new-auth", "--setup-database=etl",
     f"--setup-username={USER}", f"--setup-password={PASSWORD}",
     f"--listen-tls=127.0.0.1:{TLS_PORT}",
     f"--listen-tls-cert-file={certificate('server.pem')}",
     f"--listen-tls-key-file={certificate('server.key')}"])
check = server.check


def connect():
    conn = psycopg2.connect("dbname=mongo_etl_security")
    conn.autocommit = True
    # every message the server sends, debug ones included (psycopg2 keeps
    # only the last 50 unless given a list)
    conn.notices = []
    return conn


def attempt(cur, query):
    """Run query; return (rows, error, seconds): error is None or the
    psycopg2 error, whose diag has the SQLSTATE, message, detail, hint."""
    started = time.monotonic()
    try:
        cur.execute(query)
        return cur.fetchall(), None, time.monotonic() - started
    except psycopg2.Error as e:
        return None, e, time.monotonic() - started


def error_text(error):
    if error is None:
        return ""
    d = error.diag
    return " | ".join(str(x) for x in (d.sqlstate, d.message_primary,
                                       d.message_detail, d.message_hint,
                                       d.context) if x)


def expect_error(cur, name, query, sqlstate, message, detail):
    """The query fails within 15 s with sqlstate, a message containing
    message and a detail containing detail."""
    rows, error, seconds = attempt(cur, query)
    ok = (error is not None and error.diag.sqlstate == sqlstate
          and message in (error.diag.message_primary or "")
          and detail in (error.diag.message_detail or "")
          and seconds < 15)
    check(name, ok, f"{error_text(error) or rows} after {seconds:.1f} s")
    return error


def main():
    server.start()
    admin = pymongo.MongoClient(
        f"mongodb://{quote_plus(USER)}:{quote_plus(PASSWORD)}@127.0.0.1:{PORT}/"
        "etl?authMechanism=SCRAM-SHA-256")
    admin.etl.items.drop()
    admin.etl.items.insert_many({"_id": n, "n": n} for n in range(DOCUMENTS))
    admin.close()

    plain = f"mongodb://127.0.0.1:{PORT}/?{TIMEOUTS}&authSource=etl"
    tls = f"mongodb://127.0.0.1:{TLS_PORT}/?{TIMEOUTS}&authSource=etl&tls=true"
    servers = {
        # name: (uri, password, auth_mechanism of the user mapping)
        "scram": (plain, PASSWORD, "SCRAM-SHA-256"),
        "scram_sha1": (plain, PASSWORD, "SCRAM-SHA-1"),
        "negotiated": (plain, PASSWORD, None),
        "plain_mechanism": (plain, PASSWORD, "PLAIN"),
        "wrong_password": (plain, WRONG_PASSWORD, None),
        "wrong_auth_source": (plain.replace("authSource=etl", "authSource=admin"),
                              PASSWORD, None),
        "no_credentials": (plain, None, None),
        "tls": (f"{tls}&tlsCAFile={certificate('ca.pem')}", PASSWORD, None),
        "tls_wrong_ca": (f"{tls}&tlsCAFile={certificate('other-ca.pem')}",
                         PASSWORD, None),
        "tls_system_cas": (tls, PASSWORD, None),
        "tls_port_without_tls": (plain.replace(str(PORT), str(TLS_PORT)),
                                 PASSWORD, None),
        "tls_to_plain_port": (
            f"{plain}&tls=true&tlsCAFile={certificate('ca.pem')}", PASSWORD, None),
    }
    subprocess.run(["dropdb", "--if-exists", "mongo_etl_security"], check=True)
    subprocess.run(["createdb", "mongo_etl_security"], check=True)
    setup = connect()
    cur = setup.cursor()
    cur.execute("CREATE EXTENSION mongo_etl")
    cur.execute("DROP ROLE IF EXISTS regress_security_user")
    cur.execute("CREATE ROLE regress_security_user LOGIN")
    for name, (uri, password, mechanism) in servers.items():
        cur.execute(f"CREATE SERVER {name} FOREIGN DATA WRAPPER mongo_etl "
                    "OPTIONS (uri %s)", (uri,))
        options = {"username": USER, "password": password,
                   "auth_mechanism": mechanism} if password else {}
        cur.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER {name} "
                    + (f"OPTIONS ({', '.join(f'{k} %s' for k, v in options.items() if v)})"
                       if options else ""),
                    [v for v in options.values() if v])
        cur.execute(f"CREATE FOREIGN TABLE {name} (_id int, n int) "
                    f"SERVER {name} OPTIONS (database 'etl', collection 'items')")
    # a non-superuser reading through the TLS server with a mapping of
    # its own
    cur.execute("GRANT USAGE ON FOREIGN SERVER tls TO regress_security_user")
    cur.execute("GRANT SELECT ON tls TO regress_security_user")
    cur.execute("CREATE USER MAPPING FOR regress_security_user SERVER tls "
                "OPTIONS (username %s, password %s)", (USER, PASSWORD))
    setup.close()

    # from here on, nothing sent to the server spells a password: what
    # the server logs, at every level, must not either
    log_start = os.path.getsize(PG_LOG)
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET log_min_messages = debug5")
    cur.execute("SET client_min_messages = debug5")
    cur.execute("SET log_error_verbosity = verbose")
    seen = []

    total = DOCUMENTS * (DOCUMENTS - 1) // 2
    for name, what in (("scram", "SCRAM-SHA-256 named in auth_mechanism"),
                       ("scram_sha1", "SCRAM-SHA-1 named in auth_mechanism"),
                       ("negotiated", "mechanism negotiated by libmongoc"),
                       ("tls", "TLS, CA from tlsCAFile, and SCRAM")):
        rows, error, _ = attempt(cur, f"SELECT count(*), sum(n) FROM {name} "
                                      "WHERE n >= 0")
        seen.append(error_text(error))
        check(f"{what}: all documents read", rows == [(DOCUMENTS, total)],
              f"{rows or error_text(error)}")
        rows, error, _ = attempt(
            cur, f"EXPLAIN (VERBOSE, ANALYZE) SELECT * FROM {name} WHERE n < 10")
        plan = "\n".join(r[0] for r in rows or [])
        seen.append(plan + error_text(error))
        check(f"{what}: EXPLAIN ANALYZE shows no credentials",
              "Documents Read: 10" in plan and USER not in plan,
              f"{len(plan)} characters of plan")

    seen.append(error_text(expect_error(
        cur, "wrong password", "SELECT * FROM wrong_password",
        "HV00N", 'could not authenticate to MongoDB server "wrong_password"',
        "Authentication failed")))
    seen.append(error_text(expect_error(
        cur, "auth_mechanism the server lacks reaches the server",
        "SELECT * FROM plain_mechanism",
        "HV00N", "could not authenticate",
        'Unsupported authentication mechanism "PLAIN"')))
    error = expect_error(
        cur, "user created in another database than authSource",
        "SELECT * FROM wrong_auth_source",
        "HV00N", "could not authenticate", "Authentication failed")
    seen.append(error_text(error))
    check("authentication failure hint names authSource",
          "authSource" in (error.diag.message_hint or ""),
          error.diag.message_hint)
    seen.append(error_text(expect_error(
        cur, "no credentials: the server refuses the command",
        "SELECT * FROM no_credentials",
        "HV000", 'could not read collection "etl.items"',
        "requires authentication")))
    seen.append(error_text(expect_error(
        cur, "TLS with a CA that did not sign the certificate",
        "SELECT * FROM tls_wrong_ca",
        "HV00N", 'could not connect to MongoDB server "tls_wrong_ca"',
        "certificate verify failed")))
    seen.append(error_text(expect_error(
        cur, "TLS with the system's CAs only", "SELECT * FROM tls_system_cas",
        "HV00N", "could not connect", "certificate verify failed")))
    seen.append(error_text(expect_error(
        cur, "plain connection to the TLS port",
        "SELECT * FROM tls_port_without_tls",
        "HV00N", "could not connect", "")))
    seen.append(error_text(expect_error(
        cur, "TLS connection to a plain port", "SELECT * FROM tls_to_plain_port",
        "HV00N", "could not connect", "")))

    # a TLS connection whose server freezes: statement_timeout still ends
    # the wait for the reply (reads under TLS wait on the socket too)
    cur.execute("SET statement_timeout = '1s'")
    server.send_signal(signal.SIGSTOP)
    rows, error, seconds = attempt(cur, "SELECT count(*) FROM tls")
    server.send_signal(signal.SIGCONT)
    cur.execute("RESET statement_timeout")
    check("statement_timeout while a TLS server is frozen",
          error is not None and error.diag.sqlstate == "57014" and seconds < 2.5,
          f"{error_text(error) or rows} after {seconds:.1f} s")
    time.sleep(6)      # libmongoc waits before it tries a failed server again

    # the same session still reads after all these failures
    rows, error, _ = attempt(cur, "SELECT count(*) FROM tls")
    check("the session reads after the failures", rows == [(DOCUMENTS,)],
          f"{rows or error_text(error)}")

    user = psycopg2.connect("dbname=mongo_etl_security user=regress_security_user")
    user.notices = []
    ucur = user.cursor()
    rows, error, _ = attempt(ucur, "SELECT count(*), sum(n) FROM tls")
    seen.append(error_text(error))
    check("non-superuser through TLS and SCRAM", rows == [(DOCUMENTS, total)],
          f"{rows or error_text(error)}")
    user.close()
    conn.close()

    time.sleep(1)        # the logging collector writes asynchronously
    with open(PG_LOG, errors="replace") as f:
        f.seek(log_start)
        log = f.read()
    seen.extend(conn.notices)
    seen.extend(user.notices)
    seen.append(log)
    everything = "\n".join(seen)
    check("server log window holds this test's messages at debug5",
          "could not authenticate to MongoDB server" in log
          and "DEBUG:" in log, f"{len(log)} bytes of log")
    check("no password in errors, plans, notices or the debug5 log",
          PASSWORD not in everything and WRONG_PASSWORD not in everything
          and quote_plus(PASSWORD) not in everything,
          f"{len(everything)} characters searched")

    server.stop()
    cur = psycopg2.connect("dbname=postgres")
    cur.autocommit = True
    cur.cursor().execute("DROP DATABASE mongo_etl_security")
    cur.cursor().execute("DROP ROLE regress_security_user")
    cur.close()


if __name__ == "__main__":
    main()
