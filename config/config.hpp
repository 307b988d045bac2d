#pragma once
// Herald's configuration: defaults < JSON file < environment (HERALD_*) < command-line flags.
// Every key is documented in docs/operations.md; config/herald.json lists the defaults.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>


namespace herald {

/// storage.durability: "process" survives kill -9, "fsync" survives power loss (app maps it to
/// the storage layer's mode; config depends on no other layer).
enum class durability_setting { process, fsync };

/// One entry of auth.keys: a key bound to one algorithm (auth/tokens.hpp reads and checks it).
struct auth_key_setting {
  std::string kid;
  std::string alg;
  std::string secret;
  std::string secret_file;
  std::string public_key_file;
};

struct config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = "./data";

  durability_setting storage_durability = durability_setting::process;
  /// Writes that store anything are refused (503 storage_failure) while the data directory's
  /// filesystem has less than this available (0: never).
  std::uint64_t storage_min_free_bytes = 64ull << 20;

  std::uint64_t retention_max_events_per_topic = 100000;
  std::uint64_t retention_max_age_seconds = 86400;
  std::uint64_t retention_check_interval_seconds = 30;

  std::uint64_t publish_idempotency_window_seconds = 120;

  std::uint64_t limits_max_connections = 10000;
  std::uint64_t limits_max_subscribers_per_topic = 10000;
  std::uint64_t limits_max_topics_per_subscription = 32;
  std::uint64_t limits_max_body_bytes = 1 << 20;
  std::uint64_t limits_max_header_bytes = 16 << 10;
  std::uint64_t limits_max_events_per_publish = 1000;
  /// Requests one connection may have in flight (HTTP/1.1 pipelining; answers go in order).
  std::uint64_t limits_max_pipelined_requests = 256;
  std::uint64_t limits_slow_consumer_bytes = 1 << 20;
  /// SO_SNDBUF of every accepted socket (0: the kernel's autotuning, up to net.ipv4.tcp_wmem's
  /// maximum, 4 MiB by default, per socket a client stops reading). With limits_slow_consumer_bytes
  /// it bounds what a stalled stream holds.
  std::uint64_t limits_socket_send_buffer_bytes = 256 << 10;

  std::uint64_t sse_heartbeat_seconds = 25;
  std::uint64_t sse_retry_ms = 2000;
  std::uint64_t sse_max_connection_age_seconds = 0; // 0: unlimited

  // WebSocket (GET /v1/ws).
  std::uint64_t websocket_ping_seconds = 25;    // a ping after this much silence; closed at twice
  std::uint64_t websocket_max_message_bytes = 1 << 20; // larger messages are refused (and read past)
  std::uint64_t websocket_max_subscriptions = 64;      // per connection
  bool websocket_compression = false; // permessage-deflate when the client offers it

  std::vector<std::string> cors_allowed_origins;

  bool metrics_public = false; // GET /metrics without an admin token
  /// A second address serving only /metrics, /healthz and /readyz, over plain HTTP and without
  /// tokens ("HOST:PORT"; empty: none). Bind it where only the scraper reaches.
  std::string metrics_listen_host;
  std::uint16_t metrics_listen_port = 0;

  bool dashboard_enabled = true;           // GET /dashboard and its stream (admin)
  std::uint64_t dashboard_interval_ms = 1000; // a snapshot this often while someone watches

  // Compression (net/compression.hpp). Gzipped request bodies are always accepted.
  bool compression_responses = true;        // gzip JSON answers when the client accepts it
  std::uint64_t compression_min_bytes = 1024; // ... of at least this many bytes
  std::uint64_t compression_level = 6;        // zlib level of JSON answers (1-9)
  bool compression_streams = false;           // gzip SSE streams when the client accepts it
  std::uint64_t compression_stream_level = 1; // zlib level of SSE streams (1-9)

  // Mercure's protocol at /.well-known/mercure (net/mercure_api.cpp).
  bool mercure_enabled = true;
  bool mercure_anonymous = false;     // subscribers without a token get public updates
  bool mercure_subscriptions = false; // subscription events and the subscriptions API
  std::vector<std::string> mercure_publish_origins; // cookie-authenticated publishes from these

  // Authentication (docs/security.md). No keys: a development hub, loopback only.
  std::vector<auth_key_setting> auth_keys;
  std::string auth_jwks_file;
  std::string auth_issuer;   // enforced when set
  std::string auth_audience; // enforced when set
  std::uint64_t auth_leeway_seconds = 30;
  std::string auth_cookie_name = "herald_token";
  bool auth_query_token = true;
  bool auth_anonymous_set = false; // auth.anonymous was given explicitly
  std::vector<std::string> auth_anonymous_publish;
  std::vector<std::string> auth_anonymous_subscribe;

