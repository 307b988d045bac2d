#include "actors/session_stream.hpp"

#include <nlohmann/json.hpp>

namespace herald {

caf::behavior session_stream(session_stream_actor* self, std::string id, queue_ptr queue,
                             std::optional<event_id> resume, caf::actor session_registry,
                             std::uint64_t retry_ms) {
  auto& st = self->state;
  st.id = std::move(id);
  st.queue = std::move(queue);
  st.retry_ms = retry_ms;
  self->set_down_handler([=](const caf::down_msg&) {
    self->state.queue->close_after_flush(close_reason::topic_lost,
                                         {stream_item::make_retry(self->state.retry_ms)});
    self->quit();
  });
  self->request(session_registry, caf::infinite, connect_atom::value, st.id, st.queue, resume)
    .then(
      [=](bool) {
        // The session took the stream. Its address is the sender of this answer.
        if (auto s = caf::actor_cast<caf::actor>(self->current_sender()))
          self->monitor(s);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (is(err, hub_errc::not_found))
          st.queue->reject(std::move(err));
        else
          st.queue->reject(hub_error(hub_errc::unavailable, "session_unavailable",
                                     self->system().render(err)));
        self->quit();
      });
  return {
    [](caf::get_atom) { /* nop: a stream only waits for its exit */ },
  };
}

} // namespace herald
