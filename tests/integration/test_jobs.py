"""Job progress against a real hub: one watcher per job, many viewers, persistence, retention."""
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SSEClient, Hub  # noqa: E402


def put(hub, job, body, expect=200):
    st, _, doc = hub.request("PUT", f"/v1/jobs/{job}", body)
    assert st == expect, (st, doc)
    return doc


class JobStream(SSEClient):
    """An SSE client on /v1/jobs/{id}/events (SSEClient speaks the same wire format)."""

    def __init__(self, port, job, last_event_id=None):
        import socket as s
        self.sock = s.create_connection(("127.0.0.1", port), timeout=5)
        lines = [f"GET /v1/jobs/{job}/events HTTP/1.1", "Host: x", "Accept: text/event-stream"]
        if last_event_id:
            lines.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf, self.status, self.headers, self.body = b"", None, {}, b""
        self.events, self.comments, self.closed = [], 0, False
        self._read_head()


class Upstream:
    """A real HTTP status endpoint on loopback that counts the polls it receives."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        upstream = self
        self.doc = {"status": "running", "pct": 0}
        self.polls = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.polls.append(time.time())
                body = json.dumps(upstream.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def polls_between(self, t0, t1):
        return len([t for t in self.polls if t0 <= t < t1])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class UpstreamTest(unittest.TestCase):
    def test_one_poll_per_interval_whatever_the_viewers_and_none_after_the_end(self):
        up = Upstream()
        try:
            with Hub(config={"jobs": {"retention_seconds": 2}}) as hub:
                put(hub, "u", {"state": "active", "upstream": {
                    "url": f"http://127.0.0.1:{up.port}/jobs/u",
                    "map": {"state": "/status", "progress": "/pct"},
                    "states": {"running": "active", "done": "completed"},
                    "interval_ms": 200}})
                time.sleep(0.5)
                self.assertEqual(up.polls, [])  # no viewers: no polling
                viewers = [JobStream(hub.port, "u") for _ in range(100)]
                hub.wait_stats(lambda s: s["job_viewers"] == 100)
                t0 = time.time()
                for pct in (20, 40, 60):
                    up.doc = {"status": "running", "pct": pct}
                    time.sleep(0.5)
                for v in viewers[:50]:  # half the viewers vanish: polling does not change
                    v.close(abrupt=True)
                time.sleep(0.5)
                t1 = time.time()
                polls = up.polls_between(t0, t1)
                self.assertLessEqual(polls, (t1 - t0) / 0.2 + 2)  # one per interval, not per viewer
                self.assertGreaterEqual(polls, 4)
                up.doc = {"status": "done", "pct": 100}
                for v in viewers[50:]:
                    self.assertTrue(v.wait_closed(10))
                    self.assertEqual(v.events[-1]["event"], "job.completed")
                    seen = [json.loads(e["data"])["progress"] for e in v.events if "data" in e]
                    self.assertEqual(seen, sorted(seen))
                    self.assertIn(60, seen)
                    self.assertNotIn("upstream", json.loads(v.events[-1]["data"]))
                done_at = len(up.polls)
                time.sleep(1.0)
                self.assertEqual(len(up.polls), done_at)  # terminal: the upstream hears nothing more
                self.assertGreaterEqual(hub.stats()["upstream_polls"], polls)
                hub.wait_stats(lambda s: s["job_actors"] == 0, timeout=10)  # after retention
        finally:
            up.close()

    def test_polling_stops_when_the_last_viewer_leaves(self):
        up = Upstream()
        try:
            with Hub() as hub:
                put(hub, "w", {"state": "active", "upstream": {
                    "url": f"http://127.0.0.1:{up.port}/jobs/w", "map": {"progress": "/pct"},
                    "interval_ms": 100}})
                viewers = [JobStream(hub.port, "w") for _ in range(5)]
                time.sleep(0.6)
                self.assertGreater(len(up.polls), 0)
                for v in viewers:
                    v.close()
                hub.wait_stats(lambda s: s["job_viewers"] == 0)
                time.sleep(0.3)  # an in-flight poll may still land
                left_at = len(up.polls)
                time.sleep(1.0)
                self.assertEqual(len(up.polls), left_at)
        finally:
            up.close()

    def test_upstream_errors_are_reported_to_viewers(self):
        with Hub() as hub:
            port = __import__("harness").free_port()  # nothing listens there
            put(hub, "e", {"state": "active", "upstream": {
                "url": f"http://127.0.0.1:{port}/x", "map": {"progress": "/pct"},
                "interval_ms": 100}})
            v = JobStream(hub.port, "e")
            err = json.loads(v.wait_events(1, kind="job.upstream_error")[0]["data"])
            self.assertIn("connect", err["error"])
            self.assertEqual(err["attempt"], 1)
            self.assertEqual(hub.get("/v1/jobs/e")[2]["state"], "active")  # no crash, no change
            v.close()


class JobsTest(unittest.TestCase):
    def test_hundred_viewers_see_the_same_ordered_updates_and_the_end(self):
        with Hub() as hub:
            put(hub, "big", {"state": "active", "progress": 0})
            rng = random.Random(4)
            viewers = [JobStream(hub.port, "big") for _ in range(100)]
            self.assertTrue(all(v.status == 200 for v in viewers))
            s = hub.wait_stats(lambda s: s["job_viewers"] == 100)
            self.assertEqual(s["job_actors"], 1)  # one watcher, whatever the number of viewers
            for p in range(1, 21):
                put(hub, "big", {"progress": p * 4})
                if p == 5:  # some vanish without a clean close
                    for v in viewers[:10]:
                        v.close(abrupt=True)
                if p == 10:  # some refresh: reconnect with their Last-Event-ID
                    for i in range(10, 20):
                        viewers[i].pump(0.2)
                        last = viewers[i].last_id()
                        viewers[i].close()
                        viewers[i] = JobStream(hub.port, "big", last_event_id=last)
                        viewers[i].refreshed = True
            final = put(hub, "big", {"state": "completed", "result": {"rows": 7}})
            self.assertEqual(final["version"], 22)
            for v in viewers[10:]:
                self.assertTrue(v.wait_closed(10), "stream did not end at the terminal state")
                versions = [int(e["id"]) for e in v.events if "id" in e]
                self.assertEqual(versions, sorted(versions))
                self.assertEqual(versions[-1], 22)
                self.assertEqual(v.events[-1]["event"], "job.completed")
                self.assertEqual(json.loads(v.events[-1]["data"])["result"], {"rows": 7})
                if not getattr(v, "refreshed", False):
                    self.assertEqual(versions, list(range(1, 23)))  # every update, once
            # A client that saw the end and reconnects gets 204: EventSource stops.
            again = JobStream(hub.port, "big", last_event_id="22")
            self.assertEqual(again.status, 204)
            hub.wait_stats(lambda s: s["job_viewers"] == 0 and s["connections"] == 0)

    def test_job_state_survives_kill9_and_viewers_get_the_snapshot(self):
        with Hub() as hub:
            put(hub, "p", {"state": "active", "progress": 30, "message": "halfway"})
            hub.kill9()
            hub.restart()
            st, _, snap = hub.get("/v1/jobs/p")
            self.assertEqual((st, snap["progress"], snap["message"], snap["version"]),
                             (200, 30, "halfway", 1))
            v = JobStream(hub.port, "p")
            first = v.wait_events(1, kind="job.snapshot")[0]
            self.assertEqual(json.loads(first["data"])["progress"], 30)
            put(hub, "p", {"progress": 60, "expected_version": 1})
            self.assertEqual(json.loads(v.wait_events(1, kind="job.update")[0]["data"])["progress"], 60)
            v.close()

    def test_terminal_jobs_are_retained_then_forgotten_and_watchers_stop(self):
        with Hub(config={"jobs": {"retention_seconds": 1, "idle_seconds": 1}}) as hub:
            put(hub, "r", {"state": "failed", "error": "disk full"})
            self.assertEqual(hub.stats()["job_actors"], 1)
            self.assertEqual(hub.get("/v1/jobs/r")[2]["state"], "failed")
            hub.wait_stats(lambda s: s["job_actors"] == 0, timeout=10)
            self.assertEqual(hub.get("/v1/jobs/r")[0], 404)
            put(hub, "idle", {"state": "waiting"})
            hub.wait_stats(lambda s: s["job_actors"] == 0, timeout=10)  # idle watcher stops
            self.assertEqual(hub.get("/v1/jobs/idle")[2]["state"], "waiting")  # still stored

    def test_bad_job_requests_are_rejected_and_change_nothing(self):
        with Hub() as hub:
            put(hub, "b", {"state": "active"})
            cases = [("PUT", "/v1/jobs/b", "{not json", "application/json", 400, "malformed_json"),
                     ("PUT", "/v1/jobs/b", '{"state":"running"}', "application/json", 400,
                      "invalid_state"),
                     ("PUT", "/v1/jobs/b", '{"progress":120}', "application/json", 400,
                      "invalid_progress"),
                     ("PUT", "/v1/jobs/b", '{"extra":1}', "application/json", 400, "unknown_field"),
                     ("PUT", "/v1/jobs/b", '{"expected_version":9}', "application/json", 409,
                      "version_conflict"),
                     ("PUT", "/v1/jobs/b", '{"progress":1}', "text/plain", 415,
                      "unsupported_media_type"),
                     ("PUT", "/v1/jobs/bad%20id", "{}", "application/json", 400, "invalid_job_id"),
                     ("POST", "/v1/jobs/b", "{}", "application/json", 405, "method_not_allowed"),
                     ("GET", "/v1/jobs/none", None, None, 404, "job_not_found")]
            for method, path, body, ctype, status, code in cases:
                with self.subTest(method=method, path=path, body=body):
                    st, _, doc = hub.request(method, path, body,
                                             {"Content-Type": ctype} if ctype else {})
                    self.assertEqual((st, doc["error"]["code"]), (status, code))
            self.assertEqual(hub.get("/v1/jobs/b")[2]["version"], 1)
            v = JobStream(hub.port, "b", last_event_id="nope")
            self.assertEqual(v.status, 400)
            v = JobStream(hub.port, "missing")
            self.assertEqual(v.status, 404)
            hub.wait_stats(lambda s: s["connections"] == 0)

    def test_shutdown_ends_job_streams_with_a_notice(self):
        hub = Hub()
        hub.start()
        try:
            put(hub, "s", {"state": "active"})
            v = JobStream(hub.port, "s")
            v.wait_events(1, kind="job.snapshot")
            self.assertEqual(hub.terminate(), 0)
            v.wait_closed(5)
            self.assertEqual([e for e in v.events if e.get("event") == "herald.shutdown"][0]["event"],
                             "herald.shutdown")
        finally:
            hub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
