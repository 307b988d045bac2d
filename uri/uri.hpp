#pragma once
// Request targets and URLs: the one place Herald parses them. Used by the server (request
// targets), the SDK and the upstream job poller (hub and status URLs) and the configuration
// (listen addresses). Depends on nothing but the standard library, so both the hub and the
// installed SDK compile it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::uri {

/// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in a query string).
/// Nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);

/// Escapes every byte but the unreserved ones (ALPHA DIGIT - . _ ~) as %XX: safe as one path
/// segment or one query value.
std::string percent_encode(std::string_view in);

/// An origin-form request target: the decoded path and the decoded query parameters in order.
struct request_target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;

  /// The value of the first parameter `name`, or null.
  const std::string* param(std::string_view name) const;
};

/// Decodes a query string or an application/x-www-form-urlencoded body ("a=1&b=x+y"): its
/// name/value pairs in order. Nullopt when an escape is malformed.
std::optional<std::vector<std::pair<std::string, std::string>>>
parse_query(std::string_view query);

/// Splits "path?query" and decodes both. Nullopt when an escape is malformed.
std::optional<request_target> parse_request_target(std::string_view target);

/// An absolute http or https URL.
struct url {
  std::string scheme;     // "http" or "https"
  std::string host;       // without brackets for IPv6
  std::uint16_t port = 0; // the scheme's default when the URL names none
  std::string target;     // path and query, "/" when empty

  bool secure() const { return scheme == "https"; }
  /// host:port as a Host header or a log wants it (IPv6 in brackets).
  std::string authority() const;
};

/// Parses "http[s]://host[:port][/target]". User info, fragments, an empty host, a bad port and
/// URLs over 2,048 bytes are refused; `error` (if given) says why.
std::optional<url> parse_url(std::string_view text, std::string* error = nullptr);

/// A listen address.
struct host_port {
  std::string host; // without brackets for IPv6
  std::uint16_t port = 0;
};

/// Parses "HOST:PORT" or "[V6]:PORT" (port 0 to 65535). `error` (if given) says why not.
std::optional<host_port> parse_host_port(std::string_view text, std::string* error = nullptr);

} // namespace herald::uri
