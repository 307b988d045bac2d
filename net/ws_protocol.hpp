#pragma once
// The WebSocket protocol of GET /v1/ws (docs/api.md, "WebSocket"): the JSON text messages a
// client sends, parsed into typed commands, and the messages the hub sends, rendered. Only the
// encoding lives here; ws_session turns commands into requests of the one request pipeline, so
// a command gets exactly the checks and answers of its HTTP endpoint.
//
// Client -> hub (every message is one JSON object with "op"; "req" is an optional id of the
// client's choosing, echoed in the reply):
//   {"op":"subscribe","sub":S,"topics":[...],"last_event_id"?:ID}    like GET /v1/subscribe
//   {"op":"attach","sub":S,"session":ID,"last_event_id"?:ID}         like GET /v1/sessions/ID/events
//   {"op":"unsubscribe","sub":S}
//   {"op":"publish", <the fields of one event> | "events":[...]}     like POST /v1/publish
//   {"op":"ack","session":ID,"ids"?:[...],"through"?:ID}             like POST /v1/sessions/ID/ack
//   {"op":"auth","token":T}                                          the token of later commands
// Hub -> client:
//   {"op":"reply","req"?,"sub"?,"status":N,"body":{...}}   a command's answer (HTTP status, body)
//   {"sub":S,"op":"event","id","topic","type"?,"data","ack"?}       an event of subscription S
//   {"sub":S,"op":"gap"|"redelivery"|"token_expired"|"shutdown"|..., "data":{...}}   notices
//   {"sub":S,"op":"ended","reason":R}        subscription S ended (the socket stays open)
//   {"op":"error","req"?,"error":{"code","message"}}   a message that is not a command

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "delivery/item.hpp"

namespace herald {

struct ws_subscribe {
  std::string sub;
  std::vector<std::string> topics;
  std::string last_event_id; // empty: none
};

struct ws_attach {
  std::string sub;
  std::string session;
  std::string last_event_id;
};

struct ws_unsubscribe {
  std::string sub;
};

struct ws_publish {
  std::string body; // the POST /v1/publish body: the event object, or the array of events
};

struct ws_ack {
  std::string session;
  std::string body; // the POST /v1/sessions/{id}/ack body
};

struct ws_auth {
  std::string token;
};

using ws_command =
  std::variant<ws_subscribe, ws_attach, ws_unsubscribe, ws_publish, ws_ack, ws_auth>;

/// A client message and its request id (empty when the client gave none).
struct ws_message {
  std::string req;
  ws_command command;
};

/// Why a message is not a command (answered with an "error" message; nothing changes).
struct ws_refusal {
  std::string code;
  std::string message;
  std::string req; // when the message had a readable one
};

/// Parses one text message. `max_depth`: limits.max_json_depth (checked before parsing);
/// `max_topics`: limits.max_topics_per_subscription.
std::variant<ws_message, ws_refusal> parse_ws_message(std::string_view text, std::size_t max_depth,
                                                       std::size_t max_topics);

/// {"op":"reply",["req":R,]["sub":S,]"status":N,"body":B}; `body` is JSON text (empty: {}).
std::string render_ws_reply(std::string_view req, std::string_view sub, unsigned status,
                            std::string_view body);

/// {"op":"error",["req":R,]"error":{"code":C,"message":M}}
std::string render_ws_error(std::string_view req, std::string_view code, std::string_view message);

/// {"sub":S,"op":"ended","reason":R}
std::string render_ws_ended(std::string_view sub_json, std::string_view reason);

/// The start of every message of a subscription: {"sub":S,  (`sub_json`: S as a JSON string).
std::string ws_sub_prefix(std::string_view sub_json);

/// The rest of `item`'s message after its subscription prefix (built once per item and shared by
/// every WebSocket subscriber). Empty for items that are no message (retry hints, heartbeats:
/// WebSocket keeps connections alive with pings).
const std::string& ws_frame_tail(const stream_item& item);

/// Renders what ws_frame_tail caches.
std::string render_ws_tail(const stream_item& item);

} // namespace herald
