"""HTTP API against a real hub: publish, subscribe, replay pages, errors, CORS, health."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import HERALD, Hub, free_port, raw_http  # noqa: E402


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"cors": {"allowed_origins": ["http://app.example"]},
                              "limits": {"max_body_bytes": 4096, "max_header_bytes": 2048}})
        cls.hub.start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def unique(self, name):
        return f"{name}/{self._testMethodName}"

    # -- publish and subscribe -----------------------------------------------------------------
    def test_publish_then_stream_delivers_in_order_with_types(self):
        topic = self.unique("orders")
        sub = self.hub.subscribe([topic])
        self.assertEqual(sub.status, 200)
        self.assertTrue(sub.headers["content-type"].startswith("text/event-stream"))
        self.assertIn("no-cache", sub.headers["cache-control"])
        self.assertEqual(sub.headers["x-accel-buffering"], "no")
        self.assertRegex(sub.headers["herald-connection-id"], r"^[0-9a-f]{32}$")
        one = self.hub.publish({"topic": topic, "data": {"n": 1}, "type": "created"})
        many = self.hub.publish([{"topic": topic, "data": [2, "x"]},
                                 {"topic": topic, "data": None}])
        self.assertIn("id", one)
        self.assertEqual(len(many["ids"]), 2)
        events = sub.wait_events(3)
        self.assertEqual([e["id"] for e in events], [one["id"]] + many["ids"])
        self.assertEqual(events[0]["event"], "created")
        self.assertEqual(json.loads(events[0]["data"]), {"n": 1})
        self.assertEqual(json.loads(events[1]["data"]), [2, "x"])
        self.assertEqual(json.loads(events[2]["data"]), None)
        self.assertNotIn("event", events[1])
        self.assertEqual(sub.events[0].get("retry"), "2000")  # retry comes first
        sub.close()

    def test_patterns_match_one_or_trailing_segments(self):
        base = self.unique("p")
        star = self.hub.subscribe([base + "/*"])
        globstar = self.hub.subscribe([base + "/**"])
        for t in [base + "/a", base + "/a/b", base, base + "x/a"]:
            self.hub.publish({"topic": t, "data": t})
        self.hub.publish({"topic": base + "/end", "data": "end"})
        s = [json.loads(e["data"]) for e in star.wait_events(2)]
        g = [json.loads(e["data"]) for e in globstar.wait_events(3)]
        self.assertEqual(s, [base + "/a", "end"])
        self.assertEqual(g, [base + "/a", base + "/a/b", "end"])
        star.close()
        globstar.close()

    def test_multi_topic_stream_and_query_resume(self):
        a, b = self.unique("a"), self.unique("b")
        ids = self.hub.publish([{"topic": a, "data": 1}, {"topic": b, "data": 2},
                                {"topic": a, "data": 3}])["ids"]
        sub = self.hub.subscribe([a, b], query_last_id=ids[0])
        self.assertEqual([e["id"] for e in sub.wait_events(2)], ids[1:])
        sub.close()

    def test_envelope_gives_each_event_its_topic(self):
        base = self.unique("env")
        sub = self.hub.subscribe([base + "/*"], path=f"/v1/subscribe?topic={base}/*&envelope=1")
        plain = self.hub.subscribe([base + "/*"])
        ids = self.hub.publish([{"topic": base + "/a", "data": {"x": 1}, "type": "made"},
                                {"topic": base + "/b", "data": "two\nlines"}])["ids"]
        got = sub.wait_events(2)
        self.assertEqual([e["id"] for e in got], ids)
        self.assertNotIn("event", got[0])  # the type is in the data: onmessage gets it all
        self.assertEqual(json.loads(got[0]["data"]),
                         {"topic": base + "/a", "type": "made", "data": {"x": 1}})
        self.assertEqual(json.loads(got[1]["data"]), {"topic": base + "/b", "data": "two\nlines"})
        # Subscribers without the envelope still get the data alone (frames are per encoding).
        self.assertEqual(json.loads(plain.wait_events(2)[0]["data"]), {"x": 1})
        sub.close()
        plain.close()
        bad = self.hub.subscribe([base], path=f"/v1/subscribe?topic={base}&envelope=yes")
        self.assertEqual(bad.status, 400)
        self.assertEqual(json.loads(bad.body)["error"]["code"], "invalid_envelope")

    def test_replay_api_pages_with_cursor(self):
        t = self.unique("hist")
        ids = self.hub.publish([{"topic": t, "data": i} for i in range(5)])["ids"]
        st, _, page = self.hub.get(f"/v1/events?topic={t}&limit=2")
        self.assertEqual(st, 200)
        self.assertEqual([e["id"] for e in page["events"]], ids[:2])
        self.assertEqual(page["events"][0]["topic"], t)
        self.assertEqual(page["events"][0]["data"], 0)
        self.assertRegex(page["events"][0]["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIsNone(page["gap"])
        got = [e["id"] for e in page["events"]]
        while page["more"] and len(got) < 5:
            st, _, page = self.hub.get(f"/v1/events?topic={t}&limit=2&after={page['next_after']}")
            got += [e["id"] for e in page["events"]]
        self.assertEqual(got, ids)
        st, _, page = self.hub.get(f"/v1/events?topic={t}&after=00000000-1")
        self.assertEqual(page["gap"], {"reason": "unknown_log"})  # an id from another log

    # -- bad input ------------------------------------------------------------------------------
    def assert_error(self, res, status, code):
        st, headers, doc = res
        self.assertEqual(st, status, doc)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertTrue(doc["error"]["message"])

    def test_bad_publishes_are_rejected_and_change_nothing(self):
        head = self.hub.stats()["log_head"]
        cases = [
            ("{not json", "application/json", 400, "malformed_json"),
            ("42", "application/json", 400, "invalid_body"),
            ("[]", "application/json", 400, "invalid_body"),
            ('{"data":1}', "application/json", 400, "invalid_topic"),
            ('{"topic":"a/*","data":1}', "application/json", 400, "invalid_topic"),
            ('{"topic":"a//b","data":1}', "application/json", 400, "invalid_topic"),
            ('{"topic":"' + "x" * 300 + '","data":1}', "application/json", 400, "invalid_topic"),
            ('{"topic":"a"}', "application/json", 400, "missing_data"),
            ('{"topic":"a","data":1,"type":"herald.shutdown"}', "application/json", 400,
             "invalid_type"),
            ('{"topic":"a","data":1,"type":"has space"}', "application/json", 400, "invalid_type"),
            ('{"topic":"a","data":1,"extra":2}', "application/json", 400, "unknown_field"),
            ('[{"topic":"a","data":1},{"topic":"","data":2}]', "application/json", 400,
             "invalid_topic"),
            ('{"topic":"a","data":1}', "text/plain", 415, "unsupported_media_type"),
            ('{"topic":"a","data":1}', None, 415, "unsupported_media_type"),
        ]
        for body, ctype, status, code in cases:
            with self.subTest(body=body[:40], ctype=ctype):
                headers = {"Content-Type": ctype} if ctype else {}
                self.assert_error(self.hub.request("POST", "/v1/publish", body, headers),
                                  status, code)
        st, _, doc = self.hub.request("POST", "/v1/publish",
                                      '[{"topic":"a","data":1},{"topic":"b"}]',
                                      {"Content-Type": "application/json"})
        self.assertEqual(st, 400)
        self.assertIn("events[1]", doc["error"]["message"])  # says which event
        self.assertEqual(self.hub.stats()["log_head"], head)  # all or nothing: nothing

    def test_oversize_body_gets_413_before_it_is_read(self):
        big = json.dumps({"topic": "a", "data": "x" * 5000})
        self.assert_error(self.hub.request("POST", "/v1/publish", big,
                                           {"Content-Type": "application/json"}),
                          413, "body_too_large")
        # Declared length over the limit: answered from the headers alone.
        st, _, body = raw_http(self.hub.port,
                               b"POST /v1/publish HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: 999999\r\n\r\n")
        self.assertEqual(st, 413)
        self.assertEqual(json.loads(body)["error"]["code"], "body_too_large")

    def test_expect_100_continue_is_honoured(self):
        body = json.dumps({"topic": self.unique("c"), "data": 1}).encode()
        with socket.create_connection(("127.0.0.1", self.hub.port), timeout=5) as s:
            s.sendall(b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 100 Continue"))
            s.sendall(body)
            self.assertIn(b"201 Created", s.recv(4096))

    def test_oversize_headers_get_431(self):
        st, _, body = raw_http(self.hub.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                               + b"y" * 4000 + b"\r\n\r\n")
        self.assertEqual(st, 431)
        self.assertEqual(json.loads(body)["error"]["code"], "headers_too_large")

    def test_malformed_http_gets_400(self):
        st, _, body = raw_http(self.hub.port, b"THIS IS NOT HTTP\r\n\r\n")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "malformed_request")

    def test_unknown_paths_and_wrong_methods(self):
        self.assert_error(self.hub.get("/v2/nothing"), 404, "not_found")
        res = self.hub.request("DELETE", "/v1/publish")
        self.assert_error(res, 405, "method_not_allowed")
        self.assertIn("POST", res[1]["allow"])
        self.assert_error(self.hub.request("POST", "/v1/subscribe?topic=a", "{}"), 405,
                          "method_not_allowed")
        self.assert_error(self.hub.get("/v1/events?topic=a%zz"), 400, "invalid_target")

    def test_bytes_that_are_not_utf8_get_json_errors(self):
        # A path or a Last-Event-ID is the client's bytes: quoted in an error or a notice, what
        # is not UTF-8 becomes U+FFFD. (Found by fuzz/http_request: the 404 of such a path
        # threw out of the io thread and ended the process.)
        st, _, body = raw_http(self.hub.port, b"GET /m\xe2rcure HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(st, 404)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "not_found")
        self.assertIn("\ufffd", err["message"])
        st, _, body = raw_http(self.hub.port, b"GET /v1/subscribe?topic=a HTTP/1.1\r\nHost: x\r\n"
                               b"Last-Event-ID: \xff\xfe\r\n\r\n")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_id")
        # A Mercure subscriber's Last-Event-ID that the log does not know (a publisher's own id)
        # is answered with a gap notice quoting it; the stream goes on and gets what follows.
        topic = "urn:utf8:" + self._testMethodName
        with socket.create_connection(("127.0.0.1", self.hub.port), timeout=5) as s:
            s.sendall(b"GET /.well-known/mercure?topic=" + topic.encode() + b" HTTP/1.1\r\n"
                      b"Host: x\r\nLast-Event-ID: id-\xff\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            self.assertIn(b" 200 ", buf.split(b"\r\n")[0])
            self.hub.wait_stats(lambda st: st["connections"] >= 1)
            st, _, _ = self.hub.request(
                "POST", "/.well-known/mercure", f"topic={topic}&data=after",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(st, 200)
            deadline = time.time() + 5
            while b"data: after" not in buf and time.time() < deadline:
                buf += s.recv(65536)
            self.assertIn(b"data: after", buf)
            self.assertIn('"last_event_id":"id-\ufffd"'.encode(), buf)
        self.assertEqual(self.hub.get("/healthz")[0], 200)

    def test_route_table_edges(self):
        # Methods Beast does not know, asterisk and absolute-form targets, empty path segments:
        # each is answered from the route table and the hub stays up.
        cases = [(b"FOO /v1/publish HTTP/1.1\r\nHost: x\r\n\r\n", 405),
                 (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404),
                 (b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 404),
                 (b"GET /v1/jobs//events HTTP/1.1\r\nHost: x\r\n\r\n", 404),
                 (b"OPTIONS /v1/jobs/j HTTP/1.1\r\nHost: x\r\n\r\n", 204)]
        for raw, status in cases:
            st, head, _ = raw_http(self.hub.port, raw)
            self.assertEqual(st, status, raw)
        _, head, _ = raw_http(self.hub.port, cases[-1][0])
        self.assertIn("Allow: GET, PUT, OPTIONS", head)
        _, head, body = raw_http(self.hub.port, cases[0][0])
        self.assertIn("Allow: POST, OPTIONS", head)
        self.assertEqual(json.loads(body)["error"]["code"], "method_not_allowed")
        self.assertEqual(self.hub.get("/healthz")[0], 200)

    def test_bad_subscriptions_get_400(self):
        for path, code in [("/v1/subscribe", "invalid_topic"),
                           ("/v1/subscribe?topic=a//b", "invalid_topic"),
                           ("/v1/subscribe?topic=a/**/b", "invalid_topic"),
                           ("/v1/subscribe?topic=a&bogus=1", "unknown_parameter"),
                           ("/v1/subscribe?topic=a&last_event_id=nope", "invalid_id"),
                           ("/v1/events", "invalid_topic"),
                           ("/v1/events?topic=a&limit=0", "invalid_limit"),
                           ("/v1/events?topic=a&limit=1001", "invalid_limit"),
                           ("/v1/events?topic=a&after=12", "invalid_id")]:
            with self.subTest(path=path):
                self.assert_error(self.hub.get(path), 400, code)
        self.assert_error(self.hub.get("/v1/subscribe?topic=a",
                                       headers={"Last-Event-ID": "not-an-id"}), 400, "invalid_id")
        too_many = "&".join(f"topic=t{i}" for i in range(33))
        self.assert_error(self.hub.get("/v1/subscribe?" + too_many), 400, "invalid_topic")
        self.assertEqual(self.hub.stats()["connections"], 0)

    # -- CORS ------------------------------------------------------------------------------------
    def test_cors_allowed_origin_gets_headers_everywhere(self):
        origin = {"Origin": "http://app.example"}
        st, h, _ = self.hub.request("POST", "/v1/publish", {"topic": "cors", "data": 1}, origin)
        self.assertEqual(st, 201)
        self.assertEqual(h["access-control-allow-origin"], "http://app.example")
        self.assertEqual(h["vary"], "Origin")
        self.assertEqual(h["access-control-allow-credentials"], "true")  # a listed origin only
        self.assertIn("Last-Event-ID", h["access-control-expose-headers"])
        st, h, _ = self.hub.get("/v1/events?topic=cors", origin)
        self.assertEqual(h["access-control-allow-origin"], "http://app.example")
        sub = self.hub.subscribe(["cors"], headers=origin)
        self.assertEqual(sub.headers["access-control-allow-origin"], "http://app.example")
        sub.close()
        st, h, _ = self.hub.request("OPTIONS", "/v1/publish", headers={
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(st, 204)
        self.assertIn("POST", h["access-control-allow-methods"])
        self.assertIn("Content-Type", h["access-control-allow-headers"])
        self.assertIn("Last-Event-ID", h["access-control-allow-headers"])

    def test_cors_other_origins_get_no_headers(self):
        other = {"Origin": "http://evil.example"}
        st, h, _ = self.hub.request("POST", "/v1/publish", {"topic": "cors", "data": 1}, other)
        self.assertEqual(st, 201)
        self.assertNotIn("access-control-allow-origin", h)
        st, h, _ = self.hub.request("OPTIONS", "/v1/publish", headers=other)
        self.assertNotIn("access-control-allow-origin", h)
        sub = self.hub.subscribe(["cors"], headers=other)
        self.assertNotIn("access-control-allow-origin", sub.headers)
        sub.close()

    # -- health and stats -------------------------------------------------------------------------
    def test_health_ready_and_stats(self):
        self.assertEqual(self.hub.get("/healthz")[0], 200)
        self.assertEqual(self.hub.get("/readyz")[2], {"status": "ready"})
        s = self.hub.stats()
        for key in ["connections", "topic_actors", "job_actors", "actors", "events_published",
                    "events_delivered", "slow_consumer_disconnects"]:
            self.assertIn(key, s)


class StartupTest(unittest.TestCase):
    def run_herald(self, args, env=None, timeout=10):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([HERALD] + args, capture_output=True, text=True, timeout=timeout,
                              env=e)

    def test_version_and_help(self):
        r = self.run_herald(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"herald \d+\.\d+\.\d+")
        r = self.run_herald(["serve", "--help"])
        self.assertEqual(r.returncode, 0)
        for flag in ["--config", "--listen", "--data-dir"]:
            self.assertIn(flag, r.stdout)

    def test_bad_config_fails_at_start_naming_the_key(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.json")
            for doc, key in [({"sse": {"heartbeat": 5}}, "sse.heartbeat"),
                             ({"limits": {"max_connections": "many"}}, "limits.max_connections"),
                             ({"storage": {"durability": "maybe"}}, "storage.durability")]:
                with open(path, "w") as f:
                    json.dump(doc, f)
                r = self.run_herald(["serve", "--config", path, "--data-dir", d + "/db"])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(key, r.stderr)
            r = self.run_herald(["serve", "--data-dir", d + "/db"],
                                env={"HERALD_SSE_RETRY_MS": "soon"})
            self.assertEqual(r.returncode, 2)
            self.assertIn("HERALD_SSE_RETRY_MS", r.stderr)
            r = self.run_herald(["serve", "--listen", "nope", "--data-dir", d + "/db"])
            self.assertEqual(r.returncode, 2)

    def test_port_in_use_fails_cleanly(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with tempfile.TemporaryDirectory() as d:
                r = self.run_herald(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", d])
                self.assertEqual(r.returncode, 1)
                self.assertIn("cannot listen", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
