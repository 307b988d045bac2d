#include "storage/event_log.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include "storage/idempotency_store.hpp"
#include "storage/keys.hpp"

namespace herald {
namespace {

using namespace keys;

std::string index_key(std::string_view topic, std::uint64_t pos) {
  return owned_key(topic, pos);
}

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u16(out, s.size());
  out.append(s);
}

std::size_t get_u16(const char* p) {
  return (static_cast<std::size_t>(static_cast<unsigned char>(p[0])) << 8)
         | static_cast<unsigned char>(p[1]);
}

// The top bit of the time field marks an ack-required event (times are positive).
constexpr std::uint64_t ack_flag = std::uint64_t{1} << 63;
// The next bit marks an event with access rules, stored between its type and its data:
//   u8 private, u16 count, count x (u16 length, bytes)   (the audience)
constexpr std::uint64_t access_flag = std::uint64_t{1} << 62;
// The next marks a Mercure update, whose fields follow the access rules (if any):
//   u16 id length, id, u16 topic count, count x (u16 length, bytes), u64 retry
constexpr std::uint64_t mercure_flag = std::uint64_t{1} << 61;
constexpr std::uint64_t time_mask = ~(ack_flag | access_flag | mercure_flag);

std::string encode(const event_record& e) {
  std::string v;
  v.reserve(16 + e.topic.size() + e.type.size() + e.data.size());
  bool rules = e.access.restricted();
  put_be64(v, static_cast<std::uint64_t>(e.time_ms) | (e.ack ? ack_flag : 0)
                | (rules ? access_flag : 0) | (e.mercure ? mercure_flag : 0));
  put_u16(v, e.topic.size());
  v.append(e.topic);
  put_u16(v, e.type.size());
  v.append(e.type);
  if (rules) {
    v.push_back(e.access.is_private ? 1 : 0);
    put_u16(v, e.access.audience.size());
    for (auto& a : e.access.audience)
      put_str(v, a);
  }
  if (e.mercure) {
    auto& m = *e.mercure;
    put_str(v, m.id);
    put_u16(v, m.topics.size());
    for (auto& t : m.topics)
      put_str(v, t);
    put_be64(v, m.retry_ms);
  }
  v.append(e.data);
  return v;
}

const char* kEpoch = "epoch";
const char* kHead = "head";
const char* kDroppedTrim = "dropped_trim";
const char* kLineage = "lineage";
const char* kCopyMarker = "herald-copy"; // a file in the data dir of a copy not yet opened

/// The topic part of a topic_index key (topic '\0' BE(pos)): keys of one topic arrive in order.
class index_topic_prefix : public rocksdb::SliceTransform {
public:
  const char* Name() const override { return "herald.index_topic_prefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), key.size() - 8};
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() > 8; }
};

/// Options for a column family whose keys mostly arrive in order within `prefix`: the memtable
/// keeps an insert hint per prefix, so an append costs a few comparisons instead of a skip-list
/// search (the journal's writes are the hub's hottest path).
void hint_inserts(rocksdb::ColumnFamilyOptions& o, const rocksdb::SliceTransform* prefix) {
  o.memtable_insert_with_hint_prefix_extractor.reset(prefix);
}

/// Removes what retention deleted (retention_marks) from `log` or `topic_index` entries as
/// RocksDB writes table files: at flushes (most trimmed events never reach a table file) and
/// compactions. One filter per RocksDB thread of work; marks only rise, so the mark it read last
/// for a topic can be used again (at worst it keeps an entry the next compaction removes).
class retention_filter : public rocksdb::CompactionFilter {
public:
  retention_filter(std::shared_ptr<const retention_marks> marks, bool index)
    : marks_(std::move(marks)), index_(index) {}

  const char* Name() const override { return "herald.retention"; }

  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    std::string_view topic;
    std::uint64_t pos = 0;
    if (index_) { // topic '\0' BE(pos)
      if (key.size() < 9)
        return false;
      topic = {key.data(), key.size() - 9};
      pos = get_be64(key.data() + key.size() - 8);
    } else { // BE(pos) -> time (8), u16 topic length, topic, ...
      if (key.size() != 8 || value.size() < 10)
        return false;
      auto len = get_u16(value.data() + 8);
      if (value.size() < 10 + len)
        return false;
      topic = {value.data() + 10, len};
      pos = get_be64(key.data());
    }
    if (!cached_ || topic != last_topic_ || pos > last_floor_) {
      std::lock_guard<std::mutex> guard{marks_->mtx};
      if (!marks_->loaded)
        return false;
      last_topic_.assign(topic);
      last_floor_ = marks_->floor(topic);
      cached_ = true;
    }
    return pos <= last_floor_;
  }

private:
  std::shared_ptr<const retention_marks> marks_;
  bool index_;
  mutable bool cached_ = false;
  mutable std::string last_topic_;
  mutable std::uint64_t last_floor_ = 0;
};

