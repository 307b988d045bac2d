#!/usr/bin/env python3
"""Runs a benchmark scenario against Herald and nginx + nchan in turn (A B A B ..., at least three
rounds), with the same load generator (build/sse_load), and writes a markdown table of medians
with Herald/nchan ratios, plus machine info, to bench/results/. On demand only, never in CI.

    python3 bench/ab.py latency          # 1k subscribers x 100 events/s: p50/p99/p99.9
    python3 bench/ab.py publish          # publishing alone, one event per request
    python3 bench/ab.py broadcast-1k     # 1k subscribers, a ladder of publish rates
    python3 bench/ab.py idle-10k         # process memory per idle stream at 10,000 streams
    python3 bench/ab.py stalled          # 1k subscribers x 1,000 events/s, 10% of them stalled
    python3 bench/ab.py latency --rounds 5
    python3 bench/ab.py latency --against /tmp/old/herald   # this build (A) against another (B)

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
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("HERALD_BUILD", os.path.join(ROOT, "build"))
LOAD = os.path.join(BUILD, "sse_load")
HERALD = os.path.join(BUILD, "herald")
PUB = os.path.join(BUILD, "pub_load")
CEILING = os.path.join(BUILD, "rocksdb_ceiling")
NCHAN = os.path.join(ROOT, "bench", "peers", "nchan.sh")
RAW = os.path.join(BUILD, "raw_hub")
# Scenarios the raw limit (bench/raw_hub.cpp: serialize once, coalesce writes, nothing else) runs
# too: those of live fan-out and publishing.
RAW_SCENARIOS = ("latency", "publish", "publish-max", "broadcast-1k", "broadcast-10k", "many-topics")

def ladder(subs, rates, seconds, topics=1, timeout=60, publishers=1, shape="single"):
    """Points at increasing publish rates (events/s), `seconds` long each, one write per 10 ms
    per publisher. `single`: one event per request, the write's requests pipelined (at most 256
    in flight, as nchan is driven); `array`: one request per write with the write's events (at
    most 1,000: Herald's limits.max_events_per_publish)."""
    cap = 256 if shape == "single" else 1000
    return [(f"{subs // 1000 or subs}{'k' if subs >= 1000 else ''} subs x {r:,} ev/s"
             + (f" over {topics:,} topics" if topics > 1 else "")
             + (" (arrays)" if shape == "array" else ""),
             ["--subs", str(subs), "--topics", str(topics), "--events", str(r * seconds),
              "--batch", str(min(cap, max(1, r // 100 // publishers))), "--rate", str(r),
              "--size", "100", "--timeout", str(timeout), "--publishers", str(publishers),
              "--shape", shape])
            for r in rates]


# name -> list of (label, arguments); each entry is one measured point. Arguments go to sse_load,
# except "idle N" (memory per idle stream), "churn N C" (connect/disconnect cycles) and the
# durable scenario's "publish ..." (pub_load) points.
SCENARIOS = {
    # One event per request, evenly paced: no publisher burst in the latency figures.
    "latency": [("1k subs x 100 ev/s", ["--subs", "1000", "--events", "1500", "--batch", "1",
                                         "--rate", "100", "--size", "100"])],
    # Publishing alone (one subscriber), one event per request on one keep-alive connection,
    # 10 s: offered far more than either takes (256 requests in flight), and a rate both should
    # hold (20,000/s). CPU is the hub process's (nchan: its worker's) per event published.
    "publish": [(label, args + ["--seconds", "10"]) for label, args in ladder(1, (200000, 100000, 20000), 10)],
    # The most each takes on one connection: offered more than the generator can send here.
    "publish-max": [(label, args + ["--seconds", "10"]) for label, args in ladder(1, (300000,), 10)],
    "broadcast-1k": ladder(1000, (100, 300, 1000, 2000, 5000), 3),
    # The same to subscribers over WebSocket (Herald: GET /v1/ws; nchan: its websocket
    # subscriber), with SSE points in the same run for comparison.
    "broadcast-1k-ws": [(label.replace("subs", "SSE subs"), args) for label, args in
                        ladder(1000, (100, 1000, 2000), 3)]
                       + [(label.replace("subs", "WebSocket subs"), args + ["--transport", "ws"])
                          for label, args in ladder(1000, (100, 1000, 2000), 3)]
                       # permessage-deflate (Herald only; bench/peers/nchan.sh configures no
                       # compression): the CPU per delivery it costs.
                       + [(label.replace("subs", "WebSocket+deflate subs"),
                           args + ["--transport", "ws", "--deflate", "1"])
                          for label, args in ladder(1000, (100, 1000), 3)],
    # The same over Mercure's protocol (subscribers at /.well-known/mercure?topic=T, one form
    # per POST /.well-known/mercure) against Herald's own SSE in the same run; nchan runs its
    # SSE for both.
    "broadcast-1k-mercure": [(label.replace("subs", "Herald SSE subs"), args) for label, args in
                             ladder(1000, (100, 1000, 2000), 3)]
                            + [(label.replace("subs", "Mercure subs"),
                                args + ["--transport", "mercure"])
                               for label, args in ladder(1000, (100, 1000, 2000), 3)],
    # The same with arrays of events per request (the shape that batches by itself).
    "broadcast-1k-arrays": ladder(1000, (1000, 5000), 3, shape="array"),
    "broadcast-10k": ladder(10000, (10, 100, 300, 1000), 5, timeout=90),
    # Four publishing connections: one (Herald's or nchan's) cannot publish fast enough to find
    # where fan-out to 10k distinct sockets stops.
    "many-topics": ladder(10000, (10000, 30000, 60000), 5, topics=10000, publishers=4),
    # 10% of 1,000 subscribers stop reading once subscribed (4 KiB receive buffers) while 1,000
    # events/s are published one per request, against the same load with none stalled: the
    # readers' latency, the process's peak RSS, and how many stalled streams the hub closed.
    "stalled": [(f"1k subs x 1,000 ev/s, {n} stalled",
                 ["--subs", "1000", "--events", "10000", "--batch", "10", "--rate", "1000",
                  "--size", "100", "--stalled", str(n)]) for n in (0, 100)],
    # Process RSS per idle SSE stream (nchan: its one worker process).
    "idle-10k": [("10k idle streams", ["idle", "10000"])],
    "idle-19k": [("19k idle streams", ["idle", "19000"])],
    # Everything published first, then subscribers resume from before the first event. The
    # backlog is published at 20,000 events/s: nchan's ids are (second, tag), and its replay skips
    # ahead ("Missed message ... id tags don't match") once one second holds ~63k messages.
    "replay": [("1 client catches up 100k", ["--replay", "--subs", "1", "--events", "100000",
                                             "--batch", "200", "--rate", "20000",
                                             "--timeout", "60"]),
               ("1,000 clients resume at once, 1k each", ["--replay", "--subs", "1000", "--events",
                                                          "1000", "--batch", "200", "--rate",
                                                          "20000", "--timeout", "60"])],
    "churn": [("100k connect/disconnect cycles, 200 at a time", ["churn", "100000", "200"])],
    # Herald only, against a plain RocksDB WriteBatch loop on the same disk (the ceiling).
    "durable": [(f"{mode}, {what}", ["publish", mode, conns, batch])
                for mode in ("process", "fsync")
                for what, conns, batch in (("batches of 500, 4 connections", "4", "500"),
                                           ("single events, 32 connections", "32", "1"))],
}

# What each scenario's table shows: (result key, column name, format).
LOAD_KEYS = [("deliveries_per_s", "deliveries/s", "{:,.0f}"), ("p50_ms", "p50 ms", "{:.2f}"),
             ("p99_ms", "p99 ms", "{:.2f}"), ("p999_ms", "p99.9 ms", "{:.2f}"),
             ("published_per_s", "published/s", "{:,.0f}"),
             ("pub_p99_ms", "publish p99 ms", "{:.2f}"),
             ("cpu_us_per_event", "hub CPU us/event", "{:.1f}")]
KEYS = {
    "publish": [("published_per_s", "published/s", "{:,.0f}"),
                ("pub_p50_ms", "publish p50 ms", "{:.2f}"),
                ("pub_p99_ms", "publish p99 ms", "{:.2f}"),
                ("cpu_us_per_event", "hub CPU us/event", "{:.1f}"),
                ("cpu_pct", "hub CPU %", "{:.0f}"),
                ("p99_ms", "delivery p99 ms", "{:.2f}")],
    "idle": [("connections", "connections", "{:,.0f}"),
             ("kib_per_connection", "KiB per idle stream", "{:.2f}"),
             ("rss_idle_kib", "RSS with streams open, KiB", "{:,.0f}")],
    "replay": [("catchup_p50_ms", "catch-up p50 ms", "{:,.1f}"),
               ("catchup_max_ms", "catch-up max ms", "{:,.1f}"),
               ("deliveries_per_s", "deliveries/s", "{:,.0f}"), ("gaps", "gaps", "{:.0f}")],
    "churn": [("cycles_per_s", "cycles/s", "{:,.0f}"), ("failed", "failed cycles", "{:.0f}"),
              ("rss_before_kib", "RSS before, KiB", "{:,.0f}"),
              ("rss_after_kib", "RSS after, KiB", "{:,.0f}"),
              ("rss_growth_pct", "RSS growth %", "{:.1f}")],
    "stalled": [("deliveries_per_s", "deliveries/s (readers)", "{:,.0f}"),
                ("p50_ms", "readers' p50 ms", "{:.2f}"), ("p99_ms", "readers' p99 ms", "{:.2f}"),
                ("p999_ms", "readers' p99.9 ms", "{:.2f}"),
                ("pub_p99_ms", "publish p99 ms", "{:.2f}"),
                ("stalled_closed", "stalled streams closed", "{:.0f}"),
                ("rss_before_kib", "RSS subscribed, KiB", "{:,.0f}"),
                ("rss_peak_kib", "peak RSS, KiB", "{:,.0f}"),
                ("cpu_us_per_event", "hub CPU us/event", "{:.1f}")],
    "durable": [("events_per_s", "events/s", "{:,.0f}"), ("p50_ms", "p50 ms", "{:.2f}"),
                ("p99_ms", "p99 ms", "{:.2f}"), ("p999_ms", "p99.9 ms", "{:.2f}")],
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


def cpu_seconds(pid):
    """utime + stime of process `pid` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/stats", timeout=5) as r:
        return json.load(r)


def churn(pid, port, extra, cycles, concurrency, stats_of=None):
    """RSS (and Herald's stats) before and after `cycles` connect/disconnect cycles. "Before" is
    taken after 1,000 warm-up cycles, so lazily built per-thread state is in both figures."""
    load(["--port", str(port), "--topic", "churn", "--churn", "1000", "--subs", "50"] + extra)
    time.sleep(6)  # (Herald trims freed memory every 5 s after closes)
    before = rss_kib(pid)
    s_before = stats_of(port) if stats_of else None
    res = load(["--port", str(port), "--topic", "churn", "--churn", str(cycles), "--subs",
                str(concurrency)] + extra)
    time.sleep(6)  # closes settle
    after = rss_kib(pid)
    res.update(rss_before_kib=before, rss_after_kib=after,
               rss_growth_pct=100.0 * (after - before) / before if before else 0)
    if stats_of:
        s_after = stats_of(port)
        keys = ("connections", "connection_actors", "topic_actors", "actors")
        res["stats_before"] = {k: s_before.get(k) for k in keys}
        res["stats_after"] = {k: s_after.get(k) for k in keys}
        res["complete"] = res["complete"] and res["stats_before"] == res["stats_after"]
    return res


def publish(port, mode_conns_batch):
    _, conns, batch = mode_conns_batch
    r = subprocess.run([PUB, "--port", str(port), "--connections", conns, "--batch", batch,
                        "--seconds", "6", "--topic", "durable"],
                       capture_output=True, text=True, timeout=120)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["complete"] = r.returncode == 0
    return out


def run_ceiling(args):
    """The plain RocksDB loop for the durable scenario: the same batch size, on the same disk."""
    _, mode, _, batch = args
    d = tempfile.mkdtemp(prefix="ab-ceiling-")
    try:
        r = subprocess.run([CEILING, "--dir", os.path.join(d, "db"), "--batch", batch,
                            "--size", "160", "--seconds", "6"] + (["--sync"] if mode == "fsync" else []),
                           capture_output=True, text=True, timeout=120)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        out["complete"] = r.returncode == 0
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_herald(args, binary=HERALD):
    d = tempfile.mkdtemp(prefix="ab-herald-")
    port = free_port()
    cfg = os.path.join(d, "herald.json")
    config = {"limits": {"max_connections": 19500, "max_subscribers_per_topic": 19500}}
    if args and args[0] == "publish":
        config["storage"] = {"durability": args[1]}
    if "--deflate" in args:
        config["websocket"] = {"compression": True}
    with open(cfg, "w") as f:
        json.dump(config, f)
    p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                          os.path.join(d, "db"), "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        if args and args[0] == "idle":
            return idle_memory(p.pid, port, [], int(args[1]))
        if args and args[0] == "churn":
            return churn(p.pid, port, [], int(args[1]), int(args[2]), stats)
        if args and args[0] == "publish":
            return publish(port, args[1:])
        return load(["--port", str(port), "--topic", "ab"] + args, p.pid)
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


def run_nchan(args):
    if "--deflate" in args:  # Herald's compression cost; the nchan config here has none
        return {"complete": True, "skipped": True}
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
        if args and args[0] == "churn":
            with open(os.path.join(d, "nginx.pid")) as f:
                master = f.read().strip()
            worker = subprocess.run(["pgrep", "-P", master], capture_output=True,
                                    text=True).stdout.split()[0]
            return churn(int(worker), port, ["--target", "nchan"], int(args[1]), int(args[2]))
        with open(os.path.join(d, "nginx.pid")) as f:
            master = f.read().strip()
        worker = subprocess.run(["pgrep", "-P", master], capture_output=True,
                                text=True).stdout.split()[0]
        return load(["--target", "nchan", "--port", str(port), "--topic", "ab"] + args,
                    int(worker))
    finally:
        subprocess.run([NCHAN, "stop", d])
        shutil.rmtree(d, ignore_errors=True)


def run_raw(args):
    port = free_port()
    p = subprocess.Popen([RAW, "--port", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        return load(["--target", "nchan", "--port", str(port), "--topic", "ab"] + args, p.pid)
    finally:
        p.terminate()
        p.wait(30)


def load(args, pid=None):
    """Runs sse_load; with `pid`, also the CPU that process used over the run (per event
    published, and as % of one core) and its RSS before the run and at its peak (sampled every
    50 ms)."""
    cpu0, t0 = (cpu_seconds(pid), time.time()) if pid else (0, 0)
    rss0, peak = (rss_kib(pid), [0]) if pid else (0, [0])
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_kib(pid))

    sampler = threading.Thread(target=sample) if pid else None
    if sampler:
        sampler.start()
    try:
        r = subprocess.run([LOAD] + args, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        # A target so slow that the publisher could not finish (its answers came too late):
        # recorded as incomplete, with nothing delivered, and the scenario goes on.
        return {"complete": False, "timed_out": True}
    finally:
        done.set()
        if sampler:
            sampler.join()
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    out = json.loads(line)
    out["complete"] = r.returncode == 0
    if pid:
        out["rss_before_kib"], out["rss_peak_kib"] = rss0, peak[0]
        cpu = cpu_seconds(pid) - cpu0
        out["cpu_seconds"] = cpu
        out["cpu_pct"] = 100.0 * cpu / (time.time() - t0)
        published = out.get("published_201", 0)
        out["cpu_us_per_event"] = 1e6 * cpu / published if published else 0
    return out


def write_result(what, text):
    """Writes `text` to bench/results/<today>-<what>.md, never over an earlier result of the same
    day (-2, -3, ... instead). Returns the path."""
    stem = os.path.join(ROOT, "bench", "results",
                        datetime.datetime.now().strftime("%Y-%m-%d") + f"-{what}")
    name, n = stem + ".md", 2
    while os.path.exists(name):
        name, n = f"{stem}-{n}.md", n + 1
    with open(name, "w") as f:
        f.write(text)
    return name


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    herald = subprocess.run([HERALD, "--version"], capture_output=True, text=True).stdout.strip()
    peer = ""
    if shutil.which("nginx"):
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        peer = f", {nginx} with libnginx-mod-nchan (1 worker)"
    return (f"{os.cpu_count()} vCPU ({cpu}), Linux {platform.release()}, {herald}{peer}; load "
            "generator, hub and peer on the same machine")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", metavar="HERALD_BINARY",
                    help="compare this build with another Herald binary (before/after a change) "
                         "instead of the peer")
    a = ap.parse_args()
    durable = a.scenario == "durable"
    peer = "RocksDB loop" if durable else "nchan"
    targets = (("herald", run_herald), ("peer", run_ceiling if durable else run_nchan))
    if a.scenario in RAW_SCENARIOS and not a.against:
        targets += (("raw", run_raw),)
    if a.against:
        peer = "other build"
        targets = (("herald", run_herald),
                   ("peer", lambda args: run_herald(args, os.path.abspath(a.against))))
    rows = []
    for label, args in SCENARIOS[a.scenario]:
        runs = {name: [] for name, _ in targets}
        for i in range(a.rounds):  # A B A B ...
            for name, fn in targets:
                res = fn(args)
                runs[name].append(res)
                print(f"{label} round {i + 1} {name}: {json.dumps(res)}", file=sys.stderr)
        rows.append((label, runs))
    keys = KEYS.get(a.scenario.split("-")[0], LOAD_KEYS)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# {a.scenario} ({stamp})", "", machine(), "",
          f"Medians of {a.rounds} rounds per target, run A B A B. Ratio: Herald / {peer} "
          "(above 1 is better for rates, below 1 is better for times, latency and memory). A "
          "target that missed deliveries or failed a check in any round is marked "
          "*incomplete*.", ""]
    if durable:
        md += ["The RocksDB loop is `build/rocksdb_ceiling`: one Put per event (160-byte values) "
               "in WriteBatches of the same size, WAL on, fsync per batch in fsync mode, on the "
               "same disk; its latency is per batch write. Herald's is per HTTP request.", ""]
    raw = any(name == "raw" for name, _ in targets)
    if raw:
        md += ["The raw limit is `build/raw_hub`: one thread, epoll, each event serialized once and "
               "every subscriber's share of a read's publishes written in one write; no storage, "
               "no auth, no limits. Herald / raw below 1 for rates is the distance to it.", ""]
    md += [f"| point | metric | Herald | {peer} | ratio |" + (" raw limit | Herald / raw |" if raw else ""),
           "|---|---|---|---|---|" + ("---|---|" if raw else "")]

    def cell(runs, name, key, fmt):
        if all(r.get("skipped") for r in runs[name]):
            return 0, "not run"
        v = statistics.median(r.get(key, 0) for r in runs[name])
        return v, fmt.format(v) + ("" if all(r["complete"] for r in runs[name]) else " *incomplete*")

    for label, runs in rows:
        for key, name, fmt in keys:
            h, hs = cell(runs, "herald", key, fmt)
            n, ns = cell(runs, "peer", key, fmt)
            line = f"| {label} | {name} | {hs} | {ns} | " + (f"{h / n:.2f}" if n else "-") + " |"
            if raw:
                w, ws = cell(runs, "raw", key, fmt)
                line += f" {ws} | " + (f"{h / w:.2f}" if w else "-") + " |"
            md.append(line)
    if a.against:
        md[2:2] = [f"Other build: `{a.against}` ({subprocess.run([a.against, '--version'], capture_output=True, text=True).stdout.strip()}).", ""]
    again = f" --against {a.against}" if a.against else ""
    md += ["", "Reproduce: `python3 bench/ab.py " + a.scenario + f" --rounds {a.rounds}{again}`",
           ""]
    suffix = "-vs-build" if a.against else ""
    name = write_result(f"{a.scenario}{suffix}", "\n".join(md))
    print("\n".join(md))
    print(f"written to {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
