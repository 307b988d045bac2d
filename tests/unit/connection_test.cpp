#define CAF_SUITE connection
#include "tests/unit/actor_fixture.hpp"

#include "actors/connection.hpp"
#include "actors/dispatcher.hpp"
#include "actors/journal.hpp"
#include "actors/log_reader.hpp"
#include "actors/registry.hpp"
#include "storage/event_id.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;
using test::drain;
using test::ids_in;
using namespace std::chrono_literals;

namespace {

// The whole actor graph of a hub on the deterministic scheduler, with a real event log.
struct fixture : test::log_fixture {
  dispatcher_handle disp;
  journal_handle jour;
  reader_handle reader;
  caf::actor reg;
  connection_settings settings;
  stream_timing timing;

  fixture() {
    timing.heartbeat = 25s;
    timing.max_age = 60s;
    timing.retry_ms = 1500;
    timing.retry_jitter_ms = 0;
    disp = sys.spawn(dispatcher, log->head(), timing);
    log->keep_per_topic(4);
    journal_settings js;
    js.retention_interval = std::chrono::hours(1000);
    jour = sys.spawn(journal, store, disp, &stats, js);
    reader = sys.spawn(log_reader, store, &stats);
    reg = sys.spawn(registry, std::size_t{100}, &stats);
    to_stop = handles(jour, reader, reg, disp);
    settings.retry_ms = 1500;
    settings.retry_jitter_ms = 0;
  }

  struct stream {
    caf::actor conn;
    queue_ptr queue;
  };

  stream open(std::vector<std::string> patterns, std::optional<event_id> resume = {},
              std::size_t max_bytes = 1 << 20) {
    stream s;
    s.queue = std::make_shared<outbound_queue>(max_bytes, [] {});
    subscription_request sub{std::move(patterns), resume,
                             resume ? format_event_id(resume->epoch, resume->pos) : ""};
    connection_deps deps{reg, disp, reader, log->epoch(), &stats, settings};
    s.conn = sys.spawn(connection, s.queue, std::move(sub), deps);
    sched.run();
    return s;
  }

  void publish(std::vector<std::string> topics) {
    auto job = std::make_shared<publish_job>();
    for (auto& t : topics)
      job->events.push_back({t, "", "{\"topic\":\"" + t + "\"}"});
    job->done = [](publish_outcome) {};
    caf::anon_send(jour, publish_atom::value, job);
    sched.run();
  }

