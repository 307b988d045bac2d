#define CAF_SUITE outbound_queue
#include <caf/test/unit_test.hpp>

#include "delivery/outbound_queue.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;
using herald::test::drain;
using herald::test::ids_in;

namespace {

struct fixture {
  int wakes = 0;
  outbound_queue q{1000, [this] { ++wakes; }};

  static item_ptr ev(std::uint64_t pos, std::size_t pad = 0) {
    return stream_item::make_event(pos, "e-" + std::to_string(pos), "t", "",
                                   std::string(pad, 'x') + "1");
  }
  void live(std::uint64_t pos, std::size_t pad = 0) {
    q.push_live(ev(pos, pad));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(outbound_queue_tests, fixture)

CAF_TEST(a fresh stream goes live at once and gets only later events) {
  live(5); // before accept: held, but covered by live_from
  q.accept({stream_item::make_retry(1000)}, 5);
  CAF_CHECK(q.push_replay({}, 5));
  live(6);
  live(7);
  auto out = drain(q);
  CAF_CHECK_EQUAL(out.rfind("retry: 1000\n\n", 0), 0u);
  CAF_CHECK_EQUAL(ids_in(out), (std::vector<std::string>{"e-6", "e-7"}));
}

CAF_TEST(live events during replay are held and merged without gap or duplicate) {
  q.accept({}, 10);      // resume: the dispatcher's head was 10 at attach
  live(11);              // arrives while replay runs
  live(12);
  CAF_CHECK(!q.push_replay({ev(3), ev(7)}, 8)); // not yet through 10
  live(13);
  // The replay page overlaps what was held (11): no duplicate.
  CAF_CHECK(q.push_replay({ev(9), ev(11)}, 11));
  live(12); // a stale duplicate push is dropped
  live(14);
  CAF_CHECK_EQUAL(ids_in(drain(q)),
                  (std::vector<std::string>{"e-3", "e-7", "e-9", "e-11", "e-12", "e-13", "e-14"}));
}

CAF_TEST(an overflowing hold is dropped and replay reads further) {
  q.accept({}, 10);
  live(11, 600);
  live(12, 600); // over 1000 bytes held: the hold restarts after 12
  live(13);
  CAF_CHECK(!q.push_replay({ev(5)}, 10)); // must now reach 12
  CAF_CHECK(q.push_replay({ev(11), ev(12)}, 12));
  CAF_CHECK_EQUAL(ids_in(drain(q)), (std::vector<std::string>{"e-5", "e-11", "e-12", "e-13"}));
}

CAF_TEST(a slow consumer is closed when its queue passes the bound) {
  q.accept({}, 0);
  CAF_CHECK(q.push_replay({}, 0));
  std::vector<item_ptr> batch;
  live(1, 400);
  CAF_CHECK_EQUAL(q.take(batch).kind, outbound_queue::take_kind::items); // in flight, unwritten
  live(2, 400);
  CAF_CHECK(!q.closed());
  live(3, 400); // in flight + queued > 1000
  CAF_CHECK(q.closed());
  std::vector<item_ptr> rest;
  auto r = q.take(rest);
  CAF_CHECK_EQUAL(r.kind, outbound_queue::take_kind::close);
  CAF_CHECK_EQUAL(r.reason, close_reason::slow_consumer);
  CAF_CHECK(rest.empty());
}

CAF_TEST(the hub-wide byte gauge follows queued and written bytes and drops closed queues) {
  auto gauge = std::make_shared<std::atomic<std::int64_t>>(0);
  {
    outbound_queue a{10000, [] {}, gauge};
    outbound_queue b{10000, [] {}, gauge};
    for (auto* x : {&a, &b}) {
      x->accept({}, 0);
      CAF_CHECK(x->push_replay({}, 0));
    }
    a.push_live(ev(1, 100));
    a.push_live(ev(2, 100));
    b.push_live(ev(1, 300));
    auto expected = static_cast<std::int64_t>(a.queued_bytes() + b.queued_bytes());
    CAF_CHECK_GREATER(expected, 500);
    CAF_CHECK_EQUAL(gauge->load(), expected);
    std::vector<item_ptr> batch;
    auto r = a.take(batch); // taken, in flight: still counted
    CAF_CHECK_EQUAL(gauge->load(), expected);
    a.written(r.bytes);
    CAF_CHECK_EQUAL(a.queued_bytes(), 0u);
    CAF_CHECK_EQUAL(gauge->load(), static_cast<std::int64_t>(b.queued_bytes()));
    a.push_live(ev(3, 50));
    b.mark_closed(close_reason::client_closed); // dropped with the queue's contents
    CAF_CHECK_EQUAL(gauge->load(), static_cast<std::int64_t>(a.queued_bytes()));
    CAF_CHECK_GREATER(gauge->load(), 0);
  } // a goes with bytes still queued: they leave the gauge too
  CAF_CHECK_EQUAL(gauge->load(), 0);
}

CAF_TEST(a burst while no write is in flight is not held against the client) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  for (std::uint64_t i = 1; i <= 5; ++i)
    live(i, 400); // 2 KB arrive in one dispatcher batch, bound is 1000
  CAF_CHECK(!q.closed());
  CAF_CHECK_EQUAL(ids_in(drain(q)).size(), 5u);
}

CAF_TEST(one oversized event still goes to an idle stream) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  live(1, 5000);
  CAF_CHECK(!q.closed());
  CAF_CHECK_EQUAL(ids_in(drain(q)), (std::vector<std::string>{"e-1"}));
}

CAF_TEST(writes coalesce: one wake for many frames) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  auto before = wakes;
  for (std::uint64_t i = 1; i <= 5; ++i)
    live(i);
  CAF_CHECK_EQUAL(wakes, before + 1);
  std::vector<item_ptr> batch;
  auto r = q.take(batch);
  CAF_CHECK_EQUAL(batch.size(), 5u);
  CAF_CHECK_EQUAL(r.events, 5u);
}

