#include "storage/job_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/keys.hpp"

namespace herald {

std::vector<column_spec> job_store::columns() {
  return {{"jobs", {}}, {"job_positions", {}}};
}

job_store::job_store(database& db)
  : db_(db), jobs_cf_(db.column("jobs")), positions_cf_(db.column("job_positions")) {
  // nop
}

lookup<stored_job> job_store::get(const std::string& id) const {
  auto text = db_.get(jobs_cf_, id, "job read failed");
  if (!text.ok())
    return {std::nullopt, text.error};
  auto pos = db_.get(positions_cf_, id, "job read failed");
  if (!pos.ok())
    return {std::nullopt, pos.error};
  if (!text.value && !pos.value)
    return {};
  stored_job out{text.value.value_or(std::string{}), 0};
  if (pos.value && pos.value->size() == 8)
    out.position = keys::get_be64(pos.value->data());
  return {std::move(out), std::nullopt};
}

std::optional<std::string> job_store::put(const std::string& id, const std::string& value,
                                          std::uint64_t position) {
  rocksdb::WriteBatch batch;
  if (value.empty()) {
    batch.Delete(jobs_cf_, id);
  } else {
    batch.Put(jobs_cf_, id, value);
    if (position != 0) { // cluster mode (one node has no positions)
      std::string pos;
      keys::put_be64(pos, position);
      batch.Put(positions_cf_, id, pos);
    }
  }
  return db_.write(batch, "job write failed");
}

} // namespace herald
