#pragma once
// One keep-alive HTTP/1.1 connection to the hub with per-request timeouts: Beast's async
// operations run on a private io_context, one request at a time, by the calling thread.
// Internal to the SDK (not installed).

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
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

  /// Connects and upgrades to a WebSocket at `target` within `timeout`. Returns the answer's
  /// status: 101 when upgraded, else the refusal's (0 on failure; `err` says why).
  int open_websocket(const std::string& target, std::chrono::milliseconds timeout,
                     std::string& err);

  /// Reads the next WebSocket message; false on timeout (`timed_out` set), close or error.
  bool read_message(std::string& out, std::chrono::milliseconds timeout, bool& timed_out);

  /// Sends one text message on the WebSocket; false if the connection failed.
  bool write_message(const std::string& text, std::chrono::milliseconds timeout);

  /// The token later requests and streams carry (from the thread that uses the link).
  void set_token(std::string token);

  /// Closes the connection; safe from any thread (wakes a blocked read).
  void close();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Parses an error body ({"error":{"code","message"}}) into `e` (best effort).
void read_error_body(const std::string& body, error& e);

/// The error a failed reply stands for (status 0: code "unreachable", the transport's message).
error error_of(const http_reply& r);

/// Worth retrying: no answer, 5xx, 408 or 429.
bool retryable(const http_reply& r);

/// The wait before retry `attempt` (0-based): Retry-After when the reply has one (capped at
/// `cap`), else full jitter, uniform in [0, min(cap, initial * 2^attempt)].
template <class Rng>
std::chrono::milliseconds backoff(unsigned attempt, const std::string& retry_after,
                                  std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                                  Rng& rng);

template <class Rng>
std::chrono::milliseconds backoff(unsigned attempt, const std::string& retry_after,
                                  std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                                  Rng& rng) {
  if (!retry_after.empty()) {
    char* end = nullptr;
    auto secs = std::strtol(retry_after.c_str(), &end, 10);
    if (end != retry_after.c_str() && secs >= 0)
      return std::min(std::chrono::milliseconds(secs * 1000), cap);
  }
  long long ceiling = std::min<long long>(initial.count() << std::min(attempt, 20u), cap.count());
  std::uniform_int_distribution<long long> pick{0, std::max<long long>(ceiling, 1)};
  return std::chrono::milliseconds(pick(rng));
}

} // namespace herald::sdk::detail
