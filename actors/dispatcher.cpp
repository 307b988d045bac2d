#include "actors/dispatcher.hpp"

#include <algorithm>

#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

void unlink(std::unordered_map<std::string, std::vector<dispatch_route*>>& index,
            const std::string& key, dispatch_route* r) {
  auto it = index.find(key);
  if (it == index.end())
    return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), r);
  if (pos != v.end()) {
    *pos = v.back();
    v.pop_back();
  }
  if (v.empty())
    index.erase(it);
}

/// The timer runs often enough for both heartbeats and maximum age.
caf::timespan tick_interval(const stream_timing& t) {
  auto every = t.heartbeat;
  if (t.max_age.count() > 0)
    every = std::min(every, t.max_age);
  return std::chrono::duration_cast<caf::timespan>(every);
}

void drop_route(dispatcher_actor* self, const caf::actor_addr& owner) {
  auto& st = self->state;
  auto it = st.routes.find(owner);
  if (it == st.routes.end())
    return;
  auto* r = it->second.get();
  for (auto& p : r->filter->patterns())
    unlink(is_wildcard(p) ? st.wildcard : st.exact, p, r);
  st.touched.erase(std::remove(st.touched.begin(), st.touched.end(), r), st.touched.end());
  st.routes.erase(it);
}

void add_route(dispatcher_actor* self, const caf::actor_addr& owner,
               std::unique_ptr<dispatch_route> r) {
  auto& st = self->state;
  for (auto& p : r->filter->patterns())
    (is_wildcard(p) ? st.wildcard : st.exact)[p].push_back(r.get());
  st.routes.emplace(owner, std::move(r));
}

std::unique_ptr<dispatch_route> make_route(dispatcher_actor* self, const queue_ptr& q,
                                           const filter_ptr& filter) {
  auto r = std::make_unique<dispatch_route>();
  r->queue = q;
  r->filter = filter;
  r->attached = self->clock().now();
  return r;
}

caf::error shutting_down() {
  return hub_error(hub_errc::shutting_down, "shutting_down", "the hub is shutting down");
}

/// A stream's queue joins the routing table (its owner, the sender, is monitored).
caf::result<std::uint64_t> attach(dispatcher_actor* self, const queue_ptr& q,
                                  const filter_ptr& filter) {
  auto& st = self->state;
  if (st.shutting_down)
    return shutting_down();
  auto owner = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!owner || st.routes.count(owner) > 0 || filter == nullptr)
    return caf::sec::invalid_argument;
  add_route(self, owner, make_route(self, q, filter));
  self->monitor(caf::actor_cast<caf::actor>(owner));
  return st.head;
}

/// A session's (new) stream: replaces the session's previous route, if any.
caf::result<std::uint64_t> tail(dispatcher_actor* self, const queue_ptr& q,
                                const filter_ptr& filter) {
  auto& st = self->state;
  if (st.shutting_down)
    return shutting_down();
  auto session = caf::actor_cast<caf::actor>(self->current_sender());
  if (!session || filter == nullptr)
    return caf::sec::invalid_argument;
  auto owner = session.address();
  bool known = st.routes.count(owner) > 0;
  drop_route(self, owner);
  auto r = make_route(self, q, filter);
  r->session = session;
  r->notified_through = st.head;
  add_route(self, owner, std::move(r));
  if (!known)
    self->monitor(session);
  return st.head;
}

/// Adds `ev` to what route `r` gets of the current batch, if its subscriber may see it: the one
/// place live events with access rules are decided (public events cost one branch).
void collect(dispatcher_state& st, dispatch_route* r, const committed_event& ev) {
  if ((ev->access.restricted() || r->filter->selects())
      && !r->filter->admits(ev->topic, ev->access, ev->mercure.get()))
    return;
  if (r->session) {
    if (!r->session_events) {
      st.touched.push_back(r);
      r->session_events = std::make_shared<session_batch>();
    } else if (!r->session_events->events.empty()
               && r->session_events->events.back()->pos == ev->pos) {
      return; // matched by two of its patterns
    }
    r->session_events->events.push_back(ev);
    return;
  }
  if (r->pending.empty())
    st.touched.push_back(r);
  r->pending.push_back(ev);
}

