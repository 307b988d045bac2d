#pragma once
// The journal: assigns log positions, group-commits each mailbox drain in one WriteBatch,
// answers publishers after the write, and feeds the dispatcher in log order. An event whose
// idempotency key was published within the window is not published again: its publisher gets the
// original id. Durable sessions' state changes are group-committed with the same drain. It owns
// the retention timer (which also forgets expired keys). Runs detached, on a storage thread:
// RocksDB writes (and fsyncs) block.
//
// Cluster mode (`shared` set): a drain's events are published to the shared log instead, with
// their idempotency keys as message ids; publishers are answered once JetStream acknowledged
// them and this node's tail applied them. The tail, not the journal, writes the event log then
// (and runs its retention).

#include <chrono>
#include <memory>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/log_throttle.hpp"
#include "actors/messages.hpp"
#include "storage/hub_storage.hpp"
#include "storage/shared_log.hpp"

namespace herald {

struct journal_settings {
  std::chrono::seconds max_age{86400};
  std::chrono::seconds retention_interval{30};
  std::chrono::seconds idempotency_window{120}; // a repeated key within it is not published again
  std::chrono::milliseconds publish_timeout{5000}; // cluster mode: the local apply, at most
  /// Cluster mode: events (and job snapshots) are committed to this shared log, which every
  /// node's tail applies; the journal then writes only sessions and jobs locally. Null: a single
  /// node.
  std::shared_ptr<shared_log> shared;
};

struct pending_session_write {
  session_write_ptr write;
  caf::typed_response_promise<bool> promise;
};

struct journal_state {
  std::shared_ptr<hub_storage> store;
  std::shared_ptr<shared_log> shared; // settings.shared
  batch_sink dispatcher;
  hub_stats* stats = nullptr;
  journal_settings settings;
  std::vector<publish_job_ptr> pending;
  std::vector<pending_session_write> session_writes;
  bool commit_scheduled = false;
  log_throttle publish_failures;       // event=publish_failed, at most once per 10 s
  log_throttle session_write_failures; // event=session_write_failed, likewise
  log_throttle job_write_failures;     // event=job_write_failed, likewise

  static inline const char* name = "journal";
};

using journal_actor = journal_handle::stateful_base<journal_state>;

journal_handle::behavior_type journal(journal_actor* self, std::shared_ptr<hub_storage> store,
                                      batch_sink dispatcher, hub_stats* stats,
                                      journal_settings settings);

} // namespace herald
