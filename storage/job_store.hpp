#pragma once
// Job snapshots: job id -> the job's snapshot (JSON text), with the log's durability. In cluster
// mode each job also has a position: the sequence in the shared log of its newest accepted
// snapshot, on which the next change must be built (docs/architecture.md, "Scale-out"). A
// retired job's position is kept, so that every node decides alike on later changes of its id.
//
// Column families:
//   jobs           job id -> snapshot
//   job_positions  job id -> the snapshot's sequence in the shared log (8 bytes, big-endian)

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace herald {

/// A job's snapshot as a node knows it: its JSON text (empty: none) and, in cluster mode, its
/// sequence in the shared log (0: one node, or a snapshot the stream does not hold).
struct stored_job {
  std::string text;
  std::uint64_t position = 0;
};

class job_store {
public:
  static std::vector<column_spec> columns();

  explicit job_store(database& db);

  /// The job's snapshot and position (empty text: none stored).
  lookup<stored_job> get(const std::string& id) const;

  /// Writes a snapshot and its position (0: none), or with an empty value deletes the snapshot
  /// (a position stays). The error, if the write failed.
  std::optional<std::string> put(const std::string& id, const std::string& value,
                                 std::uint64_t position = 0);

private:
  database& db_;
  rocksdb::ColumnFamilyHandle* jobs_cf_;
  rocksdb::ColumnFamilyHandle* positions_cf_;
};

} // namespace herald
