#include "config/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "uri/uri.hpp"

namespace herald {
namespace {

using json = nlohmann::json;
using setter = std::function<std::optional<std::string>(config&, const json&)>;
using getter = std::function<json(const config&)>;

/// One config key: how a value is applied, and how the effective value is read back (for
/// `herald config check`; secrets redacted).
struct key_entry {
  setter set;
  getter get;
};

std::optional<std::string> set_u64(std::uint64_t& dst, const json& v, std::uint64_t lo,
                                   std::uint64_t hi) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    return std::string{"must be a non-negative integer"};
  auto x = v.get<std::uint64_t>();
  if (x < lo || x > hi)
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  dst = x;
  return std::nullopt;
}

std::optional<std::string> set_strings(std::vector<std::string>& dst, const json& v,
                                       const char* what) {
  if (!v.is_array())
    return std::string{"must be a list of "} + what;
  std::vector<std::string> out;
  for (auto& x : v) {
    if (!x.is_string() || x.get<std::string>().empty())
      return std::string{"must contain only non-empty strings"};
    out.push_back(x.get<std::string>());
  }
  dst = std::move(out);
  return std::nullopt;
}

#define U64_KEY(name, field, lo, hi)                                                           \
  {                                                                                            \
    name, key_entry {                                                                          \
      [](config& c, const json& v) { return set_u64(c.field, v, lo, hi); },                    \
        [](const config& c) -> json { return c.field; }                                        \
    }                                                                                          \
  }

#define BOOL_KEY(name, field)                                                                  \
  {                                                                                            \
    name, key_entry {                                                                          \
      [](config& c, const json& v) -> std::optional<std::string> {                             \
        if (!v.is_boolean())                                                                   \
          return std::string{"must be true or false"};                                         \
        c.field = v.get<bool>();                                                               \
        return std::nullopt;                                                                   \
      },                                                                                       \
        [](const config& c) -> json { return c.field; }                                        \
    }                                                                                          \
  }

#define STRING_KEY(name, field)                                                                \
  {                                                                                            \
    name, key_entry {                                                                          \
      [](config& c, const json& v) -> std::optional<std::string> {                             \
        if (!v.is_string())                                                                    \
          return std::string{"must be a string"};                                              \
        c.field = v.get<std::string>();                                                        \
        return std::nullopt;                                                                   \
      },                                                                                       \
        [](const config& c) -> json { return c.field; }                                        \
    }                                                                                          \
  }

std::optional<std::string> set_auth_keys(config& c, const json& v) {
  if (!v.is_array())
    return std::string{"must be a list of keys ({\"alg\": ..., \"secret\": ...})"};
  std::vector<auth_key_setting> keys;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto& k = v[i];
    auto where = "[" + std::to_string(i) + "] ";
    if (!k.is_object())
      return where + "must be an object";
    auth_key_setting key;
    for (auto it = k.begin(); it != k.end(); ++it) {
      if (!it->is_string())
        return where + "'" + it.key() + "' must be a string";
      auto val = it->get<std::string>();
      if (it.key() == "kid")
        key.kid = val;
      else if (it.key() == "alg")
        key.alg = val;
      else if (it.key() == "secret")
        key.secret = val;
      else if (it.key() == "secret_file")
        key.secret_file = val;
      else if (it.key() == "public_key_file")
        key.public_key_file = val;
      else
        return where + "unknown field '" + it.key() + "'";
    }
    if (key.alg.empty())
      return where + "needs 'alg' (each key is bound to one algorithm)";
    keys.push_back(std::move(key));
  }
  c.auth_keys = std::move(keys);
  return std::nullopt;
}

std::optional<std::string> set_anonymous(config& c, const json& v) {
  if (v.is_null()) { // not set: no keys make a development hub, keys make an anonymous nobody
    c.auth_anonymous_set = false;
    c.auth_anonymous_publish.clear();
    c.auth_anonymous_subscribe.clear();
    return std::nullopt;
  }
  if (!v.is_object())
    return std::string{"must be an object {\"publish\": [...], \"subscribe\": [...]}"};
  std::vector<std::string> pub, sub;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "publish" && it.key() != "subscribe")
      return "unknown field '" + it.key() + "'";
    auto& dst = it.key() == "publish" ? pub : sub;
    if (!it->is_array())
      return "'" + it.key() + "' must be a list of topic selectors";
    for (auto& s : *it) {
      if (!s.is_string())
        return "'" + it.key() + "' must be a list of topic selectors";
      dst.push_back(s.get<std::string>());
    }
  }
  c.auth_anonymous_set = true;
  c.auth_anonymous_publish = std::move(pub);
  c.auth_anonymous_subscribe = std::move(sub);
  return std::nullopt;
}

