#pragma once
// A session stream: one per SSE stream on GET /v1/sessions/{id}/events. It joins the topic actors
// of its session's patterns (so the per-topic subscriber limit counts it, as it counts topic
// streams), asks the session (via the registry) to take its queue, and lives until its socket
// closes. It owns no timer. The session and the topics monitor it; it monitors them (a crashed
// session ends the stream with a retry; the respawned session resumes it from its stored state).

#include <optional>
#include <string>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct session_stream_state {
  std::string id;
  queue_ptr queue;
  caf::actor sessions; // the session registry
  std::uint64_t retry_ms = 2000;
  principal_ptr who; // the stream's principal: the session must be theirs

  static inline const char* name = "session_stream";
};

using session_stream_actor = caf::stateful_actor<session_stream_state>;

/// `resume`: the client's Last-Event-ID, if it sent one.
caf::behavior session_stream(session_stream_actor* self, std::string id, queue_ptr queue,
                             std::optional<event_id> resume, caf::actor session_registry,
                             caf::actor topic_registry, std::uint64_t retry_ms,
                             principal_ptr who);

} // namespace herald
