#pragma once
// herald::sdk::publisher: publishes events to a Herald hub from plain C++ code.
//
//   herald::sdk::publisher pub{};                     // publisher_options: url, batching, retry
//   std::string id = pub.publish("orders/42", {{"total", 9.5}});
//   auto later = pub.publish_async("orders/42", {{"total", 1}});   // std::future<std::string>
//
// What it does for you:
// - Batching: events queued within `linger` (or until `max_batch`) go out as one
//   POST /v1/publish array, on one keep-alive connection, in the order they were queued.
// - Retries: on connection errors, timeouts, 5xx and 503 it retries with exponential backoff and
//   full jitter (honouring Retry-After), until `retry.give_up_after`. Other 4xx are never retried;
//   a batch refused as a whole (400/413) is retried event by event, so one bad event fails alone.
// - Exactly once: every event carries an idempotency key, so a retried request (the hub may have
//   committed it before the connection broke) is answered with the original id instead of
//   publishing twice, as long as the retry comes within the hub's
//   publish.idempotency_window_seconds.
// - Bounded memory: at most `max_queued` events wait; past that publish fails at once with
//   code "queue_full" (backpressure, not unbounded growth).

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "herald/client.hpp"

namespace herald::sdk {

struct retry_policy {
  std::chrono::milliseconds initial{100};      // first backoff ceiling
  std::chrono::milliseconds max{5000};         // backoff ceiling cap
  std::chrono::milliseconds give_up_after{60000}; // per batch, from its first attempt
};

struct publisher_options {
  std::string url = "http://127.0.0.1:8080"; // or https://
  credentials creds;                          // token, and the CA file for https
  std::chrono::milliseconds linger{2};        // how long the first queued event waits for company
  std::size_t max_batch = 500;                // events per request (the hub allows 1000)
  std::size_t max_queued = 100000;            // waiting events at most
  std::chrono::milliseconds request_timeout{10000};
  retry_policy retry;
};

struct publish_options {
  std::string type;            // SSE event type (empty: none)
  bool ack = false;            // durable sessions must acknowledge it
  std::string idempotency_key; // empty: the publisher makes one
};

/// The outcome of one event: its id, or why it was not published.
struct publish_result {
  std::string id;
  std::optional<error> failure;
  bool ok() const { return !failure.has_value(); }
};

struct publisher_stats {
  std::uint64_t published = 0; // events answered with an id
  std::uint64_t failed = 0;    // events answered with an error
  std::uint64_t requests = 0;  // HTTP requests sent (retries included)
  std::uint64_t retries = 0;   // requests that were retries
};

class publisher {
public:
  explicit publisher(publisher_options opts = {});
  /// Sends what is queued (bounded by the retry policy), then stops.
  ~publisher();

  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// Queues an event; `done` runs on the publisher's thread when it is published or failed.
  void publish_async(std::string topic, nlohmann::json data, publish_options opts,
                     std::function<void(publish_result)> done);

  /// Queues an event; the future holds its id or throws request_failed.
  std::future<std::string> publish_async(std::string topic, nlohmann::json data,
                                         publish_options opts = {});

  /// Publishes and waits: the event's id, or throws request_failed.
  std::string publish(std::string topic, nlohmann::json data, publish_options opts = {});

  /// Waits until everything queued so far is answered.
  void flush();

  publisher_stats stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace herald::sdk
