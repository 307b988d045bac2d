"""Mercure's protocol (/.well-known/mercure) against a real hub: publish forms, every selector
kind, alternate topics, private updates and Mercure tokens (PyJWT, Debian's python3-jwt, signs
them: an implementation independent of the hub's), multi-line data, publisher ids as
Last-Event-ID across kill -9, `earliest`, retention, and the subscriptions API with its events.
"""
import json
import os
import sys
import time
import unittest
from urllib.parse import quote, urlencode

import jwt

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, SSEClient  # noqa: E402

SECRET = "m" * 16 + "-0123456789abcdef-mercure-secret"
WK = "/.well-known/mercure"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token(publish=None, subscribe=None, payload=None, exp=None, **extra):
    """A token as Mercure's own tools mint them: a `mercure` claim, no `sub`."""
    claim = {}
    if publish is not None:
        claim["publish"] = publish
    if subscribe is not None:
        claim["subscribe"] = subscribe
    if payload is not None:
        claim["payload"] = payload
    c = {"mercure": claim}
    if exp is not None:
        c["exp"] = exp
    c.update(extra)
    return jwt.encode(c, SECRET, algorithm="HS256")


def keyed_config(**mercure):
    return {"auth": {"keys": [{"alg": "HS256", "secret": SECRET}], "leeway_seconds": 0},
            "mercure": mercure}


def publish(hub, fields, headers=None, expect=200):
    body = urlencode(fields, doseq=True)
    status, h, doc = hub.request("POST", WK, body, dict(FORM, **(headers or {})))
    assert status == expect, (status, doc)
    if status == 200:
        assert h["content-type"].startswith("text/plain"), h
        return doc.decode() if isinstance(doc, bytes) else str(doc)
    return doc


def subscribe(hub, selectors, last_event_id=None, query=None, headers=None):
    q = "&".join("topic=" + quote(s, safe="") for s in selectors)
    for k, v in (query or {}).items():
        q += "&" + quote(k, safe="") + "=" + quote(v, safe="")
    return SSEClient(hub.port, [], last_event_id=last_event_id, headers=headers,
                     path=f"{WK}?{q}")


def datas(client, n, timeout=10):
    return [e.get("data") for e in client.wait_events(n, timeout)]


