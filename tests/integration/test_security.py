"""Security against a real hub: JWT verification (an attack suite), authorization on every
endpoint, private and targeted events on every delivery path, token expiry on live streams, rate
limits, request timeouts, deep JSON and the secure defaults.

Tokens are made with PyJWT and cryptography (Debian's python3-jwt, python3-cryptography), an
implementation independent of the hub's; attack tokens are crafted by hand (base64url + hmac).
"""
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import tempfile
import time
import unittest
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

sys.path.insert(0, os.path.dirname(__file__))
from harness import Hub, SSEClient, free_port, raw_http  # noqa: E402

ISSUER = "https://auth.example"
AUDIENCE = "herald-test"
SECRET = "s" * 16 + "-0123456789abcdef-hs256-test-secret"  # 51 bytes
OTHER_SECRET = "o" * 48


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header, claims, key=None, digest=hashlib.sha256, signature=None):
    """A token put together by hand: any header, HMAC-signed with `key` (or a given signature)."""
    head = b64url(json.dumps(header, separators=(",", ":")))
    body = b64url(json.dumps(claims, separators=(",", ":")))
    signing_input = f"{head}.{body}"
    if signature is None:
        signature = b64url(hmac.new(key.encode() if isinstance(key, str) else key,
                                    signing_input.encode(), digest).digest()) if key else ""
    return f"{signing_input}.{signature}"


def claims(sub="alice", publish=None, subscribe=None, admin=False, roles=None, ttl=3600, **extra):
    now = int(time.time())
    c = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl,
         "herald": {"publish": publish or [], "subscribe": subscribe or []}}
    if admin:
        c["herald"]["admin"] = True
    if roles:
        c["herald"]["roles"] = roles
    c.update(extra)
    return c


def hs(c, secret=SECRET, kid=None):
    return jwt.encode(c, secret, algorithm="HS256", headers={"kid": kid} if kid else None)


