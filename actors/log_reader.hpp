#pragma once
// The log reader: serves replay pages to connection actors and pages of events to GET /v1/events.
// Runs detached: RocksDB reads block. Reads are bounded per request (events, bytes, entries
// scanned) so one large replay cannot starve others.

#include <memory>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"

namespace herald {

struct log_reader_state {
  std::shared_ptr<event_log> log;
  hub_stats* stats = nullptr;

  static inline const char* name = "log_reader";
};

using log_reader_actor = caf::stateful_actor<log_reader_state>;

inline constexpr std::size_t replay_page_events = 512;
inline constexpr std::size_t replay_page_scan = 65536;
inline constexpr std::size_t replay_page_bytes = 256 * 1024;

caf::behavior log_reader(log_reader_actor* self, std::shared_ptr<event_log> log, hub_stats* stats);

/// A page of GET /v1/events (exposed for tests).
events_page read_events_page(const event_log& log, const topic_filter& filter, std::uint64_t after,
                             std::size_t limit, bool unknown_log = false);

} // namespace herald
