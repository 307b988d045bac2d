#pragma once
// Durable sessions' state: records (settings and cursors), pending acknowledgements and dead
// letters. Written in one WriteBatch per journal drain (write()); read at start and by the log
// reader (a session's dead letters, a crashed session's state).
//
// Column families:
//   sessions        session id -> session record (JSON, see session_record.hpp)
//   session_pending id '\0' BE(position) -> BE(deliveries)  (delivered, not yet acknowledged)
//   session_dead    id '\0' BE(position) -> dead letter (JSON)

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"
#include "storage/session_record.hpp"

namespace herald {

/// Everything a session actor starts from.
struct stored_session {
  std::string id;
  session_record record;
  std::vector<pending_record> pending;
  std::uint64_t dead_letters = 0;
};

class session_store {
public:
  static std::vector<column_spec> columns();

  explicit session_store(database& db);

  /// Applies session changes in one WriteBatch, with the log's durability.
  std::optional<std::string> write(const std::vector<const session_write*>& writes);

  /// Every stored session with its pending entries and dead letter count. The ids of records
  /// that cannot be decoded go to `unreadable`; a read error to `error` (then nothing is
  /// returned: starting with part of the sessions would silently lose the rest).
  std::vector<stored_session> load_all(std::vector<std::string>& unreadable,
                                       std::optional<std::string>& error) const;

  /// One session's stored state (to restart it after a crash).
  lookup<stored_session> load(const std::string& id) const;

  /// A session's dead letters after position `after`, in log order, at most `limit`.
  lookup<std::vector<dead_letter_record>> read_dead(const std::string& id, std::uint64_t after,
                                                    std::size_t limit) const;

  /// Those of `positions` that are dead letters of session `id`.
  lookup<std::vector<dead_letter_record>> find_dead(
    const std::string& id, const std::vector<std::uint64_t>& positions) const;

private:
  /// Reads pending entries and counts dead letters of `s.id` into `s`.
  std::optional<std::string> load_parts(stored_session& s) const;

  database& db_;
  rocksdb::ColumnFamilyHandle* sessions_cf_;
  rocksdb::ColumnFamilyHandle* pending_cf_;
  rocksdb::ColumnFamilyHandle* dead_cf_;
};

} // namespace herald
