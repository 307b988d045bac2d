#pragma once
// Everything the hub keeps on disk: one database and its stores, opened together. Owned through
// a shared_ptr by the storage actors (journal, log reader) and the hub; the database closes when
// the last owner lets go.

#include <memory>
#include <string>

#include "storage/database.hpp"
#include "storage/event_log.hpp"
#include "storage/idempotency_store.hpp"
#include "storage/job_store.hpp"
#include "storage/session_store.hpp"

namespace herald {

class hub_storage {
public:
  /// Opens (creating if needed) the hub's data under `dir`. Nullptr and `error` on failure.
  /// `env`: see database::open.
  static std::shared_ptr<hub_storage> open(const std::string& dir, durability mode,
                                           std::string& error, rocksdb::Env* env = nullptr);

  database& db() { return *db_; }
  event_log& log() { return *log_; }
  idempotency_store& dedup() { return *dedup_; }
  job_store& jobs() { return *jobs_; }
  session_store& sessions() { return *sessions_; }

  /// The event log, sharing this storage's lifetime.
  static std::shared_ptr<event_log> log_of(const std::shared_ptr<hub_storage>& s) {
    return {s, s->log_.get()};
  }

private:
  hub_storage() = default;

  // Declaration order is destruction order in reverse: the stores go before the database.
  std::unique_ptr<database> db_;
  std::unique_ptr<idempotency_store> dedup_;
  std::unique_ptr<event_log> log_;
  std::unique_ptr<job_store> jobs_;
  std::unique_ptr<session_store> sessions_;
};

} // namespace herald
