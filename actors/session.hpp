#pragma once
// A durable session actor: one per stored session, alive while the session exists (connected or
// not). It owns everything about the session: its cursors, its pending (unacknowledged) events,
// the flow control, the redeliveries and the expiry. One stream at a time is attached to it.
//
// Stream: starts at the session's cursor (or the client's Last-Event-ID), first redelivers what
// is pending, then reads the log page by page (paced by the queue) until it is caught up, then
// takes the dispatcher's batches directly. Ack-required events become pending when sent; at
// `max_pending` the stream pauses (flow control) until acknowledgements make room.
//
// Timers: one timer message in flight at most (`tick_atom` carrying its due time, so a stale one
// is recognized). It serves ack-wait redeliveries, dead-lettering, the cursor checkpoint while a
// stream is attached and the expiry while none is. CAF 0.17 cannot cancel a delayed message and
// it keeps its receiver alive: so delays are capped (max_timer_delay), and an actor that is gone
// is kept at most that long.
//
// Storage: every change goes through the journal (session_put_atom), in the order made; an ack is
// answered only once its deletion is on disk, so an acknowledged event never comes back.

#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/session_record.hpp"

namespace herald {

struct session_deps {
  journal_handle journal;
  dispatcher_handle dispatcher;
  reader_handle reader;
  caf::actor registry; // told when a deleted or expired session may stop (idle handshake)
  std::uint32_t epoch = 0;
  hub_stats* stats = nullptr;
  std::uint64_t retry_ms = 2000;
  std::chrono::seconds checkpoint_interval{5};
  /// The log, for the ids of a restored copy's original (event_log::resolve); may be null.
  std::shared_ptr<const event_log> log{};
  /// Cluster mode: this process's origin in the shared log (shared_log::origin); empty on a
  /// single node. A stream attaching is then announced to the other nodes.
  std::string origin{};
};

inline constexpr auto max_timer_delay = std::chrono::minutes(10);
inline constexpr std::size_t redelivery_batch = 256;        // events per fetch
inline constexpr std::size_t redelivery_bytes = 256 * 1024; // pushed before waiting for a drain

struct pending_ack {
  std::uint32_t deliveries = 0;
  caf::actor_clock::time_point due{}; // in `deadlines` when set
  bool queued = false;                // waiting in `redeliver`
};

/// What a session's stream is doing. At most one read of the log (catch-up page or redelivery
/// fetch) is in flight, and nothing more is pushed while the client has not taken the last one.
enum class stream_phase : std::uint8_t {
  none,     // no stream attached (or its dispatcher route is not there yet)
  idle,     // attached: live batches go straight to the queue; pump() may start a read
  reading,  // a catch-up page is being read from the log
  fetching, // events to redeliver are being read from the log
  draining, // waiting for the client to take what was pushed (queue drain notification)
};

const char* to_string(stream_phase x);

struct session_state {
  std::string id;
  session_record rec; // settings and cursors, as persisted (cursors may run ahead in memory)
  filter_ptr filter;
  session_deps deps;
  std::map<std::uint64_t, pending_ack> pending;
  std::set<std::pair<caf::actor_clock::time_point, std::uint64_t>> deadlines;
  std::uint64_t dead_letters = 0;
  std::uint64_t requests_seen = 0; // for the registry's stop handshake
  bool fresh = false;              // created, not yet answered 201
  std::uint64_t writes_sent = 0;   // persist() calls so far (the journal applies them in order)
  bool deleted = false;            // deleted or expired: answers 404 until it stops

  // The attached stream, if any.
  caf::actor stream;
  queue_ptr queue;
  std::uint64_t stream_gen = 0;
  std::int64_t stream_started_ms = 0; // wall time the attached stream attached (cluster mode)
  stream_phase phase = stream_phase::none;
  std::uint64_t stream_start = 0;
  std::uint64_t sent_through = 0;   // every event of the session up to here was sent or skipped
  std::uint64_t behind_to = 0;      // the log holds events for us up to here: read until there
  std::uint64_t plain_skip_through = 0; // the client has the non-ack events up to here
  std::uint64_t gap_reported_through = 0;
  bool paused = false; // flow control (any phase): max_pending reached at an ack-required event
  std::deque<std::uint64_t> redeliver;
  std::uint64_t checkpointed = 0; // delivered_through last written

  caf::actor_clock::time_point timer_at = caf::actor_clock::time_point::max();

  /// The dashboard's view of this session (hub_activity), listed while the actor lives.
  session_gauge_ptr gauge;
  /// Copies the figures the dashboard shows into `gauge` (where they change).
  void show() const {
    if (!gauge)
      return;
    gauge->pending.store(static_cast<std::int64_t>(pending.size()), std::memory_order_relaxed);
    gauge->dead_letters.store(static_cast<std::int64_t>(dead_letters), std::memory_order_relaxed);
    gauge->connected.store(static_cast<bool>(stream), std::memory_order_relaxed);
  }

  ~session_state() {
    if (deps.stats == nullptr)
      return;
    --deps.stats->sessions;
    deps.stats->pending_acks -= static_cast<std::int64_t>(pending.size());
    deps.stats->dead_letters -= static_cast<std::int64_t>(dead_letters);
    if (stream)
      --deps.stats->sessions_connected;
  }

  static inline const char* name = "session";
};

using session_actor = caf::stateful_actor<session_state>;

/// `fresh`: the session was just created (its record is persisted by the actor, and the first
/// put request is answered 201).
caf::behavior session(session_actor* self, std::string id, session_record rec,
                      std::vector<pending_record> pending, std::uint64_t dead_letters, bool fresh,
                      session_deps deps);

/// The JSON view of a session (GET /v1/sessions/{id}).
nlohmann::json session_view(const session_state& st);

} // namespace herald
