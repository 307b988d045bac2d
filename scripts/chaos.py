#!/usr/bin/env python3
"""Chaos, on demand: kill -9 the hub at random moments while everything runs at once, then
count what went wrong. Run by scripts/chaos.sh; figures in docs/reliability.md.

While the hub is killed and restarted KILLS times (same port, same data directory):
  - SDK publishers: `herald publish` (the C++ SDK's publisher: retries with backoff) with an
    idempotency key per event, retried with the same key until it is answered 201; one of them
    publishes ack-required events for a durable session;
  - pattern subscribers (`chaos/**`) and topic-set subscribers (`chaos/a` + `chaos/b`) that drop
    their connection at random and resume with Last-Event-ID;
  - a durable session's consumer that acknowledges what it receives and drops at random;
  - a job updated step by step, and a viewer following it across restarts.
Then, from the log as the restarted hub holds it:
  lost       events answered 201 that are not in the log
  duplicates events in the log more than once (one key, one event)
  gaps       events of a stream's topics that the stream skipped, and herald.gap notices
  reordered  events a stream received out of log order, or twice
  acked_back acknowledged (200) session events delivered again
  session_lost ack-required events the session never delivered
  job        viewer versions going backwards, or a final state other than the last update
Exit status 1 if any is not 0."""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import HERALD, Hub, SSEClient, all_events  # noqa: E402


def pos(event_id):
    return int(event_id.split("-")[1])


