#include "net/http_api.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "net/session_api.hpp"
#include "storage/event_id.hpp"
#include "storage/job.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

using json = nlohmann::json;

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size())
        return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}


} // namespace

std::shared_ptr<const http_request> request_head(const http_request& req) {
  auto head = std::make_shared<http_request>();
  head->version(req.version());
  head->keep_alive(req.keep_alive());
  if (auto origin = req[http::field::origin]; !origin.empty())
    head->set(http::field::origin, origin);
  return head;
}

http_response unavailable(const http_request& req, std::string_view code, std::string_view msg) {
  auto res = error_response(req, http::status::service_unavailable, code, msg);
  res.set(http::field::retry_after, "5");
  return res;
}

bool has_json_body(const http_request& req) {
  auto ctype = trim(to_sv(req[http::field::content_type]));
  return iequals(trim(ctype.substr(0, ctype.find(';'))), "application/json");
}

namespace {


// -- POST /v1/publish -----------------------------------------------------------------------------

void handle_publish(hub_context& hub, const http_request& req, respond_fn respond) {
  if (hub.shutting_down.load())
    return respond(unavailable(req, "shutting_down", "the hub is shutting down"));
  if (!has_json_body(req))
    return respond(error_response(req, http::status::unsupported_media_type,
                                  "unsupported_media_type",
                                  "Content-Type must be application/json"));
  json doc = json::parse(req.body(), nullptr, false);
  if (doc.is_discarded())
    return respond(error_response(req, http::status::bad_request, "malformed_json",
                                  "the body is not valid JSON"));
  bool single = doc.is_object();
  if (!single && !doc.is_array())
    return respond(error_response(req, http::status::bad_request, "invalid_body",
                                  "the body must be an event object or an array of them"));
  if (!single && doc.empty())
    return respond(error_response(req, http::status::bad_request, "invalid_body",
                                  "the array of events is empty"));
  if (!single && doc.size() > hub.cfg.limits_max_events_per_publish)
    return respond(error_response(req, http::status::bad_request, "too_many_events",
                                  "at most "
                                    + std::to_string(hub.cfg.limits_max_events_per_publish)
                                    + " events per request"));
  auto job = std::make_shared<publish_job>();
  auto items = single ? json::array({std::move(doc)}) : std::move(doc);
  job->events.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& ev = items[i];
    auto where = single ? std::string{} : "events[" + std::to_string(i) + "]: ";
    auto bad = [&](std::string_view code, const std::string& msg) {
      respond(error_response(req, http::status::bad_request, code, where + msg));
    };
    if (!ev.is_object())
      return bad("invalid_event", "an event must be a JSON object");
    for (auto it = ev.begin(); it != ev.end(); ++it)
      if (it.key() != "topic" && it.key() != "data" && it.key() != "type"
          && it.key() != "idempotency_key" && it.key() != "ack")
        return bad("unknown_field", "unknown field '" + it.key() + "'");
    auto t = ev.find("topic");
    if (t == ev.end() || !t->is_string())
      return bad("invalid_topic", "'topic' is required and must be a string");
    if (auto err = validate_topic(t->get_ref<const std::string&>()))
      return bad("invalid_topic", *err);
    auto d = ev.find("data");
    if (d == ev.end())
      return bad("missing_data", "'data' is required (any JSON value)");
    event_draft draft;
    draft.topic = t->get<std::string>();
    draft.data = d->dump();
    if (auto y = ev.find("type"); y != ev.end()) {
      if (!y->is_string())
        return bad("invalid_type", "'type' must be a string");
      draft.type = y->get<std::string>();
      if (auto err = validate_event_type(draft.type))
        return bad("invalid_type", *err);
    }
    if (auto k = ev.find("idempotency_key"); k != ev.end()) {
      if (!k->is_string() || k->get_ref<const std::string&>().empty()
          || k->get_ref<const std::string&>().size() > 128
          || std::any_of(k->get_ref<const std::string&>().begin(),
                         k->get_ref<const std::string&>().end(),
                         [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        return bad("invalid_idempotency_key",
                   "'idempotency_key' must be a string of 1 to 128 bytes without control characters");
      draft.idempotency_key = k->get<std::string>();
    }
    if (auto a = ev.find("ack"); a != ev.end()) {
      if (!a->is_boolean())
        return bad("invalid_ack", "'ack' must be a boolean");
      draft.ack = a->get<bool>();
    }
    job->events.push_back(std::move(draft));
  }
  ++hub.stats.publishes_in_flight;
  auto stats = &hub.stats;
  auto head = request_head(req);
  job->done = [respond, single, head, stats](publish_outcome out) {
    --stats->publishes_in_flight;
    if (!out.error.empty())
      return respond(error_response(*head, http::status::service_unavailable,
                                    "storage_failure", out.error));
    json body = single ? json{{"id", out.ids.front()}} : json{{"ids", out.ids}};
    respond(json_response(*head, http::status::created, body.dump()));
  };
  caf::anon_send(hub.journal, publish_atom::value, std::move(job));
}

// -- GET /v1/events -------------------------------------------------------------------------------

std::optional<std::vector<std::string>> topic_params(const request_target& target,
                                                     std::size_t max_topics, std::string& error) {
  std::vector<std::string> patterns;
  for (auto& [k, v] : target.params) {
    if (k != "topic")
      continue;
    if (auto err = validate_pattern(v)) {
      error = "topic '" + v + "': " + *err;
      return std::nullopt;
    }
    patterns.push_back(v);
  }
  if (patterns.empty()) {
    error = "at least one 'topic' parameter is required";
    return std::nullopt;
  }
  if (patterns.size() > max_topics) {
    error = "at most " + std::to_string(max_topics) + " topics per request";
    return std::nullopt;
  }
  return patterns;
}

} // namespace

const std::string* param(const request_target& t, std::string_view name) {
  for (auto& [k, v] : t.params)
    if (k == name)
      return &v;
  return nullptr;
}

namespace {

void handle_events(hub_context& hub, const http_request& req, const request_target& target,
                   respond_fn respond) {
  std::string err;
  auto patterns = topic_params(target, hub.cfg.limits_max_topics_per_subscription, err);
  if (!patterns)
    return respond(error_response(req, http::status::bad_request, "invalid_topic", err));
  for (auto& [k, v] : target.params)
    if (k != "topic" && k != "after" && k != "limit")
      return respond(error_response(req, http::status::bad_request, "unknown_parameter",
                                    "unknown query parameter '" + k + "'"));
  auto q = std::make_shared<events_query>();
  q->filter = std::make_shared<const topic_filter>(std::move(*patterns));
  if (auto* after = param(target, "after"); after != nullptr && !after->empty()) {
    auto id = parse_event_id(*after);
    if (!id)
      return respond(error_response(req, http::status::bad_request, "invalid_id",
                                    "'after' is not a valid event id"));
    if (id->epoch != hub.log->epoch()) {
      q->after = 0;
      q->unknown_log = true;
    } else {
      q->after = id->pos;
    }
  }
  if (auto* limit = param(target, "limit")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc{} || end != limit->data() + limit->size() || n < 1 || n > 1000)
      return respond(error_response(req, http::status::bad_request, "invalid_limit",
                                    "'limit' must be an integer from 1 to 1000"));
    q->limit = n;
  }
  auto head = request_head(req);
  q->done = [respond, head](std::string body) {
    respond(json_response(*head, http::status::ok, std::move(body)));
  };
  caf::anon_send(hub.reader, query_atom::value, std::move(q));
}

// -- GET /v1/stats, /healthz, /readyz -------------------------------------------------------------

std::string stats_json(hub_context& hub) {
  auto& s = hub.stats;
  double poll_rate = 0;
  {
    std::lock_guard<std::mutex> guard{hub.rate_mtx};
    auto now = std::chrono::steady_clock::now();
    auto polls = s.upstream_polls.load();
    if (now - hub.rate_sampled >= std::chrono::seconds(1)) {
      hub.upstream_polls_per_second =
        (polls - hub.rate_polls) / std::chrono::duration<double>(now - hub.rate_sampled).count();
      hub.rate_sampled = now;
      hub.rate_polls = polls;
    }
    poll_rate = hub.upstream_polls_per_second;
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::steady_clock::now() - hub.started)
                  .count();
  return json{
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
    {"upstream_polls_per_second", std::round(poll_rate * 100) / 100},
    {"slow_consumer_disconnects", s.slow_consumer_disconnects.load()},
    {"publish_errors", s.publish_errors.load()},
    {"publish_repeats", s.publish_repeats.load()},
    {"sessions", s.sessions.load()},
    {"sessions_connected", s.sessions_connected.load()},
    {"pending_acks", s.pending_acks.load()},
    {"redeliveries", s.redeliveries.load()},
    {"dead_letters", s.dead_letters.load()},
    {"dead_lettered", s.dead_lettered.load()},
    {"log_head", format_event_id(hub.log->epoch(), hub.log->head())},
    {"log_topics", hub.log->topic_count()},
    {"uptime_seconds", uptime},
  }
    .dump();
}

// -- /v1/jobs/{id} --------------------------------------------------------------------------------

void handle_job(hub_context& hub, http_request&& req, const std::string& id, respond_fn respond) {
  if (auto err = validate_job_id(id))
    return respond(error_response(req, http::status::bad_request, "invalid_job_id", *err));
  if (req.method() != http::verb::get && req.method() != http::verb::put) {
    auto res = error_response(req, http::status::method_not_allowed, "method_not_allowed",
                              "use GET or PUT for /v1/jobs/{id}");
    res.set(http::field::allow, "GET, PUT, OPTIONS");
    return respond(std::move(res));
  }
  auto job = std::make_shared<job_request>();
  job->id = id;
  if (req.method() == http::verb::put) {
    if (hub.shutting_down.load())
      return respond(unavailable(req, "shutting_down", "the hub is shutting down"));
    if (!has_json_body(req))
      return respond(error_response(req, http::status::unsupported_media_type,
                                    "unsupported_media_type",
                                    "Content-Type must be application/json"));
    job->update = std::move(req.body());
  }
  auto head = request_head(req);
  job->done = [respond, head](int status, std::string body) {
    respond(json_response(*head, static_cast<http::status>(status), std::move(body)));
  };
  caf::anon_send(hub.job_registry, job_atom::value, std::move(job));
}

} // namespace

bool is_preflight(const http_request& req) {
  return req.method() == http::verb::options && !req[http::field::origin].empty();
}

/// 204 to a CORS preflight; the CORS headers only for allowed origins.
http_response preflight_response(const config& cfg, const http_request& req,
                                 const char* methods) {
  http_response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  if (!cors_header_lines(cfg, req).empty()) {
    apply_cors(cfg, req, res);
    res.set(http::field::access_control_allow_methods, methods);
    res.set(http::field::access_control_allow_headers,
            "Content-Type, Last-Event-ID, Authorization, Cache-Control");
    res.set(http::field::access_control_max_age, "600");
  }
  res.prepare_payload();
  return res;
}

namespace {

struct route {
  const char* path;
  http::verb verb;
};

constexpr route routes[] = {
  {"/healthz", http::verb::get},       {"/readyz", http::verb::get},
  {"/v1/stats", http::verb::get},      {"/v1/publish", http::verb::post},
  {"/v1/subscribe", http::verb::get},  {"/v1/events", http::verb::get},
};

} // namespace

std::optional<std::string> job_events_path(std::string_view path) {
  static constexpr std::string_view prefix = "/v1/jobs/", suffix = "/events";
  if (path.size() <= prefix.size() + suffix.size() || path.rfind(prefix, 0) != 0
      || path.substr(path.size() - suffix.size()) != suffix)
    return std::nullopt;
  return std::string{path.substr(prefix.size(), path.size() - prefix.size() - suffix.size())};
}

std::variant<std::uint64_t, http_response> parse_job_watch(const http_request& req,
                                                           const std::string& id) {
  if (auto err = validate_job_id(id))
    return error_response(req, http::status::bad_request, "invalid_job_id", *err);
  auto last = to_sv(req["Last-Event-ID"]);
  if (last.empty())
    return std::uint64_t{0};
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), v);
  if (ec != std::errc{} || end != last.data() + last.size())
    return error_response(req, http::status::bad_request, "invalid_id",
                          "Last-Event-ID of a job stream must be a job version (an integer)");
  return v;
}

