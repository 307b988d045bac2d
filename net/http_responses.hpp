#pragma once
// Every HTTP response Herald builds, in one place: Herald's errors and request replies rendered
// as HTTP (the status a kind of error maps to, the JSON error body
// {"error":{"code","message"[,"current_version"]}}), JSON answers, and their common headers.

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <caf/error.hpp>

#include "actors/hub_error.hpp"
#include "actors/messages.hpp"

namespace herald {

/// The HTTP status of an error kind (not_found: 404, topic_full: 503, finished: 204, ...).
boost::beast::http::status http_status(hub_errc kind);

/// The HTTP status of any error (errors that are not Herald's are 500).
boost::beast::http::status http_status(const caf::error& err);

/// Statuses that ask the client to come back later (and carry Retry-After).
bool is_retryable(boost::beast::http::status status);

/// A JSON string literal for `s` (quoted and escaped; invalid UTF-8 replaced).
std::string json_string(std::string_view s);

/// {"error":{"code","message"}}
std::string error_body(std::string_view code, std::string_view message);

/// The JSON body of an error (empty for statuses without a body, such as 204).
std::string error_body(const caf::error& err);

/// The status of a reply: its error's, or 200 / 201 / 204 by its kind.
boost::beast::http::status http_status(const request_reply& reply);

/// The JSON body of a reply (empty for 204).
std::string reply_body(const request_reply& reply);

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// A JSON answer to `req` (its version and keep-alive), never cached.
http_response json_response(const http_request& req, boost::beast::http::status status,
                            std::string body);

/// A static asset compiled into the hub (`body`), validated by `etag` (etag_of(body)): 304 when
/// the client has it, else 200 with `content_type`; a browser revalidates after 5 minutes.
http_response asset_response(const http_request& req, std::string_view body,
                             std::string_view content_type, const std::string& etag);

/// The strong entity tag of an asset's bytes.
std::string etag_of(std::string_view body);

/// An error answer: `status` with {"error":{"code","message"}} (Retry-After on 503 and 429).
http_response error_response(const http_request& req, boost::beast::http::status status,
                             std::string_view code, std::string_view message);

/// A Herald error as an HTTP answer.
http_response error_response(const http_request& req, const caf::error& err);

/// A request reply as an HTTP answer (204 without a body).
http_response reply_response(const http_request& req, const request_reply& reply);

/// Adds `token` to the head's Vary field (keeping what other parts of the pipeline put there:
/// CORS varies on Origin, compression on Accept-Encoding).
void add_vary(boost::beast::http::response_header<>& head, std::string_view token);

/// The status line and fields of `head`, ending with the blank line, as they go on the wire.
std::string render_head(const boost::beast::http::response_header<>& head);

/// A whole response (head and body) as it goes on the wire.
std::string render_response(const http_response& res);

/// Appends `res` as it goes on the wire (head and body; its Content-Length is already set) to
/// `out`: answers written together are rendered into one buffer.
void append_response(std::string& out, const http_response& res);

/// What an answer needs of its request (method, version, keep-alive, and Origin, the one field
/// middleware's `after` reads), for answers that come later from an actor's thread.
std::shared_ptr<const http_request> request_head(const http_request& req);

} // namespace herald
