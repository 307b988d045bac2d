#pragma once
// The cluster's shared log: one NATS JetStream stream that every node publishes its events to
// and tails, in order, into its local event log (docs/architecture.md, "Scale-out"). The stream
// sequence is an event's position on every node.
//
// Subjects: <stream>.ev.<base64url(topic)>, so the stream's per-subject limit is Herald's
// per-topic retention. The message body is the event as the log stores it (event_log::encode);
// Nats-Msg-Id is the publisher's idempotency key (or a random id), so JetStream's duplicate
// window makes retries idempotent across nodes. Job snapshots and durable sessions' changes
// travel in the same stream, on <stream>.job.<base64url(id)> and <stream>.sess.<base64url(id)>
// with the id in a Herald-Job or Herald-Session header (and the publisher's origin in
// Herald-Origin), so every node sees them in the same order as the events they are about. A job
// snapshot names the snapshot it was built on (Herald-Job-Base).
//
// Threading: publish() is called by one thread (the journal's), the tail by one other (the
// cluster tail's); connected() and info() from any thread. The NATS client reconnects by itself.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct __natsConnection;
struct __natsSubscription;
struct __jsCtx;

namespace herald {

struct shared_log_settings {
  std::vector<std::string> servers; // nats:// URLs
  std::string stream = "HERALD";
  std::uint64_t replicas = 3;
  std::string node_name;
  // The stream's limits, from Herald's retention and idempotency settings.
  std::uint64_t max_events_per_topic = 100000;
  std::chrono::seconds max_age{86400};
  std::chrono::seconds duplicate_window{120};
  std::chrono::milliseconds publish_timeout{5000};
};

/// What a message of the stream carries.
enum class shared_kind : std::uint8_t {
  event,   // an event (subject event_subject(topic)); its stored form (event_log::encode_record)
  job,     // a job snapshot (job_subject(id)); its JSON text
  session, // a durable session's change (session_subject(id)); encode_session_write
};

/// One message to publish, with its message id and (job, session) the id it is about.
struct shared_message {
  std::string subject;
  std::string body;
  std::string msg_id;
  shared_kind kind = shared_kind::event;
  std::string key{}; // the job's or session's id
};

/// One message of the stream, as the tail reads it.
struct tail_message {
  std::uint64_t seq = 0;
  std::uint64_t pending = 0; // messages of the stream after this one, as the server saw it
  std::string body;
  shared_kind kind = shared_kind::event;
  std::string key;    // the job's or session's id
  std::string origin; // the publishing process's origin() (session changes)
  std::uint64_t base = 0; // a job snapshot: the position of the snapshot it was built on
  bool has_base = false;  // (snapshots published before bases existed have none)
};

struct stream_state {
  std::uint64_t first = 0; // the first sequence the stream still holds (last + 1 when empty)
  std::uint64_t last = 0;  // the last sequence it assigned (0: none yet)
};

class shared_log {
public:
  /// Connects (failing when no server answers) and creates the stream, or brings its limits to
  /// `s` when they differ. Nullptr and `error` on failure.
  static std::unique_ptr<shared_log> open(const shared_log_settings& s, std::string& error);

  ~shared_log();
  shared_log(const shared_log&) = delete;
  shared_log& operator=(const shared_log&) = delete;

  /// The cluster's epoch: drawn from the stream's creation time, so every node agrees on it and a
  /// stream created again gets another.
  std::uint32_t epoch() const { return epoch_; }

  /// True while the client is connected to a server.
  bool connected() const;

  /// The stream's first and last sequence, asked of the cluster.
  std::optional<stream_state> state(std::string& error) const;

  /// Publishes `msgs` and waits (publish_timeout at most) for JetStream to acknowledge every one.
  /// `seqs[i]` is then the position of `msgs[i]`: a message id the stream had seen within its
  /// duplicate window gets the original's. The error when any was not acknowledged (some of the
  /// others may be stored; their retries carry the same message ids). `repeats`: how many were
  /// acknowledged as repeats of a message id stored before.
  std::optional<std::string> publish(const std::vector<shared_message>& msgs,
                                     std::vector<std::uint64_t>& seqs, std::size_t& repeats);

  /// Publishes job `id`'s snapshot, built on the job's snapshot at `base` (0: on none), and
  /// waits for JetStream's acknowledgement; `position` is then its sequence. Whether it takes
  /// effect is decided where the stream is applied, alike on every node: only when `base` is
  /// still the job's newest accepted snapshot there (cluster_tail.cpp).
  std::optional<std::string> publish_job(const std::string& id, const std::string& snapshot,
                                         std::uint64_t base, std::uint64_t& position);

  /// Starts tailing at sequence `from` (an ordered consumer: in order, without gaps the stream
  /// did not make, recreated by the client after a reconnect).
  std::optional<std::string> start_tail(std::uint64_t from);

  /// Ends the tail (start_tail begins another).
  void stop_tail();

  /// Appends up to `max` messages to `out`, waiting at most `wait` for the first. An error only
  /// when the subscription failed (a timeout is no error), or when the client reconnected since
  /// the tail started: then the caller starts it again from its head.
  std::optional<std::string> next(std::vector<tail_message>& out, std::size_t max,
                                  std::chrono::milliseconds wait);

  /// The subject of `topic`'s events, of job `id`'s snapshots, of session `id`'s changes.
  std::string event_subject(const std::string& topic) const;
  std::string job_subject(const std::string& id) const;
  std::string session_subject(const std::string& id) const;

  /// This process's random id, sent with its session changes: its tail skips them (the journal
  /// stored them already), while a later process on the same data dir applies them.
  const std::string& origin() const { return origin_; }

private:
  struct acks; // the acknowledgements of the batch being published
  shared_log() = default;

  shared_log_settings settings_;
  __natsConnection* conn_ = nullptr;
  __jsCtx* publisher_ = nullptr; // its ack handler fills acks_
  __jsCtx* tailer_ = nullptr;
  __natsSubscription* tail_ = nullptr;
  std::unique_ptr<acks> acks_;
  std::atomic<std::uint64_t> reconnects_{0}; // by the client's reconnected callback
  std::uint64_t tail_reconnects_ = 0;        // reconnects_ when the tail started
  std::uint32_t epoch_ = 0;
  std::string origin_;
};

} // namespace herald