std::optional<request_target> parse_target(std::string_view target) {
  request_target out;
  auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q));
  if (!path)
    return std::nullopt;
  out.path = std::move(*path);
  if (q == std::string_view::npos)
    return out;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto k = percent_decode(part.substr(0, eq));
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{}
                                                         : part.substr(eq + 1));
    if (!k || !v)
      return std::nullopt;
    out.params.emplace_back(std::move(*k), std::move(*v));
  }
  return out;
}

http_response json_response(const http_request& req, http::status status, std::string body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "herald/" HERALD_VERSION);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response error_response(const http_request& req, http::status status, std::string_view code,
                             std::string_view message) {
  return json_response(req, status, error_body(code, message));
}

std::string cors_header_lines(const config& cfg, const http_request& req) {
  auto origin = req[http::field::origin];
  if (origin.empty() || cfg.cors_allowed_origins.empty())
    return {};
  bool any = std::find(cfg.cors_allowed_origins.begin(), cfg.cors_allowed_origins.end(), "*")
             != cfg.cors_allowed_origins.end();
  bool listed = std::find(cfg.cors_allowed_origins.begin(), cfg.cors_allowed_origins.end(),
                          std::string{to_sv(origin)})
                != cfg.cors_allowed_origins.end();
  if (!any && !listed)
    return {};
  std::string out = "Access-Control-Allow-Origin: ";
  out.append(listed ? std::string{to_sv(origin)} : std::string{"*"}).append("\r\n");
  if (listed)
    out.append("Vary: Origin\r\n");
  out.append("Access-Control-Expose-Headers: Herald-Connection-Id, Retry-After\r\n");
  return out;
}