/// Collects each stream's events for the whole batch, then hands them over at once: one lock and
/// at most one wake-up per stream per batch, so its writer sends them in one write.
void deliver(dispatcher_actor* self, const committed_batch& batch) {
  auto& st = self->state;
  for (auto& ev : *batch) {
    if (auto it = st.exact.find(ev->topic); it != st.exact.end())
      for (auto* r : it->second)
        collect(st, r, ev);
    // A stream following both 'a/b' and 'a/*' gets the event once: queues drop positions
    // they already hold.
    for (auto& [pattern, rs] : st.wildcard)
      if (topic_matches(pattern, ev->topic))
        for (auto* r : rs)
          collect(st, r, ev);
    st.head = ev->pos;
  }
  for (auto* r : st.touched) {
    if (r->session) {
      auto& b = *r->session_events;
      b.queue = r->queue;
      b.after = r->notified_through;
      b.through = st.head;
      r->notified_through = st.head;
      // Sessions are dynamically typed actors: a typed actor reaches them with anon_send.
      caf::anon_send(r->session, deliver_atom::value,
                     session_batch_ptr{std::move(r->session_events)});
      r->session_events = nullptr;
      continue;
    }
    r->queue->push_live(r->pending);
    r->pending.clear();
  }
  st.touched.clear();
}

/// Heartbeats for every stream, and the end of streams past their maximum age.
void tick(dispatcher_actor* self) {
  auto& st = self->state;
  if (st.shutting_down)
    return; // the last tick: nothing re-arms, so shutdown is not held up
  auto now = self->clock().now();
  bool beat = now - st.last_heartbeat >= st.timing.heartbeat;
  if (beat)
    st.last_heartbeat = now;
  auto heartbeat = stream_item::make_heartbeat();
  for (auto& [addr, r] : st.routes) {
    if (st.timing.max_age.count() > 0 && now - r->attached >= st.timing.max_age) {
      // Lived its maximum age: end it with a retry hint; the client resumes with no loss.
      r->queue->close_after_flush(
        close_reason::max_age,
        {stream_item::make_retry(jittered_retry_ms(st.timing.retry_ms, st.timing.retry_jitter_ms))});
    } else if (beat) {
      r->queue->push_control(heartbeat);
    }
  }
  self->delayed_send(self, tick_interval(st.timing), heartbeat_atom::value);
}

} // namespace

dispatcher_handle::behavior_type dispatcher(dispatcher_actor* self, std::uint64_t head,
                                            stream_timing timing) {
  self->state.head = head;
  self->state.timing = timing;
  self->state.last_heartbeat = self->clock().now();
  self->delayed_send(self, tick_interval(timing), heartbeat_atom::value);
  self->set_down_handler([=](const caf::down_msg& dm) { drop_route(self, dm.source); });
  return {
    [=](attach_atom, const queue_ptr& q, const filter_ptr& filter) {
      return attach(self, q, filter);
    },
    [=](tail_atom, const queue_ptr& q, const filter_ptr& filter) {
      return tail(self, q, filter);
    },
    [=](detach_atom) {
      auto owner = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (self->state.routes.count(owner) > 0) {
        drop_route(self, owner);
        self->demonitor(owner);
      }
    },
    [=](deliver_atom, const committed_batch& batch) { deliver(self, batch); },
    [=](shutdown_atom, std::uint64_t retry_ms, std::uint64_t jitter_ms) -> std::uint64_t {
      auto& st = self->state;
      st.shutting_down = true;
      for (auto& [addr, r] : st.routes)
        r->queue->close_after_flush(close_reason::shutdown,
                                    shutdown_items(jittered_retry_ms(retry_ms, jitter_ms)));
      return st.routes.size();
    },
    [=](heartbeat_atom) { tick(self); },
  };
}

} // namespace herald
