#include "storage/idempotency_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "storage/keys.hpp"

namespace herald {

using namespace keys;

std::vector<column_spec> idempotency_store::columns() {
  return {{"dedup", {}}, {"dedup_expiry", {}}};
}

idempotency_store::idempotency_store(database& db)
  : db_(db), keys_cf_(db.column("dedup")), expiry_cf_(db.column("dedup_expiry")) {
  // nop
}

void idempotency_store::remember(rocksdb::WriteBatch& batch, const std::string& key,
                                 std::uint64_t pos, std::int64_t expiry_ms) {
  auto expiry = static_cast<std::uint64_t>(expiry_ms);
  batch.Put(keys_cf_, key, pair_value(pos, expiry));
  auto ek = pos_key(expiry);
  ek.append(key);
  batch.Put(expiry_cf_, ek, rocksdb::Slice{});
}

lookup<std::uint64_t> idempotency_store::find(const std::string& key, std::int64_t now_ms) const {
  auto found = db_.get(keys_cf_, key, "idempotency lookup failed");
  if (!found.ok() || !found.value)
    return {std::nullopt, found.error};
  auto& v = *found.value;
  if (v.size() != 16)
    return {std::nullopt, std::string{"idempotency lookup failed: a stored entry is corrupt"}};
  if (static_cast<std::int64_t>(get_be64(v.data() + 8)) <= now_ms)
    return {}; // the window is over (not yet trimmed)
  return {get_be64(v.data()), std::nullopt};
}

std::size_t idempotency_store::trim(std::int64_t now_ms, std::size_t max_delete,
                                    std::string& error) {
  rocksdb::WriteBatch batch;
  std::size_t n = 0;
  std::optional<std::string> failed;
  auto scan_error = scan_prefix(
    db_.db(), expiry_cf_, {}, {},
    [&](std::string_view k, std::string_view) {
      if (n >= max_delete || k.size() < 8 || static_cast<std::int64_t>(get_be64(k.data())) > now_ms)
        return false;
      std::string key{k.substr(8)};
      // The key may have been reused after its window: delete only the entry that expired.
      std::string v;
      auto st = db_.db().Get(rocksdb::ReadOptions{}, keys_cf_, key, &v);
      if (!st.ok() && !st.IsNotFound()) {
        failed = database::error_of(st, "idempotency trim failed");
        return false;
      }
      if (st.ok() && v.size() == 16 && get_be64(v.data() + 8) == get_be64(k.data()))
        batch.Delete(keys_cf_, key);
      batch.Delete(expiry_cf_, rocksdb::Slice{k.data(), k.size()});
      ++n;
      return true;
    },
    "idempotency trim failed");
  if (auto err = failed ? failed : scan_error) {
    error = *err;
    return 0;
  }
  if (n == 0)
    return 0;
  if (auto err = db_.write(batch, "idempotency trim failed", false)) {
    error = *err;
    return 0;
  }
  return n;
}

} // namespace herald
