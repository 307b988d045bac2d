"""Lifecycle against a real hub: cleanup after churn, limits, slow consumers, max age,
heartbeats and graceful shutdown."""
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, rss_kib  # noqa: E402


class ChurnTest(unittest.TestCase):
    def test_connect_disconnect_cycles_return_to_baseline(self):
        with Hub() as hub:
            baseline = hub.stats()
            self.assertEqual(baseline["connections"], 0)
            self.assertEqual(baseline["topic_actors"], 0)
            rng = random.Random(7)
            topics = [["churn/a"], ["churn/b", "churn/*"], ["churn/**"], [f"churn/c{0}"]]
            cycles = 1000
            t0 = time.time()
            for i in range(cycles):
                sub = hub.subscribe(rng.choice(topics))
                assert sub.status == 200, sub.body
                if i % 10 == 0:
                    hub.publish({"topic": "churn/a", "data": i})
                    sub.pump(0.01)
                # A third vanish without a clean close (RST), the rest close normally.
                sub.close(abrupt=(i % 3 == 0))
            elapsed = time.time() - t0
            s = hub.wait_stats(lambda s: s["connections"] == 0 and s["topic_actors"] == 0
                               and s["connection_actors"] == 0
                               and s["actors"] == baseline["actors"])
            self.assertEqual(s["actors"], baseline["actors"])
            log = hub.log_text()
            self.assertEqual(log.count("event=stream_closed"), cycles)  # one line per close
            self.assertIn("reason=client_closed", log)
            print(f"\n  {cycles} cycles in {elapsed:.2f}s; stats after: {s}", file=sys.stderr)

    def test_close_is_logged_once_with_duration_events_bytes_and_reason(self):
        with Hub() as hub:
            sub = hub.subscribe(["log/x"])
            hub.publish({"topic": "log/x", "data": 1})
            sub.wait_events(1)
            conn = sub.headers["herald-connection-id"]
            sub.close()
            hub.wait_stats(lambda s: s["connections"] == 0)
            hub.wait_for_log(f"conn={conn}", 5)
            line = [l for l in hub.log_text().split("\n") if f"conn={conn}" in l]
            self.assertEqual(len(line), 1)
            for field in ["duration_ms=", "events=1", "bytes=", "reason=client_closed"]:
                self.assertIn(field, line[0])


class LimitTest(unittest.TestCase):
    def test_global_connection_limit_answers_503_with_retry_after(self):
        with Hub(config={"limits": {"max_connections": 3}}) as hub:
            subs = [hub.subscribe([f"l/{i}"]) for i in range(3)]
            self.assertTrue(all(s.status == 200 for s in subs))
            extra = hub.subscribe(["l/x"])
            self.assertEqual(extra.status, 503)
            self.assertEqual(extra.headers["retry-after"], "5")
            self.assertEqual(json.loads(extra.body)["error"]["code"], "connection_limit")
            subs[0].close()
            hub.wait_stats(lambda s: s["connections"] == 2)
            again = hub.subscribe(["l/x"])
            self.assertEqual(again.status, 200)
            for s in subs[1:] + [again]:
                s.close()

    def test_per_topic_subscriber_limit_answers_503(self):
        with Hub(config={"limits": {"max_subscribers_per_topic": 2}}) as hub:
            a, b = hub.subscribe(["hot"]), hub.subscribe(["hot"])
            c = hub.subscribe(["cold", "hot"])
            self.assertEqual(c.status, 503)
            self.assertEqual(json.loads(c.body)["error"]["code"], "topic_full")
            d = hub.subscribe(["cold"])
            self.assertEqual(d.status, 200)
            s = hub.wait_stats(lambda s: s["connections"] == 3)
            self.assertEqual(s["connections"], 3)
            for x in (a, b, d):
                x.close()


