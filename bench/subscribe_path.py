#!/usr/bin/env python3
"""The subscribe path: time from connect to a stream's response head, one stream after another,
for a topic stream (/v1/subscribe on two patterns) and a durable session's stream (a session on
the same two patterns). Runs each given herald binary in turn, for several rounds, each with a
fresh data dir on a free loopback port. On demand only, never in CI.

    python3 bench/subscribe_path.py build/herald /tmp/old/herald --streams 400 --rounds 3
"""
import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def head_time_ms(port, target):
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError(f"{target}: closed before the response head")
            buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{target}: {buf[:80]!r}")
    return (time.perf_counter() - t0) * 1000


def run(binary, streams):
    d = tempfile.mkdtemp(prefix="subscribe-path-")
    port = free_port()
    p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          d + "/db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions/bench", method="PUT",
                                     data=json.dumps({"topics": ["a", "b/*"]}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        out = {}
        for name, target in (("topic stream", "/v1/subscribe?topic=a&topic=b/*"),
                             ("session stream", "/v1/sessions/bench/events")):
            times = sorted(head_time_ms(port, target) for _ in range(streams))
            out[name] = (statistics.median(times), times[int(len(times) * 0.99)])
        return out
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--streams", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    for rnd in range(a.rounds):
        for b in a.binaries:
            r = run(b, a.streams)
            print(f"round {rnd + 1} {b}: " + ", ".join(
                f"{k} p50 {v[0]:.3f} ms p99 {v[1]:.3f} ms" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
