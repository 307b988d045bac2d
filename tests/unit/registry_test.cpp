#define CAF_SUITE registry
#include "tests/unit/actor_fixture.hpp"

#include "actors/registry.hpp"
#include "actors/topic.hpp"

using namespace herald;

namespace {

struct fixture : test::actor_fixture {
  caf::actor reg = sys.spawn(registry, std::size_t{100}, &stats);
  registry_state& state() { return deref<registry_actor>(reg).state; }

  caf::actor join(const std::string& key, test::reply_slot<caf::actor>& slot) {
    slot = test::make_slot<caf::actor>();
    auto a = requester<caf::actor>(reg, slot, join_atom::value, key);
    sched.run();
    return a;
  }

  fixture() { to_stop.push_back(reg); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_tests, fixture)

CAF_TEST(joins on one key share one topic actor which stops when the last subscriber goes) {
  test::reply_slot<caf::actor> r1, r2, r3;
  auto a = join("orders/42", r1);
  auto b = join("orders/42", r2);
  auto c = join("orders/*", r3);
  CAF_REQUIRE(r1->has_value() && r2->has_value());
  CAF_CHECK(std::get<caf::actor>(**r1) == std::get<caf::actor>(**r2));
  CAF_CHECK_EQUAL(state().topics.size(), 2u);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 2);
  kill(a);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 2); // b is still there
  kill(b);
  kill(c);
  CAF_CHECK_EQUAL(state().topics.size(), 0u);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST(an idle report that misses a forwarded join is ignored) {
  test::reply_slot<caf::actor> r1;
  auto a = join("t", r1);
  auto t = std::get<caf::actor>(**r1);
  // The topic claims to have seen no join, but the registry forwarded one: a join is in flight.
  caf::send_as(t, reg, idle_atom::value, std::string{"t"}, std::uint64_t{0});
  sched.run();
  CAF_CHECK_EQUAL(state().topics.size(), 1u);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  kill(a);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST(a crashed topic is forgotten and the next join gets a fresh one) {
  test::reply_slot<caf::actor> r1, r2;
  auto a = join("t", r1);
  auto t1 = std::get<caf::actor>(**r1);
  kill(t1, caf::exit_reason::unhandled_exception); // what a crash looks like
  CAF_CHECK_EQUAL(state().topics.size(), 0u);
  auto b = join("t", r2);
  CAF_REQUIRE(r2->has_value());
  if (auto* err = std::get_if<caf::error>(&**r2))
    CAF_FAIL("join failed: " << sys.render(*err));
  CAF_CHECK(std::get<caf::actor>(**r2) != t1);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  kill(a);
  kill(b);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST(stopping the registry stops its topics) {
  test::reply_slot<caf::actor> r1;
  auto a = join("t", r1);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  kill(reg);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
  kill(a);
}

CAF_TEST_FIXTURE_SCOPE_END()
