#pragma once
// Counters read by GET /v1/stats (and /metrics, the dashboard). Written by actors and sessions,
// read from io threads. `activity` holds what the dashboard lists (busy topics, sessions, jobs).

#include <atomic>
#include <cstdint>

#include "actors/hub_activity.hpp"

namespace herald {

/// Cluster mode: the node's view of the shared log, written by its cluster tail.
struct cluster_health {
  std::atomic<bool> enabled{false};
  std::atomic<bool> connected{false};
  std::atomic<bool> caught_up{false}; // the tail reached the stream's end since it started
  std::atomic<std::uint64_t> applied{0}; // the last sequence applied to the local log
  std::atomic<std::uint64_t> lag{0};     // messages of the stream not applied yet
  std::atomic<std::uint64_t> lost{0};    // sequences the stream dropped before this node read them
};

struct hub_stats {
  std::atomic<std::int64_t> open_connections{0};    // SSE streams and WebSockets (a reserved slot each)
  std::atomic<std::uint64_t> streams_closed{0};     // SSE streams and WebSockets closed since start
  std::atomic<std::int64_t> websockets{0};           // open WebSocket connections (in open_connections)
  std::atomic<std::int64_t> websocket_subscriptions{0}; // their subscriptions and session attachments
  std::atomic<std::uint64_t> websocket_messages_in{0};  // text messages read from clients
  std::atomic<std::uint64_t> websocket_refusals{0};     // messages answered with an "error" message
  std::atomic<std::int64_t> mercure_streams{0};         // open /.well-known/mercure streams
  std::atomic<std::int64_t> topic_actors{0};        // live topic actors
  std::atomic<std::int64_t> connection_actors{0};   // live connection actors
  std::atomic<std::int64_t> job_actors{0};          // live job watchers
  std::atomic<std::int64_t> job_viewers{0};         // live job viewer streams
  std::atomic<std::uint64_t> upstream_polls{0};     // upstream status requests sent
  std::atomic<std::uint64_t> events_published{0};
  std::atomic<std::uint64_t> events_delivered{0};   // event frames written to sockets
  std::atomic<std::uint64_t> events_replayed{0};    // event frames produced by replay
  std::atomic<std::uint64_t> slow_consumer_disconnects{0};
  std::atomic<std::uint64_t> publish_errors{0};
  std::atomic<std::uint64_t> publish_repeats{0};    // events answered from their idempotency key
  std::atomic<std::int64_t> publishes_in_flight{0}; // accepted by HTTP, not yet answered
  std::atomic<std::int64_t> sessions{0};            // durable sessions (live actors)
  std::atomic<std::int64_t> sessions_connected{0};  // ... with a stream attached
  std::atomic<std::int64_t> pending_acks{0};        // delivered, unacknowledged events
  std::atomic<std::int64_t> dead_letters{0};        // dead letters held by sessions
  std::atomic<std::uint64_t> redeliveries{0};
  std::atomic<std::uint64_t> dead_lettered{0};      // events moved to dead letters
  std::atomic<std::uint64_t> auth_failures{0};      // requests refused 401 (no or a bad token)
  std::atomic<std::uint64_t> forbidden{0};          // requests refused for a missing grant (403)
  std::atomic<std::uint64_t> rate_limited{0};       // requests and streams refused (429)
  std::atomic<std::uint64_t> request_timeouts{0};   // connections closed mid-request (header or body timeout)
  std::atomic<std::uint64_t> token_expiries{0};     // streams ended at their token's exp
  std::atomic<std::uint64_t> gzip_requests{0};      // request bodies inflated (Content-Encoding: gzip)
  std::atomic<std::uint64_t> gzip_responses{0};     // JSON answers sent gzipped
  std::atomic<std::uint64_t> gzip_stream_bytes_in{0};  // SSE bytes given to gzip streams
  std::atomic<std::uint64_t> gzip_stream_bytes_out{0}; // ... and what they became on the wire
  hub_activity activity;
  cluster_health cluster;
};

} // namespace herald
