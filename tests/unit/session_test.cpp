#define CAF_SUITE session
#include "tests/unit/actor_fixture.hpp"

#include <thread>

#include <nlohmann/json.hpp>

#include "actors/dispatcher.hpp"
#include "actors/journal.hpp"
#include "actors/log_reader.hpp"
#include "actors/registry.hpp"
#include "actors/session.hpp"
#include "actors/session_registry.hpp"
#include "actors/session_stream.hpp"
#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;
using test::drain;
using test::ids_in;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

/// The redelivered ids and their delivery counts in an SSE text (herald.redelivery notices).
std::vector<std::pair<std::string, int>> redeliveries_in(const std::string& sse) {
  std::vector<std::pair<std::string, int>> out;
  std::size_t pos = 0;
  static const std::string tag = "event: herald.redelivery\ndata: ";
  while ((pos = sse.find(tag, pos)) != std::string::npos) {
    auto eol = sse.find('\n', pos + tag.size());
    auto doc = json::parse(sse.substr(pos + tag.size(), eol - pos - tag.size()));
    out.emplace_back(doc["id"].get<std::string>(), doc["delivery"].get<int>());
    pos = eol;
  }
  return out;
}

struct fixture : test::log_fixture {
  dispatcher_handle disp;
  journal_handle jour;
  reader_handle reader;
  caf::actor registry_stub, sess, stream;
  queue_ptr queue;

  fixture() {
    stream_timing timing;
    timing.heartbeat = std::chrono::hours(1000);
    disp = sys.spawn(dispatcher, log->head(), timing);
    journal_settings js;
    js.retention_interval = std::chrono::hours(1000);
    jour = sys.spawn(journal, store, disp, &stats, js);
    reader = sys.spawn(log_reader, store, &stats);
    // Stands in for the session registry: takes the idle report of a deleted session.
    registry_stub = sys.spawn(
      [](caf::event_based_actor*, int) -> caf::behavior {
        return {[](idle_atom, const std::string&, std::uint64_t) {}};
      },
      0);
    to_stop = handles(jour, reader, disp, registry_stub);
  }

  ~fixture() override {
    stop_actors();
  }

  void make_session(session_settings s) {
    session_record rec;
    rec.settings = std::move(s);
    rec.delivered_through = rec.ack_through = log->head();
    session_deps deps{jour, disp, reader, registry_stub, log->epoch(), &stats, 1500,
                      std::chrono::seconds(5)};
    sess = sys.spawn(session, std::string{"s1"}, rec, std::vector<pending_record>{},
                     std::uint64_t{0}, false, deps);
    to_stop.push_back(sess);
    sched.run();
  }

  /// Attaches a stream: the requesting actor plays the session_stream.
  void connect(std::optional<event_id> resume = {}) {
    queue = std::make_shared<outbound_queue>(1 << 20, [] {});
    auto slot = test::make_slot<bool>();
    stream = requester<bool>(sess, slot, connect_atom::value, queue, resume, test::operator_principal());
    sched.run();
    CAF_REQUIRE(slot->has_value());
    CAF_REQUIRE(std::holds_alternative<bool>(**slot));
  }

  void publish(int n, bool ack, const std::string& topic = "t/a") {
    auto job = std::make_shared<publish_job>();
    for (int i = 0; i < n; ++i)
      job->events.push_back({topic, "", "{\"n\":" + std::to_string(i) + "}", "", ack});
    job->done = [](publish_outcome) {};
    caf::anon_send(jour, publish_atom::value, job);
    sched.run();
  }

  std::pair<int, json> call(session_request::op what, json body = json::object()) {
    auto req = std::make_shared<session_request>();
    req->who = test::operator_principal();
    req->what = what;
    req->id = "s1";
    req->body = std::move(body);
    auto out = std::make_shared<std::pair<int, std::string>>(0, "");
    req->done = [out](request_reply r) { *out = test::rendered(r); };
    caf::anon_send(sess, session_atom::value, req);
    sched.run();
    return {out->first, out->second.empty() ? json{} : json::parse(out->second)};
  }

  void advance(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }

  std::string id(std::uint64_t pos) { return format_event_id(log->epoch(), pos); }
};

