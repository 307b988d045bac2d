#include "net/http_api.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "actors/job_viewer.hpp"
#include "net/auth.hpp"
#include "net/header_text.hpp"
#include "net/http_responses.hpp"
#include "net/publish_body.hpp"
#include "net/hub_context.hpp"
#include "net/rate_limits.hpp"
#include "net/ws_frames.hpp"
#include "storage/event_id.hpp"
#include "storage/job.hpp"
#include "storage/topic_pattern.hpp"
#include "storage/wall_clock.hpp"

namespace herald {

/// clients/js/herald.js (generated/client_js.cpp).
extern const std::string_view client_js_source;
namespace {

using json = nlohmann::json;

std::string_view field(const http_request& req, std::string_view name) {
  auto v = req[boost::beast::string_view{name.data(), name.size()}];
  return {v.data(), v.size()};
}

/// The topic parameters of a request, each a valid pattern, at most `max_topics`.
std::variant<std::vector<std::string>, http_response>
topic_params(const route_request& r, std::size_t max_topics) {
  std::vector<std::string> patterns;
  auto bad = [&](const std::string& msg) {
    return error_response(r.req, http::status::bad_request, "invalid_topic", msg);
  };
  for (auto& [k, v] : r.target.params) {
    if (k != "topic")
      continue;
    if (auto err = validate_pattern(v))
      return bad("topic '" + v + "': " + *err);
    patterns.push_back(v);
  }
  if (patterns.empty())
    return bad("at least one 'topic' parameter is required");
  if (patterns.size() > max_topics)
    return bad("at most " + std::to_string(max_topics) + " topics per request");
  return patterns;
}

} // namespace

// -- shared by the handlers -------------------------------------------------------------------

std::optional<http_response> refuse_when_shutting_down(const hub_context& hub,
                                                       const http_request& req) {
  if (!hub.shutting_down.load())
    return std::nullopt;
  return error_response(req, http::status::service_unavailable, "shutting_down",
                        "the hub is shutting down");
}

bool json_deeper_than(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

std::optional<http_response> require_json_body(const hub_context& hub, const http_request& req) {
  auto ctype = trim(field(req, "Content-Type"));
  if (!iequals(trim(ctype.substr(0, ctype.find(';'))), "application/json"))
    return error_response(req, http::status::unsupported_media_type, "unsupported_media_type",
                          "Content-Type must be application/json");
  auto max = hub.cfg.limits_max_json_depth;
  if (json_deeper_than(req.body(), max))
    return error_response(req, http::status::bad_request, "too_deep",
                          "the body nests arrays and objects deeper than "
                            + std::to_string(max) + " levels");
  return std::nullopt;
}

std::optional<http_response> refuse_unknown_params(const route_request& r,
                                                   std::initializer_list<std::string_view> known) {
  for (auto& [k, v] : r.target.params)
    if (std::find(known.begin(), known.end(), k) == known.end())
      return error_response(r.req, http::status::bad_request, "unknown_parameter",
                            "unknown query parameter '" + k + "'");
  return std::nullopt;
}

std::string resume_text(const route_request& r) {
  // The header (set by EventSource on reconnect) takes precedence over the query parameter.
  std::string last{field(r.req, "Last-Event-ID")};
  if (last.empty())
    if (auto* q = r.target.param("last_event_id"))
      last = *q;
  return last;
}

std::variant<bool, http_response> envelope_param(const route_request& r) {
  auto* v = r.target.param("envelope");
  if (v == nullptr || *v == "0" || *v == "false")
    return false;
  if (*v == "1" || *v == "true")
    return true;
  return error_response(r.req, http::status::bad_request, "invalid_envelope",
                        "'envelope' must be 1 (or true) or 0 (or false)");
}

std::variant<std::optional<event_id>, http_response> resume_position(const hub_context& hub,
                                                                     const route_request& r) {
  auto last = resume_text(r);
  if (last.empty())
    return std::optional<event_id>{};
  auto id = parse_event_id(last);
  if (!id)
    return error_response(r.req, http::status::bad_request, "invalid_id",
                          "Last-Event-ID '" + last.substr(0, 64) + "' is not a valid event id");
  return std::optional<event_id>{hub.log->resolve(*id)};
}

std::variant<std::size_t, http_response> page_limit(const route_request& r) {
  auto* limit = r.target.param("limit");
  if (limit == nullptr)
    return std::size_t{100};
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
  if (ec != std::errc{} || end != limit->data() + limit->size() || n < 1 || n > 1000)
    return error_response(r.req, http::status::bad_request, "invalid_limit",
                          "'limit' must be an integer from 1 to 1000");
  return n;
}

std::string render_events_page(const events_page& page) {
  auto epoch = page.epoch;
  // Event data is stored as JSON text: splice it in rather than parse and re-serialize.
  std::string out = "{\"events\":[";
  bool first = true;
  for (auto& e : page.events) {
    if (!first)
      out.push_back(',');
    first = false;
    out += "{\"id\":\"" + format_event_id(epoch, e.pos) + "\",\"topic\":" + json(e.topic).dump()
           + ",\"type\":" + (e.type.empty() ? std::string{"null"} : json(e.type).dump())
           + ",\"time\":\"" + iso_time(e.time_ms) + "\",\"data\":" + e.data + "}";
  }
  out += "],\"next_after\":\"" + format_event_id(epoch, page.scanned_through) + "\"";
  out += ",\"head\":\"" + format_event_id(epoch, page.head) + "\"";
  out += ",\"more\":" + std::string{page.scanned_through < page.head ? "true" : "false"};
  std::string gap_json = "null";
  if (page.unknown_log)
    gap_json = "{\"reason\":\"unknown_log\"}";
  else if (page.gap)
    gap_json = gap_notice_json(epoch, *page.gap);
  out += ",\"gap\":" + gap_json + "}";
  return out;
}

// -- POST /v1/publish -------------------------------------------------------------------------

void handle_publish(hub_context& hub, route_request& r, respond_fn respond) {
  auto& req = r.req;
  if (auto refused = refuse_when_shutting_down(hub, req))
    return respond(std::move(*refused));
  if (auto refused = require_json_body(hub, req))
    return respond(std::move(*refused));
  auto parsed = parse_publish_body(req.body(), hub.cfg.limits_max_events_per_publish);
  if (auto* refusal = std::get_if<body_refusal>(&parsed))
    return respond(error_response(req, http::status::bad_request, refusal->code,
                                  refusal->message));
  auto& body = std::get<publish_body>(parsed);
  bool single = body.single;
  auto job = std::make_shared<publish_job>();
  job->events = std::move(body.events);
  if (auto refused = refuse_publish(r, job->events))
    return respond(std::move(*refused));
  if (hub.limits->publish_events.enabled())
    if (auto wait = hub.limits->publish_events.take(limit_key(r),
                                                    static_cast<double>(job->events.size())))
      return respond(too_many(req, *wait, "over the published events rate "
                                          "(rate.publish_events_per_second)"));
  ++hub.stats.publishes_in_flight;
  auto stats = &hub.stats;
  auto head = r.head;
  auto* metrics = hub.metrics.get();
  job->done = [respond, single, head, stats, metrics,
               started = std::chrono::steady_clock::now()](publish_outcome out) {
    --stats->publishes_in_flight;
    metrics->observe_publish(std::chrono::steady_clock::now() - started);
    if (out.error)
      return respond(error_response(*head, out.error));
    // Event ids are "<epoch>-<position>" (hex and digits): nothing in them needs escaping.
    std::string body = single ? "{\"id\":\"" : "{\"ids\":[\"";
    for (std::size_t i = 0; i < out.ids.size(); ++i)
      body.append(i > 0 ? "\",\"" : "").append(out.ids[i]);
    body += single ? "\"}" : "\"]}";
    respond(json_response(*head, http::status::created, std::move(body)));
  };
  caf::anon_send(hub.journal, publish_atom::value, std::move(job));
}

// -- GET /v1/events ---------------------------------------------------------------------------

void handle_events(hub_context& hub, route_request& r, respond_fn respond) {
  auto patterns = topic_params(r, hub.cfg.limits_max_topics_per_subscription);
  if (auto* res = std::get_if<http_response>(&patterns))
    return respond(std::move(*res));
  if (auto refused = refuse_unknown_params(r, {"topic", "after", "limit"}))
    return respond(std::move(*refused));
  if (auto refused = refuse_subscribe(r, std::get<std::vector<std::string>>(patterns)))
    return respond(std::move(*refused));
  auto q = std::make_shared<events_query>();
  q->filter = std::make_shared<const topic_filter>(
    std::get<std::vector<std::string>>(std::move(patterns)), r.who);
  if (auto* after = r.target.param("after"); after != nullptr && !after->empty()) {
    auto id = parse_event_id(*after);
    if (!id)
      return respond(error_response(r.req, http::status::bad_request, "invalid_id",
                                    "'after' is not a valid event id"));
    id = hub.log->resolve(*id);
    q->unknown_log = id->epoch != hub.log->epoch();
    q->after = q->unknown_log ? 0 : id->pos;
  }
  auto limit = page_limit(r);
  if (auto* res = std::get_if<http_response>(&limit))
    return respond(std::move(*res));
  q->limit = std::get<std::size_t>(limit);
  auto head = r.head;
  q->done = [respond, head](events_page page) {
    if (page.error)
      return respond(error_response(*head, page.error));
    respond(json_response(*head, http::status::ok, render_events_page(page)));
  };
  caf::anon_send(hub.reader, query_atom::value, std::move(q));
}

// -- GET /v1/stats, /healthz, /readyz ---------------------------------------------------------

namespace {

double upstream_poll_rate(hub_context& hub) {
  std::lock_guard<std::mutex> guard{hub.rate_mtx};
  auto now = std::chrono::steady_clock::now();
  auto polls = hub.stats.upstream_polls.load();
  if (now - hub.rate_sampled >= std::chrono::seconds(1)) {
    hub.upstream_polls_per_second =
      (polls - hub.rate_polls) / std::chrono::duration<double>(now - hub.rate_sampled).count();
    hub.rate_sampled = now;
    hub.rate_polls = polls;
  }
  return hub.upstream_polls_per_second;
}

std::string stats_json(hub_context& hub) {
  auto& s = hub.stats;
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::steady_clock::now() - hub.started)
                  .count();
  json out{
    {"connections", s.open_connections.load()},
    {"connection_actors", s.connection_actors.load()},
    {"topic_actors", s.topic_actors.load()},
    {"job_actors", s.job_actors.load()},
    {"actors", hub.sys.registry().running()},
    {"events_published", s.events_published.load()},
    {"events_delivered", s.events_delivered.load()},
    {"events_replayed", s.events_replayed.load()},
    {"job_viewers", s.job_viewers.load()},
    {"upstream_polls", s.upstream_polls.load()},
    {"upstream_polls_per_second", std::round(upstream_poll_rate(hub) * 100) / 100},
    {"slow_consumer_disconnects", s.slow_consumer_disconnects.load()},
    {"publish_errors", s.publish_errors.load()},
    {"publish_repeats", s.publish_repeats.load()},
    {"sessions", s.sessions.load()},
    {"sessions_connected", s.sessions_connected.load()},
    {"pending_acks", s.pending_acks.load()},
    {"redeliveries", s.redeliveries.load()},
    {"dead_letters", s.dead_letters.load()},
    {"dead_lettered", s.dead_lettered.load()},
    {"auth_failures", s.auth_failures.load()},
    {"forbidden", s.forbidden.load()},
    {"rate_limited", s.rate_limited.load()},
    {"request_timeouts", s.request_timeouts.load()},
    {"token_expiries", s.token_expiries.load()},
    {"websockets", s.websockets.load()},
    {"websocket_subscriptions", s.websocket_subscriptions.load()},
    {"websocket_messages_in", s.websocket_messages_in.load()},
    {"websocket_refusals", s.websocket_refusals.load()},
    {"mercure_streams", s.mercure_streams.load()},
    {"outbound_queue_bytes", hub.outbound_bytes->load()},
    {"gzip_requests", s.gzip_requests.load()},
    {"gzip_responses", s.gzip_responses.load()},
    {"gzip_stream_bytes_in", s.gzip_stream_bytes_in.load()},
    {"gzip_stream_bytes_out", s.gzip_stream_bytes_out.load()},
    {"mercure_subscriptions", hub.mercure_subs->size()},
    {"log_head", format_event_id(hub.log->epoch(), hub.log->head())},
    {"log_topics", hub.log->topic_count()},
    {"uptime_seconds", uptime},
  };
  if (auto& c = s.cluster; c.enabled.load())
    out["cluster"] = json{
      {"node", hub.cfg.node_name()},
      {"connected", c.connected.load()},
      {"caught_up", c.caught_up.load()},
      {"applied", c.applied.load()},
      {"lag", c.lag.load()},
      {"lost", c.lost.load()},
    };
  return out.dump();
}

} // namespace

void handle_health(hub_context&, route_request& r, respond_fn respond) {
  respond(json_response(r.req, http::status::ok, R"({"status":"ok"})"));
}

void handle_client_js(hub_context&, route_request& r, respond_fn respond) {
  // Versioned by its content: a browser revalidates after 5 minutes and gets 304 if unchanged.
  static const std::string etag = etag_of(client_js_source);
  respond(asset_response(r.req, client_js_source, "text/javascript; charset=utf-8", etag));
}

void handle_ready(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto why = hub.not_ready())
    return respond(error_response(r.req, http::status::service_unavailable, why->first,
                                  why->second));
  respond(json_response(r.req, http::status::ok, R"({"status":"ready"})"));
}