std::optional<std::string> set_listen(config& c, const json& v) {
  if (!v.is_string())
    return std::string{"must be a string HOST:PORT"};
  return apply_listen(c, v.get<std::string>());
}

/// "HOST:PORT" ("[v6]:PORT" for an IPv6 address).
std::string host_port(const std::string& host, std::uint16_t port) {
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

/// The keys as configured, their secrets redacted (files are named, never read here).
json get_auth_keys(const config& c) {
  json out = json::array();
  for (auto& k : c.auth_keys) {
    json key{{"alg", k.alg}};
    if (!k.kid.empty())
      key["kid"] = k.kid;
    if (!k.secret.empty())
      key["secret"] = "<redacted>";
    if (!k.secret_file.empty())
      key["secret_file"] = k.secret_file;
    if (!k.public_key_file.empty())
      key["public_key_file"] = k.public_key_file;
    out.push_back(std::move(key));
  }
  return out;
}

std::optional<std::string> set_metrics_listen(config& c, const json& v) {
  if (!v.is_string())
    return std::string{"must be a string HOST:PORT (or empty)"};
  auto value = v.get<std::string>();
  if (value.empty()) {
    c.metrics_listen_host.clear();
    c.metrics_listen_port = 0;
    return std::nullopt;
  }
  std::string why;
  auto addr = uri::parse_host_port(value, &why);
  if (!addr)
    return "'" + value + "' " + why;
  c.metrics_listen_host = std::move(addr->host);
  c.metrics_listen_port = addr->port;
  return std::nullopt;
}

std::optional<std::string> set_data_dir(config& c, const json& v) {
  if (!v.is_string() || v.get<std::string>().empty())
    return std::string{"must be a non-empty string"};
  c.data_dir = v.get<std::string>();
  return std::nullopt;
}

std::optional<std::string> set_durability(config& c, const json& v) {
  if (v == "process")
    c.storage_durability = durability_setting::process;
  else if (v == "fsync")
    c.storage_durability = durability_setting::fsync;
  else
    return std::string{"must be \"process\" or \"fsync\""};
  return std::nullopt;
}

const std::map<std::string, key_entry>& keys() {
  static const std::map<std::string, key_entry> table{
    {"listen", {set_listen,
     [](const config& c) -> json { return host_port(c.listen_host, c.listen_port); }}},
    {"data_dir", {set_data_dir,
     [](const config& c) -> json { return c.data_dir; }}},
    {"storage.durability", {set_durability,
     [](const config& c) -> json {
       return c.storage_durability == durability_setting::fsync ? "fsync" : "process";
     }}},
    U64_KEY("storage.min_free_bytes", storage_min_free_bytes, 0, 1ull << 50),
    U64_KEY("retention.max_events_per_topic", retention_max_events_per_topic, 1, 1u << 31),
    U64_KEY("retention.max_age_seconds", retention_max_age_seconds, 1, 10ull * 365 * 86400),
    U64_KEY("retention.check_interval_seconds", retention_check_interval_seconds, 1, 86400),
    U64_KEY("publish.idempotency_window_seconds", publish_idempotency_window_seconds, 1, 86400),
    U64_KEY("limits.max_connections", limits_max_connections, 1, 1000000),
    U64_KEY("limits.max_subscribers_per_topic", limits_max_subscribers_per_topic, 1, 1000000),
    U64_KEY("limits.max_topics_per_subscription", limits_max_topics_per_subscription, 1, 1024),
    U64_KEY("limits.max_body_bytes", limits_max_body_bytes, 1024, 64ull << 20),
    U64_KEY("limits.max_header_bytes", limits_max_header_bytes, 1024, 1 << 20),
    U64_KEY("limits.max_events_per_publish", limits_max_events_per_publish, 1, 100000),
    U64_KEY("limits.max_pipelined_requests", limits_max_pipelined_requests, 1, 4096),
    U64_KEY("limits.slow_consumer_bytes", limits_slow_consumer_bytes, 4096, 1ull << 30),
    U64_KEY("limits.socket_send_buffer_bytes", limits_socket_send_buffer_bytes, 0, 64ull << 20),
    U64_KEY("sse.heartbeat_seconds", sse_heartbeat_seconds, 1, 3600),
    U64_KEY("sse.retry_ms", sse_retry_ms, 0, 3600000),
    U64_KEY("sse.max_connection_age_seconds", sse_max_connection_age_seconds, 0,
            365ull * 86400),
    U64_KEY("websocket.ping_seconds", websocket_ping_seconds, 1, 3600),
    U64_KEY("websocket.max_message_bytes", websocket_max_message_bytes, 1024, 64ull << 20),
    U64_KEY("websocket.max_subscriptions", websocket_max_subscriptions, 1, 10000),
    BOOL_KEY("websocket.compression", websocket_compression),
    {"cors.allowed_origins", {[](config& c, const json& v) -> std::optional<std::string> {
       std::vector<std::string> out;
       if (auto err = set_strings(out, v, "origins (or [\"*\"])"))
         return err;
       for (auto& s : out) {
         if (s != "*" && s.find("://") == std::string::npos)
           return "origin '" + s + "' must look like scheme://host[:port] (or be \"*\")";
         if (s != "*" && s.back() == '/')
           return "origin '" + s + "' must not end with '/'";
       }
       c.cors_allowed_origins = std::move(out);
       return std::nullopt;
     },
     [](const config& c) -> json { return c.cors_allowed_origins; }}},
    BOOL_KEY("metrics.public", metrics_public),
    {"metrics.listen", {set_metrics_listen,
     [](const config& c) -> json {
       return c.metrics_listen_host.empty() ? std::string{}
                                            : host_port(c.metrics_listen_host, c.metrics_listen_port);
     }}},
    BOOL_KEY("dashboard.enabled", dashboard_enabled),
    U64_KEY("dashboard.interval_ms", dashboard_interval_ms, 100, 60000),
    BOOL_KEY("compression.responses", compression_responses),
    U64_KEY("compression.min_bytes", compression_min_bytes, 0, 64ull << 20),
    U64_KEY("compression.level", compression_level, 1, 9),
    BOOL_KEY("compression.streams", compression_streams),
    U64_KEY("compression.stream_level", compression_stream_level, 1, 9),
    BOOL_KEY("mercure.enabled", mercure_enabled),
    BOOL_KEY("mercure.anonymous", mercure_anonymous),
    BOOL_KEY("mercure.subscriptions", mercure_subscriptions),
    {"mercure.publish_origins", {[](config& c, const json& v) -> std::optional<std::string> {
       std::vector<std::string> out;
       if (auto err = set_strings(out, v, "origins (or [\"*\"])"))
         return err;
       for (auto& s : out)
         if (s != "*" && (s.find("://") == std::string::npos || s.back() == '/'))
           return "origin '" + s + "' must look like scheme://host[:port] (or be \"*\")";
       c.mercure_publish_origins = std::move(out);
       return std::nullopt;
     },
     [](const config& c) -> json { return c.mercure_publish_origins; }}},
    {"auth.keys", {set_auth_keys,
     get_auth_keys}},
    STRING_KEY("auth.jwks_file", auth_jwks_file),
    STRING_KEY("auth.issuer", auth_issuer),
    STRING_KEY("auth.audience", auth_audience),
    U64_KEY("auth.leeway_seconds", auth_leeway_seconds, 0, 3600),
    {"auth.cookie_name", {[](config& c, const json& v) -> std::optional<std::string> {
       if (!v.is_string() || v.get<std::string>().empty()
           || v.get<std::string>().find_first_of(" ;=,\t\"") != std::string::npos)
         return std::string{"must be a cookie name"};
       c.auth_cookie_name = v.get<std::string>();
       return std::nullopt;
     },
     [](const config& c) -> json { return c.auth_cookie_name; }}},
    BOOL_KEY("auth.query_token", auth_query_token),
    {"auth.anonymous", {set_anonymous,
     [](const config& c) -> json {
       if (!c.auth_anonymous_set)
         return nullptr;
       return json{{"publish", c.auth_anonymous_publish},
                   {"subscribe", c.auth_anonymous_subscribe}};
     }}},
    U64_KEY("limits.header_timeout_seconds", limits_header_timeout_seconds, 1, 3600),
    U64_KEY("limits.body_timeout_seconds", limits_body_timeout_seconds, 1, 3600),
    U64_KEY("limits.max_json_depth", limits_max_json_depth, 2, 1000),
    U64_KEY("rate.publish_requests_per_second", rate_publish_requests_per_second, 0, 10000000),
    U64_KEY("rate.publish_requests_burst", rate_publish_requests_burst, 0, 100000000),
    U64_KEY("rate.publish_events_per_second", rate_publish_events_per_second, 0, 100000000),
    U64_KEY("rate.publish_events_burst", rate_publish_events_burst, 0, 1000000000),
    U64_KEY("rate.connections_per_second_per_ip", rate_connections_per_second_per_ip, 0, 1000000),
    U64_KEY("rate.connections_burst", rate_connections_burst, 0, 10000000),
    U64_KEY("rate.max_streams_per_principal", rate_max_streams_per_principal, 0, 10000000),
    U64_KEY("rate.max_streams_per_ip", rate_max_streams_per_ip, 0, 10000000),
    STRING_KEY("tls.cert_file", tls_cert_file),
    STRING_KEY("tls.key_file", tls_key_file),
    U64_KEY("jobs.retention_seconds", jobs_retention_seconds, 1, 30ull * 86400),
    U64_KEY("jobs.stale_after_seconds", jobs_stale_after_seconds, 1, 365ull * 86400),
    U64_KEY("jobs.idle_seconds", jobs_idle_seconds, 1, 86400),
    U64_KEY("sessions.max_sessions", sessions_max_sessions, 1, 10000000),
    U64_KEY("sessions.checkpoint_interval_seconds", sessions_checkpoint_interval_seconds, 1, 3600),
    {"jobs.upstream_allowed_hosts", {[](config& c, const json& v) {
       return set_strings(c.jobs_upstream_allowed_hosts, v,
                          "host names or addresses (or [\"*\"])");
     },
     [](const config& c) -> json { return c.jobs_upstream_allowed_hosts; }}},
    {"cluster.nats.servers", {[](config& c, const json& v) -> std::optional<std::string> {
       // A list, or (as an environment variable) one comma-separated string.
       json list = v;
       if (v.is_string()) {
         list = json::array();
         auto text = v.get<std::string>();
         for (std::size_t from = 0; from <= text.size();) {
           auto comma = std::min(text.find(',', from), text.size());
           if (comma > from)
             list.push_back(text.substr(from, comma - from));
           from = comma + 1;
         }
       }
       std::vector<std::string> out;
       if (auto err = set_strings(out, list, "NATS URLs (nats://host:port)"))
         return err;
       for (auto& s : out)
         if (s.rfind("nats://", 0) != 0 && s.rfind("tls://", 0) != 0)
           return "'" + s + "' must be a nats:// (or tls://) URL";
       c.cluster_nats_servers = std::move(out);
       return std::nullopt;
     },
     [](const config& c) -> json { return c.cluster_nats_servers; }}},
    {"cluster.stream", {[](config& c, const json& v) -> std::optional<std::string> {
       // A stream name is one NATS subject token: no dots, wildcards, spaces or '/'.
       if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 32
           || v.get<std::string>().find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
                != std::string::npos)
         return std::string{"must be 1-32 letters, digits, '_' or '-'"};
       c.cluster_stream = v.get<std::string>();
       return std::nullopt;
     },
     [](const config& c) -> json { return c.cluster_stream; }}},
    U64_KEY("cluster.replicas", cluster_replicas, 1, 5),
    STRING_KEY("cluster.node_name", cluster_node_name),
    U64_KEY("cluster.publish_timeout_ms", cluster_publish_timeout_ms, 100, 600000),
    U64_KEY("cluster.ready_lag", cluster_ready_lag, 0, 1ull << 40),
    U64_KEY("shutdown.timeout_seconds", shutdown_timeout_seconds, 1, 3600),
    U64_KEY("shutdown.retry_jitter_ms", shutdown_retry_jitter_ms, 0, 600000),
    U64_KEY("threads.io", threads_io, 1, 64),
    U64_KEY("threads.streams", threads_streams, 0, 64),
    U64_KEY("threads.actors", threads_actors, 1, 64),
    BOOL_KEY("log.access", log_access),
    {"log.format", {[](config& c, const json& v) -> std::optional<std::string> {
       if (v != "text" && v != "json")
         return std::string{"must be \"text\" or \"json\""};
       c.log_format = v.get<std::string>();
       return std::nullopt;
     },
     [](const config& c) -> json { return c.log_format; }}},
    {"log.level", {[](config& c, const json& v) -> std::optional<std::string> {
       static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
       for (auto* l : levels)
         if (v == l) {
           c.log_level = l;
           return std::nullopt;
         }
       return std::string{"must be one of trace, debug, info, warn, error, off"};
     },
     [](const config& c) -> json { return c.log_level; }}},
  };
  return table;
}

