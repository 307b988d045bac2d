#include "storage/event_log.hpp"

#include <cstring>
#include <random>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

namespace herald {
namespace {

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string pos_key(std::uint64_t pos) {
  std::string k;
  k.reserve(8);
  put_be64(k, pos);
  return k;
}

/// Keys of per-session column families: id '\0' BE(pos), so a session's entries are contiguous.
std::string session_key(std::string_view id, std::uint64_t pos) {
  std::string k;
  k.reserve(id.size() + 9);
  k.append(id);
  k.push_back('\0');
  put_be64(k, pos);
  return k;
}

std::string index_key(std::string_view topic, std::uint64_t pos) {
  std::string k;
  k.reserve(topic.size() + 9);
  k.append(topic);
  k.push_back('\0');
  put_be64(k, pos);
  return k;
}

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::size_t get_u16(const char* p) {
  return (static_cast<std::size_t>(static_cast<unsigned char>(p[0])) << 8)
         | static_cast<unsigned char>(p[1]);
}

// The top bit of the time field marks an ack-required event (times are positive).
constexpr std::uint64_t ack_flag = std::uint64_t{1} << 63;

std::string encode(const event_record& e) {
  std::string v;
  v.reserve(12 + e.topic.size() + e.type.size() + e.data.size());
  put_be64(v, static_cast<std::uint64_t>(e.time_ms) | (e.ack ? ack_flag : 0));
  put_u16(v, e.topic.size());
  v.append(e.topic);
  put_u16(v, e.type.size());
  v.append(e.type);
  v.append(e.data);
  return v;
}

std::string encode_meta(std::uint64_t a, std::uint64_t b) {
  std::string v;
  put_be64(v, a);
  put_be64(v, b);
  return v;
}

const char* kEpoch = "epoch";
const char* kHead = "head";
const char* kDroppedTrim = "dropped_trim";

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
rocksdb::ColumnFamilyOptions hinted(const rocksdb::SliceTransform* prefix) {
  rocksdb::ColumnFamilyOptions o;
  o.memtable_insert_with_hint_prefix_extractor.reset(prefix);
  return o;
}

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

} // namespace

std::unique_ptr<event_log> event_log::open(const std::string& dir, durability mode,
                                           std::string& error) {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.create_missing_column_families = true;
  opts.IncreaseParallelism(2);
  opts.max_background_jobs = 2;
  opts.keep_log_file_num = 4;
  // Memtable insert hints are ignored by concurrent memtable writes; the journal is the one
  // writer that matters, and RocksDB still serializes any other writer.
  opts.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{
    {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{}},
    {"log", hinted(rocksdb::NewCappedPrefixTransform(0))}, // one prefix: positions ascend
    {"topic_index", hinted(new index_topic_prefix)},
    {"topics", rocksdb::ColumnFamilyOptions{}},
    {"jobs", rocksdb::ColumnFamilyOptions{}},
    {"dedup", rocksdb::ColumnFamilyOptions{}},
    {"dedup_expiry", rocksdb::ColumnFamilyOptions{}},
    {"sessions", rocksdb::ColumnFamilyOptions{}},
    {"session_pending", rocksdb::ColumnFamilyOptions{}},
    {"session_dead", rocksdb::ColumnFamilyOptions{}},
  };
  std::unique_ptr<event_log> log{new event_log};
  log->mode_ = mode;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, cfs, &log->handles_, &raw);
  if (!st.ok()) {
    error = "cannot open the event log in '" + dir + "': " + st.ToString();
    return nullptr;
  }
  log->db_.reset(raw);
  log->meta_cf_ = log->handles_[0];
  log->log_cf_ = log->handles_[1];
  log->index_cf_ = log->handles_[2];
  log->topics_cf_ = log->handles_[3];
  log->jobs_cf_ = log->handles_[4];
  log->dedup_cf_ = log->handles_[5];
  log->dedup_expiry_cf_ = log->handles_[6];
  log->sessions_cf_ = log->handles_[7];
  log->pending_cf_ = log->handles_[8];
  log->dead_cf_ = log->handles_[9];

