#!/usr/bin/env python3
"""Runs a benchmark scenario against Herald and nginx + nchan in turn (A B A B ..., at least three
rounds), with the same load generator (build/sse_load), and writes a markdown table of medians
with Herald/nchan ratios, plus machine info, to bench/results/. On demand only, never in CI.

    python3 bench/ab.py latency          # 1k subscribers x 100 events/s: p50/p99/p99.9
    python3 bench/ab.py broadcast-1k     # 1k subscribers, a ladder of publish rates
    python3 bench/ab.py idle-10k         # process memory per idle stream at 10,000 streams
    python3 bench/ab.py latency --rounds 5

Herald runs from build/herald with a fresh data dir; nchan from bench/peers/nchan.sh (installed
from Debian if missing). Both on loopback, one at a time."""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("HERALD_BUILD", os.path.join(ROOT, "build"))
LOAD = os.path.join(BUILD, "sse_load")
HERALD = os.path.join(BUILD, "herald")
NCHAN = os.path.join(ROOT, "bench", "peers", "nchan.sh")

# name -> list of (label, sse_load arguments); each entry is one measured point.
SCENARIOS = {
    # One event per request, evenly paced: no publisher burst in the latency figures.
    "latency": [("1k subs x 100 ev/s", ["--subs", "1000", "--events", "1500", "--batch", "1",
                                         "--rate", "100", "--size", "100"])],
    "broadcast-1k": [(f"1k subs x {r} ev/s", ["--subs", "1000", "--events", str(r * 3),
                                               "--batch", str(max(1, r // 100)), "--rate", str(r),
                                               "--size", "100", "--timeout", "60"])
                     for r in (100, 300, 1000, 2000)],
    # Process RSS per idle SSE stream (nchan: its one worker process).
    "idle-10k": [("10k idle streams", ["idle", "10000"])],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_memory(pid, port, extra, subs):
    """Process RSS per idle stream: RSS with `subs` streams open minus RSS before, per stream."""
    before = rss_kib(pid)
    p = subprocess.Popen([LOAD, "--port", str(port), "--topic", "ab", "--subs", str(subs),
                          "--events", "1", "--batch", "1", "--rate", "1", "--hold", "4"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()  # "connected N" once every stream is open
    time.sleep(2)
    during = rss_kib(pid)
    out, _ = p.communicate(timeout=120)
    connected = int(line.split()[1]) if line.startswith("connected") else 0
    res = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return {"connections": connected, "rss_before_kib": before, "rss_idle_kib": during,
            "kib_per_connection": (during - before) / connected if connected else 0,
            "complete": connected == subs and p.returncode == 0, **res}


def run_herald(args):
    d = tempfile.mkdtemp(prefix="ab-herald-")
    port = free_port()
    cfg = os.path.join(d, "herald.json")
    with open(cfg, "w") as f:
        json.dump({"limits": {"max_connections": 19000, "max_subscribers_per_topic": 19000}}, f)
    p = subprocess.Popen([HERALD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(d, "db"), "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        if args and args[0] == "idle":
            return idle_memory(p.pid, port, [], int(args[1]))
        return load(["--port", str(port), "--topic", "ab"] + args)
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def run_nchan(args):
    d = tempfile.mkdtemp(prefix="ab-nchan-")
    port = free_port()
    subprocess.run([NCHAN, "start", str(port), d], check=True)
    try:
        if args and args[0] == "idle":
            with open(os.path.join(d, "nginx.pid")) as f:
                master = f.read().strip()
            worker = subprocess.run(["pgrep", "-P", master], capture_output=True,
                                    text=True).stdout.split()[0]
            return idle_memory(int(worker), port, ["--target", "nchan"], int(args[1]))
        return load(["--target", "nchan", "--port", str(port), "--topic", "ab"] + args)
    finally:
        subprocess.run([NCHAN, "stop", d])
        shutil.rmtree(d, ignore_errors=True)


def load(args):
    r = subprocess.run([LOAD] + args, capture_output=True, text=True, timeout=600)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    out = json.loads(line)
    out["complete"] = r.returncode == 0
    return out


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    herald = subprocess.run([HERALD, "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} vCPU ({cpu}), Linux {platform.release()}, {herald}, {nginx} "
            f"with libnginx-mod-nchan (1 worker); load generator, hub and peer on the same machine")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rows = []
    for label, args in SCENARIOS[a.scenario]:
        runs = {"herald": [], "nchan": []}
        for i in range(a.rounds):  # A B A B ...
            for name, fn in (("herald", run_herald), ("nchan", run_nchan)):
                res = fn(args)
                runs[name].append(res)
                print(f"{label} round {i + 1} {name}: {json.dumps(res)}", file=sys.stderr)
        rows.append((label, runs))
    keys = [("deliveries_per_s", "deliveries/s", "{:,.0f}"), ("p50_ms", "p50 ms", "{:.2f}"),
            ("p99_ms", "p99 ms", "{:.2f}"), ("p999_ms", "p99.9 ms", "{:.2f}")]
    if a.scenario.startswith("idle"):
        keys = [("connections", "connections", "{:,.0f}"),
                ("kib_per_connection", "KiB per idle stream", "{:.2f}"),
                ("rss_idle_kib", "RSS with streams open, KiB", "{:,.0f}")]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# {a.scenario} ({stamp})", "", machine(), "",
          f"Medians of {a.rounds} rounds per target, run A B A B. Ratio: Herald / nchan "
          "(above 1 is better for deliveries/s, below 1 is better for latency). A target that "
          "missed deliveries in any round is marked *incomplete*.", "",
          "| point | metric | Herald | nchan | ratio |", "|---|---|---|---|---|"]
    for label, runs in rows:
        for key, name, fmt in keys:
            h = statistics.median(r.get(key, 0) for r in runs["herald"])
            n = statistics.median(r.get(key, 0) for r in runs["nchan"])
            hs = fmt.format(h) + ("" if all(r["complete"] for r in runs["herald"]) else " *incomplete*")
            ns = fmt.format(n) + ("" if all(r["complete"] for r in runs["nchan"]) else " *incomplete*")
            ratio = f"{h / n:.2f}" if n else "-"
            md.append(f"| {label} | {name} | {hs} | {ns} | {ratio} |")
    md += ["", "Reproduce: `python3 bench/ab.py " + a.scenario + f" --rounds {a.rounds}`", ""]
    name = os.path.join(ROOT, "bench", "results",
                        datetime.datetime.now().strftime("%Y-%m-%d") + f"-{a.scenario}.md")
    with open(name, "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    print(f"written to {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