class OpenHub(unittest.TestCase):
    """A development hub (no keys): everything public works without tokens."""

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"retention": {"max_events_per_topic": 50}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def test_every_selector_kind_and_alternate_topics(self):
        hub = self.hub
        base = f"https://example.com/{time.time_ns()}"
        exact = subscribe(hub, [f"{base}/books/1"])
        tpl = subscribe(hub, [f"{base}/books/{{id}}"])
        urn = subscribe(hub, [f"urn:isbn:{base}"])
        several = subscribe(hub, [f"{base}/authors/7", "plain-name-" + base])
        star = subscribe(hub, ["*"])
        for c in (exact, tpl, urn, several, star):
            self.assertEqual(c.status, 200, c.body)
            self.assertTrue(c.headers["last-event-id"].startswith("urn:herald:"), c.headers)
        publish(hub, {"topic": f"{base}/books/1", "data": "b1"})
        publish(hub, {"topic": f"{base}/books/2", "data": "b2"})
        publish(hub, {"topic": f"{base}/books/2/reviews", "data": "r"})
        publish(hub, {"topic": f"urn:isbn:{base}", "data": "isbn"})
        publish(hub, {"topic": "plain-name-" + base, "data": "plain"})
        # Canonical topic nobody follows; the alternate is an author.
        publish(hub, {"topic": [f"{base}/nobody", f"{base}/authors/7"], "data": "alt"})
        self.assertEqual(datas(exact, 1), ["b1"])
        self.assertEqual(datas(tpl, 2), ["b1", "b2"])
        self.assertEqual(datas(urn, 1), ["isbn"])
        self.assertEqual(datas(several, 2), ["plain", "alt"])
        self.assertEqual(datas(star, 6), ["b1", "b2", "r", "isbn", "plain", "alt"])
        time.sleep(0.3)
        self.assertEqual(hub.stats()["mercure_streams"], 5)
        for c, n in ((exact, 1), (tpl, 2), (urn, 1), (several, 2), (star, 6)):
            c.pump()
            self.assertEqual(len(c.data_events()), n, c.events)
            c.close()
        # Closed streams leave nothing behind: no stream, no connection actor.
        hub.wait_stats(lambda s: s["mercure_streams"] == 0 and s["connections"] == 0
                       and s["connection_actors"] == 0)

    def test_multi_line_data_ids_types_and_retry(self):
        hub = self.hub
        topic = f"urn:lines:{time.time_ns()}"
        c = subscribe(hub, [topic])
        data = "first\n  indented\n\n\ttab\r\nafter crlf\n"
        uid = publish(hub, {"topic": topic, "data": data, "id": f"custom-{topic}",
                            "type": "book.updated", "retry": "3500"})
        self.assertEqual(uid, f"custom-{topic}")
        hub_id = publish(hub, {"topic": topic})  # no data at all
        self.assertTrue(hub_id.startswith("urn:herald:"), hub_id)
        got = c.wait_events(2)
        self.assertEqual(got[0]["id"], f"custom-{topic}")
        self.assertEqual(got[0]["event"], "book.updated")
        self.assertEqual(got[0]["retry"], "3500")
        # EventSource joins data lines with LF: CRLF becomes LF, everything else is kept.
        self.assertEqual(got[0]["data"], data.replace("\r\n", "\n"))
        self.assertEqual(got[1]["id"], hub_id)
        self.assertEqual(got[1]["data"], "")
        c.close()

    def test_bad_publishes_are_refused_and_publish_nothing(self):
        hub = self.hub
        head = hub.stats()["log_head"]
        cases = [
            ({"data": "x"}, FORM, 400, "invalid_topic"),
            ({"topic": "t", "id": "a\nb"}, FORM, 400, "invalid_id"),
            ({"topic": "t", "id": "a\rb"}, FORM, 400, "invalid_id"),
            ({"topic": "t", "id": "a\0b"}, FORM, 400, "invalid_id"),
            ({"topic": "t", "id": "earliest"}, FORM, 400, "invalid_id"),
            ({"topic": "t", "id": "urn:herald:1-1"}, FORM, 400, "invalid_id"),
            ({"topic": "t", "type": "a\nb"}, FORM, 400, "invalid_type"),
            ({"topic": "t", "retry": "soon"}, FORM, 400, "invalid_retry"),
            ({"topic": "t", "data": ["1", "2"]}, FORM, 400, "duplicate_field"),
            ({"topic": "t", "colour": "red"}, FORM, 400, "unknown_field"),
            ({"topic": "t"}, {"Content-Type": "application/json"}, 415, "unsupported_media_type"),
        ]
        for fields, headers, status, code in cases:
            body = urlencode(fields, doseq=True)
            s, _, doc = hub.request("POST", WK, body, headers)
            self.assertEqual((s, doc["error"]["code"]), (status, code), fields)
        s, _, doc = hub.request("POST", WK, b"topic=t&data=%FF%FE", FORM)
        self.assertEqual((s, doc["error"]["code"]), (400, "invalid_data"))
        s, _, doc = hub.request("GET", WK)
        self.assertEqual((s, doc["error"]["code"]), (400, "invalid_topic"))
        many = quote("".join("{v%d}" % i for i in range(17)), safe="")
        s, _, doc = hub.request("GET", WK + "?topic=" + many)
        self.assertEqual((s, doc["error"]["code"]), (400, "invalid_topic"))
        s, _, doc = hub.request("GET", WK + "?topic=a&since=1")
        self.assertEqual((s, doc["error"]["code"]), (400, "unknown_parameter"))
        self.assertEqual(hub.stats()["log_head"], head)

    def test_mercure_updates_never_reach_herald_clients(self):
        hub = self.hub
        v1 = hub.subscribe(["**"])
        publish(hub, {"topic": "anything", "data": "m"})
        hub.publish({"topic": "after/mercure", "data": 1})
        got = v1.wait_events(1)
        self.assertEqual(got[0]["data"], "1")
        s, _, page = hub.get("/v1/events?topic=**&limit=1000")
        self.assertEqual(s, 200)
        self.assertNotIn("anything", json.dumps(page))
        v1.close()

    def test_get_root_answers(self):
        s, _, _ = self.hub.get("/")
        self.assertEqual(s, 404)


