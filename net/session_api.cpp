#include "net/session_api.hpp"

#include <nlohmann/json.hpp>

#include "actors/session_stream.hpp"
#include "net/auth.hpp"
#include "net/http_api.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"
#include "storage/event_id.hpp"
#include "storage/session_record.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

using json = nlohmann::json;
using op = session_request::op;

std::optional<http_response> refuse_bad_session_id(const route_request& r) {
  if (auto err = validate_session_id(r.path_param(0)))
    return error_response(r.req, http::status::bad_request, "invalid_session_id", *err);
  // A caller without a token and without anonymous read grants has no session to use.
  if (r.who->from == principal::origin::anonymous && r.who->subscribe.empty())
    return forbidden(r, "durable sessions");
  return std::nullopt;
}

/// The JSON object body of a write, or the answer refusing it. `fields` lists what the body may
/// hold (empty: anything; the session validates it).
std::variant<json, http_response> object_body(const hub_context& hub, const route_request& r,
                                              std::initializer_list<std::string_view> fields) {
  if (auto refused = refuse_when_shutting_down(hub, r.req))
    return std::move(*refused);
  if (auto refused = require_json_body(hub, r.req))
    return std::move(*refused);
  auto bad = [&](std::string_view code, const std::string& msg) {
    return error_response(r.req, http::status::bad_request, code, msg);
  };
  auto body = json::parse(r.req.body(), nullptr, false);
  if (body.is_discarded())
    return bad("malformed_json", "the body is not valid JSON");
  if (!body.is_object())
    return bad("invalid_body", "the body must be a JSON object");
  if (fields.size() == 0)
    return body;
  for (auto it = body.begin(); it != body.end(); ++it)
    if (std::find(fields.begin(), fields.end(), it.key()) == fields.end())
      return bad("unknown_field", "unknown field '" + it.key() + "'");
  if (body.empty())
    return bad("invalid_body", "give '" + std::string{*fields.begin()} + "' or '"
                                 + std::string{*(fields.begin() + 1)} + "'");
  return body;
}

/// Checks what every session request shares (the id; no query parameter but `allowed`; a body
/// only for writes), then hands `req` to the session and renders its reply.
void ask_session(hub_context& hub, route_request& r, std::shared_ptr<session_request> req,
                 respond_fn respond, std::initializer_list<std::string_view> allowed = {}) {
  if (auto refused = refuse_bad_session_id(r))
    return respond(std::move(*refused));
  if (auto refused = refuse_unknown_params(r, allowed))
    return respond(std::move(*refused));
  req->id = r.path_param(0);
  req->who = r.who;
  auto head = r.head;
  req->done = [respond, head](request_reply reply) { respond(reply_response(*head, reply)); };
  caf::anon_send(hub.session_registry, session_atom::value, std::move(req));
}

/// A request without a body.
void ask_bodiless(hub_context& hub, route_request& r, op what, respond_fn respond) {
  if (!r.req.body().empty())
    return respond(error_response(r.req, http::status::bad_request, "invalid_body",
                                  "this request takes no body"));
  auto req = std::make_shared<session_request>();
  req->what = what;
  ask_session(hub, r, std::move(req), std::move(respond));
}

/// A write whose body is a JSON object with `fields` (empty: validated by the session).
void ask_write(hub_context& hub, route_request& r, op what,
               std::initializer_list<std::string_view> fields, respond_fn respond) {
  if (auto refused = refuse_bad_session_id(r))
    return respond(std::move(*refused));
  auto body = object_body(hub, r, fields);
  if (auto* res = std::get_if<http_response>(&body))
    return respond(std::move(*res));
  auto req = std::make_shared<session_request>();
  req->what = what;
  req->body = std::get<json>(std::move(body));
  ask_session(hub, r, std::move(req), std::move(respond));
}

} // namespace

void handle_session_get(hub_context& hub, route_request& r, respond_fn respond) {
  ask_bodiless(hub, r, op::get, std::move(respond));
}