  // Request reading and JSON bodies.
  std::uint64_t limits_header_timeout_seconds = 10;
  std::uint64_t limits_body_timeout_seconds = 30;
  std::uint64_t limits_max_json_depth = 64;

  // Rate limits (token buckets; a rate of 0 turns that limit off).
  std::uint64_t rate_publish_requests_per_second = 0; // per principal
  std::uint64_t rate_publish_requests_burst = 0;      // 0: twice the rate
  std::uint64_t rate_publish_events_per_second = 0;   // per principal
  std::uint64_t rate_publish_events_burst = 0;
  std::uint64_t rate_connections_per_second_per_ip = 0;
  std::uint64_t rate_connections_burst = 0;
  std::uint64_t rate_max_streams_per_principal = 0; // concurrent; 0: no limit
  std::uint64_t rate_max_streams_per_ip = 0;

  // TLS: both set, the listener speaks HTTPS only.
  std::string tls_cert_file;
  std::string tls_key_file;

  std::uint64_t jobs_retention_seconds = 300;
  std::uint64_t jobs_stale_after_seconds = 3600;
  std::uint64_t jobs_idle_seconds = 60;
  std::vector<std::string> jobs_upstream_allowed_hosts{"127.0.0.1", "localhost", "::1"};

  std::uint64_t sessions_max_sessions = 100000;
  std::uint64_t sessions_checkpoint_interval_seconds = 5;

  std::uint64_t shutdown_timeout_seconds = 10;
  std::uint64_t shutdown_retry_jitter_ms = 5000;

  std::uint64_t threads_io = 1;
  /// Io threads that SSE streams over plain HTTP move to once their response starts (0: they
  /// stay on the io thread that read their request).
  std::uint64_t threads_streams = 1;
  std::uint64_t threads_actors = 2;

  // Cluster mode (docs/architecture.md, "Scale-out"): nodes share one ordered log, a NATS
  // JetStream stream. No servers: a single node on its embedded log.
  std::vector<std::string> cluster_nats_servers;
  std::string cluster_stream = "HERALD";       // the stream's name and its subjects' prefix
  std::uint64_t cluster_replicas = 3;          // the stream's replicas
  std::string cluster_node_name;               // empty: the host name
  std::uint64_t cluster_publish_timeout_ms = 5000; // JetStream's acknowledgement, else 503
  std::uint64_t cluster_ready_lag = 1000;      // further behind the stream: not ready

  bool clustered() const { return !cluster_nats_servers.empty(); }
  /// cluster.node_name, or the host name when it is empty.
  std::string node_name() const;

  std::string log_level = "info";
  std::string log_format = "text"; // "text" (key=value) or "json" (one object per line)
  bool log_access = false;          // one line per unary request (never a token or a query)
};

/// Applies a JSON document (the config file's text) to `cfg`. Unknown keys and invalid values
/// give an error that names the key.
std::optional<std::string> apply_json(config& cfg, const std::string& text);

/// Applies HERALD_* environment variables (e.g. HERALD_SSE_HEARTBEAT_SECONDS=10).
std::optional<std::string> apply_env(config& cfg);

/// HERALD_* environment variables that look like misspelled config keys (a name in a config
/// section, or close to a key), each described with the closest key when there is one: the hub
/// refuses them as it refuses an unknown key in the file. The hub's other variables
/// (HERALD_CONFIG, HERALD_TOKEN) and unrelated HERALD_* names are left be.
std::vector<std::string> unknown_env_keys();
/// ... for these variable names (what unknown_env_keys() reads from the environment).
std::vector<std::string> unknown_env_keys(const std::vector<std::string>& names);

/// Parses "HOST:PORT" into cfg.listen_host / listen_port.
std::optional<std::string> apply_listen(config& cfg, const std::string& value);

/// Checks cross-key constraints after everything was applied.
std::optional<std::string> validate(const config& cfg);

/// Every key as a dotted name (for docs and for the environment mapping).
std::vector<std::string> config_keys();

/// The effective configuration as a JSON document in the config file's shape (every key, its
/// value after the file, the environment and the flags), with secrets redacted: an auth key's
/// `secret` reads "<redacted>" (files are named, not read).
std::string effective_json(const config& cfg);

} // namespace herald
