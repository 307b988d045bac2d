#include "storage/hub_storage.hpp"

namespace herald {

std::shared_ptr<hub_storage> hub_storage::open(const std::string& dir, durability mode,
                                               std::string& error, rocksdb::Env* env) {
  auto marks = std::make_shared<retention_marks>();
  std::vector<column_spec> columns;
  for (auto&& part : {event_log::columns(marks), idempotency_store::columns(), job_store::columns(),
                      session_store::columns()})
    columns.insert(columns.end(), part.begin(), part.end());
  std::shared_ptr<hub_storage> out{new hub_storage};
  out->db_ = database::open(dir, mode, columns, error, env);
  if (!out->db_)
    return nullptr;
  out->dedup_ = std::make_unique<idempotency_store>(*out->db_);
  out->log_ = event_log::open(*out->db_, out->dedup_.get(), marks, error);
  if (!out->log_)
    return nullptr;
  out->jobs_ = std::make_unique<job_store>(*out->db_);
  out->sessions_ = std::make_unique<session_store>(*out->db_);
  return out;
}

} // namespace herald
