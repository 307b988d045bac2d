#pragma once
// What the network layer needs from the running hub: root actors, the log (read-only facts such
// as its epoch and head), counters and the lifecycle flags. Owned by app/hub.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <mutex>

#include <boost/asio/ssl/context.hpp>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/connection.hpp"
#include "actors/hub_stats.hpp"
#include "auth/tokens.hpp"
#include "config/config.hpp"
#include "net/mercure_subscriptions.hpp"
#include "net/metrics.hpp"
#include "net/rate_limits.hpp"
#include "net/router.hpp"
#include "net/ws_registry.hpp"
#include "storage/event_log.hpp"
#include "storage/hub_storage.hpp"

namespace herald {

/// The settings a SIGHUP may change while requests run (the rest of `cfg` is fixed for the
/// process's life). Read whole through hub_context::settings(); a reload swaps them whole.
struct live_settings {
  std::vector<std::string> cors_allowed_origins;
  bool log_access = false;
  std::uint64_t max_connections = 0;

  static live_settings of(const config& c) {
    return {c.cors_allowed_origins, c.log_access, c.limits_max_connections};
  }
};

struct hub_context {
  hub_context(const config& c, caf::actor_system& s)
    : cfg(c), sys(s), limits(std::make_unique<rate_limits>(c)) {
    // nop
  }

  /// The reloadable settings now (a reload may swap them at any time; this copy stays valid).
  std::shared_ptr<const live_settings> settings() const { return std::atomic_load(&live); }

  const config& cfg; // as the hub started: cors, log.access and limits.max_connections are in
                     // settings(), which SIGHUP may change
  caf::actor_system& sys;
  std::shared_ptr<hub_storage> storage; // the hub's own reference; actors hold theirs
  std::shared_ptr<event_log> log;       // epoch, head and topic count (no RocksDB reads)
  journal_handle journal;
  cluster_tail_handle cluster_tail; // cluster mode only
  dispatcher_handle dispatcher;
  caf::actor registry;
  reader_handle reader;
  caf::actor job_registry;
  caf::actor session_registry;
  caf::actor dashboard_feed; // null when dashboard.enabled is off
  connection_settings stream_settings;
  /// Every endpoint and the middleware chain (net/routes.cpp), built before the listener starts.
  std::unique_ptr<const router> routes;
  /// The metrics.listen address's endpoints (null when it is not configured).
  std::unique_ptr<const router> metrics_routes;
  hub_stats stats;
  /// The reloadable settings (atomic_load/atomic_store: settings() and hub_runtime::reload).
  std::shared_ptr<const live_settings> live =
    std::make_shared<const live_settings>(live_settings::of(cfg));
  /// Bytes queued for every stream's writer (outbound_queue's size hints, in flight included).
  outbound_queue::byte_gauge outbound_bytes = std::make_shared<std::atomic<std::int64_t>>(0);
  /// The keys tokens are verified with: swapped whole on SIGHUP, read with std::atomic_load.
  /// Null or empty: a development hub (no tokens).
  std::shared_ptr<const key_set> keys;
  /// What a request without a token is: auth.anonymous, or everything on a development hub.
  principal_ptr anonymous = std::make_shared<const principal>(principal::development());
  /// HTTPS: the TLS context new connections use (swapped whole on SIGHUP, read with
  /// std::atomic_load; each connection keeps the one it started with). Null: plain HTTP.
  std::shared_ptr<boost::asio::ssl::context> tls;
  /// Rate and resource limits (rate.*), shared by every io thread.
  std::unique_ptr<rate_limits> limits;
  /// The io_contexts plain-HTTP streams move to (threads.streams; each run by one thread), so
  /// that writing to many streams never holds up the io threads that read requests. Empty:
  /// streams stay where their request was read. Set before the listener starts.
  std::vector<boost::asio::io_context*> stream_io;
  std::atomic<std::size_t> next_stream_io{0};
  /// Open WebSocket connections (shutdown tells each to go away).
  ws_registry websockets;
  /// Prometheus metrics (GET /metrics): histograms and answer counts; the rest is read from
  /// `stats` when scraped.
  std::unique_ptr<hub_metrics> metrics = std::make_unique<hub_metrics>();
  /// Mercure's active subscriptions (mercure.subscriptions), shared with the streams' leases.
  std::shared_ptr<mercure_subscriptions> mercure_subs = std::make_shared<mercure_subscriptions>();
  std::atomic<bool> ready{false};
  std::atomic<bool> shutting_down{false};
  /// False once the hub's actors are stopped and this context is about to go. Streams still
  /// pending in the (stopped) io_context check it when the io_context destroys them later.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Upstream poll rate for /v1/stats: measured between samples at least a second apart.
  std::mutex rate_mtx;
  std::chrono::steady_clock::time_point rate_sampled = started;
  std::uint64_t rate_polls = 0;
  double upstream_polls_per_second = 0;

  /// Why the hub is not ready ({code, message}: /readyz's 503), or nullopt when it is.
  std::optional<std::pair<std::string, std::string>> not_ready() const {
    if (shutting_down.load())
      return std::pair<std::string, std::string>{"shutting_down", "the hub is not accepting work"};
    if (!ready.load())
      return std::pair<std::string, std::string>{"not_ready", "the hub is not accepting work"};
    if (auto& c = stats.cluster; c.enabled.load()) {
      if (!c.connected.load())
        return std::pair<std::string, std::string>{
          "cluster_unavailable", "this node is not connected to the cluster's NATS servers"};
      if (!c.caught_up.load() || c.lag.load() > cfg.cluster_ready_lag)
        return std::pair<std::string, std::string>{
          "cluster_catching_up", "this node is " + std::to_string(c.lag.load())
                                   + " events behind the cluster's log (applied through "
                                   + std::to_string(c.applied.load()) + ")"};
    }
    return std::nullopt;
  }
};

} // namespace herald
