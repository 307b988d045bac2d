#define CAF_SUITE router
#include <caf/test/unit_test.hpp>

#include <caf/all.hpp>

#include "net/cors.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"
#include "net/router.hpp"
#include "net/routes.hpp"

using namespace herald;

namespace {

// What the handlers and middleware saw, in order.
std::vector<std::string> trace;

void unary_ok(hub_context&, route_request& r, respond_fn respond) {
  std::string seen = "unary";
  for (auto& p : r.path_params)
    seen += " " + p;
  trace.push_back(seen);
  respond(json_response(r.req, http::status::ok, "{}"));
}

std::variant<stream_start, http_response> stream_ok(hub_context&, route_request& r) {
  trace.push_back("stream " + r.path_param(0));
  return stream_start{"test", nullptr};
}

std::variant<stream_start, http_response> stream_refused(hub_context&, route_request& r) {
  trace.push_back("stream refused");
  return error_response(r.req, http::status::bad_request, "invalid_topic", "no");
}

/// Records its hooks under `name`; refuses requests with header `X-Refuse: <name>`.
class recorder : public middleware {
public:
  explicit recorder(std::string name) : name_(std::move(name)) {
    // nop
  }

  std::optional<http_response> before(hub_context&, route_request& r) override {
    trace.push_back("before " + name_);
    if (r.req["X-Refuse"] == name_)
      return error_response(r.req, http::status::too_many_requests, "refused", name_);
    return std::nullopt;
  }

  void after(hub_context&, const http_request&, http_head& res) override {
    trace.push_back("after " + name_);
    res.insert("X-Trace", name_);
  }

private:
  std::string name_;
};

struct fixture {
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  config cfg;
  hub_context hub{cfg, sys};
  router r{{{http::verb::get, "/a/{x}/b/{y}", unary_ok},
            {http::verb::put, "/a/{x}/b/{y}", unary_ok},
            {http::verb::get, "/s/{id}", stream_ok},
            {http::verb::get, "/refused", stream_refused},
            {http::verb::get, "/a/literal/b/c", unary_ok}},
           {std::make_shared<recorder>("one"), std::make_shared<recorder>("two")}};
  std::vector<http_response> answers;
  std::vector<stream_order> streams;
  connection_context conn{"127.0.0.1"};

  fixture() {
    trace.clear();
  }

  void call(http::verb method, std::string target, std::string refuse = {}) {
    http_request req{method, target, 11};
    if (!refuse.empty())
      req.set("X-Refuse", refuse);
    r.handle(hub, std::move(req), conn, [this](http_response res) { answers.push_back(res); },
             [this](stream_order o) { streams.push_back(std::move(o)); });
  }

