#define CAF_SUITE event_log
#include <caf/test/unit_test.hpp>

#include <rocksdb/db.h>

#include "storage/hub_storage.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

namespace {

struct fixture {
  test::temp_dir dir;
  std::shared_ptr<hub_storage> store;
  event_log* log = nullptr;

  fixture() {
    storage_thread::claim();
    reopen();
  }

  void reopen() {
    log = nullptr;
    store.reset();
    std::string err;
    store = hub_storage::open(dir.str(), durability::process, err);
    if (!store)
      CAF_FAIL("cannot open storage: " << err);
    log = &store->log();
  }

  std::uint64_t idempotent(const char* key, std::int64_t now_ms) {
    auto found = store->dedup().find(key, now_ms);
    CAF_REQUIRE(found.ok());
    return found.value.value_or(0);
  }

  void append(std::initializer_list<const char*> topics, std::int64_t time_ms = 1000) {
    std::vector<event_record> batch;
    for (auto* t : topics)
      batch.push_back(event_record{0, time_ms, t, "", "{\"t\":\"" + std::string{t} + "\"}"});
    CAF_REQUIRE(!log->append(batch));
  }

  std::vector<std::uint64_t> positions(std::uint64_t after, std::vector<std::string> patterns,
                                       std::size_t max = 1000, std::size_t scan = 100000) {
    std::vector<std::uint64_t> out;
    for (auto& e : log->read(after, topic_filter{std::move(patterns)}, max, scan).events)
      out.push_back(e.pos);
    return out;
  }
};

using P = std::vector<std::uint64_t>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(event_log_tests, fixture)

CAF_TEST(positions are assigned in order and survive reopening) {
  CAF_CHECK_EQUAL(log->head(), 0u);
  append({"a", "b", "a"});
  CAF_CHECK_EQUAL(log->head(), 3u);
  auto epoch = log->epoch();
  reopen();
  CAF_CHECK_EQUAL(log->head(), 3u);
  CAF_CHECK_EQUAL(log->epoch(), epoch);
  append({"c"});
  CAF_CHECK_EQUAL(log->head(), 4u);
}

CAF_TEST(reads filter by topic and pattern in log order) {
  append({"orders/1", "users/1", "orders/2", "orders/1", "orders/1/items"});
  CAF_CHECK_EQUAL(positions(0, {"orders/1"}), (P{1, 4}));      // per-topic index
  CAF_CHECK_EQUAL(positions(1, {"orders/1"}), (P{4}));
  CAF_CHECK_EQUAL(positions(0, {"orders/*"}), (P{1, 3, 4}));   // log scan
  CAF_CHECK_EQUAL(positions(0, {"orders/**"}), (P{1, 3, 4, 5}));
  CAF_CHECK_EQUAL(positions(0, {"users/1", "orders/2"}), (P{2, 3}));
  auto rec = log->read(1, topic_filter{{"users/1"}}, 10, 10).events.at(0);
  CAF_CHECK_EQUAL(rec.topic, "users/1");
  CAF_CHECK_EQUAL(rec.data, "{\"t\":\"users/1\"}");
  CAF_CHECK_EQUAL(rec.time_ms, 1000);
}

CAF_TEST(pages report how far they scanned) {
  append({"a", "b", "a", "b", "a"});
  auto p = log->read(0, topic_filter{{"a"}}, 2, 1000);
  CAF_CHECK_EQUAL(p.events.size(), 2u);
  CAF_CHECK_EQUAL(p.scanned_through, 3u);
  p = log->read(0, topic_filter{{"*"}}, 100, 2); // scan budget of 2 entries
  CAF_CHECK_EQUAL(p.scanned_through, 2u);
  p = log->read(3, topic_filter{{"a"}}, 100, 1000);
  CAF_CHECK_EQUAL(p.scanned_through, 5u); // exhausted: through the head
}

CAF_TEST(a single topic is read by walking the log beside its index near and far) {
  // a at 1, 3, 5 (steps of two), then 16 events of b, then a at 22, 23 (a seek ahead).
  append({"a", "b", "a", "b", "a"});
  for (int i = 0; i < 16; ++i)
    append({"b"});
  append({"a", "a"});
  auto page = log->read(0, topic_filter{{"a"}}, 1000, 100000);
  P got;
  for (auto& e : page.events) {
    got.push_back(e.pos);
    CAF_CHECK_EQUAL(e.topic, "a");
    CAF_CHECK_EQUAL(e.data, "{\"t\":\"a\"}");
  }
  CAF_CHECK_EQUAL(got, (P{1, 3, 5, 22, 23}));
  // Resuming mid-way, paging, and after the topic's oldest events are trimmed.
  CAF_CHECK_EQUAL(positions(3, {"a"}), (P{5, 22, 23}));
  CAF_CHECK_EQUAL(positions(0, {"a"}, 2), (P{1, 3}));
  log->keep_per_topic(3);
  append({"a", "b"}); // a: 6 -> 3, b: 19 -> 3
  CAF_CHECK_EQUAL(positions(0, {"a"}), (P{22, 23, 24}));
  CAF_CHECK_EQUAL(positions(0, {"b"}), (P{20, 21, 25}));
  CAF_CHECK_EQUAL(positions(0, {"*"}), (P{20, 21, 22, 23, 24, 25})); // the log walk skips them too
}

CAF_TEST(count retention trims the oldest events of a topic and reports the gap) {
  log->keep_per_topic(2);
  append({"a", "b", "a", "a", "a"}); // more than the limit in one write: its own oldest go
  CAF_CHECK_EQUAL(positions(0, {"a"}), (P{4, 5}));
  CAF_CHECK_EQUAL(positions(0, {"b"}), (P{2}));
  auto gap = log->retention_gap(0, topic_filter{{"a"}});
  CAF_REQUIRE(gap);
  CAF_CHECK_EQUAL(gap->from, 1u);
  CAF_CHECK_EQUAL(gap->to, 3u);
  CAF_CHECK(!log->retention_gap(3, topic_filter{{"a"}}));
  CAF_CHECK(!log->retention_gap(0, topic_filter{{"b"}}));
  CAF_CHECK(log->retention_gap(0, topic_filter{{"*"}}));
  append({"a"}); // a stored event goes
  CAF_CHECK_EQUAL(positions(0, {"a"}), (P{5, 6}));
  CAF_CHECK(!log->get(4).value);
  gap = log->retention_gap(0, topic_filter{{"a"}});
  CAF_REQUIRE(gap);
  CAF_CHECK_EQUAL(gap->to, 4u);
  reopen(); // the bookkeeping is durable
  gap = log->retention_gap(0, topic_filter{{"a"}});
  CAF_REQUIRE(gap);
  CAF_CHECK_EQUAL(gap->to, 4u);
  CAF_CHECK_EQUAL(positions(0, {"**"}), (P{2, 5, 6}));
}

CAF_TEST(what retention deleted leaves the disk when the memtable is flushed) {
  auto& db = store->db();
  auto raw = [&](const char* column, std::string key) {
    auto found = db.get(db.column(column), key, "test read");
    CAF_REQUIRE(found.ok());
    return found.value.has_value();
  };
  auto be = [](std::uint64_t pos) {
    std::string k;
    for (int i = 7; i >= 0; --i)
      k.push_back(static_cast<char>((pos >> (i * 8)) & 0xff));
    return k;
  };
  log->keep_per_topic(2);
  append({"a", "a", "b"});
  append({"a", "a"}); // 1 and 2 go
  CAF_CHECK_EQUAL(positions(0, {"a"}), (P{4, 5}));
  CAF_CHECK(raw("log", be(1)));                     // deleted, still in the memtable
  CAF_CHECK(raw("topic_index", "a" + std::string(1, '\0') + be(1)));
  for (auto* column : {"log", "topic_index"}) {
    rocksdb::FlushOptions wait;
    CAF_REQUIRE(db.db().Flush(wait, db.column(column)).ok());
  }
  CAF_CHECK(!raw("log", be(1)));
  CAF_CHECK(!raw("log", be(2)));
  CAF_CHECK(!raw("topic_index", "a" + std::string(1, '\0') + be(1)));
  CAF_CHECK(!raw("topic_index", "a" + std::string(1, '\0') + be(2)));
  CAF_CHECK(raw("log", be(3)));
  CAF_CHECK(raw("log", be(4)));
  CAF_CHECK(raw("topic_index", "b" + std::string(1, '\0') + be(3)));
  reopen();
  CAF_CHECK_EQUAL(positions(0, {"**"}), (P{3, 4, 5}));
}

CAF_TEST(age retention deletes old events and keeps a watermark for vanished topics) {
  append({"old", "x"}, 1000);
  append({"x"}, 5000);
  std::string err;
  CAF_CHECK_EQUAL(log->trim_older_than(2000, 100, err).deleted, 2u);
  CAF_CHECK_EQUAL(positions(0, {"**"}), (P{3}));
  CAF_CHECK_EQUAL(log->topic_count(), 1u); // "old" is gone entirely
  auto gap = log->retention_gap(0, topic_filter{{"old"}});
  CAF_REQUIRE(gap); // still signalled, through the global watermark
  CAF_CHECK_EQUAL(gap->to, 1u);
  auto again = log->trim_older_than(2000, 100, err);
  CAF_CHECK_EQUAL(again.deleted, 0u);
  CAF_CHECK(!again.more);
  // The topic comes back: its deleted event (still in the memtable) stays deleted.
  append({"old"}, 6000);
  CAF_CHECK_EQUAL(positions(0, {"old"}), (P{4}));
  CAF_CHECK_EQUAL(positions(0, {"**"}), (P{3, 4}));
}

CAF_TEST(age retention steps over what count retention deleted and counts each event once) {
  log->keep_per_topic(2);
  append({"a", "a"}, 1000);
  append({"a"}, 1000); // 1 goes, by count
  append({"b"}, 5000);
  std::string err;
  auto first = log->trim_older_than(2000, 2, err); // looks at 1 and 2
  CAF_CHECK(err.empty());
  CAF_CHECK_EQUAL(first.deleted, 1u);
  CAF_CHECK(first.more);
  CAF_CHECK_EQUAL(log->topic_count(), 2u);
  auto second = log->trim_older_than(2000, 2, err); // 3, then 4 is too young
  CAF_CHECK_EQUAL(second.deleted, 1u);
  CAF_CHECK(!second.more);
  CAF_CHECK_EQUAL(log->topic_count(), 1u); // "a" has no events left
  CAF_CHECK_EQUAL(positions(0, {"**"}), (P{4}));
  auto gap = log->retention_gap(0, topic_filter{{"a"}});
  CAF_REQUIRE(gap);
  CAF_CHECK_EQUAL(gap->to, 3u);
}

CAF_TEST(idempotency keys are written with their events and forgotten after the window) {
  std::vector<event_record> batch{{0, 1000, "a", "", "1", "k1"}, {0, 1000, "a", "", "2", ""}};
  CAF_REQUIRE(!log->append(batch, 500));
  CAF_CHECK_EQUAL(idempotent("k1", 1200), 1u);
  CAF_CHECK_EQUAL(idempotent("k2", 1200), 0u);
  CAF_CHECK_EQUAL(idempotent("k1", 1500), 0u); // the window is over
  reopen();                                     // keys are durable
  CAF_CHECK_EQUAL(idempotent("k1", 1200), 1u);
  std::string err;
  CAF_CHECK_EQUAL(store->dedup().trim(1499, 100, err), 0u);
  CAF_CHECK_EQUAL(store->dedup().trim(1500, 100, err), 1u);
  CAF_CHECK_EQUAL(idempotent("k1", 1200), 0u); // gone from storage
  // A key reused after its window gets a new entry, which an old expiry must not delete.
  std::vector<event_record> again{{0, 2000, "a", "", "3", "k1"}};
  CAF_REQUIRE(!log->append(again, 500));
  CAF_CHECK_EQUAL(idempotent("k1", 2100), 3u);
}

CAF_TEST(access rules survive storage and reads admit only who may see them) {
  std::vector<event_record> batch;
  batch.push_back(event_record{0, 1000, "o/1", "", "1"});
  batch.push_back(event_record{0, 1000, "o/1", "t", "2", "", true, event_access{true, {}}});
  batch.push_back(event_record{0, 1000, "o/2", "", "3", "", false,
                               event_access{false, {"role:kitchen", "sub:bob"}}});
  CAF_REQUIRE(!log->append(batch));
  reopen();
  auto got = log->get(2);
  CAF_REQUIRE(got.ok() && got.value.has_value());
  CAF_CHECK(got.value->access.is_private);
  CAF_CHECK(got.value->ack);
  CAF_CHECK_EQUAL(got.value->data, "2");
  CAF_CHECK_EQUAL(got.value->type, "t");
  auto third = log->get(3);
  CAF_REQUIRE(third.ok() && third.value.has_value());
  CAF_CHECK_EQUAL(third.value->access.audience,
                  (std::vector<std::string>{"role:kitchen", "sub:bob"}));
  CAF_CHECK_EQUAL(third.value->data, "3");
  auto read = [&](std::vector<std::string> patterns, principal_ptr who) {
    std::vector<std::uint64_t> out;
    for (auto& e : log->read(0, topic_filter{std::move(patterns), who}, 100, 1000).events)
      out.push_back(e.pos);
    return out;
  };
  principal bob;
  bob.from = principal::origin::token;
  bob.sub = "bob";
  bob.subscribe = {"o/*"};
  auto bob_ptr = std::make_shared<const principal>(bob);
  auto anon = std::make_shared<const principal>(principal::anonymous({}, {"**"}));
  CAF_CHECK_EQUAL(read({"o/*"}, nullptr), P({1}));       // no viewer: public only
  CAF_CHECK_EQUAL(read({"o/*"}, anon), P({1}));
  CAF_CHECK_EQUAL(read({"o/*"}, bob_ptr), P({1, 2, 3}));
  CAF_CHECK_EQUAL(read({"o/1"}, anon), P({1}));          // the per-topic index path too
  CAF_CHECK_EQUAL(read({"o/1"}, bob_ptr), P({1, 2}));
}

CAF_TEST(cluster mode applies events at the positions the shared log gave them) {
  CAF_REQUIRE(!log->adopt_epoch(0x1234abcd));
  CAF_CHECK_EQUAL(log->epoch(), 0x1234abcdu);
  // Sequences 1-3 were dropped by the stream before this node read them; 6 is a job snapshot.
  std::vector<event_record> batch{event_record{4, 1000, "a", "", "1"},
                                  event_record{5, 1000, "b", "", "2"},
                                  event_record{7, 1000, "a", "", "3"}};
  CAF_REQUIRE(!log->apply(batch, 7, 3));
  CAF_CHECK_EQUAL(log->head(), 7u);
  CAF_CHECK_EQUAL(positions(0, {"a"}), P({4, 7}));
  CAF_CHECK_EQUAL(positions(0, {"*"}), P({4, 5, 7}));
  // A resume from before the lost sequences is told of them; one after them is not.
  auto gap = log->retention_gap(1, topic_filter{{"b"}});
  CAF_REQUIRE(gap);
  CAF_CHECK_EQUAL(gap->from, 2u);
  CAF_CHECK_EQUAL(gap->to, 3u);
  CAF_CHECK(!log->retention_gap(3, topic_filter{{"b"}}));
  // Applying what is applied changes nothing; a later apply moves the head over a non-event.
  std::vector<event_record> again{event_record{7, 1000, "a", "", "x"}};
  CAF_REQUIRE(!log->apply(again, 7));
  auto seven = log->get(7);
  CAF_REQUIRE(seven.value);
  CAF_CHECK_EQUAL(seven.value->data, "3");
  std::vector<event_record> none;
  CAF_REQUIRE(!log->apply(none, 9));
  CAF_CHECK_EQUAL(log->head(), 9u);
  CAF_CHECK(log->wait_for_head(9, std::chrono::milliseconds(1)));
  CAF_CHECK(!log->wait_for_head(10, std::chrono::milliseconds(1)));
  // Everything, the epoch included, is on disk.
  reopen();
  CAF_CHECK_EQUAL(log->epoch(), 0x1234abcdu);
  CAF_CHECK_EQUAL(log->head(), 9u);
  CAF_CHECK(log->retention_gap(1, topic_filter{{"b"}}));
  // A log with events cannot take another cluster's epoch.
  auto err = log->adopt_epoch(0x99);
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("another log") != std::string::npos);
  CAF_CHECK(!log->adopt_epoch(0x1234abcd));
}

CAF_TEST(the stored form of an event round-trips) {
  event_record e{0, 1234, "orders/1", "created", "{\"n\":1}", {}, true};
  e.access.is_private = true;
  e.access.audience = {"user:7"};
  event_record back;
  CAF_REQUIRE(event_log::decode_record(event_log::encode_record(e), back));
  CAF_CHECK_EQUAL(back.time_ms, 1234);
  CAF_CHECK_EQUAL(back.topic, "orders/1");
  CAF_CHECK_EQUAL(back.type, "created");
  CAF_CHECK_EQUAL(back.data, "{\"n\":1}");
  CAF_CHECK(back.ack);
  CAF_CHECK(back.access.is_private);
  CAF_CHECK_EQUAL(back.access.audience, std::vector<std::string>{"user:7"});
  CAF_CHECK(!event_log::decode_record("short", back));
}

CAF_TEST_FIXTURE_SCOPE_END()
