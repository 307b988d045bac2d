#include "actors/job_watcher.hpp"

#include <random>

#include <spdlog/spdlog.h>

#include "storage/job.hpp"

namespace herald {

using json = nlohmann::json;


namespace {


/// A job snapshot as a stream event: its version is its position and its id.
item_ptr snapshot_item(const json& snapshot, bool first) {
  // Viewers (browsers) never see the upstream URL: it may point into a private network.
  json shown = snapshot;
  shown.erase("upstream");
  auto version = snapshot["version"].get<std::uint64_t>();
  return stream_item::make_event(version, std::to_string(version),
                                 "jobs/" + snapshot.value("id", std::string{}),
                                 job_event_type(snapshot, first), shown.dump());
}

/// Tells the dashboard's board (hub_activity) what this job is now.
void show(const job_watcher_state& st) {
  if (st.snapshot.is_null())
    return st.stats->activity.job_gone(st.id);
  job_summary job;
  job.id = st.id;
  job.state = st.snapshot.value("state", std::string{});
  if (auto p = st.snapshot.find("progress"); p != st.snapshot.end() && p->is_number())
    job.progress = p->get<double>();
  if (auto m = st.snapshot.find("message"); m != st.snapshot.end() && m->is_string())
    job.message = m->get<std::string>();
  job.updated_ms = st.snapshot.value("updated", std::int64_t{0});
  job.viewers = st.viewers.size();
  st.stats->activity.job_changed(std::move(job));
}

bool terminal(const json& snapshot) {
  return !snapshot.is_null() && is_terminal_state(snapshot["state"].get<std::string>());
}

/// (Re)arms the watcher's single timer; older ticks are ignored by generation.
void arm(job_watcher_actor* self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  auto gen = ++st.tick_gen;
  std::chrono::seconds delay = st.settings.stale_after;
  if (st.snapshot.is_null())
    delay = std::chrono::seconds(0); // unknown job: nothing to keep, stop when unused
  else if (terminal(st.snapshot))
    delay = st.settings.retention;
  else if (st.viewers.empty())
    delay = std::min(st.settings.idle, st.settings.stale_after);
  auto elapsed = self->clock().now() - st.last_change;
  auto remaining = std::chrono::duration_cast<caf::timespan>(delay) - elapsed;
  if (remaining < caf::timespan{0})
    remaining = caf::timespan{0};
  self->delayed_send(self, remaining, tick_atom::value, gen);
}

void stop_when_confirmed(job_watcher_actor* self) {
  auto& st = self->state;
  st.stopping = true;
  self->send(st.registry, idle_atom::value, st.id, st.requests_seen);
}

void maybe_poll(job_watcher_actor* self);

/// A request reached us after we reported idle: the registry forwarded it after our report, so
/// it will refuse to stop us. Serve the request as usual.
void carry_on(job_watcher_actor* self) {
  if (!self->state.stopping)
    return;
  self->state.stopping = false;
  arm(self);
}

/// Stops polling now: the pending poll is cancelled and an in-flight reply will be ignored.
void stop_polling(job_watcher_actor* self) {
  auto& st = self->state;
  ++st.poll_gen;
  st.polling = false;
}

/// Makes `next` the snapshot and tells every viewer (ending their streams at a terminal state).
void adopt(job_watcher_actor* self, json next) {
  auto& st = self->state;
  st.snapshot = std::move(next);
  st.last_change = self->clock().now();
  auto item = snapshot_item(st.snapshot, false);
  bool end = terminal(st.snapshot);
  for (auto& v : st.viewers) {
    v.queue->push_live(item);
    if (end)
      v.queue->close_after_flush(close_reason::none, {});
  }
  if (end) {
    st.viewers.clear(); // their streams end; their exits arrive as down_msgs
    stop_polling(self);
  }
  show(st);
}

/// How many times an update is built again on a newer snapshot when other nodes changed the job
/// first (cluster mode) before it is refused as contended, and the longest pause between two
/// attempts (a random one, doubling with each lost attempt, so that nodes updating the same job
/// in tight loops do not keep colliding).
constexpr int max_update_attempts = 16;
constexpr std::chrono::milliseconds max_attempt_pause{64};

/// Cluster mode: another node's change of the job came first in the shared log.
caf::error job_moved() {
  return hub_error(hub_errc::conflict, "job_moved", "the job changed through another node");
}

bool moved(const caf::error& err) {
  return is(err, hub_errc::conflict) && parts_of(err).code == "job_moved";
}

/// Cluster mode: a snapshot of this job from the shared log, and whether it took effect (it did
/// when it was built on the newest one that had: cluster_tail.cpp decides, alike on every node).
/// Those that did are adopted in the stream's order, this node's own changes included, so every
/// node's viewers see each change once and in order.
void on_sync(job_watcher_actor* self, const stored_job& job, bool taken) {
  auto& st = self->state;
  ++st.requests_seen;
  carry_on(self);
  if (!taken || job.position <= st.position)
    return;
  auto next = json::parse(job.text, nullptr, false);
  if (next.is_discarded() || !next.is_object() || !next.contains("version")
      || !next["version"].is_number_unsigned()) {
    spdlog::error("event=job_snapshot_unreadable job={} position={}", st.id, job.position);
    return;
  }
  st.position = job.position;
  st.load_error.reset(); // the store has it too (the tail wrote it first)
  adopt(self, std::move(next));
  arm(self);
  maybe_poll(self);
}

/// Cluster mode: the watcher takes only the job's snapshots from the shared log (other messages
/// wait in the mailbox) until `ends` gives an outcome for one of them, or `delay` passes; then
/// `resume` runs with that outcome (none: the time passed). `ends` may be empty: a plain pause.
void hold(job_watcher_actor* self, caf::timespan delay,
          std::function<std::optional<caf::error>(const stored_job&, bool)> ends,
          std::function<void(std::optional<caf::error>)> resume) {
  auto gen = ++self->state.verdict_gen;
  auto release = [=](std::optional<caf::error> outcome) {
    self->unbecome();
    self->set_default_handler(caf::print_and_drop);
    resume(std::move(outcome));
  };
  self->set_default_handler(caf::skip); // requests, watches and timers wait their turn
  self->delayed_send(self, delay, verdict_atom::value, gen);
  self->become(
    caf::keep_behavior,
    [=](job_sync_atom, const stored_job& job, bool taken) {
      on_sync(self, job, taken);
      if (ends)
        if (auto outcome = ends(job, taken))
          release(std::move(outcome));
    },
    [=](verdict_atom, std::uint64_t g) {
      if (g == gen)
        release(std::nullopt);
    });
}

/// Cluster mode: the change at `position` is in the shared log, and this node's tail has applied
/// it; its verdict is on its way, behind the snapshots before it. Until it comes, the watcher
/// takes only those, then `then` learns whether the change took effect (no error) or another
/// node's came first (job_moved). No verdict within `verdict_timeout`: 503, and a change that
/// did take effect is adopted when its sync comes.
void await_verdict(job_watcher_actor* self, std::uint64_t position,
                   std::function<void(const caf::error&)> then) {
  hold(
    self, self->state.settings.verdict_timeout,
    [position](const stored_job& job, bool taken) -> std::optional<caf::error> {
      if (job.position != position)
        return std::nullopt;
      return taken ? caf::error{} : job_moved();
    },
    [=](std::optional<caf::error> outcome) {
      if (!outcome) {
        spdlog::warn("event=job_verdict_slow job={} position={}", self->state.id, position);
        outcome = hub_error(hub_errc::unavailable, "cluster_catching_up",
                            "the job's change is in the cluster's log, but this node has not "
                            "applied it yet; read the job again");
      }
      then(*outcome);
      arm(self);
      maybe_poll(self);
    });
}

/// A random pause before attempt `attempt` (1, 2, ...) of a change: up to 2^attempt ms, at most
/// max_attempt_pause.
caf::timespan attempt_pause(int attempt) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  auto cap = std::min<std::int64_t>(std::int64_t{1} << std::min(attempt, 20),
                                    max_attempt_pause.count());
  return std::chrono::microseconds(
    std::uniform_int_distribution<std::int64_t>{0, cap * 1000}(rng));
}

/// Persists `next`, then adopts it; `then` gets the error if it could not be stored (none: it
/// was; job_moved: in cluster mode, another node's change came first, and this watcher has it).
/// Other messages wait (await) so that changes apply strictly one after another.
void commit_change(job_watcher_actor* self, json next,
                   std::function<void(const caf::error&)> then) {
  auto& st = self->state;
  auto text = next.dump();
  self->request(st.journal, caf::infinite, job_put_atom::value, st.id, text, st.position)
    .await(
      [=](std::uint64_t position) mutable {
        if (position != 0)
          return await_verdict(self, position, then); // cluster mode: the tail adopts it
        adopt(self, std::move(next));
        then(caf::error{});
        arm(self);
        maybe_poll(self);
      },
      [=](caf::error& err) { then(err); });
}

bool should_poll(const job_watcher_state& st) {
  return !st.stopping && !st.snapshot.is_null() && st.snapshot.contains("upstream")
         && !terminal(st.snapshot) && !st.viewers.empty();
}

/// Starts polling if the job should be polled and is not yet.
void maybe_poll(job_watcher_actor* self) {
  auto& st = self->state;
  if (st.polling || !should_poll(st) || !st.settings.fetch)
    return;
  st.polling = true;
  st.poll_errors = 0;
  st.idle_polls = 0;
  self->send(self, poll_atom::value, ++st.poll_gen);
}

void on_poll(job_watcher_actor* self, std::uint64_t gen) {
  auto& st = self->state;
  if (gen != st.poll_gen)
    return;
  if (!should_poll(st)) {
    st.polling = false;
    return;
  }
  ++st.stats->upstream_polls;
  auto me = caf::actor_cast<caf::actor>(self);
  st.settings.fetch(st.snapshot["upstream"]["url"].get<std::string>(),
                    st.settings.upstream_timeout, [me, gen](upstream_reply r) {
                      caf::anon_send(me, polled_atom::value, gen, std::move(r));
                    });
}

void push_notice(job_watcher_actor* self, const std::string& type, const json& data) {
  auto notice = stream_item::make_notice(type, data.dump());
  for (auto& v : self->state.viewers)
    v.queue->push_notice(notice);
}

void on_polled(job_watcher_actor* self, std::uint64_t gen, const upstream_reply& r) {
  auto& st = self->state;
  if (gen != st.poll_gen || !should_poll(st)) {
    if (gen == st.poll_gen)
      st.polling = false;
    return;
  }
  auto& up = st.snapshot["upstream"];
  auto interval = std::chrono::milliseconds(up.value("interval_ms", std::uint64_t{1000}));
  std::string problem;
  std::optional<json> update;
  json next; // the snapshot the update leads to, once validated
  if (r.status == 0) {
    problem = r.error;
  } else if (r.status != 200) {
    problem = "upstream answered HTTP " + std::to_string(r.status);
  } else {
    auto doc = json::parse(r.body, nullptr, false);
    if (doc.is_discarded())
      problem = "upstream answered something that is not JSON";
    else
      update = upstream_update(st.snapshot, doc);
  }
  if (update) {
    auto res = apply_job_update(st.snapshot, st.id, *update, wall_ms(),
                                st.settings.upstream_allowed_hosts);
    if (auto* err = std::get_if<job_error>(&res))
      problem = "upstream status does not fit the job: " + err->message;
    else
      next = std::get<json>(std::move(res));
  }
  std::chrono::milliseconds delay = interval;
  if (!problem.empty()) {
    // Back off (x2 per consecutive error, at most a minute) and tell the viewers; never crash.
    ++st.poll_errors;
    delay = std::min<std::chrono::milliseconds>(interval * (1u << std::min(st.poll_errors, 10u)),
                                                std::chrono::minutes(1));
    push_notice(self, "job.upstream_error",
                {{"error", problem}, {"attempt", st.poll_errors}, {"retry_ms", delay.count()}});
  } else {
    st.poll_errors = 0;
    if (update) {
      st.idle_polls = 0;
      commit_change(self, std::move(next), [](const caf::error&) {});
    } else if (st.snapshot["state"] == "waiting") {
      // Nothing happens while a job waits: poll less and less often (at most every 30 s).
      ++st.idle_polls;
      delay = std::min<std::chrono::milliseconds>(interval * (1u << std::min(st.idle_polls, 8u)),
                                                  std::chrono::seconds(30));
    }
  }
  self->delayed_send(self, delay, poll_atom::value, gen);
}

void on_tick(job_watcher_actor* self, std::uint64_t gen) {
  auto& st = self->state;
  if (gen != st.tick_gen || st.stopping)
    return;
  auto elapsed = self->clock().now() - st.last_change;
  if (st.snapshot.is_null()) {
    if (st.viewers.empty())
      stop_when_confirmed(self);
    return;
  }
  if (terminal(st.snapshot)) {
    if (elapsed >= st.settings.retention) {
      // Retention is over: forget the job (storage first), then stop.
      auto id = st.id;
      self->request(st.journal, caf::infinite, job_put_atom::value, id, std::string{},
                    std::uint64_t{0})
        .await(
          [=](std::uint64_t) {
            self->state.snapshot = nullptr;
            show(self->state);
            stop_when_confirmed(self);
          },
               [=](caf::error&) { arm(self); });
      return;
    }
  } else if (elapsed >= st.settings.stale_after) {
    spdlog::info("event=job_expired job={}", st.id);
    commit_change(self, expire_job(st.snapshot, wall_ms()), [](const caf::error&) {});
    return;
  } else if (st.viewers.empty() && elapsed >= st.settings.idle) {
    stop_when_confirmed(self);
    return;
  }
  arm(self);
}

/// Applies a PUT's body to the job and stores the result; in cluster mode, built again on the
/// newer snapshot when another node changed the job first.
void update(job_watcher_actor* self, const job_request_ptr& req, const json& body, int attempt) {
  auto& st = self->state;
  auto res = apply_job_update(st.snapshot, st.id, body, wall_ms(),
                              st.settings.upstream_allowed_hosts);
  if (auto* err = std::get_if<job_error>(&res)) {
    auto kind = err->conflict ? hub_errc::conflict : hub_errc::invalid_request;
    return req->done(request_reply::failed(
      hub_error(kind, err->code, err->message,
                kind == hub_errc::conflict ? std::optional{err->current_version} : std::nullopt)));
  }
  commit_change(self, std::get<json>(std::move(res)), [=](const caf::error& err) {
    if (!err)
      req->done(request_reply::ok(self->state.snapshot));
    else if (moved(err) && attempt + 1 < max_update_attempts)
      hold(self, attempt_pause(attempt + 1), {},
           [=](std::optional<caf::error>) { update(self, req, body, attempt + 1); });
    else if (moved(err))
      req->done(request_reply::failed(hub_errc::unavailable, "job_contended",
                                      "the job kept changing through other nodes; retry"));
    else if (is(err, hub_errc::unavailable) || is(err, hub_errc::storage_failure))
      req->done(request_reply::failed(err)); // says why (e.g. the disk is nearly full)
    else
      req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure",
                                      "the job could not be stored"));
  });
}

