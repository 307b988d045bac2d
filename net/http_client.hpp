#pragma once
// A small asynchronous HTTP/1.1 GET client (Boost.Beast) for upstream job status URLs.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

namespace herald {

struct parsed_url {
  std::string host;
  std::string port;
  std::string target;
};

/// Parses "http://host[:port][/path]"; nullopt for anything else (https is not supported).
std::optional<parsed_url> parse_http_url(const std::string& url);

struct http_result {
  int status = 0;      // 0 when the request failed
  std::string body;
  std::string error;   // why it failed (connect, timeout, ...)
};

/// GETs `url`; `done` runs on an io thread. Bounded by `timeout` end to end.
void http_get(boost::asio::io_context& ioc, const parsed_url& url,
              std::chrono::milliseconds timeout, std::function<void(http_result)> done);

} // namespace herald