void apply_cors(const config& cfg, const http_request& req, http_response& res) {
  auto lines = cors_header_lines(cfg, req);
  std::string_view rest{lines};
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    auto line = rest.substr(0, eol);
    auto colon = line.find(':');
    res.set(std::string{line.substr(0, colon)}, std::string{trim(line.substr(colon + 1))});
    rest.remove_prefix(eol + 2);
  }
}

std::variant<subscription_request, http_response>
parse_subscription(const hub_context& hub, const http_request& req, const request_target& target) {
  std::string err;
  auto patterns = topic_params(target, hub.cfg.limits_max_topics_per_subscription, err);
  if (!patterns)
    return error_response(req, http::status::bad_request, "invalid_topic", err);
  for (auto& [k, v] : target.params)
    if (k != "topic" && k != "last_event_id")
      return error_response(req, http::status::bad_request, "unknown_parameter",
                            "unknown query parameter '" + k + "'");
  subscription_request sub;
  sub.patterns = std::move(*patterns);
  // The header (set by EventSource on reconnect) takes precedence over the query parameter.
  std::string last{to_sv(req["Last-Event-ID"])};
  if (last.empty())
    if (auto* q = param(target, "last_event_id"))
      last = *q;
  if (!last.empty()) {
    auto id = parse_event_id(last);
    if (!id)
      return error_response(req, http::status::bad_request, "invalid_id",
                            "Last-Event-ID '" + last.substr(0, 64) + "' is not a valid event id");
    sub.resume = *id;
    sub.resume_text = last;
  }
  return sub;
}

