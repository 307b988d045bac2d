#define CAF_SUITE journal
#include "tests/unit/actor_fixture.hpp"

#include "actors/journal.hpp"
#include "storage/event_id.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

namespace {

struct fixture : test::log_fixture {
  std::vector<committed_batch> batches;
  batch_sink sink;
  journal_handle j;

  fixture() {
    sink = batch_recorder(&batches);
    log->keep_per_topic(3);
    journal_settings s;
    s.retention_interval = std::chrono::seconds(30);
    j = sys.spawn(journal, store, sink, &stats, s);
    to_stop = handles(j, sink);
  }

  std::shared_ptr<publish_outcome> publish(std::vector<std::string> topics,
                                           std::vector<std::string> keys = {}) {
    auto out = std::make_shared<publish_outcome>();
    auto job = std::make_shared<publish_job>();
    for (std::size_t i = 0; i < topics.size(); ++i)
      job->events.push_back({topics[i], "", "1", i < keys.size() ? keys[i] : ""});
    job->done = [out](publish_outcome o) { *out = std::move(o); };
    caf::anon_send(j, publish_atom::value, job);
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(journal_tests, fixture)

CAF_TEST(publishes queued together commit in one batch in order and are answered after the write) {
  auto r1 = publish({"a", "b"});
  auto r2 = publish({"c"});
  auto r3 = publish({"a"});
  sched.run();
  CAF_CHECK_EQUAL(log->head(), 4u);
  CAF_REQUIRE_EQUAL(batches.size(), 1u); // one WriteBatch for the whole mailbox drain
  std::vector<std::uint64_t> positions;
  for (auto& e : *batches.front())
    positions.push_back(e->pos);
  CAF_CHECK_EQUAL(positions, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  auto e = log->epoch();
  CAF_CHECK_EQUAL(r1->ids, (std::vector<std::string>{format_event_id(e, 1), format_event_id(e, 2)}));
  CAF_CHECK_EQUAL(r2->ids, (std::vector<std::string>{format_event_id(e, 3)}));
  CAF_CHECK_EQUAL(r3->ids, (std::vector<std::string>{format_event_id(e, 4)}));
  CAF_CHECK_EQUAL(sse_frame(*batches.front()->at(0)),
                  "id: " + format_event_id(e, 1) + "\ndata: 1\n\n");
  CAF_CHECK_EQUAL(stats.events_published.load(), 4u);
  publish({"z"});
  sched.run();
  CAF_CHECK_EQUAL(batches.size(), 2u); // a later drain is a new batch
}

CAF_TEST(the per-topic count limit is kept by each commit) {
  publish({"a", "a", "a", "a", "a", "b"});
  sched.run();
  auto page = log->read(0, topic_filter{{"a"}}, 100, 100);
  CAF_CHECK_EQUAL(page.events.size(), 3u);
  CAF_CHECK_EQUAL(page.events.front().pos, 3u);
  CAF_CHECK(log->retention_gap(0, topic_filter{{"a"}}));
}

CAF_TEST(the retention timer re-arms itself and dies with the journal) {
  sched.run(); // the journal arms its timer when it starts
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 1u);
  advance_time(std::chrono::seconds(30));
  sched.run();
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 1u); // re-armed
  kill(j);
  advance_time(std::chrono::seconds(30));
  sched.run(); // the last tick goes to a dead actor and nothing re-arms
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 0u);
}

CAF_TEST(a repeated idempotency key gets the original id and publishes nothing) {
  auto first = publish({"a", "b"}, {"k1", ""});
  auto same_drain = publish({"a"}, {"k1"}); // the same key in the same mailbox drain
  sched.run();
  CAF_CHECK_EQUAL(log->head(), 2u);
  CAF_CHECK_EQUAL(same_drain->ids, (std::vector<std::string>{first->ids[0]}));
  auto later = publish({"a", "c"}, {"k1", "k2"});
  sched.run();
  CAF_CHECK_EQUAL(later->ids.at(0), first->ids[0]); // the original, from storage
  CAF_CHECK_EQUAL(log->head(), 3u);                // only "c" was new
  CAF_CHECK_EQUAL(batches.size(), 2u);
  CAF_CHECK_EQUAL(batches.back()->size(), 1u);     // the repeat was not delivered again
  CAF_CHECK_EQUAL(stats.publish_repeats.load(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(a repeating failure is logged once per interval with how often it happened) {
  log_throttle t{std::chrono::seconds(10)};
  log_throttle::clock::time_point t0{std::chrono::hours(1)};
  CAF_CHECK_EQUAL(t.admit(t0), 1u); // the first at once
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::seconds(1)), 0u);
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::seconds(5)), 0u);
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::milliseconds(9999)), 0u);
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::seconds(10)), 4u); // with the three held back
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::seconds(11)), 0u);
  CAF_CHECK_EQUAL(t.admit(t0 + std::chrono::seconds(30)), 2u);
}
