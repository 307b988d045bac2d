#include "actors/session.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

#include "actors/session_parts.hpp"

namespace herald {
namespace session_parts {

filter_ptr session_filter(const session_record& rec) {
  return std::make_shared<const topic_filter>(rec.settings.topics,
                                              std::make_shared<const principal>(rec.viewer));
}

caf::error not_yours(const std::string& id) {
  return hub_error(hub_errc::forbidden, "forbidden",
                   "session '" + id + "' belongs to another subject");
}




caf::timespan ack_wait(const session_state& st) {
  return std::chrono::milliseconds(st.rec.settings.ack_wait_ms);
}

// -- bookkeeping ------------------------------------------------------------------------------

void set_due(session_state& st, std::uint64_t pos, pending_ack& p, time_point due) {
  if (p.due != time_point{})
    st.deadlines.erase({p.due, pos});
  p.due = due;
  if (due != time_point{})
    st.deadlines.emplace(due, pos);
}

void erase_pending(session_state& st, std::map<std::uint64_t, pending_ack>::iterator it) {
  set_due(st, it->first, it->second, time_point{});
  st.pending.erase(it);
  --st.deps.stats->pending_acks;
  st.show();
}

void add_pending(session_state& st, std::uint64_t pos, std::uint32_t deliveries, time_point due) {
  auto [it, added] = st.pending.emplace(pos, pending_ack{deliveries});
  if (added)
    ++st.deps.stats->pending_acks;
  else
    it->second.deliveries = deliveries;
  set_due(st, pos, it->second, due);
  st.show();
}

/// The session's delivered cursor now: what its current stream's socket has taken.
std::uint64_t delivered_through(const session_state& st) {
  if (st.phase == stream_phase::none || !st.queue)
    return st.rec.delivered_through;
  return std::max(st.stream_start, st.queue->written_through());
}

/// A write of the session's record (with its cursors as of now) plus `w`'s other changes.
void persist(session_actor* self, session_write w,
             std::function<void(const caf::error& failure)> then) {
  auto& st = self->state;
  st.rec.delivered_through = delivered_through(st);
  st.checkpointed = st.rec.delivered_through;
  w.id = st.id;
  if (!w.erase)
    w.record = st.rec;
  ++st.writes_sent;
  self->request(st.deps.journal, caf::infinite, session_put_atom::value,
                session_write_ptr{std::make_shared<session_write>(std::move(w))})
    .then(
      [then](bool) {
        if (then)
          then(caf::error{});
      },
      [=](caf::error& err) {
        // (The journal logs the failure, at most once per 10 s: a full disk fails every
        // session's writes.)
        spdlog::debug("event=session_write_failed session={} error=\"{}\"", self->state.id,
                      self->system().render(err));
        if (then)
          then(err);
      });
}

request_reply not_stored(std::string_view what, const caf::error& failure) {
  auto p = parts_of(failure);
  if (p.kind != hub_errc::unavailable && p.kind != hub_errc::storage_failure)
    return request_reply::failed(hub_errc::storage_failure, "storage_failure",
                                 std::string{what} + " was not stored");
  return request_reply::failed(p.kind, std::move(p.code),
                               std::string{what} + " was not stored: " + p.message);
}

// -- timer ------------------------------------------------------------------------------------

void arm(session_actor* self, time_point at) {
  auto& st = self->state;
  auto now = self->clock().now();
  at = std::min(at, now + std::chrono::duration_cast<caf::timespan>(max_timer_delay));
  if (at >= st.timer_at)
    return;
  st.timer_at = at;
  self->delayed_send(self, std::max(caf::timespan{0}, at - now), tick_atom::value,
                     static_cast<std::int64_t>(at.time_since_epoch().count()));
}

/// Arms the timer for the next thing due: an ack wait, a checkpoint, or the expiry.
void rearm(session_actor* self) {
  auto& st = self->state;
  if (st.deleted)
    return;
  auto now = self->clock().now();
  auto next = time_point::max();
  if (!st.deadlines.empty())
    next = st.deadlines.begin()->first;
  if (st.stream) {
    next = std::min(next, now + std::chrono::duration_cast<caf::timespan>(
                                  st.deps.checkpoint_interval));
  } else {
    auto expires_ms = st.rec.last_seen_ms
                      + static_cast<std::int64_t>(st.rec.settings.ttl_seconds) * 1000;
    next = std::min(next, now + std::chrono::milliseconds(std::max<std::int64_t>(
                                  0, expires_ms - wall_ms())));
  }
  arm(self, next);
}

// -- the stream -------------------------------------------------------------------------------

void pump(session_actor* self);

void wait_for_drain(session_actor* self) {
  auto& st = self->state;
  st.phase = stream_phase::draining;
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(self->ctrl());
  auto gen = st.stream_gen;
  st.queue->notify_when_drained([weak, gen] {
    if (auto me = caf::actor_cast<caf::actor>(weak))
      caf::anon_send(me, resume_atom::value, gen);
  });
}

/// Sends the events of a page or batch in log order, from after `sent_through`: ack-required
/// ones become pending (or pause the stream at max_pending); ones already handled are skipped.
void send_events(session_actor* self, const std::vector<committed_event>& events,
                 std::uint64_t through) {
  auto& st = self->state;
  std::vector<item_ptr> out;
  session_write w;
  auto due = self->clock().now() + ack_wait(st);
  for (auto& ev : events) {
    if (ev->pos <= st.sent_through)
      continue;
    if (ev->ack) {
      if (ev->pos > st.rec.ack_through) {
        if (st.pending.size() >= st.rec.settings.max_pending) {
          st.paused = true;
          break;
        }
        add_pending(st, ev->pos, 1, due);
        st.rec.ack_through = ev->pos;
        w.put_pending.push_back({ev->pos, 1});
        out.push_back(ev);
      } // else: pending (redelivered separately), dead-lettered or acknowledged
    } else if (ev->pos > st.plain_skip_through) {
      out.push_back(ev);
    }
    st.sent_through = ev->pos;
  }
  if (!st.paused)
    st.sent_through = std::max(st.sent_through, through);
  if (!out.empty())
    st.queue->push_live(out);
  if (!w.put_pending.empty()) {
    persist(self, std::move(w));
    rearm(self);
  }
}

void dead_letter(session_state& st, std::uint64_t pos, std::uint32_t deliveries,
                 const char* reason, session_write& w) {
  w.del_pending.push_back(pos);
  w.put_dead.push_back({pos, deliveries, reason, wall_ms()});
  ++st.dead_letters;
  ++st.deps.stats->dead_letters;
  ++st.deps.stats->dead_lettered;
  st.show();
}

/// Redelivers the next batch of `redeliver` (as herald.redelivery notices, see docs/api.md).
/// A read for the stream failed (storage): the stream ends with a retry hint, and the client's
/// next stream reads again from the session's cursors. Nothing is skipped or lost.
void read_failed(session_actor* self, std::uint64_t gen, const char* what, const caf::error& err) {
  auto& st = self->state;
  spdlog::error("event=session_{}_failed session={} error=\"{}\"", what, st.id,
                self->system().render(err));
  if (gen != st.stream_gen || st.phase == stream_phase::none)
    return;
  end_stream(self, close_reason::server_error, {stream_item::make_retry(st.deps.retry_ms)});
  self->send(st.deps.dispatcher, detach_atom::value);
}

void redeliver_next(session_actor* self) {
  auto& st = self->state;
  std::vector<std::uint64_t> batch;
  while (!st.redeliver.empty() && batch.size() < redelivery_batch) {
    auto pos = st.redeliver.front();
    st.redeliver.pop_front();
    auto it = st.pending.find(pos);
    if (it == st.pending.end() || !it->second.queued)
      continue; // acknowledged meanwhile
    batch.push_back(pos);
  }
  if (batch.empty())
    return pump(self);
  st.phase = stream_phase::fetching;
  auto gen = st.stream_gen;
  self->request(st.deps.reader, caf::infinite, fetch_atom::value, batch)
    .then(
      [=](const std::vector<event_record>& records) {
        auto& st = self->state;
        if (gen != st.stream_gen || st.phase == stream_phase::none) {
          for (auto pos : batch)
            if (auto it = st.pending.find(pos); it != st.pending.end())
              it->second.queued = false;
          return;
        }
        st.phase = stream_phase::idle;
        std::map<std::uint64_t, const event_record*> found;
        for (auto& r : records)
          found.emplace(r.pos, &r);
        session_write w;
        auto now = self->clock().now();
        std::size_t bytes = 0;
        for (auto pos : batch) {
          auto it = st.pending.find(pos);
          if (it == st.pending.end() || !it->second.queued)
            continue;
          auto& p = it->second;
          if (bytes >= redelivery_bytes) {
            st.redeliver.push_front(pos); // next round, after the client took these
            continue;
          }
          p.queued = false;
          auto rec = found.find(pos);
          if (rec == found.end()) {
            dead_letter(st, pos, p.deliveries, "retention", w);
            erase_pending(st, it);
            continue;
          }
          auto& e = *rec->second;
          ++p.deliveries;
          set_due(st, pos, p, now + ack_wait(st));
          w.put_pending.push_back({pos, p.deliveries});
          ++st.deps.stats->redeliveries;
          auto data = "{\"id\":\"" + format_event_id(st.deps.epoch, pos)
                      + "\",\"topic\":" + json(e.topic).dump() + ",\"type\":"
                      + (e.type.empty() ? std::string{"null"} : json(e.type).dump())
                      + ",\"delivery\":" + std::to_string(p.deliveries) + ",\"data\":" + e.data
                      + "}";
          auto notice = stream_item::make_notice("herald.redelivery", std::move(data));
          bytes += notice->size_hint();
          st.queue->push_notice(std::move(notice));
        }
        // Positions pushed back to the front were re-queued out of order: keep them sorted.
        std::sort(st.redeliver.begin(), st.redeliver.end());
        if (!w.put_pending.empty() || !w.del_pending.empty())
          persist(self, std::move(w));
        rearm(self);
        wait_for_drain(self);
      },
      [=](caf::error& err) {
        for (auto pos : batch)
          if (auto it = self->state.pending.find(pos); it != self->state.pending.end())
            it->second.queued = false;
        read_failed(self, gen, "fetch", err);
      });
}

void read_page(session_actor* self) {
  auto& st = self->state;
  st.phase = stream_phase::reading;
  auto gen = st.stream_gen;
  self->request(st.deps.reader, caf::infinite, scan_atom::value, st.filter, st.sent_through,
                st.gap_reported_through)
    .then(
      [=](const event_page& page) {
        auto& st = self->state;
        if (gen != st.stream_gen || st.phase == stream_phase::none)
          return;
        st.phase = stream_phase::idle;
        if (page.gap && page.gap_through > st.gap_reported_through) {
          st.gap_reported_through = page.gap_through;
          st.queue->push_notice(page.gap);
        }
        send_events(self, page.events, page.scanned_through);
        st.behind_to = std::max(st.behind_to, page.scanned_through);
        wait_for_drain(self);
      },
      [=](caf::error& err) { read_failed(self, gen, "read", err); });
}

/// Does the next thing the stream needs: redeliveries first, then catch-up reads.
void pump(session_actor* self) {
  auto& st = self->state;
  if (st.phase != stream_phase::idle || st.queue->closed())
    return;
  if (!st.redeliver.empty())
    return redeliver_next(self);
  if (!st.paused && st.sent_through < st.behind_to)
    read_page(self);
}

void queue_redelivery(session_state& st, std::uint64_t pos, pending_ack& p) {
  set_due(st, pos, p, time_point{});
  if (!p.queued) {
    p.queued = true;
    st.redeliver.insert(std::upper_bound(st.redeliver.begin(), st.redeliver.end(), pos), pos);
  }
}

void end_stream(session_actor* self, close_reason why, std::vector<item_ptr> final_items) {
  auto& st = self->state;
  if (!st.stream)
    return;
  st.queue->close_after_flush(why, std::move(final_items));
  st.rec.delivered_through = delivered_through(st);
  st.rec.last_seen_ms = wall_ms();
  self->demonitor(st.stream);
  st.stream = nullptr;
  st.queue = nullptr;
  st.phase = stream_phase::none;
  st.paused = false;
  ++st.stream_gen;
  for (auto pos : st.redeliver)
    if (auto it = st.pending.find(pos); it != st.pending.end())
      it->second.queued = false;
  st.redeliver.clear();
  --st.deps.stats->sessions_connected;
  st.show();
}

void begin_stream(session_actor* self, std::uint64_t head, std::optional<event_id> resume) {
  auto& st = self->state;
  std::vector<item_ptr> preamble{stream_item::make_retry(st.deps.retry_ms)};
  auto start = st.rec.delivered_through;
  // A Last-Event-ID of this log takes precedence: the client knows best what it has. One from
  // another log, or ahead of this one, cannot be trusted: the session's cursor is used.
  if (resume && resume->epoch == st.deps.epoch && resume->pos <= head)
    start = resume->pos;
  st.stream_start = start;
  st.rec.delivered_through = start;
  st.plain_skip_through = start;
  // Ack-required events after ack_through were never recorded as sent (even below a client's
  // Last-Event-ID, e.g. after a crash): reading from there delivers them.
  st.sent_through = std::min(start, st.rec.ack_through);
  st.gap_reported_through = st.sent_through;
  st.behind_to = head;
  st.phase = stream_phase::idle;
  st.queue->accept(std::move(preamble), 0);
  st.queue->push_replay({}, 0); // live at once: the session feeds the queue itself, in order
  // On every (re)connect, what is pending is redelivered, except events at their last delivery
  // (they wait out their ack wait, then are dead-lettered).
  for (auto& [pos, p] : st.pending)
    if (p.deliveries < st.rec.settings.max_deliveries)
      queue_redelivery(st, pos, p);
  rearm(self);
  pump(self);
}

void remove(session_actor* self, close_reason why,
            std::function<void(const caf::error& failure)> then) {
  auto& st = self->state;
  st.deleted = true;
  end_stream(self, why, {stream_item::make_notice("herald.session_deleted", "{}")});
  self->send(st.deps.dispatcher, detach_atom::value);
  session_write w;
  w.erase = true;
  persist(self, std::move(w), [self, then](const caf::error& failure) {
    if (then)
      then(failure);
    auto& st = self->state;
    self->send(st.deps.registry, idle_atom::value, st.id, st.requests_seen);
  });
}

void on_tick(session_actor* self) {
  auto& st = self->state;
  auto now = self->clock().now();
  session_write w;
  while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
    auto pos = st.deadlines.begin()->second;
    auto it = st.pending.find(pos);
    auto& p = it->second;
    if (p.deliveries >= st.rec.settings.max_deliveries) {
      dead_letter(st, pos, p.deliveries, "max_deliveries", w);
      erase_pending(st, it);
    } else if (st.phase != stream_phase::none) {
      queue_redelivery(st, pos, p);
    } else {
      set_due(st, pos, p, time_point{}); // redelivered when a stream attaches
    }
  }
  if (!w.del_pending.empty())
    persist(self, std::move(w));
  if (st.stream) {
    if (delivered_through(st) != st.checkpointed)
      persist(self, {});
    if (st.paused && st.pending.size() < st.rec.settings.max_pending)
      st.paused = false;
    pump(self);
  } else if (wall_ms() >= st.rec.last_seen_ms
                            + static_cast<std::int64_t>(st.rec.settings.ttl_seconds) * 1000) {
    spdlog::info("event=session_expired session={} pending={}", st.id, st.pending.size());
    return remove(self, close_reason::session_deleted, nullptr);
  }
  rearm(self);
}

} // namespace session_parts

