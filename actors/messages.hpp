#pragma once
// The message vocabulary of Herald's actors: read this file as the protocol description.
//
//  HTTP session  --publish_atom, publish_job_ptr-->              journal
//  journal       --deliver_atom, committed_batch-->              dispatcher   (log order)
//  connection    --join_atom, pattern-->  registry --delegate-->  topic        => caf::actor (topic)
//  connection    --attach_atom, queue_ptr, filter_ptr-->         dispatcher   => head position
//  connection    --replay_atom, filter_ptr, after-->             log_reader   => replay_page
//  connection    --mercure_id_atom, id-->                         log_reader   => position (0: none)
//  HTTP session  --query_atom, events_query_ptr-->               log_reader   (callback)
//  HTTP session  --figures_atom, figures_query_ptr-->            log_reader   (callback: RocksDB)
//  backup (after session_registry's checkpoint) --backup_atom, backup_request_ptr--> log_reader
//  topic         --idle_atom, key, joins_seen-->                 registry     (stop handshake)
//  main          --shutdown_atom, retry_ms-->                    dispatcher   => streams closing
//  HTTP session  --job_atom, job_request_ptr-->  job_registry --delegate-->  job_watcher
//  job_viewer    --watch_atom, id, queue_ptr, last_seen-->  job_registry --> job_watcher => actor
//  job_watcher   --job_put_atom, id, json text, base-->      journal      => position (persisted)
//  job_watcher   --job_get_atom, id-->                       log_reader   => stored_job
//  job_watcher   --idle_atom, id, requests_seen-->           job_registry (stop handshake)
//  upstream fetch (io thread) --polled_atom, gen, upstream_reply-->  job_watcher
//  dashboard_viewer --watch_atom, queue_ptr-->                  dashboard_feed (monitors it)
//  dashboard_feed --tick_atom--> itself (only while watched);  snapshot source (reader thread)
//                 --snapshot_atom, json text-->                 dashboard_feed => viewers' queues
//  HTTP session  --session_atom, session_request_ptr--> session_registry --delegate--> session
//  session_stream --patterns_atom, id--> session_registry --delegate--> session => its topics
//  session_stream --join_atom, pattern--> registry --delegate--> topic  (as a connection does)
//  session_stream --connect_atom, id, queue, resume, who--> session_registry --delegate--> session
//  session       --tail_atom, queue, filter_ptr-->              dispatcher   => head position
//  dispatcher    --deliver_atom, session_batch_ptr-->           session      (its events, in order)
//  session       --detach_atom-->                               dispatcher   (its stream ended)
//  session       --scan_atom, filter_ptr, after, gap_through--> log_reader   => event_page
//  session       --fetch_atom, positions-->                     log_reader   => event_records
//  session       --dead_atom, id, after, limit | positions-->   log_reader   => dead letters
//  session       --session_put_atom, session_write_ptr-->       journal      => ok (persisted)
//  session_registry --restore_atom, id-->                        log_reader   => stored_session
//  main          --checkpoint_atom--> session_registry --> every session => ok (all persisted)
//  cluster mode: journal --(NATS JetStream)--> every node's cluster_tail --deliver_atom--> dispatcher
//                job_watcher --job_put_atom--> journal --(JetStream)--> every cluster_tail
//                --job_sync_atom, id, stored_job, taken--> job_registry --> its job_watcher (if live)
//                session --session_put_atom--> journal --(JetStream)--> other nodes' cluster_tail
//                --session_sync_atom, session_write_ptr--> session_registry --> session
//  resume_atom (to a connection or session): its queue drained, send the next page
//  timers (to self): commit_atom, retention_atom (journal); heartbeat_atom (dispatcher, for
//                    every stream; job_watcher, for its viewers); tick_atom, poll_atom,
//                    verdict_atom (job_watcher);
//                    tick_atom (session: ack waits, checkpoints, expiry)

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/hub_error.hpp"
#include "delivery/outbound_queue.hpp"
#include "storage/event_id.hpp"
#include "storage/event_log.hpp"
#include "storage/job_store.hpp"
#include "storage/session_store.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {

using publish_atom = caf::atom_constant<caf::atom("publish")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using retention_atom = caf::atom_constant<caf::atom("retention")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using job_atom = caf::atom_constant<caf::atom("job")>;
using job_put_atom = caf::atom_constant<caf::atom("job_put")>;
using job_get_atom = caf::atom_constant<caf::atom("job_get")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using polled_atom = caf::atom_constant<caf::atom("polled")>;
using session_atom = caf::atom_constant<caf::atom("session")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
using tail_atom = caf::atom_constant<caf::atom("tail")>;
using detach_atom = caf::atom_constant<caf::atom("detach")>;
using scan_atom = caf::atom_constant<caf::atom("scan")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using dead_atom = caf::atom_constant<caf::atom("dead")>;
using session_put_atom = caf::atom_constant<caf::atom("sess_put")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpoint")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using patterns_atom = caf::atom_constant<caf::atom("patterns")>;
using mercure_id_atom = caf::atom_constant<caf::atom("mercure_id")>;
using figures_atom = caf::atom_constant<caf::atom("figures")>;
using backup_atom = caf::atom_constant<caf::atom("backup")>;
using job_sync_atom = caf::atom_constant<caf::atom("job_sync")>;
using verdict_atom = caf::atom_constant<caf::atom("verdict")>;
using session_sync_atom = caf::atom_constant<caf::atom("sess_sync")>;

