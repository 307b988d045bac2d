#pragma once
// herald::sdk::subscriber: a resilient SSE client for Herald streams.
//
//   herald::sdk::subscriber_options opts;
//   opts.topics = {"orders/*"};
//   herald::sdk::subscriber sub{opts};
//   sub.on_event([](const herald::sdk::event& e) { ... });
//   sub.start();            // a background thread; or sub.run() on yours
//
// - Reconnects with exponential backoff and full jitter (the server's `retry:` is the first
//   delay), resuming with Last-Event-ID: no event is lost or repeated across reconnects.
// - Detects a silently dead connection: no byte (not even a heartbeat) within
//   `heartbeat_timeout` closes it and reconnects. Herald sends a heartbeat every
//   sse.heartbeat_seconds (25 by default), so twice that is a good timeout.
// - 204 (and 404 for jobs and sessions) stops it for good; herald.gap is reported to on_gap.
// - Durable sessions (`session` set): follows /v1/sessions/{id}/events; redeliveries come to
//   on_event with `delivery` > 1; ack() / ack_through() acknowledge.
// - Every event says its topic (`event.topic`): SSE streams are asked for the envelope form
//   (`envelope=1`), WebSocket events carry it anyway.
// - `transport = websocket` subscribes over GET /v1/ws instead of SSE, with the same callbacks
//   and the same resume behaviour (one subscription per subscriber; acks still go by HTTP).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/client.hpp"

namespace herald::sdk {

struct event {
  std::string id;       // the event id (for redeliveries: the redelivered event's id)
  std::string type;     // the SSE event type (empty: "message")
  std::string data;     // the data as sent (JSON text for Herald events)
  std::string topic;    // the topic it was published to
  unsigned delivery = 1; // > 1: a redelivery of an unacknowledged event (durable sessions)
};

enum class stream_state { connecting, connected, disconnected, stopped };

/// How a subscriber reads its stream.
enum class stream_transport {
  sse,       // GET /v1/subscribe or /v1/sessions/{id}/events (or `path`)
  websocket, // GET /v1/ws: a subscribe (or attach) message; not for `path` streams
};

struct subscriber_options {
  std::string url = "http://127.0.0.1:8080"; // or https://
  credentials creds;                          // token, and the CA file for https
  /// If set, asked for a token before every connection (a stream ends at its token's exp with
  /// herald.token_expired; the next connection then carries a fresh token and resumes).
  std::function<std::string()> token_provider;
  std::vector<std::string> topics;   // topics or patterns (/v1/subscribe)
  std::string session;               // a durable session id (/v1/sessions/{id}/events)
  std::string path;                  // any other stream path (e.g. /v1/jobs/{id}/events; SSE)
  stream_transport transport = stream_transport::sse;
  std::string last_event_id;         // resume after this id
  std::chrono::milliseconds heartbeat_timeout{60000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds initial_backoff{500}; // used until the server sends retry:
  std::chrono::milliseconds max_backoff{30000};
};

class subscriber {
public:
  explicit subscriber(subscriber_options opts);
  /// Stops (and joins the background thread, if started).
  ~subscriber();

  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  /// Handlers run on the subscriber's thread. Set them before start()/run().
  void on_event(std::function<void(const event&)> fn);
  /// herald.gap notices (JSON text): events the stream could not deliver.
  void on_gap(std::function<void(const std::string& json)> fn);
  /// Hub notices other than gaps and redeliveries (type, JSON text), e.g. herald.shutdown.
  void on_notice(std::function<void(const std::string& type, const std::string& json)> fn);
  /// State changes, with a reason (e.g. "heartbeat timeout", "HTTP 503").
  void on_state(std::function<void(stream_state, const std::string& reason)> fn);

  /// Runs on the calling thread until stop() or a final answer (204, 404, other 4xx).
  void run();
  /// Runs on a background thread.
  void start();
  /// Ends run() (from any thread, or from a handler).
  void stop();

  /// The id of the last event received in stream order (what a reconnect resumes after).
  std::string last_event_id() const;

  /// Durable sessions: acknowledges events (blocking HTTP; throws request_failed).
  void ack(const std::vector<std::string>& ids);
  void ack_through(const std::string& id);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace herald::sdk
