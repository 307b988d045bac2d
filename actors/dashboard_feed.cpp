#include "actors/dashboard_feed.hpp"

#include <algorithm>

namespace herald {

namespace {

void schedule_tick(dashboard_feed_actor* self) {
  auto& st = self->state;
  if (st.ticking || st.viewers.empty())
    return;
  st.ticking = true;
  self->delayed_send(self, st.interval, tick_atom::value);
}

/// Has a snapshot rendered; it comes back as a snapshot_atom message.
void render(dashboard_feed_actor* self) {
  auto& st = self->state;
  if (st.rendering)
    return;
  st.rendering = true;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  st.source([me](std::string json) { caf::anon_send(me, snapshot_atom::value, std::move(json)); });
}

} // namespace

caf::behavior dashboard_feed(dashboard_feed_actor* self, snapshot_source source,
                             caf::timespan interval, hub_activity* activity,
                             std::uint64_t retry_ms) {
  auto& st = self->state;
  st.source = std::move(source);
  st.interval = interval;
  st.activity = activity;
  st.retry_ms = retry_ms;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& vs = self->state.viewers;
    auto it = std::find_if(vs.begin(), vs.end(), [&](auto& v) { return v.addr == dm.source; });
    if (it == vs.end())
      return;
    *it = std::move(vs.back());
    vs.pop_back();
    self->state.activity->watch(-1);
  });
  return {
    [=](watch_atom, const queue_ptr& queue) {
      auto& st = self->state;
      std::vector<item_ptr> preamble{stream_item::make_retry(st.retry_ms)};
      if (!st.latest.empty())
        preamble.push_back(stream_item::make_notice("herald.stats", st.latest));
      queue->accept(std::move(preamble), 0);
      queue->push_replay({}, 0); // nothing to replay: live from here
      auto viewer = caf::actor_cast<caf::actor>(self->current_sender());
      self->monitor(viewer);
      st.viewers.push_back({viewer.address(), queue});
      st.activity->watch(1);
      if (st.latest.empty())
        render(self);
      schedule_tick(self);
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.ticking = false;
      if (st.viewers.empty())
        return; // nobody watches: no timer until someone does
      render(self);
      schedule_tick(self);
    },
    [=](snapshot_atom, std::string& json) {
      auto& st = self->state;
      st.rendering = false;
      ++st.rendered;
      st.latest = std::move(json);
      auto item = stream_item::make_notice("herald.stats", st.latest);
      // A viewer still holding a few unwritten snapshots (a stalled browser) skips this one:
      // its queue stays small and it is never closed as a slow consumer for being watched.
      auto skip_above = 4 * item->size_hint();
      for (auto& v : st.viewers)
        if (v.queue->queued_bytes() < skip_above)
          v.queue->push_notice(item);
    },
    [=](shutdown_atom, std::uint64_t retry_ms, std::uint64_t jitter_ms) {
      // The hub stops: every dashboard stream ends as every other stream does.
      for (auto& v : self->state.viewers)
        v.queue->close_after_flush(close_reason::shutdown,
                                   shutdown_items(jittered_retry_ms(retry_ms, jitter_ms)));
    },
  };
}

} // namespace herald
