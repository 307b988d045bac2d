#include "app/embedded_hub.hpp"

#include <stdexcept>
#include <unordered_map>

#include <herald/actor_publisher.hpp>
#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

using sdk::publish_errc;
using published_atom = caf::atom_constant<caf::atom("published")>;

struct embedded_publisher_state {
  journal_handle journal;
  hub_context* hub = nullptr;
  std::size_t max_in_flight = 0;
  std::uint64_t next = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<std::string>> waiting;

  static inline const char* name = "herald_embedded_publisher";
};

using embedded_publisher_actor = caf::stateful_actor<embedded_publisher_state>;

caf::result<std::string> publish(embedded_publisher_actor* self, const std::string& topic,
                                 const std::string& json_text, const std::string& type, bool ack) {
  auto& st = self->state;
  if (st.waiting.size() >= st.max_in_flight)
    return sdk::make_publish_error(publish_errc::overloaded,
                                   std::to_string(st.max_in_flight) + " publishes in flight");
  // The checks POST /v1/publish makes, without HTTP.
  if (auto err = validate_topic(topic))
    return sdk::make_publish_error(publish_errc::rejected, "topic: " + *err);
  if (!type.empty())
    if (auto err = validate_event_type(type))
      return sdk::make_publish_error(publish_errc::rejected, "type: " + *err);
  auto data = nlohmann::json::parse(json_text, nullptr, false);
  if (data.is_discarded())
    return sdk::make_publish_error(publish_errc::rejected, "the data is not valid JSON");
  if (st.hub->shutting_down.load())
    return sdk::make_publish_error(publish_errc::unavailable, "the hub is shutting down");
  auto rp = self->make_response_promise<std::string>();
  auto n = ++st.next;
  st.waiting.emplace(n, rp);
  auto job = std::make_shared<publish_job>();
  job->events.push_back(event_draft{topic, type, data.dump(), {}, ack});
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(self->ctrl());
  // `done` runs on the journal's thread, after the write: answer from our own thread.
  job->done = [weak, n](publish_outcome out) {
    if (auto me = caf::actor_cast<caf::actor>(weak))
      caf::anon_send(me, published_atom::value, n, out.ids.empty() ? std::string{} : out.ids[0],
                     out.error ? parts_of(out.error).message : std::string{});
  };
  self->send(st.journal, publish_atom::value, std::move(job));
  return rp;
}

caf::behavior embedded_publisher(embedded_publisher_actor* self, journal_handle journal,
                                 hub_context* hub, std::size_t max_in_flight) {
  self->state.journal = std::move(journal);
  self->state.hub = hub;
  self->state.max_in_flight = std::max<std::size_t>(1, max_in_flight);
  return {
    [=](sdk::publish_atom, const std::string& topic, const std::string& json_text) {
      return publish(self, topic, json_text, {}, false);
    },
    [=](sdk::publish_atom, const std::string& topic, const std::string& json_text,
        const std::string& type, bool ack) { return publish(self, topic, json_text, type, ack); },
    [=](published_atom, std::uint64_t n, std::string& id, std::string& error) {
      auto& w = self->state.waiting;
      auto it = w.find(n);
      if (it == w.end())
        return;
      if (error.empty() && !id.empty())
        it->second.deliver(std::move(id));
      else
        it->second.deliver(sdk::make_publish_error(publish_errc::unavailable, std::move(error)));
      w.erase(it);
    },
  };
}

} // namespace

embedded_hub::embedded_hub(caf::actor_system& sys, config cfg)
  : sys_(sys), cfg_(std::move(cfg)), runtime_(cfg_, sys) {
  if (auto err = runtime_.start())
    throw std::runtime_error("herald: the embedded hub could not start: " + *err);
  io_ = std::thread([this] { runtime_.run_io(); });
}

embedded_hub::~embedded_hub() {
  runtime_.begin_shutdown(0);
  io_.join(); // the io_context stops once streams are drained (bounded by the shutdown timeout)
  runtime_.stop();
}

std::uint16_t embedded_hub::port() const {
  return runtime_.endpoint().port();
}

caf::actor embedded_hub::spawn_publisher(std::size_t max_in_flight) {
  return sys_.spawn(embedded_publisher, runtime_.context().journal, &runtime_.context(),
                    max_in_flight);
}

} // namespace herald
