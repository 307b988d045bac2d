"""Durability and gap-free resume against a real hub, across kill -9 and restarts."""
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, all_events  # noqa: E402


def pos(event_id):
    return int(event_id.split("-")[1])


def hammer(hub, topics, stop, acked, errors, per_thread_max=2000):
    """Publishes single events until `stop`; records (id, topic, n) of every 201."""
    n = 0
    while not stop.is_set() and n < per_thread_max:
        topic = random.choice(topics)
        try:
            st, _, doc = hub.request("POST", "/v1/publish", {"topic": topic, "data": n}, timeout=5)
        except OSError:
            return  # the hub went away mid-request: that publish was never acknowledged
        if st == 201:
            acked.append((doc["id"], topic, n))
        else:
            errors.append(st)
        n += 1


class KillTest(unittest.TestCase):
    def kill_during_publishing(self, durability):
        hub = Hub(config={"storage": {"durability": durability}}).start()
        try:
            stop, acked, errors = threading.Event(), [], []
            threads = [threading.Thread(target=hammer,
                                        args=(hub, ["k/a", "k/b", "k/c"], stop, acked, errors))
                       for _ in range(4)]
            for t in threads:
                t.start()
            deadline = time.time() + 10
            while len(acked) < 300 and time.time() < deadline:
                time.sleep(0.01)
            hub.kill9()  # while the publishers are still going
            stop.set()
            for t in threads:
                t.join(10)
            self.assertGreater(len(acked), 100)
            hub.restart()
            logged = all_events(hub, "k/**")
            logged_ids = [e["id"] for e in logged]
            self.assertEqual(logged_ids, sorted(logged_ids, key=pos))  # log order
            missing = {i for i, _, _ in acked} - set(logged_ids)
            self.assertEqual(missing, set(), f"{len(missing)} acknowledged events lost")
            # Every acknowledged event is intact.
            by_id = {e["id"]: e for e in logged}
            for i, topic, n in acked:
                self.assertEqual((by_id[i]["topic"], by_id[i]["data"]), (topic, n))
            # Positions continue after the restart: no reuse of an acknowledged id.
            new = hub.publish({"topic": "k/a", "data": "after"})["id"]
            self.assertGreater(pos(new), max(pos(i) for i, _, _ in acked))
        finally:
            hub.close()

    def test_every_acknowledged_publish_survives_kill9_process_mode(self):
        self.kill_during_publishing("process")

    def test_every_acknowledged_publish_survives_kill9_fsync_mode(self):
        self.kill_during_publishing("fsync")


class IdempotencyTest(unittest.TestCase):
    def test_a_retried_publish_is_answered_with_the_original_id_across_kill9(self):
        with Hub(config={"publish": {"idempotency_window_seconds": 2}}) as hub:
            first = hub.publish([{"topic": "i", "data": 1, "idempotency_key": "order-1"},
                                 {"topic": "i", "data": 2}])["ids"]
            again = hub.publish({"topic": "i", "data": 1, "idempotency_key": "order-1"})["id"]
            self.assertEqual(again, first[0])
            hub.kill9()
            hub.restart()
            after = hub.publish({"topic": "i", "data": 1, "idempotency_key": "order-1"})["id"]
            self.assertEqual(after, first[0])  # the key survived the kill
            self.assertEqual([e["id"] for e in all_events(hub, "i")], first)  # published once
            self.assertEqual(hub.stats()["publish_repeats"], 1)
            time.sleep(2.2)  # past the window: the key is a new publish
            fresh = hub.publish({"topic": "i", "data": 1, "idempotency_key": "order-1"})["id"]
            self.assertGreater(pos(fresh), pos(first[-1]))
            for bad in ["", "x" * 129, 7, "new\nline"]:
                st, _, doc = hub.request("POST", "/v1/publish",
                                         {"topic": "i", "data": 1, "idempotency_key": bad})
                self.assertEqual((st, doc["error"]["code"]), (400, "invalid_idempotency_key"))


