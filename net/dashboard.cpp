#include "net/dashboard.hpp"

#include <cmath>
#include <mutex>

#include <nlohmann/json.hpp>

#include "actors/dashboard_viewer.hpp"
#include "net/auth.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"
#include "storage/event_id.hpp"

namespace herald {

/// clients/dashboard/ (generated/dashboard_*.cpp).
extern const std::string_view dashboard_html;
extern const std::string_view dashboard_js;
extern const std::string_view dashboard_css;
extern const std::string_view signin_html;
extern const std::string_view signin_js;

namespace {

using nlohmann::json;
constexpr std::size_t top_rows = 10;

/// The page's own script and style only: no inline code, no other origin, no framing, and no
/// Referer (the page's address may hold its token).
void secure_page(http_response& res) {
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
}

/// `page` with the hub's auth cookie name where it says {{cookie_name}} (the pages' scripts set
/// and clear that cookie). The name has no quote, space or separator (config); `<>&` are escaped.
std::string with_cookie_name(std::string_view page, const std::string& name) {
  std::string escaped;
  for (char c : name)
    escaped += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  std::string out{page};
  static constexpr std::string_view mark = "{{cookie_name}}";
  for (auto at = out.find(mark); at != std::string::npos; at = out.find(mark, at + escaped.size()))
    out.replace(at, mark.size(), escaped);
  return out;
}

/// One of the dashboard's pages, never cached, locked down by secure_page.
http_response page_response(const http_request& req, http::status status, std::string body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "herald/" HERALD_VERSION);
  res.keep_alive(req.keep_alive());
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  secure_page(res);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

bool accepts_html(const http_request& req) {
  auto accept = req[http::field::accept];
  return std::string_view{accept.data(), accept.size()}.find("text/html") != std::string_view::npos;
}

double rounded(double v, double places = 100) { return std::round(v * places) / places; }

json quantiles(const bucket_counts& before, const bucket_counts& now) {
  auto ms = [&](double q) -> json {
    auto s = quantile_between(before, now, q);
    return s ? json(rounded(*s * 1000)) : json(nullptr);
  };
  auto count = (now.cumulative.empty() ? 0 : now.cumulative.back())
               - (before.cumulative.empty() ? 0 : before.cumulative.back());
  return {{"p50", ms(0.5)}, {"p90", ms(0.9)}, {"p99", ms(0.99)}, {"count", count}};
}

/// What one snapshot is measured against: the previous snapshot's readings.
struct readings {
  std::chrono::steady_clock::time_point at;
  std::uint64_t published = 0, delivered = 0, replayed = 0, failed = 0, repeats = 0;
  std::uint64_t redeliveries = 0, dead_lettered = 0, upstream_polls = 0, slow_closes = 0;
  double cpu_seconds = 0;
  bucket_counts publish, delivery;
  std::vector<std::pair<std::string, std::uint64_t>> rejections;
};

readings read_now(const hub_context& hub, const process_figures& proc) {
  auto& s = hub.stats;
  readings r;
  r.at = std::chrono::steady_clock::now();
  r.published = s.events_published;
  r.delivered = s.events_delivered;
  r.replayed = s.events_replayed;
  r.failed = s.publish_errors;
  r.repeats = s.publish_repeats;
  r.redeliveries = s.redeliveries;
  r.dead_lettered = s.dead_lettered;
  r.upstream_polls = s.upstream_polls;
  r.slow_closes = s.slow_consumer_disconnects;
  r.cpu_seconds = proc.cpu_seconds;
  r.publish = hub.metrics->publish_counts();
  r.delivery = hub.metrics->delivery_counts();
  r.rejections = hub.metrics->rejections();
  return r;
}

/// Renders snapshots, each against the one before (the first against the hub's start).
class snapshot_renderer {
public:
  explicit snapshot_renderer(hub_context& hub) : hub_(hub) { prev_.at = hub.started; }

