#include "app/hub.hpp"
#include "app/json_log.hpp"

#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster_tail.hpp"
#include "actors/dashboard_feed.hpp"
#include "actors/dispatcher.hpp"
#include "actors/hub_error.hpp"
#include "actors/job_registry.hpp"
#include "actors/journal.hpp"
#include "actors/log_reader.hpp"
#include "actors/registry.hpp"
#include "actors/session_registry.hpp"
#include "net/dashboard.hpp"
#include "net/http_client.hpp"
#include "net/hub_context.hpp"
#include "net/listener.hpp"
#include "net/routes.hpp"
#include "net/tls.hpp"
#include "storage/hub_storage.hpp"
#include "storage/event_id.hpp"
#include "storage/topic_pattern.hpp"

namespace herald {
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Shutdown: refuse new work, close every stream with a herald.shutdown notice and a jittered
// retry, wait (bounded) for streams to flush and publishes in flight to be answered, then stop.
class shutdown_sequence : public std::enable_shared_from_this<shutdown_sequence> {
public:
  shutdown_sequence(net::io_context& ioc, std::function<void()> stop_io, hub_context& hub,
                    std::shared_ptr<listener> l)
    : stop_io_(std::move(stop_io)), hub_(hub), listener_(std::move(l)), timer_(ioc) {
    // nop
  }

  void begin(int signal) {
    if (hub_.shutting_down.exchange(true)) {
      spdlog::warn("event=shutdown_forced signal={}", signal);
      stop_io_();
      return;
    }
    spdlog::info("event=shutdown_started signal={} connections={} publishes_in_flight={}",
                 signal, hub_.stats.open_connections.load(),
                 hub_.stats.publishes_in_flight.load());
    hub_.ready = false;
    listener_->stop();
    for (auto a : {caf::actor_cast<caf::actor>(hub_.dispatcher), hub_.job_registry,
                   hub_.dashboard_feed})
      if (a)
        caf::anon_send(a, shutdown_atom::value, hub_.cfg.sse_retry_ms,
                       hub_.cfg.shutdown_retry_jitter_ms);
    // WebSockets without a subscription (those with one hear of it through their queues).
    hub_.websockets.go_away_all(
      jittered_retry_ms(hub_.cfg.sse_retry_ms, hub_.cfg.shutdown_retry_jitter_ms));
    deadline_ = std::chrono::steady_clock::now()
                + std::chrono::seconds(hub_.cfg.shutdown_timeout_seconds);
    poll();
  }

private:
  void poll() {
    bool drained = hub_.stats.open_connections.load() == 0
                   && hub_.stats.publishes_in_flight.load() == 0;
    if (drained || std::chrono::steady_clock::now() >= deadline_) {
      if (!drained)
        spdlog::warn("event=shutdown_timeout connections={} publishes_in_flight={}",
                     hub_.stats.open_connections.load(), hub_.stats.publishes_in_flight.load());
      stop_io_();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec)
        self->poll();
    });
  }

  std::function<void()> stop_io_;
  hub_context& hub_;
  std::shared_ptr<listener> listener_;
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
};

// Gives memory freed by closed streams back to the system. glibc keeps freed memory in its
// per-thread arenas; after a wave of connections (allocated on io threads, partly freed on actor
// threads) an idle hub would otherwise hold several times its working set. Trims only after
// enough streams closed, so a steady hub pays nothing.
class memory_trimmer : public std::enable_shared_from_this<memory_trimmer> {
public:
  memory_trimmer(net::io_context& ioc, hub_context& hub) : hub_(hub), timer_(ioc) {
    // nop
  }

  void run() {
    timer_.expires_after(std::chrono::seconds(5));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec)
        return;
      auto closed = self->hub_.stats.streams_closed.load();
      if (closed - self->trimmed_at_ >= 256) {
        self->trimmed_at_ = closed;
        ::malloc_trim(0);
      }
      self->run();
    });
  }

private:
  hub_context& hub_;
  net::steady_timer timer_;
  std::uint64_t trimmed_at_ = 0;
};

