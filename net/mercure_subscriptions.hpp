#pragma once
// Mercure's active subscriptions (mercure.subscriptions): who follows which topic selector, for
// the subscriptions API (GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]) and
// the subscription events a hub publishes when a subscriber comes and goes.
//
// One entry per (subscriber, selector) of every open Mercure stream. A stream registers when it
// starts and holds a lease whose release (the stream closing, on its io thread) removes it. Used
// from every io thread: a mutex guards the table.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herald {

/// One subscription as Mercure describes it.
struct mercure_subscription {
  std::string topic;      // the selector the subscriber asked for
  std::string subscriber; // "urn:uuid:..."
  std::string payload;    // JSON text of the token's mercure.payload; empty: none

  /// "/.well-known/mercure/subscriptions/{topic}/{subscriber}" (each percent-encoded): the
  /// subscription's id, and the topic of its subscription events.
  std::string id() const;
  /// The JSON-LD object of this subscription (`context`: with "@context", as a top-level
  /// document is).
  std::string json(bool active, bool context, const std::string& last_event_id = {}) const;
};

class mercure_subscriptions {
public:
  /// Adds the subscriptions of one subscriber (one per selector).
  void add(const std::vector<mercure_subscription>& subs);
  /// Removes the subscriptions of `subscriber`.
  void remove(const std::string& subscriber);

  /// Every subscription, or those to selector `topic` (non-empty), or the one of `subscriber`
  /// to `topic` (both non-empty), in (topic, subscriber) order.
  std::vector<mercure_subscription> list(const std::string& topic = {},
                                         const std::string& subscriber = {}) const;

  std::size_t size() const;

private:
  mutable std::mutex mtx_;
  std::map<std::pair<std::string, std::string>, mercure_subscription> by_topic_; // (topic, sub)
  std::map<std::string, std::vector<std::string>> topics_of_; // subscriber -> its topics
};

/// "urn:uuid:" and a random (version 4) UUID: a Mercure subscriber's id.
std::string random_subscriber_id();

} // namespace herald
