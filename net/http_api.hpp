#pragma once
// The HTTP API (v1): request validation and the handlers of every non-streaming endpoint.
// Errors are converted to HTTP here, once: a status and {"error":{"code","message"}}.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/beast/http.hpp>

#include "actors/connection.hpp"
#include "net/hub_context.hpp"

namespace herald {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;
using respond_fn = std::function<void(http_response)>;

/// A parsed request target: path and decoded query parameters (in order).
struct request_target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
};

/// Beast 1.74 speaks boost::string_view.
inline std::string_view to_sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

/// Nullopt when the target's percent-encoding is malformed.
std::optional<request_target> parse_target(std::string_view target);

http_response error_response(const http_request& req, http::status status, std::string_view code,
                             std::string_view message);
http_response json_response(const http_request& req, http::status status, std::string body);

/// The CORS headers for `req`'s Origin, as "Name: value\r\n" lines (empty when not allowed).
std::string cors_header_lines(const config& cfg, const http_request& req);
void apply_cors(const config& cfg, const http_request& req, http_response& res);

/// Validates GET /v1/subscribe. On error, returns the response to send.
std::variant<subscription_request, http_response>
parse_subscription(const hub_context& hub, const http_request& req, const request_target& target);

/// For GET /v1/jobs/{id}/events: the job id, or nullopt when `path` is not that endpoint.
std::optional<std::string> job_events_path(std::string_view path);

/// Validates GET /v1/jobs/{id}/events: the version in Last-Event-ID (0 if none), or the error.
std::variant<std::uint64_t, http_response> parse_job_watch(const http_request& req,
                                                           const std::string& id);

/// What an answer needs of its request (version, keep-alive, Origin), without the body, for
/// answers that come later from an actor's thread.
std::shared_ptr<const http_request> request_head(const http_request& req);

/// 503 with Retry-After.
http_response unavailable(const http_request& req, std::string_view code, std::string_view msg);

/// Content-Type is application/json (parameters allowed).
bool has_json_body(const http_request& req);

bool is_preflight(const http_request& req);

/// 204 to a CORS preflight; the CORS headers only for allowed origins.
http_response preflight_response(const config& cfg, const http_request& req, const char* methods);

/// The value of query parameter `name`, or null.
const std::string* param(const request_target& t, std::string_view name);

/// Handles every request except the streams. `respond` may run on another thread.
void handle_request(hub_context& hub, http_request&& req, respond_fn respond);

} // namespace herald
