#pragma once
// Key and value encodings shared by the stores (internal to storage/). Keys are big-endian so
// that RocksDB's byte order is numeric order.

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::keys {

inline void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

inline std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// BE(pos).
inline std::string pos_key(std::uint64_t pos) {
  std::string k;
  k.reserve(8);
  put_be64(k, pos);
  return k;
}

/// owner '\0' BE(pos): an owner's (a topic's, a session's) entries are contiguous and ordered.
inline std::string owned_key(std::string_view owner, std::uint64_t pos) {
  std::string k;
  k.reserve(owner.size() + 9);
  k.append(owner);
  k.push_back('\0');
  put_be64(k, pos);
  return k;
}

/// owner '\0': the prefix of every owned_key of `owner`.
inline std::string owner_prefix(std::string_view owner) {
  std::string k{owner};
  k.push_back('\0');
  return k;
}

/// Two big-endian numbers.
inline std::string pair_value(std::uint64_t a, std::uint64_t b) {
  std::string v;
  put_be64(v, a);
  put_be64(v, b);
  return v;
}

} // namespace herald::keys
