#include "actors/log_reader.hpp"

#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

namespace herald {

std::string gap_notice_json(std::uint32_t epoch, const log_gap& gap) {
  return "{\"reason\":\"retention\",\"from\":\"" + format_event_id(epoch, gap.from)
         + "\",\"to\":\"" + format_event_id(epoch, gap.to) + "\"}";
}

events_page read_events_page(const event_log& log, const topic_filter& filter, std::uint64_t after,
                             std::size_t limit, bool unknown_log) {
  events_page out;
  out.epoch = log.epoch();
  out.unknown_log = unknown_log;
  if (!unknown_log)
    out.gap = log.retention_gap(after, filter);
  auto page = log.read(after, filter, limit, replay_page_scan);
  out.events = std::move(page.events);
  out.scanned_through = page.scanned_through;
  out.head = log.head();
  return out;
}

caf::behavior log_reader(log_reader_actor* self, std::shared_ptr<event_log> log, hub_stats* stats) {
  self->state.log = std::move(log);
  self->state.stats = stats;
  return {
    [=](replay_atom, const filter_ptr& filter, std::uint64_t after,
        std::uint64_t gap_reported_through) -> replay_page {
      auto& st = self->state;
      auto epoch = st.log->epoch();
      replay_page out;
      if (auto gap = st.log->retention_gap(std::max(after, gap_reported_through), *filter)) {
        out.items.push_back(stream_item::make_notice("herald.gap", gap_notice_json(epoch, *gap)));
        out.gap_through = gap->to;
      }
      auto page = st.log->read(after, *filter, replay_page_events, replay_page_scan);
      out.scanned_through = page.scanned_through;
      std::size_t bytes = 0;
      for (auto& e : page.events) {
        out.items.push_back(stream_item::make_event(e.pos, format_event_id(epoch, e.pos),
                                                    std::move(e.topic), std::move(e.type),
                                                    std::move(e.data), e.ack));
        bytes += out.items.back()->size_hint();
        if (bytes >= replay_page_bytes) {
          out.scanned_through = e.pos; // the rest comes with the next page
          break;
        }
      }
      st.stats->events_replayed += out.items.size() - (out.gap_through ? 1 : 0);
      return out;
    },
    [=](scan_atom, const filter_ptr& filter, std::uint64_t after,
        std::uint64_t gap_reported_through) -> event_page {
      // A durable session's catch-up: like replay, with each event's ack flag.
      auto& st = self->state;
      auto epoch = st.log->epoch();
      event_page out;
      if (auto gap = st.log->retention_gap(std::max(after, gap_reported_through), *filter)) {
        out.gap = stream_item::make_notice("herald.gap", gap_notice_json(epoch, *gap));
        out.gap_through = gap->to;
      }
      auto page = st.log->read(after, *filter, replay_page_events, replay_page_scan);
      out.scanned_through = page.scanned_through;
      std::size_t bytes = 0;
      for (auto& e : page.events) {
        out.events.push_back(stream_item::make_event(e.pos, format_event_id(epoch, e.pos),
                                                     std::move(e.topic), std::move(e.type),
                                                     std::move(e.data), e.ack));
        bytes += out.events.back()->size_hint();
        if (bytes >= replay_page_bytes) {
          out.scanned_through = e.pos;
          break;
        }
      }
      st.stats->events_replayed += out.events.size();
      return out;
    },
    [=](fetch_atom, const std::vector<std::uint64_t>& positions) -> std::vector<event_record> {
      std::vector<event_record> out;
      for (auto pos : positions)
        if (auto e = self->state.log->get(pos))
          out.push_back(std::move(*e));
      return out;
    },
    [=](dead_atom, const std::string& id, std::uint64_t after,
        std::uint64_t limit) -> std::vector<dead_letter_record> {
      return self->state.log->read_dead(id, after, limit);
    },
    [=](dead_atom, const std::string& id,
        const std::vector<std::uint64_t>& positions) -> std::vector<dead_letter_record> {
      return self->state.log->find_dead(id, positions);
    },
    [=](job_get_atom, const std::string& id) -> std::string {
      return self->state.log->get_job(id).value_or(std::string{});
    },
    [=](query_atom, const events_query_ptr& q) {
      q->done(read_events_page(*self->state.log, *q->filter, q->after, q->limit, q->unknown_log));
    },
  };
}

} // namespace herald
