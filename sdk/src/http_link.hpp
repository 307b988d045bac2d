#pragma once
// One keep-alive HTTP/1.1 connection to the hub with per-request timeouts: Beast's async
// operations run on a private io_context, one request at a time, by the calling thread.
// Internal to the SDK (not installed).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "herald/client.hpp"

namespace herald::sdk::detail {

struct http_reply {
  int status = 0;            // 0: transport failure (see `error`)
  std::string body;
  std::string retry_after;   // the Retry-After header, if any
  std::string error;
};

class http_link {
public:
  explicit http_link(hub_address addr);
  ~http_link();

  http_link(const http_link&) = delete;
  http_link& operator=(const http_link&) = delete;

  /// Sends one request (reconnecting if needed) and reads the whole answer within `timeout`.
  http_reply request(const std::string& method, const std::string& target, const std::string& body,
                     std::chrono::milliseconds timeout);

  /// Opens a stream: sends GET `target` with `headers` and reads the response head within
  /// `timeout`. Returns the status (0 on failure, `err` says why) and the head's headers.
  int open_stream(const std::string& target, const std::map<std::string, std::string>& headers,
                  std::chrono::milliseconds timeout, std::map<std::string, std::string>& head,
                  std::string& err);

  /// Reads the next bytes of an open stream; false on timeout (`timed_out` set), close or error.
  bool read_some(std::string& out, std::chrono::milliseconds timeout, bool& timed_out);

  /// Closes the connection; safe from any thread (wakes a blocked read).
  void close();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Parses an error body ({"error":{"code","message"}}) into `e` (best effort).
void read_error_body(const std::string& body, error& e);

} // namespace herald::sdk::detail