class retention_filter_factory : public rocksdb::CompactionFilterFactory {
public:
  retention_filter_factory(std::shared_ptr<const retention_marks> marks, bool index)
    : marks_(std::move(marks)), index_(index) {}

  const char* Name() const override { return "herald.retention"; }

  bool ShouldFilterTableFileCreation(rocksdb::TableFileCreationReason reason) const override {
    return reason == rocksdb::TableFileCreationReason::kFlush
           || reason == rocksdb::TableFileCreationReason::kCompaction;
  }

  std::unique_ptr<rocksdb::CompactionFilter>
  CreateCompactionFilter(const rocksdb::CompactionFilter::Context&) override {
    return std::make_unique<retention_filter>(marks_, index_);
  }

private:
  std::shared_ptr<const retention_marks> marks_;
  bool index_;
};

/// Positions `it` (over the log) at `pos`: steps forward when `pos` is a few entries ahead
/// (cheap), seeks otherwise. False if the log has no entry there.
bool seek_log(rocksdb::Iterator& it, std::uint64_t pos) {
  constexpr std::uint64_t max_steps = 8;
  auto at = [&] { return get_be64(it.key().data()); };
  if (it.Valid() && at() < pos && pos - at() <= max_steps) {
    while (it.Valid() && at() < pos)
      it.Next();
  } else if (!it.Valid() || at() != pos) {
    it.Seek(pos_key(pos));
  }
  return it.Valid() && at() == pos;
}

/// Reads an optional 8-byte meta value into `out`; absent leaves it. The error, if unreadable.
std::optional<std::string> read_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf,
                                     const char* key, std::uint64_t& out) {
  std::string v;
  auto st = db.Get(rocksdb::ReadOptions{}, cf, key, &v);
  if (st.IsNotFound())
    return std::nullopt;
  if (!st.ok() || v.size() != 8)
    return "cannot read the log's '" + std::string{key}
           + "': " + (st.ok() ? std::string{"wrong size"} : st.ToString());
  out = get_be64(v.data());
  return std::nullopt;
}

} // namespace

std::vector<column_spec> event_log::columns(const std::shared_ptr<retention_marks>& marks) {
  return {
    {"log",
     [marks](auto& o) {
       hint_inserts(o, rocksdb::NewCappedPrefixTransform(0)); // one prefix: positions ascend
       o.compaction_filter_factory = std::make_shared<retention_filter_factory>(marks, false);
     }},
    {"topic_index",
     [marks](auto& o) {
       hint_inserts(o, new index_topic_prefix);
       o.compaction_filter_factory = std::make_shared<retention_filter_factory>(marks, true);
     }},
    {"topics", {}},
    {"mercure_ids", {}},
  };
}

event_log::event_log(database& db, std::shared_ptr<retention_marks> marks)
  : db_(db),
    meta_cf_(db.column("default")),
    log_cf_(db.column("log")),
    index_cf_(db.column("topic_index")),
    topics_cf_(db.column("topics")),
    mercure_ids_cf_(db.column("mercure_ids")),
    marks_(std::move(marks)) {
  // nop
}

