#!/usr/bin/env python3
"""What gzipped SSE streams (compression.streams) cost and save: the same hub configuration, the
same subscribers and publisher (one event per request, a realistic ~330-byte JSON order update per
event, bench/sse_load.cpp --payload json), with the subscribers asking for gzip and then not, in
turn. Reports the hub's CPU per delivery, the bytes on the wire per delivery and the latency, as
medians over the rounds, and writes them to bench/results/. On demand only, never in CI.

    python3 bench/gzip_cost.py              # 3 rounds, 1k subscribers at 50 and 100 events/s
    python3 bench/gzip_cost.py --rounds 5
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402  (free_port, wait_port, cpu_seconds, machine)

POINTS = [(1000, 50), (1000, 100)]  # subscribers, events per second
SECONDS = 10


def run(subs, rate, gzip):
    d = tempfile.mkdtemp(prefix="gzip-cost-")
    port = ab.free_port()
    cfg = os.path.join(d, "herald.json")
    with open(cfg, "w") as f:
        json.dump({"compression": {"streams": True}, "log": {"level": "warn"},
                   "limits": {"max_connections": 5000, "max_subscribers_per_topic": 5000}}, f)
    p = subprocess.Popen([ab.HERALD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(d, "db"), "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ab.wait_port(port)
        before = ab.cpu_seconds(p.pid)
        out = subprocess.run([ab.LOAD, "--port", str(port), "--topic", "gz", "--subs", str(subs),
                              "--events", str(rate * SECONDS), "--rate", str(rate), "--batch", "1",
                              "--payload", "json", "--gzip", "1" if gzip else "0"],
                             capture_output=True, text=True, timeout=180)
        cpu = ab.cpu_seconds(p.pid) - before
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res["hub_cpu_s"] = cpu
        res["cpu_us_per_delivery"] = 1e6 * cpu / max(res["delivered"], 1)
        res["wire_bytes_per_delivery"] = res["wire_bytes"] / max(res["delivered"], 1)
        res["complete"] = out.returncode == 0
        return res
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runs = {}
    for r in range(args.rounds):
        for subs, rate in POINTS:
            for gzip in (False, True):
                res = run(subs, rate, gzip)
                runs.setdefault((subs, rate, gzip), []).append(res)
                print(json.dumps({"round": r + 1, "subs": subs, "rate": rate, "gzip": gzip,
                                  **res}), flush=True)
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    lines = [f"# Gzipped SSE streams: cost and savings ({datetime.date.today()})", "",
             f"`python3 bench/gzip_cost.py --rounds {args.rounds}`: {ab.machine()}", "",
             "One event per request, a ~330-byte JSON order update per event "
             "(`sse_load --payload json`), 10 s per run, medians of the rounds. "
             "`gzip`: the subscribers send `Accept-Encoding: gzip` to a hub with "
             "`compression.streams` on (level 1, the default `compression.stream_level`).", "",
             "| subscribers x events/s | streams | complete runs | hub CPU µs per delivery | "
             "wire bytes per delivery | p50 ms | p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for subs, rate in POINTS:
        for gzip in (False, True):
            xs = runs[(subs, rate, gzip)]
            lines.append(f"| {subs} x {rate} | {'gzip' if gzip else 'plain'} | "
                         f"{sum(x['complete'] for x in xs)}/{len(xs)} | "
                         f"{med(xs, 'cpu_us_per_delivery'):.2f} | "
                         f"{med(xs, 'wire_bytes_per_delivery'):.1f} | {med(xs, 'p50_ms'):.2f} | "
                         f"{med(xs, 'p99_ms'):.2f} |")
    path = ab.write_result("gzip-streams", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
