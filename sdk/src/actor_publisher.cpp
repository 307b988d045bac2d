#include "herald/actor_publisher.hpp"

#include <memory>
#include <unordered_map>

namespace herald::sdk {
namespace {

using published_atom = caf::atom_constant<caf::atom("published")>;

struct publisher_state {
  std::unique_ptr<publisher> pub;
  std::size_t max_in_flight = 0;
  std::uint64_t next = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<std::string>> waiting;

  static inline const char* name = "herald_publisher";
};

using publisher_actor = caf::stateful_actor<publisher_state>;

caf::result<std::string> publish(publisher_actor* self, const std::string& topic,
                                 const std::string& json_text, const std::string& type, bool ack) {
  auto& st = self->state;
  if (st.waiting.size() >= st.max_in_flight)
    return make_publish_error(publish_errc::overloaded,
                      std::to_string(st.max_in_flight) + " publishes in flight");
  auto data = nlohmann::json::parse(json_text, nullptr, false);
  if (data.is_discarded())
    return make_publish_error(publish_errc::rejected, "the data is not valid JSON");
  auto rp = self->make_response_promise<std::string>();
  auto n = ++st.next;
  st.waiting.emplace(n, rp);
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(self->ctrl());
  publish_options opts;
  opts.type = type;
  opts.ack = ack;
  // The callback runs on the publisher's thread: hand the outcome back as a message.
  st.pub->publish_async(topic, std::move(data), std::move(opts), [weak, n](publish_result r) {
    if (auto me = caf::actor_cast<caf::actor>(weak)) {
      if (r.ok())
        caf::anon_send(me, published_atom::value, n, std::move(r.id), 0, std::string{});
      else
        caf::anon_send(me, published_atom::value, n, std::string{}, r.failure->status,
                       r.failure->to_string());
    }
  });
  return rp;
}

caf::behavior publisher_behavior(publisher_actor* self, actor_publisher_options opts) {
  self->state.pub = std::make_unique<publisher>(opts.remote);
  self->state.max_in_flight = std::max<std::size_t>(1, opts.max_in_flight);
  return {
    [=](publish_atom, const std::string& topic, const std::string& json_text) {
      return publish(self, topic, json_text, {}, false);
    },
    [=](publish_atom, const std::string& topic, const std::string& json_text,
        const std::string& type, bool ack) { return publish(self, topic, json_text, type, ack); },
    [=](published_atom, std::uint64_t n, std::string& id, int status, std::string& why) {
      auto& w = self->state.waiting;
      auto it = w.find(n);
      if (it == w.end())
        return;
      if (status == 0 && !id.empty())
        it->second.deliver(std::move(id));
      else if (status >= 400 && status < 500)
        it->second.deliver(make_publish_error(publish_errc::rejected, std::move(why)));
      else
        it->second.deliver(make_publish_error(publish_errc::unavailable, std::move(why)));
      w.erase(it);
    },
  };
}

} // namespace

caf::error make_publish_error(publish_errc x, std::string message) {
  return caf::error{static_cast<std::uint8_t>(x), caf::atom("herald_sdk"),
                    caf::make_message(std::move(message))};
}

caf::actor spawn_publisher(caf::actor_system& sys, actor_publisher_options opts) {
  // Detached: stopping it flushes the HTTP publisher, which may block.
  return sys.spawn<caf::detached>(publisher_behavior, std::move(opts));
}

} // namespace herald::sdk