  std::string v;
  st = raw->Get(rocksdb::ReadOptions{}, log->meta_cf_, kEpoch, &v);
  if (st.IsNotFound()) {
    std::random_device rd;
    log->epoch_ = static_cast<std::uint32_t>(rd());
    std::string ev;
    put_be64(ev, log->epoch_);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    st = raw->Put(wo, log->meta_cf_, kEpoch, ev);
  } else if (st.ok() && v.size() == 8) {
    log->epoch_ = static_cast<std::uint32_t>(get_be64(v.data()));
  } else if (st.ok()) {
    st = rocksdb::Status::Corruption("meta 'epoch' has the wrong size");
  }
  if (!st.ok()) {
    error = "cannot read the log epoch: " + st.ToString();
    return nullptr;
  }
  if (raw->Get(rocksdb::ReadOptions{}, log->meta_cf_, kHead, &v).ok() && v.size() == 8)
    log->head_ = get_be64(v.data());
  if (raw->Get(rocksdb::ReadOptions{}, log->meta_cf_, kDroppedTrim, &v).ok() && v.size() == 8)
    log->dropped_trim_ = get_be64(v.data());
  std::unique_ptr<rocksdb::Iterator> it{raw->NewIterator(rocksdb::ReadOptions{}, log->topics_cf_)};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto val = it->value();
    if (val.size() != 16)
      continue;
    log->topics_[it->key().ToString()] = topic_meta{get_be64(val.data()),
                                                    get_be64(val.data() + 8)};
  }
  return log;
}

event_log::~event_log() {
  if (!db_)
    return;
  flush();
  for (auto* h : handles_)
    db_->DestroyColumnFamilyHandle(h);
  db_->Close().PermitUncheckedError();
}

void event_log::flush() {
  db_->FlushWAL(true).PermitUncheckedError();
}

std::optional<std::string> event_log::append(std::vector<event_record>& events,
                                             std::int64_t dedup_window_ms) {
  if (events.empty())
    return std::nullopt;
  rocksdb::WriteBatch batch;
  auto next = head() + 1;
  std::map<std::string, std::uint64_t, std::less<>> added;
  for (auto& e : events) {
    e.pos = next++;
    batch.Put(log_cf_, pos_key(e.pos), encode(e));
    batch.Put(index_cf_, index_key(e.topic, e.pos), rocksdb::Slice{});
    ++added[e.topic];
    if (!e.idempotency_key.empty() && dedup_window_ms > 0) {
      // In the same batch as the event: a key is remembered exactly when its event exists.
      auto expiry = static_cast<std::uint64_t>(e.time_ms + dedup_window_ms);
      batch.Put(dedup_cf_, e.idempotency_key, encode_meta(e.pos, expiry));
      auto ek = pos_key(expiry);
      ek.append(e.idempotency_key);
      batch.Put(dedup_expiry_cf_, ek, rocksdb::Slice{});
    }
  }
  std::string hv;
  put_be64(hv, next - 1);
  batch.Put(meta_cf_, kHead, hv);
  {
    std::lock_guard<std::mutex> guard{meta_mtx_};
    for (auto& [topic, n] : added) {
      auto& m = topics_[topic];
      batch.Put(topics_cf_, topic, encode_meta(m.count + n, m.trimmed_through));
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = mode_ == durability::fsync;
  auto st = db_->Write(wo, &batch);
  if (!st.ok()) {
    // Positions were not consumed: the next append reuses them.
    return "event log write failed: " + st.ToString();
  }
  {
    std::lock_guard<std::mutex> guard{meta_mtx_};
    for (auto& [topic, n] : added) {
      topics_[topic].count += n;
      touched_.insert(topic);
    }
  }
  head_.store(next - 1, std::memory_order_release);
  return std::nullopt;
}

void event_log::note_deleted(const std::string& topic, std::uint64_t pos) {
  // Caller holds meta_mtx_.
  auto it = topics_.find(topic);
  if (it == topics_.end())
    return;
  auto& m = it->second;
  if (m.count > 0)
    --m.count;
  m.trimmed_through = std::max(m.trimmed_through, pos);
  if (m.count == 0) {
    // The topic is gone from the log: fold its watermark into the global one so that an old
    // resume on it still gets a gap signal, and forget the topic.
    dropped_trim_ = std::max(dropped_trim_, m.trimmed_through);
    topics_.erase(it);
  }
}

void event_log::write_topic_meta(const std::set<std::string>& topics, rocksdb::WriteBatch& batch) {
  // Caller holds meta_mtx_. One write per topic, however many of its events a trim deleted.
  bool dropped = false;
  for (auto& topic : topics) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
      batch.Delete(topics_cf_, topic);
      dropped = true;
    } else {
      batch.Put(topics_cf_, topic, encode_meta(it->second.count, it->second.trimmed_through));
    }
  }
  if (dropped) {
    std::string v;
    put_be64(v, dropped_trim_);
    batch.Put(meta_cf_, kDroppedTrim, v);
  }
}

