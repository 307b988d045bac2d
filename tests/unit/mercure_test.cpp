#define CAF_SUITE mercure
#include <caf/test/unit_test.hpp>

#include "net/mercure_api.hpp"
#include "net/mercure_subscriptions.hpp"
#include "net/router.hpp"
#include "net/sse_encoding.hpp"
#include "storage/hub_storage.hpp"
#include "storage/mercure.hpp"
#include "storage/topic_pattern.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

namespace {

mercure_fields_ptr fields(std::vector<std::string> topics, std::string id = {},
                          std::uint64_t retry = 0) {
  auto m = std::make_shared<mercure_fields>();
  m->topics = std::move(topics);
  m->id = std::move(id);
  m->retry_ms = retry;
  return m;
}

std::string refusal_code(std::string_view body) {
  auto parsed = parse_mercure_update(body, 4);
  if (auto* r = std::get_if<body_refusal>(&parsed))
    return r->code;
  return "accepted";
}

struct log_fixture {
  test::temp_dir dir;
  std::shared_ptr<hub_storage> store;

  log_fixture() {
    storage_thread::claim();
    reopen();
  }

  void reopen() {
    store.reset();
    std::string err;
    store = hub_storage::open(dir.str(), durability::process, err);
    if (!store)
      CAF_FAIL("cannot open storage: " << err);
  }

  event_log& log() { return store->log(); }

  void publish(std::string id, std::string topic = "https://example.com/a") {
    std::vector<event_record> batch;
    event_record r{0, 1000, std::string{mercure_log_topic}, "", "data of " + id};
    r.mercure = fields({std::move(topic)}, std::move(id));
    batch.push_back(std::move(r));
    CAF_REQUIRE(!log().append(batch));
  }

  std::uint64_t find(const std::string& id) {
    auto found = log().find_mercure_id(id);
    CAF_REQUIRE(found.ok());
    return found.value.value_or(0);
  }
};

} // namespace

CAF_TEST(selectors match exactly by template or everything) {
  mercure_selector exact{"https://example.com/books/1"};
  CAF_CHECK(exact.matches("https://example.com/books/1"));
  CAF_CHECK(!exact.matches("https://example.com/books/10"));
  mercure_selector tpl{"https://example.com/books/{id}"};
  CAF_CHECK(tpl.matches("https://example.com/books/1"));
  CAF_CHECK(tpl.matches("https://example.com/books/{id}")); // its own text
  CAF_CHECK(!tpl.matches("https://example.com/books/1/reviews"));
  CAF_CHECK(!tpl.matches("https://example.com/authors/1"));
  mercure_selector any{"*"};
  CAF_CHECK(any.matches("urn:isbn:978-3-16-148410-0"));
  mercure_selector plain{"chat"};
  CAF_CHECK(plain.matches("chat"));
  CAF_CHECK(!plain.matches("chat/1"));
  // Not a valid template: only its own text.
  mercure_selector broken{"https://example.com/{unclosed"};
  CAF_CHECK(broken.matches("https://example.com/{unclosed"));
  CAF_CHECK(!broken.matches("https://example.com/x"));
}

CAF_TEST(a view admits private updates only through the selectors of its token) {
  mercure_view anon{{"https://example.com/books/{id}"}, {}};
  auto book = fields({"https://example.com/books/1"});
  auto alt = fields({"https://example.com/authors/9", "https://example.com/books/2"});
  auto other = fields({"https://example.com/authors/9"});
  CAF_CHECK(anon.admits(*book, false));
  CAF_CHECK(anon.admits(*alt, false)); // an alternate topic matches
  CAF_CHECK(!anon.admits(*other, false));
  CAF_CHECK(!anon.admits(*book, true));
  mercure_view reader{{"*"}, {"https://example.com/books/{id}"}};
  CAF_CHECK(reader.admits(*book, true));
  CAF_CHECK(reader.admits(*other, false));
  CAF_CHECK(!reader.admits(*other, true));
}

CAF_TEST(herald patterns never match the internal mercure topic) {
  CAF_CHECK(!topic_matches("**", "@mercure"));
  CAF_CHECK(!topic_matches("*", "@mercure"));
  CAF_CHECK(!topic_filter{{"**"}}.matches("@mercure"));
  CAF_CHECK(validate_pattern("@mercure").has_value());
  topic_filter f{std::make_shared<const mercure_view>(std::vector<std::string>{"*"},
                                                      std::vector<std::string>{})};
  CAF_CHECK(f.matches("@mercure"));
  CAF_CHECK(f.single_exact());
  CAF_CHECK(f.selects());
  auto m = fields({"x"});
  CAF_CHECK(f.admits("@mercure", {}, m.get()));
  CAF_CHECK(!f.admits("@mercure", {}, nullptr));
}

