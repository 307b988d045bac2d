#pragma once
// Age retention, one round at a time, for the actors that own the local log's writes (the
// journal; in cluster mode the tail).

#include <chrono>
#include <cstddef>
#include <string>

#include <spdlog/spdlog.h>

#include "storage/hub_storage.hpp"
#include "storage/wall_clock.hpp"

namespace herald {

/// Deletes events older than `max_age` from `store`'s log, looking at up to `chunk` of them (and,
/// with `idempotency_keys`, up to `chunk` expired idempotency keys), and logs what it did. True
/// when it stopped at `chunk`: more may be due at once.
inline bool trim_by_age(hub_storage& store, std::chrono::seconds max_age, bool idempotency_keys,
                        std::size_t chunk = 10000) {
  auto cutoff = wall_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(max_age).count();
  std::string err;
  auto trim = store.log().trim_older_than(cutoff, chunk, err);
  if (idempotency_keys)
    store.dedup().trim(wall_ms(), chunk, err);
  if (!err.empty())
    spdlog::error("event=retention_failed error=\"{}\"", err);
  if (trim.deleted > 0)
    spdlog::info("event=retention_trim deleted={} reason=max_age", trim.deleted);
  return trim.more;
}

} // namespace herald