  std::string render(const storage_figures& st) {
    std::lock_guard<std::mutex> guard{mtx_}; // renders are one at a time; this makes it so
    auto& hub = hub_;
    auto& s = hub.stats;
    auto proc = read_process_figures();
    auto now = read_now(hub, proc);
    auto seconds = std::max(std::chrono::duration<double>(now.at - prev_.at).count(), 1e-3);
    auto rate = [&](std::uint64_t a, std::uint64_t b) { return rounded((a - b) / seconds); };

    auto sse = s.open_connections - s.websockets - s.mercure_streams - s.job_viewers;
    json out;
    out["at_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    out["interval_seconds"] = rounded(seconds, 1000);
    out["version"] = HERALD_VERSION;
    out["uptime_seconds"] = static_cast<std::int64_t>(
      std::chrono::duration<double>(now.at - hub.started).count());
    out["ready"] = !hub.not_ready();
    out["connections"] = {{"total", s.open_connections.load()},
                          {"sse", std::max<std::int64_t>(sse, 0)},
                          {"websocket", s.websockets.load()},
                          {"mercure", s.mercure_streams.load()},
                          {"job", s.job_viewers.load()},
                          {"max", hub.settings()->max_connections}};
    out["subscriptions"] = s.connection_actors.load();
    out["outbound_queue_bytes"] = hub.outbound_bytes->load();
    out["log"] = {{"head", format_event_id(hub.log->epoch(), hub.log->head())},
                  {"topics", hub.log->topic_count()}};
    out["events"] = {{"published", now.published},
                     {"delivered", now.delivered},
                     {"replayed", now.replayed},
                     {"repeats", now.repeats},
                     {"failed", now.failed},
                     {"publishes_in_flight", s.publishes_in_flight.load()},
                     {"slow_consumer_closes", now.slow_closes},
                     {"published_per_second", rate(now.published, prev_.published)},
                     {"delivered_per_second", rate(now.delivered, prev_.delivered)},
                     {"replayed_per_second", rate(now.replayed, prev_.replayed)},
                     {"failed_per_second", rate(now.failed, prev_.failed)},
                     {"slow_consumer_closes_per_second", rate(now.slow_closes, prev_.slow_closes)}};
    out["latency_ms"] = {{"publish", quantiles(prev_.publish, now.publish)},
                         {"delivery", quantiles(prev_.delivery, now.delivery)}};

    auto window = s.activity.take_topics(top_rows);
    json busiest = json::array();
    for (auto& [topic, n] : window.counts)
      busiest.push_back({{"topic", topic}, {"events", n}, {"per_second", rounded(n / seconds)}});
    out["topics"] = {{"live", s.topic_actors.load()}, {"busiest", std::move(busiest)},
                     {"other_events", window.other}};

    json sessions = json::array();
    for (auto& g : s.activity.sessions(top_rows))
      sessions.push_back({{"id", g.id},
                          {"pending", g.pending},
                          {"dead_letters", g.dead_letters},
                          {"connected", g.connected}});
    out["sessions"] = {{"live", s.sessions.load()},
                       {"connected", s.sessions_connected.load()},
                       {"pending_acks", s.pending_acks.load()},
                       {"dead_letters", s.dead_letters.load()},
                       {"redeliveries_per_second", rate(now.redeliveries, prev_.redeliveries)},
                       {"dead_lettered_per_second", rate(now.dead_lettered, prev_.dead_lettered)},
                       {"top", std::move(sessions)}};

    json jobs = json::array();
    for (auto& j : s.activity.jobs(top_rows))
      jobs.push_back({{"id", j.id},
                      {"state", j.state},
                      {"progress", j.progress < 0 ? json(nullptr) : json(j.progress)},
                      {"message", j.message},
                      {"updated_ms", j.updated_ms},
                      {"viewers", j.viewers}});
    out["jobs"] = {{"live", s.job_actors.load()},
                   {"viewers", s.job_viewers.load()},
                   {"upstream_polls_per_second", rate(now.upstream_polls, prev_.upstream_polls)},
                   {"list", std::move(jobs)}};

    json totals = json::object(), per_second = json::object();
    for (std::size_t i = 0; i < now.rejections.size(); ++i) {
      auto& [reason, n] = now.rejections[i];
      auto before = i < prev_.rejections.size() ? prev_.rejections[i].second : 0;
      totals[reason] = n;
      per_second[reason] = rate(n, before);
    }
    json recent = json::array();
    for (auto& r : hub.metrics->recent_rejections())
      recent.push_back({{"at_ms", r.at_ms},
                        {"status", r.status},
                        {"reason", r.reason},
                        {"method", r.method},
                        {"path", r.path}});
    out["rejections"] = {{"total", std::move(totals)},
                         {"per_second", std::move(per_second)},
                         {"recent", std::move(recent)}};

    out["storage"] = {{"live_data_bytes", st.live_data_bytes},
                      {"sst_files_bytes", st.sst_files_bytes},
                      {"memtable_bytes", st.memtable_bytes},
                      {"pending_compaction_bytes", st.pending_compaction_bytes},
                      {"write_stopped", st.write_stopped != 0},
                      {"delayed_write_rate", st.delayed_write_rate},
                      {"wal_syncs", st.wal_syncs}};
    out["process"] = {{"resident_bytes", proc.resident_bytes},
                      {"cpu_percent", rounded((now.cpu_seconds - prev_.cpu_seconds) / seconds * 100, 10)},
                      {"threads", proc.threads},
                      {"open_fds", proc.open_fds},
                      {"max_fds", proc.max_fds}};
    prev_ = std::move(now);
    return out.dump();
  }

private:
  hub_context& hub_;
  std::mutex mtx_;
  readings prev_;
};

std::optional<http_response> refuse_dashboard(hub_context& hub, route_request& r) {
  if (auto refused = refuse_unless_admin(r))
    return refused;
  if (!hub.dashboard_feed)
    return error_response(r.req, http::status::not_found, "dashboard_disabled",
                          "the dashboard is off (dashboard.enabled)");
  return std::nullopt;
}

} // namespace

std::optional<double> quantile_between(const bucket_counts& before, const bucket_counts& now,
                                       double q) {
  auto n = now.cumulative.size();
  if (n == 0 || now.bounds.size() != n)
    return std::nullopt;
  auto at = [&](std::size_t i) {
    auto b = i < before.cumulative.size() ? before.cumulative[i] : 0;
    return now.cumulative[i] >= b ? now.cumulative[i] - b : 0;
  };
  auto total = at(n - 1);
  if (total == 0)
    return std::nullopt;
  auto target = std::max(q, 0.0) * static_cast<double>(total);
  for (std::size_t i = 0; i < n; ++i) {
    auto upto = static_cast<double>(at(i));
    if (upto < target && i + 1 < n)
      continue;
    if (std::isinf(now.bounds[i]))
      return i > 0 ? now.bounds[i - 1] : 0.0; // beyond the last finite bound
    auto lower = i > 0 ? now.bounds[i - 1] : 0.0;
    auto below = i > 0 ? static_cast<double>(at(i - 1)) : 0.0;
    auto inside = upto - below;
    if (inside <= 0)
      return now.bounds[i];
    return lower + (now.bounds[i] - lower) * std::clamp((target - below) / inside, 0.0, 1.0);
  }
  return std::nullopt;
}

snapshot_source make_dashboard_source(hub_context& hub) {
  auto renderer = std::make_shared<snapshot_renderer>(hub);
  auto* ctx = &hub;
  return [renderer, ctx](snapshot_done done) {
    auto q = std::make_shared<figures_query>();
    q->done = [renderer, done = std::move(done)](storage_figures figures) {
      done(renderer->render(figures));
    };
    caf::anon_send(ctx->reader, figures_atom::value, std::move(q));
  };
}

void handle_dashboard(hub_context& hub, route_request& r, respond_fn respond) {
  if (hub.dashboard_feed && !r.who->admin && accepts_html(r.req)) {
    // A browser without an admin token goes to the sign-in page, which says why; programs get
    // the JSON refusal below.
    std::string why = !r.token_refused.code.empty() ? r.token_refused.code
                      : r.who->authenticated()       ? "forbidden"
                                                     : "token_missing";
    http_response res{http::status::see_other, r.req.version()};
    res.set(http::field::server, "herald/" HERALD_VERSION);
    res.keep_alive(r.req.keep_alive());
    res.set(http::field::location, "/dashboard/signin?reason=" + why);
    res.set(http::field::cache_control, "no-store");
    res.prepare_payload();
    return respond(std::move(res));
  }
  if (!r.token_refused.code.empty())
    return respond(unauthorized(r.req, r.token_refused.code, r.token_refused.message));
  if (auto refused = refuse_dashboard(hub, r))
    return respond(std::move(*refused));
  respond(page_response(r.req, http::status::ok,
                        with_cookie_name(dashboard_html, hub.cfg.auth_cookie_name)));
}

void handle_dashboard_asset(hub_context& hub, route_request& r, respond_fn respond) {
  static const std::string js_etag = etag_of(dashboard_js);
  static const std::string css_etag = etag_of(dashboard_css);
  static const std::string signin_etag = etag_of(signin_js);
  auto name = r.path_param(0);
  if (name == "dashboard.js")
    return respond(asset_response(r.req, dashboard_js, "text/javascript; charset=utf-8", js_etag));
  if (name == "dashboard.css")
    return respond(asset_response(r.req, dashboard_css, "text/css; charset=utf-8", css_etag));
  if (name == "signin.js")
    return respond(asset_response(r.req, signin_js, "text/javascript; charset=utf-8", signin_etag));
  if (name == "signin")
    return respond(page_response(r.req, http::status::ok,
                                 with_cookie_name(signin_html, hub.cfg.auth_cookie_name)));
  respond(error_response(r.req, http::status::not_found, "not_found",
                         "the dashboard has no asset '" + name + "'"));
}

std::variant<stream_start, http_response> dashboard_stream(hub_context& hub, route_request& r) {
  if (auto refused = refuse_dashboard(hub, r))
    return std::move(*refused);
  return stream_start{"dashboard", [&hub](const queue_ptr& q, const std::string&) {
                        return hub.sys.spawn(dashboard_viewer, q, hub.dashboard_feed,
                                             hub.stream_settings.retry_ms);
                      }};
}

} // namespace herald