void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto key = prefix.empty() ? it.key() : prefix + "." + it.key();
    // A section (an object that is not itself a key) is walked into.
    if (it->is_object() && keys().count(key) == 0)
      flatten(*it, key, out);
    else
      out[key] = *it;
  }
}

std::string env_name(const std::string& key) {
  std::string out = "HERALD_";
  for (char c : key)
    out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

} // namespace

std::optional<std::string> apply_listen(config& cfg, const std::string& value) {
  std::string why;
  auto addr = uri::parse_host_port(value, &why);
  if (!addr)
    return "listen address '" + value + "' " + why;
  cfg.listen_host = std::move(addr->host);
  cfg.listen_port = addr->port;
  return std::nullopt;
}

std::optional<std::string> apply_json(config& cfg, const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return std::string{"config is not valid JSON"};
  if (!doc.is_object())
    return std::string{"config must be a JSON object"};
  std::map<std::string, json> flat;
  flatten(doc, "", flat);
  for (auto& [key, value] : flat) {
    auto it = keys().find(key);
    if (it == keys().end())
      return "unknown config key '" + key + "'";
    if (auto err = it->second.set(cfg, value))
      return "config key '" + key + "': " + *err;
  }
  return std::nullopt;
}

std::optional<std::string> apply_env(config& cfg) {
  for (auto& [key, entry] : keys()) {
    auto name = env_name(key);
    const char* raw = std::getenv(name.c_str());
    if (raw == nullptr)
      continue;
    // Values are JSON where they parse as JSON (numbers, lists), plain strings otherwise.
    json v = json::parse(raw, nullptr, false);
    if (v.is_discarded() || (!v.is_number() && !v.is_array() && !v.is_object() && !v.is_boolean()))
      v = std::string{raw};
    if (auto err = entry.set(cfg, v))
      return "environment variable " + name + " (config key '" + key + "'): " + *err;
  }
  return std::nullopt;
}