void handle_stats(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_unless_admin(r))
    return respond(std::move(*refused));
  respond(json_response(r.req, http::status::ok, stats_json(hub)));
}

// -- /v1/jobs/{id} ----------------------------------------------------------------------------

namespace {

/// Hands a job request to the job's watcher; its reply is rendered here.
void ask_job(hub_context& hub, const route_request& r, std::shared_ptr<job_request> job,
             respond_fn respond) {
  auto head = r.head;
  job->done = [respond, head](request_reply reply) { respond(reply_response(*head, reply)); };
  caf::anon_send(hub.job_registry, job_atom::value, std::move(job));
}

std::optional<http_response> refuse_bad_job_id(const route_request& r) {
  if (auto err = validate_job_id(r.path_param(0)))
    return error_response(r.req, http::status::bad_request, "invalid_job_id", *err);
  return std::nullopt;
}

/// A job is guarded as the topic jobs/{id}: writing needs a publish grant on it, reading a
/// subscribe grant. The id's own validity is checked first.
std::optional<http_response> refuse_job_access(const route_request& r, bool write) {
  if (auto refused = refuse_bad_job_id(r))
    return refused;
  auto topic = "jobs/" + r.path_param(0);
  if (write ? may_publish(*r.who, topic) : may_subscribe(*r.who, topic))
    return std::nullopt;
  return forbidden(r, (write ? "writing '" : "reading '") + topic + "'");
}

} // namespace