void handle_request(hub_context& hub, http_request&& req, respond_fn respond) {
  auto target = parse_target(to_sv(req.target()));
  auto cfg = &hub.cfg;
  auto head = request_head(req);
  auto with_cors = [respond, cfg, head](http_response res) {
    apply_cors(*cfg, *head, res);
    respond(std::move(res));
  };
  if (!target)
    return with_cors(error_response(req, http::status::bad_request, "invalid_target",
                                    "the request target is not correctly percent-encoded"));
  static constexpr std::string_view jobs_prefix = "/v1/jobs/";
  if (target->path.rfind(jobs_prefix, 0) == 0 && !job_events_path(target->path)) {
    auto id = target->path.substr(jobs_prefix.size());
    if (is_preflight(req))
      return respond(preflight_response(hub.cfg, req, "GET, PUT, OPTIONS"));
    return handle_job(hub, std::move(req), id, with_cors);
  }
  if (auto sp = parse_session_path(target->path)) {
    if (is_preflight(req))
      return respond(preflight_response(hub.cfg, req, "GET, PUT, POST, DELETE, OPTIONS"));
    return handle_session_request(hub, std::move(req), *target, *sp, with_cors);
  }
  if (job_events_path(target->path) && is_preflight(req))
    return respond(preflight_response(hub.cfg, req, "GET, OPTIONS"));
  if (auto id = job_events_path(target->path); id && req.method() != http::verb::get) {
    auto res = error_response(req, http::status::method_not_allowed, "method_not_allowed",
                              "use GET for " + target->path);
    res.set(http::field::allow, "GET, OPTIONS");
    return with_cors(std::move(res));
  }
  const route* path_match = nullptr;
  for (auto& r : routes)
    if (target->path == r.path)
      path_match = &r;
  if (path_match == nullptr)
    return with_cors(error_response(req, http::status::not_found, "not_found",
                                    "no such endpoint: " + target->path));
  if (is_preflight(req))
    return respond(preflight_response(hub.cfg, req, "GET, POST, OPTIONS"));
  if (req.method() != path_match->verb) {
    auto res = error_response(req, http::status::method_not_allowed, "method_not_allowed",
                              std::string{"use "} + std::string{http::to_string(path_match->verb)}
                                + " for " + target->path);
    res.set(http::field::allow, std::string{http::to_string(path_match->verb)} + ", OPTIONS");
    return with_cors(std::move(res));
  }
  auto& path = target->path;
  if (path == "/healthz")
    return with_cors(json_response(req, http::status::ok, R"({"status":"ok"})"));
  if (path == "/readyz") {
    if (hub.ready.load() && !hub.shutting_down.load())
      return with_cors(json_response(req, http::status::ok, R"({"status":"ready"})"));
    return with_cors(unavailable(req, hub.shutting_down ? "shutting_down" : "not_ready",
                                 "the hub is not accepting work"));
  }
  if (path == "/v1/stats")
    return with_cors(json_response(req, http::status::ok, stats_json(hub)));
  if (path == "/v1/publish")
    return handle_publish(hub, req, with_cors);
  if (path == "/v1/events")
    return handle_events(hub, req, *target, with_cors);
  // /v1/subscribe is taken over by the session before it gets here.
  with_cors(error_response(req, http::status::internal_server_error, "internal",
                           "unrouted request"));
}

} // namespace herald
