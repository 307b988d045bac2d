#define CAF_SUITE config
#include <caf/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

using namespace herald;

CAF_TEST(the documented default file equals the built-in defaults) {
  std::ifstream in{HERALD_SOURCE_DIR "/config/herald.json"};
  CAF_REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  config from_file;
  from_file.sse_heartbeat_seconds = 1; // must be overwritten by the file
  auto err = apply_json(from_file, text.str());
  if (err)
    CAF_FAIL(*err);
  config defaults;
  CAF_CHECK_EQUAL(from_file.sse_heartbeat_seconds, defaults.sse_heartbeat_seconds);
  CAF_CHECK_EQUAL(from_file.listen_port, defaults.listen_port);
  CAF_CHECK_EQUAL(from_file.limits_slow_consumer_bytes, defaults.limits_slow_consumer_bytes);
  CAF_CHECK_EQUAL(from_file.retention_max_events_per_topic,
                  defaults.retention_max_events_per_topic);
  // Every key the loader knows is in the file, so the file documents them all.
  auto doc = nlohmann::json::parse(text.str());
  for (auto& key : config_keys()) {
    auto ptr = "/" + key;
    for (auto& c : ptr)
      if (c == '.')
        c = '/';
    if (!doc.contains(nlohmann::json::json_pointer{ptr}))
      CAF_ERROR("config/herald.json lacks key " << key);
    CAF_CHECK(doc.contains(nlohmann::json::json_pointer{ptr}));
  }
}

CAF_TEST(the effective configuration of the defaults is the documented default file) {
  std::ifstream in{HERALD_SOURCE_DIR "/config/herald.json"};
  CAF_REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  auto documented = nlohmann::json::parse(text.str());
  auto effective = nlohmann::json::parse(effective_json(config{}));
  // Every value, not only every key: the file documents what the hub really does by default.
  auto doc_flat = documented.flatten();
  auto eff_flat = effective.flatten();
  for (auto& item : doc_flat.items())
    if (eff_flat.value(item.key(), nlohmann::json{"<missing>"}) != item.value())
      CAF_ERROR("default of " << item.key() << ": file " << item.value().dump() << ", hub "
                              << eff_flat.value(item.key(), nlohmann::json{}).dump());
  CAF_CHECK_EQUAL(effective, documented);
}

CAF_TEST(the effective configuration reads back what was applied and hides secrets) {
  config c;
  auto err = apply_json(c, R"({"listen":"[::1]:9000","auth":{"keys":[
    {"kid":"a","alg":"HS256","secret":"super-secret-value-0123456789abcdef"},
    {"alg":"RS256","public_key_file":"/etc/herald/rs.pem"}]},
    "sse":{"heartbeat_seconds":7},"metrics":{"listen":"127.0.0.1:9464"},
    "storage":{"durability":"fsync"}})");
  CAF_REQUIRE(!err);
  auto text = effective_json(c);
  CAF_CHECK_EQUAL(text.find("super-secret"), std::string::npos);
  auto doc = nlohmann::json::parse(text);
  CAF_CHECK_EQUAL(doc["listen"], "[::1]:9000");
  CAF_CHECK_EQUAL(doc["sse"]["heartbeat_seconds"], 7);
  CAF_CHECK_EQUAL(doc["metrics"]["listen"], "127.0.0.1:9464");
  CAF_CHECK_EQUAL(doc["storage"]["durability"], "fsync");
  CAF_CHECK_EQUAL(doc["auth"]["keys"][0]["secret"], "<redacted>");
  CAF_CHECK_EQUAL(doc["auth"]["keys"][1]["public_key_file"], "/etc/herald/rs.pem");
  // What it prints is a config file that loads to the same configuration (secrets aside).
  config again;
  auto redacted = doc;
  redacted["auth"]["keys"][0]["secret"] = "super-secret-value-0123456789abcdef";
  CAF_REQUIRE(!apply_json(again, redacted.dump()));
  CAF_CHECK_EQUAL(nlohmann::json::parse(effective_json(again)), doc);
}

CAF_TEST(misspelled environment keys are named with the closest key and others left be) {
  auto w = unknown_env_keys({"HERALD_SSE_HEARTBEAT_SECOND", "HERALD_BIN", "HERALD_EXAMPLES",
                         "HERALD_TOKEN", "HERALD_CONFIG", "HERALD_LIMITS_EVERYTHING",
                         "HERALD_SSE_RETRY_MS", "PATH", "HERALD_TEST_SEED"});
  CAF_REQUIRE_EQUAL(w.size(), 2u);
  CAF_CHECK_NOT_EQUAL(w[0].find("HERALD_SSE_HEARTBEAT_SECOND is not a config key (did you mean "
                                "HERALD_SSE_HEARTBEAT_SECONDS?)"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(w[1].find("HERALD_LIMITS_EVERYTHING is not a config key"),
                      std::string::npos);
}

CAF_TEST(unknown keys and bad values fail with the key named) {
  config c;
  auto err = apply_json(c, R"({"sse":{"heartbeat_secs":3}})");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("sse.heartbeat_secs") != std::string::npos);
  err = apply_json(c, R"({"limits":{"max_connections":-1}})");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("limits.max_connections") != std::string::npos);
  err = apply_json(c, R"({"storage":{"durability":"sometimes"}})");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("storage.durability") != std::string::npos);
  err = apply_json(c, R"({"cors":{"allowed_origins":"*"}})");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("cors.allowed_origins") != std::string::npos);
  CAF_CHECK(apply_json(c, "[1]"));
  CAF_CHECK(apply_json(c, "{"));
  CAF_CHECK_EQUAL(c.limits_max_connections, config{}.limits_max_connections); // unchanged
}