CAF_TEST(close after flush writes the final frames then closes) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  live(1);
  q.close_after_flush(close_reason::shutdown, {stream_item::make_retry(3000)});
  live(2); // ignored once closing
  outbound_queue::take_result last;
  auto out = drain(q, &last);
  CAF_CHECK_EQUAL(ids_in(out), (std::vector<std::string>{"e-1"}));
  CAF_CHECK(out.find("retry: 3000") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  CAF_CHECK_EQUAL(last.reason, close_reason::shutdown);
}

CAF_TEST(a rejected stream yields its response once) {
  q.reject(hub_error(hub_errc::topic_full, "topic_full", "full"));
  std::vector<item_ptr> batch;
  auto r = q.take(batch);
  CAF_CHECK_EQUAL(r.kind, outbound_queue::take_kind::reject);
  CAF_CHECK_EQUAL(test::status_of(r.error), 503);
  CAF_CHECK_EQUAL(q.take(batch).kind, outbound_queue::take_kind::close);
}

CAF_TEST(heartbeats are skipped behind queued data) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  live(1);
  q.push_control(stream_item::make_heartbeat());
  auto out = drain(q);
  CAF_CHECK(out.find(": heartbeat") == std::string::npos);
  q.push_control(stream_item::make_heartbeat());
  CAF_CHECK(drain(q).find(": heartbeat") != std::string::npos);
}

CAF_TEST(drain notification fires once the writer catches up) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  live(1, 800);
  std::vector<item_ptr> batch;
  auto taken = q.take(batch);
  int fired = 0;
  q.notify_when_drained([&] { ++fired; });
  CAF_CHECK_EQUAL(fired, 0);
  q.written(taken.bytes);
  CAF_CHECK_EQUAL(fired, 1);
  q.written(0);
  CAF_CHECK_EQUAL(fired, 1);
}

CAF_TEST(a closed queue ignores everything) {
  q.accept({}, 0);
  q.push_replay({}, 0);
  q.mark_closed(close_reason::client_closed);
  live(1);
  q.push_control(stream_item::make_heartbeat());
  CAF_CHECK_EQUAL(q.queued_bytes(), 0u);
  CAF_CHECK_EQUAL(q.reason(), close_reason::client_closed);
}

CAF_TEST_FIXTURE_SCOPE_END()