std::unique_ptr<event_log> event_log::open(database& db, idempotency_store* dedup,
                                           std::shared_ptr<retention_marks> marks,
                                           std::string& error) {
  storage_thread::check("event log open");
  std::unique_ptr<event_log> log{new event_log(db, std::move(marks))};
  log->dedup_ = dedup;
  auto& raw = db.db();
  std::string v;
  auto st = raw.Get(rocksdb::ReadOptions{}, log->meta_cf_, kEpoch, &v);
  if (st.IsNotFound()) {
    std::random_device rd;
    log->epoch_ = static_cast<std::uint32_t>(rd());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    st = raw.Put(wo, log->meta_cf_, kEpoch, pos_key(log->epoch_));
  } else if (st.ok() && v.size() == 8) {
    log->epoch_ = static_cast<std::uint32_t>(get_be64(v.data()));
  } else if (st.ok()) {
    st = rocksdb::Status::Corruption("meta 'epoch' has the wrong size");
  }
  if (auto err = database::error_of(st, "cannot read the log epoch")) {
    error = *err;
    return nullptr;
  }
  std::uint64_t head = 0;
  std::uint64_t dropped_trim = 0;
  std::map<std::string, topic_meta, std::less<>> topics;
  auto err = read_meta(raw, log->meta_cf_, kHead, head);
  if (!err)
    err = read_meta(raw, log->meta_cf_, kDroppedTrim, dropped_trim);
  if (!err)
    err = scan_prefix(
      raw, log->topics_cf_, {}, {},
      [&](std::string_view k, std::string_view val) {
        if (val.size() == 16)
          topics[std::string{k}] = topic_meta{get_be64(val.data()), get_be64(val.data() + 8)};
        return true;
      },
      "cannot read the topics' retention state");
  if (err) {
    error = *err;
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> guard{log->marks_->mtx};
    log->marks_->topics = std::move(topics);
    log->marks_->dropped_trim = dropped_trim;
    log->marks_->loaded = true;
  }
  log->head_ = head;
  std::string lineage;
  st = raw.Get(rocksdb::ReadOptions{}, log->meta_cf_, kLineage, &lineage);
  if (!st.ok() && !st.IsNotFound()) {
    error = *database::error_of(st, "cannot read the log's lineage");
    return nullptr;
  }
  auto marker = std::filesystem::path{db.dir()} / kCopyMarker;
  std::error_code ec;
  if (std::filesystem::exists(marker, ec)) {
    // The first open of a copy: a new epoch, and the old one into the lineage. Written
    // (synced) before the marker goes, so a crash in between only repeats this.
    std::random_device rd;
    auto old = log->epoch_;
    do
      log->epoch_ = static_cast<std::uint32_t>(rd());
    while (log->epoch_ == old);
    lineage += pos_key(old).substr(4) + pos_key(head);
    rocksdb::WriteBatch batch;
    batch.Put(log->meta_cf_, kEpoch, pos_key(log->epoch_));
    batch.Put(log->meta_cf_, kLineage, lineage);
    if (auto err = db.write(batch, "cannot start the copy's own epoch")) {
      error = *err;
      return nullptr;
    }
    db.db().FlushWAL(true).PermitUncheckedError();
    std::filesystem::remove(marker, ec);
    if (ec) {
      error = "cannot remove " + marker.string() + ": " + ec.message();
      return nullptr;
    }
  }
  for (std::size_t i = 0; i + 12 <= lineage.size(); i += 12) {
    std::uint32_t epoch = 0;
    for (std::size_t b = 0; b < 4; ++b)
      epoch = (epoch << 8) | static_cast<unsigned char>(lineage[i + b]);
    log->lineage_.emplace_back(epoch, get_be64(lineage.data() + i + 4));
  }
  return log;
}

std::optional<std::string> event_log::mark_copy(const std::string& dir) {
  std::ofstream out{std::filesystem::path{dir} / kCopyMarker};
  out << "a copy of a Herald log: its first hub gives it an epoch of its own\n";
  out.close();
  if (!out)
    return "cannot write " + (std::filesystem::path{dir} / kCopyMarker).string();
  return std::nullopt;
}

event_id event_log::resolve(event_id id) const {
  if (id.epoch == epoch_)
    return id;
  for (auto& [epoch, shared] : lineage_)
    if (id.epoch == epoch)
      return event_id{epoch_, std::min(id.pos, shared)};
  return id;
}

std::optional<std::string> event_log::append(std::vector<event_record>& events,
                                             std::int64_t dedup_window_ms) {
  if (events.empty())
    return std::nullopt;
  auto next = head() + 1;
  for (auto& e : events)
    e.pos = next++;
  // On failure positions were not consumed: the next append reuses them.
  return write(events, next - 1, 0, dedup_window_ms);
}