namespace {

void setup_logging(const config& cfg) {
  if (cfg.log_format == "json")
    spdlog::set_formatter(std::make_unique<json_log_formatter>());
  else
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
}

} // namespace

hub_runtime::hub_runtime(const config& cfg, caf::actor_system& sys)
  : cfg_(cfg), applied_(effective_json(cfg)), sys_(sys), ioc_(1) {
  for (std::uint64_t i = 1; i < cfg.threads_io; ++i) {
    more_io_.push_back(std::make_unique<net::io_context>(1));
    // Kept running while idle (no sockets yet): stop_io() ends them.
    io_work_.push_back(net::make_work_guard(*more_io_.back()));
  }
  for (std::uint64_t i = 0; i < cfg.threads_streams; ++i) {
    stream_io_.push_back(std::make_unique<net::io_context>(1));
    io_work_.push_back(net::make_work_guard(*stream_io_.back()));
  }
}

hub_runtime::~hub_runtime() {
  stop();
}

namespace {

stream_timing timing_of(const config& cfg) {
  stream_timing timing;
  timing.heartbeat = std::chrono::seconds(cfg.sse_heartbeat_seconds);
  timing.max_age = std::chrono::seconds(cfg.sse_max_connection_age_seconds);
  timing.retry_ms = cfg.sse_retry_ms;
  timing.retry_jitter_ms = cfg.shutdown_retry_jitter_ms;
  return timing;
}

shared_log_settings shared_log_settings_of(const config& cfg) {
  shared_log_settings s;
  s.servers = cfg.cluster_nats_servers;
  s.stream = cfg.cluster_stream;
  s.replicas = cfg.cluster_replicas;
  s.node_name = cfg.node_name();
  s.max_events_per_topic = cfg.retention_max_events_per_topic;
  s.max_age = std::chrono::seconds(cfg.retention_max_age_seconds);
  s.duplicate_window = std::chrono::seconds(cfg.publish_idempotency_window_seconds);
  s.publish_timeout = std::chrono::milliseconds(cfg.cluster_publish_timeout_ms);
  return s;
}

journal_settings journal_settings_of(const config& cfg) {
  journal_settings js;
  js.publish_timeout = std::chrono::milliseconds(cfg.cluster_publish_timeout_ms);
  js.max_age = std::chrono::seconds(cfg.retention_max_age_seconds);
  js.retention_interval = std::chrono::seconds(cfg.retention_check_interval_seconds);
  js.idempotency_window = std::chrono::seconds(cfg.publish_idempotency_window_seconds);
  return js;
}

/// Job settings; upstream status URLs are fetched on `ioc`.
job_settings job_settings_of(const config& cfg, net::io_context& ioc) {
  job_settings jobs;
  jobs.retention = std::chrono::seconds(cfg.jobs_retention_seconds);
  jobs.stale_after = std::chrono::seconds(cfg.jobs_stale_after_seconds);
  jobs.idle = std::chrono::seconds(cfg.jobs_idle_seconds);
  jobs.retry_ms = cfg.sse_retry_ms;
  jobs.heartbeat = std::chrono::seconds(cfg.sse_heartbeat_seconds);
  jobs.upstream_allowed_hosts = cfg.jobs_upstream_allowed_hosts;
  jobs.fetch = [&ioc](const std::string& url, std::chrono::milliseconds timeout,
                      std::function<void(upstream_reply)> done) {
    auto parsed = uri::parse_url(url);
    if (!parsed || parsed->secure())
      return done(upstream_reply{0, {}, "not an http:// URL"});
    http_get(ioc, *parsed, timeout, [done](http_result r) {
      done(upstream_reply{r.status, std::move(r.body), std::move(r.error)});
    });
  };
  return jobs;
}

} // namespace