CAF_TEST(listen addresses parse) {
  config c;
  CAF_CHECK(!apply_listen(c, "0.0.0.0:9000"));
  CAF_CHECK_EQUAL(c.listen_host, "0.0.0.0");
  CAF_CHECK_EQUAL(c.listen_port, 9000);
  CAF_CHECK(!apply_listen(c, "[::1]:80"));
  CAF_CHECK_EQUAL(c.listen_host, "::1");
  CAF_CHECK(apply_listen(c, "localhost"));
  CAF_CHECK(apply_listen(c, "localhost:99999"));
  CAF_CHECK(apply_listen(c, ":80"));
}

CAF_TEST(environment variables override) {
  setenv("HERALD_SSE_HEARTBEAT_SECONDS", "7", 1);
  setenv("HERALD_CORS_ALLOWED_ORIGINS", R"(["http://app.example"])", 1);
  config c;
  auto err = apply_env(c);
  unsetenv("HERALD_SSE_HEARTBEAT_SECONDS");
  unsetenv("HERALD_CORS_ALLOWED_ORIGINS");
  CAF_REQUIRE(!err);
  CAF_CHECK_EQUAL(c.sse_heartbeat_seconds, 7u);
  CAF_REQUIRE_EQUAL(c.cors_allowed_origins.size(), 1u);
  setenv("HERALD_STORAGE_DURABILITY", "never", 1);
  err = apply_env(c);
  unsetenv("HERALD_STORAGE_DURABILITY");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("HERALD_STORAGE_DURABILITY") != std::string::npos);
}

CAF_TEST(cluster settings from a file and from the environment) {
  config c;
  CAF_CHECK(!c.clustered());
  CAF_REQUIRE(!apply_json(c, R"({"cluster": {"nats": {"servers": ["nats://a:4222"]},
                                             "stream": "EVENTS", "replicas": 1}})"));
  CAF_CHECK(c.clustered());
  CAF_CHECK_EQUAL(c.cluster_stream, "EVENTS");
  CAF_CHECK_EQUAL(c.cluster_replicas, 1u);
  setenv("HERALD_CLUSTER_NATS_SERVERS", "nats://a:4222,nats://b:4222", 1);
  auto err = apply_env(c);
  unsetenv("HERALD_CLUSTER_NATS_SERVERS");
  CAF_REQUIRE(!err);
  CAF_CHECK_EQUAL(c.cluster_nats_servers,
                  (std::vector<std::string>{"nats://a:4222", "nats://b:4222"}));
  // A stream name is one subject token; servers are NATS URLs.
  CAF_CHECK(apply_json(c, R"({"cluster": {"stream": "a.b"}})"));
  CAF_CHECK(apply_json(c, R"({"cluster": {"stream": "*"}})"));
  auto bad = apply_json(c, R"({"cluster": {"nats": {"servers": ["http://a"]}}})");
  CAF_REQUIRE(bad);
  CAF_CHECK(bad->find("cluster.nats.servers") != std::string::npos);
  CAF_CHECK(apply_json(c, R"({"cluster": {"replicas": 0}})"));
  CAF_CHECK_EQUAL(c.cluster_stream, "EVENTS"); // refused values change nothing
  c.cluster_node_name = "hub-a";
  CAF_CHECK_EQUAL(c.node_name(), "hub-a");
  c.cluster_node_name.clear();
  CAF_CHECK(!c.node_name().empty()); // the host name
}

#include "app/json_log.hpp"

CAF_TEST(log lines become json members) {
  CAF_CHECK_EQUAL(herald::logfmt_members("event=stream_closed conn=ab12 duration_ms=12 "
                                         "error=\"a \\\"quoted\\\" value\" n=-3 id=007 x=1.5"),
                  R"("event":"stream_closed","conn":"ab12","duration_ms":12,)"
                  R"("error":"a \"quoted\" value","n":-3,"id":"007","x":"1.5")");
  CAF_CHECK_EQUAL(herald::logfmt_members("event=x free words here k=v"),
                  R"("event":"x","k":"v","message":"free words here")");
  CAF_CHECK_EQUAL(herald::logfmt_members("what=\"line\nbreak\""), R"("what":"line\nbreak")");
  CAF_CHECK_EQUAL(herald::logfmt_members(""), "");
}
