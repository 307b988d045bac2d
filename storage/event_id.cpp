#include "storage/event_id.hpp"

#include <charconv>

namespace herald {

std::string format_event_id(std::uint32_t epoch, std::uint64_t pos) {
  // "%08x-%llu", without printf's format parsing (this runs for every event published).
  static constexpr char hex[] = "0123456789abcdef";
  char buf[32];
  for (int i = 7; i >= 0; --i, epoch >>= 4)
    buf[i] = hex[epoch & 0xf];
  buf[8] = '-';
  auto [end, ec] = std::to_chars(buf + 9, buf + sizeof(buf), pos);
  return std::string(buf, static_cast<std::size_t>(end - buf));
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
