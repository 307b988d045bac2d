// Herald's live dashboard: reads herald.stats snapshots from /v1/admin/stats/stream (one per
// dashboard.interval_ms) and draws them. Everything a client controls (topic names, session and
// job ids, messages, paths) is written as text, never as markup.
"use strict";

(function () {
  const HISTORY = 300; // points kept per chart (5 minutes at the default interval)
  const token = new URLSearchParams(location.search).get("access_token");
  const streamUrl = "/v1/admin/stats/stream" + (token ? "?access_token=" + encodeURIComponent(token) : "");

  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
  const num = (v) => (v === null || v === undefined ? "-" : fmt.format(v));
  const ms = (v) => (v === null || v === undefined ? "-" : fmt.format(v) + " ms");
  function bytes(v) {
    if (v === null || v === undefined) return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; ++i; }
    return fmt.format(v) + " " + units[i];
  }
  function duration(s) {
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
          m = Math.floor((s % 3600) / 60);
    return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
  }
  const clock = (t) => new Date(t).toLocaleTimeString();
  function set(id, text) { $(id).textContent = text; }

  // -- charts ----------------------------------------------------------------------------------

  class chart {
    constructor(canvas, series) {
      this.canvas = canvas;
      this.series = series; // [{color}]
      this.points = [];     // [[v0, v1, ...]]
    }
    push(values) {
      this.points.push(values);
      if (this.points.length > HISTORY) this.points.shift();
      this.draw();
    }
    draw() {
      const c = this.canvas, ratio = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
        c.width = Math.round(w * ratio);
        c.height = Math.round(h * ratio);
      }
      const g = c.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, w, h);
      const left = 52, right = 8, top = 8, bottom = 18;
      const pw = w - left - right, ph = h - top - bottom;
      let max = 0;
      for (const p of this.points) for (const v of p) if (v !== null && v > max) max = v;
      max = niceCeiling(max);
      const style = getComputedStyle(document.documentElement);
      g.font = "11px system-ui, sans-serif";
      g.fillStyle = style.getPropertyValue("--muted");
      g.strokeStyle = style.getPropertyValue("--line");
      g.lineWidth = 1;
      g.textAlign = "right";
      g.textBaseline = "middle";
      for (let i = 0; i <= 4; ++i) {
        const y = top + ph - (ph * i) / 4;
        g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
        g.fillText(fmt.format((max * i) / 4), left - 6, y);
      }
      g.textAlign = "left";
      g.textBaseline = "top";
      g.fillText("-" + Math.round(HISTORY * interval) + "s", left, top + ph + 4);
      g.textAlign = "right";
      g.fillText("now", left + pw, top + ph + 4);
      const step = pw / (HISTORY - 1);
      const x0 = left + pw - (this.points.length - 1) * step;
      this.series.forEach((s, k) => {
        g.strokeStyle = style.getPropertyValue(s.color);
        g.lineWidth = 1.5;
        g.beginPath();
        let drawing = false;
        this.points.forEach((p, i) => {
          const v = p[k];
          if (v === null || v === undefined) { drawing = false; return; }
          const x = x0 + i * step, y = top + ph - (max ? (v / max) * ph : 0);
          if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
          drawing = true;
        });
        g.stroke();
      });
    }
  }

  function niceCeiling(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  let interval = 1; // seconds between snapshots, as measured by the hub
  const charts = {
    connections: new chart($("chart-connections"), [{ color: "--c0" }]),
    published: new chart($("chart-published"), [{ color: "--c0" }]),
    delivered: new chart($("chart-delivered"), [{ color: "--c2" }]),
    latency: new chart($("chart-latency"), [{ color: "--c0" }, { color: "--c1" }, { color: "--c2" }]),
  };
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.draw()));

  // -- tables ----------------------------------------------------------------------------------

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    td.title = text;
    return td;
  }
  function fill(id, rows, columns, empty) {
    const body = $(id).tBodies[0];
    const out = [];
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const c of columns) tr.appendChild(c(r));
      out.push(tr);
    }
    if (!out.length && empty) {
      const tr = document.createElement("tr");
      const td = cell(empty, "empty");
      td.colSpan = columns.length;
      tr.appendChild(td);
      out.push(tr);
    }
    body.replaceChildren(...out);
  }
  function progress(p) {
    const td = document.createElement("td");
    if (p === null) { td.textContent = "-"; return td; }
    const bar = document.createElement("div");
    bar.className = "bar";
    const inner = document.createElement("div");
    inner.style.width = Math.max(0, Math.min(100, p * 100)) + "%";
    bar.appendChild(inner);
    bar.title = fmt.format(p * 100) + "%";
    td.appendChild(bar);
    return td;
  }

  // -- snapshots -------------------------------------------------------------------------------

  function show(s) {
    interval = s.interval_seconds || interval;
    set("version", s.version);
    set("uptime", duration(s.uptime_seconds));
    set("log-head", s.log.head);
    set("updated", clock(s.at_ms));
    const c = s.connections;
    set("connections", num(c.total));
    set("connections-detail", `sse ${num(c.sse)} · ws ${num(c.websocket)} · mercure ${num(c.mercure)} · job ${num(c.job)} (max ${num(c.max)})`);
    const e = s.events;
    set("published-rate", num(e.published_per_second));
    set("published-total", num(e.published));
    set("delivered-rate", num(e.delivered_per_second));
    set("delivered-total", num(e.delivered));
    const lat = s.latency_ms;
    set("delivery-p99", ms(lat.delivery.p99));
    set("delivery-p50", ms(lat.delivery.p50));
    set("publish-p99", ms(lat.publish.p99));
    set("publish-p50", ms(lat.publish.p50));
    set("queued", bytes(s.outbound_queue_bytes));
    set("slow-closes", num(e.slow_consumer_closes));
    const rj = s.rejections;
    set("rejected-rate", num(Object.values(rj.per_second).reduce((a, b) => a + b, 0)));
    set("rejected-total", num(Object.values(rj.total).reduce((a, b) => a + b, 0)));
    set("cpu", num(s.process.cpu_percent) + "% CPU");
    set("rss", bytes(s.process.resident_bytes));
    set("fds", num(s.process.open_fds));

    charts.connections.push([c.total]);
    charts.published.push([e.published_per_second]);
    charts.delivered.push([e.delivered_per_second]);
    charts.latency.push([lat.delivery.p50, lat.delivery.p99, lat.publish.p99]);

    set("topics-live", num(s.topics.live));
    set("log-topics", num(s.log.topics));
    fill("topics", s.topics.busiest, [
      (t) => cell(t.topic),
      (t) => cell(num(t.per_second), "n"),
      (t) => cell(num(t.events), "n"),
    ], "no events in the last interval");

    const ss = s.sessions;
    set("sessions-live", num(ss.live));
    set("sessions-connected", num(ss.connected));
    set("pending-acks", num(ss.pending_acks));
    set("dead-letters", num(ss.dead_letters));
    set("redeliveries", num(ss.redeliveries_per_second));
    fill("sessions", ss.top, [
      (x) => cell(x.id),
      (x) => cell(x.connected ? "connected" : "-"),
      (x) => cell(num(x.pending), "n"),
      (x) => cell(num(x.dead_letters), "n"),
    ], "no durable sessions");

    const j = s.jobs;
    set("jobs-live", num(j.live));
    set("job-viewers", num(j.viewers));
    set("upstream-polls", num(j.upstream_polls_per_second));
    fill("jobs", j.list, [
      (x) => cell(x.id),
      (x) => cell(x.state, "state-" + x.state),
      (x) => progress(x.progress),
      (x) => cell(x.message),
      (x) => cell(num(x.viewers), "n"),
    ], "no job is being watched or updated");

    fill("rejections", Object.keys(rj.total), [
      (r) => cell(r),
      (r) => cell(num(rj.per_second[r]), "n"),
      (r) => cell(num(rj.total[r]), "n"),
    ]);
    fill("recent", rj.recent, [
      (r) => cell(clock(r.at_ms)),
      (r) => cell(r.status + " " + r.reason),
      (r) => cell(r.method + " " + r.path),
    ], "none");

    const st = s.storage, p = s.process;
    const figures = [
      ["RocksDB live data", bytes(st.live_data_bytes)],
      ["RocksDB table files", bytes(st.sst_files_bytes)],
      ["RocksDB memtables", bytes(st.memtable_bytes)],
      ["Pending compaction", bytes(st.pending_compaction_bytes)],
      ["Write stall", st.write_stopped ? "writes stopped" : st.delayed_write_rate ? "slowed to " + bytes(st.delayed_write_rate) + "/s" : "none"],
      ["WAL syncs", num(st.wal_syncs)],
      ["Resident memory", bytes(p.resident_bytes)],
      ["Threads", num(p.threads)],
      ["Open files", num(p.open_fds) + " of " + num(p.max_fds)],
      ["Subscriptions", num(s.subscriptions)],
      ["Publishes in flight", num(e.publishes_in_flight)],
      ["Ready", s.ready ? "yes" : "no"],
    ];
    fill("figures", figures, [(f) => cell(f[0]), (f) => cell(f[1], "n")]);
  }

  function status(text, cls) {
    const el = $("status");
    el.textContent = text;
    el.className = "pill " + cls;
  }

  // Signing out forgets the cookie the sign-in page set (a token in the address stays there).
  const signout = $("signout");
  signout.addEventListener("click", () => {
    document.cookie = signout.dataset.cookie + "=; Path=/; Max-Age=0; SameSite=Strict";
  });

  const source = new EventSource(streamUrl);
  source.addEventListener("open", () => status("live", "live"));
  source.addEventListener("herald.stats", (m) => {
    status("live", "live");
    show(JSON.parse(m.data));
  });
  source.addEventListener("error", () => {
    // EventSource retries by itself after a dropped stream; a refused one (401, 403) is final.
    status(source.readyState === EventSource.CLOSED ? "refused: sign in again" : "reconnecting",
           source.readyState === EventSource.CLOSED ? "down" : "pending");
  });
})();