std::optional<std::string> hub_runtime::start() {
  const auto& cfg = cfg_;
  std::error_code fs_ec;
  std::filesystem::create_directories(cfg.data_dir, fs_ec);
  if (fs_ec)
    return "cannot create data dir '" + cfg.data_dir + "': " + fs_ec.message();
  // This thread opens storage, loads the sessions and, at stop, flushes: a storage thread until
  // the journal and the reader (detached, storage threads of their own) take over.
  storage_thread::claim();
  std::string err;
  auto store = hub_storage::open(
    cfg.data_dir,
    cfg.storage_durability == durability_setting::fsync ? durability::fsync : durability::process,
    err);
  if (!store)
    return err;
  store->db().set_min_free_bytes(cfg.storage_min_free_bytes);
  store->log().keep_per_topic(cfg.retention_max_events_per_topic);
  std::shared_ptr<shared_log> shared;
  if (cfg.clustered()) {
    shared = shared_log::open(shared_log_settings_of(cfg), err);
    if (!shared)
      return err;
    if (auto epoch_err = store->log().adopt_epoch(shared->epoch()))
      return *epoch_err;
  }
  std::vector<std::string> unreadable;
  std::optional<std::string> load_error;
  auto sessions = store->sessions().load_all(unreadable, load_error);
  if (load_error)
    return *load_error;
  for (auto& id : unreadable)
    spdlog::error("event=session_unreadable session={}", id);
  hub_ = std::make_unique<hub_context>(cfg, sys_);
  if (auto auth_err = load_auth())
    return auth_err;
  spawn_actors(std::move(store), std::move(sessions), std::move(shared));
  started_ = true;
  if (auto listen_err = listen()) {
    stop();
    return listen_err;
  }
  auto& hub = *hub_;
  shutdown_ = std::make_shared<shutdown_sequence>(ioc_, [this] { stop_io(); }, hub, listener_);
  trimmer_ = std::make_shared<memory_trimmer>(ioc_, hub);
  trimmer_->run();
  hub.ready = true;
  if (cfg.clustered())
    spdlog::info("event=cluster_node node={} stream={} servers={} applied={}", cfg.node_name(),
                 cfg.cluster_stream, cfg.cluster_nats_servers.size(), hub.log->head());
  spdlog::info("event=listening address={}:{} scheme={} data_dir={} epoch={:08x} head={} "
               "durability={}",
               endpoint_.address().to_string(), endpoint_.port(), hub.tls ? "https" : "http",
               cfg.data_dir,
               hub.log->epoch(), hub.log->head(),
               cfg.storage_durability == durability_setting::fsync ? "fsync" : "process");
  return std::nullopt;
}

void hub_runtime::spawn_actors(std::shared_ptr<hub_storage> store,
                               std::vector<stored_session> sessions,
                               std::shared_ptr<shared_log> shared) {
  const auto& cfg = cfg_;
  auto& sys = sys_;
  auto& hub = *hub_;
  auto log = hub_storage::log_of(store);
  hub.storage = store;
  hub.log = log;
  hub.stream_settings.retry_ms = cfg.sse_retry_ms;
  hub.stream_settings.retry_jitter_ms = cfg.shutdown_retry_jitter_ms;
  hub.dispatcher = sys.spawn(dispatcher, log->head(), timing_of(cfg));
  auto js = journal_settings_of(cfg);
  js.shared = shared;
  hub.journal = sys.spawn<caf::detached>(journal, store, hub.dispatcher, &hub.stats, js);
  hub.reader = sys.spawn<caf::detached>(log_reader, store, &hub.stats);
  hub.registry = sys.spawn(registry, cfg.limits_max_subscribers_per_topic, &hub.stats);
  hub.job_registry = sys.spawn(job_registry, hub.journal, hub.reader, job_settings_of(cfg, ioc_),
                               &hub.stats);
  session_deps sd;
  sd.journal = hub.journal;
  sd.dispatcher = hub.dispatcher;
  sd.reader = hub.reader;
  sd.epoch = log->epoch();
  sd.stats = &hub.stats;
  sd.retry_ms = cfg.sse_retry_ms;
  sd.checkpoint_interval = std::chrono::seconds(cfg.sessions_checkpoint_interval_seconds);
  sd.log = log;
  if (shared)
    sd.origin = shared->origin();
  session_registry_settings srs;
  srs.max_sessions = cfg.sessions_max_sessions;
  srs.max_topics = cfg.limits_max_topics_per_subscription;
  hub.session_registry = sys.spawn(session_registry, std::move(sessions),
                                   std::shared_ptr<const event_log>{log}, sd, srs);
  if (shared) {
    cluster_tail_settings ts;
    ts.max_age = js.max_age;
    ts.retention_interval = js.retention_interval;
    hub.cluster_tail = sys.spawn<caf::detached>(cluster_tail, store, shared, hub.dispatcher,
                                                hub.job_registry, hub.session_registry,
                                                &hub.stats, ts);
  }
  if (cfg.dashboard_enabled)
    hub.dashboard_feed = sys.spawn(dashboard_feed, make_dashboard_source(hub),
                                   caf::timespan{std::chrono::milliseconds(cfg.dashboard_interval_ms)},
                                   &hub.stats.activity, cfg.sse_retry_ms);
}

