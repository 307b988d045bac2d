#include "actors/registry.hpp"

#include "actors/supervision.hpp"
#include "actors/topic.hpp"

namespace herald {

caf::behavior registry(registry_actor* self, std::size_t max_subscribers_per_topic,
                       hub_stats* stats) {
  self->state.max_subscribers = max_subscribers_per_topic;
  self->state.stats = stats;
  // Topic actors are linked: the registry supervises them, and they go with it at shutdown.
  supervise_children(
    self, [](registry_actor* a) -> auto& { return a->state.topics; },
    [](const registry_state::entry& e) -> const caf::actor& { return e.topic; });
  return {
    [=](join_atom, const std::string& key) -> caf::result<caf::message> {
      auto& st = self->state;
      auto conn = caf::actor_cast<caf::actor>(self->current_sender());
      if (!conn)
        return caf::sec::invalid_argument;
      auto it = st.topics.find(key);
      if (it == st.topics.end()) {
        auto t = self->spawn<caf::linked>(topic, key, caf::actor_cast<caf::actor>(self),
                                          st.max_subscribers, st.stats);
        it = st.topics.emplace(key, registry_state::entry{t, 0}).first;
      }
      ++it->second.joins;
      return self->delegate(it->second.topic, join_atom::value, conn);
    },
    [=](idle_atom, const std::string& key, std::uint64_t joins_seen) {
      auto& st = self->state;
      auto it = st.topics.find(key);
      if (it == st.topics.end() || it->second.topic.address() != caf::actor_cast<caf::actor_addr>(self->current_sender())
          || it->second.joins != joins_seen)
        return; // a join is on its way to that topic: it stays
      auto t = it->second.topic;
      st.topics.erase(it);
      self->unlink_from(t);
      self->send_exit(t, caf::exit_reason::user_shutdown);
    },
  };
}

} // namespace herald