std::optional<std::string> event_log::apply(std::vector<event_record>& events,
                                            std::uint64_t through, std::uint64_t lost_through) {
  storage_thread::check("log apply");
  if (through <= head())
    return std::nullopt;
  if (auto err = write(events, through, lost_through, 0))
    return err;
  std::lock_guard<std::mutex> guard{head_mtx_};
  head_cv_.notify_all();
  return std::nullopt;
}

bool event_log::wait_for_head(std::uint64_t pos, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock{head_mtx_};
  return head_cv_.wait_for(lock, timeout, [&] { return head() >= pos; });
}

std::optional<std::string> event_log::adopt_epoch(std::uint32_t epoch) {
  if (epoch == epoch_)
    return std::nullopt;
  if (head() != 0 || !lineage_.empty())
    return "the data dir holds another log (its last event is " + format_event_id(epoch_, head())
           + ") than the cluster's (epoch " + format_event_id(epoch, 0).substr(0, 8)
           + "): a cluster node needs an empty data dir, or its own from this cluster";
  rocksdb::WriteBatch batch;
  batch.Put(meta_cf_, kEpoch, pos_key(epoch));
  if (auto err = db_.write(batch, "cannot write the cluster's epoch"))
    return err;
  epoch_ = epoch;
  return std::nullopt;
}

std::string event_log::encode_record(const event_record& e) {
  return encode(e);
}

bool event_log::decode_record(const std::string& value, event_record& out) {
  return decode(value, out, false);
}

std::optional<std::string> event_log::write(std::vector<event_record>& events,
                                            std::uint64_t through, std::uint64_t lost_through,
                                            std::int64_t dedup_window_ms) {
  rocksdb::WriteBatch batch;
  // Each topic's meta once this write is in, and how many of its events here are deleted at once
  // (a write of more than the topic's limit).
  struct change {
    std::uint64_t added = 0;
    std::uint64_t born_trimmed = 0;
    topic_meta meta{};
  };
  std::map<std::string_view, change> changes;
  for (auto& e : events)
    ++changes[e.topic].added;
  std::uint64_t dropped_trim = 0;
  {
    std::lock_guard<std::mutex> guard{marks_->mtx};
    dropped_trim = marks_->dropped_trim;
    for (auto& [topic, c] : changes) {
      auto it = marks_->topics.find(topic);
      // A topic new to the log (or back after age retention deleted all of it) starts at the
      // log's watermark: its entries below are deleted, some perhaps still on disk.
      c.meta = it != marks_->topics.end() ? it->second : topic_meta{0, marks_->dropped_trim};
      c.meta.count += c.added;
    }
  }
  std::optional<std::string> failed;
  for (auto& [topic, c] : changes) {
    if (max_per_topic_ > 0 && c.meta.count > max_per_topic_)
      c.born_trimmed = trim_for_write(topic, c.meta, c.added, events, batch, failed);
    if (failed)
      return failed;
    batch.Put(topics_cf_, rocksdb::Slice{topic.data(), topic.size()},
              pair_value(c.meta.count, c.meta.trimmed_through));
  }
  for (auto& e : events) {
    if (auto& c = changes.find(e.topic)->second; c.born_trimmed > 0) {
      --c.born_trimmed; // deleted by this very write: it never exists in the log
      continue;
    }
    batch.Put(log_cf_, pos_key(e.pos), encode(e));
    if (e.mercure && !e.mercure->id.empty()) {
      batch.Put(index_cf_, index_key(e.topic, e.pos), e.mercure->id);
      batch.Put(mercure_ids_cf_, e.mercure->id, pos_key(e.pos));
    } else {
      batch.Put(index_cf_, index_key(e.topic, e.pos), rocksdb::Slice{});
    }
    // In the same batch as the event: a key is remembered exactly when its event exists.
    if (!e.idempotency_key.empty() && dedup_window_ms > 0 && dedup_ != nullptr)
      dedup_->remember(batch, e.idempotency_key, e.pos, e.time_ms + dedup_window_ms);
  }
  batch.Put(meta_cf_, kHead, pos_key(through));
  if (lost_through > dropped_trim)
    batch.Put(meta_cf_, kDroppedTrim, pos_key(lost_through));
  if (auto err = db_.write(batch, "event log write failed"))
    return err;
  {
    std::lock_guard<std::mutex> guard{marks_->mtx};
    for (auto& [topic, c] : changes) {
      if (auto it = marks_->topics.find(topic); it != marks_->topics.end())
        it->second = c.meta;
      else
        marks_->topics.emplace(std::string{topic}, c.meta);
    }
    marks_->dropped_trim = std::max(marks_->dropped_trim, lost_through);
  }
  head_.store(through, std::memory_order_release);
  return std::nullopt;
}