std::size_t event_log::enforce_topic_limit(std::uint64_t max_per_topic, std::string& error) {
  std::set<std::string> touched;
  struct trim {
    std::uint64_t n;               // events to delete
    std::uint64_t trimmed_through; // the topic's entries up to here are deleted already
  };
  std::map<std::string, trim> excess;
  {
    std::lock_guard<std::mutex> guard{meta_mtx_};
    touched.swap(touched_);
    for (auto& t : touched) {
      auto it = topics_.find(t);
      if (it != topics_.end() && it->second.count > max_per_topic)
        excess[t] = trim{it->second.count - max_per_topic, it->second.trimmed_through};
    }
  }
  std::size_t deleted = 0;
  for (auto& [topic, x] : excess) {
    auto n = x.n;
    rocksdb::WriteBatch batch;
    std::vector<std::uint64_t> positions;
    auto prefix = index_key(topic, 0);
    // Start after what was deleted: seeking from the topic's beginning would step over every
    // deletion marker left there until compaction, a cost that grew with each trim.
    auto start = index_key(topic, x.trimmed_through + 1);
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, index_cf_)};
    for (it->Seek(start); it->Valid() && positions.size() < n; it->Next()) {
      auto k = it->key();
      if (k.size() != prefix.size() || std::memcmp(k.data(), prefix.data(), topic.size() + 1) != 0)
        break;
      auto pos = get_be64(k.data() + topic.size() + 1);
      positions.push_back(pos);
      batch.Delete(index_cf_, k);
      batch.Delete(log_cf_, pos_key(pos));
    }
    {
      std::lock_guard<std::mutex> guard{meta_mtx_};
      for (auto pos : positions)
        note_deleted(topic, pos);
      write_topic_meta({topic}, batch);
    }
    auto st = db_->Write(rocksdb::WriteOptions{}, &batch);
    if (!st.ok()) {
      error = "retention write failed: " + st.ToString();
      return deleted;
    }
    deleted += positions.size();
  }
  return deleted;
}

std::size_t event_log::trim_older_than(std::int64_t cutoff_ms, std::size_t max_delete,
                                       std::string& error) {
  rocksdb::WriteBatch batch;
  std::vector<std::pair<std::string, std::uint64_t>> doomed;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, log_cf_)};
  for (it->Seek(pos_key(age_trimmed_through_ + 1)); it->Valid() && doomed.size() < max_delete;
       it->Next()) {
    event_record rec;
    if (!decode(it->value().ToString(), rec, true) || rec.time_ms >= cutoff_ms)
      break;
    auto pos = get_be64(it->key().data());
    batch.Delete(log_cf_, it->key());
    batch.Delete(index_cf_, index_key(rec.topic, pos));
    doomed.emplace_back(std::move(rec.topic), pos);
  }
  if (doomed.empty())
    return 0;
  {
    std::lock_guard<std::mutex> guard{meta_mtx_};
    std::set<std::string> changed;
    for (auto& [topic, pos] : doomed) {
      note_deleted(topic, pos);
      changed.insert(topic);
    }
    write_topic_meta(changed, batch);
  }
  auto st = db_->Write(rocksdb::WriteOptions{}, &batch);
  if (!st.ok()) {
    error = "retention write failed: " + st.ToString();
    return 0;
  }
  age_trimmed_through_ = doomed.back().second; // the next trim starts after it
  return doomed.size();
}

bool event_log::decode(const std::string& v, event_record& out, bool topic_only) const {
  if (v.size() < 12)
    return false;
  auto t = get_be64(v.data());
  out.ack = (t & ack_flag) != 0;
  out.time_ms = static_cast<std::int64_t>(t & ~ack_flag);
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
  out.data.assign(v.data() + off + ylen, v.size() - off - ylen);
  return true;
}

