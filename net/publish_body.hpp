#pragma once
// The body of POST /v1/publish: one event object, or an array of them. Parsed and validated in
// one pass with simdjson (its DOM parser validates the whole document, UTF-8 included), without
// building an nlohmann DOM per request: `data` is kept as the client's JSON, minified (key order
// as sent, whitespace removed, numbers printed back from their parsed value), so a publish costs
// one parse and one copy of
// its data.
//
// Fields of an event: topic (required), data (required, any JSON), type, idempotency_key, ack,
// private, audience. An unknown or repeated field refuses the request.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/messages.hpp"

namespace herald {

/// A valid publish body.
struct publish_body {
  std::vector<event_draft> events;
  bool single = false; // the body was one object (answered with "id", not "ids")
};

/// Why a publish body is refused: an error code of docs/api.md and a message (400).
struct body_refusal {
  const char* code;
  std::string message;
};

/// Parses `body` (at most `max_events` events in an array). The caller checked its nesting depth
/// (limits.max_json_depth) before.
std::variant<publish_body, body_refusal> parse_publish_body(std::string_view body,
                                                            std::size_t max_events);

} // namespace herald
