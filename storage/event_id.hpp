#pragma once
// Event ids: "<epoch>-<position>", e.g. "5f3c2a19-42".
//
// The position is the event's place in this hub's log (strictly increasing from 1). The epoch
// is a random 32-bit value chosen when a data directory is created: an id from another log
// (a replaced data dir, another hub) cannot be mistaken for a position in this one.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

struct event_id {
  std::uint32_t epoch = 0;
  std::uint64_t pos = 0;
};

std::string format_event_id(std::uint32_t epoch, std::uint64_t pos);

/// Parses an id; nullopt when malformed.
std::optional<event_id> parse_event_id(std::string_view text);

} // namespace herald
