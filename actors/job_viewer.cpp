#include "actors/job_viewer.hpp"

#include <nlohmann/json.hpp>

namespace herald {

caf::behavior job_viewer(job_viewer_actor* self, std::string id, queue_ptr queue,
                         std::uint64_t last_seen, caf::actor job_registry,
                         std::uint64_t retry_ms, hub_stats* stats) {
  auto& st = self->state;
  st.id = std::move(id);
  st.queue = std::move(queue);
  st.retry_ms = retry_ms;
  st.stats = stats;
  ++stats->job_viewers;
  self->set_down_handler([=](const caf::down_msg&) {
    // The watcher crashed: end the stream with a retry hint; the client reconnects and gets the
    // snapshot from a fresh watcher.
    self->state.queue->close_after_flush(close_reason::topic_lost,
                                         {stream_item::make_retry(self->state.retry_ms)});
    self->quit();
  });
  self->request(job_registry, caf::infinite, watch_atom::value, st.id, st.queue, last_seen)
    .then(
      [=](const caf::actor& watcher) { self->monitor(watcher); },
      [=](caf::error& err) {
        // `finished` (the viewer saw the final event) tells EventSource to stop reconnecting.
        auto& st = self->state;
        if (is(err, hub_errc::finished) || is(err, hub_errc::not_found))
          st.queue->reject(std::move(err));
        else
          st.queue->reject(hub_error(hub_errc::unavailable, "job_unavailable",
                                     self->system().render(err)));
        self->quit();
      });
  return {
    [](caf::get_atom) { /* nop: a viewer only waits for its exit */ },
  };
}

} // namespace herald
