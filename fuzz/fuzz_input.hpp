#pragma once
// Helpers shared by the fuzz targets: the input as text, split into fields.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace herald::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// The input cut at each `sep` into at most `n` fields (the last takes the rest).
inline std::vector<std::string_view> fields(std::string_view in, std::size_t n, char sep = '\n') {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    auto cut = in.find(sep);
    if (cut == std::string_view::npos)
      break;
    out.push_back(in.substr(0, cut));
    in.remove_prefix(cut + 1);
  }
  out.push_back(in);
  out.resize(n);
  return out;
}

} // namespace herald::fuzz