session_settings settings(std::uint64_t ack_wait_s, std::uint64_t max_pending,
                          std::uint64_t max_deliveries) {
  session_settings s;
  s.topics = {"t/*"};
  s.ack_wait_ms = ack_wait_s * 1000;
  s.max_pending = max_pending;
  s.max_deliveries = max_deliveries;
  return s;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(offline events are delivered on connect then live events follow in order) {
  make_session(settings(30, 100, 5));
  publish(2, false);
  publish(1, true);
  connect();
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(1), id(2), id(3)}));
  publish(2, false);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(4), id(5)}));
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 1);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
}

CAF_TEST(an unacknowledged event is redelivered after the ack wait with its delivery count) {
  make_session(settings(10, 100, 5));
  connect();
  publish(2, true);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(1), id(2)}));
  advance(9s);
  CAF_CHECK(redeliveries_in(drain(*queue)).empty());
  advance(1s);
  auto first = redeliveries_in(drain(*queue));
  CAF_CHECK_EQUAL(first.size(), 2u);
  if (first.size() == 2) {
    CAF_CHECK_EQUAL(first[0].first, id(1));
    CAF_CHECK_EQUAL(first[0].second, 2);
    CAF_CHECK_EQUAL(first[1].first, id(2));
  }
  // Acknowledged: never again. The other one comes back after another ack wait.
  auto [status, body] = call(session_request::op::ack, json{{"ids", {id(1)}}});
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(body["acked"].get<int>(), 1);
  advance(10s);
  auto second = redeliveries_in(drain(*queue));
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  CAF_CHECK_EQUAL(second[0].first, id(2));
  CAF_CHECK_EQUAL(second[0].second, 3);
  CAF_CHECK_EQUAL(stats.redeliveries.load(), 3u);
  // A duplicate (late) ack is harmless; an id never delivered is refused and changes nothing.
  CAF_CHECK_EQUAL(call(session_request::op::ack, json{{"ids", {id(1)}}}).first, 200);
  CAF_CHECK_EQUAL(call(session_request::op::ack, json{{"ids", {id(2), id(9)}}}).first, 409);
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 1);
  CAF_CHECK_EQUAL(store->sessions().load("s1").value->pending.size(), 1u);
}

CAF_TEST(flow control pauses at max_pending and resumes on acks) {
  make_session(settings(30, 2, 5));
  connect();
  publish(3, true);
  publish(1, false);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(1), id(2)}));
  auto view = call(session_request::op::get).second;
  CAF_CHECK_EQUAL(view["paused"].get<bool>(), true);
  CAF_CHECK_EQUAL(view["pending"].get<int>(), 2);
  // Later events (even plain ones) wait behind the paused one: the stream stays in log order.
  publish(1, false);
  CAF_CHECK(ids_in(drain(*queue)).empty());
  CAF_CHECK_EQUAL(call(session_request::op::ack, json{{"through", id(1)}}).first, 200);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(3), id(4), id(5)}));
  CAF_CHECK_EQUAL(call(session_request::op::get).second["paused"].get<bool>(), false);
}

CAF_TEST(after max deliveries the event is dead-lettered and can be redriven) {
  make_session(settings(10, 100, 2));
  connect();
  publish(1, true);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)).size(), 1u);
  advance(10s);
  CAF_CHECK_EQUAL(redeliveries_in(drain(*queue)).size(), 1u); // delivery 2 of 2
  advance(10s);
  CAF_CHECK(redeliveries_in(drain(*queue)).empty());
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 0);
  CAF_CHECK_EQUAL(stats.dead_letters.load(), 1);
  auto dead = *store->sessions().read_dead("s1", 0, 10).value;
  CAF_REQUIRE_EQUAL(dead.size(), 1u);
  CAF_CHECK_EQUAL(dead[0].pos, 1u);
  CAF_CHECK_EQUAL(dead[0].reason, "max_deliveries");
  CAF_CHECK_EQUAL(dead[0].deliveries, 2u);
  auto listed = call(session_request::op::dead_letters).second;
  CAF_CHECK_EQUAL(listed["dead_letters"].size(), 1u);
  // Redrive: pending again with a fresh count, redelivered at once.
  auto [status, body] = call(session_request::op::redrive, json{{"all", true}});
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(body["redriven"].get<int>(), 1);
  advance(1ms);
  auto again = redeliveries_in(drain(*queue));
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].second, 1);
  CAF_CHECK_EQUAL(stats.dead_letters.load(), 0);
  CAF_CHECK(store->sessions().read_dead("s1", 0, 10).value->empty());
}

