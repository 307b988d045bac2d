#pragma once
// The HTTP endpoints of durable sessions (/v1/sessions/{id}...), validated here and answered by
// the session's actor. See docs/api.md.

#include <optional>
#include <string>
#include <variant>

#include "net/http_api.hpp"

namespace herald {

/// A path under /v1/sessions/: the session id and what follows it ("", "events", "ack",
/// "dead-letters", "dead-letters/redrive").
struct session_path {
  std::string id;
  std::string rest;
};

/// Nullopt when `path` is not under /v1/sessions/.
std::optional<session_path> parse_session_path(std::string_view path);

/// Validates GET /v1/sessions/{id}/events: the client's Last-Event-ID (or `last_event_id`), if
/// any, or the error to send.
std::variant<std::optional<event_id>, http_response>
parse_session_watch(const http_request& req, const request_target& target, const session_path& p);

/// Every session endpoint except the stream. `respond` may run on another thread.
void handle_session_request(hub_context& hub, http_request&& req, const request_target& target,
                            const session_path& p, respond_fn respond);

} // namespace herald
