#include "actors/connection.hpp"

#include <random>

#include <nlohmann/json.hpp>

#include "actors/topic_joins.hpp"

namespace herald {
namespace {

/// `text` as a JSON string: a Last-Event-ID is the client's bytes, which need not be UTF-8
/// (invalid bytes become U+FFFD).
std::string json_text(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void fail(connection_actor* self, const caf::error& err) {
  auto& st = self->state;
  if (st.failed)
    return;
  st.failed = true;
  if (is(err, hub_errc::topic_full) || is(err, hub_errc::shutting_down))
    st.queue->reject(err);
  else
    st.queue->reject(hub_error(hub_errc::internal, "internal",
                               "subscription failed: " + self->system().render(err)));
  self->quit();
}

void request_page(connection_actor* self) {
  auto& st = self->state;
  self->request(st.deps.reader, caf::infinite, replay_atom::value, st.filter, st.cursor,
                st.gap_reported_through)
    .then(
      [=](const replay_page& page) {
        auto& st = self->state;
        st.cursor = std::max(st.cursor, page.scanned_through);
        st.gap_reported_through = std::max(st.gap_reported_through, page.gap_through);
        if (st.queue->push_replay(page.items, page.scanned_through)) {
          st.live = true;
          return;
        }
        // Ask for the next page once the client has taken most of this one.
        auto weak = caf::actor_cast<caf::weak_actor_ptr>(self->ctrl());
        st.queue->notify_when_drained([weak] {
          if (auto me = caf::actor_cast<caf::actor>(weak))
            caf::anon_send(me, resume_atom::value);
        });
      },
      [=](caf::error& err) { self->quit(err); });
}

void start(connection_actor* self, std::uint64_t head) {
  auto& st = self->state;
  std::vector<item_ptr> preamble{stream_item::make_retry(st.deps.settings.retry_ms)};
  st.cursor = head;
  if (!st.sub->resume_mercure_id.empty() && !st.sub->resume) {
    // A publisher's own id that the log does not hold (never used, or deleted by retention):
    // as a Mercure hub does, deliver from now on, and say so.
    auto last = json_text(st.sub->resume_mercure_id);
    preamble.push_back(stream_item::make_notice(
      "herald.gap", "{\"reason\":\"unknown_id\",\"last_event_id\":" + last + "}"));
  } else if (st.sub->resume) {
    auto& r = *st.sub->resume;
    auto last = json_text(st.sub->resume_text);
    if (r.epoch != st.deps.epoch) {
      // An id from another log (replaced data dir, another hub): we cannot tell what was missed,
      // so say so and replay everything retained.
      preamble.push_back(stream_item::make_notice(
        "herald.gap", "{\"reason\":\"unknown_log\",\"last_event_id\":" + last + "}"));
      st.cursor = 0;
    } else if (r.pos > head) {
      preamble.push_back(stream_item::make_notice(
        "herald.gap", "{\"reason\":\"ahead_of_log\",\"last_event_id\":" + last
                        + ",\"head\":\"" + format_event_id(st.deps.epoch, head) + "\"}"));
    } else {
      st.cursor = r.pos;
    }
  }
  st.gap_reported_through = st.cursor;
  if (st.sub->earliest) {
    // The oldest retained event on: what retention deleted before now is no gap to this client.
    st.cursor = 0;
    st.gap_reported_through = head;
  }
  st.queue->accept(std::move(preamble), head);
  bool replay = st.sub->resume || st.sub->earliest;
  st.sub.reset(); // started: the filter holds what the stream still needs
  if (!replay && st.queue->push_replay({}, st.cursor)) {
    st.live = true; // nothing to replay: live at once
    return;
  }
  request_page(self);
}

} // namespace

caf::behavior connection(connection_actor* self, queue_ptr queue, subscription_request sub,
                         connection_deps deps) {
  auto& st = self->state;
  st.queue = std::move(queue);
  st.sub = std::make_unique<subscription_request>(std::move(sub));
  st.filter = st.sub->mercure ? std::make_shared<const topic_filter>(st.sub->mercure)
                             : std::make_shared<const topic_filter>(st.sub->patterns, st.sub->viewer);
  st.deps = std::move(deps);
  ++st.deps.stats->connection_actors;
  self->set_down_handler([=](const caf::down_msg& dm) {
    // Only topic actors are monitored. A topic that goes while we are subscribed crashed: end the
    // stream with a retry hint; the client resumes from its last id and loses nothing.
    auto& st = self->state;
    st.queue->close_after_flush(close_reason::topic_lost,
                                {stream_item::make_retry(jittered_retry_ms(
                                  st.deps.settings.retry_ms, st.deps.settings.retry_jitter_ms))});
    self->quit();
  });
  static const std::vector<std::string> no_topics;
  join_topics(
    self, st.deps.registry, st.sub->mercure ? no_topics : st.filter->patterns(),
    [=](const caf::actor& t) { self->state.topics.push_back(t); },
    [=] {
      auto& st = self->state;
      self->request(st.deps.dispatcher, caf::infinite, attach_atom::value, st.queue,
                    st.filter)
        .then(
          [=](std::uint64_t head) {
            auto& st = self->state;
            if (st.sub->resume_mercure_id.empty())
              return start(self, head);
            self->request(st.deps.reader, caf::infinite, mercure_id_atom::value,
                          st.sub->resume_mercure_id)
              .then(
                [=](std::uint64_t pos) {
                  auto& st = self->state;
                  if (pos > 0) {
                    st.sub->resume = event_id{st.deps.epoch, pos};
                    st.sub->resume_text = st.sub->resume_mercure_id;
                  }
                  start(self, head);
                },
                [=](caf::error& err) { fail(self, err); });
          },
          [=](caf::error& err) { fail(self, err); });
    },
    [=](caf::error& err) { fail(self, err); });
  return {
    [=](resume_atom) { request_page(self); },
  };
}

} // namespace herald