/// A snapshot read (GET) or an update (PUT).
void on_request(job_watcher_actor* self, const job_request_ptr& req) {
  auto& st = self->state;
  ++st.requests_seen;
  carry_on(self);
  if (st.load_error)
    return req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure",
                                           *st.load_error));
  if (!req->update) {
    if (st.snapshot.is_null())
      return req->done(request_reply::failed(hub_errc::not_found, "job_not_found",
                                             "no job '" + st.id + "'"));
    return req->done(request_reply::ok(st.snapshot));
  }
  auto body = json::parse(*req->update, nullptr, false);
  if (body.is_discarded())
    return req->done(request_reply::failed(hub_errc::invalid_request, "malformed_json",
                                           "the body is not valid JSON"));
  update(self, req, body, 0);
}

/// A viewer (the sender) starts watching: its queue gets the snapshot, then every change.
caf::result<caf::actor> on_watch(job_watcher_actor* self, const queue_ptr& queue,
                                 std::uint64_t last_seen) {
  auto& st = self->state;
  ++st.requests_seen;
  carry_on(self);
  if (st.load_error)
    return hub_error(hub_errc::storage_failure, "storage_failure", *st.load_error);
  if (st.snapshot.is_null())
    return hub_error(hub_errc::not_found, "job_not_found", "no job '" + st.id + "'");
  auto version = st.snapshot["version"].get<std::uint64_t>();
  bool end = terminal(st.snapshot);
  if (end && last_seen >= version)
    return hub_error(hub_errc::finished, "job_finished", "the job ended; nothing more to send");
  queue->accept({stream_item::make_retry(st.settings.retry_ms), snapshot_item(st.snapshot, true)},
                version);
  queue->push_replay({}, version);
  if (end) {
    queue->close_after_flush(close_reason::none, {});
    return caf::actor_cast<caf::actor>(self);
  }
  auto viewer = caf::actor_cast<caf::actor>(self->current_sender());
  self->monitor(viewer);
  st.viewers.push_back({viewer.address(), queue});
  show(st);
  arm(self);
  maybe_poll(self);
  if (!st.heartbeat_armed) { // one heartbeat timer per job, for all its viewers
    st.heartbeat_armed = true;
    self->delayed_send(self, st.settings.heartbeat, heartbeat_atom::value);
  }
  return caf::actor_cast<caf::actor>(self);
}