CAF_TEST(publish forms are checked field by field) {
  auto ok = parse_mercure_update(
    "topic=https%3A%2F%2Fexample.com%2Fa&topic=urn%3Ax&data=a+b%0Ac&private=on&id=my-1"
    "&type=upd&retry=1500",
    4);
  CAF_REQUIRE(std::holds_alternative<mercure_update_form>(ok));
  auto& f = std::get<mercure_update_form>(ok);
  CAF_CHECK_EQUAL(f.topics.size(), 2u);
  CAF_CHECK_EQUAL(f.topics[0], "https://example.com/a");
  CAF_CHECK_EQUAL(f.data, "a b\nc");
  CAF_CHECK(f.is_private);
  CAF_CHECK_EQUAL(f.id, "my-1");
  CAF_CHECK_EQUAL(f.type, "upd");
  CAF_CHECK_EQUAL(f.retry_ms, 1500u);
  CAF_CHECK_EQUAL(refusal_code("topic=a&private="), "accepted"); // any value marks private
  CAF_CHECK_EQUAL(refusal_code("data=x"), "invalid_topic");
  CAF_CHECK_EQUAL(refusal_code("topic="), "invalid_topic");
  CAF_CHECK_EQUAL(refusal_code("topic=a&topic=b&topic=c&topic=d&topic=e"), "invalid_topic");
  CAF_CHECK_EQUAL(refusal_code("topic=a&id=x%0Ay"), "invalid_id");
  CAF_CHECK_EQUAL(refusal_code("topic=a&id=x%0Dy"), "invalid_id");
  CAF_CHECK_EQUAL(refusal_code("topic=a&id=x%00y"), "invalid_id");
  CAF_CHECK_EQUAL(refusal_code("topic=a&id=earliest"), "invalid_id");
  CAF_CHECK_EQUAL(refusal_code("topic=a&id=urn%3Aherald%3A1-2"), "invalid_id");
  CAF_CHECK_EQUAL(refusal_code("topic=a&type=x%0Ay"), "invalid_type");
  CAF_CHECK_EQUAL(refusal_code("topic=a&type=x%0Dy"), "invalid_type");
  CAF_CHECK_EQUAL(refusal_code("topic=a&retry=-1"), "invalid_retry");
  CAF_CHECK_EQUAL(refusal_code("topic=a&retry=1e3"), "invalid_retry");
  CAF_CHECK_EQUAL(refusal_code("topic=a&data=1&data=2"), "duplicate_field");
  CAF_CHECK_EQUAL(refusal_code("topic=a&data=%FF%FE"), "invalid_data");
  CAF_CHECK_EQUAL(refusal_code("topic=a&colour=red"), "unknown_field");
  CAF_CHECK_EQUAL(refusal_code("topic=a&data=%G1"), "invalid_body");
}

CAF_TEST(mercure frames keep every line of the data) {
  auto m = fields({"t"}, "book-1", 1500);
  auto ev = stream_item::make_event(5, "ab-5", std::string{mercure_log_topic}, "update",
                                    "line1\n  line2\n\nCR\rCRLF\r\nend\n", false, {}, m);
  CAF_CHECK_EQUAL(sse_mercure_frame(*ev),
                  "id: book-1\nevent: update\nretry: 1500\ndata: line1\ndata:   line2\ndata: \n"
                  "data: CR\ndata: CRLF\ndata: end\ndata: \n\n");
  auto hub_id = stream_item::make_event(6, "ab-6", std::string{mercure_log_topic}, "", "", false,
                                        {}, fields({"t"}));
  CAF_CHECK_EQUAL(sse_mercure_frame(*hub_id), "id: urn:herald:ab-6\ndata: \n\n");
  auto gap = stream_item::make_notice("herald.gap", "{}");
  CAF_CHECK_EQUAL(sse_mercure_frame(*gap), "event: herald.gap\ndata: {}\n\n");
}

CAF_TEST(path parameters keep escaped slashes inside their segment) {
  std::vector<std::string> params;
  CAF_CHECK(match_pattern("/.well-known/mercure/subscriptions/{topic}/{subscriber}",
                          "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fa/"
                          "urn%3Auuid%3A1",
                          params));
  CAF_REQUIRE_EQUAL(params.size(), 2u);
  CAF_CHECK_EQUAL(params[0], "https://example.com/a");
  CAF_CHECK_EQUAL(params[1], "urn:uuid:1");
  CAF_CHECK(!match_pattern("/a/{x}", "/a/%zz", params));
  CAF_CHECK(match_pattern("/v1/jobs/{id}", "/v1/%6Aobs/j", params)); // literals compare decoded
}

