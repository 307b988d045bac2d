"""Cluster mode: three Herald nodes sharing one NATS JetStream stream (three nats-servers), all real
processes on loopback, started by scripts/nats-cluster.sh."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import HERALD, Hub, all_events  # noqa: E402
from test_jobs import JobStream  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(__file__), "../../scripts/nats-cluster.sh")


def pos(event_id):
    return int(event_id.split("-")[1])


class Cluster:
    """scripts/nats-cluster.sh with three hubs; commands go to its standard input."""

    def __init__(self, env=None):
        # A publish JetStream does not acknowledge is refused after 2 s (default 5 s), so that the
        # test's one publishing thread is not held long by each while leaders are elected.
        full = dict(os.environ, HERALD_BIN=HERALD, HERALD_NODES="3", NATS_CLUSTER_TIMEOUT="30",
                    HERALD_CLUSTER_PUBLISH_TIMEOUT_MS="2000")
        full.update(env or {})
        self.proc = subprocess.Popen(["bash", SCRIPT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=full)
        self.nats, self.monitors, self.hubs, self.logs = {}, {}, {}, {}
        self._read_until("ready", 90)

    def _line(self, timeout):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not out or not out[0]:
            raise AssertionError("scripts/nats-cluster.sh said nothing more")
        return out[0].strip()

    def _read_until(self, prefix, timeout):
        deadline = time.time() + timeout
        while True:
            line = self._line(max(0.1, deadline - time.time()))
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "node" in fields:
                self.nats[int(fields["node"])] = fields["client"]
                self.monitors[int(fields["node"])] = fields["monitor"]
            if "hub" in fields:
                port = int(fields["url"].rsplit(":", 1)[1])
                self.hubs[int(fields["hub"])] = Hub(port=port, data_dir="/nonexistent")
                self.logs[int(fields["hub"])] = fields["log"]
            if line.startswith("error"):
                raise AssertionError(line)
            if line.startswith(prefix):
                return line

    def command(self, text, timeout=60):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._read_until("ok " + text, timeout)

    def hub_log(self, n):
        with open(self.logs[n]) as f:
            return f.read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def publish_ok(hub, body, timeout=10):
    st, headers, doc = hub.request("POST", "/v1/publish", body, timeout=timeout)
    assert st == 201, (st, doc)
    return doc


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out: " + what)
        time.sleep(0.05)


def hammer(hubs, topic, stop, acked, errors, limit=3000):
    """Publishes single events through `hubs` in turn until `stop`; records the id of every 201."""
    n = 0
    while not stop.is_set() and n < limit:
        hub = hubs[n % len(hubs)]
        try:
            st, _, doc = hub.request("POST", "/v1/publish", {"topic": topic, "data": n}, timeout=10)
        except OSError:
            errors.append("connection")
            time.sleep(0.05)
            n += 1
            continue
        if st == 201:
            acked.append(doc["id"])
        else:
            errors.append(st)
            time.sleep(0.05)
        n += 1


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def hub(self, n):
        return self.cluster.hubs[n]

    def replica_on(self, n):
        """True when nats-server `n` answers and lists the HERALD stream among those it holds."""
        import urllib.request
        try:
            with urllib.request.urlopen(self.cluster.monitors[n] + "/jsz?streams=true",
                                        timeout=2) as r:
                doc = json.load(r)
        except OSError:
            return False
        return any(s["name"] == "HERALD" for acc in doc.get("account_details", [])
                   for s in acc.get("stream_detail", []))

    def test_1_every_node_delivers_every_event_once_in_the_same_order_with_the_same_ids(self):
        subs = {n: self.hub(n).subscribe(["order/*"]) for n in (1, 2, 3)}
        ids = []
        for i in range(30):
            ids.append(publish_ok(self.hub(i % 3 + 1), {"topic": f"order/{i % 4}", "data": i})["id"])
        doc = publish_ok(self.hub(2), [{"topic": "order/x", "data": 100 + i} for i in range(10)])
        ids += doc["ids"]
        self.assertEqual(len(set(ids)), 40)
        self.assertEqual(sorted(ids, key=pos), ids)  # positions grow with each 201
        for n, sub in subs.items():
            got = sub.wait_events(40, timeout=20)
            self.assertEqual([e["id"] for e in got], ids, f"node {n}")
            self.assertEqual([e["data"] for e in got],
                             [str(i) for i in range(30)] + [str(100 + i) for i in range(10)])
            sub.close()
        # Replay agrees everywhere too.
        for n in (1, 2, 3):
            self.assertEqual([e["id"] for e in all_events(self.hub(n), "order/*")], ids)

    def test_2_one_idempotency_key_through_two_nodes_is_stored_once(self):
        before = [self.hub(n).stats()["cluster"]["applied"] for n in (1, 2, 3)]
        a = publish_ok(self.hub(1), {"topic": "idem", "data": 1, "idempotency_key": "order-77"})
        b = publish_ok(self.hub(2), {"topic": "idem", "data": 2, "idempotency_key": "order-77"})
        c = publish_ok(self.hub(3), [{"topic": "idem", "data": 3, "idempotency_key": "order-77"},
                                     {"topic": "idem", "data": 4, "idempotency_key": "order-78"}])
        self.assertEqual(a["id"], b["id"])
        self.assertEqual(c["ids"][0], a["id"])
        self.assertNotEqual(c["ids"][1], a["id"])
        for n in (1, 2, 3):
            self.hub(n).wait_stats(lambda s: s["cluster"]["applied"] >= pos(c["ids"][1]))
            events = all_events(self.hub(n), "idem")
            self.assertEqual([e["data"] for e in events], [1, 4], f"node {n}")
        self.assertTrue(all(b_ < pos(c["ids"][1]) for b_ in before))
        self.assertGreaterEqual(self.hub(2).stats()["publish_repeats"], 1)

    def test_3_a_killed_node_s_subscribers_resume_on_another_and_it_catches_up(self):
        sub = self.hub(3).subscribe(["resume"])
        stop, acked, errors = threading.Event(), [], []
        pub = threading.Thread(target=hammer, args=([self.hub(1), self.hub(2)], "resume", stop,
                                                    acked, errors))
        pub.start()
        try:
            wait_until(lambda: len(acked) >= 50, 20, "50 publishes")
            sub.wait_events(20, timeout=20)
            self.cluster.command("kill hub 3")
            sub.wait_closed(10)
            sub.close()
            last = sub.last_id()
            seen = [e["id"] for e in sub.data_events()]
            time.sleep(0.3)  # publishing goes on while node 3 is away
            resumed = self.hub(1).subscribe(["resume"], last_event_id=last)
            wait_until(lambda: len(acked) >= len(seen) + 100, 30, "100 more publishes")
        finally:
            stop.set()
            pub.join(30)
        self.assertEqual(errors, [])
        final = acked[-1]
        deadline = time.time() + 20
        while (not resumed.data_events() or resumed.data_events()[-1]["id"] != final) \
                and time.time() < deadline:
            resumed.pump(0.05)
        got = seen + [e["id"] for e in resumed.data_events()]
        self.assertEqual(got, sorted(acked, key=pos), "gap-free and duplicate-free across nodes")
        self.assertEqual(resumed.wait_events(0, kind="herald.gap"), [])
        resumed.close()
        # Node 3 comes back with its data dir and catches up before it says ready.
        self.cluster.command("start hub 3")
        self.assertEqual([e["id"] for e in all_events(self.hub(3), "resume")], sorted(acked, key=pos))
        self.assertIn("event=cluster_caught_up", self.cluster.hub_log(3))

    def test_4_a_killed_nats_server_loses_no_acknowledged_event(self):
        stop, acked, errors = threading.Event(), [], []
        pub = threading.Thread(target=hammer, args=([self.hub(1), self.hub(2), self.hub(3)],
                                                    "nats-kill", stop, acked, errors, 100000))
        pub.start()
        try:
            wait_until(lambda: len(acked) >= 50, 20, "50 publishes")
            self.cluster.command("kill nats 1")
            killed_at = len(acked)
            t0 = time.time()
            wait_until(lambda: len(acked) >= killed_at + 100, 30, "publishing to resume")
            resumed_after = time.time() - t0
            self.cluster.command("start nats 1")
            wait_until(lambda: len(acked) >= killed_at + 200, 30, "publishing after the restart")
            # The restarted server rejoins: it holds its replica of the stream again.
            wait_until(lambda: self.replica_on(1), 30, "nats-server 1 to hold the stream again")
        finally:
            stop.set()
            pub.join(30)
        print(f"\n  nats-server killed: {len(errors)} refused publishes, 100 more acknowledged "
              f"within {resumed_after:.2f} s", file=sys.stderr)
        # JetStream elects new leaders (the stream's, maybe the meta group's) in several seconds.
        self.assertLess(resumed_after, 30)
        self.assertTrue(all(e in (503, "connection") for e in errors), errors)
        want = sorted(acked, key=pos)
        stored = {}
        for n in (1, 2, 3):
            self.hub(n).wait_stats(lambda s: s["cluster"]["applied"] >= pos(want[-1]), 30)
            got = [e["id"] for e in all_events(self.hub(n), "nats-kill")]
            self.assertEqual(len(got), len(set(got)), f"node {n}: no event twice")
            self.assertEqual(got, sorted(got, key=pos), f"node {n}: in order")
            self.assertEqual([i for i in got if i in set(want)], want,
                             f"node {n}: every acknowledged event")
            stored[n] = got
        # A publish refused with 503 (its acknowledgement did not come in time while leaders
        # changed) may still have been stored: it is then an event like any other, the same on
        # every node, never more of them than refusals.
        self.assertEqual(stored[1], stored[2])
        self.assertEqual(stored[1], stored[3])
        self.assertLessEqual(len(stored[1]) - len(want), len(errors))

    def test_5_without_nats_publishes_get_503_streams_go_on_and_the_node_recovers(self):
        first = publish_ok(self.hub(1), {"topic": "outage", "data": "before"})["id"]
        sub = self.hub(2).subscribe(["outage"], last_event_id=f"{first.split('-')[0]}-0")
        sub.wait_events(1)
        for i in (1, 2, 3):
            self.cluster.command(f"kill nats {i}")
        wait_until(lambda: self.hub(1).get("/readyz")[0] == 503, 10, "readyz to say not ready")
        st, _, doc = self.hub(1).get("/readyz")
        self.assertEqual(doc["error"]["code"], "cluster_unavailable")
        st, headers, doc = self.hub(1).request("POST", "/v1/publish",
                                               {"topic": "outage", "data": "during"})
        self.assertEqual(st, 503, doc)
        self.assertEqual(doc["error"]["code"], "cluster_unavailable")
        self.assertIn("retry-after", headers)
        # What is committed is still served: the stream stays open, replay works.
        self.assertEqual([e["data"] for e in all_events(self.hub(3), "outage")], ["before"])
        sub.pump(0.2)
        self.assertFalse(sub.closed)
        for i in (1, 2, 3):
            self.cluster.command(f"start nats {i}")
        wait_until(lambda: all(self.hub(n).get("/readyz")[0] == 200 for n in (1, 2, 3)), 60,
                   "every node ready again")
        deadline = time.time() + 30
        while True:
            st, _, doc = self.hub(1).request("POST", "/v1/publish", {"topic": "outage", "data": "after"})
            if st == 201 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(st, 201, doc)
        got = sub.wait_events(2, timeout=20)
        self.assertEqual([e["data"] for e in got], ['"before"', '"after"'])
        sub.close()

    def test_7_a_job_updated_through_one_node_is_watched_through_the_others(self):
        def put(n, body):
            st, _, doc = self.hub(n).request("PUT", "/v1/jobs/export-9", body)
            self.assertEqual(st, 200, doc)
            return doc

        put(1, {"state": "active", "progress": 0})
        # Every node reads it (its tail stored it), and streams on B and C follow changes on A.
        for n in (2, 3):
            wait_until(lambda: self.hub(n).get("/v1/jobs/export-9")[0] == 200, 10, f"job on {n}")
        views = {n: JobStream(self.hub(n).port, "export-9") for n in (2, 3)}
        for n, v in views.items():
            v.wait_events(1)
        # Through A, then at once through B: a change through a node that has not applied the
        # other's yet is refused by the stream's check and built again on the newer snapshot.
        put(1, {"progress": 20})
        put(1, {"progress": 40})
        put(2, {"progress": 60})
        put(2, {"progress": 80})
        final = put(1, {"state": "completed", "result": {"rows": 7}})
        for n, v in views.items():
            self.assertTrue(v.wait_closed(15), f"node {n}: the stream ends at completion")
            progress = [json.loads(e["data"]).get("progress") for e in v.events if "data" in e]
            self.assertEqual(progress, [0, 20, 40, 60, 80, 100], f"node {n}")
            self.assertEqual(v.events[-1]["event"], "job.completed")
            self.assertEqual(json.loads(v.events[-1]["data"])["version"], final["version"])
        # The version check holds across nodes: B knows A's last version.
        st, _, doc = self.hub(3).request("PUT", "/v1/jobs/export-9",
                                         {"expected_version": final["version"] - 1, "progress": 1})
        self.assertEqual(st, 409, doc)

    def test_11_concurrent_changes_of_one_job_through_three_nodes_apply_one_after_another(self):
        job = "race-11"
        st, _, doc = self.hub(1).request("PUT", f"/v1/jobs/{job}", {"state": "active"})
        self.assertEqual(st, 200, doc)
        for n in (2, 3):
            wait_until(lambda: self.hub(n).get(f"/v1/jobs/{job}")[0] == 200, 10, f"job on {n}")
        views = {n: JobStream(self.hub(n).port, job) for n in (1, 2, 3)}
        for v in views.values():
            v.wait_events(1)
        rounds = 12
        answers = {n: [] for n in (1, 2, 3)}

        def worker(n):
            for i in range(rounds):
                answers[n].append(self.hub(n).request("PUT", f"/v1/jobs/{job}",
                                                      {"message": f"{n}-{i}"}, timeout=20))

        threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        docs = []
        for n, got in answers.items():
            self.assertEqual(len(got), rounds)
            for st, _, doc in got:
                self.assertEqual(st, 200, (n, doc))
                docs.append(doc)
        # Every change was built on the one before it: no two share a version, none was lost.
        self.assertEqual(sorted(d["version"] for d in docs), list(range(2, 2 + 3 * rounds)))
        final = self.hub(2).request("PUT", f"/v1/jobs/{job}", {"state": "completed"})[2]
        self.assertEqual(final["version"], 2 + 3 * rounds)
        by_version = {d["version"]: d["message"] for d in docs}
        for n, v in views.items():
            self.assertTrue(v.wait_closed(15), f"node {n}: the stream ends at completion")
            seen = [json.loads(e["data"]) for e in v.events if "data" in e]
            # Each node's viewers saw every change once, in order, as it was made.
            self.assertEqual([d["version"] for d in seen], list(range(1, final["version"] + 1)),
                             f"node {n}")
            for d in seen[1:-1]:
                self.assertEqual(d["message"], by_version[d["version"]], f"node {n}")
        # Workers that name the version they saw: of three at once, exactly one wins.
        for r in range(5):
            job = f"race-11-{r}"
            st, _, doc = self.hub(1).request("PUT", f"/v1/jobs/{job}", {"state": "active"})
            self.assertEqual(st, 200, doc)
            for n in (2, 3):
                wait_until(lambda: self.hub(n).get(f"/v1/jobs/{job}")[0] == 200, 10, f"{job} on {n}")
            got = {}

            def contend(n):
                got[n] = self.hub(n).request("PUT", f"/v1/jobs/{job}",
                                             {"expected_version": 1, "progress": 10 * n}, timeout=20)

            threads = [threading.Thread(target=contend, args=(n,)) for n in (1, 2, 3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            statuses = sorted(g[0] for g in got.values())
            self.assertEqual(statuses, [200, 409, 409], got)
            for st, _, doc in got.values():
                if st == 409:
                    self.assertEqual(doc["error"]["code"], "version_conflict", doc)
                    self.assertEqual(doc["error"]["current_version"], 2, doc)

    def test_8_a_session_delivered_through_one_node_and_acked_through_another(self):
        a, b, c = self.hub(1), self.hub(2), self.hub(3)
        st, _, doc = a.request("PUT", "/v1/sessions/worker-7",
                               {"topics": ["tasks"], "ack_wait_seconds": 300})
        self.assertEqual(st, 201, doc)
        stream = a.session_stream("worker-7")
        ids = [publish_ok(c, {"topic": "tasks", "data": i, "ack": True})["id"] for i in range(10)]
        got = stream.wait_events(10, timeout=20)
        self.assertEqual([e["id"] for e in got], ids)
        # Acknowledged through B (which learnt of the session and its deliveries from the stream).
        wait_until(lambda: b.get("/v1/sessions/worker-7")[0] == 200
                   and b.get("/v1/sessions/worker-7")[2]["pending"] == 10, 15,
                   "B to know the ten deliveries")
        st, _, doc = b.request("POST", "/v1/sessions/worker-7/ack", {"ids": ids[:5]})
        self.assertEqual((st, doc["acked"]), (200, 5), doc)
        # A hears of it and will not redeliver them.
        wait_until(lambda: a.get("/v1/sessions/worker-7")[2]["pending"] == 5, 15,
                   "A to drop the five acknowledged events")
        stream.close()
        self.cluster.command("kill hub 1")
        # The client comes back through B: the five unacknowledged are redelivered, none of the
        # acknowledged, and new events follow.
        again = b.session_stream("worker-7")
        later = publish_ok(b, {"topic": "tasks", "data": 10, "ack": True})["id"]
        seen = []
        deadline = time.time() + 20
        while later not in seen and time.time() < deadline:
            again.pump(0.05)
            # New events come as frames with ids; pending ones as herald.redelivery notices.
            seen = [json.loads(e["data"])["id"] if e.get("event") == "herald.redelivery"
                    else e.get("id") for e in again.events if "data" in e]
        self.assertEqual(seen, ids[5:] + [later])
        self.assertFalse(set(seen) & set(ids[:5]), "an acknowledged event came back")
        st, _, doc = b.request("POST", "/v1/sessions/worker-7/ack", {"ids": ids[5:] + [later]})
        self.assertEqual((st, doc["acked"]), (200, 6), doc)
        again.close()
        # A comes back and agrees: nothing pending.
        self.cluster.command("start hub 1")
        wait_until(lambda: a.get("/v1/sessions/worker-7")[2]["pending"] == 0, 15,
                   "A to catch up with the acknowledgements")
        self.assertEqual(c.get("/v1/sessions/worker-7")[2]["pending"], 0)
        # One stream per session across nodes: a stream attaching through C ends the one on B.
        on_b = b.session_stream("worker-7")
        wait_until(lambda: b.get("/v1/sessions/worker-7")[2]["connected"], 10, "B's stream")
        on_c = c.session_stream("worker-7")
        self.assertTrue(on_b.wait_closed(15), "the older stream on B ends")
        self.assertEqual([e.get("event") for e in on_b.events if "data" in e][-1:],
                         ["herald.session_replaced"])
        on_c.pump(0.2)
        self.assertFalse(on_c.closed)
        on_b.close()
        on_c.close()
        # Deleting it through C ends it everywhere.
        self.assertEqual(c.request("DELETE", "/v1/sessions/worker-7")[0], 204)
        for n in (1, 2):
            wait_until(lambda: self.hub(n).get("/v1/sessions/worker-7")[0] == 404, 15,
                       f"node {n} to forget the session")

    def test_9_the_stream_s_limits_are_herald_s_retention_and_idempotency_window(self):
        import urllib.request
        url = self.cluster.monitors[2] + "/jsz?streams=true&config=true"
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        streams = [s for acc in doc.get("account_details", [])
                   for s in acc.get("stream_detail", []) if s["name"] == "HERALD"]
        self.assertEqual(len(streams), 1, doc)
        cfg = streams[0]["config"]
        self.assertEqual(cfg["max_msgs_per_subject"], 100000)  # retention.max_events_per_topic
        self.assertEqual(cfg["max_age"], 86400 * 10 ** 9)      # retention.max_age_seconds
        self.assertEqual(cfg["duplicate_window"], 120 * 10 ** 9)  # the idempotency window
        self.assertEqual(cfg["num_replicas"], 3)
        self.assertEqual(cfg["storage"], "file")
        self.assertEqual(sorted(cfg["subjects"]), ["HERALD.ev.>", "HERALD.job.>", "HERALD.sess.>"])

    def test_10_what_the_stream_dropped_is_a_gap_on_every_node_and_on_a_rebuilt_one(self):
        # Nodes of their own on a stream that keeps 5 events per topic (the retention setting).
        env = {"HERALD_CLUSTER_NATS_SERVERS": ",".join(self.cluster.nats.values()),
               "HERALD_CLUSTER_STREAM": "SMALL", "HERALD_RETENTION_MAX_EVENTS_PER_TOPIC": "5"}
        x1 = Hub(env=dict(env, HERALD_CLUSTER_NODE_NAME="x1")).start()
        try:
            ids = [publish_ok(x1, {"topic": "t", "data": i})["id"] for i in range(20)]
            # The tail trims a topic right after applying a batch, and the 201 of its last event
            # may come first: wait for the trim.
            wait_until(lambda: [e["id"] for e in all_events(x1, "t")] == ids[15:], 10,
                       "x1 trimmed t to its last 5 events")
            x2 = Hub(env=dict(env, HERALD_CLUSTER_NODE_NAME="x2")).start()
            try:
                self.assertEqual([e["id"] for e in all_events(x2, "t")], ids[15:])
                self.assertEqual(x2.stats()["cluster"]["lost"], 15)
                for hub in (x1, x2):
                    sub = hub.subscribe(["t"], last_event_id=ids[2])
                    got = sub.wait_events(5)
                    self.assertEqual([e["id"] for e in got], ids[15:])
                    gaps = sub.wait_events(1, kind="herald.gap")
                    self.assertEqual(len(gaps), 1, f"{hub.port}: {sub.events}")
                    sub.close()
                # A cluster node stops cleanly (its tail and NATS connection included).
                self.assertEqual(x2.terminate(), 0, x2.log_text())
                self.assertIn("event=shutdown_started", x2.log_text())
                for bad in ("AddressSanitizer", "runtime error", "ThreadSanitizer"):
                    self.assertNotIn(bad, x2.log_text())
            finally:
                x2.close()
        finally:
            x1.close()

    def test_6_a_node_that_lost_its_store_rebuilds_it_from_the_stream(self):
        ids = [publish_ok(self.hub(1), {"topic": "rebuild", "data": i})["id"] for i in range(5)]
        self.cluster.command("kill hub 2")
        data_dir = os.path.join(os.path.dirname(self.cluster.logs[2]), "hub2")
        subprocess.run(["rm", "-rf", data_dir], check=True)
        self.cluster.command("start hub 2")
        self.assertEqual([e["id"] for e in all_events(self.hub(2), "rebuild")], ids)
        self.assertEqual(self.hub(2).stats()["cluster"]["lost"], 0)
        st, _, text = self.hub(2).get("/metrics")
        text = text.decode() if isinstance(text, bytes) else text
        self.assertIn("herald_cluster_connected 1", text)
        self.assertIn("herald_cluster_caught_up 1", text)
        self.assertEqual(self.hub(2).stats()["log_head"], self.hub(1).stats()["log_head"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
