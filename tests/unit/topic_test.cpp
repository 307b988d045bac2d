#define CAF_SUITE topic
#include "tests/unit/actor_fixture.hpp"

#include "actors/topic.hpp"

using namespace herald;

namespace {

struct fixture : test::actor_fixture {
  caf::actor registry_stand_in = caf::actor_cast<caf::actor>(self);
  caf::actor t = sys.spawn(topic, std::string{"orders/42"}, registry_stand_in, std::size_t{2},
                           &stats);
  topic_state& state() { return deref<topic_actor>(t).state; }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(topic_tests, fixture)

CAF_TEST(a subscriber that goes down leaves in the down handler and the idle topic reports) {
  auto a = bystander();
  auto b = bystander();
  CAF_CHECK(std::holds_alternative<caf::actor>(ask<caf::actor>(t, join_atom::value, a)));
  CAF_CHECK(std::holds_alternative<caf::actor>(ask<caf::actor>(t, join_atom::value, b)));
  CAF_CHECK_EQUAL(state().members.size(), 2u);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 1);
  kill(a);
  CAF_CHECK_EQUAL(state().members.size(), 1u);
  kill(b);
  CAF_CHECK_EQUAL(state().members.size(), 0u);
  // The empty topic asks the registry to stop it, saying how many joins it has seen.
  bool reported = false;
  self->receive([&](idle_atom, const std::string& key, std::uint64_t joins) {
    reported = key == "orders/42" && joins == 2;
  });
  CAF_CHECK(reported);
  kill(t);
  CAF_CHECK_EQUAL(stats.topic_actors.load(), 0);
}

CAF_TEST(the subscriber limit refuses the next join with topic_full) {
  auto a = bystander(), b = bystander(), c = bystander();
  ask<caf::actor>(t, join_atom::value, a);
  ask<caf::actor>(t, join_atom::value, b);
  auto res = ask<caf::actor>(t, join_atom::value, c);
  CAF_REQUIRE(std::holds_alternative<caf::error>(res));
  CAF_CHECK(is(std::get<caf::error>(res), hub_errc::topic_full));
  CAF_CHECK_EQUAL(state().members.size(), 2u);
  for (auto& x : {a, b, c})
    kill(x);
  kill(t);
}

CAF_TEST(joining twice monitors once) {
  auto a = bystander();
  ask<caf::actor>(t, join_atom::value, a);
  ask<caf::actor>(t, join_atom::value, a);
  CAF_CHECK_EQUAL(state().members.size(), 1u);
  kill(a);
  CAF_CHECK(state().members.empty());
  kill(t);
}

CAF_TEST_FIXTURE_SCOPE_END()
