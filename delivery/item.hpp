#pragma once
// What travels through a stream's outbound queue, independent of any transport: committed events
// (their fields), hub notices (herald.gap, herald.shutdown, ...), retry hints and heartbeats.
//
// Serialize once, per transport: an item is immutable and shared by every queue it is pushed
// to; each transport's wire frame for it is built at most once, lazily, by the first writer that
// needs it (std::call_once), and then shared by every subscriber of that transport. Actors build
// items; only the net layer renders frames (net/sse_encoding.hpp).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "auth/access.hpp"
#include "storage/mercure.hpp"

namespace herald {

enum class item_kind : std::uint8_t {
  event,     // a committed event (or a job snapshot): has an id clients resume from
  notice,    // a hub notice: `type` and JSON `data`, no id (Last-Event-ID does not move)
  retry,     // a reconnection delay hint
  heartbeat, // keeps idle connections open; clients ignore it
};

/// The wire encodings that cache frames. A transport adds its entry here.
enum class encoding : std::uint8_t { sse, sse_envelope, sse_mercure, ws, count };

class stream_item;
using item_ptr = std::shared_ptr<const stream_item>;

class stream_item {
public:
  using render_fn = std::string (*)(const stream_item&);

  item_kind kind = item_kind::event;
  std::uint64_t pos = 0;     // event: its position (queues order and deduplicate by it); else 0
  std::string id;            // event: the id a client resumes from
  std::string topic;         // event
  std::string type;          // event: optional; notice: its type ("herald.gap", ...)
  std::string data;          // event and notice: compact JSON text
  std::uint64_t retry_ms = 0; // retry
  bool ack = false;          // event: durable sessions must acknowledge it
  event_access access;       // event: who may see it (checked once per subscription)
  mercure_fields_ptr mercure; // event: a Mercure update's own fields (its data is then text)
  /// event: when it was committed (steady clock, ns; 0: read from storage, not live). Writers
  /// sample commit-to-socket latency from it.
  std::int64_t committed_ns = 0;

  /// Approximate wire size, the unit of a queue's byte bound (known before any rendering).
  std::size_t size_hint() const { return size_hint_; }

  /// This item's frame in encoding `e`, built by `render` on first use, then shared.
  const std::string& frame(encoding e, render_fn render) const;

  /// How many frames were built in encoding `e` since the process started (for tests/metrics).
  static std::uint64_t frames_built(encoding e);

  static item_ptr make_event(std::uint64_t pos, std::string id, std::string topic,
                             std::string type, std::string data, bool ack = false,
                             event_access access = {}, mercure_fields_ptr mercure = nullptr,
                             std::int64_t committed_ns = 0);
  static item_ptr make_notice(std::string type, std::string data_json);
  static item_ptr make_retry(std::uint64_t ms);
  static item_ptr make_heartbeat();

private:
  void compute_size_hint();

  std::size_t size_hint_ = 0;
  mutable std::array<std::once_flag, static_cast<std::size_t>(encoding::count)> built_;
  mutable std::array<std::string, static_cast<std::size_t>(encoding::count)> frames_;
};

/// A retry delay spread over [base, base + jitter) so that clients told to reconnect at the same
/// moment (shutdown, max age) do not all come back at once.
std::uint64_t jittered_retry_ms(std::uint64_t base, std::uint64_t jitter);

/// The end of a stream at shutdown: a herald.shutdown notice, then a retry hint.
std::vector<item_ptr> shutdown_items(std::uint64_t retry_ms);

} // namespace herald