void handle_session_delete(hub_context& hub, route_request& r, respond_fn respond) {
  ask_bodiless(hub, r, op::remove, std::move(respond));
}

void handle_session_put(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_bad_session_id(r))
    return respond(std::move(*refused));
  auto body = object_body(hub, r, {});
  if (auto* res = std::get_if<http_response>(&body))
    return respond(std::move(*res));
  auto& doc = std::get<json>(body);
  // Checked here for the limit; the session applies the rest against its current settings.
  auto t = doc.find("topics");
  auto max_topics = hub.cfg.limits_max_topics_per_subscription;
  if (t != doc.end() && t->is_array() && t->size() > max_topics)
    return respond(error_response(r.req, http::status::bad_request, "invalid_session",
                                  "at most " + std::to_string(max_topics)
                                    + " topics per session"));
  // Each valid pattern must be granted (the session reports invalid ones).
  if (t != doc.end() && t->is_array()) {
    std::vector<std::string> asked;
    for (auto& p : *t)
      if (p.is_string() && !validate_pattern(p.get_ref<const std::string&>()))
        asked.push_back(p.get<std::string>());
    if (auto refused = refuse_subscribe(r, asked))
      return respond(std::move(*refused));
  }
  auto req = std::make_shared<session_request>();
  req->what = op::put;
  req->body = std::move(doc);
  ask_session(hub, r, std::move(req), std::move(respond));
}

void handle_session_ack(hub_context& hub, route_request& r, respond_fn respond) {
  ask_write(hub, r, op::ack, {"ids", "through"}, std::move(respond));
}

void handle_redrive(hub_context& hub, route_request& r, respond_fn respond) {
  ask_write(hub, r, op::redrive, {"ids", "all"}, std::move(respond));
}

void handle_dead_letters(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_bad_session_id(r))
    return respond(std::move(*refused));
  if (!r.req.body().empty())
    return respond(error_response(r.req, http::status::bad_request, "invalid_body",
                                  "this request takes no body"));
  auto req = std::make_shared<session_request>();
  req->what = op::dead_letters;
  if (auto* after = r.target.param("after"); after != nullptr && !after->empty()) {
    auto id = parse_event_id(*after);
    if (id)
      id = hub.log->resolve(*id);
    if (!id || id->epoch != hub.log->epoch())
      return respond(error_response(r.req, http::status::bad_request, "invalid_id",
                                    "'after' is not an event id of this log"));
    req->after = id->pos;
  }
  auto limit = page_limit(r);
  if (auto* res = std::get_if<http_response>(&limit))
    return respond(std::move(*res));
  req->limit = std::get<std::size_t>(limit);
  ask_session(hub, r, std::move(req), std::move(respond), {"after", "limit"});
}

std::variant<stream_start, http_response> session_stream_start(hub_context& hub,
                                                               route_request& r) {
  if (auto refused = refuse_bad_session_id(r))
    return std::move(*refused);
  if (auto refused = refuse_unknown_params(r, {"last_event_id", "envelope"}))
    return std::move(*refused);
  auto resume = resume_position(hub, r);
  if (auto* res = std::get_if<http_response>(&resume))
    return std::move(*res);
  auto envelope = envelope_param(r);
  if (auto* res = std::get_if<http_response>(&envelope))
    return std::move(*res);
  auto id = r.path_param(0);
  auto from = std::get<std::optional<event_id>>(resume);
  auto who = r.who;
  stream_start start{"session=" + id,
                     [&hub, id, from, who](const queue_ptr& q, const std::string&) {
                       return hub.sys.spawn(session_stream, id, q, from, hub.session_registry,
                                            hub.registry, hub.stream_settings.retry_ms, who);
                     }};
  start.format = std::get<bool>(envelope) ? sse_format::envelope : sse_format::plain;
  return start;
}

} // namespace herald
