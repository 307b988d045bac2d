#include "actors/registry.hpp"

#include "actors/topic.hpp"

namespace herald {

caf::behavior registry(registry_actor* self, std::size_t max_subscribers_per_topic,
                       hub_stats* stats) {
  self->state.max_subscribers = max_subscribers_per_topic;
  self->state.stats = stats;
  // Topic actors are linked: the registry supervises them, and they go with it at shutdown.
  // A topic's exit (a crash: idle topics are unlinked before they are stopped) is handled here,
  // in one place; any other exit stops the registry.
  self->set_exit_handler([=](const caf::exit_msg& em) {
    auto& topics = self->state.topics;
    for (auto it = topics.begin(); it != topics.end(); ++it)
      if (it->second.topic.address() == em.source) {
        topics.erase(it);
        return;
      }
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
    [=](caf::get_atom) -> std::uint64_t { return self->state.topics.size(); },
  };
}

} // namespace herald
