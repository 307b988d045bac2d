#pragma once
// A small asynchronous HTTP/1.1 GET client (Boost.Beast) for upstream job status URLs.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "uri/uri.hpp"

namespace herald {

struct http_result {
  int status = 0;      // 0 when the request failed
  std::string body;
  std::string error;   // why it failed (connect, timeout, ...)
};

/// GETs `url`; `done` runs on an io thread. Bounded by `timeout` end to end.
/// `url` must be an http URL (https is not supported for upstream polls).
void http_get(boost::asio::io_context& ioc, const uri::url& url,
              std::chrono::milliseconds timeout, std::function<void(http_result)> done);

} // namespace herald
