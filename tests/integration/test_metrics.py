"""GET /metrics against a real hub: the exposition passes `promtool check metrics` (Debian's
prometheus package), its numbers follow what the test does (publishes, streams, refusals,
latency histograms), no label carries a topic, and access is admin-only unless metrics.public.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, free_port  # noqa: E402


def scrape(hub, headers=None):
    status, h, body = hub.request("GET", "/metrics", headers=headers)
    return status, h, body.decode() if isinstance(body, bytes) else body


def value(text, name, labels=""):
    """The sample `name{labels}` (labels as written, e.g. 'result="committed"'), or None."""
    key = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None


class Metrics(unittest.TestCase):
    def test_exposition_is_valid_and_follows_the_hub(self):
        with Hub() as hub:
            status, h, text = scrape(hub)
            self.assertEqual(status, 200)
            self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"), h)
            check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            before = {
                "published": value(text, "herald_events_published_total", 'result="committed"'),
                "ok": value(text, "herald_http_responses_total", 'code="2xx"'),
                "bad": value(text, "herald_rejections_total", 'reason="bad_input"'),
                "pubs": value(text, "herald_publish_duration_seconds_count"),
            }
            self.assertEqual(before["published"], 0)
            sub = hub.subscribe(["metrics/secret-topic-name"])
            for i in range(40):
                hub.publish({"topic": "metrics/secret-topic-name", "data": i})
                time.sleep(0.005)
            sub.wait_events(40)
            s, _, _ = hub.request("POST", "/v1/publish", b"{", {"Content-Type": "application/json"})
            self.assertEqual(s, 400)
            _, _, text = scrape(hub)
            self.assertEqual(value(text, "herald_events_published_total", 'result="committed"'), 40)
            self.assertEqual(value(text, "herald_connections"), 1)
            self.assertEqual(value(text, "herald_subscriptions"), 1)
            self.assertGreaterEqual(value(text, "herald_events_delivered_total"), 40)
            self.assertEqual(value(text, "herald_publish_duration_seconds_count"), 40)
            self.assertGreater(value(text, "herald_publish_duration_seconds_sum"), 0)
            self.assertGreaterEqual(value(text, "herald_http_responses_total", 'code="2xx"'),
                                    before["ok"] + 40)
            self.assertEqual(value(text, "herald_rejections_total", 'reason="bad_input"'),
                             before["bad"] + 1)
            self.assertGreater(value(text, "herald_log_head"), 0)
            self.assertGreater(value(text, "process_resident_memory_bytes"), 1 << 20)
            self.assertGreater(value(text, "process_open_fds"), 3)
            self.assertGreater(value(text, "process_threads"), 1)
            self.assertIsNotNone(value(text, "herald_rocksdb_live_data_bytes"))
            self.assertNotIn("secret-topic-name", text)  # no topic is ever a label
            # The delivery lag is sampled one write in 16: 40 events written one by one give some.
            deadline = time.time() + 5
            while (value(text, "herald_delivery_lag_seconds_count") or 0) == 0:
                self.assertLess(time.time(), deadline, "no delivery lag sample")
                for i in range(20):
                    hub.publish({"topic": "metrics/secret-topic-name", "data": i})
                    time.sleep(0.005)
                _, _, text = scrape(hub)
            sub.close()
            hub.wait_stats(lambda s: s["connections"] == 0)
            _, _, text = scrape(hub)
            self.assertEqual(value(text, "herald_connections"), 0)
            self.assertGreaterEqual(value(text, "herald_streams_closed_total"), 1)
            check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_admin_only_unless_public(self):
        secret = "k" * 48
        keys = {"keys": [{"alg": "HS256", "secret": secret}]}
        with Hub(config={"auth": keys}) as hub:
            s, _, _ = hub.request("GET", "/metrics")
            self.assertEqual(s, 401)
            key_file = os.path.join(hub.data_dir, "hs256.secret")
            with open(key_file, "w") as f:
                f.write(secret)
            out = subprocess.run([os.environ.get("HERALD_BIN", "build/herald"), "token",
                                  "--key-file", key_file, "--sub", "ops", "--admin"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            s, _, _ = hub.request("GET", "/metrics",
                                  headers={"Authorization": "Bearer " + out.stdout.strip()})
            self.assertEqual(s, 200)
        with Hub(config={"auth": keys, "metrics": {"public": True}}) as hub:
            s, _, _ = hub.request("GET", "/metrics")
            self.assertEqual(s, 200)

    def test_a_separate_metrics_address_needs_no_token_and_serves_nothing_else(self):
        keys = {"keys": [{"alg": "HS256", "secret": "k" * 48}]}
        port = free_port()
        with Hub(config={"auth": keys, "metrics": {"listen": f"127.0.0.1:{port}"}}) as hub:
            self.assertIn(f"event=metrics_listening address=127.0.0.1:{port}", hub.log_text())
            s, _, _ = hub.request("GET", "/metrics")  # the hub's own address still wants a token
            self.assertEqual(s, 401)
            scrape_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

            def get(path, method="GET"):
                scrape_conn.request(method, path)
                r = scrape_conn.getresponse()
                return r.status, r.read().decode()

            s, text = get("/metrics")  # keep-alive: several scrapes on one connection
            self.assertEqual(s, 200)
            check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertEqual(value(text, "herald_connections"), 0)
            self.assertEqual(value(text, "herald_outbound_queue_bytes"), 0)
            self.assertEqual(get("/healthz")[0], 200)
            self.assertEqual(get("/readyz")[0], 200)
            for path in ("/v1/stats", "/v1/subscribe?topic=a", "/v1/events?topic=a"):
                s, body = get(path)
                self.assertEqual(s, 404, path)
                self.assertEqual(json.loads(body)["error"]["code"], "not_found")
            self.assertEqual(get("/v1/publish", "POST")[0], 404)
            # Scrapes are not the hub's traffic: its answer counts did not move.
            _, again = get("/metrics")
            scrape_conn.close()
            for code in ("2xx", "4xx"):
                self.assertEqual(value(again, "herald_http_responses_total", f'code="{code}"'),
                                 value(text, "herald_http_responses_total", f'code="{code}"'))
        # A bad address stops the hub at start, naming the key.
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "herald.json")
            with open(cfg, "w") as f:
                json.dump({"metrics": {"listen": "127.0.0.1:notaport"}}, f)
            out = subprocess.run([os.environ.get("HERALD_BIN", "build/herald"), "serve",
                                  "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                                  os.path.join(d, "db"), "--config", cfg],
                                 capture_output=True, text=True, timeout=20)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("metrics.listen", out.stdout + out.stderr)


class Logs(unittest.TestCase):
    def test_json_log_lines(self):
        hub = Hub(config={"log": {"format": "json"}})
        try:
            hub.start(expect_ready=False)
            hub.wait_for_log('"event":"listening"', 10)
            hub.wait_ready()
            sub = hub.subscribe(["logs/a"])
            sub.close()
            hub.wait_for_log('"event":"stream_closed"', 10)
            lines = [json.loads(line) for line in hub.log_text().splitlines()]
            listening = next(x for x in lines if x.get("event") == "listening")
            self.assertEqual(listening["level"], "info")
            self.assertRegex(listening["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            closed = next(x for x in lines if x.get("event") == "stream_closed")
            self.assertIsInstance(closed["duration_ms"], int)
            self.assertEqual(closed["topics"], "logs/a")
        finally:
            hub.close()


    def test_access_log_lines_name_route_status_and_principal_never_the_query(self):
        with Hub(config={"log": {"access": True}}) as hub:
            hub.publish({"topic": "logs/b", "data": 1})
            s, _, _ = hub.request("GET", "/v1/events?topic=logs/b&access_token=SECRET-TOKEN")
            self.assertEqual(s, 200)
            s, _, _ = hub.request("GET", "/v1/jobs/%20bad")
            self.assertEqual(s, 400)
            sub = hub.subscribe(["logs/b"])  # a stream: its own lines, no access line
            sub.close()
            hub.wait_for_log("event=stream_closed", 10)
            access = [l for l in hub.log_text().splitlines() if "event=access" in l]
            self.assertTrue(any("method=POST route=/v1/publish" in l and "status=201" in l
                                and 'principal="development"' in l for l in access), access)
            self.assertTrue(any("route=/v1/events" in l and 'path="/v1/events"' in l
                                and "status=200" in l for l in access), access)
            self.assertTrue(any("route=/v1/jobs/{id}" in l and "status=400" in l
                                for l in access), access)
            self.assertFalse(any("/v1/subscribe" in l for l in access), access)
            self.assertNotIn("SECRET-TOKEN", hub.log_text())
            self.assertTrue(all("duration_ms=" in l for l in access))


if __name__ == "__main__":
    unittest.main(verbosity=2)