void handle_job_get(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_job_access(r, false))
    return respond(std::move(*refused));
  auto job = std::make_shared<job_request>();
  job->id = r.path_param(0);
  ask_job(hub, r, std::move(job), std::move(respond));
}

void handle_job_put(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_job_access(r, true))
    return respond(std::move(*refused));
  if (auto refused = refuse_when_shutting_down(hub, r.req))
    return respond(std::move(*refused));
  if (auto refused = require_json_body(hub, r.req))
    return respond(std::move(*refused));
  auto job = std::make_shared<job_request>();
  job->id = r.path_param(0);
  job->update = std::move(r.req.body());
  ask_job(hub, r, std::move(job), std::move(respond));
}

// -- streams ----------------------------------------------------------------------------------

std::variant<stream_start, http_response> subscribe_stream(hub_context& hub, route_request& r) {
  auto patterns = topic_params(r, hub.cfg.limits_max_topics_per_subscription);
  if (auto* res = std::get_if<http_response>(&patterns))
    return std::move(*res);
  if (auto refused = refuse_unknown_params(r, {"topic", "last_event_id", "envelope"}))
    return std::move(*refused);
  if (auto refused = refuse_subscribe(r, std::get<std::vector<std::string>>(patterns)))
    return std::move(*refused);
  auto envelope = envelope_param(r);
  if (auto* res = std::get_if<http_response>(&envelope))
    return std::move(*res);
  auto sub = std::make_shared<subscription_request>();
  if (resume_text(r) == "earliest") {
    sub->earliest = true;
  } else {
    auto resume = resume_position(hub, r);
    if (auto* res = std::get_if<http_response>(&resume))
      return std::move(*res);
    sub->resume = std::get<std::optional<event_id>>(resume);
    if (sub->resume)
      sub->resume_text = resume_text(r);
  }
  sub->patterns = std::get<std::vector<std::string>>(std::move(patterns));
  sub->viewer = r.who;
  std::string topics;
  for (auto& p : sub->patterns)
    topics.append(topics.empty() ? "" : ",").append(p);
  stream_start start{"topics=" + topics, [&hub, sub](const queue_ptr& q, const std::string&) {
                       connection_deps deps{hub.registry,     hub.dispatcher, hub.reader,
                                            hub.log->epoch(), &hub.stats,     hub.stream_settings};
                       return hub.sys.spawn(connection, q, std::move(*sub), std::move(deps));
                     }};
  start.format = std::get<bool>(envelope) ? sse_format::envelope : sse_format::plain;
  return start;
}

