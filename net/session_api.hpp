#pragma once
// The handlers of durable sessions (/v1/sessions/{id}...), validated here and answered by the
// session's actor. See docs/api.md; routes.cpp lists them.

#include <variant>

#include "net/router.hpp"

namespace herald {

void handle_session_get(hub_context& hub, route_request& r, respond_fn respond);
void handle_session_put(hub_context& hub, route_request& r, respond_fn respond);
void handle_session_delete(hub_context& hub, route_request& r, respond_fn respond);
void handle_session_ack(hub_context& hub, route_request& r, respond_fn respond);
void handle_dead_letters(hub_context& hub, route_request& r, respond_fn respond);
void handle_redrive(hub_context& hub, route_request& r, respond_fn respond);

/// GET /v1/sessions/{id}/events: the session's stream.
std::variant<stream_start, http_response> session_stream_start(hub_context& hub,
                                                               route_request& r);

} // namespace herald
