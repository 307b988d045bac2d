#pragma once
// Small helpers for reading HTTP header values (shared by the handlers and the middleware).

#include <algorithm>
#include <cctype>
#include <string_view>

namespace herald {

/// Case-insensitive ASCII comparison (header names, auth schemes, media types).
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

/// `s` without leading and trailing spaces and tabs (optional whitespace, RFC 9110 5.6.3).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace herald
