#pragma once
// A connection actor: one per SSE stream. It joins the topic actors of its subscription, attaches
// its queue to the dispatcher, replays what the client missed (paced by the queue), then lives
// until its socket closes (the session sends it an exit). It owns no timer (heartbeats and
// maximum age come from the dispatcher's one timer, see dispatcher.hpp) and holds nothing anyone
// else must clean up: topic actors and the dispatcher monitor it and drop it in their down
// handlers.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/event_id.hpp"

namespace herald {

struct connection_settings {
  std::uint64_t retry_ms = 2000;
  std::uint64_t retry_jitter_ms = 5000;
};

struct connection_deps {
  caf::actor registry;
  dispatcher_handle dispatcher;
  reader_handle reader;
  std::uint32_t epoch = 0;
  hub_stats* stats = nullptr;
  connection_settings settings;
};

struct subscription_request {
  std::vector<std::string> patterns;
  std::optional<event_id> resume; // from Last-Event-ID / last_event_id
  std::string resume_text;
  bool earliest = false; // Last-Event-ID "earliest": everything retained, without a gap notice
  principal_ptr viewer{}; // whose grants decide events with access rules
  /// A Mercure subscription: follows `@mercure` through these selectors instead of `patterns`
  /// (and joins no topic actor: its limits are the hub's stream limits).
  std::shared_ptr<const mercure_view> mercure{};
  /// Mercure: a Last-Event-ID that is a publisher's own id, resolved through the log.
  std::string resume_mercure_id{};
};

struct connection_state {
  queue_ptr queue;
  /// What the client asked for: read while the stream starts, then freed (an idle stream keeps
  /// only its filter; tens of thousands of them are open at once).
  std::unique_ptr<subscription_request> sub;
  filter_ptr filter;
  connection_deps deps;
  std::vector<caf::actor> topics;
  std::uint64_t cursor = 0;           // replay continues after this position
  std::uint64_t gap_reported_through = 0;
  bool live = false;
  bool failed = false;

  ~connection_state() {
    if (deps.stats != nullptr)
      --deps.stats->connection_actors;
  }

  static inline const char* name = "connection";
};

using connection_actor = caf::stateful_actor<connection_state>;

caf::behavior connection(connection_actor* self, queue_ptr queue, subscription_request sub,
                         connection_deps deps);

} // namespace herald
