"""The live dashboard against a real hub: GET /dashboard and its assets, and the snapshots of
GET /v1/admin/stats/stream following what the test does (publishes by topic, a durable session
holding unacknowledged events, a job in progress, refusals), admin-only access, and the stream's
clean-up. The page itself is exercised in Chromium (tests/node/dashboard.browser.test.mjs).
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, SSEClient  # noqa: E402

HERALD = os.environ.get("HERALD_BIN", "build/herald")
SECRET = "d" * 48
KEYS = {"keys": [{"alg": "HS256", "secret": SECRET}]}


def mint(hub, *args):
    key_file = os.path.join(hub.data_dir, "dash.secret")
    with open(key_file, "w") as f:
        f.write(SECRET)
    out = subprocess.run([HERALD, "token", "--key-file", key_file, *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def snapshots(stream):
    return [json.loads(e["data"]) for e in stream.events if e.get("event") == "herald.stats"]


def wait_snapshot(stream, pred, timeout=10):
    """Pumps `stream` until a snapshot satisfies `pred`; returns it."""
    deadline = time.time() + timeout
    seen = 0
    while time.time() < deadline:
        stream.pump(0.1)
        got = snapshots(stream)
        for s in got[seen:]:
            if pred(s):
                return s
        seen = len(got)
        if stream.closed:
            break
    raise AssertionError(f"no snapshot matched; last: {snapshots(stream)[-1:]}")


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"auth": {**KEYS, "leeway_seconds": 0},
                              "dashboard": {"interval_ms": 200}}).start()
        cls.admin = mint(cls.hub, "--sub", "ops", "--admin")
        cls.user = mint(cls.hub, "--sub", "alice", "--subscribe", "dash/**",
                        "--publish", "dash/**", "--publish", "jobs/**", "--subscribe", "jobs/**")

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def bearer(self, token):
        return {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def wait_no_connections(self, timeout=10):
        deadline = time.time() + timeout
        while True:
            _, _, st = self.hub.request("GET", "/v1/stats", headers=self.bearer(self.admin))
            if st["connections"] == 0:
                return
            self.assertLess(time.time(), deadline, st)
            time.sleep(0.05)

    def stream(self, query=""):
        return SSEClient(self.hub.port, [], path="/v1/admin/stats/stream" + query)

    def test_the_page_is_for_admins_and_its_assets_for_anyone(self):
        h = self.hub
        s, _, body = h.request("GET", "/dashboard")
        self.assertEqual(s, 401, body)
        s, _, body = h.request("GET", "/dashboard", headers=self.bearer(self.user))
        self.assertEqual(s, 403, body)
        self.assertEqual(body["error"]["code"], "forbidden")
        s, head, body = h.request("GET", "/dashboard?access_token=" + self.admin)
        self.assertEqual(s, 200)
        self.assertTrue(head["content-type"].startswith("text/html"), head)
        page = body.decode() if isinstance(body, bytes) else body
        self.assertIn('<script src="/dashboard/dashboard.js"', page)
        self.assertIn("script-src 'self'", head["content-security-policy"])
        self.assertEqual(head["referrer-policy"], "no-referrer")
        self.assertEqual(head["cache-control"], "no-store")
        for asset, ctype in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            s, head, body = h.request("GET", "/dashboard/" + asset)
            self.assertEqual(s, 200, asset)
            self.assertTrue(head["content-type"].startswith(ctype), head)
            self.assertGreater(len(body), 1000)
            s, _, body = h.request("GET", "/dashboard/" + asset,
                                   headers={"If-None-Match": head["etag"]})
            self.assertEqual(s, 304)
        s, _, body = h.request("GET", "/dashboard/secrets.json")
        self.assertEqual(s, 404)
        self.assertEqual(body["error"]["code"], "not_found")

    def test_a_browser_without_an_admin_token_is_sent_to_sign_in(self):
        h = self.hub
        html = {"Accept": "text/html,application/xhtml+xml"}
        expired = mint(h, "--sub", "ops", "--admin", "--ttl", "1s")
        time.sleep(2.1)
        for headers, reason in (
                (html, "token_missing"),
                ({**html, "Cookie": "herald_token=" + self.user}, "forbidden"),
                ({**html, "Cookie": "herald_token=" + expired}, "token_expired"),
                ({**html, "Cookie": "herald_token=not.a.token"}, None)):
            s, head, _ = h.request("GET", "/dashboard", headers=headers)
            self.assertEqual(s, 303, headers)
            self.assertTrue(head["location"].startswith("/dashboard/signin?reason="), head)
            if reason:
                self.assertEqual(head["location"], "/dashboard/signin?reason=" + reason)
        # Programs (no text/html) still get the JSON refusal, a refused token's own code too.
        s, _, body = h.request("GET", "/dashboard",
                               headers={"Cookie": "herald_token=" + expired})
        self.assertEqual(s, 401)
        self.assertEqual(body["error"]["code"], "token_expired")
        # An admin's cookie opens the page, which knows the cookie's name (to sign out).
        s, head, body = h.request("GET", "/dashboard",
                                  headers={**html, "Cookie": "herald_token=" + self.admin})
        self.assertEqual(s, 200)
        self.assertIn('data-cookie="herald_token"', body.decode())
        # The sign-in page: anyone, locked down like the dashboard, its script from the hub.
        s, head, body = h.request("GET", "/dashboard/signin?reason=token_expired")
        self.assertEqual(s, 200)
        page = body.decode()
        self.assertIn('data-cookie="herald_token"', page)
        self.assertIn('<script src="/dashboard/signin.js"', page)
        self.assertIn("script-src 'self'", head["content-security-policy"])
        s, head, _ = h.request("GET", "/dashboard/signin.js")
        self.assertEqual(s, 200)
        self.assertTrue(head["content-type"].startswith("text/javascript"))

    def test_the_stream_is_for_admins(self):
        for query, status in (("", 401), ("?access_token=" + self.user, 403),
                              ("?access_token=not-a-token", 401)):
            s = self.stream(query)
            self.assertEqual(s.status, status, query)
            self.assertIn(b'"error"', s.body)
            s.close()

    def test_snapshots_follow_the_hub(self):
        h = self.hub
        user = self.bearer(self.user)
        dash = self.stream("?access_token=" + self.admin)
        self.assertEqual(dash.status, 200)
        first = wait_snapshot(dash, lambda s: True)
        for key in ("connections", "events", "latency_ms", "topics", "sessions", "jobs",
                    "rejections", "storage", "process", "log"):
            self.assertIn(key, first)
        self.assertGreaterEqual(first["connections"]["total"], 1)  # this stream

        # A durable session that leaves what it gets unacknowledged.
        s, _, doc = h.request("PUT", "/v1/sessions/dash-s1", {"topics": ["dash/acked"]},
                              headers=user)
        self.assertEqual(s, 201, doc)
        sess = SSEClient(h.port, [], path="/v1/sessions/dash-s1/events?access_token=" + self.user)
        self.assertEqual(sess.status, 200)
        # Publishes: alpha three times as busy as beta; acked events for the session.
        for i in range(30):
            h.request("POST", "/v1/publish", {"topic": "dash/alpha", "data": i}, headers=user)
            if i % 3 == 0:
                h.request("POST", "/v1/publish", {"topic": "dash/beta", "data": i}, headers=user)
        h.request("POST", "/v1/publish",
                  [{"topic": "dash/acked", "data": i, "ack": True} for i in range(4)],
                  headers=user)
        sess.wait_events(4)
        # A job in progress, and a refusal whose query must not be shown.
        s, _, _ = h.request("PUT", "/v1/jobs/dash-job", {"state": "active", "progress": 0.25,
                                                        "message": "halfway there"}, headers=user)
        self.assertEqual(s, 200)
        s, _, _ = h.request("POST", "/v1/publish?note=hidden-query", b"{nope",
                            headers=user)
        self.assertEqual(s, 400)

        # Topics are counted per interval: add up the windows until both topics are seen.
        counted = {}

        def topics_seen(snap):
            for t in snap["topics"]["busiest"]:
                counted[t["topic"]] = counted.get(t["topic"], 0) + t["events"]
            return counted.get("dash/alpha", 0) >= 30 and counted.get("dash/beta", 0) >= 10
        wait_snapshot(dash, topics_seen)
        self.assertEqual(counted["dash/alpha"], 30)
        self.assertEqual(counted["dash/beta"], 10)

        snap = wait_snapshot(dash, lambda s: any(x["id"] == "dash-s1" and x["pending"] == 4
                                                 for x in s["sessions"]["top"]))
        row = next(x for x in snap["sessions"]["top"] if x["id"] == "dash-s1")
        self.assertTrue(row["connected"])
        self.assertGreaterEqual(snap["sessions"]["pending_acks"], 4)
        job = next(j for j in snap["jobs"]["list"] if j["id"] == "dash-job")
        self.assertEqual((job["state"], job["progress"], job["message"]),
                         ("active", 0.25, "halfway there"))
        self.assertGreaterEqual(snap["events"]["published"], 44)
        self.assertGreaterEqual(snap["rejections"]["total"]["bad_input"], 1)
        recent = [r for r in snap["rejections"]["recent"] if r["status"] == 400]
        self.assertTrue(recent, snap["rejections"])
        self.assertEqual((recent[0]["method"], recent[0]["path"]), ("POST", "/v1/publish"))
        self.assertNotIn("hidden-query", json.dumps(snap))
        self.assertNotIn(self.user, json.dumps(snap))

        # Acknowledged: the session's row follows.
        ids = [e["id"] for e in sess.data_events()]
        s, _, _ = h.request("POST", "/v1/sessions/dash-s1/ack", {"ids": ids}, headers=user)
        self.assertEqual(s, 200)
        wait_snapshot(dash, lambda s: any(x["id"] == "dash-s1" and x["pending"] == 0
                                          for x in s["sessions"]["top"]))
        # Publish latency over an interval with publishes in it.
        lat = wait_snapshot(dash, lambda s: s["latency_ms"]["publish"]["count"] > 0
                            or s["events"]["published"] >= 44)
        self.assertIn("p99", lat["latency_ms"]["publish"])
        sess.close()

        # Closing the dashboard frees its connection.
        dash.close()
        self.wait_no_connections()

    def test_a_closed_dashboard_is_let_go_and_a_new_one_starts_at_once(self):
        h = self.hub
        streams = [self.stream("?access_token=" + self.admin) for _ in range(3)]
        for s in streams:
            wait_snapshot(s, lambda snap: True)
        for s in streams:
            s.close(abrupt=True)
        self.wait_no_connections()
        again = self.stream("?access_token=" + self.admin)
        t0 = time.time()
        wait_snapshot(again, lambda snap: True, timeout=5)
        self.assertLess(time.time() - t0, 2)
        again.close()


class DashboardOff(unittest.TestCase):
    def test_dashboard_enabled_false_serves_no_page_and_no_stream(self):
        with Hub(config={"dashboard": {"enabled": False}}) as hub:
            s, _, body = hub.request("GET", "/dashboard")
            self.assertEqual(s, 404)
            self.assertEqual(body["error"]["code"], "dashboard_disabled")
            stream = SSEClient(hub.port, [], path="/v1/admin/stats/stream")
            self.assertEqual(stream.status, 404)
            stream.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