namespace {

token_rules token_rules_of(const config& cfg) {
  token_rules rules;
  for (auto& k : cfg.auth_keys)
    rules.keys.push_back({k.kid, k.alg, k.secret, k.secret_file, k.public_key_file});
  rules.jwks_file = cfg.auth_jwks_file;
  rules.issuer = cfg.auth_issuer;
  rules.audience = cfg.auth_audience;
  rules.leeway_seconds = static_cast<std::int64_t>(cfg.auth_leeway_seconds);
  return rules;
}

/// The keys of `cfg`, read and checked; the error names the key.
std::variant<std::shared_ptr<const key_set>, std::string> load_keys(const config& cfg) {
  return key_set::load(token_rules_of(cfg));
}

/// What the hub's access control is made of, read from the files `cfg` names and checked.
struct auth_parts {
  std::shared_ptr<const key_set> keys;
  std::shared_ptr<net::ssl::context> tls; // null without tls.cert_file
};

std::variant<auth_parts, std::string> load_auth_parts(const config& cfg) {
  auto keys = load_keys(cfg);
  if (auto* err = std::get_if<std::string>(&keys))
    return *err;
  for (auto* list : {&cfg.auth_anonymous_publish, &cfg.auth_anonymous_subscribe})
    for (auto& s : *list)
      if (auto err = validate_pattern(s))
        return "auth.anonymous: selector '" + s + "': " + *err;
  auth_parts parts{std::get<std::shared_ptr<const key_set>>(std::move(keys)), nullptr};
  if (!cfg.tls_cert_file.empty()) {
    auto tls = make_tls_context(cfg.tls_cert_file, cfg.tls_key_file);
    if (auto* err = std::get_if<std::string>(&tls))
      return *err;
    parts.tls = std::get<0>(std::move(tls));
  }
  return parts;
}

/// A development hub (no keys, auth.anonymous not set) is open to every client, so it may only
/// listen where no other host can reach it.
std::optional<std::string> exposure_error(const config& cfg, const key_set& keys,
                                          const tcp::resolver::results_type& addresses) {
  if (!keys.empty() || cfg.auth_anonymous_set)
    return std::nullopt;
  for (auto& r : addresses)
    if (!r.endpoint().address().is_loopback())
      return "listen address '" + cfg.listen_host
             + "' is reachable from the network, and no auth.keys are configured: set "
               "auth.keys (or auth.jwks_file), or set auth.anonymous explicitly for an open hub";
  return std::nullopt;
}

} // namespace

std::optional<std::string> check_config(const config& cfg) {
  auto parts = load_auth_parts(cfg);
  if (auto* err = std::get_if<std::string>(&parts))
    return *err;
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  boost::system::error_code ec;
  auto addresses = resolver.resolve(cfg.listen_host, std::to_string(cfg.listen_port), ec);
  if (ec || addresses.empty())
    return "cannot resolve listen host '" + cfg.listen_host + "': " + ec.message();
  if (auto err = exposure_error(cfg, *std::get<auth_parts>(parts).keys, addresses))
    return err;
  if (!cfg.metrics_listen_host.empty()) {
    resolver.resolve(cfg.metrics_listen_host, std::to_string(cfg.metrics_listen_port), ec);
    if (ec)
      return "cannot resolve metrics.listen host '" + cfg.metrics_listen_host
             + "': " + ec.message();
  }
  return std::nullopt;
}

