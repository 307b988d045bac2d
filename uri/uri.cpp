#include "uri/uri.hpp"

#include <algorithm>
#include <charconv>

namespace herald::uri {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Says why a parse failed (when the caller asked) and yields the empty result.
std::nullopt_t refuse(std::string* error, std::string why) {
  if (error != nullptr)
    *error = std::move(why);
  return std::nullopt;
}

/// A decimal port of 1 to 5 digits, at most 65535.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text.size() > 5 || ec != std::errc{} || end != text.data() + text.size()
      || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

/// Splits "host[:port]" or "[v6][:port]" into the host and the port text (empty if none).
bool split_authority(std::string_view authority, std::string& host, std::string_view& port) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return false;
    host = std::string{authority.substr(1, close - 1)};
    auto rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return false;
    port = rest.empty() ? rest : rest.substr(1);
    return !rest.empty() ? !port.empty() : true;
  }
  auto colon = authority.rfind(':');
  host = std::string{authority.substr(0, colon)};
  if (colon == std::string_view::npos) {
    port = {};
    return true;
  }
  port = authority.substr(colon + 1);
  return !port.empty() && host.find(':') == std::string::npos;
}

} // namespace

std::string percent_encode(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                      || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size())
        return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

const std::string* request_target::param(std::string_view name) const {
  for (auto& [k, v] : params)
    if (k == name)
      return &v;
  return nullptr;
}

std::optional<request_target> parse_request_target(std::string_view target) {
  request_target out;
  auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path)
    return std::nullopt;
  out.path = std::move(*path);
  if (q == std::string_view::npos)
    return out;
  auto params = parse_query(target.substr(q + 1));
  if (!params)
    return std::nullopt;
  out.params = std::move(*params);
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>>
parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto k = percent_decode(part.substr(0, eq), true);
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{}
                                                         : part.substr(eq + 1),
                            true);
    if (!k || !v)
      return std::nullopt;
    out.emplace_back(std::move(*k), std::move(*v));
  }
  return out;
}

std::string url::authority() const {
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::optional<url> parse_url(std::string_view text, std::string* error) {
  if (text.size() > 2048)
    return refuse(error, "the URL is longer than 2048 bytes");
  url out;
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return refuse(error, "the URL must start with http:// or https://");
  out.scheme = std::string{text.substr(0, sep)};
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.scheme != "http" && out.scheme != "https")
    return refuse(error, "the URL must start with http:// or https://");
  auto rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos)
    return refuse(error, "the URL must not have a fragment");
  auto slash = std::min(rest.find('/'), rest.find('?'));
  auto authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string{rest.substr(slash)};
  if (out.target.front() == '?')
    out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos)
    return refuse(error, "the URL must not carry user information");
  std::string_view port_text;
  if (!split_authority(authority, out.host, port_text) || out.host.empty())
    return refuse(error, "the URL needs a host (IPv6 in brackets) and an optional :port");
  if (port_text.empty()) {
    out.port = out.secure() ? 443 : 80;
  } else if (auto p = parse_port(port_text); p && *p > 0) {
    out.port = *p;
  } else {
    return refuse(error, "the URL's port must be a number from 1 to 65535");
  }
  return out;
}

std::optional<host_port> parse_host_port(std::string_view text, std::string* error) {
  host_port out;
  std::string_view port_text;
  if (!split_authority(text, out.host, port_text) || out.host.empty() || port_text.empty())
    return refuse(error, "must be HOST:PORT");
  auto p = parse_port(port_text);
  if (!p)
    return refuse(error, "port '" + std::string{port_text}
                              + "' must be a number from 0 to 65535");
  out.port = *p;
  return out;
}

} // namespace herald::uri
