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

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct dispatch_route {
  queue_ptr queue;
  std::vector<std::string> patterns;
  std::vector<positioned_frame> pending; // this batch's frames for the route (reused)
};

struct dispatcher_state {
  std::uint64_t head = 0; // last position dispatched
  bool shutting_down = false;
  std::minstd_rand rng;
  std::unordered_map<caf::actor_addr, std::unique_ptr<dispatch_route>> routes;
  std::unordered_map<std::string, std::vector<dispatch_route*>> exact;
  std::unordered_map<std::string, std::vector<dispatch_route*>> wildcard;
  std::vector<dispatch_route*> touched; // routes with pending frames in the current batch

  static inline const char* name = "dispatcher";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

/// `head`: the log's head at start (everything up to it is history, served by replay).
caf::behavior dispatcher(dispatcher_actor* self, std::uint64_t head);

} // namespace herald
