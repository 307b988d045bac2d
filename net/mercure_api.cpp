#include "net/mercure_api.hpp"

#include <algorithm>

#include <simdjson.h>

#include "net/auth.hpp"
#include "net/header_text.hpp"
#include "net/http_api.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"
#include "net/mercure_subscriptions.hpp"
#include "net/rate_limits.hpp"
#include "net/sse_encoding.hpp"
#include "storage/event_id.hpp"
#include "uri/uri.hpp"

namespace herald {
namespace {

constexpr std::size_t max_topic_bytes_mercure = 2048;
constexpr std::size_t max_id_bytes = 1024;
constexpr std::size_t max_type_bytes = 1024;

std::string_view field(const http_request& req, std::string_view name) {
  auto v = req[boost::beast::string_view{name.data(), name.size()}];
  return {v.data(), v.size()};
}

bool has_line_break_or_nul(std::string_view s) {
  return s.find_first_of(std::string_view{"\r\n\0", 3}) != std::string_view::npos;
}

std::optional<http_response> refuse_when_off(const hub_context& hub, const http_request& req) {
  if (hub.cfg.mercure_enabled)
    return std::nullopt;
  return error_response(req, http::status::not_found, "not_found",
                        "the Mercure endpoint is turned off on this hub (mercure.enabled)");
}

/// A request without a token on a hub with keys is the hub's anonymous principal.
bool anonymous(const principal& who) {
  return who.from == principal::origin::anonymous;
}

http_response text_response(const http_request& req, http::status status, std::string body) {
  http_response res{status, req.version()};
  res.keep_alive(req.keep_alive());
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

/// Publishes Mercure updates from the hub itself (subscription events); nobody waits for them.
void publish_internal(hub_context& hub, std::vector<event_draft> drafts) {
  if (drafts.empty() || hub.shutting_down.load())
    return;
  auto job = std::make_shared<publish_job>();
  job->events = std::move(drafts);
  job->done = [](publish_outcome) {};
  caf::anon_send(hub.journal, publish_atom::value, std::move(job));
}

/// The subscription events of `subs` (private: only subscribers allowed to see them get them).
std::vector<event_draft> subscription_events(const std::vector<mercure_subscription>& subs,
                                             bool active) {
  std::vector<event_draft> out;
  for (auto& s : subs) {
    event_draft d;
    d.topic = std::string{mercure_log_topic};
    d.data = s.json(active, true);
    d.access.is_private = true;
    auto m = std::make_shared<mercure_fields>();
    m->topics.push_back(s.id());
    d.mercure = std::move(m);
    out.push_back(std::move(d));
  }
  return out;
}

/// Registers one subscriber's subscriptions; the returned lease removes them (and says so in
/// subscription events) when the stream closes, whichever thread that happens on.
std::shared_ptr<void> register_subscriber(hub_context& hub, std::vector<mercure_subscription> subs) {
  hub.mercure_subs->add(subs);
  publish_internal(hub, subscription_events(subs, true));
  auto registry = hub.mercure_subs;
  auto alive = hub.alive;
  auto* ctx = &hub;
  return std::shared_ptr<void>(nullptr, [registry, alive, ctx, subs = std::move(subs)](void*) {
    registry->remove(subs.front().subscriber);
    if (alive->load())
      publish_internal(*ctx, subscription_events(subs, false));
  });
}

} // namespace

// -- the publish form -------------------------------------------------------------------------

std::variant<mercure_update_form, body_refusal> parse_mercure_update(std::string_view body,
                                                                     std::size_t max_topics) {
  auto pairs = uri::parse_query(body);
  if (!pairs)
    return body_refusal{"invalid_body", "the body is not correctly form-urlencoded"};
  mercure_update_form out;
  bool seen_data = false, seen_id = false, seen_type = false, seen_retry = false,
       seen_private = false;
  auto once = [](bool& seen, const std::string& name) -> std::optional<body_refusal> {
    if (seen)
      return body_refusal{"duplicate_field", "'" + name + "' may be given only once"};
    seen = true;
    return std::nullopt;
  };
  for (auto& [k, v] : *pairs) {
    if (k == "topic") {
      if (v.empty() || v.size() > max_topic_bytes_mercure)
        return body_refusal{"invalid_topic", "a topic must be 1 to 2048 bytes"};
      if (out.topics.size() >= max_topics)
        return body_refusal{"invalid_topic", "at most " + std::to_string(max_topics)
                                               + " topics per update"};
      out.topics.push_back(std::move(v));
    } else if (k == "data") {
      if (auto dup = once(seen_data, k))
        return *dup;
      if (!simdjson::validate_utf8(v.data(), v.size()))
        return body_refusal{"invalid_data", "'data' must be valid UTF-8"};
      out.data = std::move(v);
    } else if (k == "private") {
      // Present means private, whatever its value (Mercure: "on" is customary).
      if (auto dup = once(seen_private, k))
        return *dup;
      out.is_private = true;
    } else if (k == "id") {
      if (auto dup = once(seen_id, k))
        return *dup;
      if (v.empty() || v.size() > max_id_bytes || has_line_break_or_nul(v))
        return body_refusal{"invalid_id", "'id' must be 1 to 1024 bytes without CR, LF or NUL"};
      if (v == "earliest" || v.rfind(mercure_id_prefix, 0) == 0)
        return body_refusal{"invalid_id", "'id' may not be 'earliest' nor start with '"
                                            + std::string{mercure_id_prefix}
                                            + "' (reserved for the hub's own ids)"};
      if (!simdjson::validate_utf8(v.data(), v.size()))
        return body_refusal{"invalid_id", "'id' must be valid UTF-8"};
      out.id = std::move(v);
    } else if (k == "type") {
      if (auto dup = once(seen_type, k))
        return *dup;
      if (v.empty() || v.size() > max_type_bytes || has_line_break_or_nul(v)
          || !simdjson::validate_utf8(v.data(), v.size()))
        return body_refusal{"invalid_type",
                            "'type' must be 1 to 1024 bytes of UTF-8 without CR, LF or NUL"};
      out.type = std::move(v);
    } else if (k == "retry") {
      if (auto dup = once(seen_retry, k))
        return *dup;
      if (v.empty() || v.size() > 10
          || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return body_refusal{"invalid_retry", "'retry' must be 1 to 10 digits (milliseconds)"};
      out.retry_ms = std::stoull(v);
    } else {
      return body_refusal{"unknown_field", "unknown field '" + k.substr(0, 64) + "'"};
    }
  }
  if (out.topics.empty())
    return body_refusal{"invalid_topic", "at least one 'topic' is required"};
  return out;
}

// -- POST /.well-known/mercure ----------------------------------------------------------------

void mercure_publish(hub_context& hub, route_request& r, respond_fn respond) {
  auto& req = r.req;
  if (auto off = refuse_when_off(hub, req))
    return respond(std::move(*off));
  if (auto refused = refuse_when_shutting_down(hub, req))
    return respond(std::move(*refused));
  auto ctype = trim(field(req, "Content-Type"));
  if (!iequals(trim(ctype.substr(0, ctype.find(';'))), "application/x-www-form-urlencoded"))
    return respond(error_response(req, http::status::unsupported_media_type,
                                  "unsupported_media_type",
                                  "Content-Type must be application/x-www-form-urlencoded"));
  auto parsed = parse_mercure_update(req.body(), hub.cfg.limits_max_topics_per_subscription);
  if (auto* refusal = std::get_if<body_refusal>(&parsed))
    return respond(error_response(req, http::status::bad_request, refusal->code,
                                  refusal->message));
  auto& form = std::get<mercure_update_form>(parsed);
  // Every topic of the update must be one the token may publish to.
  std::vector<mercure_selector> grants(r.who->mercure_publish.begin(),
                                       r.who->mercure_publish.end());
  for (auto& topic : form.topics)
    if (!mercure_any_match(grants, {topic}))
      return respond(forbidden(r, "publishing to Mercure topic '" + topic.substr(0, 256) + "'"));
  if (hub.limits->publish_events.enabled())
    if (auto wait = hub.limits->publish_events.take(limit_key(r), 1.0))
      return respond(too_many(req, *wait, "over the published events rate "
                                          "(rate.publish_events_per_second)"));
  event_draft d;
  d.topic = std::string{mercure_log_topic};
  d.type = std::move(form.type);
  d.data = std::move(form.data);
  d.access.is_private = form.is_private;
  auto m = std::make_shared<mercure_fields>();
  m->topics = std::move(form.topics);
  m->id = form.id;
  m->retry_ms = form.retry_ms;
  d.mercure = std::move(m);
  auto job = std::make_shared<publish_job>();
  job->events.push_back(std::move(d));
  ++hub.stats.publishes_in_flight;
  auto stats = &hub.stats;
  auto head = r.head;
  auto* metrics = hub.metrics.get();
  job->done = [respond, head, stats, metrics, started = std::chrono::steady_clock::now(),
               custom = std::move(form.id)](publish_outcome out) {
    --stats->publishes_in_flight;
    metrics->observe_publish(std::chrono::steady_clock::now() - started);
    if (out.error)
      return respond(error_response(*head, out.error));
    respond(text_response(*head, http::status::ok,
                          custom.empty() ? mercure_event_id(out.ids.at(0)) : custom));
  };
  caf::anon_send(hub.journal, publish_atom::value, std::move(job));
}

// -- GET /.well-known/mercure -----------------------------------------------------------------

std::variant<stream_start, http_response> mercure_subscribe(hub_context& hub, route_request& r) {
  if (auto off = refuse_when_off(hub, r.req))
    return std::move(*off);
  if (auto refused = refuse_unknown_params(r, {"topic", "lastEventID", "Last-Event-ID"}))
    return std::move(*refused);
  std::vector<std::string> selectors;
  for (auto& [k, v] : r.target.params) {
    if (k != "topic")
      continue;
    if (v.empty() || v.size() > max_topic_bytes_mercure)
      return error_response(r.req, http::status::bad_request, "invalid_topic",
                            "a topic selector must be 1 to 2048 bytes");
    if (mercure_selector{v}.expressions() > max_selector_expressions)
      return error_response(r.req, http::status::bad_request, "invalid_topic",
                            "a URI template selector may have at most "
                              + std::to_string(max_selector_expressions) + " expressions");
    selectors.push_back(v);
  }
  if (selectors.empty())
    return error_response(r.req, http::status::bad_request, "invalid_topic",
                          "at least one 'topic' parameter is required");
  if (selectors.size() > hub.cfg.limits_max_topics_per_subscription)
    return error_response(r.req, http::status::bad_request, "invalid_topic",
                          "at most " + std::to_string(hub.cfg.limits_max_topics_per_subscription)
                            + " topic selectors per subscription");
  auto& who = *r.who;
  if (anonymous(who) && !hub.cfg.mercure_anonymous)
    return forbidden(r, "subscribing to Mercure updates");
  // Where to start: Last-Event-ID (header, then `lastEventID`, then the older `Last-Event-ID`
  // parameter); without one, the log's head now, which the response names in its Last-Event-ID.
  std::string last{field(r.req, "Last-Event-ID")};
  if (last.empty())
    if (auto* q = r.target.param("lastEventID"))
      last = *q;
  if (last.empty())
    if (auto* q = r.target.param("Last-Event-ID"))
      last = *q;
  if (last.size() > max_id_bytes)
    return error_response(r.req, http::status::bad_request, "invalid_id",
                          "Last-Event-ID is longer than 1024 bytes");
  auto sub = std::make_shared<subscription_request>();
  auto epoch = hub.log->epoch();
  auto head = hub.log->head();
  if (last == "earliest") {
    sub->earliest = true;
  } else if (last.rfind(mercure_id_prefix, 0) == 0) {
    auto id = parse_event_id(std::string_view{last}.substr(mercure_id_prefix.size()));
    if (!id)
      return error_response(r.req, http::status::bad_request, "invalid_id",
                            "Last-Event-ID '" + last.substr(0, 64) + "' is not a valid hub id");
    sub->resume = hub.log->resolve(*id);
    sub->resume_text = last;
  } else if (!last.empty()) {
    sub->resume_mercure_id = last; // a publisher's own id: the log knows where it is
  } else {
    sub->resume = event_id{epoch, head};
    sub->resume_text = mercure_event_id(format_event_id(epoch, head));
  }
  // Private updates need a verified token whose mercure.subscribe matches one of their topics.
  static const std::vector<std::string> none;
  sub->mercure = std::make_shared<const mercure_view>(
    selectors, who.authenticated() ? who.mercure_subscribe : none);
  // Selectors are any text: quoted (JSON escapes), so that none can forge a log line.
  std::string joined;
  for (auto& s : selectors)
    joined.append(joined.empty() ? "" : ",").append(s.substr(0, 128));
  stream_start start{"mercure=" + json_string(joined), [&hub, sub](const queue_ptr& q, const std::string&) {
                       connection_deps deps{hub.registry,     hub.dispatcher, hub.reader,
                                            hub.log->epoch(), &hub.stats,     hub.stream_settings};
                       return hub.sys.spawn(connection, q, std::move(*sub), std::move(deps));
                     }};
  start.format = sse_format::mercure;
  // Counted while the stream is open (the lease goes when it closes).
  ++hub.stats.mercure_streams;
  r.leases.push_back(std::shared_ptr<void>(nullptr, [stats = &hub.stats, alive = hub.alive](void*) {
    if (alive->load())
      --stats->mercure_streams;
  }));
  start.headers.emplace_back("Last-Event-ID", mercure_event_id(format_event_id(epoch, head)));
  if (hub.cfg.mercure_subscriptions) {
    std::vector<mercure_subscription> subs;
    auto subscriber = random_subscriber_id();
    for (auto& s : selectors)
      subs.push_back({s, subscriber, who.authenticated() ? who.mercure_payload : std::string{}});
    r.leases.push_back(register_subscriber(hub, std::move(subs)));
  }
  return start;
}

// -- GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]] --------------------------

void mercure_subscriptions_get(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto off = refuse_when_off(hub, r.req))
    return respond(std::move(*off));
  if (!hub.cfg.mercure_subscriptions)
    return respond(error_response(r.req, http::status::not_found, "not_found",
                                  "the subscriptions API is turned off on this hub "
                                  "(mercure.subscriptions)"));
  if (auto refused = refuse_unknown_params(r, {}))
    return respond(std::move(*refused));
  auto& who = *r.who;
  // The resource is its path (as Mercure names it: each part percent-encoded); the token's
  // mercure.subscribe must match it, and each subscription listed.
  std::string_view target{r.req.target().data(), r.req.target().size()};
  std::string path{target.substr(0, target.find('?'))};
  std::vector<mercure_selector> grants(who.mercure_subscribe.begin(), who.mercure_subscribe.end());
  bool development = who.from == principal::origin::development;
  auto may_read = [&](const std::string& id) {
    return development || (who.authenticated() && mercure_any_match(grants, {id}));
  };
  if (!may_read(path))
    return respond(forbidden(r, "reading Mercure subscriptions"));
  auto topic = r.path_params.size() > 0 ? r.path_params[0] : std::string{};
  auto subscriber = r.path_params.size() > 1 ? r.path_params[1] : std::string{};
  auto last = mercure_event_id(format_event_id(hub.log->epoch(), hub.log->head()));
  auto found = hub.mercure_subs->list(topic, subscriber);
  std::string body;
  if (!subscriber.empty()) {
    if (found.empty() || !may_read(found.front().id()))
      return respond(error_response(r.req, http::status::not_found, "not_found",
                                    "no such subscription"));
    body = found.front().json(true, true, last);
  } else {
    body = "{\"@context\":\"https://mercure.rocks/\",\"id\":" + json_string(path)
           + ",\"type\":\"Subscriptions\",\"lastEventID\":" + json_string(last)
           + ",\"subscriptions\":[";
    bool first = true;
    for (auto& s : found) {
      if (!may_read(s.id()))
        continue;
      body.append(first ? "" : ",").append(s.json(true, false));
      first = false;
    }
    body += "]}";
  }
  auto res = json_response(r.req, http::status::ok, std::move(body));
  res.set(http::field::content_type, "application/ld+json");
  respond(std::move(res));
}

} // namespace herald