std::uint64_t event_log::trim_for_write(std::string_view topic, topic_meta& m,
                                        std::uint64_t added, const std::vector<event_record>& events,
                                        rocksdb::WriteBatch& batch,
                                        std::optional<std::string>& error) {
  auto excess = m.count - max_per_topic_;
  auto stored = std::min(excess, m.count - added);
  std::uint64_t found = 0;
  if (stored > 0) {
    auto prefix = owner_prefix(topic);
    // From the first event not deleted yet: what is below is skipped by the seek.
    error = scan_prefix(
      db_.db(), index_cf_, prefix, index_key(topic, m.trimmed_through + 1),
      [&](std::string_view k, std::string_view v) {
        if (found >= stored)
          return false;
        auto pos = get_be64(k.data() + prefix.size());
        ++found;
        m.trimmed_through = pos;
        if (!v.empty())
          forget_mercure_id(v, pos, batch);
        return true;
      },
      "retention read failed");
    if (error)
      return 0;
  }
  // Past the stored events (or a count that was off, as after a crash in process mode): the
  // write's own oldest.
  auto own = excess - stored;
  for (std::uint64_t seen = 0, i = 0; own > 0 && i < events.size(); ++i)
    if (events[i].topic == topic && ++seen == own)
      m.trimmed_through = events[i].pos;
  m.count -= found + own;
  return own;
}

event_log::age_trim event_log::trim_older_than(std::int64_t cutoff_ms, std::size_t max_examined,
                                               std::string& error) {
  storage_thread::check("age retention");
  rocksdb::WriteBatch batch;
  std::vector<std::pair<std::string, std::uint64_t>> doomed;
  std::size_t examined = 0;
  std::uint64_t last = age_trimmed_through_;
  std::unique_ptr<rocksdb::Iterator> it{db_.db().NewIterator(rocksdb::ReadOptions{}, log_cf_)};
  for (it->Seek(pos_key(age_trimmed_through_ + 1)); it->Valid() && examined < max_examined;
       it->Next()) {
    event_record rec;
    auto value = it->value().ToString();
    if (!decode(value, rec, true) || rec.time_ms >= cutoff_ms)
      break;
    auto pos = get_be64(it->key().data());
    ++examined;
    last = pos;
    if (deleted(rec.topic, pos))
      continue; // deleted already (count retention), on disk until compaction
    if (is_internal_topic(rec.topic) && decode(value, rec, false) && rec.mercure
        && !rec.mercure->id.empty())
      forget_mercure_id(rec.mercure->id, pos, batch);
    doomed.emplace_back(std::move(rec.topic), pos);
  }
  if (auto err = database::error_of(*it, "retention read failed")) {
    error = *err;
    return {};
  }
  if (!doomed.empty()) {
    // Only the marks are written; the compaction filter removes the entries. A topic whose last
    // event goes is forgotten, its mark folded into the log's (a resume on it still gets a gap).
    std::map<std::string, topic_meta, std::less<>> after;
    std::uint64_t dropped = 0;
    {
      std::lock_guard<std::mutex> guard{marks_->mtx};
      dropped = marks_->dropped_trim;
      for (auto& [topic, pos] : doomed) {
        auto it = after.find(topic);
        if (it == after.end()) {
          auto known = marks_->topics.find(topic);
          if (known == marks_->topics.end())
            continue;
          it = after.emplace(topic, known->second).first;
        }
        auto& m = it->second;
        if (m.count > 0)
          --m.count;
        m.trimmed_through = std::max(m.trimmed_through, pos);
      }
    }
    auto dropped_before = dropped;
    for (auto& [topic, m] : after) {
      if (m.count == 0) {
        batch.Delete(topics_cf_, topic);
        dropped = std::max(dropped, m.trimmed_through);
      } else {
        batch.Put(topics_cf_, topic, pair_value(m.count, m.trimmed_through));
      }
    }
    if (dropped > dropped_before)
      batch.Put(meta_cf_, kDroppedTrim, pos_key(dropped));
    if (auto err = db_.write(batch, "retention write failed", false)) {
      error = *err; // nothing was deleted
      return {};
    }
    std::lock_guard<std::mutex> guard{marks_->mtx};
    for (auto& [topic, m] : after)
      if (m.count == 0)
        marks_->topics.erase(topic);
      else
        marks_->topics[topic] = m;
    marks_->dropped_trim = dropped;
  }
  age_trimmed_through_ = last; // the next trim starts after it
  return {doomed.size(), examined == max_examined};
}

