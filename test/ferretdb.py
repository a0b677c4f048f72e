"""test/ferretdb.py: a FerretDB of a test script's own, on 127.0.0.1.

faults.py and security.py each start one on a port of their own, with
the SQLite backend and telemetry off, so that they can stop, freeze or
configure it without touching the server the pg_regress suite uses.
"""

import atexit
import os
import signal
import subprocess
import sys
import time

import pymongo

BINARY = os.path.join(os.environ.get("MONGO_ETL_TOOLS", "/var/tmp/mongo_etl/bin"),
                      "ferretdb")


class FerretDB:
    """One FerretDB process: state under state_dir, plain TCP on port,
    and whatever extra command-line options the caller gives (TLS,
    authentication).  probe_uri is a uri that answers a ping once the
    server is up."""

    def __init__(self, state_dir, port, extra_args=(), probe_uri=None):
        self.state_dir = state_dir
        self.port = port
        self.extra_args = list(extra_args)
        self.probe_uri = probe_uri or f"mongodb://127.0.0.1:{port}/"
        self.process = None
        atexit.register(self.kill)

    def answering(self):
        try:
            client = pymongo.MongoClient(self.probe_uri,
                                         serverSelectionTimeoutMS=500)
            client.admin.command("ping")
            client.close()
            return True
        except Exception:
            return False

    def start(self):
        if self.answering():
            sys.exit(f"{sys.argv[0]}: something already listens on "
                     f"127.0.0.1:{self.port}")
        os.makedirs(self.state_dir, exist_ok=True)
        log = open(os.path.join(self.state_dir, "ferretdb.log"), "a")
        self.process = subprocess.Popen(
            [BINARY, "--handler=sqlite", f"--sqlite-url=file:{self.state_dir}/",
             f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-",
             "--telemetry=disable", f"--state-dir={self.state_dir}",
             "--log-level=error"] + self.extra_args,
            stdout=log, stderr=log, env=dict(os.environ, DO_NOT_TRACK="1"),
            start_new_session=True)
        for _ in range(60):
            if self.process.poll() is not None:
                break
            if self.answering():
                return
            time.sleep(0.5)
        sys.exit(f"{sys.argv[0]}: FerretDB did not start "
                 f"(see {self.state_dir}/ferretdb.log)")

    def send_signal(self, sig):
        """Send sig; for SIGSTOP, return once every thread of the server
        has stopped: a thread running on another core stops a moment
        later, and could still answer a request sent in between."""
        self.process.send_signal(sig)
        if sig != signal.SIGSTOP:
            return
        tasks = f"/proc/{self.process.pid}/task"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = []
            for task in os.listdir(tasks):
                try:
                    with open(os.path.join(tasks, task, "stat")) as f:
                        states.append(f.read().rsplit(")", 1)[1].split()[0])
                except OSError:
                    pass
            if states and all(state in ("T", "t") for state in states):
                return
            time.sleep(0.001)

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def check(self, name, ok, detail):
        """Print one case of the calling script and its outcome; on a
        failure, stop the server and exit."""
        script = os.path.basename(sys.argv[0]).removesuffix(".py")
        print(f"{script}: {name}: {'ok' if ok else 'FAILED'} ({detail})")
        if not ok:
            self.kill()
            sys.exit(1)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
