#pragma once
// The RocksDB database: one handle, column families by name, and the one place where a
// rocksdb::Status becomes Herald's storage error. The stores (event_log, idempotency_store,
// job_store, session_store) are built on it, each owning its column families.
//
// Threading: RocksDB calls block, so they run only on storage threads: the journal's and the log
// reader's (both detached actors) and the main thread while it opens and closes storage. Every
// store checks this (storage_thread::check) so that a regression, such as a RocksDB call from an
// actor on the shared scheduler, fails loudly in tests instead of stalling other actors.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
class Env;
class ColumnFamilyHandle;
struct ColumnFamilyOptions;
class Iterator;
class Slice;
class Status;
class WriteBatch;
} // namespace rocksdb

namespace herald {

enum class durability { process, fsync };

/// A read that can fail: a value (absent when nothing is stored), or the storage error. An I/O
/// error is never read as "not found".
template <class T>
struct lookup {
  std::optional<T> value;
  std::optional<std::string> error;

  bool ok() const { return !error.has_value(); }
};

/// What RocksDB says about itself, for the metrics (summed over every column family).
struct storage_figures {
  std::uint64_t live_data_bytes = 0;          // rocksdb.estimate-live-data-size
  std::uint64_t sst_files_bytes = 0;          // rocksdb.total-sst-files-size
  std::uint64_t memtable_bytes = 0;           // rocksdb.cur-size-all-mem-tables
  std::uint64_t pending_compaction_bytes = 0; // rocksdb.estimate-pending-compaction-bytes
  std::uint64_t write_stopped = 0;            // rocksdb.is-write-stopped (0 or 1)
  std::uint64_t delayed_write_rate = 0;       // rocksdb.actual-delayed-write-rate (0: no stall)
  std::uint64_t wal_syncs = 0;                // WAL fsyncs (fsync mode) since the database opened
};

/// Marks the threads that may call RocksDB.
struct storage_thread {
  /// The calling thread may call RocksDB from now on (storage actors call it when they start).
  static void claim();
  /// Whether the calling thread has claimed.
  static bool claimed();
  /// Aborts with a message naming `what` when the calling thread has not claimed.
  static void check(const char* what);
};

/// A column family a store needs, and how to tune it.
struct column_spec {
  std::string name;
  std::function<void(rocksdb::ColumnFamilyOptions&)> tune; // may be empty
};

class database {
public:
  /// Opens (creating if needed) the database under `dir` with `columns` (the default family is
  /// always there, as "default"). Nullptr and `error` on failure.
  /// `env` (may be null: RocksDB's default) is the caller's own environment, e.g. one that
  /// injects I/O errors in tests.
  static std::unique_ptr<database> open(const std::string& dir, durability mode,
                                        const std::vector<column_spec>& columns,
                                        std::string& error, rocksdb::Env* env = nullptr);
  ~database();

  database(const database&) = delete;
  database& operator=(const database&) = delete;

  rocksdb::DB& db() { return *db_; }

  /// The directory it was opened in.
  const std::string& dir() const { return dir_; }

  /// The handle of column family `name` (a programming error, and a throw, if not opened).
  rocksdb::ColumnFamilyHandle* column(std::string_view name) const;

  /// Writes `batch` atomically: WAL always, fsynced when `durable` and the mode is fsync.
  /// A batch that stores anything is refused (an error; RocksDB is not touched, so writing goes
  /// on once space is freed) while the data directory's filesystem has less than
  /// min_free_bytes() available; a batch of deletes alone is always written (it frees space).
  std::optional<std::string> write(rocksdb::WriteBatch& batch, const char* what,
                                   bool durable = true);

  /// storage.min_free_bytes (0: no check). Free space is read at most every 100 ms.
  void set_min_free_bytes(std::uint64_t bytes) { min_free_bytes_ = bytes; }
  std::uint64_t min_free_bytes() const { return min_free_bytes_; }

  /// The value of `key` in `cf`: nothing when not stored, the error (prefixed `what`) when the
  /// read failed.
  lookup<std::string> get(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                          const char* what);

  /// RocksDB's own figures (a storage thread reads them).
  storage_figures figures();

  /// Makes sure everything written so far is in the WAL file (used at shutdown).
  void flush();

  /// A consistent copy of the whole database in `dir`, which must not exist (a RocksDB checkpoint:
  /// table files hard-linked when `dir` is on the same filesystem, copied otherwise; memtables
  /// flushed first). A hub started on `dir` starts from this moment. The error, if any.
  std::optional<std::string> checkpoint(const std::string& dir);

  durability mode() const { return mode_; }

  /// "<what>: <status>" for a failed status; nullopt for ok.
  static std::optional<std::string> error_of(const rocksdb::Status& st, const char* what);

  /// The iterator's status after a scan, as an error (a scan that stopped on an I/O error must
  /// not look like the end of the data).
  static std::optional<std::string> error_of(const rocksdb::Iterator& it, const char* what);

private:
  database() = default;

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  std::vector<std::pair<std::string, rocksdb::ColumnFamilyHandle*>> columns_;
  durability mode_ = durability::process;
  // RocksDB stops writing after a failed write (until reopened). Set by the journal's thread,
  // read by whichever thread closes the database.
  std::atomic<bool> write_failed_{false};
  /// Why a storing write is refused now (the disk is nearly full), if it is.
  std::optional<std::string> space_refusal();
  std::atomic<std::uint64_t> min_free_bytes_{0};
  // The free space last read, and when to read it again (steady clock, ns). Writers on more
  // than one storage thread (the journal, cluster mode's tail) share them.
  std::atomic<std::uint64_t> free_bytes_{~std::uint64_t{0}};
  std::atomic<std::int64_t> next_space_check_ns_{0};
  std::atomic<std::uint64_t> wal_syncs_{0}; // synced writes (fsync mode)
};

/// Iterates over the keys of `cf` that start with `prefix` (bounded with iterate_upper_bound,
/// so RocksDB stops at the prefix's end), from `start` (>= prefix). Calls fn(key, value) until
/// it returns false. Returns the scan's error, if any.
std::optional<std::string> scan_prefix(
  rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::string_view prefix,
  std::string_view start,
  const std::function<bool(std::string_view key, std::string_view value)>& fn, const char* what);

/// The smallest key above every key that starts with `prefix` ("" if there is none).
std::string prefix_end(std::string_view prefix);

} // namespace herald
