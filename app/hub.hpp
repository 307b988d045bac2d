#pragma once
// The running hub: opens storage, spawns the root actors, listens, and shuts down in order.

#include "config/config.hpp"

namespace herald {

/// Runs the hub until SIGINT/SIGTERM. Returns the process exit code.
int run_hub(const config& cfg);

} // namespace herald
