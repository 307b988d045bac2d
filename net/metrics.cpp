#include "net/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "net/auth.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

/// Seconds: 0.5 ms to 10 s.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

struct family_builder {
  std::vector<MetricFamily>& out;

  MetricFamily& family(std::string name, std::string help, MetricType type) {
    out.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return out.back();
  }
  void gauge(std::string name, std::string help, double v) {
    auto& f = family(std::move(name), std::move(help), MetricType::Gauge);
    f.metric.emplace_back().gauge.value = v;
  }
  void counter(std::string name, std::string help, double v) {
    auto& f = family(std::move(name), std::move(help), MetricType::Counter);
    f.metric.emplace_back().counter.value = v;
  }
  /// One family with one label `label` and a value per label value.
  void labelled(std::string name, std::string help, MetricType type, const std::string& label,
                std::initializer_list<std::pair<const char*, double>> values) {
    auto& f = family(std::move(name), std::move(help), type);
    for (auto& [lv, v] : values) {
      auto& m = f.metric.emplace_back();
      m.label.push_back({label, lv});
      (type == MetricType::Counter ? m.counter.value : m.gauge.value) = v;
    }
  }
};

/// The process's figures (Prometheus's standard process_* names).
void process_metrics(family_builder& b, const process_figures& p) {
  b.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes);
  b.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes);
  if (p.start_time_seconds > 0) {
    b.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              p.cpu_seconds);
    b.gauge("process_threads", "Number of OS threads in the process.", p.threads);
    b.gauge("process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.", p.start_time_seconds);
  }
  b.gauge("process_open_fds", "Number of open file descriptors.", p.open_fds);
  if (p.max_fds > 0)
    b.gauge("process_max_fds", "Maximum number of open file descriptors.", p.max_fds);
}

} // namespace

process_figures read_process_figures() {
  process_figures p;
  auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream statm{"/proc/self/statm"};
  double vm_pages = 0, rss_pages = 0;
  statm >> vm_pages >> rss_pages;
  p.resident_bytes = rss_pages * page;
  p.virtual_bytes = vm_pages * page;
  std::ifstream stat_file{"/proc/self/stat"};
  std::string stat{std::istreambuf_iterator<char>(stat_file), {}};
  // Fields after the command name (which may hold spaces, so start after its closing ')').
  std::istringstream fields{stat.substr(stat.rfind(')') + 2)};
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  // f[0] is field 3 (state): utime 14, stime 15, num_threads 20, starttime 22.
  if (f.size() > 19) {
    p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    p.threads = std::stod(f[17]);
    std::ifstream uptime_file{"/proc/uptime"};
    double uptime = 0;
    uptime_file >> uptime;
    auto boot = static_cast<double>(std::time(nullptr)) - uptime;
    p.start_time_seconds = boot + std::stod(f[19]) / ticks;
  }
  if (auto* dir = opendir("/proc/self/fd")) {
    while (auto* e = readdir(dir))
      if (e->d_name[0] != '.')
        ++p.open_fds;
    closedir(dir);
    p.open_fds -= 1; // the directory stream's own descriptor
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    p.max_fds = static_cast<double>(lim.rlim_cur);
  return p;
}

hub_metrics::hub_metrics() {
  publish_ = &prometheus::BuildHistogram()
                .Name("herald_publish_duration_seconds")
                .Help("Publish requests (HTTP, WebSocket and Mercure): from the request's "
                      "handler to its answer, the commit included.")
                .Register(registry_)
                .Add({}, latency_buckets());
  delivery_ = &prometheus::BuildHistogram()
                 .Name("herald_delivery_lag_seconds")
                 .Help("Live events: from their commit to their write to a subscriber's "
                       "socket (sampled: one write in 16 per stream).")
                 .Register(registry_)
                 .Add({}, latency_buckets());
  auto& responses = prometheus::BuildCounter()
                      .Name("herald_http_responses_total")
                      .Help("HTTP answers by status class, stream heads and refusals included.")
                      .Register(registry_);
  for (std::size_t i = 0; i < by_class_.size(); ++i)
    by_class_[i] = &responses.Add({{"code", std::to_string(i + 1) + "xx"}});
  auto& rejections = prometheus::BuildCounter()
                       .Name("herald_rejections_total")
                       .Help("HTTP requests refused, by reason: bad_input (400, 415), "
                             "unauthorized (401), forbidden (403), too_large (413), "
                             "rate_limited (429), unavailable (503).")
                       .Register(registry_);
  const std::pair<unsigned, const char*> reasons[] = {
    {400, "bad_input"},      {401, "unauthorized"}, {403, "forbidden"},
    {413, "too_large"},      {415, "bad_input"},    {429, "rate_limited"},
    {503, "unavailable"},
  };
  for (std::size_t i = 0; i < rejections_.size(); ++i)
    rejections_[i] = {reasons[i].first, reasons[i].second,
                      &rejections.Add({{"reason", reasons[i].second}})};
}

bucket_counts hub_metrics::counts_of(prometheus::Histogram& h) {
  auto m = h.Collect();
  bucket_counts out;
  for (auto& b : m.histogram.bucket) {
    out.bounds.push_back(b.upper_bound);
    out.cumulative.push_back(b.cumulative_count);
  }
  return out;
}

const char* hub_metrics::reason_of(unsigned status) const {
  for (auto& r : rejections_)
    if (r.status == status)
      return r.reason;
  return nullptr;
}

std::vector<std::pair<std::string, std::uint64_t>> hub_metrics::rejections() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (auto& r : rejections_) {
    // 400 and 415 share bad_input's counter: list it once.
    auto same = std::find_if(out.begin(), out.end(), [&](auto& o) { return o.first == r.reason; });
    if (same == out.end())
      out.emplace_back(r.reason, static_cast<std::uint64_t>(r.counter->Value()));
  }
  return out;
}