std::optional<std::string> hub_runtime::load_auth() {
  const auto& cfg = cfg_;
  auto& hub = *hub_;
  auto loaded = load_auth_parts(cfg);
  if (auto* err = std::get_if<std::string>(&loaded))
    return *err;
  auto& parts = std::get<auth_parts>(loaded);
  hub.tls = std::move(parts.tls);
  auto set = std::move(parts.keys);
  bool development = set->empty() && !cfg.auth_anonymous_set;
  hub.anonymous = std::make_shared<const principal>(
    development ? principal::development()
                : principal::anonymous(cfg.auth_anonymous_publish, cfg.auth_anonymous_subscribe));
  std::atomic_store(&hub.keys, std::shared_ptr<const key_set>{std::move(set)});
  return std::nullopt;
}

namespace {

/// Keys whose change a reload applies (the others need a restart).
/// The JSON pointer of config key `key` in the effective configuration ("a.b" is /a/b).
nlohmann::json::json_pointer key_pointer(const std::string& key) {
  std::string pointer = "/" + key;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  return nlohmann::json::json_pointer{pointer};
}

bool reloadable(const std::string& key) {
  static const std::set<std::string> keys{
    "log.level",     "log.access",         "cors.allowed_origins", "limits.max_connections",
    "auth.keys",     "auth.jwks_file",     "auth.issuer",          "auth.audience",
    "auth.leeway_seconds", "tls.cert_file", "tls.key_file"};
  return keys.count(key) != 0 || key.rfind("rate.", 0) == 0;
}

} // namespace

void hub_runtime::reload(const config& fresh) {
  // On the listener's io thread (from the SIGHUP handler). Each part is swapped whole: requests
  // in flight keep what they loaded.
  auto before = nlohmann::json::parse(applied_);
  auto after = nlohmann::json::parse(effective_json(fresh));
  std::set<std::string> changed;
  for (auto& key : config_keys()) {
    auto at = key_pointer(key);
    if (before.value(at, nlohmann::json{}) != after.value(at, nlohmann::json{}))
      changed.insert(key);
  }
  for (auto& key : changed) {
    auto at = key_pointer(key);
    if (!reloadable(key)) {
      spdlog::warn("event=config_reload_needs_restart key={} running={} configured={}", key,
                   before.value(at, nlohmann::json{}).dump(), after.value(at, nlohmann::json{}).dump());
      continue;
    }
    if (key.rfind("auth.", 0) == 0 || key.rfind("tls.", 0) == 0)
      continue; // reported by the key and certificate reloads below
    spdlog::info("event=config_reloaded key={} from={} to={}", key,
                 before.value(at, nlohmann::json{}).dump(), after.value(at, nlohmann::json{}).dump());
    before[at] = after.value(at, nlohmann::json{});
  }
  if (changed.count("log.level") != 0)
    spdlog::set_level(spdlog::level::from_str(fresh.log_level));
  std::atomic_store(&hub_->live, std::make_shared<const live_settings>(live_settings::of(fresh)));
  hub_->limits->apply(fresh);
  bool auth_ok = true;
  auto keys = load_keys(fresh);
  if (auto* err = std::get_if<std::string>(&keys)) {
    auth_ok = false;
    spdlog::error("event=keys_reload_failed error=\"{}\" keeping=previous_keys", *err);
  } else {
    auto set = std::get<std::shared_ptr<const key_set>>(std::move(keys));
    if (set->empty() != std::atomic_load(&hub_->keys)->empty()) {
      auth_ok = false;
      spdlog::error("event=keys_reload_failed error=\"keys cannot be added to or removed from "
                    "every key by a reload; restart the hub\" keeping=previous_keys");
    } else {
      spdlog::info("event=keys_reloaded keys={}", set->size());
      std::atomic_store(&hub_->keys, std::shared_ptr<const key_set>{std::move(set)});
    }
  }
  if (!fresh.tls_cert_file.empty() && !cfg_.tls_cert_file.empty()) {
    auto tls = make_tls_context(fresh.tls_cert_file, fresh.tls_key_file);
    if (auto* err = std::get_if<std::string>(&tls)) {
      auth_ok = false;
      spdlog::error("event=tls_reload_failed error=\"{}\" keeping=previous_certificate", *err);
    } else {
      std::atomic_store(&hub_->tls, std::get<0>(std::move(tls)));
      spdlog::info("event=tls_reloaded cert_file={}", fresh.tls_cert_file);
    }
  } else if (fresh.tls_cert_file.empty() != cfg_.tls_cert_file.empty()) {
    auth_ok = false;
    spdlog::warn("event=config_reload_needs_restart key=tls.cert_file reason=\"HTTPS is turned "
                 "on or off only at start\"");
  }
  if (auth_ok)
    for (auto* key : {"auth.keys", "auth.jwks_file", "auth.issuer", "auth.audience",
                      "auth.leeway_seconds", "tls.cert_file", "tls.key_file"}) {
      auto at = key_pointer(key);
      before[at] = after.value(at, nlohmann::json{});
    }
  applied_ = before.dump();
}

