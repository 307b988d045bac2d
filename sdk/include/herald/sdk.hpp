#pragma once
// Herald C++ SDK, everything: #include <herald/sdk.hpp> and link herald::sdk.
//   publisher        plain C++ publishing (batching, retries, exactly-once keys)
//   subscriber       resilient SSE client (resume, heartbeat-loss detection, sessions)
//   job_client       job progress for workers
//   actor_publisher  the publisher as a CAF actor with bounded in-flight work

#include "herald/actor_publisher.hpp"
#include "herald/client.hpp"
#include "herald/jobs.hpp"
#include "herald/publisher.hpp"
#include "herald/subscriber.hpp"
