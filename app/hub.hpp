#pragma once
// The running hub: opens storage, spawns the root actors, listens, and shuts down in order.

#include <functional>
#include <memory>
#include <variant>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <caf/actor_system.hpp>

#include "config/config.hpp"
#include "net/hub_context.hpp"

namespace herald {

class listener;
class shared_log;
class shutdown_sequence;
class memory_trimmer;

/// The hub's parts for one run: its storage, its root actors (spawned into an actor system it
/// is given: its own in `herald serve`, the application's when embedded), its listener and io.
///
/// Threads: one io_context per io thread (threads.io), each run by its thread alone; the first
/// also runs the listener, the shutdown sequence and outgoing HTTP. Accepted sockets are spread
/// over them in turn. Plain-HTTP streams then move to the stream io threads (threads.streams),
/// one io_context each, dealt in turn.
///
/// Lifetimes: the io_contexts are declared after the hub context, so they go first, and a stream
/// one still holds finds the context alive (see hub_context::alive).
class hub_runtime {
public:
  hub_runtime(const config& cfg, caf::actor_system& sys);
  ~hub_runtime();

  hub_runtime(const hub_runtime&) = delete;
  hub_runtime& operator=(const hub_runtime&) = delete;

  /// Opens storage, spawns the actors, opens the listener. The error, if it could not.
  std::optional<std::string> start();

  /// Runs the io_contexts, one per thread (this one runs the first), until they stop: after a
  /// graceful shutdown (begin_shutdown) or stop().
  void run_io();

  /// Graceful shutdown (see docs/architecture.md), from any thread. The io_context stops when the
  /// streams are drained or shutdown.timeout_seconds passed.
  void begin_shutdown(int signal);

  /// Stops the io_context, checkpoints sessions, stops the hub's actors and waits for them, and
  /// flushes storage. Idempotent.
  void stop();

  /// SIGHUP with the configuration loaded again (file, environment, flags): applies what can
  /// change while the hub runs (token keys and their rules, the TLS certificate, log level,
  /// access log, CORS origins, limits.max_connections), logs each change, and logs every other
  /// changed key as needing a restart. What does not load is logged and the running value stays.
  void reload(const config& fresh);

  hub_context& context() { return *hub_; }
  /// The first io_context (the listener's).
  boost::asio::io_context& io() { return ioc_; }
  boost::asio::ip::tcp::endpoint endpoint() const { return endpoint_; }

private:
  /// The hub's root actors, on `store`, with the sessions loaded from it.
  /// `shared`: cluster mode's shared log (null: a single node).
  void spawn_actors(std::shared_ptr<hub_storage> store, std::vector<stored_session> sessions,
                    std::shared_ptr<shared_log> shared);
  /// Opens the listener on the configured address; the error if it cannot.
  std::optional<std::string> listen();
  /// Loads the keys and the anonymous principal into the hub context.
  std::optional<std::string> load_auth();
  void stop_io();

  const config& cfg_;
  std::string applied_; // the effective configuration in force (effective_json), for reloads
  caf::actor_system& sys_;
  std::unique_ptr<hub_context> hub_;
  boost::asio::io_context ioc_;
  std::vector<std::unique_ptr<boost::asio::io_context>> more_io_;
  std::vector<std::unique_ptr<boost::asio::io_context>> stream_io_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work_;
  std::shared_ptr<listener> listener_;
  std::shared_ptr<listener> metrics_listener_; // metrics.listen, when set
  boost::asio::ip::tcp::endpoint metrics_endpoint_;
  std::shared_ptr<shutdown_sequence> shutdown_;
  std::shared_ptr<memory_trimmer> trimmer_;
  boost::asio::ip::tcp::endpoint endpoint_;
  bool started_ = false;
};

/// Loads the configuration again for a SIGHUP (the error if it does not load).
using config_loader = std::function<std::variant<config, std::string>()>;

/// Runs the hub until SIGINT/SIGTERM; SIGHUP reloads through `reload_config` (keys and
/// certificates only from `cfg`'s files when it is empty). Returns the process exit code.
int run_hub(const config& cfg, config_loader reload_config = {});

/// What starting the hub with `cfg` would refuse, found without starting it: keys and key files,
/// the TLS certificate and key, the anonymous grants, the listen addresses (resolved), and a
/// development hub (no keys) on an address other hosts can reach. (The data dir is not opened.)
std::optional<std::string> check_config(const config& cfg);

} // namespace herald
