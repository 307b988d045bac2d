#define CAF_SUITE job_watcher
#include "tests/unit/actor_fixture.hpp"

#include <nlohmann/json.hpp>

#include "actors/job_registry.hpp"
#include "actors/job_viewer.hpp"
#include "actors/journal.hpp"
#include "actors/log_reader.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;
using namespace std::chrono_literals;
using nlohmann::json;
using test::drain;
using test::ids_in;

namespace {

/// Sends a job request (an update, or a read without one) to the job registry; its answer
/// (status 0 until there is one) fills in as the actors run.
std::shared_ptr<std::pair<int, json>> send_request(const caf::actor& jobs, const std::string& id,
                                                   std::optional<json> update) {
  auto out = std::make_shared<std::pair<int, json>>(0, nullptr);
  auto req = std::make_shared<job_request>();
  req->id = id;
  if (update)
    req->update = update->dump();
  req->done = [out](request_reply r) {
    auto [status, body] = test::rendered(r);
    *out = {status, json::parse(body)};
  };
  caf::anon_send(jobs, job_atom::value, req);
  return out;
}

// Watchers, their registry, and viewers on the deterministic scheduler, with a real event log.
struct fixture : test::log_fixture {
  journal_handle jour;
  reader_handle reader;
  caf::actor jobs;
  batch_sink sink;
  job_settings settings;
  std::vector<std::pair<std::string, std::function<void(upstream_reply)>>> fetches;

  void answer(int status, std::string body) {
    CAF_REQUIRE(!fetches.empty());
    auto done = std::move(fetches.front().second);
    fetches.erase(fetches.begin());
    done(upstream_reply{status, std::move(body), status == 0 ? "connect: refused" : ""});
    sched.run();
  }

  fixture() {
    sink = batch_recorder(nullptr);
    journal_settings js;
    js.retention_interval = std::chrono::hours(1000);
    jour = sys.spawn(journal, store, sink, &stats, js);
    reader = sys.spawn(log_reader, store, &stats);
    settings.retention = 300s;
    settings.stale_after = 3600s;
    settings.idle = 60s;
    settings.retry_ms = 1000;
    // Upstream fetches are recorded; the test answers them (the process tests use real HTTP).
    settings.fetch = [this](const std::string& url, std::chrono::milliseconds,
                            std::function<void(upstream_reply)> done) {
      fetches.push_back({url, std::move(done)});
    };
    jobs = sys.spawn(job_registry, jour, reader, settings, &stats);
    to_stop = handles(jobs, jour, reader, sink);
  }

  std::pair<int, json> call(const std::string& id, std::optional<json> update) {
    auto out = send_request(jobs, id, std::move(update));
    sched.run();
    return *out;
  }

  struct viewer {
    caf::actor actor;
    queue_ptr queue;
  };

  viewer watch(const std::string& id, std::uint64_t last_seen = 0) {
    viewer v;
    v.queue = std::make_shared<outbound_queue>(1 << 20, [] {});
    v.actor = sys.spawn(job_viewer, id, v.queue, last_seen, jobs, std::uint64_t{1000}, &stats);
    sched.run();
    return v;
  }

  caf::actor watcher(const std::string& id) {
    return deref<job_registry_actor>(jobs).state.watchers.at(id).watcher;
  }