using namespace session_parts;

const char* to_string(stream_phase x) {
  switch (x) {
    case stream_phase::none: return "none";
    case stream_phase::idle: return "idle";
    case stream_phase::reading: return "reading";
    case stream_phase::fetching: return "fetching";
    case stream_phase::draining: return "draining";
  }
  return "none";
}

nlohmann::json session_view(const session_state& st) {
  auto& s = st.rec.settings;
  json view{{"id", st.id},
            {"topics", s.topics},
            {"ack_wait_seconds", s.ack_wait_ms / 1000},
            {"max_pending", s.max_pending},
            {"max_deliveries", s.max_deliveries},
            {"ttl_seconds", s.ttl_seconds},
            {"created", iso_time(st.rec.created_ms)},
            {"last_seen", iso_time(st.rec.last_seen_ms)},
            {"connected", static_cast<bool>(st.stream)},
            {"cursor", format_event_id(st.deps.epoch, delivered_through(st))},
            {"ack_cursor", format_event_id(st.deps.epoch, st.rec.ack_through)},
            {"pending", st.pending.size()},
            {"paused", st.paused},
            {"dead_letters", st.dead_letters}};
  if (!st.stream)
    view["expires"] = iso_time(st.rec.last_seen_ms
                               + static_cast<std::int64_t>(s.ttl_seconds) * 1000);
  return view;
}

