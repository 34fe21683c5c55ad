"""tests/server/serve_proc.py — start and stop `vlgraph serve` for the Python server tests (standard library).

    with Server(cli, model_dir, ["--max-queue", "4"]) as s:   # --host 127.0.0.1 --port 0 added
        s.port, s.proc, s.base_url ("http://127.0.0.1:PORT")

The port is read from the one stderr line "vlgraph serve: listening on http://HOST:PORT" (bounded: 30 s),
then /health is polled until 200 (bounded: 60 s). stop() sends SIGTERM and returns the exit status (SIGKILL
after the bound); leaving the block always stops the process. check(name, cond, what) prints a PASS/FAIL line
and records failures in `failures`.
"""

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time

LISTENING = re.compile(r"^vlgraph serve: listening on http://127\.0\.0\.1:(\d+)$")


class ServerError(Exception):
    pass


def import_openai():
    """The openai package, or exit 77 (CTest: skipped) when it is not importable."""
    try:
        import openai
    except ImportError:
        print("SKIP: the openai package is not importable (pip install openai)")
        sys.exit(77)
    return openai


failures = []  # the names of the checks that failed (the test scripts' exit status)


def check(name, cond, what):
    """Prints one PASS/FAIL line (cut at 600 characters) and records a failure."""
    print(f"{'PASS' if cond else 'FAIL'} {name}: {what}"[:600])
    if not cond:
        failures.append(name)


class Server:
    def __init__(self, cli, model, args=(), listen_s=30, ready_s=60):
        self.cli, self.model, self.args = cli, model, list(args)
        self.listen_s, self.ready_s = listen_s, ready_s
        self.proc = None
        self.port = None
        self.stderr_lines = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()

    def start(self):
        cmd = [self.cli, "serve", "--model", self.model, "--host", "127.0.0.1", "--port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        found = threading.Event()

        def read():  # keeps draining stderr, so that the server never blocks on a full pipe
            for line in self.proc.stderr:
                line = line.rstrip("\n")
                self.stderr_lines.append(line)
                m = LISTENING.match(line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + self.listen_s
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ServerError("no 'vlgraph serve: listening on http://127.0.0.1:PORT' line: "
                                  + " | ".join(self.stderr_lines[-5:]))
        deadline = time.monotonic() + self.ready_s
        while True:
            status, body = self.get("/health")
            if status == 200:
                break
            if status not in (None, 503):
                self.kill()
                raise ServerError(f"/health answered {status}: {body[:200]!r}")
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"/health not 200 within {self.ready_s} s: " + " | ".join(self.stderr_lines[-5:]))
            time.sleep(0.05)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path, timeout=5):
        """(status, body bytes), or (None, b"") when there is no answer."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("GET", path)
            r = c.getresponse()
            b = r.read()
            c.close()
            return r.status, b
        except OSError:
            return None, b""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        """VmRSS of the server process (kB), or None when it is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self, bound_s=20):
        """SIGTERM; the exit status (None when it had to be killed after bound_s)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(bound_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def data_uri(path):
    import base64
    mime = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
    with open(path, "rb") as f:
        return f"data:{mime[path.rsplit('.', 1)[-1].lower()]};base64,{base64.b64encode(f.read()).decode('ascii')}"


def images_dir():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "images")
