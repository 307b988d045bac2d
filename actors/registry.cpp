#include "actors/registry.hpp"

#include "actors/topic.hpp"

namespace herald {

caf::behavior registry(registry_actor* self, std::size_t max_subscribers_per_topic,
                       hub_stats* stats) {
  self->state.max_subscribers = max_subscribers_per_topic;
  self->state.stats = stats;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& topics = self->state.topics;
    for (auto it = topics.begin(); it != topics.end(); ++it)
      if (it->second.topic.address() == dm.source) {
        topics.erase(it);
        return;
      }
  });
  // Topic actors are linked so that they go with the registry at shutdown. A topic's own crash
  // is handled by the down handler; only other exits stop the registry.
  self->set_exit_handler([=](const caf::exit_msg& em) {
    for (auto& [key, e] : self->state.topics)
      if (e.topic.address() == em.source)
        return;
    if (em.reason)
      self->quit(em.reason);
  });
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
        self->monitor(t);
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
      self->demonitor(t);
      self->send_exit(t, caf::exit_reason::user_shutdown);
    },
    [=](caf::get_atom) -> std::uint64_t { return self->state.topics.size(); },
  };
}

} // namespace herald