log_page event_log::read(std::uint64_t after, const topic_filter& filter, std::size_t max_events,
                         std::size_t max_scan) const {
  log_page page;
  // Everything <= h is committed and visible to iterators created from here on.
  auto h = head();
  page.scanned_through = h;
  if (after >= h)
    return page;
  if (filter.single_exact()) {
    auto& topic = filter.patterns().front();
    std::uint64_t from = after;
    {
      // Deleted entries are not looked at (nor the markers of their deletion).
      std::lock_guard<std::mutex> guard{meta_mtx_};
      if (auto t = topics_.find(topic); t != topics_.end())
        from = std::max(from, t->second.trimmed_through);
    }
    auto start = index_key(topic, from + 1);
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, index_cf_)};
    // The log is walked alongside the index: a topic's positions ascend and are often dense, so
    // the next one is usually a step or a few ahead, much cheaper than a point lookup each.
    std::unique_ptr<rocksdb::Iterator> log_it{db_->NewIterator(rocksdb::ReadOptions{}, log_cf_)};
    std::string value;
    for (it->Seek(start); it->Valid(); it->Next()) {
      auto k = it->key();
      if (k.size() != start.size() || std::memcmp(k.data(), start.data(), topic.size() + 1) != 0)
        break;
      auto pos = get_be64(k.data() + topic.size() + 1);
      if (pos > h)
        break;
      if (!seek_log(*log_it, pos))
        continue; // deleted by retention meanwhile
      value.assign(log_it->value().data(), log_it->value().size());
      event_record rec;
      if (!decode(value, rec, false))
        continue;
      rec.pos = pos;
      page.events.push_back(std::move(rec));
      if (page.events.size() >= max_events) {
        page.scanned_through = pos;
        break;
      }
    }
    return page;
  }
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, log_cf_)};
  std::size_t scanned = 0;
  std::string value;
  for (it->Seek(pos_key(after + 1)); it->Valid(); it->Next()) {
    auto pos = get_be64(it->key().data());
    if (pos > h)
      break;
    value.assign(it->value().data(), it->value().size());
    event_record rec;
    if (decode(value, rec, true) && filter.matches(rec.topic)) {
      decode(value, rec, false);
      rec.pos = pos;
      page.events.push_back(std::move(rec));
    }
    if (page.events.size() >= max_events || ++scanned >= max_scan) {
      page.scanned_through = pos;
      break;
    }
  }
  return page;
}

std::optional<log_gap> event_log::retention_gap(std::uint64_t after,
                                                const topic_filter& filter) const {
  std::lock_guard<std::mutex> guard{meta_mtx_};
  std::uint64_t to = dropped_trim_;
  if (filter.single_exact()) {
    auto it = topics_.find(filter.patterns().front());
    if (it != topics_.end())
      to = std::max(to, it->second.trimmed_through);
  } else {
    for (auto& [topic, m] : topics_)
      if (m.trimmed_through > after && filter.matches(topic))
        to = std::max(to, m.trimmed_through);
  }
  if (to <= after)
    return std::nullopt;
  return log_gap{after + 1, to};
}

std::optional<std::string> event_log::put_job(const std::string& id, const std::string& value) {
  rocksdb::WriteOptions wo;
  wo.sync = mode_ == durability::fsync;
  auto st = value.empty() ? db_->Delete(wo, jobs_cf_, id) : db_->Put(wo, jobs_cf_, id, value);
  if (!st.ok())
    return "job write failed: " + st.ToString();
  return std::nullopt;
}

std::optional<std::uint64_t> event_log::find_idempotent(const std::string& key,
                                                        std::int64_t now_ms) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions{}, dedup_cf_, key, &v).ok() || v.size() != 16)
    return std::nullopt;
  if (static_cast<std::int64_t>(get_be64(v.data() + 8)) <= now_ms)
    return std::nullopt; // the window is over (not yet trimmed)
  return get_be64(v.data());
}

std::size_t event_log::trim_idempotency(std::int64_t now_ms, std::size_t max_delete,
                                        std::string& error) {
  rocksdb::WriteBatch batch;
  std::size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, dedup_expiry_cf_)};
  for (it->SeekToFirst(); it->Valid() && n < max_delete; it->Next()) {
    auto k = it->key();
    if (k.size() < 8 || static_cast<std::int64_t>(get_be64(k.data())) > now_ms)
      break;
    std::string key{k.data() + 8, k.size() - 8};
    // The key may have been reused after its window: delete only the entry that expired.
    std::string v;
    if (db_->Get(rocksdb::ReadOptions{}, dedup_cf_, key, &v).ok() && v.size() == 16
        && get_be64(v.data() + 8) == get_be64(k.data()))
      batch.Delete(dedup_cf_, key);
    batch.Delete(dedup_expiry_cf_, k);
    ++n;
  }
  if (n == 0)
    return 0;
  auto st = db_->Write(rocksdb::WriteOptions{}, &batch);
  if (!st.ok()) {
    error = "idempotency trim failed: " + st.ToString();
    return 0;
  }
  return n;
}

std::optional<std::string> event_log::get_job(const std::string& id) const {
  std::string v;
  if (db_->Get(rocksdb::ReadOptions{}, jobs_cf_, id, &v).ok())
    return v;
  return std::nullopt;
}

std::optional<event_record> event_log::get(std::uint64_t pos) const {
  std::string v;
  event_record rec;
  if (!db_->Get(rocksdb::ReadOptions{}, log_cf_, pos_key(pos), &v).ok() || !decode(v, rec, false))
    return std::nullopt;
  rec.pos = pos;
  return rec;
}

