#pragma once
// The outbound queue of one stream: the seam between actors (producers) and the socket's writer
// (consumer), whatever the transport. Thread-safe; no Asio and no wire format in here, so the
// actors and their tests can use it. It holds shared stream items (delivery/item.hpp); the
// writer renders them in its transport's encoding.
//
// Producers: the dispatcher pushes live events (with their log position); the connection actor
// pushes the preamble, replay pages, heartbeats and the final items. The writer takes
// everything queued at once and writes it with one gather write.
//
// Replay/live seam: after accept(live_from), live events are *held* while replay pages are
// pushed. The hold covers every matching event after `held_since_`; replay ends once it has
// scanned the log through `held_since_`, then the held events not already replayed follow. Every
// item with a position is enqueued only if its position is above the last one enqueued, so the
// stream is in log order with no duplicate, whatever the interleaving.
//
// Bounds: a stream is a slow consumer when the socket has not yet taken its previous write and
// the queued bytes (including that write) pass `max_bytes`: it is closed and the client resumes
// from its last id. A burst that arrives while no write is in flight is not held against the
// client: it gets its write first. So a queue holds at most `max_bytes` plus one committed batch,
// and its items are shared with every other subscriber (a queue entry costs a pointer). Held
// events are bounded by `max_bytes`; an overflowing hold is dropped and replay reads further.

#include <atomic>
#include <cstdint>
#include <memory>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "delivery/item.hpp"

namespace herald {

enum class close_reason {
  none,
  client_closed,
  write_error,
  slow_consumer,
  max_age,
  shutdown,
  topic_lost,
  rejected,
  server_error,
  session_replaced, // a durable session's newer stream took over
  session_deleted,  // the durable session was deleted or expired
  token_expired,    // the stream's token reached its exp
  timed_out,        // the peer stopped answering (WebSocket pings)
  protocol_error,   // the peer broke the protocol (WebSocket framing)
};

const char* to_string(close_reason r);

class outbound_queue {
public:
  using wake_fn = std::function<void()>;

  enum class take_kind {
    idle,    // nothing to do
    items,   // write `out` (after the response head, if not sent yet)
    reject,  // write the rejection response and close
    close,   // everything was written: close the stream
  };

  struct take_result {
    take_kind kind = take_kind::idle;
    std::size_t events = 0;        // events among `out`
    std::size_t bytes = 0;         // `out`'s size hints: pass them back to written()
    close_reason reason = close_reason::none;
    caf::error error;              // reject: why (the transport renders it)
  };

  /// A hub-wide sum of the bytes queued for writers: every queue adds what it holds and takes it
  /// back when it is written, dropped or the queue goes. Shared: a queue may outlive its hub.
  using byte_gauge = std::shared_ptr<std::atomic<std::int64_t>>;

  outbound_queue(std::size_t max_bytes, wake_fn wake, byte_gauge gauge = nullptr);
  ~outbound_queue();
  outbound_queue(const outbound_queue&) = delete;
  outbound_queue& operator=(const outbound_queue&) = delete;

  // -- connection actor ------------------------------------------------------------------------

  /// The subscription was accepted: the stream starts with `preamble` (retry, maybe a gap), then
  /// replay pages, then live events after position `live_from`.
  void accept(std::vector<item_ptr> preamble, std::uint64_t live_from);

  /// Appends a replay page. Returns true when replay is complete (the stream is live now).
  bool push_replay(const std::vector<item_ptr>& items, std::uint64_t scanned_through);

  /// An item outside the log (heartbeat): dropped if the queue is closing or over its bound.
  void push_control(item_ptr f);

  /// A hub notice outside the log (e.g. job.upstream_error): always queued on an open stream.
  void push_notice(item_ptr f);

  /// Refuses the stream before it started (e.g. a topic at its limit), with a Herald error.
  void reject(caf::error why);

  /// Writes `final_items` after what is queued, then closes the stream.
  void close_after_flush(close_reason why, std::vector<item_ptr> final_items);

  /// Calls `fn` once, from the writer, when the queued bytes fall to a quarter of the bound.
  void notify_when_drained(std::function<void()> fn);

  // -- dispatcher ------------------------------------------------------------------------------

  /// An event (by its position; a job stream uses versions as positions).
  void push_live(const item_ptr& f);

  /// A committed batch's matching events, in log order: one lock and at most one wake-up.
  void push_live(const std::vector<item_ptr>& events);

  // -- writer ----------------------------------------------------------------------------------

  /// Moves everything queued into `out`.
  take_result take(std::vector<item_ptr>& out);

  /// The last taken batch was written (`bytes`: its take_result's `bytes`).
  void written(std::size_t bytes);

  /// The socket is gone: drop everything, ignore further pushes.
  void mark_closed(close_reason why);

  // -- observers -------------------------------------------------------------------------------

  std::size_t queued_bytes() const;
  bool live() const;
  bool closed() const;
  /// The queue was closed at once (slow consumer, socket gone): nothing more is to be written.
  bool aborted() const;
  close_reason reason() const;
  /// The highest log position among the events the socket has taken (durable session cursors).
  std::uint64_t written_through() const;

private:
  enum class mode { pending, replaying, live, closing, closed, rejected };

  // All private helpers are called with mtx_ held; they return whether the writer must be woken.
  bool enqueue(item_ptr f, bool is_event);
  bool push_live_locked(const item_ptr& f);
  bool overflow_close();
  /// Brings the gauge in line with queued_bytes_ (nothing once closed).
  void sync_gauge();

  mutable std::mutex mtx_;
  const std::size_t max_bytes_;
  wake_fn wake_;
  mode mode_ = mode::pending;
  close_reason reason_ = close_reason::none;
  bool wake_pending_ = false;

  std::vector<item_ptr> queue_;
  std::size_t queue_events_ = 0;
  std::size_t queued_bytes_ = 0;   // queue_ + write in flight
  std::size_t inflight_bytes_ = 0; // taken by the writer, not yet written
  std::uint64_t last_pos_ = 0;     // highest position enqueued
  std::uint64_t taken_through_ = 0;   // last_pos_ when the writer took its current batch
  std::uint64_t written_through_ = 0; // ... when that batch was written

  std::vector<item_ptr> held_;
  std::size_t held_bytes_ = 0;
  std::uint64_t held_since_ = 0;   // held_ has every matching live event after this position

  byte_gauge gauge_;
  std::int64_t in_gauge_ = 0; // what this queue has added to gauge_

  caf::error reject_error_;
  std::function<void()> drained_;
};

} // namespace herald
