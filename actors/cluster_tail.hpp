#pragma once
// Cluster mode: the node's tail of the shared log (storage/shared_log.hpp). Reads the stream in
// order from the local log's head + 1, writes each batch at the positions the stream gave it
// (event_log::apply: one WriteBatch, the head with it, so a restart resumes exactly where the
// disk is), then hands it to the dispatcher, as the journal does on a single node: fan-out is
// unchanged. It is the event log's one writer in cluster mode, so it also keeps its retention,
// by the same rules as the stream's limits (per topic, by age). Job snapshots in the stream are
// written to the local job store, then handed to the job registry (a live watcher adopts them).
// Durable sessions' changes made by other processes are written to the local session store
// (cursors merged), then handed to the session registry (the session actor folds them in).
//
// Readiness (hub_stats::cluster): caught up once it reached the stream's end after starting;
// `lag` is what the server says is left. A sequence the stream dropped before this node read it
// (a node that was away, or lost its store) is recorded as lost, so resumes from before it get a
// gap notice. Runs detached: reading the stream and writing RocksDB block.

#include <chrono>
#include <memory>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/hub_storage.hpp"
#include "storage/shared_log.hpp"

namespace herald {

struct cluster_tail_settings {
  std::chrono::seconds max_age{86400};
  std::chrono::seconds retention_interval{30};
  std::size_t batch = 4096;                   // messages applied in one write, at most
  std::chrono::milliseconds wait{100};        // for the next message, before looking around
  std::chrono::milliseconds retry{500};       // after the tail could not start or failed
};

struct cluster_tail_state {
  std::shared_ptr<hub_storage> store;
  std::shared_ptr<shared_log> shared;
  batch_sink dispatcher;
  caf::actor job_registry;     // job snapshots from the stream go to their watchers
  caf::actor session_registry; // other nodes' session changes go to the sessions
  hub_stats* stats = nullptr;
  cluster_tail_settings settings;
  bool tailing = false;
  std::vector<tail_message> messages; // reused

  static inline const char* name = "cluster_tail";
};

using cluster_tail_actor = cluster_tail_handle::stateful_base<cluster_tail_state>;

cluster_tail_handle::behavior_type cluster_tail(cluster_tail_actor* self,
                                                std::shared_ptr<hub_storage> store,
                                                std::shared_ptr<shared_log> shared,
                                                batch_sink dispatcher, caf::actor job_registry,
                                                caf::actor session_registry, hub_stats* stats,
                                                cluster_tail_settings settings);

} // namespace herald