class SlowConsumerTest(unittest.TestCase):
    def test_a_stalled_client_is_disconnected_and_fast_clients_are_unaffected(self):
        with Hub(config={"limits": {"slow_consumer_bytes": 262144}}) as hub:
            slow = hub.subscribe(["flood"], recv_buffer=4096)  # never reads
            fast = hub.subscribe(["flood"])
            payload = "x" * 1000
            ids = []
            # ~16 MB in total: past what the kernel buffers for the stalled socket, then past
            # the queue bound. The fast client reads each batch before the next is published,
            # so it keeps up however busy the machine is.
            for _ in range(160):
                ids += hub.publish([{"topic": "flood", "data": payload} for _ in range(100)])["ids"]
                fast.wait_events(len(ids), timeout=20)
            self.assertEqual([e["id"] for e in fast.data_events()], ids)
            self.assertFalse(fast.closed)
            s = hub.wait_stats(lambda s: s["slow_consumer_disconnects"] == 1)
            self.assertEqual(s["connections"], 1)
            self.assertIn("reason=slow_consumer", hub.log_text())
            # The slow client resumes from what it did receive and loses nothing.
            slow.pump(0.2)
            last = slow.last_id()
            slow.close()
            again = hub.subscribe(["flood"], last_event_id=last)
            rest = again.wait_events(len(ids) - (ids.index(last) + 1 if last else 0), timeout=20)
            self.assertEqual(rest[-1]["id"], ids[-1])
            again.close()
            fast.close()


class IoThreadsTest(unittest.TestCase):
    """threads.io > 1: one io_context per thread, sockets dealt out in turn. Streams on every
    thread get every event in order, churn returns to the baseline, and SIGTERM drains them all."""

    def test_streams_on_three_io_threads(self):
        hub = Hub(config={"threads": {"io": 3}})
        hub.start()
        try:
            baseline = hub.stats()
            for _ in range(60):  # churn spread over every thread
                sub = hub.subscribe(["io/churn"])
                self.assertEqual(sub.status, 200)
                sub.close(abrupt=random.random() < 0.5)
            subs = [hub.subscribe(["io/a"]) for _ in range(12)]  # four per thread
            ids = []
            for i in range(20):
                ids += hub.publish([{"topic": "io/a", "data": {"i": i, "k": k}}
                                    for k in range(25)])["ids"]
            for s in subs:
                got = s.wait_events(len(ids), timeout=10)
                self.assertEqual([e["id"] for e in got], ids)  # all, in order, once
            s = hub.wait_stats(lambda s: s["connections"] == 12)
            self.assertEqual(s["events_delivered"], 12 * len(ids))
            code = hub.terminate()
            self.assertEqual(code, 0)
            for sub in subs:
                sub.wait_closed(5)
                self.assertEqual([e for e in sub.events if e.get("event") == "herald.shutdown"]
                                 [0]["event"], "herald.shutdown")
            self.assertEqual(baseline["connections"], 0)
            self.assertEqual(hub.log_text().count("event=stream_closed"), 60 + 12)
        finally:
            hub.close()


class TimerTest(unittest.TestCase):
    def test_heartbeats_and_maximum_age(self):
        with Hub(config={"sse": {"heartbeat_seconds": 1, "max_connection_age_seconds": 2,
                                 "retry_ms": 500},
                         "shutdown": {"retry_jitter_ms": 100}}) as hub:
            sub = hub.subscribe(["age"])
            first = hub.publish({"topic": "age", "data": 1})["id"]
            sub.wait_events(1)
            t0 = time.time()
            self.assertTrue(sub.wait_closed(6))
            lifetime = time.time() - t0
            self.assertGreaterEqual(sub.comments, 1)  # heartbeats while idle
            self.assertLess(lifetime, 4)
            retries = [int(e["retry"]) for e in sub.events if "retry" in e]
            self.assertTrue(500 <= retries[-1] < 600, retries)  # jittered retry hint at the end
            later = hub.publish({"topic": "age", "data": 2})["id"]
            again = hub.subscribe(["age"], last_event_id=first)
            self.assertEqual([e["id"] for e in again.wait_events(1)], [later])
            again.close()
            self.assertIn("reason=max_age", hub.log_text())