std::vector<rejection_record> hub_metrics::recent_rejections() const {
  std::lock_guard<std::mutex> guard{recent_mtx_};
  return {recent_.begin(), recent_.end()};
}

void hub_metrics::note_rejection(unsigned status, boost::beast::string_view method,
                                 std::string_view path) {
  auto* reason = reason_of(status);
  if (reason == nullptr)
    return;
  rejection_record r;
  r.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  r.status = status;
  r.reason = reason;
  r.method = std::string{method.data(), method.size()};
  r.path = std::string{path};
  std::lock_guard<std::mutex> guard{recent_mtx_};
  recent_.push_front(std::move(r));
  if (recent_.size() > recent_rejections_kept)
    recent_.pop_back();
}

void hub_metrics::observe_delivery(std::int64_t committed_ns) {
  auto lag = steady_ns() - committed_ns;
  delivery_->Observe(static_cast<double>(std::max<std::int64_t>(lag, 0)) / 1e9);
}

void hub_metrics::count_response(unsigned status) {
  if (status >= 100 && status < 600)
    by_class_[status / 100 - 1]->Increment();
  for (auto& r : rejections_)
    if (r.status == status)
      r.counter->Increment();
}

std::string hub_metrics::render(const hub_context& hub, const storage_figures& st) const {
  auto families = registry_.Collect();
  family_builder b{families};
  auto& s = hub.stats;
  auto g = [](const auto& atomic) { return static_cast<double>(atomic.load()); };
  // Connections and streams.
  b.gauge("herald_connections", "Open streaming connections (SSE streams and WebSockets).",
          g(s.open_connections));
  // Every stream holds a connection slot: what is not a WebSocket, a Mercure stream or a job
  // stream is an SSE stream of /v1 (topics or a durable session).
  auto sse = g(s.open_connections) - g(s.websockets) - g(s.mercure_streams) - g(s.job_viewers);
  b.labelled("herald_streams", "Open streams by transport (a WebSocket counts once).",
             MetricType::Gauge, "transport",
             {{"sse", std::max(sse, 0.0)},
              {"websocket", g(s.websockets)},
              {"mercure", g(s.mercure_streams)},
              {"job", g(s.job_viewers)}});
  b.gauge("herald_subscriptions", "Subscriptions being fed: SSE streams, WebSocket "
          "subscriptions and session attachments (one connection actor each).",
          g(s.connection_actors));
  b.gauge("herald_websocket_subscriptions", "Subscriptions and session attachments on "
          "WebSockets.", g(s.websocket_subscriptions));
  b.gauge("herald_mercure_subscriptions", "Active Mercure subscriptions (mercure.subscriptions).",
          static_cast<double>(hub.mercure_subs->size()));
  b.gauge("herald_outbound_queue_bytes", "Bytes queued for subscribers' sockets, not yet "
          "written (each stream's queue is bounded by limits.slow_consumer_bytes).",
          static_cast<double>(hub.outbound_bytes->load()));
  b.counter("herald_streams_closed_total", "Streams and WebSockets closed.", g(s.streams_closed));
  b.gauge("herald_topics_live", "Topics with a live topic actor (subscribers).",
          g(s.topic_actors));
  b.gauge("herald_log_topics", "Topics with events in the log.",
          static_cast<double>(hub.log->topic_count()));
  b.gauge("herald_log_head", "The log's last committed position.",
          static_cast<double>(hub.log->head()));
  if (auto& c = s.cluster; c.enabled.load()) {
    // Cluster mode: this node's tail of the shared log.
    b.gauge("herald_cluster_connected", "1 while connected to the cluster's NATS servers.",
            c.connected.load() ? 1 : 0);
    b.gauge("herald_cluster_caught_up", "1 once the tail reached the stream's end since start.",
            c.caught_up.load() ? 1 : 0);
    b.gauge("herald_cluster_applied", "The last stream sequence applied to the local log.",
            static_cast<double>(c.applied.load()));
    b.gauge("herald_cluster_lag", "Messages of the stream not applied here yet.",
            static_cast<double>(c.lag.load()));
    b.counter("herald_cluster_lost_total", "Stream sequences dropped by the stream before this "
              "node read them (a gap notice for resumes from before them).",
              static_cast<double>(c.lost.load()));
  }
  // Events.
  b.labelled("herald_events_published_total", "Events published, by result.",
             MetricType::Counter, "result",
             {{"committed", g(s.events_published)},
              {"repeat", g(s.publish_repeats)},
              {"failed", g(s.publish_errors)}});
  b.gauge("herald_publishes_in_flight", "Publish requests accepted, not yet answered.",
          g(s.publishes_in_flight));
  b.counter("herald_events_delivered_total", "Event frames written to subscribers' sockets.",
            g(s.events_delivered));
  b.counter("herald_events_replayed_total", "Event frames read from the log for resuming "
            "subscribers.", g(s.events_replayed));
  b.counter("herald_slow_consumer_disconnects_total", "Streams closed because their client "
            "did not read (limits.slow_consumer_bytes).", g(s.slow_consumer_disconnects));
  b.counter("herald_token_expiries_total", "Streams ended at their token's exp.",
            g(s.token_expiries));
  b.counter("herald_request_timeouts_total", "Connections closed mid-request (header or body "
            "timeout: trickled bytes).", g(s.request_timeouts));
  b.counter("herald_websocket_refusals_total", "WebSocket messages answered with an error "
            "message (malformed, unknown, oversized, binary).", g(s.websocket_refusals));
  b.counter("herald_websocket_messages_total", "Text messages read from WebSocket clients.",
            g(s.websocket_messages_in));
  b.counter("herald_gzip_requests_total", "Request bodies inflated (Content-Encoding: gzip).",
            g(s.gzip_requests));
  b.counter("herald_gzip_responses_total", "JSON answers sent gzipped.", g(s.gzip_responses));
  b.labelled("herald_gzip_stream_bytes_total", "SSE bytes through gzip streams "
             "(compression.streams): before (in) and after (out) compression.",
             MetricType::Counter, "direction",
             {{"in", g(s.gzip_stream_bytes_in)}, {"out", g(s.gzip_stream_bytes_out)}});
  // Durable sessions and jobs.
  b.gauge("herald_sessions", "Durable sessions (live actors).", g(s.sessions));
  b.gauge("herald_sessions_connected", "Durable sessions with a stream attached.",
          g(s.sessions_connected));
  b.gauge("herald_pending_acks", "Events delivered to durable sessions, not yet acknowledged.",
          g(s.pending_acks));
  b.counter("herald_redeliveries_total", "Unacknowledged events delivered again.",
            g(s.redeliveries));
  b.gauge("herald_dead_letters", "Dead letters held by durable sessions.", g(s.dead_letters));
  b.counter("herald_dead_lettered_total", "Events moved to dead letters.", g(s.dead_lettered));
  b.gauge("herald_jobs_live", "Jobs with a live watcher.", g(s.job_actors));
  b.counter("herald_upstream_polls_total", "Upstream job status requests sent.",
            g(s.upstream_polls));
  // Storage.
  b.gauge("herald_rocksdb_live_data_bytes", "RocksDB's estimate of its live data.",
          static_cast<double>(st.live_data_bytes));
  b.gauge("herald_rocksdb_sst_files_bytes", "RocksDB's table files.",
          static_cast<double>(st.sst_files_bytes));
  b.gauge("herald_rocksdb_memtable_bytes", "RocksDB's memtables.",
          static_cast<double>(st.memtable_bytes));
  b.gauge("herald_rocksdb_pending_compaction_bytes", "RocksDB's estimate of the bytes "
          "compaction has to rewrite.", static_cast<double>(st.pending_compaction_bytes));
  b.gauge("herald_rocksdb_write_stopped", "1 while RocksDB stops writes (a write stall).",
          static_cast<double>(st.write_stopped));
  b.gauge("herald_rocksdb_delayed_write_rate_bytes", "The write rate RocksDB slows writes to "
          "(0: no slowdown).", static_cast<double>(st.delayed_write_rate));
  b.counter("herald_rocksdb_wal_syncs_total", "Writes synced to disk (storage.durability "
            "fsync).", static_cast<double>(st.wal_syncs));
  b.gauge("herald_up_seconds", "Seconds since the hub started.",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - hub.started).count());
  process_metrics(b, read_process_figures());
  return prometheus::TextSerializer{}.Serialize(families);
}

void metrics_middleware::after(hub_context& hub, const http_request&, http_head& res) {
  hub.metrics->count_response(static_cast<unsigned>(res.result_int()));
}

void handle_metrics(hub_context& hub, route_request& r, respond_fn respond) {
  if (!hub.cfg.metrics_public)
    if (auto refused = refuse_unless_admin(r))
      return respond(std::move(*refused));
  handle_metrics_scrape(hub, r, std::move(respond));
}

void handle_metrics_scrape(hub_context& hub, route_request& r, respond_fn respond) {
  auto q = std::make_shared<figures_query>();
  auto head = r.head;
  auto* ctx = &hub;
  q->done = [respond, head, ctx](storage_figures figures) {
    http_response res{http::status::ok, head->version()};
    res.keep_alive(head->keep_alive());
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.body() = ctx->metrics->render(*ctx, figures);
    res.prepare_payload();
    respond(std::move(res));
  };
  caf::anon_send(hub.reader, figures_atom::value, std::move(q));
}

} // namespace herald
