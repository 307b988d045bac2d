"""Operating a hub: `herald config check` (the effective configuration, secrets redacted, and
what serve would refuse), misspelled HERALD_* variables refused like unknown file keys, and
`herald backup DIR` of a running hub: a hub started on the copy serves every event up to the
copy, a client resumes on it gap-free with the id it had, a durable session goes on from where it
was, and the copy gets an epoch of its own so the original's later positions are never confused
with the copy's.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, free_port  # noqa: E402

HERALD = os.environ.get("HERALD_BIN", "build/herald")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def herald(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([HERALD, *args], capture_output=True, text=True, timeout=60, env=e)


class ConfigCheck(unittest.TestCase):
    def test_effective_configuration_and_refusals(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "herald.json")
            secret = "very-secret-signing-key-0123456789-abcdefgh"
            with open(cfg, "w") as f:
                json.dump({"listen": "0.0.0.0:9000", "sse": {"heartbeat_seconds": 7},
                           "auth": {"keys": [{"alg": "HS256", "secret": secret}]}}, f)
            out = herald("config", "check", cfg, env={"HERALD_SSE_RETRY_MS": "900"})
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertNotIn(secret, out.stdout + out.stderr)
            doc = json.loads(out.stdout)
            self.assertEqual(doc["listen"], "0.0.0.0:9000")
            self.assertEqual(doc["sse"]["heartbeat_seconds"], 7)   # the file
            self.assertEqual(doc["sse"]["retry_ms"], 900)          # the environment
            self.assertEqual(doc["auth"]["keys"][0]["secret"], "<redacted>")
            self.assertEqual(doc["limits"]["max_body_bytes"], 1048576)  # a default
            # The flags win, as for serve.
            out = herald("config", "check", "--config", cfg, "--listen", "127.0.0.1:9100")
            self.assertEqual(json.loads(out.stdout)["listen"], "127.0.0.1:9100")
            # The shipped default file is valid and is the defaults.
            out = herald("config", "check", os.path.join(ROOT, "config", "herald.json"))
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(os.path.join(ROOT, "config", "herald.json")) as f:
                self.assertEqual(json.loads(out.stdout), json.load(f))
            refusals = [
                ({"sse": {"heartbeat_secs": 3}}, {}, "unknown config key 'sse.heartbeat_secs'"),
                ({"listen": "0.0.0.0:9000"}, {}, "reachable from the network"),
                ({"auth": {"keys": [{"alg": "HS256", "secret": "short"}]}}, {}, "auth.keys"),
                ({"tls": {"cert_file": "/nonexistent/cert.pem",
                          "key_file": "/nonexistent/key.pem"}}, {}, "/nonexistent/cert.pem"),
                ({}, {"HERALD_SSE_HEARTBEATSECONDS": "5"},
                 "HERALD_SSE_HEARTBEATSECONDS is not a config key (did you mean "
                 "HERALD_SSE_HEARTBEAT_SECONDS?)"),
            ]
            for doc, env, needle in refusals:
                with open(cfg, "w") as f:
                    json.dump(doc, f)
                out = herald("config", "check", cfg, env=env)
                self.assertEqual(out.returncode, 2, (doc, out.stdout, out.stderr))
                self.assertIn(needle, out.stderr, doc)
                self.assertEqual(out.stdout, "")

    def test_serve_refuses_a_misspelled_environment_key(self):
        with tempfile.TemporaryDirectory() as d:
            out = herald("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                         os.path.join(d, "db"), env={"HERALD_LIMITS_MAX_CONECTIONS": "5"})
            self.assertEqual(out.returncode, 2)
            self.assertIn("did you mean HERALD_LIMITS_MAX_CONNECTIONS?", out.stderr)


class Reload(unittest.TestCase):
    def test_sighup_applies_what_it_can_and_names_the_rest(self):
        with Hub(config={"cors": {"allowed_origins": ["https://a.example"]}}) as hub:
            def allowed(origin):
                _, h, _ = hub.request("GET", "/healthz", headers={"Origin": origin})
                return h.get("access-control-allow-origin")

            self.assertEqual(allowed("https://a.example"), "https://a.example")
            self.assertIsNone(allowed("https://b.example"))
            path = os.path.join(hub.data_dir, "herald.json")
            with open(path, "w") as f:
                json.dump({"cors": {"allowed_origins": ["https://b.example"]},
                           "log": {"access": True, "level": "debug"},
                           "limits": {"max_connections": 1},
                           "sse": {"heartbeat_seconds": 5}}, f)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=config_reload_needs_restart key=sse.heartbeat_seconds", 5)
            log = hub.log_text()
            self.assertIn('event=config_reloaded key=cors.allowed_origins '
                          'from=["https://a.example"] to=["https://b.example"]', log)
            self.assertIn("event=config_reloaded key=log.access from=false to=true", log)
            self.assertIn('event=config_reloaded key=log.level from="info" to="debug"', log)
            self.assertIn("event=config_reloaded key=limits.max_connections from=10000 to=1", log)
            self.assertIn("running=25 configured=5", log)
            self.assertIsNone(allowed("https://a.example"))
            self.assertEqual(allowed("https://b.example"), "https://b.example")
            hub.wait_for_log("event=access method=GET route=/healthz", 5)  # the access log is on
            first = hub.subscribe(["r"])  # limits.max_connections is 1 now
            self.assertEqual(first.status, 200)
            second = hub.subscribe(["r"])
            self.assertEqual(second.status, 503)
            first.close()
            # A file that does not load changes nothing.
            with open(path, "w") as f:
                f.write("{not json")
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=config_reload_failed", 5)
            self.assertEqual(allowed("https://b.example"), "https://b.example")
            # Only what changed since the last reload is logged again.
            with open(path, "w") as f:
                json.dump({"cors": {"allowed_origins": ["https://b.example"]},
                           "log": {"access": True, "level": "debug"},
                           "limits": {"max_connections": 1},
                           "sse": {"heartbeat_seconds": 5}}, f)
            before = hub.log_text().count("event=config_reloaded")
            hub.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5  # the third reload is done when it reloaded the keys
            while hub.log_text().count("event=keys_reloaded") < 2:
                self.assertLess(time.time(), deadline)
                time.sleep(0.02)
            self.assertEqual(hub.log_text().count("event=config_reloaded"), before)

    def test_sighup_changes_rate_limits_in_place(self):
        with Hub(config={"rate": {"max_streams_per_ip": 0}}) as hub:
            path = os.path.join(hub.data_dir, "herald.json")
            open_before = hub.subscribe(["rated"])  # opened while no maximum is set
            self.assertEqual(open_before.status, 200)

            def publish_status():
                s, _, _ = hub.request("POST", "/v1/publish", {"topic": "rated", "data": 1})
                return s

            self.assertEqual([publish_status() for _ in range(5)], [201] * 5)
            with open(path, "w") as f:
                json.dump({"rate": {"publish_requests_per_second": 1,
                                    "publish_requests_burst": 2,
                                    "max_streams_per_ip": 1}}, f)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=config_reloaded key=rate.publish_requests_per_second "
                             "from=0 to=1", 5)
            hub.wait_for_log("event=config_reloaded key=rate.max_streams_per_ip from=0 to=1", 5)
            self.assertEqual([publish_status() for _ in range(3)], [201, 201, 429])
            # The stream opened before the reload counts against the new maximum.
            refused = hub.subscribe(["rated"])
            self.assertEqual(refused.status, 429)
            open_before.close()
            deadline = time.time() + 5
            while True:
                again = hub.subscribe(["rated"])
                if again.status == 200:
                    break
                self.assertLess(time.time(), deadline, "the closed stream's slot never came back")
                time.sleep(0.05)
            again.close()
            # And off again.
            with open(path, "w") as f:
                json.dump({}, f)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=config_reloaded key=rate.publish_requests_per_second "
                             "from=1 to=0", 5)
            self.assertEqual([publish_status() for _ in range(5)], [201] * 5)


class Backup(unittest.TestCase):
    def test_a_hub_starts_from_a_backup_and_clients_resume_on_it(self):
        with tempfile.TemporaryDirectory() as d:
            with Hub() as a:
                s, _, doc = a.request("PUT", "/v1/sessions/worker-1",
                                      {"topics": ["orders"], "ack_wait_seconds": 1})
                self.assertEqual(s, 201, doc)
                ids = [a.publish({"topic": "orders", "data": {"n": i}, "ack": True})["id"]
                       for i in range(30)]
                sess = a.subscribe([], path="/v1/sessions/worker-1/events")
                got = sess.wait_events(30)
                acked = [e["id"] for e in got[:10]]
                s, _, doc = a.request("POST", "/v1/sessions/worker-1/ack", {"ids": acked})
                self.assertEqual(s, 200, doc)
                sess.close()
                copy = os.path.join(d, "restored", "db")
                os.makedirs(os.path.dirname(copy))
                out = herald("backup", copy, "--url", f"http://127.0.0.1:{a.port}")
                self.assertEqual(out.returncode, 0, out.stderr + a.log_text())
                answer = json.loads(out.stdout)
                self.assertEqual(answer["dir"], copy)
                self.assertEqual(answer["log_head"], ids[-1])
                self.assertIn("event=backup_written", a.log_text())
                # Refusals: the same directory again, a relative one.
                out = herald("backup", copy, "--url", f"http://127.0.0.1:{a.port}")
                self.assertNotEqual(out.returncode, 0)
                self.assertIn("exists", out.stderr)
                s, _, doc = a.request("POST", "/v1/admin/backup", {"dir": "relative/dir"})
                self.assertEqual((s, doc["error"]["code"]), (400, "invalid_dir"))
                s, _, doc = a.request("POST", "/v1/admin/backup", {"dir": copy, "x": 1})
                self.assertEqual((s, doc["error"]["code"]), (400, "unknown_field"))
                # The original goes on after the copy: these are not in it.
                later = [a.publish({"topic": "orders", "data": {"n": 100 + i}})["id"]
                         for i in range(5)]
            with Hub(data_dir=os.path.join(d, "restored")) as b:
                self.assertIn("event=listening", b.log_text())
                st = b.stats()
                epoch_a, epoch_b = ids[0].split("-")[0], st["log_head"].split("-")[0]
                self.assertNotEqual(epoch_a, epoch_b)  # the copy's own epoch
                self.assertEqual(st["log_head"], f"{epoch_b}-30")
                # A client of the original resumes after its 10th event: 11..30, nothing else.
                c = b.subscribe(["orders"], last_event_id=ids[9])
                got = c.wait_events(20)
                self.assertEqual([json.loads(e["data"])["n"] for e in got], list(range(10, 30)))
                self.assertEqual([e["id"] for e in got],
                                 [f"{epoch_b}-{p}" for p in range(11, 31)])
                self.assertEqual([e for e in c.events if e.get("event") == "herald.gap"], [])
                # New events on the copy follow; a client that saw the original's later events
                # (not in the copy) resumes at the copy's end and gets the copy's new events.
                new = [b.publish({"topic": "orders", "data": {"n": 200 + i}, "ack": True})["id"]
                       for i in range(3)]
                self.assertEqual(new, [f"{epoch_b}-{p}" for p in (31, 32, 33)])
                c.wait_events(23)
                late = b.subscribe(["orders"], last_event_id=later[-1])
                got = late.wait_events(3)
                self.assertEqual([json.loads(e["data"])["n"] for e in got], [200, 201, 202])
                # The durable session goes on: the 3 new events, and the 20 it had not acked
                # (redelivered after ack_wait_seconds); the 10 it acked never come again.
                sess = b.subscribe([], path="/v1/sessions/worker-1/events")

                def numbers():
                    # First deliveries are events; redeliveries are herald.redelivery notices.
                    out = []
                    for e in sess.events:
                        if "id" in e:
                            out.append(json.loads(e["data"])["n"])
                        elif e.get("event") == "herald.redelivery":
                            out.append(json.loads(e["data"])["data"]["n"])
                    return out

                deadline = time.time() + 15
                while time.time() < deadline:
                    if set(numbers()) >= set(range(10, 30)) | {200, 201, 202}:
                        break
                    sess.pump(0.1)
                self.assertEqual(set(numbers()), set(range(10, 30)) | {200, 201, 202})
                # Acks may use the original's ids.
                s, _, doc = b.request("POST", "/v1/sessions/worker-1/ack",
                                      {"ids": [ids[10], ids[11]]})
                self.assertEqual(s, 200, doc)
                for x in (c, late, sess):
                    x.close()
            # Restarting the copy keeps its epoch (it became a log of its own once).
            with Hub(data_dir=os.path.join(d, "restored")) as b2:
                self.assertEqual(b2.stats()["log_head"], f"{epoch_b}-33")


if __name__ == "__main__":
    unittest.main(verbosity=2)
