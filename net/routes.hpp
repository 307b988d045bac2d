#pragma once
// Herald's route table and middleware chain: every endpoint of the HTTP API in one place.

#include <memory>

#include "net/router.hpp"

namespace herald {

/// The hub's router: the v1 API, health endpoints and the middleware chain (CORS).
std::unique_ptr<router> make_hub_router();

/// The router of the metrics.listen address: /metrics (no token: the address is the access
/// control), /healthz and /readyz, and no middleware (scrapes are not the hub's traffic).
std::unique_ptr<router> make_metrics_router();

} // namespace herald
