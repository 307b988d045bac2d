#pragma once
// The event log: committed events in position order, a per-topic index, and retention. One of
// the stores on the database (storage/database.hpp); the journal is its one writer.
//
// Column families:
//   default      meta: "epoch" (u32), "head" (u64), "dropped_trim" (u64),
//                "lineage" (12 bytes per earlier log: BE32 epoch, BE64 last position it shares)
//   log          BE(position) -> event record
//   topic_index  topic '\0' BE(position) -> ""     (replay and count retention per topic)
//   topics       topic -> {count, trimmed_through}  (retention: what is deleted, gap detection)
//   mercure_ids  id -> BE(position)                 (a Mercure publisher's own event ids; the
//                                                    topic_index value of such an event is its
//                                                    id, so retention deletes both together)
// Keys are big-endian so that iteration order is numeric order.
//
// Retention deletes without writing a deletion per event: what it deleted of a topic is always
// its oldest events, through the topic's `trimmed_through` (and, for a topic with no events left,
// through the log's `dropped_trim`). Readers skip what is below that mark; a compaction filter on
// `log` and `topic_index` (retention_filter, also run when memtables are flushed) removes it from
// disk. Count retention is written in the same batch as the events that push a topic over its
// limit, so a topic's mark is exactly as durable as its events.
//
// Threading: append/apply/trim are called by one writer (the journal, or in cluster mode the
// tail); read/retention_gap are safe from any storage thread (RocksDB reads are thread-safe;
// the retention marks are behind a mutex, shared with the compaction filter on RocksDB's
// threads); epoch/head/topic_count from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/access.hpp"
#include "storage/database.hpp"
#include "storage/event_id.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {

class idempotency_store;

/// What retention deleted of each topic, shared by the log and the compaction filter that removes
/// those entries from disk (on RocksDB's threads, which may run before the log has read the marks
/// and after it is gone). Readers take `mtx`; the one writer changes them under it.
struct retention_marks {
  struct topic_meta {
    std::uint64_t count = 0;           // events retained
    std::uint64_t trimmed_through = 0; // every position of the topic up to here is deleted
  };
  mutable std::mutex mtx;
  std::map<std::string, topic_meta, std::less<>> topics;
  std::uint64_t dropped_trim = 0; // trimmed_through of topics whose last event was deleted
  bool loaded = false;            // until the log has read them, the filter deletes nothing

  /// Positions of `topic` up to the result are deleted (mtx held).
  std::uint64_t floor(std::string_view topic) const {
    auto it = topics.find(topic);
    return it != topics.end() ? it->second.trimmed_through : dropped_trim;
  }
};

struct event_record {
  std::uint64_t pos = 0;
  std::int64_t time_ms = 0; // wall clock at commit, milliseconds since the Unix epoch
  std::string topic;
  std::string type; // empty: no SSE `event:` field
  std::string data; // compact JSON text
  std::string idempotency_key{}; // empty: none; else remembered for the dedup window
  bool ack = false;            // durable sessions must acknowledge it
  event_access access{};       // who may see it (public when not restricted)
  /// A Mercure update's own fields (storage/mercure.hpp); null for a Herald event. Its data is
  /// then the text as published, not JSON.
  mercure_fields_ptr mercure{};
};

/// Events of the log in (from-1, to] may be missing for a subscription.
struct log_gap {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
};

struct log_page {
  std::vector<event_record> events;
  /// Every committed position <= scanned_through has been examined: the next page starts after it.
  std::uint64_t scanned_through = 0;
};

class event_log {
public:
  /// The column families the log needs (besides "default", where its meta lives). Their
  /// compaction filter removes what `marks` say retention deleted.
  static std::vector<column_spec> columns(const std::shared_ptr<retention_marks>& marks);

  /// Reads the log's meta from `db` (creating the epoch on first use) and its retention marks into
  /// `marks` (the same as given to columns()). `dedup` (may be null) remembers idempotency keys
  /// in the same write as their events.
  static std::unique_ptr<event_log> open(database& db, idempotency_store* dedup,
                                         std::shared_ptr<retention_marks> marks,
                                         std::string& error);

  ~event_log() = default;
  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  std::uint32_t epoch() const { return epoch_; }

  /// A copy of a log (a backup, storage/database.hpp checkpoint) is a new log that shares the
  /// original's history up to the copy's head. Marks the copy in `dir` so that the first hub to
  /// open it gives it an epoch of its own and records the original's (epoch, head) in its
  /// lineage: the original may go on writing positions after the head that the copy never had.
  static std::optional<std::string> mark_copy(const std::string& dir);

  /// `id` as an id of this log: an id of an earlier log in its lineage becomes this epoch's id of
  /// the same position, capped at the last position the two share (what the earlier log wrote
  /// after that is not here, and this log's later positions are other events). Other ids stay as
  /// they are (another log's ids are refused as unknown by their readers).
  event_id resolve(event_id id) const;
  /// The last committed position (0 when nothing was ever written).
  std::uint64_t head() const { return head_.load(std::memory_order_acquire); }

  // -- writer side (journal) -------------------------------------------------------------------