std::optional<std::string> hub_runtime::listen() {
  const auto& cfg = cfg_;
  auto& hub = *hub_;
  std::vector<net::io_context*> io{&ioc_};
  for (auto& more : more_io_)
    io.push_back(more.get());
  for (auto& s : stream_io_)
    hub.stream_io.push_back(s.get());
  hub.routes = make_hub_router();
  listener_ = std::make_shared<listener>(ioc_, std::move(io), hub,
                                         listener::options{hub.routes.get()});
  tcp::resolver resolver{ioc_};
  boost::system::error_code ec;
  auto results = resolver.resolve(cfg.listen_host, std::to_string(cfg.listen_port), ec);
  if (ec || results.empty())
    return "cannot resolve listen host '" + cfg.listen_host + "': " + ec.message();
  auto keys = std::atomic_load(&hub.keys);
  if (auto err = exposure_error(cfg, *keys, results))
    return err;
  if (keys->empty() && !cfg.auth_anonymous_set) {
    spdlog::warn("event=development_hub warning=\"no auth.keys: every request may do everything "
                 "(loopback only); configure auth.keys before exposing this hub\"");
  }
  if (auto err = listener_->open(results.begin()->endpoint()))
    return err;
  endpoint_ = listener_->local_endpoint();
  if (!cfg.metrics_listen_host.empty()) {
    // Scrapes only, on the first io thread, plain HTTP and no tokens: the address is the access
    // control. It serves until the io threads stop (a scrape during shutdown still answers).
    auto addr = resolver.resolve(cfg.metrics_listen_host,
                                 std::to_string(cfg.metrics_listen_port), ec);
    if (ec || addr.empty())
      return "cannot resolve metrics.listen host '" + cfg.metrics_listen_host
             + "': " + ec.message();
    hub.metrics_routes = make_metrics_router();
    metrics_listener_ = std::make_shared<listener>(
      ioc_, std::vector<net::io_context*>{&ioc_}, hub,
      listener::options{hub.metrics_routes.get(), false, false});
    if (auto err = metrics_listener_->open(addr.begin()->endpoint()))
      return "metrics.listen: " + *err;
    metrics_endpoint_ = metrics_listener_->local_endpoint();
    metrics_listener_->run();
    spdlog::info("event=metrics_listening address={}:{}", metrics_endpoint_.address().to_string(),
                 metrics_endpoint_.port());
  }
  listener_->run();
  return std::nullopt;
}

void hub_runtime::run_io() {
  std::vector<std::thread> io_threads;
  for (auto& more : more_io_)
    io_threads.emplace_back([io = more.get()] { io->run(); });
  for (auto& s : stream_io_)
    io_threads.emplace_back([io = s.get()] { io->run(); });
  ioc_.run();
  for (auto& t : io_threads)
    t.join();
}

void hub_runtime::stop_io() {
  ioc_.stop();
  for (auto& more : more_io_)
    more->stop();
  for (auto& s : stream_io_)
    s->stop();
}

