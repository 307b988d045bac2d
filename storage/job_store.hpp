#pragma once
// Job snapshots: job id -> the job's snapshot (JSON text), with the log's durability.
//
// Column family:
//   jobs  job id -> snapshot

#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace herald {

class job_store {
public:
  static std::vector<column_spec> columns();

  explicit job_store(database& db);

  /// The job's snapshot, if stored.
  lookup<std::string> get(const std::string& id) const;

  /// Writes (or, with an empty value, deletes) a snapshot. The error, if the write failed.
  std::optional<std::string> put(const std::string& id, const std::string& value);

private:
  database& db_;
  rocksdb::ColumnFamilyHandle* jobs_cf_;
};

} // namespace herald