/// The answer to a request on a session or a job: a view of the resource or of what the request
/// did (JSON data; a transport renders it), or an error, in which case nothing changed.
struct request_reply {
  enum class kind { ok, created, removed };
  kind what = kind::ok;
  nlohmann::json view;
  caf::error error;

  static request_reply ok(nlohmann::json v) { return {kind::ok, std::move(v), {}}; }
  static request_reply created(nlohmann::json v) { return {kind::created, std::move(v), {}}; }
  static request_reply removed() { return {kind::removed, {}, {}}; }
  static request_reply failed(caf::error e) { return {kind::ok, {}, std::move(e)}; }
  static request_reply failed(hub_errc x, std::string code, std::string message) {
    return failed(hub_error(x, std::move(code), std::move(message)));
  }
};
using reply_fn = std::function<void(request_reply)>;

// -- publishing -------------------------------------------------------------------------------

struct event_draft {
  std::string topic;
  std::string type;
  std::string data;            // compact JSON
  std::string idempotency_key{}; // empty: none
  bool ack = false;            // durable sessions must acknowledge it
  event_access access{};       // private / audience (auth/access.hpp)
  mercure_fields_ptr mercure{}; // a Mercure update's own fields (storage/mercure.hpp)
};

struct publish_outcome {
  std::vector<std::string> ids; // one per event, in request order
  caf::error error;             // set: nothing was published
};

/// A publish request from an io thread. `done` runs on the journal's thread after the write.
struct publish_job {
  std::vector<event_draft> events;
  std::function<void(publish_outcome)> done;
};
using publish_job_ptr = std::shared_ptr<publish_job>;

/// One committed event: its fields, shared by every queue it goes to; each transport renders it
/// at most once (delivery/item.hpp).
using committed_event = item_ptr;
using committed_batch = std::shared_ptr<const std::vector<committed_event>>;

// -- streams and replay -----------------------------------------------------------------------

using queue_ptr = std::shared_ptr<outbound_queue>;
using filter_ptr = std::shared_ptr<const topic_filter>;

/// A page of replay for one stream. Items with pos 0 are hub notices (herald.gap).
struct replay_page {
  std::vector<item_ptr> items;
  std::uint64_t scanned_through = 0;
  std::uint64_t gap_through = 0; // a herald.gap notice covers positions up to here
};

/// A page of the log for a filter, as GET /v1/events answers it.
struct events_page {
  std::uint32_t epoch = 0;
  std::vector<event_record> events;
  std::uint64_t scanned_through = 0; // the next page starts after it
  std::uint64_t head = 0;            // the log's head when the page was read
  std::optional<log_gap> gap;        // events the client may have missed (retention)
  bool unknown_log = false;          // the client's position came from another log
  caf::error error;                  // set: the read failed (storage_failure)
};

/// GET /v1/events: answered through `done` on the reader's thread.
struct events_query {
  filter_ptr filter;
  std::uint64_t after = 0;
  std::size_t limit = 100;
  bool unknown_log = false; // `after` came from another log: report a gap, start at the beginning
  std::function<void(events_page)> done;
};
using events_query_ptr = std::shared_ptr<events_query>;

/// GET /metrics: RocksDB's figures, answered through `done` on the reader's thread.
struct figures_query {
  std::function<void(storage_figures)> done;
};
using figures_query_ptr = std::shared_ptr<figures_query>;

/// POST /v1/admin/backup: a checkpoint of the database in `dir`, answered through `done` on the
/// reader's thread with the error (if any) and the log's head at the copy.
struct backup_request {
  std::string dir;
  std::function<void(std::optional<std::string> error, std::uint64_t head)> done;
};
using backup_request_ptr = std::shared_ptr<backup_request>;

// -- durable sessions -------------------------------------------------------------------------

/// A committed batch's events for one session's stream: every event of its subscription in
/// positions (after, through], in log order.
struct session_batch {
  queue_ptr queue; // the stream it was routed for
  std::uint64_t after = 0;
  std::uint64_t through = 0;
  std::vector<committed_event> events;
};
using session_batch_ptr = std::shared_ptr<const session_batch>;

/// A page of a session's catch-up read. `gap` (may be null) is a herald.gap notice for events
/// retention deleted before the session received them, covering positions up to `gap_through`.
struct event_page {
  std::vector<committed_event> events;
  std::uint64_t scanned_through = 0;
  item_ptr gap;
  std::uint64_t gap_through = 0;
};