namespace {

/// A request on the session from HTTP (or any transport).
void on_request(session_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  ++st.requests_seen;
  if (req->who == nullptr || !may_use_session(*req->who, st.rec.owner))
    return req->done(request_reply::failed(not_yours(st.id)));
  if (st.deleted) {
    if (req->what == session_request::op::put)
      return req->done(request_reply::failed(hub_errc::conflict, "session_deleting",
                                             "the session is being deleted; retry"));
    return req->done(request_reply::failed(hub_errc::not_found, "session_not_found",
                                           "no session '" + st.id + "'"));
  }
  switch (req->what) {
    case session_request::op::put: return handle_put(self, req);
    case session_request::op::get: return req->done(request_reply::ok(session_view(st)));
    case session_request::op::remove:
      return remove(self, close_reason::session_deleted, [req](const caf::error& failure) {
        req->done(failure ? not_stored("the deletion", failure) : request_reply::removed());
      });
    case session_request::op::ack: return handle_ack(self, req);
    case session_request::op::dead_letters: return handle_dead_letters(self, req);
    case session_request::op::redrive: return handle_redrive(self, req);
  }
}

/// A stream attaches (the sender): the newest takes over; its events flow once the dispatcher
/// has routed it.
caf::result<bool> on_connect(session_actor* self, const queue_ptr& queue,
                             const std::optional<event_id>& resume) {
  auto& st = self->state;
  ++st.requests_seen;
  if (st.deleted)
    return hub_error(hub_errc::not_found, "session_not_found", "no session '" + st.id + "'");
  auto stream = caf::actor_cast<caf::actor>(self->current_sender());
  if (!stream)
    return caf::sec::invalid_argument;
  // One stream per session: the newest takes over (the old one is told why).
  end_stream(self, close_reason::session_replaced,
             {stream_item::make_notice("herald.session_replaced", "{}")});
  st.stream = stream;
  st.queue = queue;
  ++st.stream_gen;
  ++st.deps.stats->sessions_connected;
  st.stream_started_ms = wall_ms();
  st.show();
  self->monitor(stream);
  if (!st.deps.origin.empty()) {
    // Cluster mode: the other nodes end an older stream of this session.
    session_write w;
    w.attach_ms = st.stream_started_ms;
    persist(self, std::move(w));
  }
  auto gen = st.stream_gen;
  self->request(st.deps.dispatcher, caf::infinite, tail_atom::value, queue, st.filter)
    .then(
      [=](std::uint64_t head) {
        if (self->state.stream_gen == gen)
          begin_stream(self, head, resume);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (st.stream_gen != gen)
          return;
        queue->reject(is(err, hub_errc::shutting_down)
                        ? err
                        : hub_error(hub_errc::unavailable, "unavailable",
                                    self->system().render(err)));
        end_stream(self, close_reason::rejected, {});
      });
  return true;
}

/// A committed batch's events for the attached stream (from the dispatcher, in log order).
void on_batch(session_actor* self, const session_batch_ptr& batch) {
  auto& st = self->state;
  if (st.phase == stream_phase::none || batch->queue != st.queue)
    return; // for a stream that has ended
  if (st.phase != stream_phase::idle || st.paused || batch->after > st.sent_through) {
    // Not caught up: the log has these; read them in turn.
    st.behind_to = std::max(st.behind_to, batch->through);
    return pump(self);
  }
  send_events(self, batch->events, batch->through);
  st.behind_to = std::max(st.behind_to, batch->through);
}

/// Cluster mode: another node changed this session (stored here already). Its acknowledgements
/// and dead letters leave pending, its deliveries become pending (redelivered when a stream
/// attaches here), its settings are adopted, its cursors never move ours back, and its deletion
/// ends the session here too.
void on_sync(session_actor* self, const session_write& w) {
  auto& st = self->state;
  ++st.requests_seen;
  if (st.deleted)
    return;
  if (w.erase) {
    st.deleted = true;
    end_stream(self, close_reason::session_deleted,
               {stream_item::make_notice("herald.session_deleted", "{}")});
    self->send(st.deps.dispatcher, detach_atom::value);
    self->send(st.deps.registry, idle_atom::value, st.id, st.requests_seen);
    return;
  }
  if (w.attach_ms != 0 && st.stream
      && (w.attach_ms > st.stream_started_ms
          || (w.attach_ms == st.stream_started_ms && w.origin > st.deps.origin))) {
    // A newer stream of this session attached through another node: it takes over.
    end_stream(self, close_reason::session_replaced,
               {stream_item::make_notice("herald.session_replaced", "{}")});
    self->send(st.deps.dispatcher, detach_atom::value);
  }
  for (auto pos : w.del_pending)
    if (auto it = st.pending.find(pos); it != st.pending.end())
      erase_pending(st, it);
  auto due = st.stream ? self->clock().now() + ack_wait(st) : time_point{};
  for (auto& p : w.put_pending) {
    if (st.pending.count(p.pos) == 0)
      add_pending(st, p.pos, p.deliveries, due);
    st.rec.ack_through = std::max(st.rec.ack_through, p.pos);
  }
  for (auto& d : w.put_dead) {
    if (auto it = st.pending.find(d.pos); it != st.pending.end())
      erase_pending(st, it);
    ++st.dead_letters;
    ++st.deps.stats->dead_letters;
  }
  for (std::size_t i = 0; i < w.del_dead.size() && st.dead_letters > 0; ++i) {
    --st.dead_letters;
    --st.deps.stats->dead_letters;
  }
  if (w.record && newer_settings(*w.record, st.rec)) {
    // Settings set through another node after ours (a record that only carries cursors, or
    // older settings, changes none of them: every node keeps the settings set last).
    auto& r = *w.record;
    bool topics_changed = r.settings.topics != st.rec.settings.topics;
    st.rec.settings = r.settings;
    st.rec.viewer = r.viewer; // the owner's grants at their last PUT, through any node
    st.rec.settings_ms = r.settings_ms;
    st.rec.settings_origin = r.settings_origin;
    st.filter = session_filter(st.rec);
    if (topics_changed && st.stream) {
      // As for a PUT here: the attached stream follows the old topics; the client reconnects.
      end_stream(self, close_reason::session_replaced,
                 {stream_item::make_notice("herald.session_changed", "{\"reason\":\"topics\"}"),
                  stream_item::make_retry(st.deps.retry_ms)});
      self->send(st.deps.dispatcher, detach_atom::value);
    }
  }
  if (w.record) {
    auto& r = *w.record;
    st.rec.ack_through = std::max(st.rec.ack_through, r.ack_through);
    st.rec.last_seen_ms = std::max(st.rec.last_seen_ms, r.last_seen_ms);
    if (!st.stream)
      st.rec.delivered_through = std::max(st.rec.delivered_through, r.delivered_through);
  }
  st.show();
  rearm(self);
}

/// The stream's socket closed: remember how far it got; the expiry clock starts.
void on_stream_down(session_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (!st.stream || dm.source != st.stream.address())
    return;
  end_stream(self, close_reason::client_closed, {});
  self->send(st.deps.dispatcher, detach_atom::value);
  persist(self, {});
  rearm(self);
}

} // namespace

