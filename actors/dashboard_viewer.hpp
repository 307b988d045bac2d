#pragma once
// A dashboard viewer: one per stream on GET /v1/admin/stats/stream. It hands its queue to the
// dashboard feed (which pushes every snapshot to it and monitors it) and lives until its socket
// closes. It monitors the feed: a feed that is gone ends the stream with a retry hint.

#include "actors/messages.hpp"

namespace herald {

struct dashboard_viewer_state {
  queue_ptr queue;
  std::uint64_t retry_ms = 2000;

  static inline const char* name = "dashboard_viewer";
};

using dashboard_viewer_actor = caf::stateful_actor<dashboard_viewer_state>;

caf::behavior dashboard_viewer(dashboard_viewer_actor* self, queue_ptr queue, caf::actor feed,
                               std::uint64_t retry_ms);

} // namespace herald