/// A request on a durable session. `done` runs on the session's thread.
struct session_request {
  enum class op { put, get, remove, ack, dead_letters, redrive };
  op what = op::get;
  std::string id;
  nlohmann::json body;         // put, ack, redrive: the validated JSON body
  std::uint64_t after = 0;     // dead_letters: page after this position
  std::size_t limit = 100;     // dead_letters: page size
  principal_ptr who;           // who asks (sessions belong to the sub that created them)
  reply_fn done;
};
using session_request_ptr = std::shared_ptr<session_request>;

using session_write_ptr = std::shared_ptr<const session_write>;

// -- jobs -------------------------------------------------------------------------------------

/// A job request: an update (PUT) when `update` is set, a snapshot read (GET) otherwise. `done`
/// runs on the watcher's thread.
struct job_request {
  std::string id;
  std::optional<std::string> update; // the PUT body, validated as JSON by the watcher
  reply_fn done;
};
using job_request_ptr = std::shared_ptr<job_request>;

/// The answer of an upstream status URL (status 0: the request failed, see `error`).
struct upstream_reply {
  int status = 0;
  std::string body;
  std::string error;
};

/// Fetches an upstream status URL; the callback may run on any thread.
using upstream_fetch = std::function<void(const std::string& url, std::chrono::milliseconds timeout,
                                          std::function<void(upstream_reply)> done)>;

/// Builds the JSON data of a herald.gap notice.
std::string gap_notice_json(std::uint32_t epoch, const log_gap& gap);

// -- typed interfaces ---------------------------------------------------------------------------
// The compiler checks every message to these actors against their interface. A handle with more
// signatures converts to one with fewer, so each user can ask only for what it needs.

/// Receives committed batches in log order (the dispatcher; a journal's tests use a sink).
using batch_sink = caf::typed_actor<caf::reacts_to<deliver_atom, committed_batch>>;

/// The journal: positions, group commit, retention (see journal.hpp).
using journal_handle = caf::typed_actor<
  caf::reacts_to<publish_atom, publish_job_ptr>,
  caf::replies_to<session_put_atom, session_write_ptr>::with<bool>,
  // id, snapshot (empty: retire), the position it is built on => its position (cluster mode;
  // 0: one node, stored)
  caf::replies_to<job_put_atom, std::string, std::string, std::uint64_t>::with<std::uint64_t>,
  caf::reacts_to<commit_atom>,     // to itself: the end of a mailbox drain
  caf::reacts_to<retention_atom>>; // to itself: the age-retention timer

/// Cluster mode: the node's tail of the shared log (see cluster_tail.hpp).
using cluster_tail_handle = caf::typed_actor<
  caf::reacts_to<poll_atom>,       // to itself: read and apply the next messages
  caf::reacts_to<retention_atom>>; // to itself: the age-retention timer

/// The dispatcher: the one ordered fan-out path (see dispatcher.hpp).
using dispatcher_handle = caf::typed_actor<
  caf::reacts_to<deliver_atom, committed_batch>,
  caf::replies_to<attach_atom, queue_ptr, filter_ptr>::with<std::uint64_t>,
  caf::replies_to<tail_atom, queue_ptr, filter_ptr>::with<std::uint64_t>,
  caf::reacts_to<detach_atom>,
  caf::replies_to<shutdown_atom, std::uint64_t, std::uint64_t>::with<std::uint64_t>,
  caf::reacts_to<heartbeat_atom>>; // to itself: the streams' timer

/// The log reader: every read of stored state (see log_reader.hpp).
using reader_handle = caf::typed_actor<
  caf::replies_to<replay_atom, filter_ptr, std::uint64_t, std::uint64_t>::with<replay_page>,
  caf::replies_to<scan_atom, filter_ptr, std::uint64_t, std::uint64_t>::with<event_page>,
  caf::replies_to<fetch_atom, std::vector<std::uint64_t>>::with<std::vector<event_record>>,
  caf::replies_to<dead_atom, std::string, std::uint64_t,
                  std::uint64_t>::with<std::vector<dead_letter_record>>,
  caf::replies_to<dead_atom, std::string,
                  std::vector<std::uint64_t>>::with<std::vector<dead_letter_record>>,
  caf::replies_to<restore_atom, std::string>::with<stored_session>,
  caf::replies_to<job_get_atom, std::string>::with<stored_job>,
  caf::replies_to<mercure_id_atom, std::string>::with<std::uint64_t>,
  caf::reacts_to<query_atom, events_query_ptr>,
  caf::reacts_to<figures_atom, figures_query_ptr>,
  caf::reacts_to<backup_atom, backup_request_ptr>>;

} // namespace herald

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::publish_job_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::committed_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::queue_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::filter_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::replay_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::events_query_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::figures_query_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::backup_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::job_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::stored_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::upstream_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::session_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<herald::event_id>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::event_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::session_request_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::session_write_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<herald::event_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<herald::dead_letter_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::stored_session)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::principal_ptr)
