"""HTTP/1.1 pipelining against a real hub: many requests written back to back on one keep-alive
connection are answered in order while earlier publishes commit; a bad request in the line
closes the connection after the answers before it; a stream request waits for the answers
before it; a client that half-closes still gets every answer; the depth limit only pauses
reading."""
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, SSEClient, all_events  # noqa: E402


def publish_request(topic, data, extra_headers=""):
    body = json.dumps({"topic": topic, "data": data}).encode()
    return (b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + extra_headers.encode() + b"Content-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


class Responses:
    """Reads Content-Length framed HTTP responses off a socket, in order."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def next(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            self._fill()
            head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.buf = rest[need:]
        status = int(head.split(b" ")[1])
        return status, head.decode(), rest[:need]

    def closed(self, timeout=5):
        """True if the peer closes with nothing more sent."""
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except socket.timeout:
            return False


def seq_of(event_id):
    return int(event_id.rsplit("-", 1)[1])


class PipeliningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"limits": {"max_pipelined_requests": 8, "max_body_bytes": 4096}})
        cls.hub.start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def topic(self):
        type(self).count = getattr(type(self), "count", 0) + 1
        return f"pipe/t{self.count}"

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.hub.port), timeout=10)
        self.addCleanup(s.close)
        return s, Responses(s)

    def test_many_publishes_in_one_write_are_answered_in_order(self):
        topic = self.topic()
        sub = SSEClient(self.hub.port, [topic])
        self.addCleanup(sub.close)
        s, r = self.connect()
        # 200 requests in one write: far deeper than max_pipelined_requests (8), so reading
        # pauses and resumes many times.
        s.sendall(b"".join(publish_request(topic, {"n": i}) for i in range(200)))
        ids = []
        for i in range(200):
            status, _, body = r.next()
            self.assertEqual(status, 201, body)
            ids.append(json.loads(body)["id"])
        # Answers come in request order: the log order of the events.
        self.assertEqual([seq_of(x) for x in ids], sorted(seq_of(x) for x in ids))
        self.assertEqual(len(set(ids)), 200)
        events = sub.wait_events(200)
        self.assertEqual([e["id"] for e in events], ids)
        self.assertEqual([json.loads(e["data"])["n"] for e in events], list(range(200)))
        # The connection is still usable afterwards.
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r.next()[0], 200)

    def test_requests_split_anywhere_across_writes_are_read_whole(self):
        # Requests already in the buffer are parsed at once; one cut short (in its head or its
        # body) is read on when the rest arrives. Cut the line at every byte of the third.
        topic = self.topic()
        sub = SSEClient(self.hub.port, [topic])
        self.addCleanup(sub.close)
        reqs = [publish_request(topic, {"n": i}) for i in range(4)]
        line = b"".join(reqs)
        start = len(reqs[0]) + len(reqs[1])
        cuts = range(start, start + len(reqs[2]) + 1, 7)
        n = 0
        for cut in cuts:
            s, r = self.connect()
            s.sendall(line[:cut])
            time.sleep(0.01)
            s.sendall(line[cut:])
            for i in range(4):
                status, _, body = r.next()
                self.assertEqual(status, 201, (cut, body))
            n += 4
        events = sub.wait_events(n)
        self.assertEqual([json.loads(e["data"])["n"] for e in events], list(range(4)) * len(cuts))

    def test_expect_continue_with_its_body_already_sent_is_answered_once(self):
        topic = self.topic()
        s, r = self.connect()
        s.sendall(publish_request(topic, 1)
                  + publish_request(topic, 2, "Expect: 100-continue\r\n")
                  + publish_request(topic, 3))
        statuses = [r.next()[0] for _ in range(3)]
        self.assertEqual(statuses, [201, 201, 201])
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r.next()[0], 200)

    def test_mixed_requests_keep_their_order(self):
        topic = self.topic()
        s, r = self.connect()
        s.sendall(publish_request(topic, 1)
                  + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  + b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  + publish_request(topic, 2)
                  + b"GET /v1/events?topic=" + topic.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        statuses = []
        bodies = []
        for _ in range(5):
            status, _, body = r.next()
            statuses.append(status)
            bodies.append(body)
        self.assertEqual(statuses, [201, 200, 404, 201, 200])
        self.assertEqual(json.loads(bodies[2])["error"]["code"], "not_found")
        # Only publishes overlap: the read waited for the requests before it, so it sees both
        # publishes.
        page = json.loads(bodies[4])
        self.assertEqual([e["id"] for e in page["events"]],
                         [json.loads(bodies[0])["id"], json.loads(bodies[3])["id"]])

    def test_malformed_request_in_the_line_ends_it_after_earlier_answers(self):
        topic = self.topic()
        s, r = self.connect()
        s.sendall(publish_request(topic, 1) + publish_request(topic, 2)
                  + b"THIS IS NOT HTTP\r\n\r\n" + publish_request(topic, 3))
        self.assertEqual(r.next()[0], 201)
        self.assertEqual(r.next()[0], 201)
        status, head, body = r.next()
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "malformed_request")
        self.assertIn("connection: close", head.lower())
        self.assertTrue(r.closed())
        # Nothing after the bad request was published.
        self.assertEqual([e["data"] for e in all_events(self.hub, topic)], [1, 2])

    def test_connection_close_request_is_the_last_answered(self):
        topic = self.topic()
        s, r = self.connect()
        s.sendall(publish_request(topic, 1) + publish_request(topic, 2, "Connection: close\r\n")
                  + publish_request(topic, 3))
        self.assertEqual(r.next()[0], 201)
        status, head, _ = r.next()
        self.assertEqual(status, 201)
        self.assertIn("connection: close", head.lower())
        self.assertTrue(r.closed())
        self.assertEqual([e["data"] for e in all_events(self.hub, topic)], [1, 2])

    def test_half_closed_client_gets_every_answer(self):
        topic = self.topic()
        s, r = self.connect()
        s.sendall(b"".join(publish_request(topic, i) for i in range(20)))
        s.shutdown(socket.SHUT_WR)
        for _ in range(20):
            self.assertEqual(r.next()[0], 201)
        self.assertTrue(r.closed())

    def test_stream_request_after_publishes_gets_its_head_after_their_answers(self):
        topic = self.topic()
        # Resume from an event published before: the stream replays what follows it.
        before = self.hub.publish({"topic": topic, "data": 0})["id"]
        s, r = self.connect()
        s.sendall(publish_request(topic, 1) + publish_request(topic, 2)
                  + b"GET /v1/subscribe?topic=" + topic.encode()
                  + b"&last_event_id=" + before.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = r.next()
        self.assertEqual(status, 201, body)
        first = json.loads(body)["id"]
        second = json.loads(r.next()[2])["id"]
        while b"\r\n\r\n" not in r.buf:
            r._fill()
        head, _, rest = r.buf.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"text/event-stream", head)
        # The stream replays both events.
        deadline = time.time() + 5
        while rest.count(b"\nid: ") + rest.startswith(b"id: ") < 2 and time.time() < deadline:
            rest += s.recv(65536)
        self.assertIn(("id: " + first).encode(), rest)
        self.assertIn(("id: " + second).encode(), rest)

    def test_client_that_does_not_read_its_answers_holds_little(self):
        # 150 pipelined reads of a ~130 KB page each, answers not read: a read waits for the
        # answers before it, and reading stops while unread answers reach limits.max_body_bytes,
        # so the hub holds a page or two, not 150 (about 20 MB).
        topic = self.topic()
        for i in range(0, 1000, 25):  # (bodies under this hub's 4 KiB limit)
            body = json.dumps([{"topic": topic, "data": "x" * 60} for _ in range(25)])
            st, _, _ = self.hub.request("POST", "/v1/publish", body,
                                        {"Content-Type": "application/json"})
            self.assertEqual(st, 201)

        def rss_kib():
            with open(f"/proc/{self.hub.proc.pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

        s, r = self.connect()
        before = rss_kib()
        get = (b"GET /v1/events?topic=" + topic.encode()
               + b"&limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.sendall(get * 150)
        time.sleep(1.5)
        grown = rss_kib() - before
        # (Under AddressSanitizer freed memory stays resident in its quarantine, and the answers
        # the kernel's socket buffers took were rendered and freed; ThreadSanitizer's shadow
        # memory grows with what the process touches: RSS says nothing under either.)
        if not (os.environ.get("UBSAN_OPTIONS") or os.environ.get("TSAN_OPTIONS")):
            self.assertLess(grown, 4 * 1024, f"RSS grew {grown} KiB")
        # Every answer still comes, in order, once the client reads.
        for _ in range(150):
            status, _, body = r.next()
            self.assertEqual(status, 200)
            self.assertEqual(len(json.loads(body)["events"]), 1000)

    def test_oversized_body_in_the_line_is_refused_after_earlier_answers(self):
        topic = self.topic()
        s, r = self.connect()
        big = b"x" * 5000
        s.sendall(publish_request(topic, 1)
                  + b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + b"Content-Length: " + str(len(big)).encode() + b"\r\n\r\n" + big)
        self.assertEqual(r.next()[0], 201)
        status, _, body = r.next()
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "body_too_large")
        self.assertTrue(r.closed())


if __name__ == "__main__":
    unittest.main(verbosity=2)
