#include "storage/session_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/keys.hpp"

namespace herald {

using namespace keys;

std::vector<column_spec> session_store::columns() {
  return {{"sessions", {}}, {"session_pending", {}}, {"session_dead", {}}};
}

session_store::session_store(database& db)
  : db_(db),
    sessions_cf_(db.column("sessions")),
    pending_cf_(db.column("session_pending")),
    dead_cf_(db.column("session_dead")) {
  // nop
}

std::optional<std::string> session_store::write(const std::vector<const session_write*>& ws) {
  rocksdb::WriteBatch batch;
  for (auto* w : ws) {
    if (w->erase) {
      auto from = owner_prefix(w->id), to = prefix_end(from);
      batch.Delete(sessions_cf_, w->id);
      batch.DeleteRange(pending_cf_, from, to);
      batch.DeleteRange(dead_cf_, from, to);
      continue;
    }
    // Deletions first: a write may delete and re-add the same position (redrive).
    for (auto pos : w->del_pending)
      batch.Delete(pending_cf_, owned_key(w->id, pos));
    for (auto pos : w->del_dead)
      batch.Delete(dead_cf_, owned_key(w->id, pos));
    for (auto& p : w->put_pending)
      batch.Put(pending_cf_, owned_key(w->id, p.pos), pos_key(p.deliveries));
    for (auto& d : w->put_dead)
      batch.Put(dead_cf_, owned_key(w->id, d.pos), encode_dead_letter(d));
    if (w->record && w->merge_cursors) {
      auto rec = *w->record;
      auto stored = db_.get(sessions_cf_, w->id, "session read failed");
      if (!stored.ok())
        return stored.error;
      if (stored.value)
        if (auto have = decode_session(*stored.value)) {
          rec.ack_through = std::max(rec.ack_through, have->ack_through);
          rec.delivered_through = std::max(rec.delivered_through, have->delivered_through);
          rec.last_seen_ms = std::max(rec.last_seen_ms, have->last_seen_ms);
          if (newer_settings(*have, rec)) { // the stored settings were set later: they stay
            rec.settings = std::move(have->settings);
            rec.viewer = std::move(have->viewer);
            rec.settings_ms = have->settings_ms;
            rec.settings_origin = std::move(have->settings_origin);
          }
        }
      batch.Put(sessions_cf_, w->id, encode_session(rec));
    } else if (w->record) {
      batch.Put(sessions_cf_, w->id, encode_session(*w->record));
    }
  }
  return db_.write(batch, "session write failed");
}

std::optional<std::string> session_store::load_parts(stored_session& s) const {
  auto prefix = owner_prefix(s.id);
  auto err = scan_prefix(
    db_.db(), pending_cf_, prefix, prefix,
    [&](std::string_view k, std::string_view v) {
      if (v.size() == 8)
        s.pending.push_back({get_be64(k.data() + prefix.size()),
                             static_cast<std::uint32_t>(get_be64(v.data()))});
      return true;
    },
    "session pending read failed");
  if (err)
    return err;
  return scan_prefix(
    db_.db(), dead_cf_, prefix, prefix,
    [&](std::string_view, std::string_view) {
      ++s.dead_letters;
      return true;
    },
    "session dead letter count failed");
}

std::vector<stored_session> session_store::load_all(std::vector<std::string>& unreadable,
                                                    std::optional<std::string>& error) const {
  std::vector<stored_session> out;
  error = scan_prefix(
    db_.db(), sessions_cf_, {}, {},
    [&](std::string_view k, std::string_view v) {
      auto rec = decode_session(v);
      if (!rec) {
        unreadable.emplace_back(k);
        return true;
      }
      out.push_back(stored_session{std::string{k}, std::move(*rec), {}, 0});
      return true;
    },
    "session load failed");
  for (auto& s : out) {
    if (error)
      break;
    error = load_parts(s);
  }
  if (error)
    out.clear();
  return out;
}

lookup<stored_session> session_store::load(const std::string& id) const {
  auto found = db_.get(sessions_cf_, id, "session read failed");
  if (!found.ok() || !found.value)
    return {std::nullopt, found.error};
  auto rec = decode_session(*found.value);
  if (!rec)
    return {std::nullopt, "session '" + id + "' is stored but cannot be decoded"};
  stored_session s{id, std::move(*rec), {}, 0};
  if (auto err = load_parts(s))
    return {std::nullopt, err};
  return {std::move(s), std::nullopt};
}

lookup<std::vector<dead_letter_record>> session_store::read_dead(const std::string& id,
                                                                 std::uint64_t after,
                                                                 std::size_t limit) const {
  std::vector<dead_letter_record> out;
  auto prefix = owner_prefix(id);
  auto err = scan_prefix(
    db_.db(), dead_cf_, prefix, owned_key(id, after + 1),
    [&](std::string_view k, std::string_view v) {
      if (out.size() >= limit)
        return false;
      if (auto d = decode_dead_letter(get_be64(k.data() + prefix.size()), v))
        out.push_back(std::move(*d));
      return true;
    },
    "dead letter read failed");
  if (err)
    return {std::nullopt, err};
  return {std::move(out), std::nullopt};
}

lookup<std::vector<dead_letter_record>> session_store::find_dead(
  const std::string& id, const std::vector<std::uint64_t>& positions) const {
  std::vector<dead_letter_record> out;
  for (auto pos : positions) {
    auto found = db_.get(dead_cf_, owned_key(id, pos), "dead letter read failed");
    if (!found.ok())
      return {std::nullopt, found.error};
    if (found.value)
      if (auto d = decode_dead_letter(pos, *found.value))
        out.push_back(std::move(*d));
  }
  return {std::move(out), std::nullopt};
}

} // namespace herald
