#!/usr/bin/env python3
"""What a watching dashboard costs the publish path: the same hub and publisher (one event per
request, pipelined on one keep-alive connection as in `ab.py publish`, 20,000 events/s offered over
100 topics, one subscriber; bench/sse_load.cpp),
with nobody watching, then with one dashboard stream open (GET /v1/admin/stats/stream at
dashboard.interval_ms 1000 and 250), in turn. While a dashboard watches, the journal counts every
committed batch's topics (one lock per batch) and the feed renders a snapshot per interval.
Reports the hub's CPU per event and the publish latency, medians over the rounds, and writes them
to bench/results/. On demand only, never in CI.

    python3 bench/dashboard_cost.py              # 3 rounds
    python3 bench/dashboard_cost.py --rounds 5
"""
import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402  (free_port, wait_port, cpu_seconds, machine)

RATE, TOPICS, SECONDS = 20000, 100, 8
CASES = [("nobody watching", None), ("dashboard, 1000 ms", 1000), ("dashboard, 250 ms", 250)]


def watch(port, stop, got):
    """Reads the dashboard stream until `stop` is set, counting its snapshots."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /v1/admin/stats/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got[0] += chunk.count(b"event: herald.stats")
    s.close()


def run(interval_ms):
    d = tempfile.mkdtemp(prefix="dashboard-cost-")
    port = ab.free_port()
    cfg = os.path.join(d, "herald.json")
    with open(cfg, "w") as f:
        json.dump({"log": {"level": "warn"},
                   "dashboard": {"interval_ms": interval_ms or 1000}}, f)
    p = subprocess.Popen([ab.HERALD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(d, "db"), "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop, got, watcher = threading.Event(), [0], None
    try:
        ab.wait_port(port)
        if interval_ms:
            watcher = threading.Thread(target=watch, args=(port, stop, got))
            watcher.start()
        _, load_args = ab.ladder(1, (RATE,), SECONDS, topics=TOPICS)[0]
        res = ab.load(["--port", str(port), "--topic", "dash"] + load_args, pid=p.pid)
        res["snapshots"] = got[0]
        res["complete"] = res["complete"] and (
            not interval_ms or got[0] >= SECONDS * 1000 // interval_ms // 2)
        return res
    finally:
        stop.set()
        if watcher:
            watcher.join()
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runs = {}
    for r in range(args.rounds):
        for name, interval in CASES:
            res = run(interval)
            runs.setdefault(name, []).append(res)
            print(json.dumps({"round": r + 1, "case": name, **res}), flush=True)
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    lines = [f"# The cost of a watching dashboard ({datetime.date.today()})", "",
             f"`python3 bench/dashboard_cost.py --rounds {args.rounds}`: {ab.machine()}", "",
             f"One event per request, pipelined on one keep-alive connection, {RATE:,} events/s "
             f"offered over {TOPICS} topics, one subscriber, {SECONDS} s per run, medians of the "
             "rounds, the cases in turn.", "",
             "| case | complete runs | published/s | hub CPU µs per event | publish p50 ms | "
             "publish p99 ms | delivery p99 ms | snapshots received |",
             "|---|---|---|---|---|---|---|---|"]
    for name, _ in CASES:
        xs = runs[name]
        lines.append(f"| {name} | {sum(x['complete'] for x in xs)}/{len(xs)} | "
                     f"{med(xs, 'published_per_s'):,.0f} | {med(xs, 'cpu_us_per_event'):.1f} | "
                     f"{med(xs, 'pub_p50_ms'):.2f} | {med(xs, 'pub_p99_ms'):.2f} | "
                     f"{med(xs, 'p99_ms'):.2f} | {med(xs, 'snapshots'):.0f} |")
    path = ab.write_result("dashboard-cost", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