class Chaos:
    def __init__(self, kills, seed, publishers):
        self.kills_wanted = kills
        self.rng = random.Random(seed)
        self.seed = seed
        self.publishers = publishers
        self.hub = Hub(config={"sessions": {"checkpoint_interval_seconds": 1}})
        self.stop = threading.Event()       # publishers and the job updater stop
        self.finished = threading.Event()   # readers stop
        self.lock = threading.Lock()
        self.published = {}      # key -> (id, topic, data) answered 201
        self.ack_published = set()  # positions of ack-required events answered 201
        self.acked = set()       # session positions whose ack was answered 200
        self.acked_back = []     # acked positions delivered again
        self.job_updates = []    # (version, progress) answered 200
        self.job_backwards = 0
        self.job_final = None
        self.kills = 0
        self.streams = []        # per subscriber: dict(name, topics, received, gaps)
        self.errors = []

    def url(self):
        return f"http://127.0.0.1:{self.hub.port}"

    def connect(self, path, last_event_id=None):
        """An SSE stream at `path` once the hub answers it 200 (it may be down or starting);
        None when the run is finishing."""
        while not self.finished.is_set():
            try:
                s = SSEClient(self.hub.port, [], last_event_id=last_event_id, path=path)
            except (OSError, AssertionError):
                time.sleep(0.05)
                continue
            if s.status == 200:
                return s
            s.close()
            time.sleep(0.05)
        return None

    # -- publishers --------------------------------------------------------------------------
    def sdk_publisher(self, k):
        rng = random.Random(self.seed * 100 + k)
        n = 0
        while not self.stop.is_set():
            ack = k == 0
            topic = "chaos/s" if ack else rng.choice(["chaos/a", "chaos/b", "chaos/c"])
            data = json.dumps({"p": k, "n": n})
            key = f"chaos-{self.seed}-{k}-{n}"
            while True:  # the same event, with the same key, until it is answered 201
                args = [HERALD, "publish", "--url", self.url(), "--topic", topic, "--data", data,
                        "--idempotency-key", key] + (["--ack"] if ack else [])
                try:
                    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
                except subprocess.TimeoutExpired:
                    continue
                if out.returncode == 0:
                    event_id = json.loads(out.stdout)["id"]
                    with self.lock:
                        self.published[key] = (event_id, topic, json.loads(data))
                        if ack:
                            self.ack_published.add(pos(event_id))
                    break
                time.sleep(0.1)
            n += 1

    # -- subscribers ---------------------------------------------------------------------------
    def subscriber(self, name, topics):
        rng = random.Random(hash((self.seed, name)))
        record = {"name": name, "topics": topics, "received": [], "gaps": 0, "drops": 0}
        self.streams.append(record)
        last = "earliest"  # everything the log holds; then the last id received
        path = "/v1/subscribe?" + "&".join("topic=" + quote(t, safe="") for t in topics) \
               + "&envelope=1"
        started = threading.Event()
        record["started"] = started
        while (s := self.connect(path, last)) is not None:
            started.set()
            drop_at = time.time() + rng.uniform(0.2, 3.0)
            while not s.closed and not self.finished.is_set() and time.time() < drop_at:
                s.pump(0.05)
                for e in s.events:
                    if e.get("event") == "herald.gap":
                        record["gaps"] += 1
                    elif "id" in e:
                        doc = json.loads(e["data"])
                        record["received"].append((e["id"], doc["topic"]))
                        last = e["id"]
                s.events.clear()
            if time.time() >= drop_at:
                record["drops"] += 1
            s.close(abrupt=rng.random() < 0.5)

    def session_consumer(self, sid):
        rng = random.Random(hash((self.seed, sid)))
        while (s := self.connect(f"/v1/sessions/{sid}/events")) is not None:
            drop_at = time.time() + rng.uniform(0.2, 3.0)
            while not s.closed and not self.finished.is_set() and time.time() < drop_at:
                s.pump(0.05)
                got = []
                for e in s.events:
                    if e.get("event") == "herald.redelivery":
                        got.append(json.loads(e["data"])["id"])
                    elif "id" in e:
                        got.append(e["id"])
                s.events.clear()
                with self.lock:
                    back = [i for i in got if pos(i) in self.acked]
                    self.acked_back += back
                if got:
                    try:
                        st, _, _ = self.hub.request("POST", f"/v1/sessions/{sid}/ack",
                                                    {"ids": got}, timeout=5)
                    except OSError:
                        st = 0  # killed mid-ack: in doubt, may come back
                    if st == 200:
                        with self.lock:
                            self.acked |= {pos(i) for i in got}
            s.close(abrupt=rng.random() < 0.5)

    # -- jobs --------------------------------------------------------------------------------
    def job_updater(self):
        progress = 0
        while not self.stop.is_set() and progress < 99:
            progress += 1
            while True:
                try:
                    st, _, doc = self.hub.request("PUT", "/v1/jobs/chaos-job",
                                                  {"state": "active", "progress": progress},
                                                  timeout=5)
                except OSError:
                    st = 0
                if st == 200:
                    with self.lock:
                        self.job_updates.append((doc["version"], progress))
                    break
                time.sleep(0.05)
            time.sleep(0.05)

    def job_viewer(self):
        last = None
        highest = 0
        while (s := self.connect("/v1/jobs/chaos-job/events", last)) is not None:
            while not s.closed and not self.finished.is_set():
                s.pump(0.05)
                for e in s.events:
                    if "id" in e and e.get("event", "").startswith("job."):
                        v = int(e["id"])
                        if v < highest:
                            self.job_backwards += 1
                        highest = max(highest, v)
                        last = e["id"]
                        self.job_final = json.loads(e["data"])
                s.events.clear()
            s.close()

    # -- the run -------------------------------------------------------------------------------
    def run(self):
        hub = self.hub.start()
        st, _, _ = hub.request("PUT", "/v1/sessions/chaos-session",
                               {"topics": ["chaos/s"], "ack_wait_seconds": 5,
                                "max_deliveries": 1000, "max_pending": 100000})
        assert st == 201, st
        st, _, _ = hub.request("PUT", "/v1/jobs/chaos-job", {"state": "active", "progress": 0})
        assert st == 200, st
        readers = [threading.Thread(target=self.subscriber, args=(f"pattern-{i}", ["chaos/**"]))
                   for i in range(2)]
        readers += [threading.Thread(target=self.subscriber,
                                     args=(f"topic-set-{i}", ["chaos/a", "chaos/b"]))
                    for i in range(2)]
        readers += [threading.Thread(target=self.session_consumer, args=("chaos-session",)),
                    threading.Thread(target=self.job_viewer)]
        for t in readers:
            t.start()
        deadline = time.time() + 10
        while len(self.streams) < 4 or not all(r["started"].is_set() for r in self.streams):
            if time.time() > deadline:
                raise SystemExit("chaos: the subscribers did not start")
            time.sleep(0.05)
        writers = [threading.Thread(target=self.sdk_publisher, args=(k,))
                   for k in range(self.publishers)]
        writers.append(threading.Thread(target=self.job_updater))
        for t in writers:
            t.start()
        started = time.time()
        for _ in range(self.kills_wanted):
            time.sleep(self.rng.uniform(0.3, 2.5))
            hub.kill9()
            self.kills += 1
            hub.restart()
        time.sleep(1)
        self.stop.set()
        for t in writers:
            t.join(120)
        # The job ends; then every reader catches up with the log before the count.
        st, _, doc = hub.request("PUT", "/v1/jobs/chaos-job", {"state": "completed"})
        assert st == 200, (st, doc)
        with self.lock:
            self.job_updates.append((doc["version"], 100))
        log = all_events(hub, "chaos/**")
        self.settle(log)
        self.finished.set()
        for t in readers:
            t.join(30)
        took = time.time() - started
        return self.report(log, took)

    def settle(self, log, timeout=60):
        deadline = time.time() + timeout
        want_session = set(self.ack_published)
        while time.time() < deadline:
            done = True
            for r in self.streams:
                mine = [e["id"] for e in log if e["topic"] in r["topics"]
                        or (r["topics"] == ["chaos/**"])]
                if mine and (not r["received"] or pos(r["received"][-1][0]) < pos(mine[-1])):
                    done = False
            with self.lock:
                if not want_session <= self.acked:
                    done = False
            if self.job_final is None or self.job_final.get("state") != "completed":
                done = False
            if done:
                return
            time.sleep(0.2)

    def report(self, log, took):
        ids = [e["id"] for e in log]
        by_id = {e["id"]: e for e in log}
        keys_in_log = {}
        for e in log:
            k = (e["data"]["p"], e["data"]["n"])
            keys_in_log[k] = keys_in_log.get(k, 0) + 1
        lost = [key for key, (i, topic, data) in self.published.items()
                if i not in by_id or by_id[i]["topic"] != topic or by_id[i]["data"] != data]
        duplicates = sum(c - 1 for c in keys_in_log.values() if c > 1)
        gaps = reordered = 0
        per_stream = []
        for r in self.streams:
            mine = [e["id"] for e in log if r["topics"] == ["chaos/**"] or e["topic"] in r["topics"]]
            got = [i for i, _ in r["received"]]
            out_of_order = sum(1 for a, b in zip(got, got[1:]) if pos(b) <= pos(a))
            missing = len(set(mine) - set(got))
            gaps += missing + r["gaps"]
            reordered += out_of_order
            per_stream.append(f"{r['name']}: {len(got)} received, {r['drops']} drops, "
                              f"{missing} missing, {r['gaps']} gap notices, "
                              f"{out_of_order} out of order")
        session_lost = len(self.ack_published - self.acked)
        last_version = max(v for v, _ in self.job_updates)
        job_bad = self.job_backwards + (0 if self.job_final and self.job_final.get("state") ==
                                        "completed" and self.job_final.get("version") ==
                                        last_version else 1)
        result = {
            "seed": self.seed, "kills": self.kills, "seconds": round(took, 1),
            "published": len(self.published), "log_events": len(ids),
            "ack_required": len(self.ack_published), "acked": len(self.acked),
            "job_updates": len(self.job_updates),
            "lost": len(lost), "duplicates": duplicates, "gaps": gaps, "reordered": reordered,
            "acked_back": len(self.acked_back), "session_lost": session_lost, "job": job_bad,
        }
        for line in per_stream:
            print("chaos:", line, file=sys.stderr)
        print(json.dumps(result))
        self.hub.close()
        bad = ("lost", "duplicates", "gaps", "reordered", "acked_back", "session_lost", "job")
        return 1 if any(result[k] for k in bad) else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--publishers", type=int, default=3)
    p.add_argument("--seed", type=int, default=int(time.time()))
    a = p.parse_args()
    print(f"chaos: seed {a.seed}, {a.kills} kills, {a.publishers} SDK publishers", file=sys.stderr)
    sys.exit(Chaos(a.kills, a.seed, a.publishers).run())


if __name__ == "__main__":
    main()