bool event_log::decode(const std::string& v, event_record& out, bool topic_only) {
  if (v.size() < 12)
    return false;
  auto t = get_be64(v.data());
  out.ack = (t & ack_flag) != 0;
  out.time_ms = static_cast<std::int64_t>(t & time_mask);
  auto tlen = get_u16(v.data() + 8);
  if (v.size() < 12 + tlen)
    return false;
  out.topic.assign(v.data() + 10, tlen);
  if (topic_only)
    return true;
  auto off = 10 + tlen;
  auto ylen = get_u16(v.data() + off);
  off += 2;
  if (v.size() < off + ylen)
    return false;
  out.type.assign(v.data() + off, ylen);
  off += ylen;
  // A u16 count or length, then (for a string) its bytes; false past the end of the value.
  auto take_u16 = [&](std::size_t& into) {
    if (v.size() < off + 2)
      return false;
    into = get_u16(v.data() + off);
    off += 2;
    return true;
  };
  auto take = [&](std::string& into) {
    std::size_t len = 0;
    if (!take_u16(len) || v.size() < off + len)
      return false;
    into.assign(v.data() + off, len);
    off += len;
    return true;
  };
  out.access = event_access{};
  if ((t & access_flag) != 0) {
    if (v.size() < off + 1)
      return false;
    out.access.is_private = v[off++] != 0;
    std::size_t n = 0;
    if (!take_u16(n))
      return false;
    out.access.audience.resize(n);
    for (auto& a : out.access.audience)
      if (!take(a))
        return false;
  }
  out.mercure = nullptr;
  if ((t & mercure_flag) != 0) {
    auto m = std::make_shared<mercure_fields>();
    std::size_t n = 0;
    if (!take(m->id) || !take_u16(n))
      return false;
    m->topics.resize(n);
    for (auto& topic : m->topics)
      if (!take(topic))
        return false;
    if (v.size() < off + 8)
      return false;
    m->retry_ms = get_be64(v.data() + off);
    off += 8;
    out.mercure = std::move(m);
  }
  out.data.assign(v.data() + off, v.size() - off);
  return true;
}

bool event_log::deleted(std::string_view topic, std::uint64_t pos) const {
  std::lock_guard<std::mutex> guard{marks_->mtx};
  return pos <= marks_->floor(topic);
}

log_page event_log::read_topic(const topic_filter& filter, std::uint64_t after, std::uint64_t h,
                               std::size_t max_events, std::optional<std::string>& error) const {
  const auto& topic = filter.patterns().front();
  log_page page;
  page.scanned_through = h;
  std::uint64_t from = after;
  {
    // What retention deleted is not looked at (it may still be on disk).
    std::lock_guard<std::mutex> guard{marks_->mtx};
    from = std::max(from, marks_->floor(topic));
  }
  auto prefix = owner_prefix(topic);
  auto end = prefix_end(prefix);
  rocksdb::Slice upper{end};
  rocksdb::ReadOptions bounded;
  bounded.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{db_.db().NewIterator(bounded, index_cf_)};
  // The log is walked alongside the index: a topic's positions ascend and are often dense, so
  // the next one is usually a step or a few ahead, much cheaper than a point lookup each.
  std::unique_ptr<rocksdb::Iterator> log_it{db_.db().NewIterator(rocksdb::ReadOptions{}, log_cf_)};
  std::string value;
  for (it->Seek(index_key(topic, from + 1)); it->Valid(); it->Next()) {
    auto pos = get_be64(it->key().data() + prefix.size());
    if (pos > h)
      break;
    if (!seek_log(*log_it, pos)) {
      if (!log_it->status().ok())
        break;
      continue; // deleted by retention meanwhile
    }
    value.assign(log_it->value().data(), log_it->value().size());
    event_record rec;
    if (!decode(value, rec, false) || !filter.admits(rec.topic, rec.access, rec.mercure.get()))
      continue;
    rec.pos = pos;
    page.events.push_back(std::move(rec));
    if (page.events.size() >= max_events) {
      page.scanned_through = pos;
      break;
    }
  }
  error = database::error_of(*it, "event read failed");
  if (!error)
    error = database::error_of(*log_it, "event read failed");
  return page;
}