CAF_TEST(a stream that ends detaches and stores its cursor; a new one redelivers what is pending) {
  make_session(settings(30, 100, 5));
  connect();
  publish(1, true);
  publish(2, false);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)).size(), 3u);
  kill(stream);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 0);
  CAF_CHECK_EQUAL(deref<dispatcher_actor>(disp).state.routes.size(), 0u);
  auto loaded = store->sessions().load("s1").value;
  auto rec = loaded ? std::optional<session_record>{loaded->record} : std::nullopt;
  // The record was written when the stream ended (the fixture's session was never stored).
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK_EQUAL(rec->delivered_through, 3u);
  CAF_CHECK_EQUAL(rec->ack_through, 1u);
  publish(1, false);
  connect();
  auto text = drain(*queue);
  auto re = redeliveries_in(text);
  CAF_REQUIRE_EQUAL(re.size(), 1u);
  CAF_CHECK_EQUAL(re[0].first, id(1));
  CAF_CHECK_EQUAL(ids_in(text), (std::vector<std::string>{id(4)}));
}

CAF_TEST(a newer stream takes over and the older one is told) {
  make_session(settings(30, 100, 5));
  connect();
  auto old_queue = queue;
  connect();
  CAF_CHECK(old_queue->closed());
  CAF_CHECK(drain(*old_queue).find("herald.session_replaced") != std::string::npos);
  publish(1, false);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)).size(), 1u);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
}

CAF_TEST(an update whose record is not stored changes nothing and one that is stored applies) {
  make_session(settings(30, 100, 5));
  connect();
  store->db().set_min_free_bytes(std::uint64_t{1} << 62); // the disk is "nearly full"
  auto [status, body] = call(session_request::op::put,
                             json{{"topics", {"u/*"}}, {"max_pending", 7}});
  CAF_CHECK_EQUAL(status, 503);
  CAF_CHECK_EQUAL(body["error"]["code"].get<std::string>(), "storage_failure");
  auto message = body["error"]["message"].get<std::string>();
  CAF_CHECK(message.rfind("the session was not stored: ", 0) == 0);
  CAF_CHECK(message.find("nearly full") != std::string::npos);
  auto view = call(session_request::op::get).second;
  CAF_CHECK_EQUAL(view["topics"], json::array({"t/*"}));
  CAF_CHECK_EQUAL(view["max_pending"].get<int>(), 100);
  CAF_CHECK(!queue->closed()); // the stream goes on with the old topics
  store->db().set_min_free_bytes(0);
  publish(1, false, "t/a");
  CAF_CHECK_EQUAL(ids_in(drain(*queue)).size(), 1u);
  CAF_CHECK_EQUAL(call(session_request::op::put, json{{"topics", {"u/*"}}}).first, 200);
  CAF_CHECK(queue->closed()); // now the client reconnects to the new topics
  CAF_CHECK(drain(*queue).find("herald.session_changed") != std::string::npos);
  auto [got, now] = call(session_request::op::get);
  CAF_CHECK_EQUAL(got, 200);
  CAF_CHECK_EQUAL(now["topics"], json::array({"u/*"}));
}

CAF_TEST(a stopped session releases everything it held) {
  make_session(settings(10, 100, 5));
  connect();
  publish(3, true);
  drain(*queue);
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 3);
  CAF_CHECK_EQUAL(stats.sessions.load(), 1);
  kill(sess);
  CAF_CHECK_EQUAL(stats.sessions.load(), 0);
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 0);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 0);
  CAF_CHECK_EQUAL(deref<dispatcher_actor>(disp).state.routes.size(), 0u);
  // Its timer may still fire into the void: nothing happens.
  advance(std::chrono::minutes(11));
  CAF_CHECK(ids_in(drain(*queue)).empty());
}

CAF_TEST(a session expires after its ttl without a stream and deletes its state) {
  auto s = settings(10, 100, 5);
  s.ttl_seconds = 1;
  make_session(s);
  connect();
  publish(1, true);
  drain(*queue);
  kill(stream);
  CAF_CHECK(store->sessions().load("s1").value.has_value());
  // The expiry is measured on the wall clock: wait it out, then let the timer fire.
  std::this_thread::sleep_for(1100ms);
  advance(1s);
  CAF_CHECK(!store->sessions().load("s1").value.has_value());
  CAF_CHECK(!store->sessions().load("s1").value);
  CAF_CHECK_EQUAL(call(session_request::op::get).first, 404);
}

