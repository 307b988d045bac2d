#include "actors/cluster_tail.hpp"

#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/retention.hpp"
#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

namespace herald {
namespace {

/// Whether job snapshot `m` takes effect where the job's newest snapshot taken is at `current`:
/// it must be built on that one, so that of two changes built on the same snapshot through two
/// nodes only the first in the stream counts, on every node alike (JetStream 2.9's own
/// expected-sequence check does not hold under concurrent publishes to a replicated stream:
/// nats-server issue 4320). A node without a position for the job (its store was rebuilt after
/// the stream dropped the job's snapshots) cannot tell and takes it; so it does a snapshot
/// published without a base, and one it took already (a batch applied again after a failed
/// write).
bool takes_effect(const tail_message& m, std::uint64_t current) {
  return !m.has_base || current == 0 || m.base == current || m.seq == current;
}

/// Applies the messages read (in stream order) to the local log and hands them to the
/// dispatcher. False when the local write failed (nothing was applied; read again from head+1).
bool apply(cluster_tail_actor* self) {
  auto& st = self->state;
  auto& log = st.store->log();
  auto head = log.head();
  std::vector<event_record> records;
  records.reserve(st.messages.size());
  std::uint64_t lost_through = 0;
  std::uint64_t lost = 0;
  std::uint64_t expected = head + 1;
  std::vector<const tail_message*> jobs;
  std::vector<session_write_ptr> sessions; // other processes' changes of durable sessions
  for (auto& m : st.messages) {
    if (m.seq < expected)
      continue; // applied before (a consumer reset repeats from where it was asked)
    if (m.seq > expected) {
      lost_through = m.seq - 1; // dropped by the stream before this node read it
      lost += m.seq - expected;
    }
    if (m.kind == shared_kind::job) {
      jobs.push_back(&m); // a job's snapshot: its sequence is no event's position
      expected = m.seq + 1;
      continue;
    }
    if (m.kind == shared_kind::session) {
      expected = m.seq + 1;
      if (m.origin == st.shared->origin())
        continue; // this process's own: its journal stored it, its session actor made it
      auto w = decode_session_write(m.body);
      if (!w || w->id != m.key) {
        spdlog::error("event=cluster_message_unreadable seq={} session={}", m.seq, m.key);
        continue;
      }
      w->merge_cursors = true;
      w->origin = m.origin;
      sessions.push_back(std::make_shared<session_write>(std::move(*w)));
      continue;
    }
    event_record r;
    if (!event_log::decode_record(m.body, r)) {
      spdlog::error("event=cluster_message_unreadable seq={} bytes={}", m.seq, m.body.size());
      lost_through = m.seq; // a gap for whoever could have had it
      ++lost;
    } else {
      r.pos = m.seq;
      records.push_back(std::move(r));
    }
    expected = m.seq + 1;
  }
  if (expected - 1 <= head)
    return true;
  // Jobs first: a node that fails here reads them again (a snapshot written twice is the same).
  // Their watchers hear of each (taken or not) before the log's head moves past it: the journal
  // answers a change once the head has, and the watcher then waits for the verdict
  // (job_watcher.cpp).
  std::unordered_map<std::string, std::uint64_t> job_positions; // the newest taken, this batch
  for (auto* m : jobs) {
    auto it = job_positions.find(m->key);
    if (it == job_positions.end()) {
      auto stored = st.store->jobs().get(m->key);
      if (!stored.ok()) {
        spdlog::error("event=cluster_apply_failed job={} error=\"{}\"", m->key, *stored.error);
        return false;
      }
      it = job_positions.emplace(m->key, stored.value ? stored.value->position : 0).first;
    }
    bool taken = takes_effect(*m, it->second);
    if (taken) {
      if (auto err = st.store->jobs().put(m->key, m->body, m->seq)) {
        spdlog::error("event=cluster_apply_failed job={} error=\"{}\"", m->key, *err);
        return false;
      }
      it->second = m->seq;
    }
    caf::anon_send(st.job_registry, job_sync_atom::value, m->key, stored_job{m->body, m->seq},
                   taken);
  }
  if (!sessions.empty()) {
    std::vector<const session_write*> ws;
    for (auto& w : sessions)
      ws.push_back(w.get());
    if (auto err = st.store->sessions().write(ws)) {
      spdlog::error("event=cluster_apply_failed sessions={} error=\"{}\"", ws.size(), *err);
      return false;
    }
  }
  if (auto err = log.apply(records, expected - 1, lost_through)) {
    spdlog::error("event=cluster_apply_failed error=\"{}\" through={}", *err, expected - 1);
    return false;
  }
  if (lost > 0) {
    st.stats->cluster.lost += lost;
    spdlog::warn("event=cluster_gap lost={} lost_through={} applied_before={}", lost,
                 lost_through, head);
  }
  st.stats->cluster.applied = expected - 1;
  for (auto& w : sessions)
    caf::anon_send(st.session_registry, session_sync_atom::value, w);
  if (records.empty())
    return true;
  auto epoch = log.epoch();
  auto committed = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  auto batch = std::make_shared<std::vector<committed_event>>();
  batch->reserve(records.size());
  for (auto& r : records)
    batch->push_back(stream_item::make_event(r.pos, format_event_id(epoch, r.pos),
                                             std::move(r.topic), std::move(r.type),
                                             std::move(r.data), r.ack, std::move(r.access),
                                             std::move(r.mercure), committed));
  st.stats->activity.count_topics(*batch, [](const item_ptr& e) -> const std::string& {
    return e->topic;
  });
  self->send(st.dispatcher, deliver_atom::value, committed_batch{std::move(batch)});
  return true;
}

/// While not caught up and nothing arrives: the stream may hold nothing past the head (or only
/// sequences it already dropped). Then the node is caught up (and what was dropped is lost).
void check_caught_up(cluster_tail_actor* self) {
  auto& st = self->state;
  std::string err;
  auto state = st.shared->state(err);
  if (!state)
    return;
  auto& log = st.store->log();
  if (state->last > log.head() && state->first > state->last) {
    std::vector<event_record> none;
    if (auto e = log.apply(none, state->last, state->last)) {
      spdlog::error("event=cluster_apply_failed error=\"{}\"", *e);
      return;
    }
    st.stats->cluster.applied = state->last;
  }
  if (state->last <= log.head()) {
    st.stats->cluster.caught_up = true;
    st.stats->cluster.lag = 0;
    spdlog::info("event=cluster_caught_up applied={}", log.head());
  }
}

void poll(cluster_tail_actor* self) {
  auto& st = self->state;
  auto& health = st.stats->cluster;
  health.connected = st.shared->connected();
  if (!st.tailing) {
    if (auto err = st.shared->start_tail(st.store->log().head() + 1)) {
      spdlog::warn("event=cluster_tail_waiting error=\"{}\"", *err);
      self->delayed_send(self, st.settings.retry, poll_atom::value);
      return;
    }
    st.tailing = true;
  }
  st.messages.clear();
  if (auto err = st.shared->next(st.messages, st.settings.batch, st.settings.wait)) {
    // Started again from the head (the client resumes it after a reconnect by itself, but its
    // consumer may be gone with the server it lived on).
    spdlog::warn("event=cluster_tail_restart reason=\"{}\" applied={}", *err,
                 st.store->log().head());
    st.shared->stop_tail();
    st.tailing = false;
    self->send(self, poll_atom::value);
    return;
  }
  if (st.messages.empty()) {
    if (!health.caught_up && health.connected)
      check_caught_up(self);
  } else if (apply(self)) {
    auto pending = st.messages.back().pending;
    health.lag = pending;
    if (pending == 0 && !health.caught_up) {
      health.caught_up = true;
      spdlog::info("event=cluster_caught_up applied={}", st.store->log().head());
    }
  } else {
    // Not applied: read them again after a pause (the local store may recover).
    st.shared->stop_tail();
    st.tailing = false;
    self->delayed_send(self, st.settings.retry, poll_atom::value);
    return;
  }
  self->send(self, poll_atom::value);
}

} // namespace

cluster_tail_handle::behavior_type cluster_tail(cluster_tail_actor* self,
                                                std::shared_ptr<hub_storage> store,
                                                std::shared_ptr<shared_log> shared,
                                                batch_sink dispatcher, caf::actor job_registry,
                                                caf::actor session_registry, hub_stats* stats,
                                                cluster_tail_settings settings) {
  auto& st = self->state;
  st.job_registry = std::move(job_registry);
  st.session_registry = std::move(session_registry);
  storage_thread::claim(); // detached: this is the tail's own thread
  st.store = std::move(store);
  st.shared = std::move(shared);
  st.dispatcher = std::move(dispatcher);
  st.stats = stats;
  st.settings = settings;
  st.stats->cluster.enabled = true;
  st.stats->cluster.applied = st.store->log().head();
  self->send(self, poll_atom::value);
  self->delayed_send(self, st.settings.retention_interval, retention_atom::value);
  return {
    [=](poll_atom) { poll(self); },
    [=](retention_atom) {
      auto& st = self->state;
      if (trim_by_age(*st.store, st.settings.max_age, false))
        self->send(self, retention_atom::value);
      else
        self->delayed_send(self, st.settings.retention_interval, retention_atom::value);
    },
  };
}

} // namespace herald