  /// A topic keeps at most `max` events (0: no limit): a write that takes a topic past it deletes
  /// the topic's oldest events in the same batch. Set before the first write.
  void keep_per_topic(std::uint64_t max) { max_per_topic_ = max; }

  /// Assigns positions to `events` and writes them in one WriteBatch (fsynced in fsync mode),
  /// with the idempotency keys of those that have one, remembered until `time_ms + window_ms`,
  /// and the count retention of their topics. Returns an error message on failure, in which case
  /// nothing was written.
  std::optional<std::string> append(std::vector<event_record>& events,
                                    std::int64_t dedup_window_ms = 0);

  /// Cluster mode: writes `events` at the positions they carry (the shared log's sequences, in
  /// ascending order), in one WriteBatch, and moves the head to `through` (>= the last of them).
  /// Positions up to `lost_through` (0: none) that this log will never hold (the shared log
  /// dropped them before this node read them) are marked deleted, so resumes from before them
  /// get a gap notice. Wakes wait_for_head. Nothing is written when `through` <= head.
  std::optional<std::string> apply(std::vector<event_record>& events, std::uint64_t through,
                                   std::uint64_t lost_through = 0);

  /// Cluster mode: takes the cluster's epoch. Only an empty log (or one of this epoch) can.
  std::optional<std::string> adopt_epoch(std::uint32_t epoch);

  struct age_trim {
    std::size_t deleted = 0;
    bool more = false; // stopped at `max_examined`: more may be due
  };
  /// Deletes events older than `cutoff_ms`, examining at most `max_examined` log entries (those
  /// count retention deleted already are stepped over until compaction removes them).
  age_trim trim_older_than(std::int64_t cutoff_ms, std::size_t max_examined, std::string& error);

  // -- reader side (storage threads) -----------------------------------------------------------

  /// Events matching `filter` after position `after`, in log order. Stops after `max_events`
  /// matches or after examining `max_scan` log entries. A read error is in `error`.
  log_page read(std::uint64_t after, const topic_filter& filter, std::size_t max_events,
                std::size_t max_scan, std::optional<std::string>* error = nullptr) const;

  /// The range of positions > after that retention deleted and that may have held events for
  /// `filter`; nullopt when nothing the subscription could have received was deleted.
  std::optional<log_gap> retention_gap(std::uint64_t after, const topic_filter& filter) const;

  std::size_t topic_count() const;

  /// Waits until the head is at least `pos` (cluster mode: applied by the tail); false on timeout.
  bool wait_for_head(std::uint64_t pos, std::chrono::milliseconds timeout) const;

  /// An event as the log stores it (and the cluster's shared log carries it), and back. The
  /// record's position is not part of it.
  static std::string encode_record(const event_record& e);
  static bool decode_record(const std::string& value, event_record& out);

  /// The event at `pos`, if it is still in the log.
  lookup<event_record> get(std::uint64_t pos) const;

  /// The position of the Mercure update its publisher gave `id` (the latest, if several were),
  /// while that update is retained.
  lookup<std::uint64_t> find_mercure_id(std::string_view id) const;

private:
  using topic_meta = retention_marks::topic_meta;

  event_log(database& db, std::shared_ptr<retention_marks> marks);
  /// read() for one exact topic: walks its index (and the log beside it) from `after`.
  /// Whether retention deleted `pos` of `topic` (which may still be on disk until compaction).
  bool deleted(std::string_view topic, std::uint64_t pos) const;
  log_page read_topic(const topic_filter& filter, std::uint64_t after, std::uint64_t h,
                      std::size_t max_events, std::optional<std::string>& error) const;
  static bool decode(const std::string& value, event_record& out, bool topic_only);
  /// Writes `events` (positions assigned) and moves the head to `through`.
  std::optional<std::string> write(std::vector<event_record>& events, std::uint64_t through,
                                   std::uint64_t lost_through, std::int64_t dedup_window_ms);
  /// Count retention for a write: `m` (a topic's meta with the write's `added` events counted)
  /// over the limit loses its oldest events, first those stored, then the write's own. Adds the
  /// deletion of their Mercure ids to `batch`; returns how many of the write's own it deleted.
  std::uint64_t trim_for_write(std::string_view topic, topic_meta& m, std::uint64_t added,
                               const std::vector<event_record>& events,
                               rocksdb::WriteBatch& batch, std::optional<std::string>& error);
  /// Retention deletes the update at `pos` whose publisher gave it `id`: forgets the id too,
  /// unless a later update took it.
  void forget_mercure_id(std::string_view id, std::uint64_t pos, rocksdb::WriteBatch& batch);

  database& db_;
  idempotency_store* dedup_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* topics_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* mercure_ids_cf_ = nullptr;
  std::uint32_t epoch_ = 0;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> lineage_; // earlier logs: (epoch, shared)
  std::atomic<std::uint64_t> head_{0};
  mutable std::mutex head_mtx_; // wait_for_head
  mutable std::condition_variable head_cv_;

  std::shared_ptr<retention_marks> marks_;
  std::uint64_t max_per_topic_ = 0; // 0: no count retention
  std::uint64_t age_trimmed_through_ = 0; // writer only: age trimming deleted everything up to here
};

} // namespace herald
