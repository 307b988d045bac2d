#define CAF_SUITE dashboard
#include "tests/unit/actor_fixture.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "actors/dashboard_feed.hpp"
#include "actors/dashboard_viewer.hpp"
#include "delivery/outbound_queue.hpp"
#include "net/dashboard.hpp"

using namespace herald;
using namespace std::chrono_literals;
using test::drain;

namespace {

std::vector<item_ptr> events_on(std::initializer_list<const char*> topics) {
  std::vector<item_ptr> out;
  std::uint64_t pos = 0;
  for (auto* t : topics) {
    ++pos;
    out.push_back(stream_item::make_event(pos, std::to_string(pos), t, "", "{}"));
  }
  return out;
}

const std::string& topic_of(const item_ptr& e) {
  return e->topic;
}

/// The `herald.stats` data lines of an SSE text, parsed.
std::vector<nlohmann::json> snapshots_in(const std::string& sse) {
  std::vector<nlohmann::json> out;
  std::size_t pos = 0;
  while ((pos = sse.find("event: herald.stats\ndata: ", pos)) != std::string::npos) {
    pos += 26;
    auto eol = sse.find('\n', pos);
    out.push_back(nlohmann::json::parse(sse.substr(pos, eol - pos)));
  }
  return out;
}

} // namespace

CAF_TEST(topics are counted only while a dashboard watches) {
  hub_activity a;
  a.count_topics(events_on({"a", "a", "b"}), topic_of);
  CAF_CHECK(a.take_topics(10).counts.empty());
  a.watch(1);
  a.count_topics(events_on({"a", "b", "a", "c", "a", "b"}), topic_of);
  auto w = a.take_topics(2);
  CAF_REQUIRE_EQUAL(w.counts.size(), 2u);
  CAF_CHECK_EQUAL(w.counts[0].first, "a");
  CAF_CHECK_EQUAL(w.counts[0].second, 3u);
  CAF_CHECK_EQUAL(w.counts[1].first, "b");
  CAF_CHECK_EQUAL(w.counts[1].second, 2u);
  CAF_CHECK_EQUAL(w.other, 1u); // c, beyond the top 2
  // Each take starts a new window.
  CAF_CHECK(a.take_topics(10).counts.empty());
  a.watch(-1);
  a.count_topics(events_on({"a"}), topic_of);
  CAF_CHECK(a.take_topics(10).counts.empty());
}

CAF_TEST(a window holds a bounded number of distinct topics) {
  hub_activity a{2};
  a.watch(1);
  a.count_topics(events_on({"x", "y", "z1", "z2", "x", "z3"}), topic_of);
  auto w = a.take_topics(10);
  CAF_REQUIRE_EQUAL(w.counts.size(), 2u);
  CAF_CHECK_EQUAL(w.counts[0].first, "x");
  CAF_CHECK_EQUAL(w.counts[0].second, 2u);
  CAF_CHECK_EQUAL(w.other, 3u); // z1, z2, z3 came after the bound was reached
}

CAF_TEST(sessions are listed while their gauge lives and most pending first) {
  hub_activity a;
  auto s1 = a.enlist_session("s1");
  auto s2 = a.enlist_session("s2");
  auto s3 = a.enlist_session("s3");
  s1->pending = 2;
  s2->pending = 7;
  s2->connected = true;
  s3->dead_letters = 4;
  auto listed = a.sessions(2);
  CAF_REQUIRE_EQUAL(listed.size(), 2u);
  CAF_CHECK_EQUAL(listed[0].id, "s2");
  CAF_CHECK_EQUAL(listed[0].pending, 7);
  CAF_CHECK(listed[0].connected);
  CAF_CHECK_EQUAL(listed[1].id, "s1");
  s2.reset();
  listed = a.sessions(10);
  CAF_REQUIRE_EQUAL(listed.size(), 2u);
  CAF_CHECK_EQUAL(listed[0].id, "s1");
  CAF_CHECK_EQUAL(listed[1].id, "s3");
  CAF_CHECK_EQUAL(listed[1].dead_letters, 4);
}