class ResumeTest(unittest.TestCase):
    def test_subscriber_resumes_after_kill9_and_restart_exactly_once(self):
        with Hub() as hub:
            sub = hub.subscribe(["orders/42"])
            first = hub.publish([{"topic": "orders/42", "data": i} for i in range(5)])["ids"]
            self.assertEqual([e["id"] for e in sub.wait_events(5)], first)
            sub.close()
            missed = hub.publish([{"topic": "orders/42", "data": i} for i in range(5, 8)])["ids"]
            hub.kill9()
            hub.restart()
            sub = hub.subscribe(["orders/42"], last_event_id=first[-1])
            later = hub.publish([{"topic": "orders/42", "data": i} for i in range(8, 10)])["ids"]
            got = [e["id"] for e in sub.wait_events(5)]
            self.assertEqual(got, missed + later)
            sub.pump(0.3)
            self.assertEqual(len(sub.data_events()), 5)  # nothing repeated
            sub.close()

    def test_retention_loss_is_signalled_with_a_gap_event(self):
        with Hub(config={"retention": {"max_events_per_topic": 5}}) as hub:
            ids = hub.publish([{"topic": "g", "data": i} for i in range(20)])["ids"]
            # The journal trims a topic right after answering the commit that took it over its
            # limit: wait for the trim (CI once subscribed before it and got all 17).
            deadline = time.time() + 10
            while [e["id"] for e in all_events(hub, "g")] != ids[15:]:
                self.assertLess(time.time(), deadline, "the topic is trimmed to its last 5")
                time.sleep(0.02)
            sub = hub.subscribe(["g"], last_event_id=ids[2])
            gap = sub.wait_events(1, kind="herald.gap")[0]
            self.assertNotIn("id", gap)  # does not move the client's Last-Event-ID
            info = json.loads(gap["data"])
            self.assertEqual(info["reason"], "retention")
            self.assertEqual(pos(info["from"]), pos(ids[2]) + 1)
            self.assertEqual(info["to"], ids[14])
            self.assertEqual([e["id"] for e in sub.wait_events(5)], ids[15:])
            # Events before the gap notice: none.
            first_event = next(i for i, e in enumerate(sub.events) if "id" in e or "event" in e)
            self.assertEqual(sub.events[first_event].get("event"), "herald.gap")
            sub.close()
            st, _, page = hub.get(f"/v1/events?topic=g&after={ids[2]}")
            self.assertEqual(page["gap"]["to"], ids[14])

    def test_age_retention_deletes_old_events_and_signals_the_gap(self):
        with Hub(config={"retention": {"max_age_seconds": 1, "check_interval_seconds": 1}}) as hub:
            old = hub.publish([{"topic": "aged", "data": i} for i in range(3)])["ids"]
            deadline = time.time() + 10
            while time.time() < deadline and hub.get("/v1/events?topic=aged")[2]["events"]:
                time.sleep(0.2)
            self.assertEqual(hub.get("/v1/events?topic=aged")[2]["events"], [])
            self.assertIn("event=retention_trim deleted=3", hub.log_text())
            new = hub.publish({"topic": "aged", "data": "new"})["id"]
            sub = hub.subscribe(["aged"], last_event_id=old[0])
            gap = json.loads(sub.wait_events(1, kind="herald.gap")[0]["data"])
            self.assertEqual((gap["from"], gap["to"]), (old[1], old[2]))
            self.assertEqual([e["id"] for e in sub.wait_events(1)], [new])
            sub.close()

    def test_earliest_replays_everything_retained_without_a_gap(self):
        with Hub(config={"retention": {"max_events_per_topic": 5}}) as hub:
            ids = hub.publish([{"topic": "e", "data": i} for i in range(12)])["ids"]
            for sub in (hub.subscribe(["e"], last_event_id="earliest"),
                        hub.subscribe(["e"], query_last_id="earliest")):
                # Everything retained, through the last event: the 5 newest, or 6 when the
                # retention that follows the last commit has not deleted the oldest yet.
                deadline = time.time() + 10
                while ids[-1] not in [e["id"] for e in sub.data_events()]:
                    self.assertLess(time.time(), deadline, sub.events[-3:])
                    sub.pump(0.05)
                got = [e["id"] for e in sub.data_events()]
                self.assertIn(len(got), (5, 6))
                self.assertEqual(got, ids[-len(got):])
                live = hub.publish({"topic": "e", "data": "live"})["id"]
                self.assertEqual(sub.wait_events(len(got) + 1)[-1]["id"], live)
                self.assertEqual([e for e in sub.events if e.get("event") == "herald.gap"], [])
                sub.close()
                ids.append(live)
            # Only Last-Event-ID's reserved word: anything else still has to be an id.
            bad = hub.subscribe(["e"], last_event_id="earliest2")
            self.assertEqual(bad.status, 400)

    def test_replaced_data_dir_is_signalled_not_silent(self):
        with Hub() as hub:
            old = hub.publish({"topic": "r", "data": 1})["id"]
        with Hub(port=hub.port) as fresh:  # a new, empty data dir on the same address
            new = fresh.publish({"topic": "r", "data": 2})["id"]
            sub = fresh.subscribe(["r"], last_event_id=old)
            self.assertEqual(json.loads(sub.wait_events(1, kind="herald.gap")[0]["data"])["reason"],
                             "unknown_log")
            self.assertEqual([e["id"] for e in sub.wait_events(1)], [new])
            sub.close()


