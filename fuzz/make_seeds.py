#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ (seed-*.txt).

Seeds are small valid inputs and near misses; libFuzzer grows its own corpus from them (in the
build directory, see scripts/fuzz.sh). Inputs that once crashed a target are kept next to the
seeds as regress-*.txt and replayed by ctest (fuzz_corpus_<target>). Run from anywhere."""
import base64
import hashlib
import hmac
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = b"herald-fuzz-secret-of-at-least-32-bytes"  # the key of fuzz/jwt.cpp and http_request.cpp


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(claims: dict, header=None) -> str:
    head = header or {"alg": "HS256", "typ": "JWT", "kid": "hs"}
    signing = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(SECRET, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


USER = token({"sub": "alice", "exp": 4102444800,
              "herald": {"publish": ["orders/**"], "subscribe": ["orders/**", "chat/*"]},
              "mercure": {"publish": ["*"], "subscribe": ["https://example.com/books/{id}"]}})
EXPIRED = token({"sub": "bob", "exp": 1000, "herald": {"subscribe": ["**"]}})


def http(method, target, body=b"", headers=()):
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"] + list(headers)
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


JSON = "Content-Type: application/json"
FORM = "Content-Type: application/x-www-form-urlencoded"
BEARER = f"Authorization: Bearer {USER}"

SEEDS = {
    "request_target": [
        "/v1/subscribe?topic=orders%2F1&topic=chat/*&last_event_id=5f3c2a19-42",
        "/v1/events?topic=orders/**&after=5f3c2a19-1&limit=100",
        "/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&lastEventID=earliest",
        "/v1/jobs/import-1/events?x=a+b&y=%zz",
        "/a/../b//c?&&=&a==b",
        "http://127.0.0.1:8080/status?job=1",
        "https://[::1]:8443/x",
        "[::1]:8080",
        "0.0.0.0:0",
    ],
    "http_request": [
        http("GET", "/healthz"),
        http("GET", "/readyz"),
        http("GET", "/v1/stats", headers=["Accept-Encoding: gzip"]),
        http("GET", "/metrics"),
        http("HEAD", "/v1/client.js"),
        http("POST", "/v1/publish", '{"topic":"orders/1","data":{"n":1}}', [JSON]),
        http("POST", "/v1/publish",
             '[{"topic":"orders/1","type":"created","data":[1,2,{"a":null}],"idempotency_key":"k1"},'
             '{"topic":"chat/x","data":"hi","ack":true,"private":true,"audience":["alice"]}]',
             [JSON, BEARER]),
        http("POST", "/v1/publish", '{"topic":"a","data":1}', [JSON, "Connection: keep-alive"])
        + http("POST", "/v1/publish", '{"topic":"a","data":2}', [JSON])
        + http("GET", "/v1/events?topic=a&limit=2"),
        http("POST", "/v1/publish", '{"topic":"orders/1","data":{}}',
             [JSON, f"Cookie: herald_token={USER}", "Origin: https://app.example"]),
        http("POST", "/v1/publish", '{"topic":"x","data":1}', [JSON, f"Authorization: Bearer {EXPIRED}"]),
        b"POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"top\r\n1a\r\nic\":\"a/b\",\"data\":[true]}\r\n0\r\n\r\n",
        http("GET", "/v1/subscribe?topic=orders/**&last_event_id=1-1", headers=["Accept: text/event-stream"]),
        http("GET", f"/v1/subscribe?topic=chat/*&access_token={USER}"),
        http("GET", "/v1/events?topic=orders/1&after=00000001-5&limit=10"),
        http("PUT", "/v1/jobs/import-1", '{"state":"active","progress":50,"message":"half","data":{"rows":10}}', [JSON]),
        http("PUT", "/v1/jobs/import-1", '{"state":"completed","expected_version":2,"result":[1]}', [JSON]),
        http("GET", "/v1/jobs/import-1"),
        http("GET", "/v1/jobs/import-1/events"),
        http("PUT", "/v1/sessions/s1", '{"topics":["orders/**"],"ack_wait_seconds":5,"max_pending":10,"start":"earliest"}', [JSON]),
        http("GET", "/v1/sessions/s1"),
        http("POST", "/v1/sessions/s1/ack", '{"ids":["1-1"],"through":"1-2"}', [JSON]),
        http("GET", "/v1/sessions/s1/dead-letters?limit=5"),
        http("POST", "/v1/sessions/s1/dead-letters/redrive", '{"ids":["1-1"]}', [JSON]),
        http("GET", "/v1/sessions/s1/events"),
        http("DELETE", "/v1/sessions/s1"),
        http("GET", "/v1/ws", headers=["Upgrade: websocket", "Connection: Upgrade",
                                       "Sec-WebSocket-Version: 13",
                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                       "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]),
        http("POST", "/.well-known/mercure",
             "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=urn%3Ax&data=%7B%7D&id=u1&type=t&retry=100&private=on",
             [FORM, BEARER]),
        http("GET", "/.well-known/mercure?topic=https://example.com/books/{id}&lastEventID=earliest"),
        http("GET", "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fbooks%2F1"),
        http("OPTIONS", "/v1/publish", headers=["Origin: https://app.example",
                                                "Access-Control-Request-Method: POST"]),
        http("GET", "/dashboard", headers=["Accept: text/html"]),
        http("GET", "/dashboard/dashboard.js"),
        http("DELETE", "/v1/publish"),
        http("POST", "/v1/publish", "[[[[[[[[[[[[1]]]]]]]]]]]]", [JSON]),
        http("POST", "/v1/publish", '{"topic":"a","data":1}', ["Content-Type: text/plain"]),
        http("POST", "/v1/publish", '{"topic":"a","data":1}', [JSON, "Expect: 100-continue"]),
    ],
    "publish_body": [
        '{"topic":"orders/1","data":{"n":1}}',
        '{"topic":"orders/1","type":"created","data":[1,2.5,-3e10,"x\\u00e9",null,true],"idempotency_key":"k"}',
        '[{"topic":"a","data":1},{"topic":"b/c","data":{"x":{"y":[]}},"ack":true}]',
        '{"topic":"a","data":1,"private":true,"audience":["alice","bob"]}',
        '{"topic":"a","data":1,"topic":"b"}',
        '{"topic":"a/*","data":1}',
        '[]',
        '[[[[[[1]]]]]]',
    ],
    "event_id": ["5f3c2a19-42", "00000000-1", "ffffffff-18446744073709551615", "1-", "-1",
                 "5f3c2a19-042", "5F3C2A19-1", "earliest", "5f3c2a19-18446744073709551616"],
    "topic_pattern": ["orders/*\norders/1\norders/**", "a/**\na/b/c\n**", "*\nx\n*",
                      "a/b\na/b\na/b", "@mercure\n@mercure\n**", "a/**/b\na/x/b\na/**"],
    "jwt": [
        "\0" + USER,
        "\0" + EXPIRED,
        "\0eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "\0" + token({"sub": "x"}, {"alg": "EdDSA", "kid": "ed"}),
        "\1" + json.dumps({"alg": "HS256", "kid": "hs"}) + "\n" + json.dumps(
            {"sub": "alice", "exp": 4102444800, "nbf": 1, "iss": "i", "aud": ["a", "b"],
             "herald": {"publish": ["a/**"], "subscribe": ["*"], "admin": False, "roles": ["r"]},
             "mercure": {"publish": ["*"], "subscribe": ["urn:x"], "payload": {"u": 1}}}),
        "\1" + json.dumps({"alg": "HS256"}) + "\n" + json.dumps({"herald": {"publish": "x"}}),
        "\1" + json.dumps({"alg": "HS256", "crit": ["b64"]}) + "\n{}",
        "\2" + json.dumps({"keys": [{"kty": "oct", "k": b64url(SECRET), "alg": "HS256", "kid": "k"}]}),
        "\2" + json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}]}),
        "\2" + json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
                                     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}),
        "\2" + json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256",
                                     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                     "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}),
    ],
    "ws_frames": [],  # filled below (binary frames)
    "ws_message": [
        '{"op":"subscribe","req":"1","sub":"s","topics":["orders/**"],"last_event_id":"5f3c2a19-1"}',
        '{"op":"attach","sub":"s2","session":"s1"}',
        '{"op":"unsubscribe","sub":"s"}',
        '{"op":"publish","req":"p","topic":"a","data":{"x":1},"idempotency_key":"k"}',
        '{"op":"publish","events":[{"topic":"a","data":1},{"topic":"b","data":2}]}',
        '{"op":"ack","session":"s1","ids":["1-1"],"through":"1-2"}',
        '{"op":"auth","token":"' + USER + '"}',
        '{"op":"nope"}',
        '[1,2]',
    ],
    "mercure_form": [
        "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%22a%22%3A1%7D",
        "topic=a&topic=b&topic=c&data=x&id=urn%3Auuid%3A1&type=update&retry=3000&private=on",
        "topic=a&data=x&data=y",
        "topic=a&id=earliest",
        "topic=a&id=urn%3Aherald%3A1",
        "topic=a&type=a%0Ab",
        "data=x",
        "topic=&data=",
    ],
    "uri_template": [
        "https://example.com/books/{id}\nhttps://example.com/books/1\n1",
        "https://example.com/{+path}/x{?q,list*}\nhttps://example.com/a/b/x?q=1\na/b",
        "{/list*}{;keys*}{.x}{#y}{&id}\n/a/b;k=v.x#y&id=1\nv",
        "urn:{x:3}\nurn:abc\nabcdef",
        "*\nanything\n",
        "{\n{\n",
    ],
    "config_file": [
        open(os.path.join(HERE, "..", "config", "herald.json")).read(),
        '{"listen":"[::1]:0","storage":{"durability":"fsync"},"auth":{"keys":[{"kid":"a","alg":"HS256","secret":"0123456789abcdef0123456789abcdef"}],"anonymous":{"publish":[],"subscribe":["public/**"]}}}',
        '{"cluster":{"nats":{"servers":["nats://127.0.0.1:4222"]},"stream":"HERALD","replicas":3}}',
        '{"limits":{"max_body_bytes":0}}',
        '{"listen":"0.0.0.0:80"}',
        '{"unknown":1}',
    ],
}


def ws_frame(opcode, payload: bytes, fin=True, mask=b"\x01\x02\x03\x04", rsv1=False):
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def deflated(text: bytes) -> bytes:
    import zlib
    c = zlib.compressobj(wbits=-15)
    out = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # RFC 7692: the trailing 00 00 ff ff is removed


msg = b'{"op":"subscribe","sub":"s","topics":["a"]}'
SEEDS["ws_frames"] = [
    b"\x07" + ws_frame(1, msg),
    b"\x00" + ws_frame(1, msg[:10], fin=False) + ws_frame(9, b"ping") + ws_frame(0, msg[10:]),
    b"\x47" + ws_frame(1, deflated(msg), rsv1=True),
    b"\x03" + ws_frame(8, b"\x03\xe8bye"),
    b"\x10" + ws_frame(1, b"\xff\xfe"),
    b"\x3f" + ws_frame(2, b"x" * 300),
    b"\x01" + ws_frame(1, msg, mask=None),
    b"\x05" + ws_frame(10, b"") + ws_frame(1, b"x" * 70000),
]

for target, seeds in SEEDS.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for i, seed in enumerate(seeds):
        data = seed.encode() if isinstance(seed, str) else seed
        with open(os.path.join(d, f"seed-{i:02d}.txt"), "wb") as f:
            f.write(data)
print("seeds written:", {t: len(s) for t, s in SEEDS.items()})