// -- durable sessions -------------------------------------------------------------------------

std::optional<std::string> event_log::write_sessions(const std::vector<const session_write*>& ws) {
  rocksdb::WriteBatch batch;
  for (auto* w : ws) {
    if (w->erase) {
      auto from = w->id + '\0', to = w->id + '\1';
      batch.Delete(sessions_cf_, w->id);
      batch.DeleteRange(pending_cf_, from, to);
      batch.DeleteRange(dead_cf_, from, to);
      continue;
    }
    // Deletions first: a write may delete and re-add the same position (redrive).
    for (auto pos : w->del_pending)
      batch.Delete(pending_cf_, session_key(w->id, pos));
    for (auto pos : w->del_dead)
      batch.Delete(dead_cf_, session_key(w->id, pos));
    for (auto& p : w->put_pending) {
      std::string v;
      put_be64(v, p.deliveries);
      batch.Put(pending_cf_, session_key(w->id, p.pos), v);
    }
    for (auto& d : w->put_dead)
      batch.Put(dead_cf_, session_key(w->id, d.pos), encode_dead_letter(d));
    if (w->record)
      batch.Put(sessions_cf_, w->id, encode_session(*w->record));
  }
  rocksdb::WriteOptions wo;
  wo.sync = mode_ == durability::fsync;
  auto st = db_->Write(wo, &batch);
  if (!st.ok())
    return "session write failed: " + st.ToString();
  return std::nullopt;
}

std::vector<std::pair<std::string, session_record>> event_log::load_sessions(
  std::vector<std::string>& unreadable) const {
  std::vector<std::pair<std::string, session_record>> out;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, sessions_cf_)};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto rec = decode_session(std::string_view{it->value().data(), it->value().size()});
    if (rec)
      out.emplace_back(it->key().ToString(), std::move(*rec));
    else
      unreadable.push_back(it->key().ToString());
  }
  return out;
}

namespace {

/// Calls fn(pos, value) for the entries of session `id` in `cf` after `after`, at most `limit`.
template <class F>
void for_session(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, const std::string& id,
                 std::uint64_t after, std::size_t limit, F fn) {
  auto start = session_key(id, after + 1);
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator(rocksdb::ReadOptions{}, cf)};
  std::size_t n = 0;
  for (it->Seek(start); it->Valid() && n < limit; it->Next(), ++n) {
    auto k = it->key();
    if (k.size() != start.size() || std::memcmp(k.data(), start.data(), id.size() + 1) != 0)
      break;
    fn(get_be64(k.data() + id.size() + 1), std::string_view{it->value().data(), it->value().size()});
  }
}

} // namespace

std::optional<session_record> event_log::load_session(const std::string& id) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions{}, sessions_cf_, id, &v).ok())
    return std::nullopt;
  return decode_session(v);
}

std::size_t event_log::count_dead(const std::string& id) const {
  std::size_t n = 0;
  for_session(*db_, dead_cf_, id, 0, SIZE_MAX, [&](std::uint64_t, std::string_view) { ++n; });
  return n;
}

std::vector<pending_record> event_log::load_pending(const std::string& id) const {
  std::vector<pending_record> out;
  for_session(*db_, pending_cf_, id, 0, SIZE_MAX, [&](std::uint64_t pos, std::string_view v) {
    if (v.size() == 8)
      out.push_back({pos, static_cast<std::uint32_t>(get_be64(v.data()))});
  });
  return out;
}

std::vector<dead_letter_record> event_log::read_dead(const std::string& id, std::uint64_t after,
                                                     std::size_t limit) const {
  std::vector<dead_letter_record> out;
  for_session(*db_, dead_cf_, id, after, limit, [&](std::uint64_t pos, std::string_view v) {
    if (auto d = decode_dead_letter(pos, v))
      out.push_back(std::move(*d));
  });
  return out;
}

std::vector<dead_letter_record> event_log::find_dead(const std::string& id,
                                                     const std::vector<std::uint64_t>& positions) const {
  std::vector<dead_letter_record> out;
  std::string v;
  for (auto pos : positions)
    if (db_->Get(rocksdb::ReadOptions{}, dead_cf_, session_key(id, pos), &v).ok())
      if (auto d = decode_dead_letter(pos, v))
        out.push_back(std::move(*d));
  return out;
}

std::size_t event_log::topic_count() const {
  std::lock_guard<std::mutex> guard{meta_mtx_};
  return topics_.size();
}

} // namespace herald
