#include "storage/event_id.hpp"

#include <charconv>
#include <cstdio>

namespace herald {

std::string format_event_id(std::uint32_t epoch, std::uint64_t pos) {
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%08x-%llu", epoch, static_cast<unsigned long long>(pos));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<event_id> parse_event_id(std::string_view text) {
  if (text.size() < 10 || text.size() > 28 || text[8] != '-')
    return std::nullopt;
  event_id id;
  for (std::size_t i = 0; i < 8; ++i) {
    char c = text[i];
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0)
      return std::nullopt;
    id.epoch = (id.epoch << 4) | static_cast<std::uint32_t>(v);
  }
  auto digits = text.substr(9);
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0'))
    return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id.pos);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt;
  if (id.pos > (std::uint64_t{1} << 62))
    return std::nullopt;
  return id;
}

} // namespace herald
