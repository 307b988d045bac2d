#include "actors/dashboard_viewer.hpp"

namespace herald {

caf::behavior dashboard_viewer(dashboard_viewer_actor* self, queue_ptr queue, caf::actor feed,
                               std::uint64_t retry_ms) {
  auto& st = self->state;
  st.queue = std::move(queue);
  st.retry_ms = retry_ms;
  self->set_down_handler([=](const caf::down_msg&) {
    auto& st = self->state;
    st.queue->close_after_flush(close_reason::topic_lost, {stream_item::make_retry(st.retry_ms)});
    self->quit();
  });
  self->monitor(feed);
  self->send(feed, watch_atom::value, st.queue);
  return {
    [](caf::get_atom) { /* nop: a viewer only waits for its exit */ },
  };
}

} // namespace herald