CAF_TEST(a crashed session is respawned from storage and its stream ends with a retry) {
  session_deps deps{jour, disp, reader, nullptr, log->epoch(), &stats, 1500,
                    std::chrono::seconds(5)};
  std::vector<std::string> unreadable;
  std::optional<std::string> load_error;
  auto loaded = store->sessions().load_all(unreadable, load_error);
  CAF_REQUIRE(!load_error);
  auto reg = sys.spawn(session_registry, std::move(loaded), std::shared_ptr<const event_log>{log},
                       deps, session_registry_settings{});
  auto topics = sys.spawn(registry, std::size_t{100}, &stats);
  to_stop.push_back(reg);
  to_stop.push_back(topics);
  sched.run();
  auto req = std::make_shared<session_request>();
    req->who = test::operator_principal();
  req->what = session_request::op::put;
  req->id = "s2";
  req->body = json{{"topics", {"t/a"}}};
  int status = 0;
  req->done = [&](request_reply r) { status = test::rendered(r).first; };
  caf::anon_send(reg, session_atom::value, req);
  sched.run();
  CAF_CHECK_EQUAL(status, 201);
  publish(1, true);
  auto q = std::make_shared<outbound_queue>(1 << 20, [] {});
  auto viewer = sys.spawn(session_stream, std::string{"s2"}, q, std::optional<event_id>{}, reg,
                          topics, std::uint64_t{1500}, test::operator_principal());
  sched.run();
  auto first = deref<session_registry_actor>(reg).state.sessions.at("s2").session;
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
  // A crash (a trappable error, as a bug would raise): the registry starts it again.
  caf::anon_send_exit(first, caf::exit_reason::unhandled_exception);
  sched.run();
  CAF_CHECK(q->closed());
  CAF_CHECK(drain(*q).find("retry: 1500") != std::string::npos);
  auto& sessions = deref<session_registry_actor>(reg).state.sessions;
  CAF_REQUIRE_EQUAL(sessions.count("s2"), 1u);
  CAF_CHECK_NOT_EQUAL(sessions.at("s2").session, first);
  CAF_CHECK_EQUAL(stats.sessions.load(), 1);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 0);
  // The new actor has the stored state: the pending event is redelivered to the next stream.
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 1);
  auto q2 = std::make_shared<outbound_queue>(1 << 20, [] {});
  auto viewer2 = sys.spawn(session_stream, std::string{"s2"}, q2, std::optional<event_id>{}, reg,
                           topics, std::uint64_t{1500}, test::operator_principal());
  sched.run();
  auto re = redeliveries_in(drain(*q2));
  CAF_REQUIRE_EQUAL(re.size(), 1u);
  CAF_CHECK_EQUAL(re[0].first, id(1));
  kill(viewer2);
}

CAF_TEST(session streams count against the per-topic subscriber limit) {
  session_deps deps{jour, disp, reader, nullptr, log->epoch(), &stats, 1500,
                    std::chrono::seconds(5)};
  auto reg = sys.spawn(session_registry, std::vector<stored_session>{},
                       std::shared_ptr<const event_log>{log}, deps, session_registry_settings{});
  auto topics = sys.spawn(registry, std::size_t{1}, &stats); // one subscriber per topic
  to_stop.push_back(reg);
  to_stop.push_back(topics);
  sched.run();
  for (auto* id : {"a1", "a2"}) {
    auto req = std::make_shared<session_request>();
    req->who = test::operator_principal();
    req->what = session_request::op::put;
    req->id = id;
    req->body = json{{"topics", {"t/a"}}};
    int status = 0;
    req->done = [&](request_reply r) { status = test::rendered(r).first; };
    caf::anon_send(reg, session_atom::value, req);
    sched.run();
    CAF_REQUIRE_EQUAL(status, 201);
  }
  auto stream_of = [&](const char* id, const queue_ptr& q) {
    return sys.spawn(session_stream, std::string{id}, q, std::optional<event_id>{}, reg, topics,
                     std::uint64_t{1500}, test::operator_principal());
  };
  auto q1 = std::make_shared<outbound_queue>(1 << 20, [] {});
  auto first = stream_of("a1", q1);
  sched.run();
  CAF_CHECK(q1->live());
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
  // The topic is full: the second session's stream is refused before any byte, 503 topic_full.
  auto q2 = std::make_shared<outbound_queue>(1 << 20, [] {});
  stream_of("a2", q2);
  sched.run();
  outbound_queue::take_result last;
  drain(*q2, &last);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::reject);
  CAF_CHECK_EQUAL(test::status_of(last.error), 503);
  CAF_CHECK(error_body(last.error).find("topic_full") != std::string::npos);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
  // The first stream ends: the topic empties and goes; now the second session may stream.
  kill(first);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
  auto q3 = std::make_shared<outbound_queue>(1 << 20, [] {});
  auto again = stream_of("a2", q3);
  sched.run();
  CAF_CHECK(q3->live());
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 1);
  kill(again);
}

