#include "actors/journal.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/retention.hpp"
#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

namespace herald {
namespace {


/// A message id for an event without an idempotency key: random, so only the client library's
/// resend of the very same message is taken for a repeat.
std::string random_msg_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "r:%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// Storage and cluster failures repeat with every retry: each kind is logged at most once per
// 10 s (actors/log_throttle.hpp), with how many happened since its last line.
void log_publish_failed(journal_state& st, const std::string& why, std::size_t requests) {
  if (auto n = st.publish_failures.admit())
    spdlog::error("event=publish_failed error=\"{}\" requests={} failures={} "
                  "note=\"logged at most every 10 s\"", why, requests, n);
}

void log_session_write_failed(journal_state& st, const std::string& why, std::size_t writes) {
  if (auto n = st.session_write_failures.admit())
    spdlog::error("event=session_write_failed error=\"{}\" writes={} failures={} "
                  "note=\"logged at most every 10 s\"", why, writes, n);
}

void log_job_write_failed(journal_state& st, const std::string& job, const std::string& why) {
  if (auto n = st.job_write_failures.admit())
    spdlog::error("event=job_write_failed job={} error=\"{}\" failures={} "
                  "note=\"logged at most every 10 s\"", job, why, n);
}

void schedule_commit(journal_actor* self) {
  auto& st = self->state;
  if (!st.commit_scheduled) {
    // Lands behind everything already queued: one commit per mailbox drain.
    st.commit_scheduled = true;
    self->send(self, commit_atom::value);
  }
}

/// Session changes queued in this drain: one WriteBatch, then every requester is answered. In
/// cluster mode they go to the shared log first, so every node's copy of the session follows.
void commit_sessions(journal_actor* self) {
  auto& st = self->state;
  if (st.session_writes.empty())
    return;
  std::vector<pending_session_write> writes;
  writes.swap(st.session_writes);
  std::vector<const session_write*> ws;
  ws.reserve(writes.size());
  for (auto& w : writes)
    ws.push_back(w.write.get());
  if (st.shared) {
    std::vector<shared_message> msgs;
    msgs.reserve(ws.size());
    for (auto* w : ws)
      msgs.push_back({st.shared->session_subject(w->id), encode_session_write(*w), random_msg_id(),
                      shared_kind::session, w->id});
    std::vector<std::uint64_t> seqs;
    std::size_t repeats = 0;
    if (auto err = st.shared->publish(msgs, seqs, repeats)) {
      log_session_write_failed(st, *err, writes.size());
      for (auto& w : writes)
        w.promise.deliver(hub_error(hub_errc::unavailable, "cluster_unavailable",
                                    "the cluster's log did not take the session's change (" + *err
                                      + "); retry"));
      return;
    }
  }
  auto err = st.store->sessions().write(ws);
  if (err)
    log_session_write_failed(st, *err, writes.size());
  for (auto& w : writes)
    if (err)
      w.promise.deliver(hub_error(hub_errc::storage_failure, "storage_failure", *err));
    else
      w.promise.deliver(true);
}

/// Nothing of this drain's publishes was written: each publisher gets the storage error.
void fail_publishes(journal_actor* self, const std::vector<publish_job_ptr>& jobs,
                    const std::string& why) {
  log_publish_failed(self->state, why, jobs.size());
  self->state.stats->publish_errors += jobs.size();
  for (auto& job : jobs)
    job->done(publish_outcome{{}, hub_error(hub_errc::storage_failure, "storage_failure", why)});
}


/// Cluster mode: the drain's events go to the shared log; each publisher gets the positions
/// JetStream gave them (a repeated key: the original's) once this node applied them.
void commit_shared(journal_actor* self, std::vector<publish_job_ptr> jobs) {
  auto& st = self->state;
  auto t = wall_ms();
  std::vector<shared_message> msgs;
  std::size_t n = 0;
  for (auto& job : jobs)
    n += job->events.size();
  msgs.reserve(n);
  for (auto& job : jobs)
    for (auto& d : job->events) {
      event_record r{0, t, d.topic, std::move(d.type), std::move(d.data), {}, d.ack,
                     std::move(d.access), std::move(d.mercure)};
      msgs.push_back(shared_message{st.shared->event_subject(d.topic), event_log::encode_record(r),
                                    d.idempotency_key.empty() ? random_msg_id()
                                                              : "k:" + d.idempotency_key});
    }
  std::vector<std::uint64_t> seqs;
  std::size_t repeats = 0;
  if (auto err = st.shared->publish(msgs, seqs, repeats)) {
    log_publish_failed(st, *err, jobs.size());
    st.stats->publish_errors += jobs.size();
    for (auto& job : jobs)
      job->done(publish_outcome{
        {}, hub_error(hub_errc::unavailable, "cluster_unavailable",
                      "the cluster's log did not take the events (" + *err + "); retry")});
    return;
  }
  // Answered after this node applied them, so a resume here with these ids finds them. They
  // are durable either way: a slow tail delays the answer, it does not fail it.
  auto last = *std::max_element(seqs.begin(), seqs.end());
  if (!st.store->log().wait_for_head(last, st.settings.publish_timeout))
    spdlog::warn("event=cluster_apply_slow position={} applied={}", last,
                 st.store->log().head());
  // A key repeated within this drain is acknowledged as a repeat too.
  st.stats->events_published += seqs.size() - repeats;
  st.stats->publish_repeats += repeats;
  auto epoch = st.store->log().epoch();
  auto next = seqs.begin();
  for (auto& job : jobs) {
    publish_outcome out;
    for (std::size_t i = 0; i < job->events.size(); ++i)
      out.ids.push_back(format_event_id(epoch, *next++));
    job->done(std::move(out));
  }
}

void commit(journal_actor* self) {
  auto& st = self->state;
  st.commit_scheduled = false;
  commit_sessions(self);
  if (st.pending.empty())
    return;
  std::vector<publish_job_ptr> jobs;
  jobs.swap(st.pending);
  if (st.shared)
    return commit_shared(self, std::move(jobs));
  std::vector<event_record> records;
  auto t = wall_ms();
  // Each event of each job is either a new record (index into `records`) or a repeat of an
  // idempotency key (the original position), published earlier or earlier in this batch.
  struct slot {
    bool repeat;
    std::uint64_t value; // record index, or the original position
  };
  std::vector<slot> slots;
  std::unordered_map<std::string, std::size_t> batch_keys;
  for (auto& job : jobs)
    for (auto& d : job->events) {
      if (!d.idempotency_key.empty()) {
        if (auto it = batch_keys.find(d.idempotency_key); it != batch_keys.end()) {
          slots.push_back({false, it->second});
          continue;
        }
        auto found = st.store->dedup().find(d.idempotency_key, t);
        if (!found.ok()) {
          // Not knowing whether a key was used must not publish a retry twice: fail them all.
          fail_publishes(self, jobs, *found.error);
          return;
        }
        if (found.value) {
          slots.push_back({true, *found.value});
          continue;
        }
        batch_keys.emplace(d.idempotency_key, records.size());
      }
      slots.push_back({false, records.size()});
      records.push_back(event_record{0, t, std::move(d.topic), std::move(d.type),
                                     std::move(d.data), std::move(d.idempotency_key), d.ack,
                                     std::move(d.access), std::move(d.mercure)});
    }
  auto window = std::chrono::duration_cast<std::chrono::milliseconds>(st.settings.idempotency_window);
  if (auto err = st.store->log().append(records, window.count())) {
    fail_publishes(self, jobs, *err);
    return;
  }
  auto epoch = st.store->log().epoch();
  auto batch = std::make_shared<std::vector<committed_event>>();
  batch->reserve(records.size());
  auto committed = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  for (auto& r : records)
    batch->push_back(stream_item::make_event(r.pos, format_event_id(epoch, r.pos),
                                             std::move(r.topic), std::move(r.type),
                                             std::move(r.data), r.ack, std::move(r.access),
                                             std::move(r.mercure), committed));
  st.stats->events_published += records.size();
  st.stats->activity.count_topics(*batch, [](const item_ptr& e) -> const std::string& {
    return e->topic;
  });
  st.stats->publish_repeats += slots.size() - records.size();
  if (!batch->empty())
    self->send(st.dispatcher, deliver_atom::value, committed_batch{std::move(batch)});
  std::vector<std::string> ids;
  ids.reserve(slots.size());
  for (auto& s : slots)
    ids.push_back(format_event_id(epoch, s.repeat ? s.value : records[s.value].pos));
  auto next = ids.begin();
  for (auto& job : jobs) {
    publish_outcome out;
    out.ids.assign(next, next + static_cast<std::ptrdiff_t>(job->events.size()));
    next += static_cast<std::ptrdiff_t>(job->events.size());
    job->done(std::move(out));
  }
}

} // namespace

journal_handle::behavior_type journal(journal_actor* self, std::shared_ptr<hub_storage> store,
                                      batch_sink dispatcher, hub_stats* stats,
                                      journal_settings settings) {
  auto& st = self->state;
  st.store = std::move(store);
  st.shared = settings.shared;
  storage_thread::claim(); // detached: this is the journal's own thread
  st.dispatcher = std::move(dispatcher);
  st.stats = stats;
  st.settings = settings;
  if (!st.shared) // in cluster mode the tail keeps the log's retention
    self->delayed_send(self, st.settings.retention_interval, retention_atom::value);
  return {
    [=](publish_atom, const publish_job_ptr& job) {
      self->state.pending.push_back(job);
      schedule_commit(self);
    },
    [=](session_put_atom, const session_write_ptr& w) -> caf::result<bool> {
      // Session state goes through the journal too: one writer, group-committed, the log's
      // durability; a session's writes apply in the order it sent them.
      auto rp = self->make_response_promise<bool>();
      self->state.session_writes.push_back({w, rp});
      schedule_commit(self);
      return rp;
    },
    [=](commit_atom) { commit(self); },
    [=](job_put_atom, const std::string& id, const std::string& value,
        std::uint64_t base) -> caf::result<std::uint64_t> {
      // Job snapshots go through the journal too: one writer, the log's durability.
      auto& st = self->state;
      if (st.shared && !value.empty()) {
        // Cluster mode: into the shared log, built on the snapshot at `base`. Every node's tail
        // decides alike whether it takes effect (only when built on the newest taken), stores it
        // and tells the job's watcher. The answer (its position) waits until this node's tail
        // has applied it, as a publish's does.
        // (Retiring a job is each node's own retention: deletes stay local.)
        std::uint64_t position = 0;
        if (auto err = st.shared->publish_job(id, value, base, position)) {
          log_job_write_failed(st, id, *err);
          return hub_error(hub_errc::unavailable, "cluster_unavailable",
                           "the cluster's log did not take the job's change (" + *err
                             + "); retry");
        }
        if (!st.store->log().wait_for_head(position, st.settings.publish_timeout)) {
          spdlog::warn("event=cluster_apply_slow position={} applied={} job={}", position,
                       st.store->log().head(), id);
          return hub_error(hub_errc::unavailable, "cluster_catching_up",
                           "the job's change is in the cluster's log, but this node has not "
                           "applied it yet; read the job again");
        }
        return position;
      }
      if (auto err = self->state.store->jobs().put(id, value)) {
        log_job_write_failed(st, id, *err);
        return hub_error(hub_errc::storage_failure, "storage_failure", *err);
      }
      return std::uint64_t{0}; // stored: one node decides at once
    },
    [=](retention_atom) {
      auto& st = self->state;
      // A full chunk means more may be due: continue right after pending publishes.
      if (trim_by_age(*st.store, st.settings.max_age, true))
        self->send(self, retention_atom::value);
      else
        self->delayed_send(self, st.settings.retention_interval, retention_atom::value);
    },
  };
}

} // namespace herald
