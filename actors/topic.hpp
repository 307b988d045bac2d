#pragma once
// A topic actor: one per active subscription key (a topic or a pattern). Owns its membership
// (monitors every subscribed connection; a departed one leaves in the down handler and nowhere
// else) and the per-topic subscriber limit. When it has no subscribers it tells the registry,
// which stops it unless a join is on its way (see registry.hpp).

#include <set>
#include <string>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct topic_state {
  std::string key;
  caf::actor registry;
  std::size_t max_subscribers = 0;
  std::set<caf::actor_addr> members;
  std::uint64_t joins_seen = 0;
  hub_stats* stats = nullptr;

  ~topic_state() {
    if (stats != nullptr)
      --stats->topic_actors;
  }

  static inline const char* name = "topic";
};

using topic_actor = caf::stateful_actor<topic_state>;

caf::behavior topic(topic_actor* self, std::string key, caf::actor registry,
                    std::size_t max_subscribers, hub_stats* stats);

} // namespace herald