class ShutdownTest(unittest.TestCase):
    def test_sigterm_notifies_streams_finishes_publishes_and_exits_zero(self):
        hub = Hub(config={"sse": {"retry_ms": 1000}, "shutdown": {"retry_jitter_ms": 4000}})
        hub.start()
        try:
            subs = [hub.subscribe(["bye"]) for _ in range(5)]
            acked, stop = [], threading.Event()

            def publisher():
                n = 0
                while not stop.is_set() and n < 5000:
                    try:
                        st, _, doc = hub.request("POST", "/v1/publish", {"topic": "bye", "data": n})
                    except OSError:
                        return
                    if st == 201:
                        acked.append(doc["id"])
                    elif st != 503:
                        raise AssertionError(st)
                    n += 1

            p = threading.Thread(target=publisher)
            p.start()
            time.sleep(0.3)
            t0 = time.time()
            code = hub.terminate()
            took = time.time() - t0
            stop.set()
            p.join(10)
            self.assertEqual(code, 0)
            self.assertLess(took, 10)
            retries = []
            for s in subs:
                s.wait_closed(5)
                notice = [e for e in s.events if e.get("event") == "herald.shutdown"]
                self.assertEqual(len(notice), 1)
                retries.append(int(s.events[-1]["retry"]))
            self.assertTrue(all(1000 <= r < 5000 for r in retries), retries)
            self.assertGreater(len(set(retries)), 1)  # jittered: no reconnect stampede
            self.assertIn("event=stopped", hub.log_text())
            hub.start()
            st, _, page = hub.get("/v1/events?topic=bye&limit=1000")
            logged = set()
            after = None
            while True:
                q = "/v1/events?topic=bye&limit=1000" + (f"&after={after}" if after else "")
                st, _, page = hub.get(q)
                logged |= {e["id"] for e in page["events"]}
                if not page["more"]:
                    break
                after = page["next_after"]
            self.assertEqual(set(acked) - logged, set())
        finally:
            hub.close()

    def test_readyz_and_publish_refuse_during_shutdown(self):
        # A stream that cannot flush keeps the hub in its shutdown window: the client never
        # reads, ~10 MB are queued (past what the kernel buffers on loopback) and the slow-consumer
        # bound is set above that so the stream is not closed for being slow first.
        hub = Hub(config={"shutdown": {"timeout_seconds": 3},
                          "limits": {"slow_consumer_bytes": 64 << 20}})
        hub.start()
        try:
            sub = hub.subscribe(["slowbye"], recv_buffer=4096)
            for _ in range(16):
                hub.publish([{"topic": "slowbye", "data": "x" * 60000} for _ in range(10)])
            self.assertEqual(hub.stats()["connections"], 1)
            # A client already connected (keep-alive) sees the refusals; new connections are not
            # accepted at all once shutdown starts.
            conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5)
            conn.request("GET", "/readyz")
            first = conn.getresponse()
            first.read()
            self.assertEqual(first.status, 200)
            hub.proc.send_signal(signal.SIGTERM)
            # The stalled stream holds the hub in its shutdown window (up to 3 s): within it,
            # readiness and publishing must refuse.
            deadline = time.time() + 3
            ready_status = None
            while time.time() < deadline and ready_status != 503:
                conn.request("GET", "/readyz")
                res = conn.getresponse()
                res.read()
                ready_status = res.status
                time.sleep(0.01)
            self.assertEqual(ready_status, 503)
            conn.request("POST", "/v1/publish", body=json.dumps({"topic": "x", "data": 1}),
                         headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            doc = json.loads(res.read())
            self.assertEqual((res.status, doc["error"]["code"]), (503, "shutting_down"))
            self.assertEqual(res.getheader("Retry-After"), "5")
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", hub.port), timeout=2)
            conn.close()
            code = hub.proc.wait(10)
            self.assertEqual(code, 0)
            sub.close()
        finally:
            hub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
