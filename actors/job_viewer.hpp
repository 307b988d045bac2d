#pragma once
// A job viewer: one per SSE stream on GET /v1/jobs/{id}/events. It asks the job's watcher to
// take its queue (the watcher sends the snapshot, every update and the heartbeats, and ends the
// stream at a terminal state), and lives until its socket closes. It owns no timer. The watcher
// monitors it; it monitors the watcher (a crashed watcher ends the stream with a retry).

#include <chrono>
#include <string>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct job_viewer_state {
  std::string id;
  queue_ptr queue;
  std::uint64_t retry_ms = 2000;
  hub_stats* stats = nullptr;

  ~job_viewer_state() {
    if (stats != nullptr)
      --stats->job_viewers;
  }

  static inline const char* name = "job_viewer";
};

using job_viewer_actor = caf::stateful_actor<job_viewer_state>;

/// `last_seen`: the version in the client's Last-Event-ID (0 when none).
caf::behavior job_viewer(job_viewer_actor* self, std::string id, queue_ptr queue,
                         std::uint64_t last_seen, caf::actor job_registry, std::uint64_t retry_ms,
                         hub_stats* stats);

} // namespace herald
