// Whole HTTP requests, as a client's bytes, through the request pipeline of a real hub in this
// process: Beast's parser with the limits http_session sets, then the hub's router (route table,
// auth, rate limits, CORS, compression, metrics) and the handlers, actors and RocksDB behind
// them. No socket is involved (the hub listens on a loopback port nobody connects to). One input
// may hold several pipelined requests; each must be answered within 10 s (a request the hub
// never answers is a bug: the target aborts). A stream the router accepts is not started.
//
// The hub has an HS256 key (kid "hs", the secret below) so that tokens are verified, and lets
// requests without one publish and subscribe everywhere, so that fuzzed requests reach the
// handlers. Seeds hold tokens signed with the key.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include <boost/beast/http.hpp>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/hub_error.hpp"
#include "app/hub.hpp"
#include "config/config.hpp"
#include "fuzz/fuzz_input.hpp"
#include "net/hub_context.hpp"
#include "net/router.hpp"

namespace {

namespace http = boost::beast::http;

std::string data_dir;

struct hub_under_test {
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  herald::config cfg;
  std::unique_ptr<herald::hub_runtime> runtime;
  std::thread io;

  hub_under_test() {
    spdlog::set_level(spdlog::level::off);
    herald::add_hub_error_category(sys_cfg);
    sys_cfg.set("scheduler.max-threads", std::size_t{2});
    sys = std::make_unique<caf::actor_system>(sys_cfg);
    std::string dir = "/tmp/herald-fuzz-hub-XXXXXX";
    if (!mkdtemp(dir.data()))
      std::abort();
    data_dir = dir;
    std::atexit([] { std::filesystem::remove_all(data_dir); });
    auto settings = R"({
      "listen": "127.0.0.1:0",
      "data_dir": ")" + dir + R"(",
      "log": {"level": "off"},
      "auth": {
        "keys": [{"kid": "hs", "alg": "HS256",
                  "secret": "herald-fuzz-secret-of-at-least-32-bytes"}],
        "anonymous": {"publish": ["**"], "subscribe": ["**"]}
      },
      "mercure": {"anonymous": true, "subscriptions": true},
      "jobs": {"upstream_allowed_hosts": []},
      "sessions": {"max_sessions": 1000}
    })";
    if (auto err = herald::apply_json(cfg, settings)) {
      std::fprintf(stderr, "fuzz_http_request: %s\n", err->c_str());
      std::abort();
    }
    runtime = std::make_unique<herald::hub_runtime>(cfg, *sys);
    if (auto err = runtime->start()) {
      std::fprintf(stderr, "fuzz_http_request: the hub did not start: %s\n", err->c_str());
      std::abort();
    }
    io = std::thread([this] { runtime->run_io(); });
  }
};

/// The hub, started once and left running until the process exits (libFuzzer exits without
/// returning).
hub_under_test& hub() {
  static auto* h = new hub_under_test();
  return *h;
}

/// Every error answer is a JSON object {"error": {"code", "message"}} (docs/api.md), except
/// a HEAD's (no body).
void check_answer(bool head, const herald::http_response& res) {
  if (res.result_int() < 400 || head)
    return;
  auto doc = nlohmann::json::parse(res.body(), nullptr, false);
  bool ok = doc.is_object() && doc.contains("error") && doc["error"].is_object()
            && doc["error"].contains("code") && doc["error"]["code"].is_string()
            && !doc["error"]["code"].get<std::string>().empty()
            && doc["error"].contains("message") && doc["error"]["message"].is_string();
  if (!ok) {
    std::fprintf(stderr, "fuzz_http_request: a %u answer without a JSON error: %s\n",
                 res.result_int(), res.body().substr(0, 200).c_str());
    __builtin_trap();
  }
}

/// Routes one parsed request and waits for its answer (or the stream the router accepted).
void handle(herald::hub_context& ctx, herald::connection_context& conn, herald::http_request req) {
  auto answered = std::make_shared<std::promise<void>>();
  auto done = answered->get_future();
  bool stream = false;
  bool head = req.method() == http::verb::head;
  ctx.routes->handle(
    ctx, std::move(req), conn,
    [answered, head](herald::http_response res) {
      check_answer(head, res);
      answered->set_value();
    },
    [&stream](herald::stream_order) { stream = true; });
  if (stream)
    return;
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "fuzz_http_request: a request was not answered within 10 s\n");
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& h = hub();
  auto& ctx = h.runtime->context();
  herald::connection_context conn{"127.0.0.1"};
  auto in = herald::fuzz::text(data, size);
  // Requests read one after the other off the same connection, as http_session reads them.
  for (int n = 0; n < 8 && !in.empty(); ++n) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(h.cfg.limits_max_header_bytes));
    parser.body_limit(h.cfg.limits_max_body_bytes);
    parser.eager(true);
    while (!parser.is_done()) {
      boost::beast::error_code ec;
      auto used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
      in.remove_prefix(used);
      // need_more: the parser took what it could of these bytes. Beast's read loop calls put
      // again only with more bytes read (http/impl/read.hpp); calling it again with the same
      // ones breaks its contract (an assertion in parse_chunk_header, found by this target).
      if (ec == http::error::need_more || (!ec && used == 0))
        return 0; // the client sent no more: the header or body timeout closes the connection
      if (ec)
        return 0; // http_session answers 400, 413 or 431 itself and closes the connection
    }
    handle(ctx, conn, parser.release());
  }
  return 0;
}