  std::size_t watcher_count() { return deref<job_registry_actor>(jobs).state.watchers.size(); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(job_watcher_tests, fixture)

CAF_TEST(updates are versioned persisted and pushed once to every viewer in order) {
  CAF_CHECK_EQUAL(call("j", json{{"state", "active"}, {"progress", 5}}).first, 200);
  auto a = watch("j");
  auto b = watch("j");
  CAF_CHECK_EQUAL(call("j", json{{"progress", 50}}).first, 200);
  for (auto* v : {&a, &b}) {
    auto out = drain(*v->queue);
    CAF_CHECK_EQUAL(ids_in(out), (std::vector<std::string>{"1", "2"}));
    CAF_CHECK(out.find("event: job.snapshot") != std::string::npos);
    CAF_CHECK(out.find("event: job.update") != std::string::npos);
  }
  auto stored = json::parse(store->jobs().get("j").value.value().text);
  CAF_CHECK_EQUAL(stored["progress"], 50);
  CAF_CHECK_EQUAL(stored["version"], 2);
  CAF_CHECK_EQUAL(stats.job_actors.load(), 1);
  kill(a.actor);
  kill(b.actor);
}

CAF_TEST(a viewer that goes away leaves in the down handler) {
  call("j", json{{"state", "active"}});
  auto a = watch("j");
  auto b = watch("j");
  CAF_CHECK_EQUAL(deref<job_watcher_actor>(watcher("j")).state.viewers.size(), 2u);
  kill(a.actor);
  CAF_CHECK_EQUAL(deref<job_watcher_actor>(watcher("j")).state.viewers.size(), 1u);
  CAF_CHECK_EQUAL(stats.job_viewers.load(), 1);
  kill(b.actor);
  CAF_CHECK(deref<job_watcher_actor>(watcher("j")).state.viewers.empty());
}

CAF_TEST(a terminal state ends every stream and a seen end gets 204) {
  call("j", json{{"state", "active"}});
  auto a = watch("j");
  CAF_CHECK_EQUAL(call("j", json{{"state", "completed"}}).first, 200);
  outbound_queue::take_result last;
  auto out = drain(*a.queue, &last);
  CAF_CHECK(out.find("event: job.completed") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  auto again = watch("j", 2); // saw the final version
  drain(*again.queue, &last);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::reject);
  CAF_CHECK_EQUAL(test::status_of(last.error), 204);
  auto late = watch("j", 1); // did not see the end: gets the final snapshot, then the end
  out = drain(*late.queue, &last);
  CAF_CHECK(out.find("event: job.completed") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  auto conflict = call("j", json{{"progress", 1}});
  CAF_CHECK_EQUAL(conflict.first, 409);
  CAF_CHECK_EQUAL(conflict.second["error"]["code"], "job_terminal");
  for (auto* v : {&a, &again, &late})
    kill(v->actor);
}

CAF_TEST(after retention a terminal job is deleted and its watcher stops) {
  call("j", json{{"state", "failed"}, {"error", "boom"}});
  CAF_CHECK_EQUAL(stats.job_actors.load(), 1);
  advance_time(299s);
  sched.run();
  CAF_CHECK_EQUAL(stats.job_actors.load(), 1);
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(stats.job_actors.load(), 0);
  CAF_CHECK_EQUAL(watcher_count(), 0u);
  CAF_CHECK(!store->jobs().get("j").value);
  CAF_CHECK_EQUAL(call("j", std::nullopt).first, 404);
}

CAF_TEST(a watcher without viewers stops when idle and the job stays stored) {
  call("j", json{{"state", "active"}});
  advance_time(60s);
  sched.run();
  CAF_CHECK_EQUAL(stats.job_actors.load(), 0);
  CAF_CHECK(store->jobs().get("j").value);
  auto [status, snap] = call("j", std::nullopt); // a fresh watcher loads it
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(snap["state"], "active");
}

CAF_TEST(a running job with no update for too long expires and its viewers see the end) {
  settings.stale_after = 120s;
  kill(jobs);
  jobs = sys.spawn(job_registry, jour, reader, settings, &stats);
  to_stop[0] = jobs;
  call("j", json{{"state", "active"}});
  auto a = watch("j");
  advance_time(60s); // idle does not apply: there is a viewer
  sched.run();
  CAF_CHECK_EQUAL(stats.job_actors.load(), 1);
  advance_time(60s);
  sched.run();
  outbound_queue::take_result last;
  auto out = drain(*a.queue, &last);
  CAF_CHECK(out.find("event: job.expired") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  auto stored = json::parse(store->jobs().get("j").value.value().text); // (macros keep references: no temporaries)
  CAF_CHECK_EQUAL(stored["state"], "expired");
  kill(a.actor);
}

CAF_TEST(unknown jobs answer 404 and leave nothing behind) {
  CAF_CHECK_EQUAL(call("nope", std::nullopt).first, 404);
  auto v = watch("nope");
  outbound_queue::take_result last;
  drain(*v.queue, &last);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::reject);
  CAF_CHECK_EQUAL(test::status_of(last.error), 404);
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(stats.job_actors.load(), 0);
  CAF_CHECK_EQUAL(stats.job_viewers.load(), 0);
}

CAF_TEST(a request that races with the stop report is served) {
  CAF_CHECK_EQUAL(call("x", std::nullopt).first, 404); // unknown job: its watcher will stop
  CAF_REQUIRE(sched.trigger_timeout());                // the watcher reports idle...
  auto [status, body] = call("x", json{{"state", "active"}}); // ...while a PUT is on its way
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK_EQUAL(body["version"], 1);
  CAF_CHECK_EQUAL(stats.job_actors.load(), 1); // the registry refused the stop
  CAF_CHECK_EQUAL(call("x", std::nullopt).first, 200);
}

CAF_TEST(viewers get heartbeats from their watcher and a closed viewer holds nothing) {
  call("j", json{{"state", "active"}});
  auto a = watch("j");
  auto b = watch("j");
  drain(*a.queue);
  drain(*b.queue);
  advance_time(25s);
  sched.run();
  CAF_CHECK_EQUAL(drain(*a.queue), ": heartbeat\n\n");
  CAF_CHECK_EQUAL(drain(*b.queue), ": heartbeat\n\n");
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(a.actor);
  kill(a.actor);
  a.actor = nullptr;
  CAF_CHECK(caf::actor_cast<caf::actor>(weak) == nullptr);
  kill(b.actor);
}

CAF_TEST(bad updates are rejected and change nothing) {
  call("j", json{{"state", "active"}});
  for (auto& bad : {json{{"state", "running"}}, json{{"progress", 101}}, json{{"progress", "x"}},
                    json{{"bogus", 1}}, json::array()}) {
    auto [status, body] = call("j", bad);
    CAF_CHECK_EQUAL(status, 400);
  }
  auto [status, body] = call("j", json{{"expected_version", 7}, {"progress", 1}});
  CAF_CHECK_EQUAL(status, 409);
  CAF_CHECK_EQUAL(body["error"]["current_version"], 1);
  auto stored = json::parse(store->jobs().get("j").value.value().text);
  CAF_CHECK_EQUAL(stored["version"], 1);
}

CAF_TEST(an upstream job is polled once per interval only while it has viewers) {
  json upstream{{"url", "http://127.0.0.1:9/status"},
                {"map", {{"state", "/status"}, {"progress", "/pct"}}},
                {"states", {{"running", "active"}, {"done", "completed"}}},
                {"interval_ms", 1000}};
  CAF_CHECK_EQUAL(call("u", json{{"state", "waiting"}, {"upstream", upstream}}).first, 200);
  advance_time(5s);
  sched.run();
  CAF_CHECK(fetches.empty()); // nobody watches: nobody polls
  auto a = watch("u");
  auto b = watch("u");
  CAF_CHECK_EQUAL(fetches.size(), 1u); // one poller, not one per viewer
  CAF_CHECK_EQUAL(fetches.front().first, "http://127.0.0.1:9/status");
  answer(200, R"({"status":"running","pct":40})");
  auto out = drain(*a.queue);
  CAF_CHECK(out.find("\"progress\":40") != std::string::npos);
  CAF_CHECK(out.find("\"state\":\"active\"") != std::string::npos);
  CAF_CHECK(out.find("upstream") == std::string::npos); // viewers never see the URL
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(fetches.size(), 1u); // the next poll, one interval later
  answer(200, R"({"status":"running","pct":40})");
  kill(a.actor);
  kill(b.actor); // the last viewer leaves: polling stops
  advance_time(10s);
  sched.run();
  CAF_CHECK(fetches.empty());
  CAF_CHECK_EQUAL(stats.upstream_polls.load(), 2u);
}

CAF_TEST(upstream errors back off and are reported and a terminal upstream state stops polling) {
  json upstream{{"url", "http://127.0.0.1:9/s"}, {"map", {{"state", "/s"}}},
                {"interval_ms", 1000}};
  call("u", json{{"state", "active"}, {"upstream", upstream}});
  auto v = watch("u");
  answer(0, ""); // connection refused
  auto out = drain(*v.queue);
  CAF_CHECK(out.find("event: job.upstream_error") != std::string::npos);
  CAF_CHECK(out.find("\"retry_ms\":2000") != std::string::npos);
  advance_time(1s);
  sched.run();
  CAF_CHECK(fetches.empty()); // backed off: not yet
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(fetches.size(), 1u);
  answer(500, "oops");
  CAF_CHECK(drain(*v.queue).find("HTTP 500") != std::string::npos);
  advance_time(4s);
  sched.run();
  answer(200, R"({"s":"completed"})");
  outbound_queue::take_result last;
  out = drain(*v.queue, &last);
  CAF_CHECK(out.find("event: job.completed") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  advance_time(60s);
  sched.run();
  CAF_CHECK(fetches.empty()); // terminal: never polled again
  kill(v.actor);
}

CAF_TEST(upstream settings are validated) {
  auto bad = [&](json up) { return call("u", json{{"upstream", std::move(up)}}); };
  CAF_CHECK_EQUAL(bad(json{{"url", "https://127.0.0.1/x"}, {"map", {{"state", "/s"}}}}).first, 400);
  CAF_CHECK_EQUAL(bad(json{{"url", "http://10.1.2.3/x"}, {"map", {{"state", "/s"}}}}).first, 400);
  CAF_CHECK_EQUAL(bad(json{{"url", "http://127.0.0.1/x"}, {"map", {{"bogus", "/s"}}}}).first, 400);
  CAF_CHECK_EQUAL(bad(json{{"url", "http://127.0.0.1/x"}, {"map", {{"state", "s"}}}}).first, 400);
  CAF_CHECK_EQUAL(bad(json{{"url", "http://127.0.0.1/x"}, {"map", {{"state", "/s"}}},
                           {"interval_ms", 5}}).first, 400);
  CAF_CHECK_EQUAL(call("u", std::nullopt).first, 404); // nothing was created
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- cluster mode ------------------------------------------------------------------------------
// The watcher against what the shared log does with its changes: the journal answers a change's
// position in the stream, and the tail (the test here) later says whether it took effect and
// hands over other nodes' changes, in the stream's order.

namespace {

/// The journal of a cluster node as the watcher sees it: every change gets a position 10 after
/// the last one's (room for other nodes' changes in between).
struct shared_journal_log {
  std::vector<std::pair<json, std::uint64_t>> changes; // snapshot, the position it is built on
  std::uint64_t next = 100;
};

journal_handle::behavior_type shared_journal(journal_handle::pointer, shared_journal_log* log) {
  return {
    [](publish_atom, const publish_job_ptr&) {},
    [](session_put_atom, const session_write_ptr&) { return true; },
    [=](job_put_atom, const std::string&, const std::string& text, std::uint64_t base) {
      if (text.empty())
        return std::uint64_t{0}; // retiring stays local
      log->changes.emplace_back(json::parse(text), base);
      log->next += 10;
      return log->next;
    },
    [](commit_atom) {},
    [](retention_atom) {},
  };
}

struct cluster_fixture : test::log_fixture {
  shared_journal_log log;
  journal_handle jour;
  reader_handle reader;
  caf::actor jobs;

  cluster_fixture() {
    jour = sys.spawn(shared_journal, &log);
    reader = sys.spawn(log_reader, store, &stats);
    job_settings settings;
    settings.verdict_timeout = 2s;
    jobs = sys.spawn(job_registry, jour, reader, settings, &stats);
    to_stop = handles(jobs, jour, reader);
  }

  /// Starts a request (send_request) and runs the actors as far as they go.
  std::shared_ptr<std::pair<int, json>> start(std::optional<json> update) {
    auto out = send_request(jobs, "j", std::move(update));
    sched.run();
    return out;
  }

  /// The tail: the change at `position`, and whether it took effect.
  void tail(const json& snapshot, std::uint64_t position, bool taken) {
    caf::anon_send(jobs, job_sync_atom::value, std::string{"j"},
                   stored_job{snapshot.dump(), position}, taken);
    sched.run();
  }

  /// Another node's change of the job, built on `base`.
  static json changed_elsewhere(json base, const std::string& message) {
    base["message"] = message;
    base["version"] = base["version"].get<std::uint64_t>() + 1;
    return base;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(job_watcher_cluster_tests, cluster_fixture)

CAF_TEST(a change is answered once the tail says it took effect and loses to one that came first) {
  auto created = start(json{{"state", "active"}});
  CAF_REQUIRE_EQUAL(log.changes.size(), 1u);
  CAF_CHECK_EQUAL(log.changes[0].second, 0u); // built on nothing: the job is new
  CAF_CHECK_EQUAL(created->first, 0);         // in the stream, no verdict yet
  tail(log.changes[0].first, 110, true);
  CAF_REQUIRE_EQUAL(created->first, 200);
  CAF_CHECK_EQUAL(created->second["version"], 1);
  auto viewer_queue = std::make_shared<outbound_queue>(1 << 20, [] {});
  auto viewer = sys.spawn(job_viewer, std::string{"j"}, viewer_queue, std::uint64_t{0}, jobs,
                          std::uint64_t{1000}, &stats);
  sched.run();
  // Another node's change (version 2) is adopted as it comes.
  auto v2 = changed_elsewhere(created->second, "from B");
  tail(v2, 111, true);
  // A change through this node, built on version 2...
  auto update = start(json{{"progress", 50}});
  CAF_REQUIRE_EQUAL(log.changes.size(), 2u);
  CAF_CHECK_EQUAL(log.changes[1].second, 111u);
  CAF_CHECK_EQUAL(log.changes[1].first["version"], 3);
  // ...while a read waits behind it, and C's change built on version 2 comes first in the
  // stream (position 119, before this node's at 120): this node's does not take effect.
  auto read = start(std::nullopt);
  CAF_CHECK_EQUAL(read->first, 0);
  auto v3 = changed_elsewhere(v2, "from C");
  tail(v3, 119, true);
  tail(log.changes[1].first, 120, false);
  CAF_CHECK_EQUAL(update->first, 0);
  // After a random pause the change is built again on C's, and then takes effect.
  advance_time(100ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log.changes.size(), 3u);
  CAF_CHECK_EQUAL(log.changes[2].second, 119u);
  tail(log.changes[2].first, 130, true);
  CAF_REQUIRE_EQUAL(update->first, 200);
  CAF_CHECK_EQUAL(update->second["version"], 4);
  CAF_CHECK_EQUAL(update->second["progress"], 50);
  CAF_CHECK_EQUAL(update->second["message"], "from C");
  CAF_REQUIRE_EQUAL(read->first, 200); // answered after the change, in order
  CAF_CHECK_EQUAL(read->second["version"], 4);
  // The viewer saw every change that took effect, once and in order; never the one that lost.
  auto out = drain(*viewer_queue);
  CAF_CHECK_EQUAL(ids_in(out), (std::vector<std::string>{"1", "2", "3", "4"}));
  CAF_CHECK(out.find("\"progress\":50,") != std::string::npos);
  // Its own change coming back later is no news.
  tail(log.changes[2].first, 130, true);
  CAF_CHECK(drain(*viewer_queue).empty());
  kill(viewer);
}

CAF_TEST(no verdict in time is a 503 and the change is adopted when its verdict comes) {
  auto created = start(json{{"state", "active"}});
  tail(log.changes[0].first, 110, true);
  CAF_REQUIRE_EQUAL(created->first, 200);
  auto update = start(json{{"progress", 10}});
  CAF_CHECK_EQUAL(update->first, 0);
  advance_time(2s);
  sched.run();
  CAF_REQUIRE_EQUAL(update->first, 503);
  CAF_CHECK_EQUAL(update->second["error"]["code"], "cluster_catching_up");
  tail(log.changes[1].first, 120, true);
  auto read = start(std::nullopt);
  CAF_REQUIRE_EQUAL(read->first, 200);
  CAF_CHECK_EQUAL(read->second["progress"], 10);
  CAF_CHECK_EQUAL(read->second["version"], 2);
}

CAF_TEST(a change that keeps losing is refused as contended after its last attempt) {
  auto created = start(json{{"state", "active"}});
  tail(log.changes[0].first, 110, true);
  auto update = start(json{{"progress", 10}});
  auto newest = created->second;
  for (int attempt = 0; attempt < 16; ++attempt) {
    CAF_REQUIRE_EQUAL(update->first, 0);
    CAF_REQUIRE_EQUAL(log.changes.size(), static_cast<std::size_t>(2 + attempt));
    newest = changed_elsewhere(newest, "elsewhere " + std::to_string(attempt));
    tail(newest, log.next - 1, true);                // another node's came first
    tail(log.changes.back().first, log.next, false); // so this one did not take effect
    advance_time(100ms);
    sched.run();
  }
  CAF_REQUIRE_EQUAL(update->first, 503);
  CAF_CHECK_EQUAL(update->second["error"]["code"], "job_contended");
}

CAF_TEST_FIXTURE_SCOPE_END()