CAF_TEST(subscriptions are listed by topic and subscriber) {
  mercure_subscriptions reg;
  reg.add({{"https://example.com/{id}", "urn:uuid:b", "{\"user\":1}"},
           {"chat", "urn:uuid:b", "{\"user\":1}"}});
  reg.add({{"chat", "urn:uuid:a", ""}});
  CAF_CHECK_EQUAL(reg.list().size(), 3u);
  CAF_CHECK_EQUAL(reg.list("chat").size(), 2u);
  CAF_REQUIRE_EQUAL(reg.list("chat", "urn:uuid:b").size(), 1u);
  auto one = reg.list("chat", "urn:uuid:b").front();
  CAF_CHECK_EQUAL(one.id(), "/.well-known/mercure/subscriptions/chat/urn%3Auuid%3Ab");
  CAF_CHECK_EQUAL(one.json(false, false),
                  "{\"id\":\"/.well-known/mercure/subscriptions/chat/urn%3Auuid%3Ab\","
                  "\"type\":\"Subscription\",\"subscriber\":\"urn:uuid:b\",\"topic\":\"chat\","
                  "\"active\":false,\"payload\":{\"user\":1}}");
  reg.remove("urn:uuid:b");
  CAF_CHECK_EQUAL(reg.size(), 1u);
  auto id = random_subscriber_id();
  CAF_CHECK_EQUAL(id.size(), 45u);
  CAF_CHECK_EQUAL(id.substr(0, 9), "urn:uuid:");
  CAF_CHECK_EQUAL(id[23], '4'); // version 4
}

CAF_TEST_FIXTURE_SCOPE(mercure_log_tests, log_fixture)

CAF_TEST(mercure updates keep their fields in the log and across reopening) {
  std::vector<event_record> batch;
  event_record r{0, 1000, std::string{mercure_log_topic}, "update", "a\nb"};
  r.access.is_private = true;
  r.mercure = fields({"https://example.com/a", "urn:x"}, "my-id", 2500);
  batch.push_back(std::move(r));
  CAF_REQUIRE(!log().append(batch));
  reopen();
  auto got = log().get(1);
  CAF_REQUIRE(got.value.has_value());
  CAF_REQUIRE(got.value->mercure != nullptr);
  CAF_CHECK_EQUAL(got.value->mercure->topics.size(), 2u);
  CAF_CHECK_EQUAL(got.value->mercure->topics[1], "urn:x");
  CAF_CHECK_EQUAL(got.value->mercure->id, "my-id");
  CAF_CHECK_EQUAL(got.value->mercure->retry_ms, 2500u);
  CAF_CHECK_EQUAL(got.value->data, "a\nb");
  CAF_CHECK_EQUAL(got.value->type, "update");
  CAF_CHECK(got.value->access.is_private);
  CAF_CHECK_EQUAL(find("my-id"), 1u);
  CAF_CHECK_EQUAL(find("nobody"), 0u);
  // A read through a Mercure filter sees it only with a matching private selector.
  auto anon = topic_filter{std::make_shared<const mercure_view>(
    std::vector<std::string>{"*"}, std::vector<std::string>{})};
  auto reader = topic_filter{std::make_shared<const mercure_view>(
    std::vector<std::string>{"*"}, std::vector<std::string>{"urn:x"})};
  CAF_CHECK_EQUAL(log().read(0, anon, 10, 10).events.size(), 0u);
  CAF_CHECK_EQUAL(log().read(0, reader, 10, 10).events.size(), 1u);
  CAF_CHECK_EQUAL(log().read(0, topic_filter{{"**"}}, 10, 10).events.size(), 0u);
}

CAF_TEST(retention forgets the ids of the updates it deletes) {
  publish("r1");
  publish("r2");
  publish("r3");
  publish("r1"); // an id used again: the newest update owns it
  CAF_CHECK_EQUAL(find("r1"), 4u);
  log().keep_per_topic(3);
  publish("r4"); // five updates: the two oldest go
  CAF_CHECK_EQUAL(find("r2"), 0u);
  CAF_CHECK_EQUAL(find("r3"), 3u);
  CAF_CHECK_EQUAL(find("r1"), 4u); // deleting position 1 did not take the id from position 4
  // Nothing stays behind in the id table for the deleted ones.
  auto raw = store->db().get(store->db().column("mercure_ids"), "r2", "test read");
  CAF_CHECK(raw.ok() && !raw.value);
  std::string err;
  CAF_CHECK_EQUAL(log().trim_older_than(2000, 100, err).deleted, 3u);
  CAF_CHECK_EQUAL(find("r1"), 0u);
  CAF_CHECK_EQUAL(find("r3"), 0u);
  raw = store->db().get(store->db().column("mercure_ids"), "r1", "test read");
  CAF_CHECK(raw.ok() && !raw.value);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(template selectors report their expressions and check their literal start first) {
  mercure_selector tpl{"https://example.com/{a}/{b}{?c}"};
  CAF_CHECK_EQUAL(tpl.expressions(), 3u);
  CAF_CHECK_EQUAL(mercure_selector{"*"}.expressions(), 0u);
  CAF_CHECK_EQUAL(mercure_selector{"https://example.com/x"}.expressions(), 0u);
  CAF_CHECK(tpl.matches("https://example.com/1/2?c=3"));
  CAF_CHECK(!tpl.matches("http://example.com/1/2"));
  mercure_selector leading{"{+base}/books/{id}"};
  CAF_CHECK(leading.matches("https://example.com/books/9"));
}
