#pragma once
// herald::embedded_hub: a Herald hub inside your process. Its actors run in your actor_system;
// it serves the same HTTP/SSE API on cfg.listen (port 0: any free port) and keeps its log in
// cfg.data_dir. Link herald::embedded (add_subdirectory; not part of the installed SDK).
//
//   caf::actor_system sys{cfg};
//   herald::embedded_hub hub{sys, hub_cfg};
//   auto pub = hub.spawn_publisher();   // the same messages as herald::sdk::spawn_publisher
//   self->request(pub, caf::infinite, herald::sdk::publish_atom::value, "orders/1", "{}")...
//
// The hub logs through spdlog's default logger (set it to where your application logs).
// A publish through the embedded publisher skips HTTP: the event goes to the hub's journal and
// the id comes back once it is in the log (with the hub's durability).

#include <cstdint>
#include <thread>

#include <caf/all.hpp>

#include "app/hub.hpp"
#include "config/config.hpp"

namespace herald {

class embedded_hub {
public:
  /// Starts the hub; throws std::runtime_error if it cannot (storage, listen address).
  embedded_hub(caf::actor_system& sys, config cfg);
  /// Graceful shutdown (streams get herald.shutdown), then stops the hub's actors.
  ~embedded_hub();

  embedded_hub(const embedded_hub&) = delete;
  embedded_hub& operator=(const embedded_hub&) = delete;

  std::uint16_t port() const;

  /// A publisher actor for this hub, answering (publish_atom, topic, json) and
  /// (publish_atom, topic, json, type, ack) with the event id; at most `max_in_flight` at once
  /// (then herald::sdk::publish_errc::overloaded).
  caf::actor spawn_publisher(std::size_t max_in_flight = 10000);

private:
  caf::actor_system& sys_;
  config cfg_;
  hub_runtime runtime_;
  std::thread io_;
};

} // namespace herald
