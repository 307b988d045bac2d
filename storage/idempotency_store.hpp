#pragma once
// Publish idempotency: an idempotency key -> the position of the event first published with it,
// until its window ends. Keys are written in the same WriteBatch as their events (event_log
// calls remember()), so a key is remembered exactly when its event exists.
//
// Column families:
//   dedup        idempotency key -> {position, expiry}
//   dedup_expiry BE(expiry) key -> ""     (expiry in time order)

#include <cstdint>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace herald {

class idempotency_store {
public:
  static std::vector<column_spec> columns();

  explicit idempotency_store(database& db);

  /// Adds `key` -> `pos`, valid until `expiry_ms`, to `batch`.
  void remember(rocksdb::WriteBatch& batch, const std::string& key, std::uint64_t pos,
                std::int64_t expiry_ms);

  /// The position of the event published with `key`, if its window is not over at `now_ms`.
  /// A read error is an error, never "not found" (that would publish a retry twice).
  lookup<std::uint64_t> find(const std::string& key, std::int64_t now_ms) const;

  /// Forgets at most `max_delete` keys whose window ended before `now_ms`.
  std::size_t trim(std::int64_t now_ms, std::size_t max_delete, std::string& error);

private:
  database& db_;
  rocksdb::ColumnFamilyHandle* keys_cf_;
  rocksdb::ColumnFamilyHandle* expiry_cf_;
};

} // namespace herald
