#pragma once
// The session registry: owns the map from session id to session actor. At start it spawns an
// actor for every stored session (each owns its own expiry timer; the hub loads them before it
// spawns the registry); it creates sessions on PUT and forwards every other request and stream to
// the session's actor. It never calls RocksDB itself: it runs on the shared scheduler.
//
// Sessions are linked and supervised: a session that crashes is respawned from its stored state,
// which the log reader reads (restore_atom); until then, its requests get 503 (retry).
// A deleted or expired session stops through a handshake: it reports how many requests it has
// seen, and is stopped only if that equals the number forwarded (as for topics and jobs), so no
// request is left unanswered.

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "actors/session.hpp"

namespace herald {

struct session_registry_settings {
  std::size_t max_sessions = 100000;
  std::size_t max_topics = 32;
};

struct session_registry_state {
  struct entry {
    caf::actor session;
    std::uint64_t forwarded = 0;
  };
  std::unordered_map<std::string, entry> sessions;
  std::unordered_set<std::string> restoring; // crashed, being read back by the log reader
  std::shared_ptr<const event_log> log; // its head only (an atomic, not a RocksDB read)
  session_deps deps;              // for the sessions it spawns (registry filled in)
  session_registry_settings settings;

  static inline const char* name = "session_registry";
};

using session_registry_actor = caf::stateful_actor<session_registry_state>;

caf::behavior session_registry(session_registry_actor* self, std::vector<stored_session> loaded,
                               std::shared_ptr<const event_log> log, session_deps deps,
                               session_registry_settings settings);

} // namespace herald
