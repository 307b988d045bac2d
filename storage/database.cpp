#include "storage/database.hpp"

#include <sys/statvfs.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

namespace herald {
namespace {

thread_local bool storage_claimed = false;

} // namespace

void storage_thread::claim() {
  storage_claimed = true;
}

bool storage_thread::claimed() {
  return storage_claimed;
}

void storage_thread::check(const char* what) {
  if (storage_claimed)
    return;
  // A blocking RocksDB call on a thread that is not a storage thread (most likely a scheduler
  // worker): every actor on that worker would stall behind the disk. A bug, never input.
  std::fprintf(stderr, "herald: storage call '%s' on a thread that is not a storage thread\n",
               what);
  std::abort();
}

std::unique_ptr<database> database::open(const std::string& dir, durability mode,
                                         const std::vector<column_spec>& columns,
                                         std::string& error, rocksdb::Env* env) {
  storage_thread::check("open");
  rocksdb::Options opts;
  if (env != nullptr)
    opts.env = env;
  opts.create_if_missing = true;
  opts.create_missing_column_families = true;
  opts.IncreaseParallelism(2);
  opts.max_background_jobs = 2;
  opts.keep_log_file_num = 4;
  // Memtable insert hints are ignored by concurrent memtable writes; the journal is the one
  // writer that matters, and RocksDB still serializes any other writer.
  opts.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{
    {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{}}};
  for (auto& c : columns) {
    rocksdb::ColumnFamilyOptions o;
    if (c.tune)
      c.tune(o);
    cfs.emplace_back(c.name, std::move(o));
  }
  std::unique_ptr<database> out{new database};
  out->dir_ = dir;
  out->mode_ = mode;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, cfs, &handles, &raw);
  if (!st.ok()) {
    error = "cannot open the event log in '" + dir + "': " + st.ToString();
    return nullptr;
  }
  out->db_.reset(raw);
  for (std::size_t i = 0; i < handles.size(); ++i)
    out->columns_.emplace_back(cfs[i].name, handles[i]);
  return out;
}

database::~database() {
  if (!db_)
    return;
  flush();
  for (auto& [name, h] : columns_)
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

rocksdb::ColumnFamilyHandle* database::column(std::string_view name) const {
  for (auto& [n, h] : columns_)
    if (n == name)
      return h;
  throw std::logic_error("no column family '" + std::string{name} + "' was opened");
}

std::optional<std::string> database::write(rocksdb::WriteBatch& batch, const char* what,
                                           bool durable) {
  storage_thread::check(what);
  if (batch.HasPut() || batch.HasMerge())
    if (auto refused = space_refusal())
      return std::string{what} + ": " + *refused;
  rocksdb::WriteOptions wo;
  wo.sync = durable && mode_ == durability::fsync;
  auto err = error_of(db_->Write(wo, &batch), what);
  if (err)
    write_failed_ = true;
  else if (wo.sync)
    wal_syncs_.fetch_add(1, std::memory_order_relaxed);
  return err;
}

std::optional<std::string> database::space_refusal() {
  auto min_free = min_free_bytes_.load(std::memory_order_relaxed);
  if (min_free == 0)
    return std::nullopt;
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now >= next_space_check_ns_.load(std::memory_order_relaxed)) {
    next_space_check_ns_.store(now + std::chrono::nanoseconds(std::chrono::milliseconds(100)).count(),
                               std::memory_order_relaxed);
    struct statvfs fs {};
    if (::statvfs(dir_.c_str(), &fs) == 0)
      free_bytes_.store(std::uint64_t{fs.f_bavail} * fs.f_frsize, std::memory_order_relaxed);
  }
  auto available = free_bytes_.load(std::memory_order_relaxed);
  if (available >= min_free)
    return std::nullopt;
  return "the disk is nearly full: " + std::to_string(available >> 20)
         + " MiB available under the data directory, storage.min_free_bytes is "
         + std::to_string(min_free >> 20) + " MiB; writing resumes when space is freed";
}

storage_figures database::figures() {
  storage_thread::check("storage figures");
  storage_figures f;
  auto sum = [&](const char* property) {
    std::uint64_t total = 0;
    for (auto& [name, h] : columns_) {
      std::uint64_t v = 0;
      if (db_->GetIntProperty(h, property, &v))
        total += v;
    }
    return total;
  };
  f.live_data_bytes = sum("rocksdb.estimate-live-data-size");
  f.sst_files_bytes = sum("rocksdb.total-sst-files-size");
  f.memtable_bytes = sum("rocksdb.cur-size-all-mem-tables");
  f.pending_compaction_bytes = sum("rocksdb.estimate-pending-compaction-bytes");
  db_->GetIntProperty("rocksdb.is-write-stopped", &f.write_stopped);
  db_->GetIntProperty("rocksdb.actual-delayed-write-rate", &f.delayed_write_rate);
  f.wal_syncs = wal_syncs_.load(std::memory_order_relaxed);
  return f;
}

lookup<std::string> database::get(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                  const char* what) {
  storage_thread::check(what);
  std::string v;
  auto st = db_->Get(rocksdb::ReadOptions{}, cf, rocksdb::Slice{key.data(), key.size()}, &v);
  if (st.IsNotFound())
    return {};
  if (auto err = error_of(st, what))
    return {std::nullopt, err};
  return {std::move(v), std::nullopt};
}

std::optional<std::string> database::checkpoint(const std::string& dir) {
  storage_thread::check("storage checkpoint");
  if (write_failed_)
    return std::string{"the database stopped writing after a failed write; restart the hub"};
  rocksdb::Checkpoint* raw = nullptr;
  if (auto err = error_of(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"))
    return err;
  std::unique_ptr<rocksdb::Checkpoint> cp{raw};
  return error_of(cp->CreateCheckpoint(dir), "checkpoint");
}

void database::flush() {
  // At shutdown: a failure here leaves what the WAL already holds, which is all a kill -9 keeps.
  // After a failed write RocksDB has stopped writing (its WAL writer is in error; touching it
  // again trips an assertion in Debian's build): nothing more can reach the WAL anyway.
  if (write_failed_)
    return;
  db_->FlushWAL(true).PermitUncheckedError();
}

std::optional<std::string> database::error_of(const rocksdb::Status& st, const char* what) {
  if (st.ok())
    return std::nullopt;
  return std::string{what} + ": " + st.ToString();
}

std::optional<std::string> database::error_of(const rocksdb::Iterator& it, const char* what) {
  return error_of(it.status(), what);
}

std::string prefix_end(std::string_view prefix) {
  std::string end{prefix};
  while (!end.empty()) {
    auto& c = end.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::optional<std::string> scan_prefix(
  rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::string_view prefix,
  std::string_view start,
  const std::function<bool(std::string_view key, std::string_view value)>& fn, const char* what) {
  storage_thread::check(what);
  rocksdb::ReadOptions ro;
  auto end = prefix_end(prefix);
  rocksdb::Slice upper{end};
  if (!end.empty())
    ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator(ro, cf)};
  for (it->Seek(rocksdb::Slice{start.data(), start.size()}); it->Valid(); it->Next()) {
    auto k = it->key();
    auto v = it->value();
    if (!fn({k.data(), k.size()}, {v.data(), v.size()}))
      break;
  }
  return database::error_of(*it, what);
}

} // namespace herald
