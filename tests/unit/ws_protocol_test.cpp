#define CAF_SUITE ws_protocol
#include <caf/test/unit_test.hpp>

#include <string>

#include "delivery/item.hpp"
#include "net/http_responses.hpp"
#include "net/ws_protocol.hpp"

using namespace herald;

namespace {

ws_message accepted(std::string_view text) {
  auto parsed = parse_ws_message(text, 64, 32);
  if (auto* no = std::get_if<ws_refusal>(&parsed))
    CAF_FAIL("refused: " << no->code << ": " << no->message);
  return std::get<ws_message>(std::move(parsed));
}

/// "code: message [req]" of a refused message, or "accepted".
std::string refusal_of(std::string_view text, std::size_t max_topics = 32) {
  auto parsed = parse_ws_message(text, 64, max_topics);
  if (auto* no = std::get_if<ws_refusal>(&parsed))
    return no->code + (no->req.empty() ? "" : " [" + no->req + "]");
  return "accepted";
}

} // namespace

CAF_TEST(subscribe names its subscription topics and resume point) {
  auto m = accepted(R"({"op":"subscribe","req":"r1","sub":"s1","topics":["a/*","b"],
                        "last_event_id":"abc-1"})");
  CAF_CHECK_EQUAL(m.req, "r1");
  auto& s = std::get<ws_subscribe>(m.command);
  CAF_CHECK_EQUAL(s.sub, "s1");
  CAF_REQUIRE_EQUAL(s.topics.size(), 2u);
  CAF_CHECK_EQUAL(s.topics[0], "a/*");
  CAF_CHECK_EQUAL(s.last_event_id, "abc-1");
}

CAF_TEST(publish keeps the remaining fields as the endpoint body) {
  auto m = accepted(R"({"req":"p","op":"publish","topic":"t","data":{ "z" : 1.50, "a":[1] },
                        "type":"x"})");
  auto& p = std::get<ws_publish>(m.command);
  CAF_CHECK_EQUAL(p.body, R"({"topic":"t","data":{"z":1.5,"a":[1]},"type":"x"})");
  auto arr = accepted(R"({"op":"publish","events":[{"topic":"t","data":1}]})");
  CAF_CHECK_EQUAL(std::get<ws_publish>(arr.command).body, R"([{"topic":"t","data":1}])");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"publish","req":"q","events":[],"topic":"t"})"),
                  "invalid_message [q]");
}

CAF_TEST(ack takes the session out of the body) {
  auto m = accepted(R"({"op":"ack","session":"s-1","ids":["e-1"]})");
  auto& a = std::get<ws_ack>(m.command);
  CAF_CHECK_EQUAL(a.session, "s-1");
  CAF_CHECK_EQUAL(a.body, R"({"ids":["e-1"]})");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"ack","ids":[]})"), "missing_field");
}

CAF_TEST(unknown and malformed messages are refused with a code) {
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"nope","req":"r"})"), "unknown_op [r]");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"nope"})"), "unknown_op");
  CAF_CHECK_EQUAL(refusal_of("{bad"), "malformed_json");
  CAF_CHECK_EQUAL(refusal_of("[1]"), "invalid_message");
  CAF_CHECK_EQUAL(refusal_of(R"({"sub":"a"})"), "missing_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":1})"), "invalid_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"auth","op":"auth","token":"x"})"), "duplicate_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"unsubscribe","sub":"a","sub":"b"})"), "duplicate_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"subscribe","sub":"a","topics":["x"],"extra":1})"),
                  "unknown_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"unsubscribe","sub":"a","topics":["x"]})"),
                  "unknown_field");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"subscribe","sub":"","topics":["x"]})"), "invalid_sub");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"subscribe","sub":"a","topics":[]})"), "invalid_topics");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"subscribe","sub":"a","topics":[1]})"), "invalid_topics");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"subscribe","sub":"a","topics":["a","b","c"]})", 2),
                  "invalid_topics");
  CAF_CHECK_EQUAL(refusal_of(R"({"op":"auth","req":"x\u0001"})"), "invalid_req");
  CAF_CHECK_EQUAL(refusal_of(std::string(100, '[') + std::string(100, ']')), "too_deep");
}

CAF_TEST(events and notices render as messages of their subscription) {
  auto ev = stream_item::make_event(7, "e-7", "orders/7", "created", R"({"total":1})", true);
  CAF_CHECK_EQUAL(ws_sub_prefix(json_string("s\"1")) + render_ws_tail(*ev),
                  R"({"sub":"s\"1","op":"event","id":"e-7","topic":"orders/7","type":"created",)"
                  R"("data":{"total":1},"ack":true})");
  auto gap = stream_item::make_notice("herald.gap", R"({"reason":"retention"})");
  CAF_CHECK_EQUAL(render_ws_tail(*gap), R"("op":"gap","data":{"reason":"retention"}})");
  auto job = stream_item::make_notice("job.upstream_error", "{}");
  CAF_CHECK_EQUAL(render_ws_tail(*job), R"("op":"notice","type":"job.upstream_error","data":{}})");
  CAF_CHECK(render_ws_tail(*stream_item::make_retry(10)).empty());
  CAF_CHECK(render_ws_tail(*stream_item::make_heartbeat()).empty());
  CAF_CHECK_EQUAL(render_ws_reply("r", "", 201, R"({"id":"x"})"),
                  R"({"op":"reply","req":"r","status":201,"body":{"id":"x"}})");
  CAF_CHECK_EQUAL(render_ws_error("", "c", "m"),
                  R"({"op":"error","error":{"code":"c","message":"m"}})");
}