namespace {

/// Levenshtein distance (names are short).
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    auto diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      auto up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

} // namespace

std::vector<std::string> unknown_env_keys(const std::vector<std::string>& names) {
  // HERALD_* names the hub reads that are not config keys.
  static const std::set<std::string> others{"HERALD_CONFIG", "HERALD_TOKEN"};
  std::set<std::string> known, sections;
  for (auto& [key, _] : keys()) {
    known.insert(env_name(key));
    auto dot = key.find('.');
    sections.insert(env_name(key.substr(0, dot)) + (dot == std::string::npos ? "" : "_"));
  }
  std::vector<std::string> out;
  for (auto& name : names) {
    if (name.rfind("HERALD_", 0) != 0 || known.count(name) != 0 || others.count(name) != 0)
      continue;
    // Another program's HERALD_* variable (a test harness's, say) is not ours to judge: only a
    // name in one of the config's sections, or close to a key, is taken for a misspelled key.
    std::string best;
    std::size_t best_d = 4;
    for (auto& k : known)
      if (auto d = edit_distance(name, k); d < best_d) {
        best_d = d;
        best = k;
      }
    bool in_section = std::any_of(sections.begin(), sections.end(), [&](const std::string& s) {
      return s.back() == '_' && name.rfind(s, 0) == 0;
    });
    if (best.empty() && !in_section)
      continue;
    out.push_back("environment variable " + name + " is not a config key"
                  + (best.empty() ? std::string{" (docs/operations.md lists them)"}
                                  : " (did you mean " + best + "?)"));
  }
  return out;
}