CAF_TEST(jobs are listed running first and then by their latest update) {
  hub_activity a;
  a.job_changed({"done", "completed", 1.0, "", 300, 0});
  a.job_changed({"old", "active", 0.1, "", 100, 1});
  a.job_changed({"new", "waiting", -1, "queued", 200, 0});
  auto listed = a.jobs(10);
  CAF_REQUIRE_EQUAL(listed.size(), 3u);
  CAF_CHECK_EQUAL(listed[0].id, "new");
  CAF_CHECK_EQUAL(listed[1].id, "old");
  CAF_CHECK_EQUAL(listed[2].id, "done");
  a.job_changed({"old", "active", 0.5, "half", 400, 1});
  a.job_gone("new");
  listed = a.jobs(1);
  CAF_REQUIRE_EQUAL(listed.size(), 1u);
  CAF_CHECK_EQUAL(listed[0].id, "old");
  CAF_CHECK_EQUAL(listed[0].message, "half");
}

CAF_TEST(latency quantiles come from the observations between two readings) {
  bucket_counts before{{0.001, 0.01, 0.1, INFINITY}, {10, 10, 10, 10}};
  // Since `before`: 50 observations up to 1 ms, 40 in (1 ms, 10 ms], 10 in (10 ms, 100 ms].
  bucket_counts now{{0.001, 0.01, 0.1, INFINITY}, {60, 100, 110, 110}};
  auto p50 = quantile_between(before, now, 0.5);
  CAF_REQUIRE(p50.has_value());
  CAF_CHECK(std::abs(*p50 - 0.001) < 1e-9); // the 50th of 100 is the last of the first bucket
  auto p90 = quantile_between(before, now, 0.9);
  CAF_REQUIRE(p90.has_value());
  CAF_CHECK(std::abs(*p90 - 0.01) < 1e-9);
  auto p70 = quantile_between(before, now, 0.7);
  CAF_REQUIRE(p70.has_value());
  CAF_CHECK(std::abs(*p70 - (0.001 + 0.009 * 0.5)) < 1e-9); // halfway through the second bucket
  auto p99 = quantile_between(before, now, 0.99);
  CAF_REQUIRE(p99.has_value());
  CAF_CHECK(*p99 > 0.01 && *p99 <= 0.1);
  // Nothing observed in between: no figure (not zero).
  CAF_CHECK(!quantile_between(now, now, 0.5).has_value());
  // Beyond the last finite bound: that bound.
  bucket_counts slow{{0.001, 0.01, 0.1, INFINITY}, {10, 10, 10, 20}};
  auto p = quantile_between(before, slow, 0.5);
  CAF_REQUIRE(p.has_value());
  CAF_CHECK_EQUAL(*p, 0.1);
}

namespace {

// The feed on the deterministic scheduler, with a source the test answers.
struct feed_fixture : test::actor_fixture {
  std::vector<snapshot_done> renders; // requested, not yet answered
  caf::actor feed;

  feed_fixture() {
    feed = sys.spawn(dashboard_feed, [this](snapshot_done done) { renders.push_back(done); },
                     caf::timespan{1s}, &stats.activity, std::uint64_t{500});
    to_stop = {feed};
  }

  void answer(const std::string& json) {
    CAF_REQUIRE(!renders.empty());
    auto done = std::move(renders.front());
    renders.erase(renders.begin());
    done(json);
    sched.run();
  }

