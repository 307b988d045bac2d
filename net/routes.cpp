#include "net/routes.hpp"

#include "net/admin_api.hpp"
#include "net/auth.hpp"
#include "net/compression.hpp"
#include "net/cors.hpp"
#include "net/dashboard.hpp"
#include "net/http_api.hpp"
#include "net/mercure_api.hpp"
#include "net/metrics.hpp"
#include "net/rate_limits.hpp"
#include "net/session_api.hpp"

namespace herald {

std::unique_ptr<router> make_hub_router() {
  using v = http::verb;
  std::vector<route> table{
    {v::get, "/healthz", handle_health},
    {v::get, "/readyz", handle_ready},
    {v::get, "/v1/stats", handle_stats},
    {v::get, "/metrics", handle_metrics},
    {v::get, "/v1/client.js", handle_client_js},
    {v::get, "/dashboard", handle_dashboard, route_limits::none, route_pipelining::in_turn,
     route_auth::page},
    {v::get, "/dashboard/{asset}", handle_dashboard_asset},
    {v::get, "/v1/admin/stats/stream", dashboard_stream},
    {v::post, "/v1/admin/backup", handle_backup},
    {v::post, "/v1/publish", handle_publish, route_limits::publish,
     route_pipelining::overlapping},
    {v::get, "/v1/events", handle_events},
    {v::get, "/v1/subscribe", subscribe_stream},
    {v::get, "/v1/ws", websocket_stream},
    {v::get, "/v1/jobs/{id}", handle_job_get},
    {v::put, "/v1/jobs/{id}", handle_job_put},
    {v::get, "/v1/jobs/{id}/events", job_stream},
    {v::get, "/v1/sessions/{id}", handle_session_get},
    {v::put, "/v1/sessions/{id}", handle_session_put},
    {v::delete_, "/v1/sessions/{id}", handle_session_delete},
    {v::get, "/v1/sessions/{id}/events", session_stream_start},
    {v::post, "/v1/sessions/{id}/ack", handle_session_ack},
    {v::get, "/v1/sessions/{id}/dead-letters", handle_dead_letters},
    {v::post, "/v1/sessions/{id}/dead-letters/redrive", handle_redrive},
    {v::post, "/.well-known/mercure", mercure_publish, route_limits::publish,
     route_pipelining::overlapping, route_auth::mercure},
    {v::get, "/.well-known/mercure", mercure_subscribe, route_limits::none,
     route_pipelining::in_turn, route_auth::mercure},
    {v::get, "/.well-known/mercure/subscriptions", mercure_subscriptions_get, route_limits::none,
     route_pipelining::in_turn, route_auth::mercure},
    {v::get, "/.well-known/mercure/subscriptions/{topic}", mercure_subscriptions_get,
     route_limits::none, route_pipelining::in_turn, route_auth::mercure},
    {v::get, "/.well-known/mercure/subscriptions/{topic}/{subscriber}", mercure_subscriptions_get,
     route_limits::none, route_pipelining::in_turn, route_auth::mercure},
  };
  // Middleware runs `before` in this order and `after` in reverse. Every answer passes every
  // `after`, a middleware's own refusal (auth, rate limits) included, so refusals get CORS too.
  std::vector<std::shared_ptr<middleware>> chain{std::make_shared<metrics_middleware>(),
                                                 std::make_shared<cors_middleware>(),
                                                 std::make_shared<auth_middleware>(),
                                                 std::make_shared<rate_limit_middleware>(),
                                                 std::make_shared<content_decoding_middleware>()};
  return std::make_unique<router>(std::move(table), std::move(chain));
}

std::unique_ptr<router> make_metrics_router() {
  using v = http::verb;
  std::vector<route> table{
    {v::get, "/metrics", handle_metrics_scrape},
    {v::get, "/healthz", handle_health},
    {v::get, "/readyz", handle_ready},
  };
  return std::make_unique<router>(std::move(table), std::vector<std::shared_ptr<middleware>>{});
}

} // namespace herald
