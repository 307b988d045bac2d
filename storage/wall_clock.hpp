#pragma once
// Wall-clock time as the hub stores and shows it.

#include <cstdint>
#include <string>

namespace herald {

/// Milliseconds since the Unix epoch.
std::int64_t wall_ms();

/// `ms` (since the Unix epoch) as ISO 8601 UTC with milliseconds, e.g. 2026-11-22T07:24:47.987Z.
std::string iso_time(std::int64_t ms);

} // namespace herald