  std::string traced() {
    std::string out;
    for (auto& t : trace)
      out += (out.empty() ? "" : " | ") + t;
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(router_tests, fixture)

CAF_TEST(patterns match whole segments and collect parameters) {
  std::vector<std::string> params;
  CAF_CHECK(match_pattern("/v1/jobs/{id}", "/v1/jobs/j-1", params));
  CAF_REQUIRE_EQUAL(params.size(), 1u);
  CAF_CHECK_EQUAL(params[0], "j-1");
  CAF_CHECK(match_pattern("/v1/jobs/{id}/events", "/v1/jobs/j 2/events", params));
  CAF_CHECK_EQUAL(params[0], "j 2");
  CAF_CHECK(!match_pattern("/v1/jobs/{id}", "/v1/jobs/", params));
  CAF_CHECK(!match_pattern("/v1/jobs/{id}", "/v1/jobs/a/b", params));
  CAF_CHECK(!match_pattern("/v1/jobs/{id}", "/v1/jobs", params));
  CAF_CHECK(!match_pattern("/v1/jobs/{id}/events", "/v1/jobs//events", params));
  CAF_CHECK(!match_pattern("/healthz", "/healthz/", params));
  CAF_CHECK(!match_pattern("/healthz", "healthz", params));
  CAF_CHECK(match_pattern("/healthz", "/healthz", params));
  CAF_CHECK(params.empty());
}

CAF_TEST(middleware wraps every route with before in order and after in reverse) {
  call(http::verb::get, "/a/1/b/2?q=1");
  CAF_CHECK_EQUAL(traced(), "before one | before two | unary 1 2 | after two | after one");
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_EQUAL(answers[0].result(), http::status::ok);
  // Both middlewares stamped the answer, the outer one last.
  std::vector<std::string> stamps;
  for (auto& f : answers[0])
    if (f.name_string() == "X-Trace")
      stamps.emplace_back(f.value());
  CAF_CHECK_EQUAL(stamps, (std::vector<std::string>{"two", "one"}));
}

CAF_TEST(a middleware refusal skips the rest and the handler but still gets every after) {
  call(http::verb::get, "/a/1/b/2", "one");
  CAF_CHECK_EQUAL(traced(), "before one | after two | after one");
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_EQUAL(answers[0].result(), http::status::too_many_requests);
  CAF_CHECK_EQUAL(answers[0][http::field::retry_after], "5");
}

CAF_TEST(streams are handed to the session with a finisher for their head) {
  call(http::verb::get, "/s/abc");
  CAF_CHECK_EQUAL(traced(), "before one | before two | stream abc");
  CAF_CHECK(answers.empty());
  CAF_REQUIRE_EQUAL(streams.size(), 1u);
  CAF_CHECK_EQUAL(streams[0].start.what, "test");
  http::response<http::empty_body> head{http::status::ok, 11};
  streams[0].finish(head);
  CAF_CHECK_EQUAL(traced(), "before one | before two | stream abc | after two | after one");
  CAF_CHECK_EQUAL(head.count("X-Trace"), 2u);
  // A stream handler's refusal is an ordinary answer.
  call(http::verb::get, "/refused");
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_EQUAL(answers[0].result(), http::status::bad_request);
  CAF_CHECK_EQUAL(answers[0].count("X-Trace"), 2u);
}

CAF_TEST(unknown paths wrong methods options and bad targets are answered by the table) {
  call(http::verb::get, "/nothing");
  call(http::verb::delete_, "/a/1/b/2");
  call(http::verb::options, "/a/1/b/2");
  call(http::verb::get, "/a/%zz/b/2");
  call(http::verb::unknown, "/a/1/b/2");
  CAF_REQUIRE_EQUAL(answers.size(), 5u);
  CAF_CHECK_EQUAL(answers[0].result(), http::status::not_found);
  CAF_CHECK_EQUAL(answers[1].result(), http::status::method_not_allowed);
  CAF_CHECK_EQUAL(answers[1][http::field::allow], "GET, PUT, OPTIONS");
  CAF_CHECK(answers[1].body().find("use GET, PUT for /a/1/b/2") != std::string::npos);
  CAF_CHECK_EQUAL(answers[2].result(), http::status::no_content);
  CAF_CHECK_EQUAL(answers[2][http::field::allow], "GET, PUT, OPTIONS");
  CAF_CHECK_EQUAL(answers[3].result(), http::status::bad_request);
  CAF_CHECK(answers[3].body().find("invalid_target") != std::string::npos);
  CAF_CHECK_EQUAL(answers[4].result(), http::status::method_not_allowed);
  // None reached a handler or a middleware's `before`; every one passed every `after`.
  for (auto& a : answers)
    CAF_CHECK_EQUAL(a.count("X-Trace"), 2u);
  CAF_CHECK(traced().find("before") == std::string::npos);
  CAF_CHECK(traced().find("unary") == std::string::npos);
}

CAF_TEST(a literal route and a pattern route match the same path by method) {
  std::vector<std::string> params;
  auto* found = r.match(http::verb::get, "/a/literal/b/c", params);
  CAF_REQUIRE(found != nullptr);
  CAF_CHECK_EQUAL(found->pattern, "/a/{x}/b/{y}"); // the first row wins
  CAF_CHECK_EQUAL(params, (std::vector<std::string>{"literal", "c"}));
}

CAF_TEST(cors answers allowed origins only and completes preflights) {
  cfg.cors_allowed_origins = {"http://app.example"};
  // The origins are a reloadable setting: the hub reads them from its live settings, which a
  // SIGHUP replaces as this does.
  std::atomic_store(&hub.live, std::make_shared<const live_settings>(live_settings::of(cfg)));
  router cors_router{{{http::verb::post, "/p", unary_ok}}, {std::make_shared<cors_middleware>()}};
  auto ask = [&](http::verb m, const char* origin) {
    http_request req{m, "/p", 11};
    req.set(http::field::origin, origin);
    http_response out;
    connection_context conn{"127.0.0.1"};
    cors_router.handle(hub, std::move(req), conn, [&](http_response res) { out = std::move(res); },
                       [](stream_order) {});
    return out;
  };
  auto ok = ask(http::verb::post, "http://app.example");
  CAF_CHECK_EQUAL(ok[http::field::access_control_allow_origin], "http://app.example");
  CAF_CHECK_EQUAL(ok[http::field::vary], "Origin");
  auto pre = ask(http::verb::options, "http://app.example");
  CAF_CHECK_EQUAL(pre.result(), http::status::no_content);
  CAF_CHECK_EQUAL(pre[http::field::access_control_allow_methods], "POST, OPTIONS");
  CAF_CHECK(pre[http::field::access_control_allow_headers].find("Last-Event-ID")
            != boost::beast::string_view::npos);
  auto other = ask(http::verb::post, "http://evil.example");
  CAF_CHECK_EQUAL(other.count(http::field::access_control_allow_origin), 0u);
  auto other_pre = ask(http::verb::options, "http://evil.example");
  CAF_CHECK_EQUAL(other_pre.count(http::field::access_control_allow_methods), 0u);
}

CAF_TEST(the hub table routes every v1 endpoint) {
  auto hub_router = make_hub_router();
  std::vector<std::string> params;
  struct row {
    http::verb method;
    const char* path;
  };
  for (auto [m, path] : {row{http::verb::post, "/v1/publish"}, row{http::verb::get, "/v1/events"},
                         row{http::verb::get, "/v1/subscribe"}, row{http::verb::get, "/v1/stats"},
                         row{http::verb::get, "/healthz"}, row{http::verb::get, "/readyz"},
                         row{http::verb::put, "/v1/jobs/j"}, row{http::verb::get, "/v1/jobs/j"},
                         row{http::verb::get, "/v1/jobs/j/events"},
                         row{http::verb::put, "/v1/sessions/s"},
                         row{http::verb::get, "/v1/sessions/s"},
                         row{http::verb::delete_, "/v1/sessions/s"},
                         row{http::verb::get, "/v1/sessions/s/events"},
                         row{http::verb::post, "/v1/sessions/s/ack"},
                         row{http::verb::get, "/v1/sessions/s/dead-letters"},
                         row{http::verb::post, "/v1/sessions/s/dead-letters/redrive"}})
    CAF_CHECK_NOT_EQUAL(hub_router->match(m, path, params), nullptr);
  CAF_CHECK_EQUAL(hub_router->match(http::verb::post, "/v1/jobs/j", params), nullptr);
}

CAF_TEST_FIXTURE_SCOPE_END()