void hub_runtime::begin_shutdown(int signal) {
  // On an io thread, like everything the listener and the streams do.
  net::post(ioc_, [this, signal] { shutdown_->begin(signal); });
}

void hub_runtime::stop() {
  if (!started_)
    return;
  started_ = false;
  stop_io(); // (stopped already after a graceful shutdown)
  auto& hub = *hub_;
  caf::scoped_actor self{sys_};
  // Sessions write their cursors while the journal still runs.
  self->request(hub.session_registry, std::chrono::seconds(5), checkpoint_atom::value)
    .receive([](bool) {},
             [](caf::error& err) {
               spdlog::warn("event=session_checkpoint_failed error=\"{}\"", to_string(err));
             });
  // Stop the root actors (their children are linked and go with them) and wait for them: the
  // actor system may be someone else's (embedded), so wait for ours only.
  std::vector<caf::actor> roots{caf::actor_cast<caf::actor>(hub.dispatcher),
                                hub.job_registry,
                                hub.session_registry,
                                caf::actor_cast<caf::actor>(hub.journal),
                                caf::actor_cast<caf::actor>(hub.reader),
                                hub.registry};
  if (hub.dashboard_feed)
    roots.push_back(hub.dashboard_feed);
  if (hub.cluster_tail)
    roots.push_back(caf::actor_cast<caf::actor>(hub.cluster_tail));
  for (auto& a : roots) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  for (std::size_t i = 0; i < roots.size(); ++i)
    self->receive([](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(10)) >> [] {
                    spdlog::warn("event=stop_timeout what=\"a root actor did not stop\"");
                  });
  // Children and stream actors (which point at hub.stats) finish right after their parents.
  auto& s = hub.stats;
  for (int i = 0; i < 1000; ++i) {
    if (s.connection_actors == 0 && s.topic_actors == 0 && s.job_actors == 0
        && s.job_viewers == 0 && s.sessions == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  roots.clear();
  hub.dispatcher = nullptr;
  hub.job_registry = nullptr;
  hub.session_registry = nullptr;
  hub.dashboard_feed = nullptr;
  hub.journal = nullptr;
  hub.reader = nullptr;
  hub.registry = nullptr;
  *hub.alive = false; // streams the stopped io_context still holds must not touch `hub`
  spdlog::info("event=stopped events_published={} events_delivered={}",
               hub.stats.events_published.load(), hub.stats.events_delivered.load());
  hub.storage->db().flush();
}

int run_hub(const config& cfg, config_loader reload_config) {
  setup_logging(cfg);
  caf::actor_system_config sys_cfg;
  add_hub_error_category(sys_cfg);
  // A mostly idle server: sharing avoids work-stealing's idle polling on our 2 cores.
  sys_cfg.set("scheduler.policy", caf::atom("sharing"));
  sys_cfg.set("scheduler.max-threads", static_cast<std::size_t>(cfg.threads_actors));
  sys_cfg.set("scheduler.max-throughput", std::size_t{300});
  caf::actor_system sys{sys_cfg};
  hub_runtime hub{cfg, sys};
  if (auto err = hub.start()) {
    spdlog::critical("event=start_failed error=\"{}\"", *err);
    return 1;
  }
  net::signal_set reloads{hub.io(), SIGHUP};
  std::function<void()> arm_reload = [&] {
    reloads.async_wait([&](boost::system::error_code ec, int) {
      if (ec)
        return;
      if (!reload_config) {
        hub.reload(cfg); // the key and certificate files named at start, read again
      } else {
        auto fresh = reload_config();
        if (auto* err = std::get_if<std::string>(&fresh))
          spdlog::error("event=config_reload_failed error=\"{}\" keeping=running_configuration",
                        *err);
        else
          hub.reload(std::get<config>(fresh));
      }
      arm_reload();
    });
  };
  arm_reload();
  net::signal_set signals{hub.io(), SIGINT, SIGTERM};
  std::function<void()> arm = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec)
        return;
      hub.begin_shutdown(sig);
      arm();
    });
  };
  arm();
  hub.run_io();
  hub.stop();
  return 0;
}

} // namespace herald
