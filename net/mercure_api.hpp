#pragma once
// Mercure's protocol at /.well-known/mercure, as the Mercure hub 0.x speaks it, on Herald's
// journal, log, fan-out and auth (storage/mercure.hpp says how its updates live in the log):
//
//   POST /.well-known/mercure                 publish: a form (topic..., data, private, id, type,
//                                             retry); answers 200 text/plain with the update's id
//   GET  /.well-known/mercure?topic=...       subscribe: an SSE stream of the updates one of
//                                             whose topics a selector matches
//   GET  /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]
//                                             the active subscriptions (JSON-LD), when
//                                             mercure.subscriptions is on
//
// Tokens come from the Authorization header, the `authorization` query parameter or the
// `mercureAuthorization` cookie (route_auth::mercure), verified with the hub's keys; their
// `mercure` claim (publish, subscribe, payload) decides what they may do.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/publish_body.hpp"
#include "net/router.hpp"

namespace herald {

/// A publish form, checked.
struct mercure_update_form {
  std::vector<std::string> topics; // the canonical topic first
  std::string data;
  bool is_private = false;
  std::string id;   // empty: the hub gives one
  std::string type; // empty: none
  std::uint64_t retry_ms = 0;
};

/// Parses and checks an application/x-www-form-urlencoded publish body: at least one and at most
/// `max_topics` topics of 1 to 2,048 bytes; data, id, type, retry at most once each; data valid
/// UTF-8; an id or a type with CR, LF or NUL refused, as is an id that is `earliest` or starts
/// with the hub's own prefix (`urn:herald:`); retry digits only. Unknown fields are refused.
std::variant<mercure_update_form, body_refusal> parse_mercure_update(std::string_view body,
                                                                     std::size_t max_topics);

void mercure_publish(hub_context& hub, route_request& r, respond_fn respond);
std::variant<stream_start, http_response> mercure_subscribe(hub_context& hub, route_request& r);
void mercure_subscriptions_get(hub_context& hub, route_request& r, respond_fn respond);

} // namespace herald
