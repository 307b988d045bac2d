"""Bad input, every endpoint and transport, as one table: each case gets its precise status and
JSON error (code and message), and changes nothing (the log, the topics, sessions, jobs, acks
and dead letters, read through the API before and after every case)."""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import HERALD, Hub, raw_http  # noqa: E402

SECRET = "bad-input-test-secret-of-32-bytes-or-more"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def mint(key_file, *args):
    return subprocess.run([HERALD, "token", "--key-file", key_file, *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def deep(n):
    return "[" * n + "]" * n


class WebSocket:
    """A minimal RFC 6455 client over a raw socket: masked frames out, frames in."""

    def __init__(self, port, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /v1/ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])

    def send(self, payload, opcode=1):
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the hub closed the socket")
            self.buf += chunk

    def recv(self):
        """The next text message, as JSON (pings are skipped)."""
        while True:
            self._need(2)
            opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if n == 126:
                self._need(4)
                n, at = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
            self._need(at + n)
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            if opcode == 1:
                return json.loads(payload)
            if opcode == 8:
                raise ConnectionError(f"closed: {payload!r}")

    def close(self):
        self.sock.close()


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="herald-bad-input-")
        key_file = os.path.join(cls.dir, "secret")
        with open(key_file, "w") as f:
            f.write(SECRET)
        other = os.path.join(cls.dir, "other")
        with open(other, "w") as f:
            f.write("another-secret-that-this-hub-does-not-know")
        cls.hub = Hub(config={
            "auth": {"keys": [{"alg": "HS256", "secret_file": key_file}],
                     "anonymous": {"publish": ["public/**"], "subscribe": ["public/**"]}},
            "cors": {"allowed_origins": ["http://app.example"]},
            "limits": {"max_body_bytes": 65536, "max_header_bytes": 4096},
            "websocket": {"max_message_bytes": 4096},
            "mercure": {"anonymous": True},
        })
        cls.hub.start()
        cls.admin = mint(key_file, "--sub", "ops", "--admin", "--publish", "**", "--subscribe", "**")
        cls.alice = mint(key_file, "--sub", "alice", "--publish", "orders/**",
                         "--subscribe", "orders/**")
        cls.forged = mint(other, "--sub", "mallory", "--admin")
        # State the cases must not change: events, a job, a session with a pending ack.
        h = cls.hub
        cls.as_admin = {"Authorization": f"Bearer {cls.admin}"}
        for i in range(3):
            st, _, _ = h.request("POST", "/v1/publish", {"topic": "public/a", "data": i})
            assert st == 201, st
        st, _, _ = h.request("PUT", "/v1/jobs/j-1", {"state": "active", "progress": 10},
                             cls.as_admin)
        assert st == 200, st
        st, _, _ = h.request("PUT", "/v1/sessions/s-1",
                             {"topics": ["public/**"], "start": "earliest"}, cls.as_admin)
        assert st == 201, st

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def state(self):
        h = self.hub
        stats = h.request("GET", "/v1/stats", None, self.as_admin)[2]
        events = h.request("GET", "/v1/events?topic=**&limit=1000", None, self.as_admin)[2]
        job = h.request("GET", "/v1/jobs/j-1", None, self.as_admin)[2]
        session = h.request("GET", "/v1/sessions/s-1", None, self.as_admin)[2]
        return {
            "stats": {k: stats[k] for k in ("log_head", "log_topics", "events_published",
                                            "sessions", "pending_acks", "dead_letters")},
            "events": events,
            "job": job,
            "session": {k: v for k, v in session.items() if k not in ("expires_at",)},
        }

    def check_error(self, case, status, head_or_doc, expect_status, expect_code):
        self.assertEqual(status, expect_status, case)
        doc = head_or_doc
        self.assertIsInstance(doc, dict, case)
        self.assertEqual(doc["error"]["code"], expect_code, (case, doc))
        self.assertTrue(doc["error"]["message"], case)

    # -- HTTP ------------------------------------------------------------------------------------
    def http_cases(self):
        alice = {"Authorization": f"Bearer {self.alice}"}
        forged = {"Authorization": f"Bearer {self.forged}"}
        ev = lambda **kw: json.dumps({"topic": "public/a", "data": 1, **kw})  # noqa: E731
        P = "/v1/publish"
        return [
            # POST /v1/publish
            ("POST", P, "{not json", JSON, 400, "malformed_json"),
            ("POST", P, "42", JSON, 400, "invalid_body"),
            ("POST", P, "[]", JSON, 400, "invalid_body"),
            ("POST", P, '{"data":1}', JSON, 400, "invalid_topic"),
            ("POST", P, ev(topic="public/*"), JSON, 400, "invalid_topic"),
            ("POST", P, ev(topic="public//a"), JSON, 400, "invalid_topic"),
            ("POST", P, '{"topic":"public/a"}', JSON, 400, "missing_data"),
            ("POST", P, ev(type="herald.gap"), JSON, 400, "invalid_type"),
            ("POST", P, ev(type="a b"), JSON, 400, "invalid_type"),
            ("POST", P, ev(extra=1), JSON, 400, "unknown_field"),
            ("POST", P, '{"topic":"public/a","data":1,"data":2}', JSON, 400, "duplicate_field"),
            ("POST", P, ev(idempotency_key=""), JSON, 400, "invalid_idempotency_key"),
            ("POST", P, ev(idempotency_key="k" * 129), JSON, 400, "invalid_idempotency_key"),
            ("POST", P, ev(ack="yes"), JSON, 400, "invalid_ack"),
            ("POST", P, ev(private=1), JSON, 400, "invalid_private"),
            ("POST", P, ev(audience=["nobody"]), JSON, 400, "invalid_audience"),
            ("POST", P, '{"topic":"public/a","data":' + deep(100) + "}", JSON, 400, "too_deep"),
            ("POST", P, json.dumps([{"topic": "public/a", "data": i} for i in range(1001)]), JSON,
             400, "too_many_events"),
            ("POST", P, '{"topic":"public/a","data":1180591620717411303424}', JSON, 400,
             "malformed_json"),
            ("POST", P, b'{"topic":"public/a","data":"\xff"}', JSON, 400, "malformed_json"),
            ("POST", P, '[{"topic":"public/a","data":1},{"topic":"public/b"}]', JSON, 400,
             "missing_data"),
            ("POST", P, ev(), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
            ("POST", P, ev(), {}, 415, "unsupported_media_type"),
            ("POST", P, ev(topic="orders/1"), JSON, 401, "token_missing"),
            ("POST", P, ev(), {**JSON, **alice}, 403, "forbidden"),
            ("POST", P, ev(), {**JSON, **forged}, 401, "bad_signature"),
            ("POST", P, ev(), {**JSON, "Authorization": "Bearer a.b"}, 401, "token_malformed"),
            ("POST", P, ev(topic="orders/1"),
             {**JSON, "Cookie": f"herald_token={self.alice}", "Origin": "http://evil.example"},
             403, "csrf_origin"),
            # GET /v1/subscribe (refused before the stream starts)
            ("GET", "/v1/subscribe", None, {}, 400, "invalid_topic"),
            ("GET", "/v1/subscribe?topic=public/**/a", None, {}, 400, "invalid_topic"),
            ("GET", "/v1/subscribe?topic=public/a&bogus=1", None, {}, 400, "unknown_parameter"),
            ("GET", "/v1/subscribe?topic=public/a&last_event_id=nope", None, {}, 400,
             "invalid_id"),
            ("GET", "/v1/subscribe?" + "&".join(f"topic=public/{i}" for i in range(33)), None,
             {}, 400, "invalid_topic"),
            ("GET", "/v1/subscribe?topic=orders/**", None, {}, 401, "token_missing"),
            ("GET", "/v1/subscribe?topic=public/**", None, alice, 403, "forbidden"),
            # GET /v1/events
            ("GET", "/v1/events?topic=public/a&limit=0", None, {}, 400, "invalid_limit"),
            ("GET", "/v1/events?topic=public/a&after=12", None, {}, 400, "invalid_id"),
            ("GET", "/v1/events", None, {}, 400, "invalid_topic"),
            # Jobs
            ("PUT", "/v1/jobs/j-1", '{"state":"running"}', {**JSON, **self.as_admin}, 400,
             "invalid_state"),
            ("PUT", "/v1/jobs/j-1", '{"progress":101}', {**JSON, **self.as_admin}, 400,
             "invalid_progress"),
            ("PUT", "/v1/jobs/j-1", json.dumps({"message": "m" * 5000}),
             {**JSON, **self.as_admin}, 400, "invalid_message"),
            ("PUT", "/v1/jobs/j-1", '{"expected_version":7}', {**JSON, **self.as_admin}, 409,
             "version_conflict"),
            ("PUT", "/v1/jobs/j-1", '{"upstream":{"url":"http://203.0.113.9/status"}}',
             {**JSON, **self.as_admin}, 400, "invalid_upstream"),
            ("PUT", "/v1/jobs/j%201", "{}", {**JSON, **self.as_admin}, 400, "invalid_job_id"),
            ("PUT", "/v1/jobs/j-1", "{", {**JSON, **self.as_admin}, 400, "malformed_json"),
            ("GET", "/v1/jobs/nothing", None, self.as_admin, 404, "job_not_found"),
            ("GET", "/v1/jobs/j-1/events?last_event_id=nope", None, self.as_admin, 400,
             "invalid_id"),
            ("GET", "/v1/jobs/j-1/events?since=1", None, self.as_admin, 400,
             "unknown_parameter"),
            # Durable sessions
            ("PUT", "/v1/sessions/s-1", '{"topics":[]}', {**JSON, **self.as_admin}, 400,
             "invalid_session"),
            ("PUT", "/v1/sessions/s-1", '{"max_pending":0}', {**JSON, **self.as_admin}, 400,
             "invalid_session"),
            ("PUT", "/v1/sessions/s-1", '{"colour":"red"}', {**JSON, **self.as_admin}, 400,
             "invalid_session"),
            ("PUT", "/v1/sessions/s%201", '{"topics":["public/a"]}', {**JSON, **self.as_admin},
             400, "invalid_session_id"),
            ("POST", "/v1/sessions/s-1/ack", '{"ids":["nope"]}', {**JSON, **self.as_admin}, 400,
             "invalid_id"),
            ("POST", "/v1/sessions/s-1/ack", '{"idz":[]}', {**JSON, **self.as_admin}, 400,
             "unknown_field"),
            ("POST", "/v1/sessions/nothing/ack", '{"ids":[]}', {**JSON, **self.as_admin}, 404,
             "session_not_found"),
            ("GET", "/v1/sessions/s-1/dead-letters?limit=0", None, self.as_admin, 400,
             "invalid_limit"),
            ("GET", "/v1/sessions/nothing/events", None, self.as_admin, 404, "session_not_found"),
            # Mercure
            ("POST", "/.well-known/mercure", "data=x", FORM, 400, "invalid_topic"),
            ("POST", "/.well-known/mercure", "topic=urn:a&data=x&data=y", FORM, 400,
             "duplicate_field"),
            ("POST", "/.well-known/mercure", "topic=urn:a&id=earliest", FORM, 400, "invalid_id"),
            ("POST", "/.well-known/mercure", "topic=urn:a&nope=1", FORM, 400, "unknown_field"),
            ("POST", "/.well-known/mercure", "topic=urn:a", {"Content-Type": "text/plain"}, 415,
             "unsupported_media_type"),
            ("GET", "/.well-known/mercure", None, {}, 400, "invalid_topic"),
            # Administration
            ("POST", "/v1/admin/backup", None, alice, 403, "forbidden"),
            ("GET", "/v1/admin/stats/stream", None, {}, 401, "token_missing"),
            # Generic
            ("GET", "/v2/nothing", None, {}, 404, "not_found"),
            ("DELETE", P, None, {}, 405, "method_not_allowed"),
            ("GET", "/v1/events?topic=public%zz", None, {}, 400, "invalid_target"),
            # WebSocket upgrades refused as HTTP answers
            ("GET", "/v1/ws", None, {}, 426, "upgrade_required"),
        ]

    def test_http_cases(self):
        cases = self.http_cases()
        self.assertGreaterEqual(len(cases), 60)
        before = self.state()
        for method, path, body, headers, status, code in cases:
            case = (method, path[:80], body if not isinstance(body, str) else body[:60], code)
            with self.subTest(case=case):
                st, _, doc = self.hub.request(method, path, body, dict(headers))
                self.check_error(case, st, doc, status, code)
                self.assertEqual(self.state(), before, case)

    def test_raw_http_cases(self):
        # What http_session answers itself (the router never sees it); the connection closes.
        before = self.state()
        cases = [
            (b"THIS IS NOT HTTP\r\n\r\n", 400, "malformed_request"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 5000 + b"\r\n\r\n", 431,
             "headers_too_large"),
            (b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 70000\r\n\r\n", 413, "body_too_large"),
            (b"GET /m\xe2rcure HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"),
            (b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
             "malformed_request"),
            (b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Origin: http://evil.example\r\n\r\n", 403, "origin_not_allowed"),
        ]
        for raw, status, code in cases:
            with self.subTest(raw=raw[:60]):
                st, _, body = raw_http(self.hub.port, raw)
                self.check_error(raw[:60], st, json.loads(body), status, code)
                self.assertEqual(self.state(), before)

    # -- WebSocket messages ----------------------------------------------------------------------
    def test_websocket_cases(self):
        ws = WebSocket(self.hub.port)
        self.assertEqual(ws.status, 101)
        before = self.state()
        # Messages that are not commands: an "error" message, and the socket stays open.
        errors = [
            ("not json", "malformed_json"),
            ('{"op":"nope","req":"r"}', "unknown_op"),
            ('{"req":"r"}', "missing_field"),
            ('{"op":"subscribe","req":"r","sub":"s"}', "invalid_topics"),
            ('{"op":"subscribe","req":"r","sub":"s","topics":["public/a"],"x":1}',
             "unknown_field"),
            ('{"op":"subscribe","req":"r","sub":"s","sub":"t","topics":["public/a"]}',
             "duplicate_field"),
            ('{"op":"subscribe","req":"r","sub":"s","topics":"public/a"}', "invalid_topics"),
            ('{"op":"attach","req":"r","sub":"s","session":7}', "invalid_field"),
            ('{"op":"subscribe","req":"' + "r" * 65 + '","sub":"s","topics":["public/a"]}',
             "invalid_req"),
            ('{"op":"subscribe","req":"r","sub":"","topics":["public/a"]}', "invalid_sub"),
            ('{"op":"subscribe","req":"r","sub":"s","topics":' + deep(100) + "}", "too_deep"),
            ("[1,2]", "invalid_message"),
            ('{"op":"publish","data":"' + "x" * 5000 + '"}', "message_too_big"),
        ]
        for text, code in errors:
            with self.subTest(text=text[:60]):
                ws.send(text)
                msg = ws.recv()
                self.assertEqual(msg["op"], "error", msg)
                self.assertEqual(msg["error"]["code"], code, (text[:60], msg))
                self.assertTrue(msg["error"]["message"])
        ws.send(b"\x00\x01", opcode=2)
        msg = ws.recv()
        self.assertEqual((msg["op"], msg["error"]["code"]), ("error", "binary_message"))
        # Commands refused by their endpoint: a reply with the endpoint's status and error.
        replies = [
            ('{"op":"subscribe","req":"r","sub":"s","topics":["public//a"]}', 400,
             "invalid_topic"),
            ('{"op":"subscribe","req":"r","sub":"s","topics":["orders/**"]}', 401,
             "token_missing"),
            ('{"op":"subscribe","req":"r","sub":"s","topics":["public/a"],'
             '"last_event_id":"nope"}', 400, "invalid_id"),
            ('{"op":"attach","req":"r","sub":"s","session":"nothing"}', 404, "session_not_found"),
            ('{"op":"unsubscribe","req":"r","sub":"never"}', 404, "unknown_subscription"),
            ('{"op":"publish","req":"r","topic":"public/a"}', 400, "missing_data"),
            ('{"op":"publish","req":"r","topic":"orders/1","data":1}', 401, "token_missing"),
            ('{"op":"ack","req":"r","session":"s-1","ids":["1-1"]}', 403, "forbidden"),
            ('{"op":"auth","req":"r","token":"' + self.forged + '"}', 401, "bad_signature"),
        ]
        for text, status, code in replies:
            with self.subTest(text=text[:60]):
                ws.send(text)
                msg = ws.recv()
                self.assertEqual(msg["op"], "reply", msg)
                self.assertEqual((msg["status"], msg["body"]["error"]["code"]), (status, code),
                                 (text[:60], msg))
                self.assertTrue(msg["body"]["error"]["message"])
        self.assertEqual(self.state(), before)
        # The socket is still usable: a valid publish goes through.
        ws.send('{"op":"publish","req":"ok","topic":"public/ws","data":1}')
        msg = ws.recv()
        self.assertEqual((msg["op"], msg["status"]), ("reply", 201), msg)
        ws.close()
        self.assertEqual(self.hub.get("/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
