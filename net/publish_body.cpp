#include "net/publish_body.hpp"

#include <algorithm>

#include <simdjson.h>

#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

namespace dom = simdjson::dom;

body_refusal refuse(const char* code, std::string message) {
  return body_refusal{code, std::move(message)};
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

/// `audience`: a list of 1 to 32 "role:<name>" / "sub:<subject>" strings.
std::optional<body_refusal> read_audience(dom::element a, std::vector<std::string>& out) {
  auto rule = [] {
    return refuse("invalid_audience",
                  "'audience' must be a list of 1 to 32 strings \"role:<name>\" or "
                  "\"sub:<subject>\" (1 to 256 bytes after the prefix, no control characters)");
  };
  dom::array list;
  if (a.get(list) != simdjson::SUCCESS || list.size() == 0 || list.size() > 32)
    return rule();
  for (auto x : list) {
    std::string_view v;
    if (x.get(v) != simdjson::SUCCESS)
      return rule();
    auto rest = v.substr(0, 5) == "role:" ? v.substr(5)
                : v.substr(0, 4) == "sub:" ? v.substr(4)
                                           : std::string_view{};
    if (rest.empty() || rest.size() > 256 || has_control_char(rest))
      return rule();
    out.emplace_back(v);
  }
  return std::nullopt;
}

/// The fields of one event, each at most once.
enum field_bit : unsigned {
  f_topic = 1,
  f_data = 2,
  f_type = 4,
  f_key = 8,
  f_ack = 16,
  f_private = 32,
  f_audience = 64,
};

field_bit field_of(std::string_view key) {
  if (key == "topic")
    return f_topic;
  if (key == "data")
    return f_data;
  if (key == "type")
    return f_type;
  if (key == "idempotency_key")
    return f_key;
  if (key == "ack")
    return f_ack;
  if (key == "private")
    return f_private;
  if (key == "audience")
    return f_audience;
  return field_bit{0};
}

std::variant<event_draft, body_refusal> read_event(dom::element ev) {
  dom::object obj;
  if (ev.get(obj) != simdjson::SUCCESS)
    return refuse("invalid_event", "an event must be a JSON object");
  event_draft draft;
  unsigned seen = 0;
  for (auto [key, value] : obj) {
    auto bit = field_of(key);
    if (bit == 0)
      return refuse("unknown_field", "unknown field '" + std::string{key.substr(0, 64)} + "'");
    if ((seen & bit) != 0)
      return refuse("duplicate_field", "field '" + std::string{key} + "' appears twice");
    seen |= bit;
    switch (bit) {
      case f_topic: {
        std::string_view t;
        if (value.get(t) != simdjson::SUCCESS)
          return refuse("invalid_topic", "'topic' is required and must be a string");
        if (auto err = validate_topic(t))
          return refuse("invalid_topic", *err);
        draft.topic.assign(t);
        break;
      }
      case f_data:
        // Minified as sent: no re-serialization of numbers, key order kept.
        draft.data = simdjson::minify(value);
        break;
      case f_type: {
        std::string_view y;
        if (value.get(y) != simdjson::SUCCESS)
          return refuse("invalid_type", "'type' must be a string");
        if (auto err = validate_event_type(y))
          return refuse("invalid_type", *err);
        draft.type.assign(y);
        break;
      }
      case f_key: {
        std::string_view k;
        if (value.get(k) != simdjson::SUCCESS || k.empty() || k.size() > 128
            || has_control_char(k))
          return refuse("invalid_idempotency_key",
                        "'idempotency_key' must be a string of 1 to 128 bytes without control "
                        "characters");
        draft.idempotency_key.assign(k);
        break;
      }
      case f_ack:
        if (value.get(draft.ack) != simdjson::SUCCESS)
          return refuse("invalid_ack", "'ack' must be a boolean");
        break;
      case f_private:
        if (value.get(draft.access.is_private) != simdjson::SUCCESS)
          return refuse("invalid_private", "'private' must be a boolean");
        break;
      case f_audience:
        if (auto err = read_audience(value, draft.access.audience))
          return *err;
        break;
    }
  }
  if ((seen & f_topic) == 0)
    return refuse("invalid_topic", "'topic' is required and must be a string");
  if ((seen & f_data) == 0)
    return refuse("missing_data", "'data' is required (any JSON value)");
  return draft;
}

} // namespace

std::variant<publish_body, body_refusal> parse_publish_body(std::string_view body,
                                                            std::size_t max_events) {
  // One parser per io thread, reused: its buffers grow to the largest body seen.
  thread_local dom::parser parser;
  dom::element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc); err != simdjson::SUCCESS) {
    if (err == simdjson::NUMBER_ERROR)
      return refuse("malformed_json", "the body is not valid JSON, or has a number outside "
                                      "64-bit integers and doubles");
    return refuse("malformed_json", "the body is not valid JSON");
  }
  publish_body out;
  auto one = [&](dom::element ev, std::size_t i) -> std::optional<body_refusal> {
    auto parsed = read_event(ev);
    if (auto* refusal = std::get_if<body_refusal>(&parsed)) {
      if (!out.single)
        refusal->message = "events[" + std::to_string(i) + "]: " + refusal->message;
      return std::move(*refusal);
    }
    out.events.push_back(std::get<event_draft>(std::move(parsed)));
    return std::nullopt;
  };
  if (doc.is_object()) {
    out.single = true;
    if (auto refusal = one(doc, 0))
      return std::move(*refusal);
    return out;
  }
  dom::array items;
  if (doc.get(items) != simdjson::SUCCESS)
    return refuse("invalid_body", "the body must be an event object or an array of them");
  auto n = items.size();
  if (n == 0)
    return refuse("invalid_body", "the array of events is empty");
  if (n > max_events)
    return refuse("too_many_events",
                  "at most " + std::to_string(max_events) + " events per request");
  out.events.reserve(n);
  std::size_t i = 0;
  for (auto ev : items)
    if (auto refusal = one(ev, i++))
      return std::move(*refusal);
  return out;
}

} // namespace herald
