#define CAF_SUITE storage_faults
#include "tests/unit/actor_fixture.hpp"

#include <csignal>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/db.h>

#include "actors/journal.hpp"
#include "actors/log_reader.hpp"
#include "net/http_responses.hpp"
#include "storage/wall_clock.hpp"
#include "tests/unit/faulty_env.hpp"
#include "tests/unit/test_support.hpp"

// Real RocksDB errors (a file system that fails on demand) must reach clients as 5xx answers
// with a JSON error, and must never pass for "not found" or for success.

using namespace herald;

namespace {

struct fixture : test::actor_fixture {
  test::temp_dir dir;
  test::faulty_env faults;
  std::shared_ptr<hub_storage> store;
  batch_sink sink;
  journal_handle jour;
  reader_handle reader;
  std::vector<committed_batch> batches;

  fixture() {
    storage_thread::claim();
    std::string err;
    store = hub_storage::open(dir.str(), durability::process, err, faults.env.get());
    if (!store)
      CAF_FAIL("cannot open storage: " << err);
    sink = batch_recorder(&batches);
    jour = sys.spawn(journal, store, sink, &stats, journal_settings{});
    reader = sys.spawn(log_reader, store, &stats);
    to_stop = handles(jour, reader, sink);
  }

  ~fixture() override {
    stop_actors();
  }

  /// Moves column family `name` from the memtable into an SST file, so reads hit the disk.
  void flush(const char* name) {
    auto st = store->db().db().Flush(rocksdb::FlushOptions{}, store->db().column(name));
    CAF_REQUIRE(st.ok());
  }

  publish_outcome publish(const std::string& topic, const std::string& key = {}) {
    auto out = std::make_shared<publish_outcome>();
    auto job = std::make_shared<publish_job>();
    job->events.push_back({topic, "", "1", key});
    job->done = [out](publish_outcome o) { *out = std::move(o); };
    caf::anon_send(jour, publish_atom::value, job);
    sched.run();
    return *out;
  }