CAF_TEST(cluster mode folds in acks and deliveries and a newer stream from another node) {
  make_session(settings(10, 100, 5));
  connect();
  publish(3, true);
  CAF_CHECK_EQUAL(ids_in(drain(*queue)), (std::vector<std::string>{id(1), id(2), id(3)}));
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 3);
  // Another node acknowledged 1 and 2 (what its tail hands over, already in the store).
  auto acked = std::make_shared<session_write>();
  acked->id = "s1";
  acked->del_pending = {1, 2};
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{acked});
  sched.run();
  CAF_CHECK_EQUAL(stats.pending_acks.load(), 1);
  // So after the ack wait only 3 comes back.
  advance(10s);
  auto again = redeliveries_in(drain(*queue));
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].first, id(3));
  // Another node delivered 4 (its stream, say, before this one attached): pending here too,
  // and never sent here as new.
  publish(1, false);
  drain(*queue);
  auto delivered = std::make_shared<session_write>();
  delivered->id = "s1";
  delivered->put_pending = {{5, 1}};
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{delivered});
  sched.run();
  CAF_CHECK_EQUAL(call(session_request::op::get).second["pending"].get<int>(), 2);
  // An older attach elsewhere changes nothing; a newer one ends this stream.
  auto older = std::make_shared<session_write>();
  older->id = "s1";
  older->attach_ms = 1;
  older->origin = "b";
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{older});
  sched.run();
  CAF_CHECK(!queue->closed());
  auto newer = std::make_shared<session_write>();
  newer->id = "s1";
  newer->attach_ms = wall_ms() + 60000;
  newer->origin = "b";
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{newer});
  sched.run();
  CAF_CHECK(queue->closed());
  CAF_CHECK(drain(*queue).find("herald.session_replaced") != std::string::npos);
  CAF_CHECK_EQUAL(stats.sessions_connected.load(), 0);
  // A deletion elsewhere ends the session here: requests get 404.
  auto erased = std::make_shared<session_write>();
  erased->id = "s1";
  erased->erase = true;
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{erased});
  sched.run();
  CAF_CHECK_EQUAL(call(session_request::op::get).first, 404);
}

CAF_TEST(cluster mode keeps the settings set last whatever order the writes come in) {
  make_session(settings(30, 100, 5));
  CAF_REQUIRE_EQUAL(call(session_request::op::put, json{{"max_pending", 7}}).first, 200);
  auto record_with = [](std::uint64_t max_pending, std::int64_t settings_ms) {
    auto w = std::make_shared<session_write>();
    w->id = "s1";
    w->record = session_record{};
    w->record->settings = settings(30, max_pending, 5);
    w->record->settings_ms = settings_ms;
    w->record->settings_origin = "b";
    w->merge_cursors = true;
    return w;
  };
  // Another node's checkpoint, written before it had our PUT: its settings are older.
  caf::anon_send(sess, session_sync_atom::value, session_write_ptr{record_with(100, 1)});
  sched.run();
  CAF_CHECK_EQUAL(call(session_request::op::get).second["max_pending"].get<int>(), 7);
  // Another node's PUT, set after ours: adopted.
  caf::anon_send(sess, session_sync_atom::value,
                 session_write_ptr{record_with(9, wall_ms() + 60000)});
  sched.run();
  CAF_CHECK_EQUAL(call(session_request::op::get).second["max_pending"].get<int>(), 9);
  // A PUT here that the disk refuses, while a later one of another node is adopted before the
  // refusal comes back: the adopted settings stay (the refusal puts back only its own).
  store->db().set_min_free_bytes(std::uint64_t{1} << 62);
  auto req = std::make_shared<session_request>();
  req->who = test::operator_principal();
  req->what = session_request::op::put;
  req->id = "s1";
  req->body = json{{"max_pending", 11}};
  auto out = std::make_shared<std::pair<int, std::string>>(0, "");
  req->done = [out](request_reply r) { *out = test::rendered(r); };
  caf::anon_send(sess, session_atom::value, req);
  sched.run_once(); // the session takes the PUT and asks the journal to store it
  caf::anon_send(sess, session_sync_atom::value,
                 session_write_ptr{record_with(13, wall_ms() + 120000)});
  sched.run();
  CAF_CHECK_EQUAL(out->first, 503);
  store->db().set_min_free_bytes(0);
  CAF_CHECK_EQUAL(call(session_request::op::get).second["max_pending"].get<int>(), 13);
}

