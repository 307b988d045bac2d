#pragma once
// The log reader: serves replay pages to connection actors, pages of events to GET /v1/events,
// and every other read of stored state (jobs, sessions' dead letters, a crashed session's state).
// Runs detached, on a storage thread: RocksDB reads block, and no other actor calls RocksDB.
// Reads are bounded per request (events, bytes, entries scanned) so one large replay cannot
// starve others. A read that fails answers with a storage_failure error, never with "nothing".

#include <memory>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/hub_storage.hpp"

namespace herald {

struct log_reader_state {
  std::shared_ptr<hub_storage> store;
  hub_stats* stats = nullptr;

  static inline const char* name = "log_reader";
};

using log_reader_actor = reader_handle::stateful_base<log_reader_state>;

inline constexpr std::size_t replay_page_events = 512;
inline constexpr std::size_t replay_page_scan = 65536;
inline constexpr std::size_t replay_page_bytes = 256 * 1024;

reader_handle::behavior_type log_reader(log_reader_actor* self,
                                        std::shared_ptr<hub_storage> store, hub_stats* stats);

/// A page of GET /v1/events (exposed for tests); `error` is set when the read failed.
events_page read_events_page(const event_log& log, const topic_filter& filter, std::uint64_t after,
                             std::size_t limit, bool unknown_log = false,
                             std::optional<std::string>* error = nullptr);

} // namespace herald
