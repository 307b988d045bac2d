#define CAF_SUITE log_reader
#include "tests/unit/actor_fixture.hpp"

#include "net/http_api.hpp"
#include "net/sse_encoding.hpp"

#include <nlohmann/json.hpp>

#include "actors/log_reader.hpp"
#include "storage/event_id.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

namespace {

struct fixture : test::log_fixture {
  reader_handle reader;

  fixture() {
    reader = sys.spawn(log_reader, store, &stats);
    to_stop = handles(reader);
  }

  void append(const std::string& topic, std::size_t n, std::size_t data_bytes = 1) {
    std::vector<event_record> batch;
    for (std::size_t i = 0; i < n; ++i)
      batch.push_back({0, 1000, topic, "", "\"" + std::string(data_bytes, 'x') + "\""});
    CAF_REQUIRE(!log->append(batch));
  }

  replay_page page(std::vector<std::string> patterns, std::uint64_t after,
                   std::uint64_t gap_reported = 0) {
    auto filter = std::make_shared<const topic_filter>(std::move(patterns));
    auto res = ask<replay_page>(reader, replay_atom::value, filter, after, gap_reported);
    CAF_REQUIRE(std::holds_alternative<replay_page>(res));
    return std::get<replay_page>(res);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(log_reader_tests, fixture)

CAF_TEST(replay pages are bounded by count and report how far they scanned) {
  append("a", 600);
  auto p = page({"a"}, 0);
  CAF_CHECK_EQUAL(p.items.size(), replay_page_events);
  CAF_CHECK_EQUAL(p.scanned_through, replay_page_events);
  CAF_CHECK_EQUAL(p.items.front()->pos, 1u);
  CAF_CHECK_EQUAL(sse_frame(*p.items.front()),
                  "id: " + format_event_id(log->epoch(), 1) + "\ndata: \"x\"\n\n");
  auto rest = page({"a"}, p.scanned_through);
  CAF_CHECK_EQUAL(rest.items.size(), 600 - replay_page_events);
  CAF_CHECK_EQUAL(rest.scanned_through, 600u);
  CAF_CHECK_EQUAL(stats.events_replayed.load(), 600u);
}

CAF_TEST(replay pages are bounded by bytes) {
  append("big", 10, 100 * 1024);
  auto p = page({"big"}, 0);
  CAF_CHECK_EQUAL(p.items.size(), 3u); // 3 x 100 KiB passes the 256 KiB page budget
  CAF_CHECK_EQUAL(p.scanned_through, 3u);
}

CAF_TEST(a retention gap comes first and is not repeated once reported) {
  log->keep_per_topic(4);
  append("a", 10);
  auto p = page({"a"}, 2);
  CAF_REQUIRE(!p.items.empty());
  CAF_CHECK_EQUAL(p.items.front()->pos, 0u); // a notice, not an event
  CAF_CHECK(sse_frame(*p.items.front()).find("event: herald.gap") == 0);
  CAF_CHECK_EQUAL(p.gap_through, 6u);
  CAF_CHECK_EQUAL(p.items.size(), 5u); // the notice and events 7..10
  auto again = page({"a"}, 2, 6);
  CAF_CHECK_EQUAL(again.gap_through, 0u);
  CAF_CHECK_EQUAL(again.items.size(), 4u);
}

CAF_TEST(json pages splice event data and say where to continue) {
  append("a", 3);
  append("b", 1);
  auto doc = nlohmann::json::parse(render_events_page(read_events_page(*log, topic_filter{{"*"}}, 1, 2)));
  CAF_CHECK_EQUAL(doc["events"].size(), 2u);
  CAF_CHECK_EQUAL(doc["events"][0]["id"], format_event_id(log->epoch(), 2));
  CAF_CHECK_EQUAL(doc["events"][0]["data"], "x");
  CAF_CHECK(doc["events"][0]["type"].is_null());
  CAF_CHECK_EQUAL(doc["next_after"], format_event_id(log->epoch(), 3));
  CAF_CHECK_EQUAL(doc["more"], true);
  CAF_CHECK(doc["gap"].is_null());
  doc = nlohmann::json::parse(
    render_events_page(read_events_page(*log, topic_filter{{"b"}}, 0, 10, true)));
  CAF_CHECK_EQUAL(doc["gap"]["reason"], "unknown_log");
  CAF_CHECK_EQUAL(doc["more"], false);
}

CAF_TEST_FIXTURE_SCOPE_END()
