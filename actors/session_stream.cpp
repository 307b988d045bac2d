#include "actors/session_stream.hpp"

#include "actors/topic_joins.hpp"

namespace herald {
namespace {

/// The stream cannot start: the client gets the error (404 for an unknown session, the topic
/// limit, or 503 to retry).
void refuse(session_stream_actor* self, caf::error err) {
  auto& st = self->state;
  if (is(err, hub_errc::not_found) || is(err, hub_errc::topic_full)
      || is(err, hub_errc::shutting_down) || is(err, hub_errc::forbidden))
    st.queue->reject(std::move(err));
  else
    st.queue->reject(hub_error(hub_errc::unavailable, "session_unavailable",
                               self->system().render(err)));
  self->quit();
}

/// Hands the queue to the session (through its registry); the session then feeds it.
void connect(session_stream_actor* self, const std::optional<event_id>& resume) {
  auto& st = self->state;
  self->request(st.sessions, caf::infinite, connect_atom::value, st.id, st.queue, resume, st.who)
    .then(
      [=](bool) {
        // The session took the stream. Its address is the sender of this answer.
        if (auto s = caf::actor_cast<caf::actor>(self->current_sender()))
          self->monitor(s);
      },
      [=](caf::error& err) { refuse(self, std::move(err)); });
}

} // namespace

caf::behavior session_stream(session_stream_actor* self, std::string id, queue_ptr queue,
                             std::optional<event_id> resume, caf::actor session_registry,
                             caf::actor topic_registry, std::uint64_t retry_ms,
                             principal_ptr who) {
  auto& st = self->state;
  st.id = std::move(id);
  st.who = std::move(who);
  st.queue = std::move(queue);
  st.sessions = std::move(session_registry);
  st.retry_ms = retry_ms;
  // The session or one of the topics went: end the stream with a retry hint; the client resumes
  // (a crashed session is restarted from storage, a crashed topic is joined anew).
  self->set_down_handler([=](const caf::down_msg&) {
    self->state.queue->close_after_flush(close_reason::topic_lost,
                                         {stream_item::make_retry(self->state.retry_ms)});
    self->quit();
  });
  // First the session's topics, joined as any stream joins them (their subscriber limits apply
  // here), then the session takes the queue.
  self->request(st.sessions, caf::infinite, patterns_atom::value, st.id)
    .then(
      [=](const std::vector<std::string>& patterns) {
        join_topics(
          self, topic_registry, patterns, [](const caf::actor&) {},
          [=] { connect(self, resume); }, [=](caf::error& err) { refuse(self, std::move(err)); });
      },
      [=](caf::error& err) { refuse(self, std::move(err)); });
  return {
    [](caf::get_atom) { /* nop: a stream only waits for its exit */ },
  };
}

} // namespace herald
