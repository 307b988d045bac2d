#!/usr/bin/env python3
"""Cluster mode against local mode, in one run: the same herald binary on its embedded log, and
as a cluster node on a 3-server NATS JetStream cluster (scripts/nats-cluster.sh; stream replicas
3, file storage), all on this machine. Measures, per case and round (cases alternate):

- single events: one event per request, pipelined on one keep-alive connection (as
  `ab.py publish`), offered 100,000/s and 20,000/s: published/s, publish p50/p99, hub CPU per
  event, and the NATS servers' CPU per event (the cost of the stream);
- arrays: 4 connections publishing arrays of 500 (bench/pub_load.cpp): events/s and latency;
- fan-out: 1,000 SSE subscribers on the node, 1,000 events/s in single-event requests: delivery
  p99 and hub CPU per event, which cluster mode should leave unchanged.

Writes bench/results/<date>-cluster.md (ab.write_result). On demand only, never in CI.

    python3 bench/cluster.py              # 2 rounds
    python3 bench/cluster.py --rounds 3
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402  (HERALD, PUB, free_port, wait_port, ladder, load, cpu_seconds, machine)

SCRIPT = os.path.join(ab.ROOT, "scripts", "nats-cluster.sh")
SINGLE = ab.ladder(1, (100000, 20000), 8)
FANOUT = ab.ladder(1000, (1000,), 3)


class Nats:
    """A 3-server JetStream cluster, from scripts/nats-cluster.sh (no hubs)."""

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if k != "HERALD_BIN"}
        self.proc = subprocess.Popen(["bash", SCRIPT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.urls, self.pids = [], []
        for line in self.proc.stdout:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "client" in fields:
                self.urls.append(fields["client"])
                self.pids.append(int(fields["pid"]))
            if line.startswith("ready"):
                break
        if len(self.urls) != 3:
            raise SystemExit("the NATS cluster did not start")

    def cpu(self):
        return sum(ab.cpu_seconds(p) for p in self.pids)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(60)


def start_hub(d, nats):
    port = ab.free_port()
    env = dict(os.environ, HERALD_LOG_LEVEL="warn")
    if nats:
        # A stream of its own per run: every run starts from an empty log, as local runs do.
        env.update(HERALD_CLUSTER_NATS_SERVERS=",".join(nats.urls),
                   HERALD_CLUSTER_STREAM="B" + uuid.uuid4().hex[:12],
                   HERALD_CLUSTER_NODE_NAME="bench")
    p = subprocess.Popen([ab.HERALD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(d, "db")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    ab.wait_port(port)
    deadline = time.time() + 30
    while nats and not ab.stats(port).get("cluster", {}).get("caught_up"):
        if time.time() > deadline:
            raise SystemExit("the hub did not become ready")
        time.sleep(0.1)
    return p, port


def measure(nats, what):
    """One case's figures: a fresh hub (and stream) per point."""
    out = {}
    points = ([(label, args, "sse") for label, args in SINGLE]
              + [("arrays of 500, 4 connections", None, "arrays")]
              + [(label, args, "sse") for label, args in FANOUT])
    for label, args, kind in points:
        d = tempfile.mkdtemp(prefix="cluster-bench-")
        p, port = start_hub(d, nats)
        try:
            n0 = nats.cpu() if nats else 0
            if kind == "arrays":
                cpu0, t0 = ab.cpu_seconds(p.pid), time.time()
                r = subprocess.run([ab.PUB, "--port", str(port), "--connections", "4",
                                    "--batch", "500", "--seconds", "6", "--topic", "arrays"],
                                   capture_output=True, text=True, timeout=120)
                res = json.loads(r.stdout.strip().splitlines()[-1])
                res["complete"] = r.returncode == 0
                res["published_per_s"] = res.get("events_per_s", 0)
                res["pub_p50_ms"], res["pub_p99_ms"] = res.get("p50_ms"), res.get("p99_ms")
                res.pop("p99_ms", None)
                published = res["events_per_s"] * (time.time() - t0)
                res["cpu_us_per_event"] = 1e6 * (ab.cpu_seconds(p.pid) - cpu0) / max(1, published)
                res["published_201"] = published
            else:
                res = ab.load(["--port", str(port), "--topic", "cl"] + args, pid=p.pid)
            if nats:
                published = res.get("published_201", 0)
                res["nats_cpu_us_per_event"] = (1e6 * (nats.cpu() - n0) / published
                                                if published else 0)
            out[label] = res
            print(f"  {what:8s} {label:36s} published/s {res.get('published_per_s', 0):>10,.0f}  "
                  f"pub p99 {res.get('pub_p99_ms') or 0:7.2f} ms  "
                  f"delivery p99 {res.get('p99_ms') or 0:7.2f} ms  "
                  f"hub {res.get('cpu_us_per_event', 0):6.1f} us/ev  "
                  f"nats {res.get('nats_cpu_us_per_event', 0):6.1f} us/ev  "
                  f"{'complete' if res.get('complete') else 'INCOMPLETE'}", file=sys.stderr)
        finally:
            p.terminate()
            p.wait(30)
            shutil.rmtree(d, ignore_errors=True)
    return out


COLUMNS = [("published_per_s", "published/s", "{:,.0f}"), ("pub_p50_ms", "publish p50 ms", "{:.2f}"),
           ("pub_p99_ms", "publish p99 ms", "{:.2f}"), ("p99_ms", "delivery p99 ms", "{:.2f}"),
           ("cpu_us_per_event", "hub CPU µs/event", "{:.1f}"),
           ("nats_cpu_us_per_event", "NATS CPU µs/event (3 servers)", "{:.1f}")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    nats = Nats()
    runs = {"local": [], "cluster": []}
    try:
        for r in range(args.rounds):
            for what in ("local", "cluster"):
                print(f"round {r + 1}: {what}", file=sys.stderr)
                runs[what].append(measure(nats if what == "cluster" else None, what))
    finally:
        nats.close()
    labels = list(runs["local"][0].keys())
    lines = [f"# Cluster mode against local mode ({time.strftime('%Y-%m-%d')})", "",
             f"`python3 bench/cluster.py --rounds {args.rounds}`; medians of the rounds, local and "
             "cluster alternating, a fresh hub (and, in cluster mode, a fresh stream) per point.",
             "", f"Machine: {ab.machine()}. Cluster: 3 nats-server processes (JetStream, file "
             "storage, stream replicas 3) on the same machine as the hub and the load generator.",
             "", "| point | mode | " + " | ".join(c[1] for c in COLUMNS) + " | complete runs |",
             "|---|---|" + "---|" * (len(COLUMNS) + 1)]
    for label in labels:
        for what in ("local", "cluster"):
            rs = [run[label] for run in runs[what]]
            cells = []
            for key, _, fmt in COLUMNS:
                vals = [x[key] for x in rs if x.get(key) is not None]
                cells.append(fmt.format(statistics.median(vals)) if vals and
                             not (key.startswith("nats") and what == "local") else "")
            done = sum(1 for x in rs if x.get("complete"))
            lines.append(f"| {label} | {what} | " + " | ".join(cells) + f" | {done}/{len(rs)} |")
    lines += ["", "Raw runs:", "", "```", json.dumps(runs, indent=1, default=str), "```", ""]
    print(ab.write_result("cluster", "\n".join(lines)))


if __name__ == "__main__":
    main()
