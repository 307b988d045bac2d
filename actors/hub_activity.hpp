#pragma once
// What the dashboard shows beyond the hub's counters (hub_stats): which topics are busy, which
// durable sessions hold pending events and dead letters, which jobs are in progress. Written by
// the actors that know (the journal, sessions, job watchers), read by the dashboard's feed
// (net/dashboard.cpp) from its own thread.
//
// Costs on the hot paths: topics are counted only while a dashboard watches (one lock per
// committed batch then, none otherwise); a session updates its gauge with relaxed atomic stores
// where it updates hub_stats anyway; a job watcher takes a lock per job change (jobs change at
// human rates). Bounded: at most `max_topics` distinct topics per window (the rest are counted
// together), one gauge per live session, one entry per live job watcher.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace herald {

/// A live durable session's figures, owned by its actor (the board lists it while it lives).
struct session_gauge {
  std::string id;
  std::atomic<std::int64_t> pending{0};
  std::atomic<std::int64_t> dead_letters{0};
  std::atomic<bool> connected{false};
};
using session_gauge_ptr = std::shared_ptr<session_gauge>;

/// A job with a live watcher, as its latest snapshot says.
struct job_summary {
  std::string id;
  std::string state;
  double progress = -1; // -1: the job reports none
  std::string message;
  std::int64_t updated_ms = 0;
  std::size_t viewers = 0;
};

/// Topics counted over one window (since the previous take_topics).
struct topic_window {
  std::vector<std::pair<std::string, std::uint64_t>> counts; // busiest first
  std::uint64_t other = 0; // events of topics beyond the window's bound
};

/// A session as the dashboard lists it.
struct session_figures {
  std::string id;
  std::int64_t pending = 0;
  std::int64_t dead_letters = 0;
  bool connected = false;
};

class hub_activity {
public:
  explicit hub_activity(std::size_t max_topics = 4096) : max_topics_(max_topics) {}
  hub_activity(const hub_activity&) = delete;
  hub_activity& operator=(const hub_activity&) = delete;

  // -- topics --

  /// A dashboard starts (+1) or stops (-1) watching: topics are counted while any watches.
  void watch(int delta) { watchers_.fetch_add(delta, std::memory_order_relaxed); }
  bool watched() const { return watchers_.load(std::memory_order_relaxed) > 0; }

  /// Counts one committed batch's events by topic (the journal; only while watched).
  template <class Batch, class TopicOf>
  void count_topics(const Batch& batch, TopicOf topic_of) {
    if (!watched() || batch.empty())
      return;
    std::lock_guard<std::mutex> guard{topics_mtx_};
    for (auto& e : batch)
      count_locked(topic_of(e));
  }

  /// The topics counted since the last call, the `top` busiest first; starts a new window.
  topic_window take_topics(std::size_t top);

  // -- sessions --

  /// A gauge for session `id`, listed until its last reference is gone.
  session_gauge_ptr enlist_session(std::string id);

  /// The live sessions with the most pending events (dead letters break ties; sessions with
  /// neither are listed last), at most `top`.
  std::vector<session_figures> sessions(std::size_t top) const;

  // -- jobs --

  /// A job watcher's latest snapshot (replaces the job's entry).
  void job_changed(job_summary job);
  /// A job watcher stopped.
  void job_gone(const std::string& id);
  /// The live jobs, running states first, then by latest update, at most `top`.
  std::vector<job_summary> jobs(std::size_t top) const;

private:
  void count_locked(const std::string& topic);

  std::atomic<int> watchers_{0};
  const std::size_t max_topics_;

  mutable std::mutex topics_mtx_;
  std::unordered_map<std::string, std::uint64_t> topics_;
  std::uint64_t other_topics_ = 0;

  mutable std::mutex sessions_mtx_;
  std::unordered_set<const session_gauge*> sessions_;

  mutable std::mutex jobs_mtx_;
  std::unordered_map<std::string, job_summary> jobs_;
};

} // namespace herald
