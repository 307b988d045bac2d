#include "net/http_responses.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace herald {

namespace http = boost::beast::http;

http::status http_status(hub_errc kind) {
  switch (kind) {
    case hub_errc::invalid_request: return http::status::bad_request;
    case hub_errc::not_found: return http::status::not_found;
    case hub_errc::conflict: return http::status::conflict;
    case hub_errc::topic_full:
    case hub_errc::shutting_down:
    case hub_errc::unavailable:
    case hub_errc::storage_failure: return http::status::service_unavailable;
    case hub_errc::finished: return http::status::no_content; // EventSource stops reconnecting
    case hub_errc::internal: return http::status::internal_server_error;
    case hub_errc::forbidden: return http::status::forbidden;
  }
  return http::status::internal_server_error;
}

http::status http_status(const caf::error& err) {
  return http_status(parts_of(err).kind);
}

bool is_retryable(http::status status) {
  return status == http::status::service_unavailable || status == http::status::too_many_requests;
}

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string{s}).dump(-1, ' ', false,
                                            nlohmann::json::error_handler_t::replace);
}

namespace {

/// A document as JSON text. Messages quote what the client sent (a path, a header), which need
/// not be UTF-8: invalid bytes become U+FFFD instead of an exception.
std::string dump_lenient(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

std::string error_body(std::string_view code, std::string_view message) {
  return dump_lenient(nlohmann::json{{"error", {{"code", code}, {"message", message}}}});
}

std::string error_body(const caf::error& err) {
  auto parts = parts_of(err);
  if (http_status(parts.kind) == http::status::no_content)
    return {};
  nlohmann::json doc{{"error", {{"code", parts.code}, {"message", parts.message}}}};
  if (parts.current_version)
    doc["error"]["current_version"] = *parts.current_version;
  return dump_lenient(doc);
}

http::status http_status(const request_reply& reply) {
  if (reply.error)
    return http_status(reply.error);
  switch (reply.what) {
    case request_reply::kind::ok: return http::status::ok;
    case request_reply::kind::created: return http::status::created;
    case request_reply::kind::removed: return http::status::no_content;
  }
  return http::status::ok;
}

std::string reply_body(const request_reply& reply) {
  if (reply.error)
    return error_body(reply.error);
  if (reply.what == request_reply::kind::removed)
    return {};
  return reply.view.dump();
}

std::string etag_of(std::string_view body) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016zx", std::hash<std::string_view>{}(body));
  return "\"" + std::string{hex} + "\"";
}

http_response asset_response(const http_request& req, std::string_view body,
                             std::string_view content_type, const std::string& etag) {
  http_response res{http::status::ok, req.version()};
  res.set(http::field::server, "herald/" HERALD_VERSION);
  res.keep_alive(req.keep_alive());
  res.set(http::field::cache_control, "public, max-age=300");
  res.set(http::field::etag, etag);
  res.set("X-Content-Type-Options", "nosniff");
  auto known = req[http::field::if_none_match];
  if (std::string_view{known.data(), known.size()} == etag) {
    res.result(http::status::not_modified);
  } else {
    res.set(http::field::content_type, {content_type.data(), content_type.size()});
    res.body().assign(body.data(), body.size());
  }
  res.prepare_payload();
  return res;
}

http_response json_response(const http_request& req, http::status status, std::string body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "herald/" HERALD_VERSION);
  res.keep_alive(req.keep_alive());
  if (status == http::status::no_content) {
    res.prepare_payload();
    return res;
  }
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  if (is_retryable(status))
    res.set(http::field::retry_after, "5");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response error_response(const http_request& req, http::status status, std::string_view code,
                             std::string_view message) {
  return json_response(req, status, error_body(code, message));
}

http_response error_response(const http_request& req, const caf::error& err) {
  return json_response(req, http_status(err), error_body(err));
}

http_response reply_response(const http_request& req, const request_reply& reply) {
  return json_response(req, http_status(reply), reply_body(reply));
}

void add_vary(boost::beast::http::response_header<>& head, std::string_view token) {
  auto field = head[boost::beast::http::field::vary];
  std::string_view now{field.data(), field.size()};
  if (now.empty())
    return head.set(boost::beast::http::field::vary, boost::beast::string_view{token.data(), token.size()});
  // Already there (as a whole, comma-separated token)?
  for (std::size_t at = 0; at <= now.size();) {
    auto comma = now.find(',', at);
    auto part = now.substr(at, comma == std::string_view::npos ? std::string_view::npos
                                                                 : comma - at);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ')
      part.remove_suffix(1);
    if (part.size() == token.size()
        && std::equal(part.begin(), part.end(), token.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a))
                    == std::tolower(static_cast<unsigned char>(b));
           }))
      return;
    if (comma == std::string_view::npos)
      break;
    at = comma + 1;
  }
  head.set(boost::beast::http::field::vary, std::string{now} + ", " + std::string{token});
}

std::string render_head(const http::response_header<>& head) {
  http::fields::writer w{head, head.version(), head.result_int()};
  std::string out;
  for (auto b : w.get())
    out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

void append_response(std::string& out, const http_response& res) {
  http::fields::writer w{res, res.version(), res.result_int()};
  for (auto b : w.get())
    out.append(static_cast<const char*>(b.data()), b.size());
  out.append(res.body());
}

std::string render_response(const http_response& res) {
  std::string out;
  append_response(out, res);
  return out;
}

std::shared_ptr<const http_request> request_head(const http_request& req) {
  // Only what answers and middleware's `after` read (method, version, keep-alive, Origin): copying every field would cost each
  // publish an allocation per header.
  auto head = std::make_shared<http_request>();
  if (req.method() != http::verb::unknown) // Beast refuses to set `unknown`: it would throw
    head->method(req.method());
  head->version(req.version());
  head->keep_alive(req.keep_alive());
  if (auto origin = req[http::field::origin]; !origin.empty())
    head->set(http::field::origin, origin);
  return head;
}

} // namespace herald
