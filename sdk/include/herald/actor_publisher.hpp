#pragma once
// The actor-messaging publisher: a CAF actor in your actor_system that publishes for your actors.
//
//   auto pub = herald::sdk::spawn_publisher(sys);     // actor_publisher_options: bounds, hub
//   self->request(pub, caf::infinite, herald::sdk::publish_atom::value, "orders/42",
//                 R"({"total":9.5})")
//     .then([](const std::string& id) { ... },
//           [](caf::error& err) { ... });   // herald::sdk::is(err, publish_errc::overloaded)
//
// Messages it understands:
//   (publish_atom, topic, json_text)              => event id
//   (publish_atom, topic, json_text, type, ack)   => event id
// Work in flight is bounded by `max_in_flight`: past it a request is answered at once with
// publish_errc::overloaded (backpressure as an error, not unbounded memory). Against a remote hub
// it uses herald::sdk::publisher (batching, retries, idempotency keys); against a hub embedded in
// the same process (herald::sdk::embedded_hub) it hands events to the hub's journal directly.

#include <cstdint>
#include <string>

#include <caf/all.hpp>

#include "herald/publisher.hpp"

namespace herald::sdk {

using publish_atom = caf::atom_constant<caf::atom("publish")>;

enum class publish_errc : std::uint8_t {
  overloaded = 1, // max_in_flight requests are being served: retry later
  rejected,       // the hub refused the event (bad topic, data, type...)
  unavailable,    // the hub could not be reached within the retry policy
};

inline bool is(const caf::error& err, publish_errc x) {
  return err.category() == caf::atom("herald_sdk") && err.code() == static_cast<std::uint8_t>(x);
}

/// The error a publisher actor answers with.
caf::error make_publish_error(publish_errc x, std::string message);

struct actor_publisher_options {
  std::size_t max_in_flight = 10000;
  publisher_options remote; // how to reach the hub
};

/// Spawns a publisher actor for a remote hub (over HTTP).
caf::actor spawn_publisher(caf::actor_system& sys, actor_publisher_options opts = {});

} // namespace herald::sdk
