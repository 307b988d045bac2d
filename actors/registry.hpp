#pragma once
// The registry: finds or spawns the topic actor of a key and forwards joins to it; supervises
// topic actors.
//
// Stop handshake: every join reaches a topic through the registry, which counts them. An idle
// topic reports how many joins it has seen; if that equals the count forwarded, no join is in
// flight, so the registry forgets the topic and stops it. Otherwise the idle report is stale and
// ignored. A topic that crashes is forgotten in the exit handler (topics are linked); its subscribers monitor it and
// end their streams (clients resume from their last id, nothing is lost).

#include <string>
#include <unordered_map>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct registry_state {
  struct entry {
    caf::actor topic;
    std::uint64_t joins = 0;
  };
  std::unordered_map<std::string, entry> topics;
  std::size_t max_subscribers = 0;
  hub_stats* stats = nullptr;

  static inline const char* name = "registry";
};

using registry_actor = caf::stateful_actor<registry_state>;

caf::behavior registry(registry_actor* self, std::size_t max_subscribers_per_topic,
                       hub_stats* stats);

} // namespace herald