std::vector<std::string> unknown_env_keys() {
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry{*e};
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return unknown_env_keys(names);
}

std::optional<std::string> validate(const config& cfg) {
  if (cfg.listen_host.empty())
    return std::string{"listen: the host must not be empty"};
  if (cfg.data_dir.empty())
    return std::string{"data_dir must not be empty"};
  if (cfg.tls_cert_file.empty() != cfg.tls_key_file.empty())
    return std::string{"tls.cert_file and tls.key_file go together"};
  return std::nullopt;
}

std::string config::node_name() const {
  if (!cluster_node_name.empty())
    return cluster_node_name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0)
    return "herald";
  return host;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> names;
  for (auto& [k, _] : keys())
    names.push_back(k);
  return names;
}

std::string effective_json(const config& cfg) {
  json out = json::object();
  for (auto& [key, entry] : keys()) {
    // "a.b.c" goes to out["a"]["b"]["c"].
    json* at = &out;
    std::size_t from = 0;
    for (auto dot = key.find('.'); dot != std::string::npos; dot = key.find('.', from)) {
      at = &(*at)[key.substr(from, dot - from)];
      from = dot + 1;
    }
    (*at)[key.substr(from)] = entry.get(cfg);
  }
  return out.dump(2);
}

} // namespace herald
