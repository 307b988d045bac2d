#pragma once
// The dispatcher: the single ordered fan-out path (journal -> dispatcher -> stream queues).
//
// Why one ordered path: a stream may follow several topics or patterns. If each topic actor
// forwarded its own events, a stream could see event 11 (topic B) before event 10 (topic A) and,
// dropping right then, resume after 11 and lose 10. The dispatcher receives committed batches in
// log order and pushes each event to every matching queue in that order, so every stream is in
// log order and "the last id I saw" is always a complete cursor.
//
// Membership (limits, lifecycle) belongs to topic actors; the dispatcher keeps only the routing
// table it needs, keyed by connection actor, and drops a route in its down handler.
//
// A durable session's stream is routed to its session actor instead (tail_atom): per batch, one
// message with the session's events and the range they cover.
//
// Timers: the dispatcher's one timer sends every stream its heartbeat and ends streams past their
// maximum age. Streams own no timer: in CAF 0.17 a pending delayed message cannot be cancelled
// and keeps its receiver alive, so per-stream timers would keep every closed stream's actor in
// memory until they fired.

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct dispatch_route {
  queue_ptr queue;
  filter_ptr filter; // its patterns, and who may see what (events with access rules)
  std::vector<item_ptr> pending; // this batch's events for the route (reused)
  caf::actor_clock::time_point attached;
  // A durable session's route: its events go to the session actor (which decides about acks
  // and flow control), not straight to the queue.
  caf::actor session;
  std::shared_ptr<session_batch> session_events; // this batch's events for the session
  std::uint64_t notified_through = 0;            // the session has every event up to here
};

/// Stream timing, applied by the dispatcher's one timer to every stream it routes to.
struct stream_timing {
  std::chrono::seconds heartbeat{25};
  std::chrono::seconds max_age{0}; // 0: unlimited
  std::uint64_t retry_ms = 2000;
  std::uint64_t retry_jitter_ms = 5000;
};

struct dispatcher_state {
  std::uint64_t head = 0; // last position dispatched
  bool shutting_down = false;
  std::unordered_map<caf::actor_addr, std::unique_ptr<dispatch_route>> routes;
  std::unordered_map<std::string, std::vector<dispatch_route*>> exact;
  std::unordered_map<std::string, std::vector<dispatch_route*>> wildcard;
  std::vector<dispatch_route*> touched; // routes with pending frames in the current batch
  stream_timing timing;
  caf::actor_clock::time_point last_heartbeat;

  static inline const char* name = "dispatcher";
};

using dispatcher_actor = dispatcher_handle::stateful_base<dispatcher_state>;

/// `head`: the log's head at start (everything up to it is history, served by replay).
dispatcher_handle::behavior_type dispatcher(dispatcher_actor* self, std::uint64_t head,
                                            stream_timing timing);

} // namespace herald
