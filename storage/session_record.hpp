#pragma once
// Durable sessions: what a client with a stable identity follows, and how far it got.
//
// A session is keyed by its owner's identity (today a client id chosen by the caller; later the
// `sub` of an authenticated token: the key is an opaque string either way). Its offline queue is
// the log itself plus two positions:
//   delivered_through  every event of the session up to here was written to one of its streams
//                      (where a stream with no Last-Event-ID starts)
//   ack_through        every ack-required event of the session up to here is pending,
//                      dead-lettered or acknowledged (never delivered as new again)
// Pending and dead-lettered events are stored per (session, position); see event_log.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/principal.hpp"

namespace herald {

struct session_settings {
  std::vector<std::string> topics;   // topic names or patterns
  std::uint64_t ack_wait_ms = 30000; // redeliver an unacknowledged event after this
  std::uint64_t max_pending = 1000;  // unacknowledged events outstanding at most
  std::uint64_t max_deliveries = 10; // then the event is dead-lettered
  std::uint64_t ttl_seconds = 86400; // the session expires after this long with no stream
};

struct session_record {
  session_settings settings;
  std::int64_t created_ms = 0;
  std::int64_t last_seen_ms = 0; // when its last stream ended (or it was created/updated)
  std::uint64_t delivered_through = 0;
  std::uint64_t ack_through = 0;
  /// The `sub` that created the session (empty: created without a token). Only it, or an admin,
  /// may use the session.
  std::string owner;
  /// Whose grants decide the session's events with access rules: the owner's token at its last
  /// PUT (the session gathers events while no stream is attached, so it keeps them).
  principal viewer;
  /// When (wall ms, strictly increasing per session) and through which process (cluster mode's
  /// origin) the settings and viewer were last set: of two records, the settings of the later
  /// win on every node, whatever order their writes reach it in (newer_settings).
  std::int64_t settings_ms = 0;
  std::string settings_origin{};
};

/// True when `a`'s settings were set after `b`'s (by time, then origin: one order everywhere).
bool newer_settings(const session_record& a, const session_record& b);

/// A stored pending (delivered, unacknowledged) event: how often it was delivered.
struct pending_record {
  std::uint64_t pos = 0;
  std::uint32_t deliveries = 0;
};

/// A stored dead letter.
struct dead_letter_record {
  std::uint64_t pos = 0;
  std::uint32_t deliveries = 0;
  std::string reason; // "max_deliveries" or "retention" (the event was deleted before an ack)
  std::int64_t time_ms = 0;
};

/// One atomic change to a session's stored state.
struct session_write {
  std::string id;
  std::optional<session_record> record; // set: store it
  bool erase = false;                   // delete the session with everything it holds
  std::vector<pending_record> put_pending;
  std::vector<std::uint64_t> del_pending;
  std::vector<dead_letter_record> put_dead;
  std::vector<std::uint64_t> del_dead;
  /// Cluster mode, another node's write: the stored record keeps the larger of its own and this
  /// record's ack cursor, delivered cursor and last-seen time, and the settings set later
  /// (writes of several nodes may be stored out of their order; nothing goes back through them).
  bool merge_cursors = false;
  /// Cluster mode: a stream attached to the session at this wall time (ms), through the node
  /// whose process is `origin`. Other nodes end an older stream of the session (one stream per
  /// session, the newest wins, as on one node). `origin` is filled in by the receiving tail.
  std::int64_t attach_ms = 0;
  std::string origin{};
};

/// A session write as cluster mode's shared log carries it (JSON), and back; nullopt when the
/// text is not one.
std::string encode_session_write(const session_write& w);
std::optional<session_write> decode_session_write(std::string_view text);

/// Limits of the settings a client may ask for.
struct session_limits {
  std::size_t max_topics = 32;
};

/// Nullopt when `id` is a valid session id (1 to 128 of [A-Za-z0-9_.:@-]), else the reason.
std::optional<std::string> validate_session_id(std::string_view id);

/// Applies a PUT body to `current` (defaults for a new session). Unknown keys and values out of
/// range give the reason.
std::variant<session_settings, std::string> parse_session_settings(const nlohmann::json& body,
                                                                   const session_settings& current,
                                                                   const session_limits& limits);

std::string encode_session(const session_record& r);
std::optional<session_record> decode_session(std::string_view text);

std::string encode_dead_letter(const dead_letter_record& d);
std::optional<dead_letter_record> decode_dead_letter(std::uint64_t pos, std::string_view text);

} // namespace herald