class Keys:
    """An HS256 secret file, an RSA key pair and an EC P-256 key pair in a temporary folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="herald-keys-")
        self.secret_file = os.path.join(self.dir, "hs.secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa_pub = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.rsa_pub_file = os.path.join(self.dir, "rsa.pub.pem")
        with open(self.rsa_pub_file, "wb") as f:
            f.write(self.rsa_pub)
        self.ec_pub_file = os.path.join(self.dir, "ec.pub.pem")
        with open(self.ec_pub_file, "wb") as f:
            f.write(self.ec.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def auth_config(self, **extra):
        cfg = {"keys": [{"alg": "HS256", "secret_file": self.secret_file},
                        {"kid": "rsa1", "alg": "RS256", "public_key_file": self.rsa_pub_file},
                        {"kid": "ec1", "alg": "ES256", "public_key_file": self.ec_pub_file}],
               "issuer": ISSUER, "audience": AUDIENCE}
        cfg.update(extra)
        return cfg


KEYS = Keys()
ADMIN = None  # an admin token with every grant, set in setUpModule


def setUpModule():
    global ADMIN
    ADMIN = hs(claims("ops", publish=["**"], subscribe=["**"], admin=True))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def count_events(hub, topic):
    st, _, page = hub.get(f"/v1/events?topic={topic}&limit=1000", headers=bearer(ADMIN))
    assert st == 200, (st, page)
    return len(page["events"])


class TokenAttackTest(unittest.TestCase):
    """Each forged or unacceptable token is refused with 401 and its precise code, and nothing it
    tried to publish is published."""

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"auth": KEYS.auth_config(),
                              "cors": {"allowed_origins": ["http://app.example"]}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def attempt(self, token, expect_status, expect_code, headers=None, topic=None):
        topic = topic or f"attack/{uuid.uuid4().hex[:8]}"
        hdrs = dict(headers if headers is not None else bearer(token))
        st, h, doc = self.hub.request("POST", "/v1/publish", {"topic": topic, "data": {"x": 1}},
                                      headers=hdrs)
        self.assertEqual(st, expect_status, doc)
        self.assertEqual(doc["error"]["code"], expect_code, doc)
        if st == 401:
            self.assertTrue(h.get("www-authenticate", "").startswith("Bearer"), h)
        self.assertEqual(count_events(self.hub, topic), 0)
        return doc

    def good(self, **kw):
        return claims(publish=["**"], subscribe=["**"], **kw)

    def test_valid_tokens_of_every_configured_algorithm_publish(self):
        for token in (hs(self.good()),
                      jwt.encode(self.good(), KEYS.rsa, algorithm="RS256", headers={"kid": "rsa1"}),
                      jwt.encode(self.good(), KEYS.ec, algorithm="ES256", headers={"kid": "ec1"})):
            st, _, doc = self.hub.request("POST", "/v1/publish", {"topic": "ok/1", "data": 1},
                                          headers=bearer(token))
            self.assertEqual(st, 201, doc)

    def test_no_token(self):
        self.attempt(None, 401, "token_missing", headers={})

    def test_alg_none_in_any_spelling(self):
        for alg in ("none", "None", "NONE", "nOnE"):
            self.attempt(craft({"alg": alg, "typ": "JWT"}, self.good()), 401, "alg_not_allowed")
            # ... and with a signature part that is not empty
            self.attempt(craft({"alg": alg}, self.good(), signature=b64url(b"x" * 32)), 401,
                         "alg_not_allowed")

    def test_key_confusion_hs256_signed_with_the_rsa_public_key(self):
        # The classic: the verifier's RSA public PEM used as an HMAC secret.
        self.attempt(craft({"alg": "HS256", "kid": "rsa1"}, self.good(), key=KEYS.rsa_pub), 401,
                     "alg_not_allowed")
        self.attempt(craft({"alg": "HS256"}, self.good(), key=KEYS.rsa_pub), 401,
                     "bad_signature")

    def test_alg_and_key_mismatch(self):
        token = jwt.encode(self.good(), KEYS.rsa, algorithm="RS256", headers={"kid": "ec1"})
        self.attempt(token, 401, "alg_not_allowed")
        token = jwt.encode(self.good(), KEYS.rsa, algorithm="RS512")
        self.attempt(token, 401, "alg_not_allowed")

    def test_unknown_kid(self):
        self.attempt(hs(self.good(), kid="nope"), 401, "unknown_key")

    def test_bad_signature(self):
        self.attempt(hs(self.good(), secret=OTHER_SECRET), 401, "bad_signature")
        token = jwt.encode(self.good(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                           headers={"kid": "ec1"})
        self.attempt(token, 401, "bad_signature")

    def test_tampered_claims(self):
        token = hs(claims(publish=["mine/*"]))
        head, _, sig = token.split(".")
        forged = b64url(json.dumps(claims(publish=["**"])))
        self.attempt(f"{head}.{forged}.{sig}", 401, "bad_signature")

    def test_truncated_and_malformed_tokens(self):
        token = hs(self.good())
        self.attempt(".".join(token.split(".")[:2]), 401, "token_malformed")
        self.attempt(token + ".extra", 401, "token_malformed")
        self.attempt("not a token", 401, "token_malformed")
        self.attempt(b64url("{not json") + "." + token.split(".")[1] + ".abc", 401,
                     "token_malformed")
        self.attempt("\u00e9\u00e9." + token.split(".", 1)[1], 401, "token_malformed")

    def test_expired_and_not_yet_valid(self):
        self.attempt(hs(self.good(ttl=-120)), 401, "token_expired")  # past the 30 s leeway
        now = int(time.time())
        self.attempt(hs(self.good(nbf=now + 3600)), 401, "token_not_yet_valid")
        # Within the leeway both are accepted.
        st, _, _ = self.hub.request("POST", "/v1/publish", {"topic": "ok/leeway", "data": 1},
                                    headers=bearer(hs(self.good(ttl=-10, nbf=now + 10))))
        self.assertEqual(st, 201)

    def test_wrong_issuer_and_audience(self):
        self.attempt(hs(self.good(iss="https://evil.example")), 401, "wrong_issuer")
        self.attempt(hs(self.good(aud="someone-else")), 401, "wrong_audience")
        c = self.good()
        del c["aud"]
        self.attempt(hs(c), 401, "wrong_audience")
        st, _, _ = self.hub.request("POST", "/v1/publish", {"topic": "ok/aud", "data": 1},
                                    headers=bearer(hs(self.good(aud=["x", AUDIENCE]))))
        self.assertEqual(st, 201)

    def test_oversized_token(self):
        self.attempt(hs(self.good(pad="x" * 9000)), 401, "token_too_large")

    def test_malformed_claims(self):
        c = self.good()
        del c["sub"]
        self.attempt(hs(c), 401, "token_malformed")
        self.attempt(hs(self.good(exp="tomorrow")), 401, "token_malformed")
        c = self.good()
        c["herald"]["publish"] = ["bad//selector"]
        self.attempt(hs(c), 401, "token_malformed")
        self.attempt(craft({"alg": "HS256", "crit": ["exp"]}, self.good(), key=SECRET), 401,
                     "token_malformed")

    def test_other_schemes_are_refused(self):
        self.attempt(None, 401, "token_malformed", headers={"Authorization": "Basic YTpi"})

    def test_valid_token_for_another_topic(self):
        token = hs(claims(publish=["orders/*"]))
        self.attempt(token, 403, "forbidden", topic="invoices/1")
        # all or nothing: one forbidden topic refuses the whole array
        st, _, doc = self.hub.request("POST", "/v1/publish",
                                      [{"topic": "orders/1", "data": 1},
                                       {"topic": "invoices/1", "data": 2}],
                                      headers=bearer(token))
        self.assertEqual((st, doc["error"]["code"]), (403, "forbidden"))
        self.assertEqual(count_events(self.hub, "orders/1"), 0)

    def test_cookie_requests_that_change_state_need_an_allowed_origin(self):
        token = hs(self.good())
        cookie = {"Cookie": f"theme=dark; herald_token={token}"}
        self.attempt(None, 403, "csrf_origin", headers=cookie)
        self.attempt(None, 403, "csrf_origin", headers={**cookie, "Origin": "http://evil.example"})
        st, _, _ = self.hub.request("POST", "/v1/publish", {"topic": "ok/cookie", "data": 1},
                                    headers={**cookie, "Origin": "http://app.example"})
        self.assertEqual(st, 201)
        # Reads with a cookie need no Origin.
        st, _, _ = self.hub.get("/v1/events?topic=ok/cookie", headers=cookie)
        self.assertEqual(st, 200)

    def test_query_token_works_and_is_never_logged(self):
        token = hs(self.good())
        st, _, doc = self.hub.get(f"/v1/events?topic=ok/1&access_token={token}")
        self.assertEqual(st, 200, doc)
        self.assertNotIn(token.split(".")[2], self.hub.log_text())
        self.assertNotIn(SECRET, self.hub.log_text())

    def test_refusals_are_counted(self):
        before = self.hub.get("/v1/stats", headers=bearer(ADMIN))[2]
        self.attempt(hs(self.good(), secret=OTHER_SECRET), 401, "bad_signature")
        after = self.hub.get("/v1/stats", headers=bearer(ADMIN))[2]
        self.assertGreater(after["auth_failures"], before["auth_failures"])


class JwksTest(unittest.TestCase):
    def test_rsa_ec_and_oct_keys_from_a_jwks_document(self):
        from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm
        d = tempfile.mkdtemp(prefix="herald-jwks-")
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(KEYS.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(KEYS.ec.public_key()))
        oct_jwk = json.loads(HMACAlgorithm.to_jwk(SECRET.encode()))
        rsa_jwk.update(kid="j-rsa", alg="RS256", use="sig")
        ec_jwk.update(kid="j-ec", alg="ES256")
        oct_jwk.update(kid="j-hs", alg="HS256")
        path = os.path.join(d, "jwks.json")
        with open(path, "w") as f:
            json.dump({"keys": [rsa_jwk, ec_jwk, oct_jwk,
                                {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}, f)
        with Hub(config={"auth": {"jwks_file": path}}) as hub:
            c = claims(subscribe=["j/*"])
            for token in (jwt.encode(c, KEYS.rsa, algorithm="RS256", headers={"kid": "j-rsa"}),
                          jwt.encode(c, KEYS.ec, algorithm="ES256", headers={"kid": "j-ec"}),
                          jwt.encode(c, SECRET, algorithm="HS256", headers={"kid": "j-hs"})):
                st, _, doc = hub.get("/v1/events?topic=j/1", headers=bearer(token))
                self.assertEqual(st, 200, doc)
            # The RSA key is bound to RS256: the same key cannot verify an HS256 token
            forged = craft({"alg": "HS256", "kid": "j-rsa"}, c, key=KEYS.rsa_pub)
            st, _, doc = hub.get("/v1/events?topic=j/1", headers=bearer(forged))
            self.assertEqual((st, doc["error"]["code"]), (401, "alg_not_allowed"))


class PssAndEdDsaTest(unittest.TestCase):
    """PS256 and EdDSA (Ed25519), which Herald verifies through OpenSSL's EVP interface: from PEM
    files and from a JWKS document, each bound to its algorithm."""

    def test_ps256_and_eddsa_tokens(self):
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
        d = tempfile.mkdtemp(prefix="herald-pss-")
        ed = ed25519.Ed25519PrivateKey.generate()
        ed_pub = os.path.join(d, "ed.pub.pem")
        with open(ed_pub, "wb") as f:
            f.write(ed.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
        ed2 = ed25519.Ed25519PrivateKey.generate()
        okp = json.loads(OKPAlgorithm.to_jwk(ed2.public_key()))
        okp.update(kid="jwks-ed", alg="EdDSA")
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(KEYS.rsa.public_key()))
        rsa_jwk.update(kid="jwks-ps", alg="PS384")
        jwks = os.path.join(d, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [okp, rsa_jwk]}, f)
        auth = {"keys": [{"kid": "ps1", "alg": "PS256", "public_key_file": KEYS.rsa_pub_file},
                         {"kid": "ed1", "alg": "EdDSA", "public_key_file": ed_pub}],
                "jwks_file": jwks}
        with Hub(config={"auth": auth}) as hub:
            c = claims(subscribe=["p/*"])

            def status(token):
                st, _, doc = hub.get("/v1/events?topic=p/1", headers=bearer(token))
                return st, (doc or {}).get("error", {}).get("code")
            self.assertEqual(status(jwt.encode(c, KEYS.rsa, algorithm="PS256",
                                               headers={"kid": "ps1"})), (200, None))
            self.assertEqual(status(jwt.encode(c, ed, algorithm="EdDSA",
                                               headers={"kid": "ed1"})), (200, None))
            self.assertEqual(status(jwt.encode(c, ed2, algorithm="EdDSA",
                                               headers={"kid": "jwks-ed"})), (200, None))
            self.assertEqual(status(jwt.encode(c, KEYS.rsa, algorithm="PS384",
                                               headers={"kid": "jwks-ps"})), (200, None))
            # Bound to their algorithm: the same RSA key under RS256, another Ed25519 key, a
            # tampered claim.
            self.assertEqual(status(jwt.encode(c, KEYS.rsa, algorithm="RS256",
                                               headers={"kid": "ps1"})), (401, "alg_not_allowed"))
            self.assertEqual(status(jwt.encode(c, ed2, algorithm="EdDSA",
                                               headers={"kid": "ed1"})), (401, "bad_signature"))
            token = jwt.encode(c, ed, algorithm="EdDSA", headers={"kid": "ed1"})
            head, _, sig = token.split(".")
            forged = b64url(json.dumps(claims(subscribe=["**"])))
            self.assertEqual(status(f"{head}.{forged}.{sig}"), (401, "bad_signature"))
            token = jwt.encode(c, KEYS.rsa, algorithm="PS256", headers={"kid": "ps1"})
            head, body, _ = token.split(".")
            self.assertEqual(status(f"{head}.{body}.{b64url(b'x' * 256)}"),
                             (401, "bad_signature"))


class QueryTokenOffTest(unittest.TestCase):
    def test_query_token_when_disabled(self):
        with Hub(config={"auth": KEYS.auth_config(query_token=False)}) as hub:
            st, _, doc = hub.get(f"/v1/events?topic=a&access_token={ADMIN}")
            self.assertEqual((st, doc["error"]["code"]), (401, "query_token_disabled"))
            st, _, _ = hub.get("/v1/events?topic=a", headers=bearer(ADMIN))
            self.assertEqual(st, 200)


class AuthorizationMatrixTest(unittest.TestCase):
    """Every endpoint x (no token, a token without the grant, a token with it)."""

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(config={"auth": KEYS.auth_config()}).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def stream_status(self, path, token):
        headers = bearer(token) if token else {}
        c = SSEClient(self.hub.port, [], path=path, headers=headers)
        try:
            return c.status
        finally:
            c.close()

    def test_matrix(self):
        wrong = hs(claims("mallory", publish=["other/**"], subscribe=["other/**"]))
        right = hs(claims("alice", publish=["orders/**", "jobs/*"],
                          subscribe=["orders/**", "jobs/*"]))
        # A session of alice's, and a job, to act on.
        st, _, doc = self.hub.request("PUT", "/v1/sessions/alice-s", {"topics": ["orders/*"]},
                                      headers=bearer(right))
        self.assertEqual(st, 201, doc)
        ev = {"topic": "orders/1", "data": 1}
        job = {"state": "active", "progress": 50}
        cases = [
            ("POST", "/v1/publish", ev, 201),
            ("GET", "/v1/events?topic=orders/*", None, 200),
            ("PUT", "/v1/sessions/alice-s", {"topics": ["orders/*"]}, 200),
            ("GET", "/v1/sessions/alice-s", None, 200),
            ("POST", "/v1/sessions/alice-s/ack", {"through": None}, None),
            ("GET", "/v1/sessions/alice-s/dead-letters", None, 200),
            ("POST", "/v1/sessions/alice-s/dead-letters/redrive", {"all": True}, 200),
            ("PUT", "/v1/jobs/j1", job, 200),
            ("GET", "/v1/jobs/j1", None, 200),
            ("GET", "/v1/stats", None, None),
        ]
        for method, path, body, ok in cases:
            with self.subTest(method=method, path=path):
                st, _, doc = self.hub.request(method, path, body)
                self.assertEqual(st, 401, doc)
                self.assertEqual(doc["error"]["code"], "token_missing")
                st, _, doc = self.hub.request(method, path, body, headers=bearer(wrong))
                self.assertEqual(st, 403, doc)
                self.assertEqual(doc["error"]["code"], "forbidden")
                if path == "/v1/stats":
                    st, _, doc = self.hub.request(method, path, body, headers=bearer(ADMIN))
                    self.assertEqual(st, 200, doc)
                    continue
                st, _, doc = self.hub.request(method, path, body, headers=bearer(right))
                if ok is None:
                    self.assertIn(st, (200, 201, 400), doc)  # the grant passed; the body decides
                    self.assertNotIn(st, (401, 403))
                else:
                    self.assertEqual(st, ok, doc)
        for path in ("/v1/subscribe?topic=orders/1", "/v1/sessions/alice-s/events",
                     "/v1/jobs/j1/events"):
            with self.subTest(stream=path):
                self.assertEqual(self.stream_status(path, None), 401)
                self.assertEqual(self.stream_status(path, wrong), 403)
                self.assertEqual(self.stream_status(path, right), 200)
        # A pattern is granted only if everything it can match is.
        narrow = hs(claims("n", subscribe=["orders/*"]))
        st, _, _ = self.hub.get("/v1/events?topic=orders/**", headers=bearer(narrow))
        self.assertEqual(st, 403)
        st, _, _ = self.hub.get("/v1/events?topic=orders/*", headers=bearer(narrow))
        self.assertEqual(st, 200)
        # Another subject's session: neither readable, writable, streamable nor deletable.
        for method, path, body in (("GET", "/v1/sessions/alice-s", None),
                                   ("DELETE", "/v1/sessions/alice-s", None),
                                   ("PUT", "/v1/sessions/alice-s", {"topics": ["orders/*"]})):
            other = hs(claims("bob", subscribe=["orders/**"]))
            st, _, doc = self.hub.request(method, path, body, headers=bearer(other))
            self.assertEqual((st, doc["error"]["code"]), (403, "forbidden"))
        self.assertEqual(self.stream_status("/v1/sessions/alice-s/events",
                                            hs(claims("bob", subscribe=["orders/**"]))), 403)
        # ... but an admin may.
        st, _, _ = self.hub.get("/v1/sessions/alice-s", headers=bearer(ADMIN))
        self.assertEqual(st, 200)
        # Health stays open.
        self.assertEqual(self.hub.get("/healthz")[0], 200)
        self.assertEqual(self.hub.get("/readyz")[0], 200)


def visible(event, who):
    """Who may see an event: the model the hub must follow (docs/security.md)."""
    if not event.get("private") and not event.get("audience"):
        return True
    if who is None:
        return False
    if event.get("private") and not any(selector_covers(s, event["topic"])
                                        for s in who["subscribe"]):
        return False
    aud = event.get("audience")
    if not aud:
        return True
    return f"sub:{who['sub']}" in aud or any(f"role:{r}" in aud for r in who.get("roles", []))


def selector_covers(sel, topic):
    s, t = sel.split("/"), topic.split("/")
    if s[-1] == "**":
        return len(t) >= len(s) and all(a in ("*", b) for a, b in zip(s[:-1], t))
    return len(s) == len(t) and all(a in ("*", b) for a, b in zip(s, t))


class LeakTest(unittest.TestCase):
    """Public, private and targeted events interleaved on several topics; subscribers with
    different grants on every path get exactly what they may see."""

    def test_every_path_gets_exactly_what_it_may_see(self):
        auth = KEYS.auth_config(anonymous={"subscribe": ["news/**"]})
        # Each follows what it is granted: a pattern stream, and a topic set.
        people = {
            "alice": {"sub": "alice", "subscribe": ["news/**"], "roles": ["kitchen"],
                      "set": ["news/sport", "news/food/*"]},
            "bob": {"sub": "bob", "subscribe": ["news/**"], "roles": ["bar"],
                    "set": ["news/sport", "news/food/*"]},
            "carol": {"sub": "carol", "subscribe": ["news/*"], "roles": [],
                      "set": ["news/sport", "news/politics"]},
        }
        anon_set = ["news/sport", "news/food/*"]
        tokens = {k: hs(claims(v["sub"], subscribe=v["subscribe"], roles=v["roles"]))
                  for k, v in people.items()}
        data_dir = tempfile.mkdtemp(prefix="herald-leak-")
        hub = Hub(config={"auth": auth}, data_dir=data_dir).start()
        try:
            # Durable sessions, made before anything is published.
            for name in people:
                st, _, doc = hub.request("PUT", f"/v1/sessions/{name}-s",
                                         {"topics": people[name]["subscribe"],
                                          "ack_wait_seconds": 1, "max_deliveries": 2},
                                         headers=bearer(tokens[name]))
                self.assertEqual(st, 201, doc)
            streams = {name: [(hub.subscribe(p["subscribe"], headers=bearer(tokens[name])),
                               p["subscribe"]),
                              (hub.subscribe(p["set"], headers=bearer(tokens[name])), p["set"])]
                       for name, p in people.items()}
            streams["anon"] = [(hub.subscribe(["news/**"]), ["news/**"]),
                               (hub.subscribe(anon_set), anon_set)]
            for name, pair in streams.items():
                for stream, _ in pair:
                    self.assertEqual(stream.status, 200, name)
            publisher = hs(claims("pub", publish=["news/**"]))
            kinds = [{}, {"private": True}, {"audience": ["role:kitchen"]},
                     {"audience": ["sub:bob", "role:nobody"]},
                     {"private": True, "audience": ["sub:carol"]},
                     {"private": True, "audience": ["role:kitchen", "sub:bob"]}]
            topics = ["news/sport", "news/food/pie", "news/politics"]
            published = []
            for i in range(36):
                ev = {"topic": topics[i % 3], "data": {"n": i}, **kinds[(i // 3) % len(kinds)]}
                if i % 4 == 0:
                    ev["ack"] = True
                st, _, doc = hub.request("POST", "/v1/publish", ev, headers=bearer(publisher))
                self.assertEqual(st, 201, doc)
                published.append({**ev, "id": doc["id"]})

            def expected(who, patterns):
                return [e["id"] for e in published
                        if any(selector_covers(p, e["topic"]) for p in patterns)
                        and visible(e, who)]

            # Live streams, patterns and topic sets.
            for name, pair in streams.items():
                who = people.get(name)
                for stream, patterns in pair:
                    want = expected(who, patterns)
                    got = [e["id"] for e in stream.wait_events(len(want), timeout=10)]
                    stream.pump(0.3)
                    got = [e["id"] for e in stream.data_events()]
                    self.assertEqual(got, want, name)
                    stream.close()
            # GET /v1/events.
            for name, who in list(people.items()) + [("anon", None)]:
                headers = bearer(tokens[name]) if who else {}
                patterns = who["subscribe"] if who else ["news/**"]
                st, _, page = hub.get(f"/v1/events?topic={patterns[0]}&limit=1000",
                                      headers=headers)
                self.assertEqual(st, 200)
                self.assertEqual([e["id"] for e in page["events"]],
                                 expected(who, patterns), name)
            # Resume across kill -9: from the first event's id, each gets the rest it may see.
            hub.kill9()
            hub.start()
            first = published[0]["id"]
            for name, who in list(people.items()) + [("anon", None)]:
                headers = bearer(tokens[name]) if who else {}
                patterns = who["subscribe"] if who else ["news/**"]
                c = hub.subscribe(patterns, last_event_id=first, headers=headers)
                # `first` is the oldest event: everything else it may see comes after it.
                want = [i for i in expected(who, patterns) if i != first]
                c.wait_events(len(want), timeout=10)
                c.pump(0.3)
                self.assertEqual([e["id"] for e in c.data_events()], want, name)
                c.close()
            # Durable sessions: the offline queue, then redelivery of unacknowledged events.
            for name, who in people.items():
                want = expected(who, who["subscribe"])
                c = SSEClient(hub.port, [], path=f"/v1/sessions/{name}-s/events",
                              headers=bearer(tokens[name]))
                c.wait_events(len(want), timeout=10)
                # Past the ack waits: redelivered once, then dead-lettered.
                until = time.time() + 3.5
                while time.time() < until:
                    c.pump(0.1)
                ids = [e["id"] for e in c.data_events()]
                self.assertEqual(ids, want, name)
                redelivered = [json.loads(e["data"])["id"] for e in c.events
                               if e.get("event") == "herald.redelivery"]
                self.assertTrue(redelivered, name)
                self.assertTrue(set(redelivered) <= set(want), name)
                c.close()
                # Dead letters: the acknowledgement-required events it never acknowledged, and
                # nothing it may not see.
                st, _, page = hub.get(f"/v1/sessions/{name}-s/dead-letters",
                                      headers=bearer(tokens[name]))
                self.assertEqual(st, 200, page)
                dead = [d["id"] for d in page["dead_letters"]]
                want_ack = [e["id"] for e in published
                            if e.get("ack") and e["id"] in want]
                self.assertEqual(dead, want_ack, name)
        finally:
            hub.close()


class TokenExpiryTest(unittest.TestCase):
    def test_stream_ends_at_exp_and_resumes_with_a_fresh_token(self):
        with Hub(config={"auth": KEYS.auth_config(leeway_seconds=0),
                         "sse": {"retry_ms": 100}}) as hub:
            reader = lambda ttl: hs(claims("r", subscribe=["t/*"], ttl=ttl))  # noqa: E731
            pub = bearer(hs(claims("p", publish=["t/*"])))
            c = hub.subscribe(["t/1"], headers=bearer(reader(2)))
            self.assertEqual(c.status, 200)
            ids = [hub.request("POST", "/v1/publish", {"topic": "t/1", "data": i},
                               headers=pub)[2]["id"] for i in range(3)]
            c.wait_events(3)
            c.wait_closed(timeout=5)
            notices = [e for e in c.events if e.get("event") == "herald.token_expired"]
            self.assertEqual(len(notices), 1, c.events)
            self.assertNotIn("id", notices[0])
            missed = [hub.request("POST", "/v1/publish", {"topic": "t/1", "data": i},
                                  headers=pub)[2]["id"] for i in range(3, 5)]
            c2 = hub.subscribe(["t/1"], last_event_id=c.last_id(), headers=bearer(reader(60)))
            c2.wait_events(2)
            self.assertEqual([e["id"] for e in c2.data_events()], missed)
            self.assertEqual([e["id"] for e in c.data_events()], ids)
            c2.close()
            st, _, s = hub.get("/v1/stats", headers=bearer(ADMIN))
            self.assertEqual(s["token_expiries"], 1)


class RateLimitTest(unittest.TestCase):
    def test_publishers_over_budget_get_429_and_others_do_not(self):
        cfg = {"auth": KEYS.auth_config(),
               "rate": {"publish_requests_per_second": 5, "publish_requests_burst": 5,
                        "max_streams_per_principal": 2}}
        with Hub(config=cfg) as hub:
            alice = bearer(hs(claims("alice", publish=["t/*"], subscribe=["t/*"])))
            bob = bearer(hs(claims("bob", publish=["t/*"])))
            statuses = [hub.request("POST", "/v1/publish", {"topic": "t/a", "data": i},
                                    headers=alice) for i in range(8)]
            codes = [s for s, _, _ in statuses]
            self.assertEqual(codes[:5], [201] * 5)
            self.assertIn(429, codes[5:])
            st, h, doc = next(s for s in statuses if s[0] == 429)
            self.assertEqual(doc["error"]["code"], "rate_limited")
            self.assertGreaterEqual(int(h["retry-after"]), 1)
            self.assertEqual(hub.request("POST", "/v1/publish", {"topic": "t/b", "data": 1},
                                         headers=bob)[0], 201)
            # Concurrent streams per principal: the third is refused before any SSE byte.
            s1 = hub.subscribe(["t/a"], headers=alice)
            s2 = hub.subscribe(["t/a"], headers=alice)
            s3 = hub.subscribe(["t/a"], headers=alice)
            self.assertEqual((s1.status, s2.status, s3.status), (200, 200, 429))
            self.assertNotIn("text/event-stream", s3.headers.get("content-type", ""))
            s1.close(abrupt=True)
            deadline = time.time() + 5
            while True:  # the slot comes back when the stream closes
                s4 = hub.subscribe(["t/a"], headers=alice)
                if s4.status == 200 or time.time() > deadline:
                    break
                s4.close()
                time.sleep(0.05)
            self.assertEqual(s4.status, 200)
            for s in (s2, s3, s4):
                s.close()
            st, _, stats = hub.get("/v1/stats", headers=bearer(ADMIN))
            self.assertGreaterEqual(stats["rate_limited"], 2)

    def test_new_connections_per_address(self):
        cfg = {"rate": {"connections_per_second_per_ip": 2, "connections_burst": 3}}
        with Hub(config=cfg) as hub:
            time.sleep(1.6)  # the start-up readiness probes took tokens: let the bucket refill
            statuses = [raw_http(hub.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0]
                        for _ in range(6)]
            self.assertEqual(statuses[:3], [200] * 3)
            self.assertIn(429, statuses[3:])
            time.sleep(1.1)
            self.assertEqual(raw_http(hub.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0],
                             200)


class SlowClientTest(unittest.TestCase):
    def test_trickled_headers_are_closed_while_1000_streams_flow(self):
        with Hub(config={"limits": {"header_timeout_seconds": 1}}) as hub:
            streams = [hub.subscribe(["flow/1"]) for _ in range(1000)]
            slow = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
            slow.sendall(b"GET /healthz HTTP/1.1\r\n")
            started = time.time()
            closed_at = None
            ids = []
            for i in range(20):  # a header line every 0.2 s: never a whole head
                try:
                    slow.sendall(f"X-Slow-{i}: y\r\n".encode())
                    slow.settimeout(0.2)
                    if slow.recv(1) == b"":
                        closed_at = time.time()
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed_at = time.time()
                    break
                if i % 5 == 0:
                    ids.append(hub.publish({"topic": "flow/1", "data": i})["id"])
            self.assertIsNotNone(closed_at, "the trickling client was never closed")
            self.assertLess(closed_at - started, 3.0)
            for s in streams:
                s.wait_events(len(ids), timeout=10)
                self.assertEqual([e["id"] for e in s.data_events()], ids)
                s.close()
            self.assertGreaterEqual(hub.stats()["request_timeouts"], 1)

    def test_trickled_body_is_closed(self):
        with Hub(config={"limits": {"body_timeout_seconds": 1}}) as hub:
            s = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
            s.sendall(b"POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{")
            s.settimeout(4)
            started = time.time()
            self.assertEqual(s.recv(1024), b"")
            self.assertLess(time.time() - started, 3.0)
            self.assertEqual(hub.get("/healthz")[0], 200)


class DeepJsonTest(unittest.TestCase):
    def test_deep_nesting_is_refused_and_the_hub_stays_up(self):
        with Hub(config={"limits": {"max_body_bytes": 8 << 20}}) as hub:
            for depth in (100_000, 1_000_000):
                for opener, closer in (("[", "]"), ('{"a":', "}")):
                    body = '{"topic":"deep","data":' + opener * depth + "1" + closer * depth + "}"
                    st, _, doc = hub.request("POST", "/v1/publish", body.encode(),
                                             headers={"Content-Type": "application/json"})
                    self.assertEqual((st, doc["error"]["code"]), (400, "too_deep"))
            # Brackets inside strings do not count; 64 levels pass, 65 do not.
            ok = {"topic": "deep", "data": {"s": "[[[[" * 1000}}
            self.assertEqual(hub.request("POST", "/v1/publish", ok)[0], 201)
            nested = 1
            for _ in range(63):
                nested = [nested]
            self.assertEqual(hub.request("POST", "/v1/publish",
                                         {"topic": "deep", "data": nested})[0], 201)
            st, _, doc = hub.request("POST", "/v1/publish", {"topic": "deep", "data": [nested]})
            self.assertEqual((st, doc["error"]["code"]), (400, "too_deep"))
            for path, method in (("/v1/sessions/d", "PUT"), ("/v1/jobs/d", "PUT")):
                st, _, doc = hub.request(method, path, ('{"x":' + "[" * 70000 + "]" * 70000 + "}")
                                         .encode(), headers={"Content-Type": "application/json"})
                self.assertEqual((st, doc["error"]["code"]), (400, "too_deep"), path)
            self.assertEqual(hub.get("/healthz")[0], 200)
            self.assertEqual(hub.stats()["events_published"], 2)


class SecureDefaultsTest(unittest.TestCase):
    def start_failure(self, config, listen):
        hub = Hub(config=config)
        hub.start(expect_ready=False)
        try:
            hub.proc.wait(timeout=10)
            return hub.proc.returncode, hub.log_text()
        finally:
            hub.close()

    def test_development_hub_on_loopback_says_so(self):
        with Hub() as hub:
            hub.wait_for_log("event=development_hub", 5)
            self.assertEqual(hub.publish({"topic": "dev", "data": 1}) is not None, True)
            self.assertEqual(hub.get("/v1/stats")[0], 200)

    def test_network_address_without_keys_refuses_to_start(self):
        port = free_port()
        hub = Hub(port=port)
        hub.config = None
        import subprocess
        from harness import HERALD
        out = subprocess.run([HERALD, "serve", "--listen", f"0.0.0.0:{port}", "--data-dir",
                              os.path.join(hub.data_dir, "db")], capture_output=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"auth.keys", out.stdout + out.stderr)
        # With auth.anonymous set explicitly it starts (an open hub on purpose).
        cfg = os.path.join(hub.data_dir, "open.json")
        with open(cfg, "w") as f:
            json.dump({"auth": {"anonymous": {"subscribe": ["public/**"]}}}, f)
        p = subprocess.Popen([HERALD, "serve", "--config", cfg, "--listen", f"0.0.0.0:{port}",
                              "--data-dir", os.path.join(hub.data_dir, "db2")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 10
            status = None
            while time.time() < deadline and status is None:
                try:
                    status = raw_http(port, b"GET /v1/events?topic=public/x HTTP/1.1\r\nHost: x"
                                            b"\r\n\r\n")[0]
                except OSError:
                    time.sleep(0.05)
            self.assertEqual(status, 200)
            self.assertEqual(raw_http(port, b"GET /v1/events?topic=secret/x HTTP/1.1\r\nHost: x"
                                            b"\r\n\r\n")[0], 401)
        finally:
            p.terminate()
            p.wait(timeout=20)
            hub.close()

    def test_short_hs_secrets_and_bad_keys_refuse_to_start(self):
        import subprocess
        from harness import HERALD
        d = tempfile.mkdtemp(prefix="herald-badkeys-")
        bad_jwks = os.path.join(d, "bad-jwks.json")  # members of the wrong JSON type
        with open(bad_jwks, "w") as f:
            json.dump({"keys": [{"kty": 66666, "crv": "P-256", "alg": "ES256", "x": "AA",
                                 "y": "AA"}]}, f)
        for auth, needle in (({"keys": [{"alg": "HS256", "secret": "short"}]}, b"32 bytes"),
                             ({"jwks_file": bad_jwks}, b"'kty' must be RSA, EC, OKP or oct"),
                             ({"keys": [{"alg": "RS256", "public_key_file": KEYS.ec_pub_file}]},
                              b"RSA"),
                             ({"keys": [{"alg": "none", "secret": "x" * 40}]}, b"not supported"),
                             ({"keys": [{"alg": "HS256", "secret": "x" * 40},
                                        {"alg": "HS256", "secret": "y" * 40, "public_key_file":
                                         KEYS.rsa_pub_file}]}, b"secret")):
            cfg = os.path.join(d, "c.json")
            with open(cfg, "w") as f:
                json.dump({"auth": auth}, f)
            out = subprocess.run([HERALD, "serve", "--config", cfg, "--listen",
                                  f"127.0.0.1:{free_port()}", "--data-dir",
                                  os.path.join(d, "db")], capture_output=True, timeout=20)
            self.assertNotEqual(out.returncode, 0, auth)
            self.assertIn(needle, out.stdout + out.stderr, auth)

    def test_keys_reload_on_sighup(self):
        d = tempfile.mkdtemp(prefix="herald-rotate-")
        secret_file = os.path.join(d, "hs.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        with Hub(config={"auth": {"keys": [{"alg": "HS256", "secret_file": secret_file}]}}) as hub:
            old = bearer(hs(claims("a", subscribe=["x"])))
            new_secret = "n" * 40
            new = bearer(hs(claims("a", subscribe=["x"]), secret=new_secret))
            self.assertEqual(hub.get("/v1/events?topic=x", headers=old)[0], 200)
            self.assertEqual(hub.get("/v1/events?topic=x", headers=new)[0], 401)
            with open(secret_file, "w") as f:
                f.write(new_secret)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=keys_reloaded", 5)
            self.assertEqual(hub.get("/v1/events?topic=x", headers=old)[0], 401)
            self.assertEqual(hub.get("/v1/events?topic=x", headers=new)[0], 200)
            # A key set that does not load keeps the previous one.
            with open(secret_file, "w") as f:
                f.write("short")
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=keys_reload_failed", 5)
            self.assertEqual(hub.get("/v1/events?topic=x", headers=new)[0], 200)

    def test_a_jwks_document_with_members_of_the_wrong_type_is_refused_on_reload(self):
        # Found by fuzz/jwt.cpp: `"kty": 66666` (or `"crv": 1`) threw out of the loader, so a
        # SIGHUP with such a document ended the hub instead of keeping the previous keys.
        from jwt.algorithms import HMACAlgorithm
        d = tempfile.mkdtemp(prefix="herald-jwks-reload-")
        path = os.path.join(d, "jwks.json")
        oct_jwk = json.loads(HMACAlgorithm.to_jwk(SECRET.encode()))
        oct_jwk.update(kid="r-hs", alg="HS256")
        with open(path, "w") as f:
            json.dump({"keys": [oct_jwk]}, f)
        with Hub(config={"auth": {"jwks_file": path}}) as hub:
            token = bearer(jwt.encode(claims("a", subscribe=["x"]), SECRET, algorithm="HS256",
                                      headers={"kid": "r-hs"}))
            self.assertEqual(hub.get("/v1/events?topic=x", headers=token)[0], 200)
            for bad in ({"kty": 66666, "crv": "P-256", "alg": "ES256", "x": "AA", "y": "AA"},
                        {"kty": "EC", "crv": 1, "alg": "ES256", "x": "AA", "y": "AA"},
                        {"kty": ["oct"], "alg": "HS256", "k": "AA"}):
                with open(path, "w") as f:
                    json.dump({"keys": [oct_jwk, bad]}, f)
                lines = hub.log_text().count("event=keys_reload_failed")
                hub.proc.send_signal(signal.SIGHUP)
                deadline = time.time() + 5
                while hub.log_text().count("event=keys_reload_failed") == lines \
                        and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(hub.log_text().count("event=keys_reload_failed"), lines + 1, bad)
                self.assertIsNone(hub.proc.poll())
                self.assertEqual(hub.get("/v1/events?topic=x", headers=token)[0], 200)


class KeepAliveTokenTest(unittest.TestCase):
    """A connection reuses the token it verified before only for the same token string, under
    the same keys, until the token expires: every other token on it is verified afresh."""

    def test_one_connection_many_tokens(self):
        import http.client
        d = tempfile.mkdtemp(prefix="herald-keepalive-")
        secret_file = os.path.join(d, "hs.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        with Hub(config={"auth": {"keys": [{"alg": "HS256", "secret_file": secret_file}],
                                  "leeway_seconds": 0}}) as hub:
            conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
            self.addCleanup(conn.close)

            def publish(token, topic="k/1"):
                conn.request("POST", "/v1/publish", json.dumps({"topic": topic, "data": 1}),
                             {"Content-Type": "application/json", **bearer(token)})
                res = conn.getresponse()
                doc = json.loads(res.read())
                return res.status, doc.get("error", {}).get("code")

            good = hs(claims("a", publish=["k/*"], ttl=3))
            self.assertEqual(publish(good), (201, None))
            self.assertEqual(publish(good), (201, None))  # reused
            # Another token on the same connection is checked on its own: a forged one, one
            # without the grant, one signed with another key.
            forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
            self.assertEqual(publish(forged), (401, "bad_signature"))
            self.assertEqual(publish(hs(claims("a", publish=["other/*"]))), (403, "forbidden"))
            self.assertEqual(publish(hs(claims("a", publish=["k/*"]), secret="z" * 40)),
                             (401, "bad_signature"))
            # The grants are the token's own, whichever token came before.
            self.assertEqual(publish(good, topic="nope/1"), (403, "forbidden"))
            self.assertEqual(publish(good), (201, None))
            # Past its exp the same token is refused on the same connection (a whole second
            # past it: exp is in whole seconds).
            time.sleep(4.2)
            self.assertEqual(publish(good), (401, "token_expired"))
            # After a key rotation (SIGHUP), a token verified under the old keys is checked again.
            fresh = hs(claims("a", publish=["k/*"]))
            self.assertEqual(publish(fresh), (201, None))
            with open(secret_file, "w") as f:
                f.write("n" * 40)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=keys_reloaded", 5)
            self.assertEqual(publish(fresh), (401, "bad_signature"))
            self.assertEqual(publish(hs(claims("a", publish=["k/*"]), secret="n" * 40)),
                             (201, None))


class TokenCommandTest(unittest.TestCase):
    def test_herald_token_mints_what_the_hub_accepts(self):
        import subprocess
        from harness import HERALD
        with Hub(config={"auth": {"keys": [{"alg": "HS256", "secret_file": KEYS.secret_file}]}}) \
                as hub:
            out = subprocess.run([HERALD, "token", "--key-file", KEYS.secret_file, "--alg",
                                  "HS256", "--sub", "alice", "--publish", "orders/**",
                                  "--subscribe", "orders/*", "--ttl", "1h"],
                                 capture_output=True, timeout=10, check=True)
            token = out.stdout.decode().strip()
            decoded = jwt.decode(token, SECRET, algorithms=["HS256"])
            self.assertEqual(decoded["sub"], "alice")
            self.assertEqual(decoded["herald"]["publish"], ["orders/**"])
            self.assertAlmostEqual(decoded["exp"] - time.time(), 3600, delta=60)
            st, _, _ = hub.request("POST", "/v1/publish", {"topic": "orders/1/x", "data": 1},
                                   headers=bearer(token))
            self.assertEqual(st, 201)
            st, _, _ = hub.get("/v1/events?topic=orders/**", headers=bearer(token))
            self.assertEqual(st, 403)


def make_ca(dir_, name="hub"):
    """A test CA and a certificate for localhost/127.0.0.1 it signed, made with openssl."""
    import subprocess

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=dir_, check=True, capture_output=True)
    if not os.path.exists(os.path.join(dir_, "ca.pem")):
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Herald Test CA")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
        f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=localhost {name}")
    with open(os.path.join(dir_, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(dir_, "ca.pem"), os.path.join(dir_, f"{name}.pem"), \
        os.path.join(dir_, f"{name}.key")


class TlsTest(unittest.TestCase):
    """HTTPS only: curl with the CA file, the SDK (herald publish/subscribe) over https, plain
    HTTP and old TLS refused, and the certificate reloaded on SIGHUP."""

    def test_https_end_to_end(self):
        import subprocess
        from harness import HERALD
        d = tempfile.mkdtemp(prefix="herald-tls-")
        ca, cert, key = make_ca(d)
        cfg = {"auth": {"keys": [{"alg": "HS256", "secret_file": KEYS.secret_file}]},
               "tls": {"cert_file": cert, "key_file": key}}
        hub = Hub(config=cfg)
        hub.start(expect_ready=False)
        try:
            hub.wait_for_log("scheme=https", 10)
            url = f"https://localhost:{hub.port}"
            token = hs(claims("tls", publish=["tls/*"], subscribe=["tls/*"]))

            def curl(*args):
                return subprocess.run(["curl", "-sS", "--cacert", ca, *args],
                                      capture_output=True, timeout=20)
            out = curl(f"{url}/readyz")
            self.assertEqual(json.loads(out.stdout), {"status": "ready"}, out.stderr)
            out = curl("-X", "POST", f"{url}/v1/publish", "-H", "Content-Type: application/json",
                       "-H", f"Authorization: Bearer {token}", "-d",
                       '{"topic":"tls/a","data":{"n":1}}')
            first = json.loads(out.stdout)["id"]
            # The SDK, through the herald command line, over https with the CA file.
            env = dict(os.environ, HERALD_TOKEN=token)
            pub = subprocess.run([HERALD, "publish", "--url", url, "--ca-file", ca, "--topic",
                                  "tls/a", "--data", '{"n":2}'], capture_output=True, timeout=20,
                                 env=env)
            self.assertEqual(pub.returncode, 0, pub.stderr)
            second = json.loads(pub.stdout)["id"]
            sub = subprocess.run([HERALD, "subscribe", "--url", url, "--ca-file", ca, "--topic",
                                  "tls/a", "--last-event-id", first, "--max-events", "1"],
                                 capture_output=True, timeout=20, env=env)
            self.assertEqual(sub.returncode, 0, sub.stderr)
            self.assertEqual(json.loads(sub.stdout.splitlines()[0])["id"], second)
            # An SSE stream over TLS through curl.
            out = curl("-N", "--max-time", "2", "-H", f"Authorization: Bearer {token}",
                       f"{url}/v1/subscribe?topic=tls/a&last_event_id={first}")
            self.assertIn(f"id: {second}".encode(), out.stdout)
            # Without the CA the hub is not trusted; plain HTTP and TLS 1.1 are refused.
            self.assertNotEqual(subprocess.run(["curl", "-sS", f"{url}/healthz"],
                                               capture_output=True, timeout=20).returncode, 0)
            self.assertNotEqual(subprocess.run(["curl", "-sS", f"http://127.0.0.1:{hub.port}/healthz"],
                                               capture_output=True, timeout=20).returncode, 0)
            self.assertNotEqual(curl("--tls-max", "1.1", f"{url}/healthz").returncode, 0)
            # SIGHUP: a new certificate for new connections.
            def serial():
                out = subprocess.run(
                    ["openssl", "s_client", "-connect", f"127.0.0.1:{hub.port}", "-CAfile", ca],
                    input=b"", capture_output=True, timeout=20)
                return [l for l in out.stdout.decode().splitlines() if "subject=" in l][:1]
            before = serial()
            _, cert2, key2 = make_ca(d, "hub2")
            os.replace(cert2, cert)
            os.replace(key2, key)
            hub.proc.send_signal(signal.SIGHUP)
            hub.wait_for_log("event=tls_reloaded", 5)
            after = serial()
            self.assertIn("hub2", after[0])
            self.assertNotEqual(before, after)
            self.assertEqual(json.loads(curl(f"{url}/healthz").stdout), {"status": "ok"})
        finally:
            hub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