log_page event_log::read(std::uint64_t after, const topic_filter& filter, std::size_t max_events,
                         std::size_t max_scan, std::optional<std::string>* error) const {
  storage_thread::check("event read");
  // Everything <= h is committed and visible to iterators created from here on.
  auto h = head();
  if (after >= h)
    return log_page{{}, h};
  std::optional<std::string> failed;
  log_page page;
  if (filter.single_exact()) {
    page = read_topic(filter, after, h, max_events, failed);
  } else {
    page.scanned_through = h;
    std::unique_ptr<rocksdb::Iterator> it{db_.db().NewIterator(rocksdb::ReadOptions{}, log_cf_)};
    std::size_t scanned = 0;
    std::string value;
    for (it->Seek(pos_key(after + 1)); it->Valid(); it->Next()) {
      auto pos = get_be64(it->key().data());
      if (pos > h)
        break;
      value.assign(it->value().data(), it->value().size());
      event_record rec;
      if (decode(value, rec, true) && filter.matches(rec.topic) && !deleted(rec.topic, pos)) {
        decode(value, rec, false);
        rec.pos = pos;
        if (filter.admits(rec.topic, rec.access, rec.mercure.get()))
          page.events.push_back(std::move(rec));
      }
      if (page.events.size() >= max_events || ++scanned >= max_scan) {
        page.scanned_through = pos;
        break;
      }
    }
    failed = database::error_of(*it, "event read failed");
  }
  if (failed) {
    // A scan cut short by an error must not claim it examined the rest of the log.
    page.scanned_through = page.events.empty() ? after : page.events.back().pos;
    if (error != nullptr)
      *error = failed;
  }
  return page;
}

std::optional<log_gap> event_log::retention_gap(std::uint64_t after,
                                                const topic_filter& filter) const {
  std::lock_guard<std::mutex> guard{marks_->mtx};
  std::uint64_t to = marks_->dropped_trim;
  if (filter.single_exact()) {
    auto it = marks_->topics.find(filter.patterns().front());
    if (it != marks_->topics.end())
      to = std::max(to, it->second.trimmed_through);
  } else {
    for (auto& [topic, m] : marks_->topics)
      if (m.trimmed_through > after && filter.matches(topic))
        to = std::max(to, m.trimmed_through);
  }
  if (to <= after)
    return std::nullopt;
  return log_gap{after + 1, to};
}

lookup<event_record> event_log::get(std::uint64_t pos) const {
  auto found = db_.get(log_cf_, pos_key(pos), "event read failed");
  if (!found.ok() || !found.value)
    return {std::nullopt, found.error};
  event_record rec;
  if (!decode(*found.value, rec, false) || deleted(rec.topic, pos))
    return {};
  rec.pos = pos;
  return {std::move(rec), std::nullopt};
}

lookup<std::uint64_t> event_log::find_mercure_id(std::string_view id) const {
  auto found = db_.get(mercure_ids_cf_, id, "Mercure id read failed");
  if (!found.ok() || !found.value || found.value->size() != 8)
    return {std::nullopt, found.error};
  auto pos = get_be64(found.value->data());
  std::lock_guard<std::mutex> guard{marks_->mtx};
  if (marks_->topics.count(mercure_log_topic) == 0 || pos <= marks_->floor(mercure_log_topic))
    return {}; // retention deleted it (its id is deleted in the same write, or was left stale)
  return {pos, std::nullopt};
}

void event_log::forget_mercure_id(std::string_view id, std::uint64_t pos,
                                  rocksdb::WriteBatch& batch) {
  auto found = db_.get(mercure_ids_cf_, id, "Mercure id read failed");
  if (found.ok() && found.value && found.value->size() == 8 && get_be64(found.value->data()) == pos)
    batch.Delete(mercure_ids_cf_, rocksdb::Slice{id.data(), id.size()});
}

std::size_t event_log::topic_count() const {
  std::lock_guard<std::mutex> guard{marks_->mtx};
  return marks_->topics.size();
}

} // namespace herald
