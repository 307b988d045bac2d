#pragma once
// A job watcher: the one actor per job that has viewers or recent updates. It owns the job's
// state machine (storage/job.hpp), persists every change through the journal before anyone sees
// it, serializes each change once into an SSE frame and pushes it to every viewer's queue, ends
// every stream at a terminal state, and monitors its viewers (a departed viewer leaves in the
// down handler). Its one timer (a generation-checked tick) expires jobs with no update, stops the
// watcher when it is idle without viewers, and retires a terminal job after its retention.
// Nothing polls per viewer: a job with an `upstream` URL is polled by its watcher alone, only
// while it has viewers and is not terminal (every interval while active, backing off while
// waiting and on errors, which viewers see as job.upstream_error events).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/wall_clock.hpp"

namespace herald {

struct job_settings {
  std::chrono::seconds retention{300};     // terminal jobs are kept this long, then deleted
  std::chrono::seconds stale_after{3600};  // a running job with no update this long expires
  std::chrono::seconds idle{60};           // a watcher without viewers stops after this
  std::uint64_t retry_ms = 2000;
  std::chrono::seconds heartbeat{25};      // comment line to viewers while nothing happens
  // Cluster mode: how long a change waits for the verdict of its node's tail (job_watcher.cpp)
  std::chrono::milliseconds verdict_timeout{2000};
  std::vector<std::string> upstream_allowed_hosts{"127.0.0.1", "localhost", "::1"};
  std::chrono::milliseconds upstream_timeout{5000};
  upstream_fetch fetch; // how upstream URLs are fetched (the hub's HTTP client)
};

struct job_watcher_state {
  struct viewer {
    caf::actor_addr addr;
    queue_ptr queue;
  };

  std::string id;
  nlohmann::json snapshot; // null: no such job
  std::uint64_t position = 0; // cluster mode: the snapshot's sequence in the shared log
  std::optional<std::string> load_error; // the stored snapshot could not be read: answer 503
  journal_handle journal;
  reader_handle reader;
  caf::actor registry;
  job_settings settings;
  hub_stats* stats = nullptr;
  std::vector<viewer> viewers;
  std::uint64_t requests_seen = 0;
  std::uint64_t tick_gen = 0;
  std::uint64_t verdict_gen = 0;
  caf::actor_clock::time_point last_change;
  bool stopping = false;
  bool heartbeat_armed = false;

  // Upstream polling: one poller per job, only while it has viewers and is not terminal.
  std::uint64_t poll_gen = 0;       // bumping it cancels the pending poll and ignores its reply
  bool polling = false;
  std::uint32_t poll_errors = 0;
  std::uint32_t idle_polls = 0;     // consecutive polls without change while waiting

  ~job_watcher_state() {
    if (stats == nullptr)
      return;
    --stats->job_actors;
    stats->activity.job_gone(id);
  }

  static inline const char* name = "job_watcher";
};

using job_watcher_actor = caf::stateful_actor<job_watcher_state>;

caf::behavior job_watcher(job_watcher_actor* self, std::string id, journal_handle journal,
                          reader_handle reader, caf::actor registry, job_settings settings,
                          hub_stats* stats);

} // namespace herald
