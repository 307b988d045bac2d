#include "net/session_api.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "storage/session_record.hpp"

namespace herald {
namespace {

using json = nlohmann::json;

http_response not_allowed(const http_request& req, const char* allow) {
  auto res = error_response(req, http::status::method_not_allowed, "method_not_allowed",
                            std::string{"use "} + allow + " here");
  res.set(http::field::allow, std::string{allow} + ", OPTIONS");
  return res;
}

} // namespace

std::optional<session_path> parse_session_path(std::string_view path) {
  static constexpr std::string_view prefix = "/v1/sessions/";
  if (path.rfind(prefix, 0) != 0)
    return std::nullopt;
  path.remove_prefix(prefix.size());
  auto slash = path.find('/');
  session_path out;
  out.id = std::string{path.substr(0, slash)};
  if (slash != std::string_view::npos)
    out.rest = std::string{path.substr(slash + 1)};
  return out;
}

std::variant<std::optional<event_id>, http_response>
parse_session_watch(const http_request& req, const request_target& target, const session_path& p) {
  if (auto err = validate_session_id(p.id))
    return error_response(req, http::status::bad_request, "invalid_session_id", *err);
  for (auto& [k, v] : target.params)
    if (k != "last_event_id")
      return error_response(req, http::status::bad_request, "unknown_parameter",
                            "unknown query parameter '" + k + "'");
  std::string last{to_sv(req["Last-Event-ID"])};
  if (last.empty())
    if (auto* q = param(target, "last_event_id"))
      last = *q;
  if (last.empty())
    return std::optional<event_id>{};
  auto id = parse_event_id(last);
  if (!id)
    return error_response(req, http::status::bad_request, "invalid_id",
                          "Last-Event-ID '" + last.substr(0, 64) + "' is not a valid event id");
  return std::optional<event_id>{*id};
}

void handle_session_request(hub_context& hub, http_request&& req, const request_target& target,
                            const session_path& p, respond_fn respond) {
  using op = session_request::op;
  if (auto err = validate_session_id(p.id))
    return respond(error_response(req, http::status::bad_request, "invalid_session_id", *err));
  auto r = std::make_shared<session_request>();
  r->id = p.id;
  auto m = req.method();
  bool wants_body = false;
  if (p.rest.empty()) {
    if (m == http::verb::get)
      r->what = op::get;
    else if (m == http::verb::put)
      r->what = op::put, wants_body = true;
    else if (m == http::verb::delete_)
      r->what = op::remove;
    else
      return respond(not_allowed(req, "GET, PUT, DELETE"));
  } else if (p.rest == "ack") {
    if (m != http::verb::post)
      return respond(not_allowed(req, "POST"));
    r->what = op::ack, wants_body = true;
  } else if (p.rest == "dead-letters") {
    if (m != http::verb::get)
      return respond(not_allowed(req, "GET"));
    r->what = op::dead_letters;
  } else if (p.rest == "dead-letters/redrive") {
    if (m != http::verb::post)
      return respond(not_allowed(req, "POST"));
    r->what = op::redrive, wants_body = true;
  } else if (p.rest == "events") {
    return respond(not_allowed(req, "GET"));
  } else {
    return respond(error_response(req, http::status::not_found, "not_found",
                                  "no such endpoint: " + target.path));
  }
  if (wants_body) {
    if (hub.shutting_down.load())
      return respond(unavailable(req, "shutting_down", "the hub is shutting down"));
    if (!has_json_body(req))
      return respond(error_response(req, http::status::unsupported_media_type,
                                    "unsupported_media_type",
                                    "Content-Type must be application/json"));
    r->body = json::parse(req.body(), nullptr, false);
    if (r->body.is_discarded())
      return respond(error_response(req, http::status::bad_request, "malformed_json",
                                    "the body is not valid JSON"));
    if (!r->body.is_object())
      return respond(error_response(req, http::status::bad_request, "invalid_body",
                                    "the body must be a JSON object"));
    if (r->what == op::ack || r->what == op::redrive) {
      const char* a = r->what == op::ack ? "through" : "all";
      for (auto it = r->body.begin(); it != r->body.end(); ++it)
        if (it.key() != "ids" && it.key() != a)
          return respond(error_response(req, http::status::bad_request, "unknown_field",
                                        "unknown field '" + it.key() + "'"));
      if (r->body.empty())
        return respond(error_response(req, http::status::bad_request, "invalid_body",
                                      std::string{"give 'ids' or '"} + a + "'"));
    }
    if (r->what == op::put) {
      // Checked here for the limit; the session applies the rest against its current settings.
      auto t = r->body.find("topics");
      if (t != r->body.end() && t->is_array()
          && t->size() > hub.cfg.limits_max_topics_per_subscription)
        return respond(error_response(
          req, http::status::bad_request, "invalid_session",
          "at most " + std::to_string(hub.cfg.limits_max_topics_per_subscription)
            + " topics per session"));
    }
  } else if (!req.body().empty()) {
    return respond(error_response(req, http::status::bad_request, "invalid_body",
                                  "this request takes no body"));
  }
  for (auto& [k, v] : target.params) {
    if (r->what != op::dead_letters || (k != "after" && k != "limit"))
      return respond(error_response(req, http::status::bad_request, "unknown_parameter",
                                    "unknown query parameter '" + k + "'"));
    if (k == "after" && !v.empty()) {
      auto id = parse_event_id(v);
      if (!id || id->epoch != hub.log->epoch())
        return respond(error_response(req, http::status::bad_request, "invalid_id",
                                      "'after' is not an event id of this log"));
      r->after = id->pos;
    }
    if (k == "limit") {
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 1000)
        return respond(error_response(req, http::status::bad_request, "invalid_limit",
                                      "'limit' must be an integer from 1 to 1000"));
      r->limit = n;
    }
  }
  auto head = request_head(req);
  r->done = [respond, head](int status, std::string body) {
    if (status == 204) {
      http_response res{http::status::no_content, head->version()};
      res.keep_alive(head->keep_alive());
      res.prepare_payload();
      return respond(std::move(res));
    }
    respond(json_response(*head, static_cast<http::status>(status), std::move(body)));
  };
  caf::anon_send(hub.session_registry, session_atom::value, std::move(r));
}

} // namespace herald
