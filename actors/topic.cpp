#include "actors/topic.hpp"

namespace herald {

caf::behavior topic(topic_actor* self, std::string key, caf::actor registry,
                    std::size_t max_subscribers, hub_stats* stats) {
  auto& st = self->state;
  st.key = std::move(key);
  st.registry = std::move(registry);
  st.max_subscribers = max_subscribers;
  st.stats = stats;
  ++stats->topic_actors;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.members.erase(dm.source) > 0 && st.members.empty())
      self->send(st.registry, idle_atom::value, st.key, st.joins_seen);
  });
  return {
    [=](join_atom, const caf::actor& conn) -> caf::result<caf::actor> {
      auto& st = self->state;
      ++st.joins_seen;
      if (st.members.size() >= st.max_subscribers) {
        if (st.members.empty())
          self->send(st.registry, idle_atom::value, st.key, st.joins_seen);
        return hub_error(hub_errc::topic_full, "topic_full",
                         "a topic of this subscription is at its subscriber limit; retry later");
      }
      if (st.members.insert(conn.address()).second)
        self->monitor(conn);
      return caf::actor_cast<caf::actor>(self);
    },
  };
}

} // namespace herald
