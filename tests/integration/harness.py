"""Test harness: starts the real `herald` process and talks to it over real sockets.

Only the Python standard library is used. Every wait is bounded by a timeout.
"""
import http.client
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

HERALD = os.environ.get("HERALD_BIN", os.path.join(os.path.dirname(__file__), "../../build/herald"))
# scripts/sanitize.sh runs the suite against an instrumented hub (several times slower): load
# tests scale their rates down by this much.
SANITIZED = os.environ.get("HERALD_SANITIZED") == "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# What ASan, LSan, UBSan and TSan print when they find something.
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


class Hub:
    """One herald process. `config` is written to a JSON file passed with --config."""

    def __init__(self, config=None, data_dir=None, port=None, env=None, max_fds=None):
        self.max_fds = max_fds  # RLIMIT_NOFILE of the hub process (None: inherited)
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="herald-it-")
        self.port = port or free_port()
        self.config = config
        self.env = env
        self.proc = None
        self.lines = []
        self._lock = threading.Lock()

    # -- process control ---------------------------------------------------------------------
    def start(self, expect_ready=True):
        args = [HERALD, "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", os.path.join(self.data_dir, "db")]
        if self.config is not None:
            path = os.path.join(self.data_dir, "herald.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            args += ["--config", path]
        env = dict(os.environ)
        env.update(self.env or {})
        limit = None
        if self.max_fds:
            n = self.max_fds
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))  # noqa: E731
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=limit)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        if expect_ready:
            self.wait_for_log("event=listening", 10)
            self.wait_ready()
        return self

    def _pump(self, proc):
        for raw in proc.stdout:
            with self._lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def log_text(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_for_log(self, needle, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log_text():
                return
            if self.proc.poll() is not None and needle not in self.log_text():
                time.sleep(0.1)
                if needle in self.log_text():
                    return
                raise AssertionError(f"herald exited ({self.proc.returncode}) before '{needle}':\n"
                                     + self.log_text())
            time.sleep(0.02)
        raise AssertionError(f"timeout waiting for '{needle}' in log:\n" + self.log_text())

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("hub not ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout=20):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def restart(self):
        if self.proc and self.proc.poll() is None:
            self.kill9()
        self.check_sanitizers()
        self.lines = []
        return self.start()

    def check_sanitizers(self):
        """Fails when the hub's output holds a sanitizer report (the sanitizer build in CI:
        scripts/sanitize.sh). A report is a bug even when the test passed."""
        text = self.log_text()
        for marker in SANITIZER_REPORTS:
            if marker in text:
                at = text.index(marker)
                raise AssertionError(f"sanitizer report in the hub's output:\n{text[max(0, at - 200):at + 4000]}")

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.kill9()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.check_sanitizers()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- HTTP ----------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=hdrs)
            res = conn.getresponse()
            raw = res.read()
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = raw
            return res.status, {k.lower(): v for k, v in res.getheaders()}, doc
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def publish(self, events):
        status, _, doc = self.request("POST", "/v1/publish", events)
        assert status == 201, (status, doc)
        return doc

    def stats(self):
        return self.get("/v1/stats")[2]

    def wait_stats(self, pred, timeout=10):
        deadline = time.time() + timeout
        s = self.stats()
        while not pred(s):
            if time.time() > deadline:
                raise AssertionError(f"stats never matched: {s}")
            time.sleep(0.05)
            s = self.stats()
        return s

    def subscribe(self, topics, last_event_id=None, query_last_id=None, headers=None, **kw):
        return SSEClient(self.port, topics, last_event_id, query_last_id, headers, **kw)

    def session_stream(self, session_id, last_event_id=None, **kw):
        """The SSE stream of durable session `session_id`."""
        return SSEClient(self.port, [], last_event_id, None, None,
                         path=f"/v1/sessions/{session_id}/events", **kw)


def rss_kib(pid):
    """The resident memory of process `pid`, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def all_events(hub, topic):
    """Every retained event of `topic` (a pattern allowed), through the replay API's pages."""
    out, after = [], ""
    for _ in range(100000):
        st, _, page = hub.get(f"/v1/events?topic={topic}&limit=1000" + (f"&after={after}" if after else ""))
        assert st == 200, page
        out += page["events"]
        if not page["more"]:
            return out
        after = page["next_after"]
    raise AssertionError("replay API did not terminate")


def raw_http(port, data, timeout=5):
    """Sends raw bytes, returns (status, body) of the first response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else 0
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        if m:
            need = int(m.group(1))
            while len(rest) < need:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        return status, head.decode(errors="replace"), rest


class SSEClient:
    """A minimal, strict SSE client over a raw socket (no reconnect logic of its own)."""

    def __init__(self, port, topics, last_event_id=None, query_last_id=None, headers=None,
                 connect_timeout=5, recv_buffer=None, path=None):
        from urllib.parse import quote
        q = "&".join("topic=" + quote(t, safe="") for t in topics)
        if query_last_id:
            q += "&last_event_id=" + quote(query_last_id, safe="")
        target = path or f"/v1/subscribe?{q}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=connect_timeout)
        if recv_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Accept: text/event-stream"]
        if last_event_id:
            lines.append(f"Last-Event-ID: {last_event_id}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.body = b""
        self.events = []      # dicts: id, event, data (raw text), retry
        self.comments = 0
        self.closed = False
        self._read_head()

    def _recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            chunk = self.sock.recv(262144)
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _read_head(self, timeout=5):
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.closed or time.time() > deadline:
                raise AssertionError("no response head")
            self._recv(0.1)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            need = int(self.headers.get("content-length", "0"))
            deadline = time.time() + timeout
            while len(self.buf) < need and not self.closed and time.time() < deadline:
                self._recv(0.1)
            self.body = self.buf
            self.closed = True

    def _parse(self):
        if b"\n\n" not in self.buf:
            return
        blocks = self.buf.split(b"\n\n")
        self.buf = blocks.pop()  # an incomplete tail, if any
        for block in blocks:
            ev = {}
            only_comment = True
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    continue
                only_comment = False
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                ev[k] = ev.get(k, "") + ("\n" if k == "data" and k in ev else "") + v
            if only_comment:
                self.comments += 1
            else:
                self.events.append(ev)

    def pump(self, timeout=0.05):
        if not self.closed:
            while self._recv(timeout):
                timeout = 0
        self._parse()

    def data_events(self):
        return [e for e in self.events if "id" in e]

    def wait_events(self, n, timeout=10, kind=None):
        deadline = time.time() + timeout
        while True:
            self.pump(0.05)
            got = [e for e in self.events
                   if (kind is None and "id" in e) or (kind is not None and e.get("event") == kind)]
            if len(got) >= n:
                return got
            if self.closed or time.time() > deadline:
                raise AssertionError(f"expected {n} events, got {len(got)}: {self.events[-3:]}")

    def wait_closed(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self.pump(0.05)
        self._parse()
        return self.closed

    def last_id(self):
        ids = [e["id"] for e in self.events if "id" in e]
        return ids[-1] if ids else None

    def close(self, abrupt=False):
        if abrupt:
            # RST instead of FIN: the client "vanishes".
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.closed = True