caf::behavior session(session_actor* self, std::string id, session_record rec,
                      std::vector<pending_record> pending, std::uint64_t dead_letters, bool fresh,
                      session_deps deps) {
  auto& st = self->state;
  st.id = std::move(id);
  st.rec = std::move(rec);
  st.deps = std::move(deps);
  st.filter = session_filter(st.rec);
  st.fresh = fresh;
  st.dead_letters = dead_letters;
  st.checkpointed = st.rec.delivered_through;
  ++st.deps.stats->sessions;
  st.deps.stats->dead_letters += static_cast<std::int64_t>(dead_letters);
  st.gauge = st.deps.stats->activity.enlist_session(st.id);
  st.show();
  // After a restart the ack waits start over: what was pending is due one ack wait from now
  // (and is redelivered at once when a stream attaches).
  auto due = self->clock().now() + ack_wait(st);
  for (auto& p : pending)
    add_pending(st, p.pos, p.deliveries, due);
  rearm(self); // a fresh session is persisted by the put request that created it
  self->set_down_handler([=](const caf::down_msg& dm) { on_stream_down(self, dm); });
  return {
    [=](session_atom, const session_request_ptr& req) { on_request(self, req); },
    [=](connect_atom, const queue_ptr& queue, const std::optional<event_id>& resume,
        const principal_ptr& who) -> caf::result<bool> {
      if (who == nullptr || !may_use_session(*who, self->state.rec.owner))
        return not_yours(self->state.id);
      return on_connect(self, queue, resume);
    },
    [=](deliver_atom, const session_batch_ptr& batch) { on_batch(self, batch); },
    [=](session_sync_atom, const session_write_ptr& w) { on_sync(self, *w); },
    [=](patterns_atom) -> caf::result<std::vector<std::string>> {
      // A stream joins these topics (their subscriber limits) before it connects.
      auto& st = self->state;
      ++st.requests_seen;
      if (st.deleted)
        return hub_error(hub_errc::not_found, "session_not_found", "no session '" + st.id + "'");
      return st.rec.settings.topics;
    },
    [=](resume_atom, std::uint64_t gen) {
      auto& st = self->state;
      if (gen != st.stream_gen)
        return;
      if (st.phase == stream_phase::draining)
        st.phase = stream_phase::idle;
      pump(self);
    },
    [=](tick_atom, std::int64_t due) {
      auto& st = self->state;
      if (st.deleted || due != st.timer_at.time_since_epoch().count())
        return; // superseded by an earlier timer
      st.timer_at = time_point::max();
      on_tick(self);
    },
    [=](checkpoint_atom) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      if (self->state.deleted) {
        rp.deliver(true);
        return rp;
      }
      persist(self, {}, [rp](const caf::error& failure) mutable { rp.deliver(!failure); });
      return rp;
    },
    [=](idle_atom, bool) {
      // The registry forwarded more requests meanwhile (answered 404): ask again.
      auto& st = self->state;
      self->send(st.deps.registry, idle_atom::value, st.id, st.requests_seen);
    },
  };
}

} // namespace herald