caf::behavior running(job_watcher_actor* self) {
  return {
    [=](job_atom, const job_request_ptr& req) { on_request(self, req); },
    [=](job_sync_atom, const stored_job& job, bool taken) { on_sync(self, job, taken); },
    [=](watch_atom, const queue_ptr& queue, std::uint64_t last_seen) {
      return on_watch(self, queue, last_seen);
    },
    [=](tick_atom, std::uint64_t gen) { on_tick(self, gen); },
    [=](heartbeat_atom) {
      auto& st = self->state;
      if (st.viewers.empty()) {
        st.heartbeat_armed = false;
        return;
      }
      auto beat = stream_item::make_heartbeat();
      for (auto& v : st.viewers)
        v.queue->push_control(beat);
      self->delayed_send(self, st.settings.heartbeat, heartbeat_atom::value);
    },
    [=](poll_atom, std::uint64_t gen) { on_poll(self, gen); },
    [=](verdict_atom, std::uint64_t) {}, // a verdict's timer, after the verdict came
    [=](polled_atom, std::uint64_t gen, const upstream_reply& r) { on_polled(self, gen, r); },
    [=](shutdown_atom, std::uint64_t retry_ms, std::uint64_t jitter_ms) {
      for (auto& v : self->state.viewers)
        v.queue->close_after_flush(close_reason::shutdown,
                                   shutdown_items(jittered_retry_ms(retry_ms, jitter_ms)));
    },
    [=](idle_atom, bool) {
      // The registry refused our stop: a request is on its way. Carry on.
      self->state.stopping = false;
      arm(self);
    },
  };
}

} // namespace