CAF_TEST(a record from another node keeps settings stored later than its own) {
  make_session(settings(10, 100, 5));
  session_write mine;
  mine.id = "s1";
  mine.record = session_record{};
  mine.record->settings = settings(10, 7, 5);
  mine.record->settings_ms = 2000;
  mine.record->settings_origin = "a";
  CAF_REQUIRE(!store->sessions().write({&mine}));
  session_write theirs = mine;
  theirs.record->settings = settings(10, 100, 5);
  theirs.record->settings_ms = 1000; // set before ours: a checkpoint that still carries them
  theirs.record->settings_origin = "b";
  theirs.record->ack_through = 9;
  theirs.merge_cursors = true;
  CAF_REQUIRE(!store->sessions().write({&theirs}));
  auto stored = store->sessions().load("s1");
  CAF_REQUIRE(stored.value);
  CAF_CHECK_EQUAL(stored.value->record.settings.max_pending, 7u);
  CAF_CHECK_EQUAL(stored.value->record.settings_ms, 2000);
  CAF_CHECK_EQUAL(stored.value->record.ack_through, 9u);
  theirs.record->settings_ms = 3000; // set after ours
  CAF_REQUIRE(!store->sessions().write({&theirs}));
  stored = store->sessions().load("s1");
  CAF_REQUIRE(stored.value);
  CAF_CHECK_EQUAL(stored.value->record.settings.max_pending, 100u);
  CAF_CHECK_EQUAL(stored.value->record.settings_origin, "b");
}

CAF_TEST(a session write round-trips through its shared-log form) {
  session_write w;
  w.id = "s9";
  w.record = session_record{};
  w.record->settings.topics = {"a/*"};
  w.record->ack_through = 7;
  w.put_pending = {{3, 2}};
  w.del_pending = {1};
  w.put_dead = {{2, 5, "max_deliveries", 1234}};
  w.del_dead = {4};
  w.attach_ms = 99;
  auto back = decode_session_write(encode_session_write(w));
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->id, "s9");
  CAF_REQUIRE(back->record);
  CAF_CHECK_EQUAL(back->record->settings.topics, std::vector<std::string>{"a/*"});
  CAF_CHECK_EQUAL(back->record->ack_through, 7u);
  CAF_REQUIRE_EQUAL(back->put_pending.size(), 1u);
  CAF_CHECK_EQUAL(back->put_pending[0].deliveries, 2u);
  CAF_CHECK_EQUAL(back->del_pending, std::vector<std::uint64_t>{1});
  CAF_REQUIRE_EQUAL(back->put_dead.size(), 1u);
  CAF_CHECK_EQUAL(back->put_dead[0].reason, "max_deliveries");
  CAF_CHECK_EQUAL(back->del_dead, std::vector<std::uint64_t>{4});
  CAF_CHECK_EQUAL(back->attach_ms, 99);
  CAF_CHECK(!decode_session_write("{\"id\":1}"));
  CAF_CHECK(!decode_session_write("[]"));
  CAF_CHECK(!decode_session_write("{\"id\":\"x\",\"put_pending\":[[\"no\"]]}"));
}

CAF_TEST(a record from another node never moves the stored cursors back) {
  make_session(settings(10, 100, 5));
  session_write mine;
  mine.id = "s1";
  mine.record = session_record{};
  mine.record->ack_through = 50;
  mine.record->delivered_through = 60;
  CAF_REQUIRE(!store->sessions().write({&mine}));
  session_write theirs = mine;
  theirs.record->ack_through = 40;
  theirs.record->delivered_through = 70;
  theirs.merge_cursors = true;
  CAF_REQUIRE(!store->sessions().write({&theirs}));
  auto stored = store->sessions().load("s1");
  CAF_REQUIRE(stored.value);
  CAF_CHECK_EQUAL(stored.value->record.ack_through, 50u);
  CAF_CHECK_EQUAL(stored.value->record.delivered_through, 70u);
}

CAF_TEST_FIXTURE_SCOPE_END()
