"""The C++ SDK, its CLI and examples against a real hub: exactly once across kill -9, resume,
dead-connection detection (SIGSTOP), the actor publisher, the job worker."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, all_events  # noqa: E402

HERALD = os.environ["HERALD_BIN"]
EXAMPLES = os.environ.get("HERALD_EXAMPLES", os.path.join(os.path.dirname(HERALD), "examples"))


class Lines:
    """Collects a process's output lines (with arrival times) on a thread."""

    def __init__(self, stream):
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.t.start()

    def _pump(self, stream):
        for raw in stream:
            with self.cv:
                self.lines.append((time.time(), raw.decode(errors="replace").rstrip("\n")))
                self.cv.notify_all()

    def wait_for(self, pred, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for t, line in self.lines:
                    if pred(line):
                        return t, line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cv.wait(left)


class ExactlyOnceTest(unittest.TestCase):
    def test_10k_events_across_two_kills_once_each_in_order_and_subscriber_sees_each_once(self):
        hub = Hub(config={"sse": {"retry_ms": 200}}).start()
        url = f"http://127.0.0.1:{hub.port}"
        try:
            sub = subprocess.Popen([HERALD, "subscribe", "--url", url, "--topic", "sdk/x",
                                    "--max-events", "10000", "--heartbeat-timeout", "30"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = Lines(sub.stdout), Lines(sub.stderr)
            self.assertIsNotNone(err.wait_for(lambda l: l == "herald: connected", 10))
            pub = subprocess.Popen([os.path.join(EXAMPLES, "herald-example-publisher"), "--url", url,
                                    "--topic", "sdk/x", "--count", "10000", "--publishers", "2",
                                    "--batch", "50", "--linger-ms", "5"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            kills = 0
            for threshold in (2000, 6000):
                deadline = time.time() + 60
                while time.time() < deadline and pub.poll() is None:
                    head = int(hub.stats()["log_head"].split("-")[1])
                    if head >= threshold:
                        break
                    time.sleep(0.01)
                if pub.poll() is not None:
                    break
                hub.kill9()
                kills += 1
                time.sleep(0.3)  # the publisher retries into a dead port meanwhile
                hub.restart()
            self.assertEqual(kills, 2, "the publisher finished before both kills")
            stdout, stderr = pub.communicate(timeout=120)
            self.assertEqual(pub.returncode, 0, stderr.decode())
            summary = json.loads(stdout)
            self.assertEqual((summary["published"], summary["failed"]), (10000, 0))
            self.assertGreater(summary["retries"], 0)  # it did live through the kills
            events = all_events(hub, "sdk/x")
            seen = [(e["data"]["publisher"], e["data"]["seq"]) for e in events]
            self.assertEqual(len(seen), 10000, "every event exactly once")
            self.assertEqual(len(set(seen)), 10000)
            for p in (0, 1):
                seqs = [s for q, s in seen if q == p]
                self.assertEqual(seqs, list(range(5000)), f"publisher {p} in order")
            # The subscriber resumed across both restarts: each event once, in log order.
            self.assertEqual(sub.wait(60), 0)
            got = [json.loads(l) for _, l in out.lines]
            self.assertEqual([g["id"] for g in got], [e["id"] for e in events])
            reconnects = [l for _, l in err.lines if l.startswith("herald: disconnected")]
            self.assertGreaterEqual(len(reconnects), 2)
            print(f"sdk: 10,000 events, 2 kills, {summary['retries']} retried requests, "
                  f"{len(reconnects)} subscriber reconnects", file=sys.stderr)
        finally:
            hub.close()


class DeadConnectionTest(unittest.TestCase):
    def test_sigstop_is_detected_within_two_heartbeats_and_sigcont_recovers(self):
        hub = Hub(config={"sse": {"heartbeat_seconds": 1, "retry_ms": 200}}).start()
        url = f"http://127.0.0.1:{hub.port}"
        sub = None
        try:
            sub = subprocess.Popen([HERALD, "subscribe", "--url", url, "--topic", "hb",
                                    "--heartbeat-timeout", "2"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = Lines(sub.stdout), Lines(sub.stderr)
            self.assertIsNotNone(err.wait_for(lambda l: l == "herald: connected", 10))
            first = hub.publish({"topic": "hb", "data": 1})["id"]
            self.assertIsNotNone(out.wait_for(lambda l: first in l, 5))
            time.sleep(1.5)  # a heartbeat or two go by: the stream is alive
            self.assertIsNone(err.wait_for(lambda l: "disconnected" in l, 0))
            stopped = time.time()
            hub.proc.send_signal(signal.SIGSTOP)
            found = err.wait_for(lambda l: "disconnected (heartbeat timeout)" in l, 10)
            self.assertIsNotNone(found, "the dead connection was not detected")
            detected_after = found[0] - stopped
            self.assertLessEqual(detected_after, 2 * 1.0 + 0.5)  # two heartbeat intervals
            hub.proc.send_signal(signal.SIGCONT)
            second = hub.publish({"topic": "hb", "data": 2})["id"]
            self.assertIsNotNone(out.wait_for(lambda l: second in l, 15), "no recovery")
            ids = [json.loads(l)["id"] for _, l in out.lines]
            self.assertEqual(ids, [first, second])  # resumed: nothing lost, nothing twice
            print(f"sdk: SIGSTOP detected after {detected_after:.2f} s (heartbeat 1 s, timeout 2 s)",
                  file=sys.stderr)
        finally:
            if sub:
                sub.kill()
            hub.proc.send_signal(signal.SIGCONT)
            hub.close()


class PublisherBehaviourTest(unittest.TestCase):
    CHECKS = os.path.join(EXAMPLES, "herald_sdk_checks")

    def check(self, what, url):
        r = subprocess.run([self.CHECKS, what, url], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return json.loads(r.stdout)

    def test_one_bad_event_in_a_batch_fails_alone(self):
        with Hub() as hub:
            out = self.check("bad-in-batch", f"http://127.0.0.1:{hub.port}")
            res = out["results"]
            self.assertEqual([("id" in r) for r in res], [True, True, False, True, True])
            self.assertEqual((res[2]["status"], res[2]["code"]), (400, "invalid_topic"))
            self.assertEqual(out["requests"], 1 + 5)  # the batch, then one by one
            ids = [r["id"] for r in res if "id" in r]
            self.assertEqual(len(set(ids)), 4)
            self.assertEqual(len(all_events(hub, "chk/*")), 4)  # nothing published twice

    def test_a_bounded_queue_fails_fast_and_an_unreachable_hub_is_given_up(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens there
        out = self.check("queue-full", f"http://127.0.0.1:{port}")
        codes = out["codes"]
        self.assertGreaterEqual(codes.count("queue_full"), 10)
        self.assertEqual(set(codes), {"queue_full", "unreachable"})
        self.assertLess(out["flush_ms"], 5000)

    def test_retry_after_is_honoured(self):
        import http.server
        answers = []

        class Fake(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                answers.append(time.time())
                if len(answers) == 1:
                    body = b'{"error":{"code":"shutting_down","message":"busy"}}'
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                else:
                    body = b'{"ids":["00000001-1"]}'
                    self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            out = self.check("retry-after", f"http://127.0.0.1:{srv.server_address[1]}")
        finally:
            srv.shutdown()
        self.assertEqual(out.get("id"), "00000001-1", out)
        self.assertEqual(out["retries"], 1)
        self.assertGreaterEqual(answers[1] - answers[0], 0.95)  # waited the Retry-After second

    def test_subscriber_reports_a_gap(self):
        with Hub(config={"retention": {"max_events_per_topic": 2}}) as hub:
            ids = hub.publish([{"topic": "gp", "data": i} for i in range(6)])["ids"]
            # Retention runs right after the commit that passes the limit: wait for it.
            deadline = time.time() + 10
            while [e["id"] for e in all_events(hub, "gp")] != ids[4:]:
                self.assertLess(time.time(), deadline, "the topic is trimmed to its last 2")
                time.sleep(0.02)
            r = subprocess.run([HERALD, "subscribe", "--url", f"http://127.0.0.1:{hub.port}",
                                "--topic", "gp", "--last-event-id", ids[0], "--max-events", "2"],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [json.loads(l) for l in r.stdout.decode().splitlines()]
            self.assertEqual(lines[0]["gap"]["reason"], "retention")
            self.assertEqual([l["id"] for l in lines[1:]], ids[4:])


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = Hub().start()
        cls.url = f"http://127.0.0.1:{cls.hub.port}"

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def test_actor_publisher_bounds_in_flight_and_publishes_everything(self):
        r = subprocess.run([os.path.join(EXAMPLES, "herald-example-actor-publisher"), "--url",
                            self.url, "--workers", "6", "--count", "300", "--max-in-flight", "20",
                            "--topic", "act/x"], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        summary = json.loads(r.stdout)
        self.assertEqual((summary["published"], summary["failed"]), (1800, 0))
        self.assertGreater(summary["overloaded_answers"], 0)  # backpressure was exercised
        seen = [(e["data"]["worker"], e["data"]["seq"]) for e in all_events(self.hub, "act/x")]
        self.assertEqual(sorted(seen), sorted((w, s) for w in range(6) for s in range(300)))

    def test_actor_publisher_against_an_embedded_hub(self):
        import shutil
        import tempfile
        data = tempfile.mkdtemp(prefix="herald-embedded-")
        try:
            r = subprocess.run([os.path.join(EXAMPLES, "herald-example-actor-publisher"),
                                "--embedded", os.path.join(data, "db"), "--workers", "4", "--count", "250",
                                "--max-in-flight", "16", "--topic", "emb/x"],
                               capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertIn(b"embedded hub on 127.0.0.1:", r.stderr)
            summary = json.loads(r.stdout)
            self.assertEqual((summary["published"], summary["failed"]), (1000, 0))
            self.assertGreater(summary["overloaded_answers"], 0)
            # The events are in the embedded hub's log: a hub started on it (the harness keeps
            # its log in <data_dir>/db) serves them.
            hub = Hub(data_dir=data).start()
            try:
                seen = [(e["data"]["worker"], e["data"]["seq"]) for e in all_events(hub, "emb/x")]
                self.assertEqual(sorted(seen), sorted((w, s) for w in range(4) for s in range(250)))
            finally:
                hub.close()
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_job_worker_reports_progress_to_a_watcher(self):
        # An unknown job is a final answer (404) for a watcher.
        r = subprocess.run([HERALD, "job", "watch", "no-such-job", "--url", self.url],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"HTTP 404", r.stderr)
        worker = subprocess.Popen([os.path.join(EXAMPLES, "herald-example-job-worker"), "--url",
                                   self.url, "--job", "ex-job", "--steps", "6", "--step-ms", "100"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watch = None
        try:
            deadline = time.time() + 10
            while self.hub.get("/v1/jobs/ex-job")[0] != 200 and time.time() < deadline:
                time.sleep(0.02)
            watch = subprocess.Popen([HERALD, "job", "watch", "ex-job", "--url", self.url],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = worker.communicate(timeout=60)
            self.assertEqual(worker.returncode, 0, err.decode())
            self.assertEqual(json.loads(out)["state"], "completed")
            out, _ = watch.communicate(timeout=20)  # ends by itself after the terminal event
            self.assertEqual(watch.returncode, 0)
            events = [json.loads(l) for l in out.decode().splitlines()]
            self.assertEqual(events[-1]["type"], "job.completed")
            progress = [e["data"].get("progress") for e in events if e["type"] != "job.completed"]
            self.assertEqual(progress, sorted(progress))  # every step, in order
            self.assertGreaterEqual(len(events), 3)
        finally:
            worker.kill()
            if watch:
                watch.kill()

    def test_cli_publish_and_its_errors(self):
        r = subprocess.run([HERALD, "publish", "--url", self.url, "--topic", "cli/a", "--data",
                            '{"x":1}', "--type", "t1", "--ack"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        eid = json.loads(r.stdout)["id"]
        [ev] = [e for e in all_events(self.hub, "cli/a") if e["id"] == eid]
        self.assertEqual((ev["type"], ev["data"]), ("t1", {"x": 1}))
        r = subprocess.run([HERALD, "publish", "--url", self.url, "--topic", "a//b", "--data", "1"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"invalid_topic", r.stderr)
        r = subprocess.run([HERALD, "publish", "--url", self.url, "--topic", "a", "--data", "{"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not valid JSON", r.stderr)

    def test_an_outside_project_uses_the_installed_sdk_with_find_package(self):
        import shutil
        import tempfile
        build = os.path.dirname(HERALD)
        src = os.path.join(os.path.dirname(__file__), "..", "sdk-consumer")
        tmp = tempfile.mkdtemp(prefix="herald-consumer-")
        # A sanitizer build installs an instrumented library: its consumer links the runtime too.
        sanitize = ""
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("HERALD_SANITIZE:"):
                    sanitize = line.split("=", 1)[1].strip()
        flags = [f"-DCMAKE_CXX_FLAGS=-fsanitize={sanitize}",
                 f"-DCMAKE_EXE_LINKER_FLAGS=-fsanitize={sanitize}"] if sanitize else []
        try:
            prefix = os.path.join(tmp, "prefix")
            for cmd in (["cmake", "--install", build, "--prefix", prefix, "--component",
                         "Unspecified"],
                        ["cmake", "-S", src, "-B", os.path.join(tmp, "b"),
                         f"-DCMAKE_PREFIX_PATH={prefix}"] + flags,
                        ["cmake", "--build", os.path.join(tmp, "b"), "-j2"]):
                r = subprocess.run(cmd, capture_output=True, timeout=300)
                self.assertEqual(r.returncode, 0, (cmd, r.stdout.decode()[-2000:],
                                                   r.stderr.decode()[-2000:]))
            self.assertTrue(os.path.exists(os.path.join(prefix, "include", "herald", "sdk.hpp")))
            r = subprocess.run([os.path.join(tmp, "b", "consumer"), self.url, "fp/x"],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            published = r.stdout.decode().split("\n")[0].split()[1]
            self.assertIn(f"received {published} " + '{"hello":"find_package"}', r.stdout.decode())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_cli_subscribe_follows_a_durable_session_and_acks(self):
        st, _, _ = self.hub.request("PUT", "/v1/sessions/cli-s", {"topics": ["cs"]})
        self.assertEqual(st, 201)
        ids = self.hub.publish([{"topic": "cs", "data": i, "ack": True} for i in range(3)])["ids"]
        r = subprocess.run([HERALD, "subscribe", "--url", self.url, "--client", "cli-s",
                            "--max-events", "3", "--ack"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(l)["id"] for l in r.stdout.decode().splitlines()], ids)
        view = self.hub.get("/v1/sessions/cli-s")[2]
        self.assertEqual((view["pending"], view["ack_cursor"]), (0, ids[-1]))


    def test_cli_subscribe_over_a_websocket_session_and_acks(self):
        st, _, _ = self.hub.request("PUT", "/v1/sessions/cli-ws", {"topics": ["cw/*"]})
        self.assertEqual(st, 201)
        ids = self.hub.publish([{"topic": f"cw/{i}", "data": i, "ack": True}
                                for i in range(3)])["ids"]
        r = subprocess.run([HERALD, "subscribe", "--url", self.url, "--client", "cli-ws",
                            "--websocket", "--max-events", "3", "--ack"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [json.loads(l) for l in r.stdout.decode().splitlines()]
        self.assertEqual([(g["id"], g["topic"], g["data"]) for g in got],
                         [(ids[i], f"cw/{i}", i) for i in range(3)])
        view = self.hub.get("/v1/sessions/cli-ws")[2]
        self.assertEqual((view["pending"], view["ack_cursor"]), (0, ids[-1]))


class WebSocketSubscriberTest(unittest.TestCase):
    def test_sdk_over_websocket_resumes_across_a_kill_once_each_in_order_with_topics(self):
        hub = Hub(config={"sse": {"retry_ms": 200}}).start()
        url = f"http://127.0.0.1:{hub.port}"
        try:
            outs = {}
            for transport in ("--websocket", None):
                args = [HERALD, "subscribe", "--url", url, "--topic", "wsx/*", "--max-events",
                        "3000", "--heartbeat-timeout", "30"] + ([transport] if transport else [])
                p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                outs[transport] = (p, Lines(p.stdout), Lines(p.stderr))
                self.assertIsNotNone(outs[transport][2].wait_for(
                    lambda l: l == "herald: connected", 10))
            for i in range(30):
                hub.publish([{"topic": f"wsx/{(i * 100 + j) % 3}", "data": i * 100 + j}
                             for j in range(100)])
                if i == 14:
                    hub.kill9()
                    time.sleep(0.3)
                    hub.restart()
            events = all_events(hub, "wsx/*")
            self.assertEqual(len(events), 3000)
            for transport, (p, out, err) in outs.items():
                self.assertEqual(p.wait(60), 0, transport)
                got = [json.loads(l) for _, l in out.lines]
                self.assertEqual([(g["id"], g["topic"], g["data"]) for g in got],
                                 [(e["id"], e["topic"], e["data"]) for e in events], transport)
                self.assertTrue(any(l.startswith("herald: disconnected") for _, l in err.lines))
        finally:
            hub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
