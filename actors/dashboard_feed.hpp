#pragma once
// The dashboard feed: one per hub. While dashboards watch (GET /v1/admin/stats/stream), it has a
// snapshot of the hub rendered every interval and pushes it to every watching stream as a
// `herald.stats` notice; with nobody watching it has no timer and renders nothing. A new viewer
// gets the latest snapshot at once. It monitors its viewers (a closed stream leaves in the down
// handler) and counts them in hub_activity, which counts topics only while someone watches.
//
// What a snapshot holds is the net layer's business (net/dashboard.cpp): the feed gets a
// `snapshot_source` that renders one and hands its JSON text back, possibly later and from
// another thread (storage figures come from the log reader). One render is in flight at a time:
// a tick that finds one running is skipped, so a slow render never piles up.
//
// A viewer that does not read skips snapshots (one is not queued behind four unwritten ones)
// instead of being closed as a slow consumer.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "actors/hub_activity.hpp"
#include "actors/messages.hpp"

namespace herald {

using snapshot_done = std::function<void(std::string json)>;
/// Renders one snapshot and calls `done` with it (once, from any thread).
using snapshot_source = std::function<void(snapshot_done done)>;

using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;

struct dashboard_feed_state {
  struct viewer {
    caf::actor_addr addr;
    queue_ptr queue;
  };
  std::vector<viewer> viewers;
  snapshot_source source;
  caf::timespan interval{};
  hub_activity* activity = nullptr;
  std::uint64_t retry_ms = 2000;
  std::string latest;      // the latest snapshot (empty: none yet)
  bool ticking = false;    // a tick is scheduled
  bool rendering = false;  // a render is in flight
  std::uint64_t rendered = 0; // snapshots rendered since start (tests, logs)

  ~dashboard_feed_state() {
    if (activity != nullptr)
      activity->watch(-static_cast<int>(viewers.size()));
  }

  static inline const char* name = "dashboard_feed";
};

using dashboard_feed_actor = caf::stateful_actor<dashboard_feed_state>;

caf::behavior dashboard_feed(dashboard_feed_actor* self, snapshot_source source,
                             caf::timespan interval, hub_activity* activity,
                             std::uint64_t retry_ms);

} // namespace herald