namespace {

/// Whether a browser page from `origin` may open a WebSocket here: no Origin (not a browser), an
/// origin listed in cors.allowed_origins (or "*"), or the hub's own origin (the Host it was
/// asked for). A WebSocket is not subject to CORS, so this is the only guard against a foreign
/// page using the visitor's cookie (cross-site WebSocket hijacking).
bool websocket_origin_allowed(const hub_context& hub, const http_request& req) {
  auto origin = field(req, "Origin");
  if (origin.empty())
    return true;
  auto live = hub.settings();
  auto& allowed = live->cors_allowed_origins;
  for (auto& o : allowed)
    if (o == "*" || o == origin)
      return true;
  auto host = field(req, "Host");
  auto scheme_end = origin.find("://");
  return !host.empty() && scheme_end != std::string_view::npos
         && origin.substr(scheme_end + 3) == host;
}

} // namespace

std::variant<stream_start, http_response> websocket_stream(hub_context& hub, route_request& r) {
  if (!boost::beast::websocket::is_upgrade(r.req)) {
    auto res = error_response(r.req, http::status::upgrade_required, "upgrade_required",
                              "GET /v1/ws is a WebSocket endpoint: send 'Upgrade: websocket'");
    res.set(http::field::upgrade, "websocket");
    return res;
  }
  if (field(r.req, "Sec-WebSocket-Version") != "13") {
    auto res = error_response(r.req, http::status::upgrade_required, "unsupported_version",
                              "this hub speaks WebSocket version 13 (RFC 6455)");
    res.set(http::field::sec_websocket_version, "13");
    return res;
  }
  if (!ws_valid_key(field(r.req, "Sec-WebSocket-Key")))
    return error_response(r.req, http::status::bad_request, "invalid_upgrade",
                          "Sec-WebSocket-Key must be the base64 of 16 bytes");
  if (!websocket_origin_allowed(hub, r.req))
    return error_response(r.req, http::status::forbidden, "origin_not_allowed",
                          "a WebSocket from this Origin is not allowed (cors.allowed_origins)");
  if (auto refused = refuse_unknown_params(r, {}))
    return std::move(*refused);
  // A hub with keys takes anonymous sockets only when anonymous clients may do something.
  auto& who = *r.who;
  if (who.from == principal::origin::anonymous && who.publish.empty() && who.subscribe.empty())
    return error_response(r.req, http::status::unauthorized, "token_missing",
                          "a WebSocket needs a token (Authorization, the auth cookie or "
                          "access_token)");
  return stream_start{"websocket", nullptr, stream_transport::websocket};
}

std::variant<stream_start, http_response> job_stream(hub_context& hub, route_request& r) {
  if (auto refused = refuse_job_access(r, false))
    return std::move(*refused);
  if (auto refused = refuse_unknown_params(r, {"last_event_id"}))
    return std::move(*refused);
  std::uint64_t last_seen = 0;
  if (auto last = resume_text(r); !last.empty()) {
    auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), last_seen);
    if (ec != std::errc{} || end != last.data() + last.size())
      return error_response(r.req, http::status::bad_request, "invalid_id",
                            "Last-Event-ID of a job stream must be a job version (an integer)");
  }
  auto id = r.path_param(0);
  return stream_start{"job=" + id, [&hub, id, last_seen](const queue_ptr& q, const std::string&) {
                        return hub.sys.spawn(job_viewer, id, q, last_seen, hub.job_registry,
                                             hub.stream_settings.retry_ms, &hub.stats);
                      }};
}

} // namespace herald