caf::behavior job_watcher(job_watcher_actor* self, std::string id, journal_handle journal,
                          reader_handle reader, caf::actor registry, job_settings settings,
                          hub_stats* stats) {
  auto& st = self->state;
  st.id = std::move(id);
  st.journal = std::move(journal);
  st.reader = std::move(reader);
  st.registry = std::move(registry);
  st.settings = settings;
  st.stats = stats;
  st.last_change = self->clock().now();
  ++stats->job_actors;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& vs = self->state.viewers;
    auto it = std::find_if(vs.begin(), vs.end(), [&](auto& v) { return v.addr == dm.source; });
    if (it == vs.end())
      return;
    *it = vs.back();
    vs.pop_back();
    show(self->state);
    if (vs.empty()) {
      stop_polling(self); // nobody watches: the upstream hears nothing more from us
      arm(self);
    }
  });
  // Load the stored snapshot before serving anything: requests wait in the mailbox meanwhile.
  self->request(st.reader, caf::infinite, job_get_atom::value, st.id)
    .await([=](const stored_job& job) {
      auto& st = self->state;
      st.position = job.position;
      if (!job.text.empty())
        st.snapshot = json::parse(job.text, nullptr, false);
      if (st.snapshot.is_discarded())
        st.snapshot = nullptr;
      if (!st.snapshot.is_null()) {
        // Time passed while nobody watched (or the hub was down): apply it now.
        auto age = std::chrono::milliseconds(wall_ms() - st.snapshot["updated"].get<std::int64_t>());
        if (terminal(st.snapshot) && age >= st.settings.retention) {
          caf::anon_send(st.journal, job_put_atom::value, st.id, std::string{}, std::uint64_t{0});
          st.snapshot = nullptr;
        } else if (!terminal(st.snapshot) && age >= st.settings.stale_after) {
          commit_change(self, expire_job(st.snapshot, wall_ms()), [](const caf::error&) {});
        } else {
          st.last_change -= std::chrono::duration_cast<caf::timespan>(age);
        }
      }
      show(st);
      arm(self);
    },
    [=](caf::error& err) {
      // Unknown is not "no such job": every request gets 503 until this watcher idles out and
      // a later one reads the job again.
      self->state.load_error = parts_of(err).message;
      spdlog::error("event=job_load_failed job={} error=\"{}\"", self->state.id,
                    self->system().render(err));
      arm(self);
    });
  return running(self);
}

} // namespace herald
