#include "storage/job_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace herald {

std::vector<column_spec> job_store::columns() {
  return {{"jobs", {}}};
}

job_store::job_store(database& db) : db_(db), jobs_cf_(db.column("jobs")) {
  // nop
}

lookup<std::string> job_store::get(const std::string& id) const {
  return db_.get(jobs_cf_, id, "job read failed");
}

std::optional<std::string> job_store::put(const std::string& id, const std::string& value) {
  rocksdb::WriteBatch batch;
  if (value.empty())
    batch.Delete(jobs_cf_, id);
  else
    batch.Put(jobs_cf_, id, value);
  return db_.write(batch, "job write failed");
}

} // namespace herald
