#include "actors/log_reader.hpp"

#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

namespace herald {
namespace {

caf::error read_failed(const std::string& why) {
  return hub_error(hub_errc::storage_failure, "storage_failure", why);
}

/// Replay and catch-up share this: the retention gap after `after` (if not yet reported), then
/// up to a page of events, cut at the page's byte budget.
struct page_read {
  item_ptr gap;
  std::uint64_t gap_through = 0;
  std::vector<item_ptr> events;
  std::uint64_t scanned_through = 0;
  std::optional<std::string> error;
};

page_read read_page(const event_log& log, const topic_filter& filter, std::uint64_t after,
                    std::uint64_t gap_reported_through) {
  page_read out;
  auto epoch = log.epoch();
  if (auto gap = log.retention_gap(std::max(after, gap_reported_through), filter)) {
    out.gap = stream_item::make_notice("herald.gap", gap_notice_json(epoch, *gap));
    out.gap_through = gap->to;
  }
  auto page = log.read(after, filter, replay_page_events, replay_page_scan, &out.error);
  out.scanned_through = page.scanned_through;
  std::size_t bytes = 0;
  for (auto& e : page.events) {
    out.events.push_back(stream_item::make_event(e.pos, format_event_id(epoch, e.pos),
                                                 std::move(e.topic), std::move(e.type),
                                                 std::move(e.data), e.ack,
                                                 std::move(e.access), std::move(e.mercure)));
    bytes += out.events.back()->size_hint();
    if (bytes >= replay_page_bytes) {
      out.scanned_through = e.pos; // the rest comes with the next page
      break;
    }
  }
  return out;
}

caf::result<replay_page> replay(log_reader_actor* self, const topic_filter& filter,
                                std::uint64_t after, std::uint64_t gap_reported_through) {
  auto& st = self->state;
  auto read = read_page(st.store->log(), filter, after, gap_reported_through);
  if (read.error)
    return read_failed(*read.error);
  replay_page out;
  if (read.gap)
    out.items.push_back(std::move(read.gap));
  out.gap_through = read.gap_through;
  out.scanned_through = read.scanned_through;
  st.stats->events_replayed += read.events.size();
  out.items.insert(out.items.end(), std::make_move_iterator(read.events.begin()),
                   std::make_move_iterator(read.events.end()));
  return out;
}

/// A durable session's catch-up: like replay, with each event's ack flag.
caf::result<event_page> scan(log_reader_actor* self, const topic_filter& filter,
                             std::uint64_t after, std::uint64_t gap_reported_through) {
  auto& st = self->state;
  auto read = read_page(st.store->log(), filter, after, gap_reported_through);
  if (read.error)
    return read_failed(*read.error);
  st.stats->events_replayed += read.events.size();
  return event_page{std::move(read.events), read.scanned_through, std::move(read.gap),
                    read.gap_through};
}

/// The events at `positions` that are still in the log (redeliveries, dead letters' events).
caf::result<std::vector<event_record>> fetch(log_reader_actor* self,
                                             const std::vector<std::uint64_t>& positions) {
  std::vector<event_record> out;
  for (auto pos : positions) {
    auto e = self->state.store->log().get(pos);
    if (!e.ok())
      return read_failed(*e.error);
    if (e.value)
      out.push_back(std::move(*e.value));
  }
  return out;
}

/// A lookup's value, or its error as a Herald error.
template <class T>
caf::result<T> answer(lookup<T>&& x) {
  if (!x.ok())
    return read_failed(*x.error);
  return std::move(*x.value);
}

} // namespace

std::string gap_notice_json(std::uint32_t epoch, const log_gap& gap) {
  return "{\"reason\":\"retention\",\"from\":\"" + format_event_id(epoch, gap.from)
         + "\",\"to\":\"" + format_event_id(epoch, gap.to) + "\"}";
}

events_page read_events_page(const event_log& log, const topic_filter& filter, std::uint64_t after,
                             std::size_t limit, bool unknown_log,
                             std::optional<std::string>* error) {
  events_page out;
  out.epoch = log.epoch();
  out.unknown_log = unknown_log;
  if (!unknown_log)
    out.gap = log.retention_gap(after, filter);
  auto page = log.read(after, filter, limit, replay_page_scan, error);
  out.events = std::move(page.events);
  out.scanned_through = page.scanned_through;
  out.head = log.head();
  return out;
}

reader_handle::behavior_type log_reader(log_reader_actor* self,
                                        std::shared_ptr<hub_storage> store, hub_stats* stats) {
  self->state.store = std::move(store);
  self->state.stats = stats;
  storage_thread::claim(); // detached: this is the reader's own thread
  return {
    [=](replay_atom, const filter_ptr& filter, std::uint64_t after, std::uint64_t gap_through) {
      return replay(self, *filter, after, gap_through);
    },
    [=](scan_atom, const filter_ptr& filter, std::uint64_t after, std::uint64_t gap_through) {
      return scan(self, *filter, after, gap_through);
    },
    [=](fetch_atom, const std::vector<std::uint64_t>& positions) {
      return fetch(self, positions);
    },
    [=](dead_atom, const std::string& id, std::uint64_t after, std::uint64_t limit) {
      return answer(self->state.store->sessions().read_dead(id, after, limit));
    },
    [=](dead_atom, const std::string& id, const std::vector<std::uint64_t>& positions) {
      return answer(self->state.store->sessions().find_dead(id, positions));
    },
    [=](restore_atom, const std::string& id) -> caf::result<stored_session> {
      auto s = self->state.store->sessions().load(id);
      if (!s.ok())
        return read_failed(*s.error);
      if (!s.value)
        return hub_error(hub_errc::not_found, "session_not_found", "no session '" + id + "'");
      return std::move(*s.value);
    },
    [=](job_get_atom, const std::string& id) -> caf::result<stored_job> {
      auto job = self->state.store->jobs().get(id);
      if (!job.ok())
        return read_failed(*job.error);
      return job.value.value_or(stored_job{});
    },
    [=](mercure_id_atom, const std::string& id) -> caf::result<std::uint64_t> {
      auto pos = self->state.store->log().find_mercure_id(id);
      if (!pos.ok())
        return read_failed(*pos.error);
      return pos.value.value_or(0);
    },
    [=](figures_atom, const figures_query_ptr& q) { q->done(self->state.store->db().figures()); },
    [=](backup_atom, const backup_request_ptr& q) {
      // The head before the copy: the copy holds at least every event through it.
      auto head = self->state.store->log().head();
      auto err = self->state.store->db().checkpoint(q->dir);
      if (!err)
        err = event_log::mark_copy(q->dir);
      q->done(std::move(err), head);
    },
    [=](query_atom, const events_query_ptr& q) {
      std::optional<std::string> error;
      auto page = read_events_page(self->state.store->log(), *q->filter, q->after, q->limit,
                                   q->unknown_log, &error);
      if (error)
        page.error = read_failed(*error);
      q->done(std::move(page));
    },
  };
}

} // namespace herald