  /// An error as HTTP renders it: (status, body).
  static std::pair<int, std::string> as_http(const caf::error& err) {
    return {test::status_of(err), error_body(err)};
  }
};

bool says_storage_failure(const std::pair<int, std::string>& res) {
  return res.first == 503 && res.second.find("\"storage_failure\"") != std::string::npos
         && res.second.find("injected") != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(storage_faults_tests, fixture)

CAF_TEST(a failed idempotency lookup is an error and its publish is refused) {
  CAF_REQUIRE(publish("a", "k1").ids.size() == 1u);
  flush("dedup");
  faults.fs->fail_reads = true;
  auto found = store->dedup().find("k1", wall_ms());
  CAF_CHECK(!found.ok()); // not "never seen": that would publish the retry twice
  CAF_CHECK(!found.value);
  // The retry of that publish gets 503 and the log does not move.
  auto head = store->log().head();
  auto retry = publish("a", "k1");
  CAF_REQUIRE(retry.error);
  CAF_CHECK(retry.ids.empty());
  CAF_CHECK(says_storage_failure(as_http(retry.error)));
  CAF_CHECK_EQUAL(store->log().head(), head);
  CAF_CHECK_EQUAL(batches.size(), 1u); // nothing more was fanned out
  faults.fs->fail_reads = false;
  found = store->dedup().find("k1", wall_ms());
  CAF_CHECK(found.ok());
  CAF_CHECK_EQUAL(found.value.value_or(0), 1u);
}

CAF_TEST(a failed write answers 503 and publishes nothing) {
  CAF_REQUIRE(publish("a").ids.size() == 1u);
  faults.fs->fail_writes = true;
  auto out = publish("a");
  CAF_REQUIRE(out.error);
  CAF_CHECK(out.ids.empty());
  CAF_CHECK(says_storage_failure(as_http(out.error)));
  CAF_CHECK_EQUAL(store->log().head(), 1u);
  CAF_CHECK_EQUAL(batches.size(), 1u);
  CAF_CHECK_EQUAL(stats.publish_errors.load(), 1u);
  // RocksDB refuses writes from now on (until the hub restarts): every publish gets 503.
  faults.fs->fail_writes = false;
  auto later = publish("a");
  CAF_REQUIRE(later.error);
  CAF_CHECK_EQUAL(test::status_of(later.error), 503);
  CAF_CHECK_EQUAL(store->log().head(), 1u);
}

CAF_TEST(failed reads reach every reader request as errors) {
  CAF_REQUIRE(publish("a").ids.size() == 1u);
  caf::anon_send(jour, job_put_atom::value, std::string{"j"}, std::string{"{\"version\":1}"},
                 std::uint64_t{0});
  sched.run();
  for (auto* cf : {"log", "topic_index", "jobs", "job_positions"})
    flush(cf);
  faults.fs->fail_reads = true;
  auto filter = std::make_shared<const topic_filter>(std::vector<std::string>{"a"});
  // Replay to a stream: an error (the stream ends, the client resumes), not an empty page.
  auto replay = ask<replay_page>(reader, replay_atom::value, filter, std::uint64_t{0},
                                 std::uint64_t{0});
  CAF_REQUIRE(std::holds_alternative<caf::error>(replay));
  CAF_CHECK(says_storage_failure(as_http(std::get<caf::error>(replay))));
  // A job read: 503, not 404 "no such job".
  auto job = ask<stored_job>(reader, job_get_atom::value, std::string{"j"});
  CAF_REQUIRE(std::holds_alternative<caf::error>(job));
  CAF_CHECK(says_storage_failure(as_http(std::get<caf::error>(job))));
  // GET /v1/events: the page carries the error, which the handler renders as 503.
  auto q = std::make_shared<events_query>();
  q->filter = filter;
  events_page page;
  q->done = [&](events_page p) { page = std::move(p); };
  caf::anon_send(reader, query_atom::value, q);
  sched.run();
  CAF_REQUIRE(page.error);
  auto res = error_response(http_request{}, page.error);
  CAF_CHECK_EQUAL(res.result(), boost::beast::http::status::service_unavailable);
  CAF_CHECK(res.body().find("storage_failure") != std::string::npos);
  CAF_CHECK_EQUAL(res[boost::beast::http::field::content_type], "application/json");
  // Once the disk reads again, so do they.
  faults.fs->fail_reads = false;
  auto again = ask<stored_job>(reader, job_get_atom::value, std::string{"j"});
  CAF_REQUIRE(std::holds_alternative<stored_job>(again));
  CAF_CHECK_EQUAL(std::get<stored_job>(again).text, "{\"version\":1}");
}

CAF_TEST(a failed session read is an error and restores nothing) {
  session_write w;
  w.id = "s1";
  w.record = session_record{};
  w.put_pending.push_back({1, 1});
  CAF_REQUIRE(!store->sessions().write({&w}));
  for (auto* cf : {"sessions", "session_pending"})
    flush(cf);
  faults.fs->fail_reads = true;
  auto restored = ask<stored_session>(reader, restore_atom::value, std::string{"s1"});
  CAF_REQUIRE(std::holds_alternative<caf::error>(restored));
  CAF_CHECK(says_storage_failure(as_http(std::get<caf::error>(restored))));
  std::vector<std::string> unreadable;
  std::optional<std::string> error;
  auto all = store->sessions().load_all(unreadable, error);
  CAF_CHECK(error.has_value()); // the hub refuses to start rather than lose sessions
  CAF_CHECK(all.empty());
  faults.fs->fail_reads = false;
  auto ok = store->sessions().load("s1");
  CAF_REQUIRE(ok.ok() && ok.value);
  CAF_CHECK_EQUAL(ok.value->pending.size(), 1u);
}

CAF_TEST(a storage call from a thread that is not a storage thread aborts) {
  // What would catch an actor on the shared scheduler calling RocksDB: the check aborts. Run in a
  // child process so the abort is observed rather than suffered.
  bool fresh_thread_claimed = true;
  std::thread probe{[&] { fresh_thread_claimed = storage_thread::claimed(); }};
  probe.join();
  CAF_CHECK(!fresh_thread_claimed); // a new thread is no storage thread
  CAF_CHECK(storage_thread::claimed());
#if defined(__SANITIZE_THREAD__)
  // TSan does not support threads started in a forked child: the abort itself is checked in the
  // other builds.
  return;
#endif
  auto child = fork();
  CAF_REQUIRE(child >= 0);
  if (child == 0) {
    std::thread worker{[&] { store->jobs().get("j"); }}; // not claimed: must not return
    worker.join();
    _exit(0);
  }
  int status = 0;
  CAF_REQUIRE_EQUAL(waitpid(child, &status, 0), child);
  CAF_CHECK(WIFSIGNALED(status));
  CAF_CHECK_EQUAL(WTERMSIG(status), SIGABRT);
  // This (claimed) thread may.
  CAF_CHECK(store->jobs().get("j").ok());
}

CAF_TEST_FIXTURE_SCOPE_END()
