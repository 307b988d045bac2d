#pragma once
// The live dashboard: GET /dashboard (an admin's page, its script and style compiled into the
// hub from clients/dashboard/), fed by GET /v1/admin/stats/stream, an SSE stream of
// `herald.stats` snapshots that the dashboard feed (actors/dashboard_feed.hpp) pushes every
// dashboard.interval_ms while someone watches.
//
// A snapshot is the hub's counters and gauges with rates and latency percentiles over the last
// interval, the busiest topics of the interval, the sessions with the most pending events, the
// live jobs, rejections by reason and the latest ones, storage and process figures (docs/api.md).

#include <optional>
#include <variant>

#include "actors/dashboard_feed.hpp"
#include "net/metrics.hpp"
#include "net/router.hpp"

namespace herald {

/// GET /dashboard: the page (admin). A browser (Accept: text/html) without an admin token is sent
/// to the sign-in page (303 /dashboard/signin?reason=<code>), which keeps the token as the hub's
/// auth cookie.
void handle_dashboard(hub_context& hub, route_request& r, respond_fn respond);

/// GET /dashboard/{asset}: its script and style, and the sign-in page (`signin`) and its script
/// (anyone: they hold no data).
void handle_dashboard_asset(hub_context& hub, route_request& r, respond_fn respond);

/// GET /v1/admin/stats/stream: the snapshots (admin).
std::variant<stream_start, http_response> dashboard_stream(hub_context& hub, route_request& r);

/// What the dashboard feed renders: one snapshot of `hub` per call (rates since the previous
/// call), finished on the log reader's thread, which reads the storage figures.
snapshot_source make_dashboard_source(hub_context& hub);

/// The `q` quantile (0..1) of the observations between two readings of one histogram, in
/// seconds, interpolated within its bucket (the +Inf bucket gives the last finite bound).
/// Nullopt when nothing was observed in between.
std::optional<double> quantile_between(const bucket_counts& before, const bucket_counts& now,
                                       double q);

} // namespace herald