  std::string id(std::uint64_t pos) { return format_event_id(log->epoch(), pos); }
  std::vector<std::string> ids(std::initializer_list<std::uint64_t> ps) {
    std::vector<std::string> out;
    for (auto p : ps)
      out.push_back(id(p));
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(connection_tests, fixture)

CAF_TEST(a stream starts with retry then receives live events of its subscription) {
  auto s = open({"orders/*"});
  CAF_CHECK(deref<connection_actor>(s.conn).state.live);
  publish({"orders/1", "users/1", "orders/2"});
  auto out = drain(*s.queue);
  CAF_CHECK_EQUAL(out.rfind("retry: 1500\n\n", 0), 0u);
  CAF_CHECK_EQUAL(ids_in(out), ids({1, 3}));
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  CAF_CHECK_EQUAL(stats.connection_actors.load(), 1);
  kill(s.conn);
}

CAF_TEST(exit of the connection cascades to topic membership and routes and the topic actor) {
  auto s1 = open({"a", "b/*"});
  auto s2 = open({"a"});
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 2);
  kill(s1.conn);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1); // b/* had only s1
  CAF_CHECK_EQUAL(deref<dispatcher_actor>(disp).state.routes.size(), 1u);
  kill(s2.conn);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
  CAF_CHECK_EQUAL(stats.connection_actors.load(), 0);
  CAF_CHECK(deref<dispatcher_actor>(disp).state.routes.empty());
  CAF_CHECK(deref<registry_actor>(reg).state.topics.empty());
}

CAF_TEST(resume replays what was missed in order then continues live without a seam) {
  publish({"a", "b", "a", "c", "b"});
  auto s = open({"a", "b"}, event_id{log->epoch(), 2});
  publish({"a"});
  CAF_CHECK_EQUAL(ids_in(drain(*s.queue)), ids({3, 5, 6}));
  kill(s.conn);
}

CAF_TEST(events published while replay is paced are neither lost nor repeated) {
  std::vector<std::string> many(1500, "a"); // more than one replay page (512)
  publish(many);
  auto s = open({"a"}, event_id{log->epoch(), 0});
  // Replay is paced by the queue: interleave the writer with new publishes.
  std::string out;
  for (int round = 0; round < 6; ++round) {
    publish({"a"});
    out += drain(*s.queue);
    sched.run();
  }
  out += drain(*s.queue);
  auto got = ids_in(out);
  // Count retention keeps 4 per topic in this fixture, so replay starts with a gap notice...
  CAF_CHECK(out.find("event: herald.gap") != std::string::npos);
  // ...then every retained or later event once, in order.
  std::uint64_t prev = 0;
  for (auto& text : got) {
    auto pos = parse_event_id(text).value().pos;
    CAF_CHECK_LESS(prev, pos);
    prev = pos;
  }
  CAF_CHECK_EQUAL(got.back(), id(1506));
  kill(s.conn);
}

CAF_TEST(an id from another log gets a gap notice and everything retained) {
  publish({"a", "a"});
  auto s = open({"a"}, event_id{log->epoch() ^ 1u, 1});
  auto out = drain(*s.queue);
  CAF_CHECK(out.find("\"reason\":\"unknown_log\"") != std::string::npos);
  CAF_CHECK_EQUAL(ids_in(out), ids({1, 2}));
  kill(s.conn);
}

CAF_TEST(an id ahead of the log gets a gap notice then live events) {
  publish({"a"});
  auto s = open({"a"}, event_id{log->epoch(), 99});
  publish({"a"});
  auto out = drain(*s.queue);
  CAF_CHECK(out.find("\"reason\":\"ahead_of_log\"") != std::string::npos);
  CAF_CHECK_EQUAL(ids_in(out), ids({2}));
  kill(s.conn);
}

CAF_TEST(a closed stream leaves no timer behind that would keep its actor alive) {
  sched.run();
  auto timers_before = sched.clock().schedule().size(); // journal and dispatcher: one each
  auto s = open({"a"});
  drain(*s.queue);
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), timers_before); // the stream added none
  advance_time(25s);
  sched.run();
  CAF_CHECK_EQUAL(drain(*s.queue), ": heartbeat\n\n"); // from the dispatcher's timer
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(s.conn);
  kill(s.conn);
  s.conn = nullptr;
  CAF_CHECK(caf::actor_cast<caf::actor>(weak) == nullptr); // nothing holds the dead actor
}

CAF_TEST(maximum age ends the stream with a retry hint and cleans up) {
  auto s = open({"a"});
  drain(*s.queue);
  advance_time(25s);
  sched.run();
  CAF_CHECK(!s.queue->closed());
  advance_time(25s);
  sched.run();
  CAF_CHECK(!s.queue->closed());
  advance_time(25s); // the first tick at or past 60 s
  sched.run();
  outbound_queue::take_result last;
  auto out = drain(*s.queue, &last);
  CAF_CHECK(out.find("retry: 1500") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  CAF_CHECK_EQUAL(last.reason, close_reason::max_age);
  kill(s.conn); // what the socket side does once the stream is closed
  CAF_CHECK_EQUAL(stats.connection_actors.load(), 0);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST(a crashed topic ends its streams so clients resume) {
  auto s = open({"a"});
  auto topic_actor = deref<registry_actor>(reg).state.topics.at("a").topic;
  kill(topic_actor, caf::exit_reason::unhandled_exception);
  outbound_queue::take_result last;
  drain(*s.queue, &last);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  CAF_CHECK_EQUAL(last.reason, close_reason::topic_lost);
  CAF_CHECK_EQUAL(stats.connection_actors.load(), 0);
  CAF_CHECK(deref<dispatcher_actor>(disp).state.routes.empty());
}

CAF_TEST(a full topic rejects the stream with 503 and leaves nothing behind) {
  kill(reg);
  reg = sys.spawn(registry, std::size_t{1}, &stats);
  to_stop[2] = reg;
  auto s1 = open({"a"});
  auto s2 = open({"b", "a"});
  outbound_queue::take_result last;
  drain(*s2.queue, &last);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::reject);
  CAF_CHECK_EQUAL(test::status_of(last.error), 503);
  CAF_CHECK(error_body(last.error).find("topic_full") != std::string::npos);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1); // 'b' was joined, then released
  CAF_CHECK_EQUAL(stats.connection_actors.load(), 1);
  kill(s1.conn);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
