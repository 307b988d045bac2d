#pragma once
// The job registry: finds or spawns the watcher of a job id and forwards requests to it;
// supervises watchers (linked). Watchers stop through the same handshake as topic actors (see
// registry.hpp): an idle watcher reports how many requests it has seen, and is stopped only if
// that equals the number forwarded, so no request can reach a watcher that is going away.

#include <string>
#include <unordered_map>

#include "actors/hub_stats.hpp"
#include "actors/job_watcher.hpp"
#include "actors/messages.hpp"

namespace herald {

struct job_registry_state {
  struct entry {
    caf::actor watcher;
    std::uint64_t forwarded = 0;
  };
  std::unordered_map<std::string, entry> watchers;
  journal_handle journal;
  reader_handle reader;
  job_settings settings;
  hub_stats* stats = nullptr;

  static inline const char* name = "job_registry";
};

using job_registry_actor = caf::stateful_actor<job_registry_state>;

caf::behavior job_registry(job_registry_actor* self, journal_handle journal, reader_handle reader,
                           job_settings settings, hub_stats* stats);

} // namespace herald