class Reconnection(unittest.TestCase):
    def test_publisher_ids_earliest_and_the_header_survive_kill_9(self):
        with Hub(config={"retention": {"max_events_per_topic": 3}}) as hub:
            topic = "https://example.com/feed"
            c = subscribe(hub, [topic])
            cursor = c.headers["last-event-id"]
            for i in range(1, 5):
                publish(hub, {"topic": topic, "data": f"d{i}", "id": f"feed-{i}"})
            # Retention keeps 3: if it deleted feed-1 before this stream's first read of the log,
            # the stream starts with a gap notice instead. Either way it ends with feed-4, in order.
            deadline = time.time() + 10
            while not c.data_events() or c.data_events()[-1]["id"] != "feed-4":
                self.assertLess(time.time(), deadline, c.events)
                c.pump(0.05)
            ids = [e["id"] for e in c.data_events()]
            self.assertIn(ids, (["feed-1", "feed-2", "feed-3", "feed-4"],
                                ["feed-2", "feed-3", "feed-4"]))
            if len(ids) == 3:
                self.assertEqual(len([e for e in c.events if e.get("event") == "herald.gap"]), 1)
            c.close()
            # Retention runs after the commit that passes the limit: wait until it has deleted
            # feed-1 (what `earliest` replays shows it) before killing the hub.
            deadline = time.time() + 10
            while True:
                e = subscribe(hub, [topic], last_event_id="earliest")
                first = e.wait_events(1)[0]["id"]
                e.close()
                if first == "feed-2":
                    break
                self.assertLess(time.time(), deadline, "retention never deleted feed-1")
                time.sleep(0.05)
            hub.kill9()
            hub.start()
            # The header, the lastEventID parameter and the older Last-Event-ID parameter.
            for kw in ({"last_event_id": "feed-2"}, {"query": {"lastEventID": "feed-2"}},
                       {"query": {"Last-Event-ID": "feed-2"}}):
                r = subscribe(hub, [topic], **kw)
                self.assertEqual(datas(r, 2), ["d3", "d4"], kw)
                r.close()
            # The cursor the first response named: everything published after it that is
            # still retained (retention keeps 3 of the topic's 4), announced as a gap first.
            r = subscribe(hub, [topic], last_event_id=cursor)
            self.assertEqual(datas(r, 3), ["d2", "d3", "d4"])
            self.assertEqual(len(r.wait_events(1, kind="herald.gap")), 1)
            r.close()
            r = subscribe(hub, [topic], last_event_id="earliest")
            self.assertEqual(datas(r, 3), ["d2", "d3", "d4"])
            r.close()
            # feed-1 was deleted by retention (and its id with it): from now on, and said so.
            r = subscribe(hub, [topic], last_event_id="feed-1")
            gap = r.wait_events(1, kind="herald.gap")
            self.assertEqual(json.loads(gap[0]["data"])["reason"], "unknown_id")
            publish(hub, {"topic": topic, "data": "d5"})
            self.assertEqual(datas(r, 1), ["d5"])
            r.close()


class Tokens(unittest.TestCase):
    def test_private_updates_and_token_places(self):
        with Hub(config=keyed_config(anonymous=True, publish_origins=["http://app.example"])) as hub:
            books = "https://example.com/books/{id}"
            pub = token(publish=["https://example.com/books/{id}"])
            reader = token(subscribe=[books])
            stranger = token(subscribe=["https://example.com/authors/{id}"])
            anon = subscribe(hub, ["*"])
            by_header = subscribe(hub, [books], headers={"Authorization": "Bearer " + reader})
            by_query = subscribe(hub, [books], query={"authorization": reader})
            by_cookie = subscribe(hub, [books], headers={"Cookie": "mercureAuthorization=" + reader})
            other = subscribe(hub, [books], headers={"Authorization": "Bearer " + stranger})
            auth = {"Authorization": "Bearer " + pub}
            publish(hub, {"topic": "https://example.com/books/1", "data": "secret", "private": "on"},
                        auth)
            publish(hub, {"topic": "https://example.com/books/2", "data": "public"}, auth)
            for c in (by_header, by_query, by_cookie):
                self.assertEqual(datas(c, 2), ["secret", "public"])
            self.assertEqual(datas(anon, 1), ["public"])
            self.assertEqual(datas(other, 1), ["public"])
            time.sleep(0.3)
            for c in (anon, other):
                c.pump()
                self.assertEqual(len(c.data_events()), 1, c.events)
            for c in (anon, by_header, by_query, by_cookie, other):
                c.close()
            # Publishing: no token 401, a token for other topics 403, and every topic must be
            # covered (an alternate too).
            doc = publish(hub, {"topic": "https://example.com/books/3"}, expect=401)
            self.assertEqual(doc["error"]["code"], "token_missing")
            doc = publish(hub, {"topic": "https://example.com/books/3"},
                          {"Authorization": "Bearer " + reader}, expect=403)
            publish(hub, {"topic": ["https://example.com/books/3", "https://example.com/x"]},
                    auth, expect=403)
            bad = jwt.encode({"mercure": {"publish": ["*"]}}, "x" * 40, algorithm="HS256")
            publish(hub, {"topic": "t"}, {"Authorization": "Bearer " + bad}, expect=401)
            # A publish authenticated by cookie needs an Origin in mercure.publish_origins.
            cookie = {"Cookie": "mercureAuthorization=" + pub}
            doc = publish(hub, {"topic": "https://example.com/books/4"}, cookie, expect=403)
            self.assertEqual(doc["error"]["code"], "csrf_origin")
            publish(hub, {"topic": "https://example.com/books/4"},
                    dict(cookie, Origin="http://app.example"))
            # Mercure tokens grant nothing on /v1.
            s, _, _ = hub.request("POST", "/v1/publish", {"topic": "a", "data": 1}, auth)
            self.assertEqual(s, 403)

    def test_anonymous_subscribers_need_mercure_anonymous(self):
        with Hub(config=keyed_config()) as hub:
            c = subscribe(hub, ["*"])
            self.assertEqual(c.status, 401)
            self.assertEqual(json.loads(c.body)["error"]["code"], "token_missing")
            c.close()
            c = subscribe(hub, ["*"], headers={"Authorization": "Bearer " + token(subscribe=[])})
            self.assertEqual(c.status, 200)  # a token without exp is accepted
            c.close()

    def test_exp_ends_the_stream(self):
        with Hub(config=keyed_config()) as hub:
            c = subscribe(hub, ["*"], headers={
                "Authorization": "Bearer " + token(subscribe=["*"], exp=int(time.time()) + 2)})
            self.assertEqual(c.status, 200)
            self.assertEqual(len(c.wait_events(1, timeout=8, kind="herald.token_expired")), 1)
            self.assertTrue(c.wait_closed(5))
            c.close()


