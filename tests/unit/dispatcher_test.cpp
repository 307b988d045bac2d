#define CAF_SUITE dispatcher
#include "tests/unit/actor_fixture.hpp"

#include "actors/dispatcher.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;
using test::drain;
using test::ids_in;
using V = std::vector<std::string>;

namespace {

struct fixture : test::actor_fixture {
  dispatcher_handle disp = sys.spawn(dispatcher, std::uint64_t{7}, stream_timing{});
  dispatcher_state& state() { return deref<dispatcher_actor>(disp).state; }

  struct stream {
    caf::actor owner;
    queue_ptr queue;
    test::reply_slot<std::uint64_t> head;
  };

  stream attach(std::vector<std::string> patterns) {
    stream s;
    s.queue = std::make_shared<outbound_queue>(1 << 20, [] {});
    s.head = test::make_slot<std::uint64_t>();
    s.owner = requester<std::uint64_t>(disp, s.head, attach_atom::value, s.queue,
                                       std::make_shared<const topic_filter>(patterns));
    sched.run();
    return s;
  }

  void deliver(std::vector<std::pair<std::uint64_t, std::string>> events) {
    auto batch = std::make_shared<std::vector<committed_event>>();
    for (auto& [pos, topic] : events)
      batch->push_back(stream_item::make_event(pos, std::to_string(pos), topic, "", "0"));
    caf::anon_send(disp, deliver_atom::value, committed_batch{batch});
    sched.run();
  }

  static void go_live(stream& s) {
    auto head = std::get<std::uint64_t>(**s.head);
    s.queue->accept({}, head);
    s.queue->push_replay({}, head);
  }