  std::pair<caf::actor, queue_ptr> watch() {
    auto q = std::make_shared<outbound_queue>(1 << 20, [] {});
    auto viewer = sys.spawn(dashboard_viewer, q, feed, std::uint64_t{500});
    sched.run();
    return {viewer, q};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(dashboard_feed_tests, feed_fixture)

CAF_TEST(the feed renders only while someone watches and stops when the last viewer goes) {
  // Nobody watches: no timer, no render.
  CAF_CHECK_EQUAL(advance_time(10s), 0u);
  CAF_CHECK(renders.empty());
  CAF_CHECK(!stats.activity.watched());

  auto [viewer, q] = watch();
  CAF_CHECK(stats.activity.watched());
  CAF_REQUIRE_EQUAL(renders.size(), 1u); // the first snapshot at once
  answer(R"({"n":1})");
  auto first = drain(*q);
  CAF_CHECK(first.find("retry: 500") != std::string::npos);
  auto got = snapshots_in(first);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0]["n"], 1);

  // Every interval: one render, pushed when it comes back.
  CAF_CHECK_EQUAL(advance_time(1s), 1u);
  sched.run();
  CAF_REQUIRE_EQUAL(renders.size(), 1u);
  // A tick while that render is still out starts no second one.
  CAF_CHECK_EQUAL(advance_time(1s), 1u);
  sched.run();
  CAF_CHECK_EQUAL(renders.size(), 1u);
  answer(R"({"n":2})");
  got = snapshots_in(drain(*q));
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0]["n"], 2);

  // A second viewer gets the latest snapshot at once, without a render.
  auto [viewer2, q2] = watch();
  CAF_CHECK(renders.empty());
  got = snapshots_in(drain(*q2));
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0]["n"], 2);

  // Both streams close (their sockets went): the down_msgs take them off, the count goes to 0,
  // and the timer is not re-armed after the next tick.
  caf::anon_send_exit(viewer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(viewer2, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(!stats.activity.watched());
  advance_time(1s); // the tick armed before they left: finds nobody, renders nothing
  sched.run();
  CAF_CHECK(renders.empty());
  CAF_CHECK_EQUAL(advance_time(10s), 0u);
}

CAF_TEST(a viewer that does not read skips snapshots instead of being closed) {
  auto [viewer, q] = watch();
  answer(R"({"n":0})");
  for (int i = 1; i <= 20; ++i) { // the browser never reads
    advance_time(1s);
    sched.run();
    answer(R"({"n":)" + std::to_string(i) + "}");
  }
  auto got = snapshots_in(drain(*q));
  CAF_CHECK_GREATER_OR_EQUAL(got.size(), 2u);
  CAF_CHECK_LESS_OR_EQUAL(got.size(), 5u);
  // It reads again: it gets the next snapshot.
  advance_time(1s);
  sched.run();
  answer(R"({"n":21})");
  got = snapshots_in(drain(*q));
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0]["n"], 21);
  to_stop = {viewer, feed};
}

CAF_TEST(a viewer whose feed is gone ends its stream with a retry hint) {
  auto [viewer, q] = watch();
  answer(R"({"n":1})");
  drain(*q);
  caf::anon_send_exit(feed, caf::exit_reason::kill);
  sched.run();
  outbound_queue::take_result last;
  auto tail = drain(*q, &last);
  CAF_CHECK(tail.find("retry: 500") != std::string::npos);
  CAF_CHECK(last.kind == outbound_queue::take_kind::close);
  // The feed's state went with it: it no longer counts a watcher.
  CAF_CHECK(!stats.activity.watched());
  to_stop = {viewer};
}

CAF_TEST(the hub shutting down ends every dashboard stream) {
  auto [viewer, q] = watch();
  answer(R"({"n":1})");
  drain(*q);
  caf::anon_send(feed, shutdown_atom::value, std::uint64_t{1000}, std::uint64_t{0});
  sched.run();
  outbound_queue::take_result last;
  auto tail = drain(*q, &last);
  CAF_CHECK(tail.find("herald.shutdown") != std::string::npos);
  CAF_CHECK(last.kind == outbound_queue::take_kind::close);
  to_stop = {viewer, feed};
}

CAF_TEST_FIXTURE_SCOPE_END()
