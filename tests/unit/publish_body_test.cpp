#define CAF_SUITE publish_body
#include <caf/test/unit_test.hpp>

#include <string>

#include "net/publish_body.hpp"

using namespace herald;

namespace {

publish_body accepted(std::string_view body, std::size_t max_events = 1000) {
  auto parsed = parse_publish_body(body, max_events);
  if (auto* refusal = std::get_if<body_refusal>(&parsed))
    CAF_FAIL("refused: " << refusal->code << ": " << refusal->message);
  return std::get<publish_body>(std::move(parsed));
}

std::string refusal_of(std::string_view body, std::size_t max_events = 1000) {
  auto parsed = parse_publish_body(body, max_events);
  if (auto* refusal = std::get_if<body_refusal>(&parsed))
    return std::string{refusal->code} + ": " + refusal->message;
  return "accepted";
}

} // namespace

CAF_TEST(one event object keeps its data minified with key order as sent) {
  auto b = accepted(R"({ "topic" : "orders/1", "data" : { "z" : 1, "a" : [ true, null, "x y" ] },
                         "type": "created", "idempotency_key": "k-1", "ack": true })");
  CAF_CHECK(b.single);
  CAF_REQUIRE_EQUAL(b.events.size(), 1u);
  auto& e = b.events[0];
  CAF_CHECK_EQUAL(e.topic, "orders/1");
  CAF_CHECK_EQUAL(e.data, R"({"z":1,"a":[true,null,"x y"]})");
  CAF_CHECK_EQUAL(e.type, "created");
  CAF_CHECK_EQUAL(e.idempotency_key, "k-1");
  CAF_CHECK(e.ack);
  CAF_CHECK(!e.access.restricted());
}

CAF_TEST(an array gives its events in order with access rules) {
  auto b = accepted(R"([{"topic":"a","data":1},
                        {"topic":"b","data":"two","private":true},
                        {"topic":"c","data":[3],"audience":["role:ops","sub:alice"]}])");
  CAF_CHECK(!b.single);
  CAF_REQUIRE_EQUAL(b.events.size(), 3u);
  CAF_CHECK_EQUAL(b.events[0].data, "1");
  CAF_CHECK_EQUAL(b.events[1].data, "\"two\"");
  CAF_CHECK(b.events[1].access.is_private);
  CAF_CHECK_EQUAL(b.events[2].access.audience.size(), 2u);
  CAF_CHECK_EQUAL(b.events[2].access.audience[1], "sub:alice");
}

CAF_TEST(malformed and misshapen bodies are refused with their codes) {
  CAF_CHECK_EQUAL(refusal_of("{\"topic\":\"a\",\"data\":1"),
                  "malformed_json: the body is not valid JSON");
  CAF_CHECK_EQUAL(refusal_of("\"x\""),
                  "invalid_body: the body must be an event object or an array of them");
  CAF_CHECK_EQUAL(refusal_of("[]"), "invalid_body: the array of events is empty");
  CAF_CHECK_EQUAL(refusal_of(R"([{"topic":"a","data":1},{"topic":"a","data":2}])", 1),
                  "too_many_events: at most 1 events per request");
  CAF_CHECK_EQUAL(refusal_of("[1]"), "invalid_event: events[0]: an event must be a JSON object");
  // Invalid UTF-8 and lone surrogates are not JSON text.
  CAF_CHECK_EQUAL(refusal_of("{\"topic\":\"a\",\"data\":\"\xff\"}"),
                  "malformed_json: the body is not valid JSON");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":"\ud800"})"),
                  "malformed_json: the body is not valid JSON");
  // Integers beyond 64 bits are refused rather than silently rounded.
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":123456789012345678901234567890})").substr(0, 15),
                  "malformed_json:");
}

CAF_TEST(fields are checked one by one and each may appear once) {
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"topic":"b"})"),
                  "duplicate_field: field 'topic' appears twice");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"colour":"red"})"),
                  "unknown_field: unknown field 'colour'");
  CAF_CHECK_EQUAL(refusal_of(R"({"data":1})"),
                  "invalid_topic: 'topic' is required and must be a string");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":7,"data":1})"),
                  "invalid_topic: 'topic' is required and must be a string");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a"})"),
                  "missing_data: 'data' is required (any JSON value)");
  CAF_CHECK_EQUAL(refusal_of(R"([{"topic":"a","data":1},{"topic":"a"}])"),
                  "missing_data: events[1]: 'data' is required (any JSON value)");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"type":3})"),
                  "invalid_type: 'type' must be a string");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"ack":"yes"})"),
                  "invalid_ack: 'ack' must be a boolean");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"private":1})"),
                  "invalid_private: 'private' must be a boolean");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"idempotency_key":""})").substr(0, 24),
                  "invalid_idempotency_key:");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"audience":["team:x"]})").substr(0, 17),
                  "invalid_audience:");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a","data":1,"audience":[]})").substr(0, 17),
                  "invalid_audience:");
  CAF_CHECK_EQUAL(refusal_of(R"({"topic":"a/**","data":1})").substr(0, 14), "invalid_topic:");
}