  fixture() { to_stop = handles(disp); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(dispatcher_tests, fixture)

CAF_TEST(attach answers the head and later events arrive in log order across patterns) {
  auto s1 = attach({"a", "b/*"});
  auto s2 = attach({"a", "*"});
  CAF_REQUIRE(s1.head->has_value());
  CAF_CHECK_EQUAL(std::get<std::uint64_t>(**s1.head), 7u);
  go_live(s1);
  go_live(s2);
  deliver({{8, "a"}, {9, "b/x"}, {10, "c"}, {11, "b/y/z"}});
  deliver({{12, "a"}, {13, "b/q"}});
  CAF_CHECK_EQUAL(ids_in(drain(*s1.queue)), (V{"8", "9", "12", "13"}));
  // 'a' matches both of s2's patterns: delivered once.
  CAF_CHECK_EQUAL(ids_in(drain(*s2.queue)), (V{"8", "10", "12"}));
  CAF_CHECK_EQUAL(state().head, 13u);
  auto s3 = attach({"a"});
  CAF_CHECK_EQUAL(std::get<std::uint64_t>(**s3.head), 13u);
  for (auto* s : {&s1, &s2, &s3})
    kill(s->owner);
}

CAF_TEST(a batch reaches each stream with one wake-up) {
  auto wakes = std::make_shared<int>(0);
  stream s;
  s.queue = std::make_shared<outbound_queue>(1 << 20, [wakes] { ++*wakes; });
  s.head = test::make_slot<std::uint64_t>();
  s.owner = requester<std::uint64_t>(
    disp, s.head, attach_atom::value, s.queue,
    std::make_shared<const topic_filter>(std::vector<std::string>{"a", "*"}));
  sched.run();
  go_live(s);
  deliver({{8, "a"}, {9, "b"}, {10, "a"}, {11, "x/y"}, {12, "c"}});
  CAF_CHECK_EQUAL(*wakes, 1);
  std::vector<item_ptr> batch;
  auto r = s.queue->take(batch);
  CAF_CHECK_EQUAL(r.events, 4u); // 8, 9, 10, 12 in one take ('a' matched twice, queued once)
  kill(s.owner);
}

CAF_TEST(a stream that goes down is dropped from every index) {
  auto s1 = attach({"a", "b/*"});
  auto s2 = attach({"a"});
  go_live(s1);
  go_live(s2);
  kill(s1.owner);
  CAF_CHECK_EQUAL(state().routes.size(), 1u);
  CAF_CHECK_EQUAL(state().wildcard.size(), 0u);
  CAF_CHECK_EQUAL(state().exact.at("a").size(), 1u);
  deliver({{8, "a"}});
  CAF_CHECK(ids_in(drain(*s1.queue)).empty());
  CAF_CHECK_EQUAL(ids_in(drain(*s2.queue)), (V{"8"}));
  kill(s2.owner);
  CAF_CHECK(state().routes.empty());
  CAF_CHECK(state().exact.empty());
}

CAF_TEST(shutdown ends every stream with a notice and refuses new attachments) {
  auto s1 = attach({"a"});
  go_live(s1);
  auto n = ask<std::uint64_t>(disp, shutdown_atom::value, std::uint64_t{1000},
                              std::uint64_t{500});
  CAF_CHECK_EQUAL(std::get<std::uint64_t>(n), 1u);
  outbound_queue::take_result last;
  auto out = drain(*s1.queue, &last);
  CAF_CHECK(out.find("event: herald.shutdown") != std::string::npos);
  CAF_CHECK(out.find("retry: 1") != std::string::npos);
  CAF_CHECK_EQUAL(last.kind, outbound_queue::take_kind::close);
  auto s2 = attach({"a"});
  CAF_REQUIRE(s2.head->has_value());
  CAF_CHECK(is(std::get<caf::error>(**s2.head), hub_errc::shutting_down));
  kill(s1.owner);
  kill(s2.owner);
}

CAF_TEST(one dispatcher timer gives every stream its heartbeat) {
  auto s1 = attach({"a"});
  auto s2 = attach({"b/*"});
  go_live(s1);
  go_live(s2);
  auto timers = sched.clock().schedule().size(); // the dispatcher's one timer
  advance_time(std::chrono::seconds(25));
  sched.run();
  CAF_CHECK_EQUAL(drain(*s1.queue), ": heartbeat\n\n");
  CAF_CHECK_EQUAL(drain(*s2.queue), ": heartbeat\n\n");
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), timers); // re-armed, not multiplied
  kill(s1.owner);
  kill(s2.owner);
}

CAF_TEST(private and targeted events reach only the routes whose viewer may see them) {
  auto viewer = [](std::string sub, std::vector<std::string> subscribe,
                   std::vector<std::string> roles) {
    principal p;
    p.from = principal::origin::token;
    p.sub = std::move(sub);
    p.subscribe = std::move(subscribe);
    p.roles = std::move(roles);
    return std::make_shared<const principal>(std::move(p));
  };
  auto attach_as = [&](principal_ptr who) {
    stream s;
    s.queue = std::make_shared<outbound_queue>(1 << 20, [] {});
    s.head = test::make_slot<std::uint64_t>();
    s.owner = requester<std::uint64_t>(
      disp, s.head, attach_atom::value, s.queue,
      std::make_shared<const topic_filter>(std::vector<std::string>{"a/*"}, std::move(who)));
    sched.run();
    go_live(s);
    return s;
  };
  auto alice = attach_as(viewer("alice", {"a/**"}, {"kitchen"}));
  auto bob = attach_as(viewer("bob", {"b/*"}, {}));
  auto anon = attach_as(std::make_shared<const principal>(principal::anonymous({}, {"**"})));
  auto batch = std::make_shared<std::vector<committed_event>>();
  batch->push_back(stream_item::make_event(8, "8", "a/1", "", "0"));
  batch->push_back(stream_item::make_event(9, "9", "a/1", "", "0", false, {true, {}}));
  batch->push_back(
    stream_item::make_event(10, "10", "a/2", "", "0", false, {false, {"sub:bob"}}));
  batch->push_back(
    stream_item::make_event(11, "11", "a/2", "", "0", false, {false, {"role:kitchen"}}));
  caf::anon_send(disp, deliver_atom::value, committed_batch{batch});
  sched.run();
  CAF_CHECK_EQUAL(ids_in(drain(*alice.queue)), V({"8", "9", "11"}));
  CAF_CHECK_EQUAL(ids_in(drain(*bob.queue)), V({"8", "10"})); // no grant on a/1: not private 9
  CAF_CHECK_EQUAL(ids_in(drain(*anon.queue)), V({"8"}));
}

CAF_TEST_FIXTURE_SCOPE_END()