class Subscriptions(unittest.TestCase):
    def test_subscription_events_and_the_api(self):
        with Hub(config=keyed_config(subscriptions=True)) as hub:
            watch_tpl = "/.well-known/mercure/subscriptions{/topic}{/subscriber}"
            admin = token(subscribe=[watch_tpl])
            watcher = subscribe(hub, [watch_tpl], headers={"Authorization": "Bearer " + admin})
            user = token(subscribe=["https://example.com/books/{id}"],
                         payload={"user": "https://example.com/users/1"})
            sub = subscribe(hub, ["https://example.com/books/{id}", "urn:chat"],
                            headers={"Authorization": "Bearer " + user})
            # The watcher's own subscription comes first (it started before the user's).
            events = [json.loads(d) for d in datas(watcher, 3)]
            self.assertEqual(events[0]["topic"], watch_tpl)
            got = events[1:]
            self.assertEqual(sorted(g["topic"] for g in got),
                             ["https://example.com/books/{id}", "urn:chat"])
            for g in got:
                self.assertEqual(g["type"], "Subscription")
                self.assertTrue(g["active"])
                self.assertEqual(g["payload"], {"user": "https://example.com/users/1"})
                self.assertTrue(g["subscriber"].startswith("urn:uuid:"))
                self.assertTrue(g["id"].startswith("/.well-known/mercure/subscriptions/"))
            auth = {"Authorization": "Bearer " + admin}
            s, h, doc = hub.get(WK + "/subscriptions", auth)
            self.assertEqual(s, 200, doc)
            self.assertTrue(h["content-type"].startswith("application/ld+json"))
            self.assertEqual(doc["type"], "Subscriptions")
            self.assertTrue(doc["lastEventID"].startswith("urn:herald:"))
            mine = [x for x in doc["subscriptions"] if x["subscriber"] == got[0]["subscriber"]]
            self.assertEqual(len(mine), 2)
            # The watcher itself is listed too (its selector is the template).
            self.assertEqual(len(doc["subscriptions"]), 3)
            s, _, doc = hub.get(WK + "/subscriptions/" + quote("urn:chat", safe=""), auth)
            self.assertEqual((s, len(doc["subscriptions"])), (200, 1))
            one = doc["subscriptions"][0]
            s, _, doc = hub.get(one["id"], auth)
            self.assertEqual((s, doc["subscriber"], doc["topic"]), (200, one["subscriber"], "urn:chat"))
            s, _, _ = hub.get(WK + "/subscriptions/urn%3Achat/urn%3Auuid%3Anobody", auth)
            self.assertEqual(s, 404)
            s, _, _ = hub.get(WK + "/subscriptions", {"Authorization": "Bearer " + user})
            self.assertEqual(s, 403)
            s, _, _ = hub.get(WK + "/subscriptions")
            self.assertEqual(s, 401)
            # The subscriber leaves: its subscriptions go, with inactive events.
            sub.close()
            gone = [json.loads(d) for d in datas(watcher, 5)[3:]]
            self.assertEqual([g["active"] for g in gone], [False, False])
            s, _, doc = hub.get(WK + "/subscriptions", auth)
            self.assertEqual(len(doc["subscriptions"]), 1)
            watcher.close()

    def test_the_api_is_off_by_default(self):
        with Hub() as hub:
            s, _, doc = hub.get(WK + "/subscriptions")
            self.assertEqual((s, doc["error"]["code"]), (404, "not_found"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
