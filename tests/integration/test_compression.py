"""Compression against a real hub (net/compression.hpp): gzipped publish bodies (and the refusal
of corrupt ones, unknown codings and gzip bombs, none of which publishes anything), gzipped JSON
answers over compression.min_bytes when Accept-Encoding allows them, and gzipped SSE streams with
compression.streams: every write decodes on arrival (sync flush), and a stream the hub ends in
order ends its gzip member properly.
"""
import gzip
import json
import os
import select
import socket
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub  # noqa: E402

JSON = {"Content-Type": "application/json"}


def order(i):
    return {"topic": "orders/eu", "data": {"id": f"ord-{1000 + i}", "status": "shipped",
                                          "customer": {"name": "Ada Lovelace"},
                                          "items": [{"sku": f"SKU-{i % 7}", "qty": 1 + i % 3}]}}


class GzipStream:
    """An SSE stream read over a raw socket whose body is inflated as it arrives."""

    def __init__(self, port, target, accept="gzip"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall((f"GET {target} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n"
                           f"Accept-Encoding: {accept}\r\n\r\n").encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"no head: {raw!r}")
            raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (line.partition(":") for line in lines[1:])}
        self.gzipped = self.headers.get("content-encoding") == "gzip"
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.wire = 0
        self.text = ""
        self.closed = False
        self._take(rest)

    def _take(self, data):
        self.wire += len(data)
        self.text += (self.inflater.decompress(data) if self.gzipped else data).decode()

    def _read_once(self):
        """What arrives within 0.1 s, inflated; an end of stream marks the stream closed."""
        r, _, _ = select.select([self.sock], [], [], 0.1)
        if r:
            data = self.sock.recv(65536)
            if not data:
                self.closed = True
            else:
                self._take(data)

    def read_until(self, pred, timeout=10):
        deadline = time.time() + timeout
        while not pred(self.text):
            if self.closed or time.time() > deadline:
                raise AssertionError(f"not seen; got {self.text[-300:]!r}")
            self._read_once()
        return self.text

    def read_to_end(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self._read_once()
        return self.closed

    def ids(self):
        return [line[4:] for line in self.text.split("\n") if line.startswith("id: ")]


class RequestBodies(unittest.TestCase):
    def test_gzipped_publishes_and_refusals(self):
        with Hub() as hub:
            events = [order(i) for i in range(30)]
            body = gzip.compress(json.dumps(events).encode())
            status, _, doc = hub.request("POST", "/v1/publish", body,
                                         {**JSON, "Content-Encoding": "gzip"})
            self.assertEqual(status, 201, doc)
            self.assertEqual(len(doc["ids"]), 30)
            # One event, x-gzip spelling, and two members one after another.
            half = json.dumps(order(99)).encode()
            two = gzip.compress(half[:40]) + gzip.compress(half[40:])
            status, _, doc = hub.request("POST", "/v1/publish", two,
                                         {**JSON, "Content-Encoding": "x-gzip"})
            self.assertEqual(status, 201, doc)
            _, _, page = hub.get("/v1/events?topic=orders/eu&limit=100")
            self.assertEqual([e["data"] for e in page["events"]],
                             [e["data"] for e in events] + [order(99)["data"]])
            before = hub.stats()
            self.assertEqual(before["gzip_requests"], 2)
            whole = gzip.compress(json.dumps(order(1)).encode())
            bomb = gzip.compress(b"[" + b" " * (3 << 20) + b"]")  # 3 MiB of spaces: ~3 KiB
            refusals = [
                (whole[:-9], "gzip", 400, "invalid_body"),           # cut short
                (whole[:12] + b"\xff" * 8 + whole[20:], "gzip", 400, "invalid_body"),  # corrupt
                (whole + b"trailing", "gzip", 400, "invalid_body"),  # not another member
                (b"", "gzip", 400, "invalid_body"),
                (json.dumps(order(1)).encode(), "gzip", 400, "invalid_body"),  # not gzip at all
                (whole, "br", 415, "unsupported_encoding"),
                (whole, "gzip, br", 415, "unsupported_encoding"),
                (bomb, "gzip", 413, "body_too_large"),
            ]
            for payload, coding, want, code in refusals:
                status, h, doc = hub.request("POST", "/v1/publish", payload,
                                             {**JSON, "Content-Encoding": coding})
                self.assertEqual((status, doc["error"]["code"]), (want, code), (coding, doc))
                self.assertEqual(h["content-type"], "application/json")
            after = hub.stats()
            self.assertEqual(after["log_head"], before["log_head"])  # nothing was published
            self.assertEqual(after["events_published"], before["events_published"])
            # identity is the body as it is.
            status, _, _ = hub.request("POST", "/v1/publish", json.dumps(order(2)),
                                       {**JSON, "Content-Encoding": "identity"})
            self.assertEqual(status, 201)


class Answers(unittest.TestCase):
    def test_json_answers_are_gzipped_when_accepted_and_large(self):
        with Hub() as hub:
            hub.publish([order(i) for i in range(40)])
            status, h, plain = hub.get("/v1/events?topic=orders/eu&limit=100")
            self.assertEqual(status, 200)
            self.assertNotIn("content-encoding", h)
            self.assertEqual(h["vary"], "Accept-Encoding")
            raw_len = int(h["content-length"])
            # http.client does not inflate: the body arrives as the hub sent it.
            status, h, body = hub.request("GET", "/v1/events?topic=orders/eu&limit=100",
                                          headers={"Accept-Encoding": "br;q=1, gzip;q=0.5"})
            self.assertEqual(status, 200)
            self.assertEqual(h["content-encoding"], "gzip")
            self.assertEqual(h["vary"], "Accept-Encoding")
            self.assertEqual(int(h["content-length"]), len(body))
            self.assertLess(len(body), raw_len / 4)
            self.assertEqual(json.loads(gzip.decompress(body)), plain)
            # gzip refused by q=0 (even with *), and small answers as they are.
            for accept in ("gzip;q=0, *", "identity", "gzip;q=0", "deflate"):
                _, h, doc = hub.request("GET", "/v1/events?topic=orders/eu&limit=100",
                                        headers={"Accept-Encoding": accept})
                self.assertNotIn("content-encoding", h, accept)
                self.assertEqual(doc, plain)
            _, h, _ = hub.request("GET", "/v1/events?topic=orders/eu&limit=100",
                                  headers={"Accept-Encoding": "*"})
            self.assertEqual(h["content-encoding"], "gzip")
            _, h, doc = hub.request("GET", "/healthz", headers={"Accept-Encoding": "gzip"})
            self.assertNotIn("content-encoding", h)
            self.assertGreaterEqual(hub.stats()["gzip_responses"], 2)

    def test_vary_names_both_origin_and_encoding(self):
        with Hub(config={"cors": {"allowed_origins": ["https://app.example"]},
                         "compression": {"streams": True}}) as hub:
            hub.publish([order(i) for i in range(40)])
            _, h, _ = hub.request("GET", "/v1/events?topic=orders/eu&limit=100",
                                  headers={"Accept-Encoding": "gzip",
                                           "Origin": "https://app.example"})
            self.assertEqual(h["content-encoding"], "gzip")
            self.assertEqual(h["access-control-allow-origin"], "https://app.example")
            self.assertEqual(sorted(v.strip() for v in h["vary"].split(",")),
                             ["Accept-Encoding", "Origin"])
            s = GzipStream(hub.port, "/v1/subscribe?topic=orders/eu")
            self.assertEqual(s.headers["vary"], "Accept-Encoding")

    def test_compression_responses_off(self):
        with Hub(config={"compression": {"responses": False}}) as hub:
            hub.publish([order(i) for i in range(40)])
            _, h, doc = hub.request("GET", "/v1/events?topic=orders/eu&limit=100",
                                    headers={"Accept-Encoding": "gzip"})
            self.assertNotIn("content-encoding", h)
            self.assertEqual(len(doc["events"]), 40)


class Streams(unittest.TestCase):
    def test_gzipped_stream_decodes_each_write_and_ends_its_member(self):
        with Hub(config={"compression": {"streams": True}}) as hub:
            s = GzipStream(hub.port, "/v1/subscribe?topic=orders/eu")
            self.assertEqual(s.status, 200)
            self.assertTrue(s.gzipped, s.headers)
            self.assertEqual(s.headers["vary"], "Accept-Encoding")
            plain = GzipStream(hub.port, "/v1/subscribe?topic=orders/eu", accept="identity")
            self.assertFalse(plain.gzipped)
            ids = []
            for i in range(20):
                ids.append(hub.publish(order(i))["id"])
                # Each event can be read as soon as it is written (the writes are flushed).
                s.read_until(lambda t, want=ids[-1]: f"id: {want}\n" in t and t.endswith("\n\n"))
            plain.read_until(lambda t: f"id: {ids[-1]}\n" in t)
            self.assertEqual(s.ids(), ids)
            self.assertEqual(s.text.split("retry: ")[1:], plain.text.split("retry: ")[1:])
            self.assertLess(s.wire, plain.wire / 2)
            st = hub.stats()
            self.assertGreater(st["gzip_stream_bytes_in"], 2 * st["gzip_stream_bytes_out"])
            # SIGTERM: the shutdown notice, then the end of the gzip member (last block, CRC
            # and length), which zlib checks.
            self.assertEqual(hub.terminate(), 0)
            self.assertTrue(s.read_to_end())
            self.assertIn("event: herald.shutdown", s.text)
            self.assertTrue(s.inflater.eof, "the gzip member was not ended")
            self.assertEqual(s.inflater.unused_data, b"")

    def test_streams_are_plain_unless_configured(self):
        with Hub() as hub:
            s = GzipStream(hub.port, "/v1/subscribe?topic=orders/eu")
            self.assertEqual(s.status, 200)
            self.assertFalse(s.gzipped)
            hub.publish(order(1))
            s.read_until(lambda t: "ord-1001" in t)


if __name__ == "__main__":
    unittest.main(verbosity=2)