class OrderingTest(unittest.TestCase):
    def test_pattern_subscribers_dropping_at_random_points_never_lose_or_repeat(self):
        """The ordering trap: concurrent publishers on several topics; subscribers on patterns
        and topic sets drop at random points and resume from the last id they saw."""
        rng = random.Random(20261122)
        with Hub() as hub:
            topics = [f"o/{i}" for i in range(5)]
            stop, acked, errors = threading.Event(), [], []
            pubs = [threading.Thread(target=hammer, args=(hub, topics, stop, acked, errors, 400))
                    for _ in range(4)]
            subscriptions = [["o/*"], ["o/1", "o/3"], ["o/**", "o/2"], ["o/4"]]
            received = {i: [] for i in range(len(subscriptions))}

            marker = hub.publish({"topic": "marker", "data": 0})["id"]

            def follower(i):
                last = marker
                deadline = time.time() + 30
                while time.time() < deadline:
                    sub = hub.subscribe(subscriptions[i], last_event_id=last)
                    take = rng.randint(1, 60)
                    t0 = time.time()
                    while len(sub.data_events()) < take and time.time() - t0 < 0.5:
                        sub.pump(0.02)
                    got = sub.data_events()
                    # Drop at a random point: keep only what "the app" saw before vanishing.
                    got = got[:take]
                    received[i] += [e["id"] for e in got]
                    if got:
                        last = got[-1]["id"]
                    sub.close(abrupt=rng.random() < 0.5)
                    if stop.is_set() and not got:
                        return

            for p in pubs:
                p.start()
            followers = [threading.Thread(target=follower, args=(i,)) for i in range(len(subscriptions))]
            for f in followers:
                f.start()
            for p in pubs:
                p.join(60)
            stop.set()
            for f in followers:
                f.join(60)
            self.assertEqual(errors, [])
            self.assertGreater(len(acked), 1000)
            log = all_events(hub, "o/**")
            for i, patterns in enumerate(subscriptions):
                def matches(t):
                    return any(p == t or (p == "o/*" or p == "o/**") for p in patterns)
                expected = [e["id"] for e in log if matches(e["topic"])]
                with self.subTest(subscription=patterns):
                    self.assertEqual(len(received[i]), len(set(received[i])), "duplicates")
                    missing = sorted(set(expected) - set(received[i]), key=pos)
                    extra = sorted(set(received[i]) - set(expected), key=pos)
                    self.assertEqual((missing[:10], extra[:10]), ([], []))
                    self.assertEqual(received[i], expected)


class SeamTest(unittest.TestCase):
    def test_replay_to_live_seam_under_concurrent_publishing(self):
        with Hub() as hub:
            for _ in range(5):
                hub.publish([{"topic": "s", "data": "x" * 100} for _ in range(1000)])
            stop, acked, errors = threading.Event(), [], []
            pubs = [threading.Thread(target=hammer, args=(hub, ["s"], stop, acked, errors, 300))
                    for _ in range(2)]
            for p in pubs:
                p.start()
            time.sleep(0.05)
            sub = hub.subscribe(["s"], last_event_id=all_events(hub, "s")[0]["id"])
            for p in pubs:
                p.join(60)
            final = hub.publish({"topic": "s", "data": "end"})["id"]
            deadline = time.time() + 30
            while (not sub.data_events() or sub.data_events()[-1]["id"] != final) \
                    and time.time() < deadline:
                sub.pump(0.05)
            got = [e["id"] for e in sub.data_events()]
            expected = [e["id"] for e in all_events(hub, "s")][1:]
            self.assertEqual(len(got), len(set(got)))
            self.assertEqual(got, expected)
            sub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
