#pragma once
// The handlers of the HTTP API (v1) for the log, topics, jobs and health; durable sessions are in
// session_api. Handlers validate, hand the request to an actor, and render what it answers;
// routes.cpp lists them all in one table.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/router.hpp"

namespace herald {

// -- unary ------------------------------------------------------------------------------------

void handle_health(hub_context& hub, route_request& r, respond_fn respond);
void handle_ready(hub_context& hub, route_request& r, respond_fn respond);
void handle_stats(hub_context& hub, route_request& r, respond_fn respond);
void handle_publish(hub_context& hub, route_request& r, respond_fn respond);
void handle_events(hub_context& hub, route_request& r, respond_fn respond);
void handle_job_get(hub_context& hub, route_request& r, respond_fn respond);
void handle_job_put(hub_context& hub, route_request& r, respond_fn respond);
/// GET /v1/client.js: the JavaScript client (clients/js/herald.js, compiled in).
void handle_client_js(hub_context& hub, route_request& r, respond_fn respond);

// -- streams ----------------------------------------------------------------------------------

/// GET /v1/subscribe: a topic stream.
std::variant<stream_start, http_response> subscribe_stream(hub_context& hub, route_request& r);

/// GET /v1/ws: an upgrade to a WebSocket (net/ws_session). Refused: 426 without an upgrade, 403
/// from an Origin not allowed, 401 without a token on a hub that gives anonymous clients nothing.
std::variant<stream_start, http_response> websocket_stream(hub_context& hub, route_request& r);

/// GET /v1/jobs/{id}/events: a job's progress stream.
std::variant<stream_start, http_response> job_stream(hub_context& hub, route_request& r);

// -- shared by the handlers -------------------------------------------------------------------

/// 503 shutting_down, when the hub is stopping.
std::optional<http_response> refuse_when_shutting_down(const hub_context& hub,
                                                       const http_request& req);

/// 415 unless Content-Type is application/json (parameters allowed); 400 too_deep when the body
/// nests arrays and objects deeper than limits.max_json_depth (checked before any parsing, so
/// nothing recursive ever sees client-controlled depth).
std::optional<http_response> require_json_body(const hub_context& hub, const http_request& req);

/// True when `text` nests arrays/objects deeper than `max_depth` (strings are skipped; one pass,
/// no recursion).
bool json_deeper_than(std::string_view text, std::size_t max_depth);

/// 400 unknown_parameter for a query parameter not in `known`.
std::optional<http_response> refuse_unknown_params(const route_request& r,
                                                   std::initializer_list<std::string_view> known);

/// Last-Event-ID as the client sent it (the header, else the `last_event_id` parameter); empty
/// when it sent none.
std::string resume_text(const route_request& r);

/// The `envelope` parameter (SSE events with their topic in the data): absent, 0 or false; 1 or
/// true; else the 400 to send.
std::variant<bool, http_response> envelope_param(const route_request& r);

/// The client's resume position from Last-Event-ID (or the `last_event_id` parameter), or the
/// 400 to send. Empty when the client sent none. An id of a restored copy's original becomes
/// this log's (event_log::resolve).
std::variant<std::optional<event_id>, http_response> resume_position(const hub_context& hub,
                                                                     const route_request& r);

/// `limit` in 1..1000 (default 100), or the 400 to send.
std::variant<std::size_t, http_response> page_limit(const route_request& r);

/// The JSON body of GET /v1/events.
std::string render_events_page(const events_page& page);

} // namespace herald
